"""Retrieval quality benchmark: ssl=none vs rfm vs cfm (and the popularity list).

Same code as the pipeline: the data folders go through the real pipeline up to
the Transforms and MutualInformationGen (bench/quality_prep.py, a TFX partial
run); each model is trained in-process by `models.training.train` (the Trainer's
code), exported by `models.export` to `<tmp>/<tower>/Format-Serving` and scored
by `components.retrieval_evaluator.evaluation` (the evaluator's code: exact
search over the whole corpus, the user's train items excluded, item and user
slices, Recall@K, MAP@K, HR@10, NDCG@10).

  python bench/quality.py prepare [--work DIR] [--data kg_full ...]
  python bench/quality.py tune    [--work DIR] [--data kg_full]   # validation
  python bench/quality.py run     [--work DIR] [--data kg_full kg_p10] [--seeds 0 1 2 3 4]
                                  [--set seq_ssl_weight=0.5 ...]
  python bench/quality.py report  [--work DIR] [--out docs/benchmarks.md]
  python bench/quality.py valid   [--data full] [--variants pooled sequence]
                                  [--seeds 0] [--set num_intentions=2 ...]
  python bench/quality.py encoders [--data kg_full full] [--out docs/benchmarks.md]

Query encoders (issue 11): the variants `pooled`, `sequence`,
`sequence+seq-ssl`, `sequence+seq-ssl+cfm` (and `pooled+cfm`,
`sequence+cfm`: both encoders with the shipped SSL task; `sequence+rfm`,
its random-mask ablation with cfm's settings) pin
`query_encoder` and train with the tuned settings of their item-side SSL
variant on that folder (`ENCODER_VARIANTS`). `run --variants ...` trains
them on the eval folders (results.jsonl); `valid` on the validation folder
of each `--data` (valid.jsonl; `--set` overrides the sequence variants'
settings: a grid point, labelled with it; `run --set` trains a point chosen
there on the eval folders, labelled alike); `encoders` prints Recall@50 of
every slice and the paired differences (on the seeds both variants have)
of the latest code version in each log, and writes them between the
`bench/quality.py encoders` markers of `--out`.

Data folders under <work>/data (FOLDERS): `full` (ML-100K, temporal split),
`kg_full` (the same with the knowledge-graph item columns, `sslrec data
movielens-100k --kg`), `llo_full` (ML-100K, leave-last-out split); `p10` /
`kg_p10` (a random 10% of the train events, seed 0, same eval events and
items); and for tuning `<name>_valid` (the train events of <name> only, the
last 10% by time as the validation split). Tuning never reads an eval split.
Results are appended to <work>/tune.jsonl and <work>/results.jsonl one line
per training (the popularity list: one line per data folder, variant
`popular`), and a finished (data, variant, seed, config) is not trained
again, so a stopped benchmark resumes where it stopped.
The settings chosen by `tune` are written to bench/quality_settings.json
(committed); `run` reads them (a 10% folder uses its full folder's settings
when it has none of its own; a folder without settings trains the defaults).
"""
import argparse
import contextlib
import glob
import hashlib
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from typing import (Any, Dict, Iterator, List, Mapping, NamedTuple, Optional,
                    Sequence)

import numpy as np

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from bench import quality_data
from bench import quality_prep
from bench import quality_stats
from models.config import TrainingConfig
from models.config import TransformConfig
# pylint: enable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_WORK = '/tmp/sslrec_bench'
SETTINGS_FILE = os.path.join(REPO, 'bench', 'quality_settings.json')
DATASET = 'movielens-100k'
VARIANTS = ('none', 'dropout', 'rfm', 'cfm')
# The shipped defaults (TrainingConfig() as is, its own `ssl`), and the
# most-popular list (no training; one record per data folder).
DEFAULT_VARIANT, POPULAR = 'default', 'popular'
# Control: ssl=none trained with CFM's tuned settings, to tell the SSL task's
# effect apart from the effect of CFM's main-task settings.
CONTROL = 'none@cfm'
# Query encoders (issue 11): variant -> (the item-side SSL whose tuned
# settings it trains with, the encoder settings). The encoder is pinned, so
# these train the same whatever TrainingConfig's default encoder is; the
# sequence settings are the TrainingConfig defaults (K, L, beta, lambda;
# `valid --set` overrides them on a validation folder).
SEQ_SSL_WEIGHT = 0.1
POOLED = {'query_encoder': 'pooled'}
SEQUENCE = {'query_encoder': 'sequence'}
SEQ_SSL = dict(SEQUENCE, seq_ssl_weight=SEQ_SSL_WEIGHT)
ENCODER_VARIANTS = {
    'pooled': ('none', POOLED),
    'sequence': ('none', SEQUENCE),
    'sequence+seq-ssl': ('none', SEQ_SSL),
    'sequence+seq-ssl+cfm': ('cfm', SEQ_SSL),
    # The two encoders with CFM (the shipped SSL task).
    'pooled+cfm': ('cfm', POOLED),
    'sequence+cfm': ('cfm', SEQUENCE),
    # CFM's ablation on the shipped encoder (random masks; cfm's settings).
    'sequence+rfm': ('rfm', SEQUENCE),
}
ALL_VARIANTS = VARIANTS + (CONTROL, DEFAULT_VARIANT) + tuple(ENCODER_VARIANTS)
# Issue 11's four (`valid` and `encoders` default to them).
ENCODER_REPORT_VARIANTS = ('pooled', 'sequence', 'sequence+seq-ssl',
                           'sequence+seq-ssl+cfm')
SEEDS = (0, 1, 2)
KS = (10, 50, 100)
SUBSAMPLE_FRACTION, SUBSAMPLE_SEED = 0.1, 0
VALIDATION_FRACTION = 0.1
SELECT_METRIC, SELECT_SLICE = 'recall@50', 'overall'
# Every data folder: (how it is made, arguments). `root`: `sslrec data
# movielens-100k` with these flags; `p10`: SUBSAMPLE_FRACTION of the train
# events of a folder; `valid`: a folder's train events, the last
# VALIDATION_FRACTION by time as the validation split.
FOLDERS = {
    'full': ('root', ()),
    'p10': ('p10', 'full'),
    'kg_full': ('root', ('--kg',)),
    'kg_p10': ('p10', 'kg_full'),
    'llo_full': ('root', ('--split', 'leave-last-out')),
}
FOLDERS.update({f'{name}_valid': ('valid', name) for name in list(FOLDERS)})
# The data folders a benchmark is evaluated on / tuned on.
DATA = ('full', 'p10', 'kg_full', 'kg_p10', 'llo_full')
VALID = {name: f'{name}_valid' for name in DATA}
GOALS = (('kg_full', 'recall@50', 'overall', 0.10),
         ('kg_full', 'recall@50', 'tail', 0.50),
         ('kg_p10', 'recall@50', 'overall', 0.25))
# The default model against the most-popular list, on every data folder.
POPULAR_GOALS = (('recall@50', 'overall', 0.25),
                 ('recall@50', 'returning_users', 0.25))

# The tuning search. Every trial is one training (seed 0) on a validation
# folder, scored by validation Recall@50 overall; `none` and `cfm` get the same
# number of trials (5; one trial is ~4 minutes on the shared 2-core machine).
# Stage 1: the same 2 points for both: the shipped defaults and the paper's
# settings (batch 1024, temperature 0.07, Adagrad 0.01, a wide first layer).
# Stage 2: 3 changes to each
# variant's best stage-1 point: `cfm` over the SSL task's hardness (the item
# id masked in both views, stronger value dropout, a softer SSL temperature
# with a larger SSL batch), `none` over the main task (wider towers, a batch
# of 512, a lower temperature). `rfm` and `dropout` train with cfm's choice
# (no trials of their own).
PAPER = {'batch_size': 1024, 'temperature': 0.07, 'optimizer': 'adagrad',
         'learning_rate': 0.01, 'tower_layers': [1024, 64]}
STAGE1 = ({}, PAPER)
STAGE2 = {
    'cfm': [{'ssl_item_id': 'masked'},
            {'dropout_rate': 0.6},
            {'ssl_temperature': 0.2, 'ssl_batch_size': 1024}],
    'none': [{'feature_embedding_dim': 64, 'tower_layers': [256, 128]},
             {'batch_size': 512},
             {'temperature': 0.1}],
}


# What else was tried for CFM (step `explore`): one change at a time to CFM's
# tuned settings, on the validation folder, seeds EXPLORE_SEEDS; `none`, `rfm`,
# `cfm` and CONTROL at their tuned settings are the references. Not used to pick the
# benchmark settings (the tuning above does that); it answers "does any of
# these knobs rescue CFM on this data?".
EXPLORE = (
    {'mode': 'pretrain', 'pretrain_steps': 500},
    {'ssl_batch_size': 1024},
    {'dropout_rate': 0.5},
    {'ssl_weight': 1.0},
    {'feature_embedding_dim': 64, 'tower_layers': [256, 128]},
)
EXPLORE_SEEDS = (0, 1)
THROUGHPUT_EPOCHS, THROUGHPUT_ROUNDS = 3, 2


def _log(message: str) -> None:
  print(time.strftime('%H:%M:%S'), message, flush=True)


# ---------------------------------------------------------------------------
# Preparation.


def make_folder(data_root: str, name: str, cache: str) -> str:
  """Writes data folder `name` (and the folders it derives from) if missing."""
  out = os.path.join(data_root, name)
  if os.path.isdir(out):
    return out
  if name not in FOLDERS:
    raise ValueError(f'unknown data folder {name!r}: one of {sorted(FOLDERS)}')
  how, arg = FOLDERS[name]
  if how == 'root':
    from pipeline.cli import main as cli_main  # pylint: disable=g-import-not-at-top
    if cli_main(['data', DATASET, *arg, '--out', out, '--cache', cache]):
      raise RuntimeError(f'sslrec data {DATASET} {" ".join(arg)} failed')
  elif how == 'p10':
    quality_data.subsample_train(make_folder(data_root, arg, cache), out,
                                 SUBSAMPLE_FRACTION, SUBSAMPLE_SEED)
  else:
    quality_data.validation_split(make_folder(data_root, arg, cache), out,
                                  VALIDATION_FRACTION)
  return out


def prepare(work: str, names: Sequence[str] = ('full', 'p10', 'full_valid',
                                               'p10_valid'),
            cache: str = os.path.join(REPO, 'cache')
            ) -> Dict[str, quality_prep.Prepared]:
  """The data folders `names` and their pipeline runs (reused when done),
  kept under <work>/out/<name>."""
  data_root = os.path.join(work, 'data')
  prepared = {}
  for name in names:
    t = time.time()
    data_dir = make_folder(data_root, name, cache)
    if os.path.isfile(os.path.join(work, 'out', name, 'prepared.json')):
      prepared[name] = load_prepared(work, name)
      continue
    prepared[name] = quality_prep.prepare(
        data_dir, os.path.join(work, 'out', name), TransformConfig())
    _log(f'prepared {name} in {time.time() - t:.0f}s')
  return prepared


def load_prepared(work: str, name: str) -> quality_prep.Prepared:
  path = os.path.join(work, 'out', name, 'prepared.json')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} missing: run `bench/quality.py prepare`')
  with open(path) as f:
    return quality_prep.Prepared(**json.load(f))


# ---------------------------------------------------------------------------
# One training + evaluation.


class Trained(NamedTuple):
  """A trained model and its exported towers, loaded back (Session.trained_towers)."""
  model: Any
  query_tower: Any
  item_tower: Any
  train_seconds: float
  start: float  # time.perf_counter() when training started


class Session:
  """Loaded inputs of one data folder (TFT outputs, corpora, MI), reused per run."""

  def __init__(self, prepared: quality_prep.Prepared):
    # The sources as imported now (a later edit of the tree does not change
    # what this process runs).
    self.code_version = code_version()
    import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
    from models import export  # pylint: disable=g-import-not-at-top,unused-import
    from models import training  # pylint: disable=g-import-not-at-top,unused-import
    import schemas  # pylint: disable=g-import-not-at-top
    from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
    from models import data  # pylint: disable=g-import-not-at-top
    from models import features as F  # pylint: disable=g-import-not-at-top
    self.prepared = prepared
    with open(os.path.join(prepared.data_dir, quality_data.DATASET_JSON)) as f:
      self.dataset = json.load(f)
    self.feature_config = F.load_feature_config(schemas.resolve(
        self.dataset.get('schemas', DATASET)))
    self.query_tft = tft.TFTransformOutput(prepared.interactions_transform_graph)
    self.item_tft = tft.TFTransformOutput(prepared.items_transform_graph)
    self.corpus = data.load_corpus(
        quality_prep.split_files(prepared.items_transformed, 'corpus'),
        self.item_tft, self.feature_config.item_features)
    self.train_files = quality_prep.split_files(
        prepared.interactions_transformed, 'train')
    self.eval_files = quality_prep.split_files(
        prepared.interactions_transformed, 'eval')
    with open(prepared.mutual_information) as f:
      self.mutual_information = json.load(f)
    self.eval_corpus = evaluation.load_corpus(prepared.items_examples,
                                              prepared.interactions_examples)
    # Leave-last-out folders rank as the literature (nothing excluded);
    # the others with the index's rule (docs/evaluation.md).
    self.exclusion = ('none' if self.dataset.get('split') == 'leave-last-out'
                      else 'serving')
    self.history_column = self.feature_config.history_column
    self.num_train_events = self.dataset['num_train_events']

  @contextlib.contextmanager
  def trained_towers(self, config: TrainingConfig, prefix: str = 'sslrec_bench_'
                     ) -> Iterator[Trained]:
    """Trains like the Trainer and exports both towers to a temp folder
    (removed on exit); yields the model, the loaded towers and timings."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    from components import tower_io  # pylint: disable=g-import-not-at-top
    from models import export  # pylint: disable=g-import-not-at-top
    from models import training  # pylint: disable=g-import-not-at-top
    tf.keras.backend.clear_session()
    start = time.perf_counter()
    model = training.train(self.feature_config, config, self.query_tft,
                           self.item_tft, self.corpus, self.train_files,
                           self.eval_files, log_dir=None,
                           mutual_information=self.mutual_information)
    train_seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
      query_uri = os.path.join(tmp, 'query_model')
      item_uri = os.path.join(tmp, 'item_model')
      export.export_query_tower(tower_io.serving_dir(query_uri),
                                model.query_tower, self.query_tft,
                                self.feature_config)
      export.export_item_tower(tower_io.serving_dir(item_uri),
                               model.item_tower, self.item_tft,
                               self.feature_config)
      yield Trained(model, tower_io.load_tower(query_uri),
                    tower_io.load_tower(item_uri), train_seconds, start)

  def train_and_evaluate(self, config: TrainingConfig) -> Dict[str, Any]:
    """Trains like the Trainer, exports, evaluates like the evaluator."""
    from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
    from components.retrieval_evaluator import summary  # pylint: disable=g-import-not-at-top
    with self.trained_towers(config, 'sslrec_quality_') as trained:
      ssl_loss = final_ssl_loss(trained.model)
      ranking = evaluation.rank_events(
          trained.query_tower, trained.item_tower,
          self.prepared.interactions_examples, self.eval_corpus, KS,
          exclusion=self.exclusion, history_column=self.history_column)
    train_seconds, start = trained.train_seconds, trained.start
    totals = evaluation.user_totals(self.eval_corpus, ranking, KS)
    metrics = summary.metrics_dict(totals)
    steps_events = (config.train_steps * config.batch_size if config.train_steps
                    else self.num_train_events * config.epochs)
    return {'metrics': metrics,
            # Per-user aggregates for the paired bootstrap of the report.
            'user_totals': totals.select(quality_stats.COLUMNS).to_dict(),
            'train_seconds': train_seconds,
            'ssl_loss': ssl_loss,
            'examples_per_second': steps_events / train_seconds,
            'total_seconds': time.perf_counter() - start}

  def popular(self) -> Dict[str, Any]:
    """The most-popular list (train frequency) on the eval events, with the
    evaluator's exclusions (`self.exclusion`)."""
    from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
    from components.retrieval_evaluator import exclusion  # pylint: disable=g-import-not-at-top
    from components.retrieval_evaluator import summary  # pylint: disable=g-import-not-at-top
    targets, users, histories = [], [], []
    for batch, block_targets, block_users in evaluation.eval_blocks(
        evaluation.eval_columns({}, self.history_column),
        self.prepared.interactions_examples, self.eval_corpus, 4096):
      targets.append(block_targets)
      users += block_users
      if self.history_column:
        histories += list(batch[self.history_column])
    targets = np.concatenate(targets)
    like = evaluation.Ranking(
        np.zeros(len(targets), np.int64), targets, users,
        exclusion.event_exclusions(
            self.exclusion, histories if self.history_column else None,
            users, targets, self.eval_corpus.index_of,
            self.eval_corpus.seen_by_user))
    totals = evaluation.user_totals(
        self.eval_corpus, evaluation.popularity_ranking(self.eval_corpus, like),
        KS)
    return {'metrics': summary.metrics_dict(totals),
            'user_totals': totals.select(quality_stats.COLUMNS).to_dict(),
            'train_seconds': 0.0, 'ssl_loss': None,
            'examples_per_second': 0.0, 'total_seconds': 0.0}


def final_ssl_loss(model, num_batches: int = 5) -> Optional[float]:
  """Mean SSL loss of a trained model on fresh uniform corpus batches (None
  without an SSL task): near 0 means the SSL task is trivial."""
  if model.ssl_task is None:
    return None
  from models import ssl as ssl_lib  # pylint: disable=g-import-not-at-top
  rows = ssl_lib.uniform_item_sampler(len(model.corpus),
                                      model.config.ssl_batch_size, 12345)
  return float(np.mean([model.ssl_loss(r).numpy()
                        for r in rows.take(num_batches)]))


# The code a result was trained and evaluated with: a hash of the model and
# evaluator sources (tests excluded). Results of other code are kept in the
# logs but neither reused nor reported.
_CODE_GLOBS = ('models/*.py', 'components/tower_io.py',
               'components/retrieval_evaluator/evaluation.py',
               'components/retrieval_evaluator/metrics.py',
               'components/retrieval_evaluator/summary.py',
               'components/retrieval_evaluator/bootstrap.py')


def code_version() -> str:
  digest = hashlib.sha1()
  for pattern in _CODE_GLOBS:
    for path in sorted(glob.glob(os.path.join(REPO, pattern))):
      if path.endswith('_test.py'):
        continue
      digest.update(os.path.relpath(path, REPO).encode())
      with open(path, 'rb') as f:
        digest.update(f.read())
  return digest.hexdigest()[:12]


# ---------------------------------------------------------------------------
# Result log (one JSON line per training; resumable).


def _key(record: Mapping[str, Any]):
  return (record['data'], record['variant'], record['seed'],
          json.dumps(record['config'], sort_keys=True),
          record.get('code_version'))


def read_log(path: str) -> List[Dict[str, Any]]:
  if not os.path.isfile(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _append(path: str, record: Mapping[str, Any]) -> None:
  with open(path, 'a') as f:
    f.write(json.dumps(record) + '\n')


def run_one(sessions: Dict[str, Session], work: str, log_path: str, data: str,
            variant: str, seed: int, overrides: Mapping[str, Any],
            name: Optional[str] = None) -> Dict[str, Any]:
  """Trains + evaluates one configuration unless the log already has it.

  Variant POPULAR trains nothing: the most-popular list (config {}). `name`:
  the record's `variant` (default `variant`; a grid point's label)."""
  if variant == POPULAR:
    seed, config_dict = 0, {}
  else:
    config_dict = config_of(variant, seed, overrides).to_dict()
  record = {'data': data, 'variant': name or variant, 'seed': seed,
            'config': config_dict, 'code_version': code_version()}
  done = {_key(r): r for r in read_log(log_path)}
  if _key(record) in done:
    return done[_key(record)]
  if data not in sessions:
    sessions.clear()  # one data folder in memory at a time
    sessions[data] = Session(load_prepared(work, data))
  record['code_version'] = sessions[data].code_version
  record.update(sessions[data].popular() if variant == POPULAR else
                sessions[data].train_and_evaluate(
                    TrainingConfig.from_dict(config_dict)))
  record['finished'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
  _append(log_path, record)
  m = record['metrics']
  _log(f'{data} {name or variant} seed {seed}: recall@50 overall '
       f'{m["recall@50"]["overall"]:.4f} tail {m["recall@50"]["tail"]:.4f} '
       f'returning {m["recall@50"]["returning_users"]:.4f} '
       f'ndcg@10 {m["ndcg@10"]["overall"]:.4f} ssl_loss '
       f'{record["ssl_loss"]} ({record["train_seconds"]:.0f}s train) '
       f'{dict(overrides)}')
  return record


# ---------------------------------------------------------------------------
# Tuning.


def _score(record: Mapping[str, Any]) -> float:
  return float(record['metrics'][SELECT_METRIC][SELECT_SLICE])


def stage1_points() -> List[Dict[str, Any]]:
  return [dict(p) for p in STAGE1]


def stage2_points(variant: str, best: Mapping[str, Any]) -> List[Dict[str, Any]]:
  return [dict(best, **change) for change in STAGE2[variant]]


def trial_overrides(record: Mapping[str, Any]) -> Dict[str, Any]:
  """A trial's settings: the config keys that differ from the defaults
  (ssl and seed aside)."""
  defaults = TrainingConfig().to_dict()
  return {k: v for k, v in record['config'].items()
          if k not in ('ssl', 'seed') and defaults.get(k) != v}


def tune(work: str, data: str, variants: Sequence[str] = ('none', 'cfm')
         ) -> Dict[str, Dict[str, Any]]:
  """Runs both stages on VALID[data]; returns variant -> chosen overrides.

  The tuned variants are `none` and `cfm`; `dropout` and `rfm` (ablations of
  CFM's augmentation) train with CFM's settings.
  """
  log_path = os.path.join(work, 'tune.jsonl')
  prepare(work, [VALID[data]])
  sessions: Dict[str, Session] = {}
  chosen = {}
  for variant in variants:
    trials = [run_one(sessions, work, log_path, VALID[data], variant, 0, p)
              for p in stage1_points()]
    best = max(trials, key=_score)
    trials += [run_one(sessions, work, log_path, VALID[data], variant, 0, p)
               for p in stage2_points(variant, trial_overrides(best))]
    best = max(trials, key=_score)
    chosen[variant] = trial_overrides(best)
    _log(f'tuned {variant} on {VALID[data]}: validation {SELECT_METRIC} '
         f'{_score(best):.4f} with {chosen[variant]}')
  return chosen


def update_settings(data: str, chosen: Mapping[str, Any],
                    path: str = SETTINGS_FILE) -> None:
  """Merges `chosen` (variant -> overrides) into settings[data], under a lock."""
  import fcntl  # pylint: disable=g-import-not-at-top
  lock_path = os.path.join(tempfile.gettempdir(), 'sslrec_quality_settings.lock')
  with open(lock_path, 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    settings = read_settings(path)
    settings.setdefault(data, {}).update(chosen)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(settings, f, indent=2, sort_keys=True)
      f.write('\n')
    os.replace(tmp, path)


def read_settings(path: str = SETTINGS_FILE) -> Dict[str, Any]:
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    return json.load(f)


def ssl_of(variant: str) -> str:
  """The `ssl` setting of a benchmark variant (CONTROL trains with ssl=none,
  DEFAULT_VARIANT with the default)."""
  if variant == DEFAULT_VARIANT:
    return TrainingConfig().ssl.value
  if variant in ENCODER_VARIANTS:
    return ENCODER_VARIANTS[variant][0]
  return 'none' if variant == CONTROL else variant


def is_sequence(variant: str) -> bool:
  """True for the encoder variants that train the sequence encoder."""
  return ENCODER_VARIANTS.get(variant, ('', {}))[1].get(
      'query_encoder') == 'sequence'


def config_of(variant: str, seed: int, overrides: Mapping[str, Any]
              ) -> TrainingConfig:
  """The TrainingConfig of a benchmark variant (`ssl_of`) with `overrides`
  (an encoder variant's encoder settings first, `overrides` over them)."""
  encoder = ENCODER_VARIANTS.get(variant, ('', {}))[1]
  return TrainingConfig().replace(**dict(encoder, **overrides, seed=seed,
                                         ssl=ssl_of(variant)))


def settings_for(settings: Mapping[str, Any], data: str, variant: str
                 ) -> Dict[str, Any]:
  """Overrides of `variant` at `data`: dropout, rfm and CONTROL use cfm's,
  an encoder variant those of its item-side SSL (`ssl_of`); the defaults
  have none; a 10% folder without settings uses its full folder's."""
  if variant in (DEFAULT_VARIANT, POPULAR):
    return {}
  if data not in settings and FOLDERS.get(data, ('',))[0] == 'p10':
    data = FOLDERS[data][1]
  by_variant = settings.get(data, {})
  tuned = ENCODER_VARIANTS[variant][0] if variant in ENCODER_VARIANTS else (
      variant)
  return dict(by_variant.get(tuned if tuned == 'none' else 'cfm', {}))


# ---------------------------------------------------------------------------
# Query encoders on a validation folder (choices and grids; never the eval
# split).

VALID_LOG = 'valid.jsonl'


def label(variant: str, extra: Mapping[str, Any]) -> str:
  """A variant's name in the logs and tables: with the `--set` overrides it
  ran with (those apply to the sequence variants only)."""
  if not extra or not is_sequence(variant):
    return variant
  return variant + ' ' + ','.join(f'{k}={json.dumps(v)}'
                                  for k, v in sorted(extra.items()))


def base_variant(record: Mapping[str, Any]) -> str:
  """A record's variant without its grid point (`label`)."""
  return record['variant'].split(' ')[0]


def overrides_with(settings: Mapping[str, Any], data: str, variant: str,
                   extra: Mapping[str, Any]) -> Dict[str, Any]:
  """A variant's tuned settings at `data` (`settings_for`) and, for a
  sequence variant, `extra` over them."""
  own = dict(extra) if is_sequence(variant) else {}
  return dict(settings_for(settings, data, variant), **own)


def valid(work: str, data: str, variants: Sequence[str], seeds: Sequence[int],
          extra: Mapping[str, Any]) -> None:
  """Trains `variants` on VALID[data], seed by seed, with their tuned
  settings and, for the sequence variants, `extra` over them (a grid point);
  appends to <work>/valid.jsonl (with the popularity row)."""
  log_path = os.path.join(work, VALID_LOG)
  settings = read_settings()
  prepare(work, [VALID[data]])
  sessions: Dict[str, Session] = {}
  run_one(sessions, work, log_path, VALID[data], POPULAR, 0, {})
  for seed in seeds:
    for variant in variants:
      run_one(sessions, work, log_path, VALID[data], variant, seed,
              overrides_with(settings, data, variant, extra),
              name=label(variant, extra))


def parse_set(items: Sequence[str]) -> Dict[str, Any]:
  """`KEY=VALUE` items (JSON values) -> {KEY: value}."""
  out = {}
  for item in items:
    key, sep, value = item.partition('=')
    if not sep:
      raise ValueError(f'--set {item!r}: expected KEY=VALUE')
    try:
      out[key] = json.loads(value)
    except json.JSONDecodeError:
      raise ValueError(f'--set {item!r}: the value is not JSON') from None
  return out


# ---------------------------------------------------------------------------
# Benchmark and report.


def run(work: str, data_sizes: Sequence[str], variants: Sequence[str],
        seeds: Sequence[int], settings: Mapping[str, Any],
        extra: Mapping[str, Any] = None) -> None:
  """Trains `variants` on the eval folders `data_sizes` with their tuned
  settings and, for the sequence variants, `extra` over them (a grid point
  chosen on validation, labelled with it as in `valid`)."""
  extra = extra or {}
  log_path = os.path.join(work, 'results.jsonl')
  sessions: Dict[str, Session] = {}
  for data in data_sizes:
    prepare(work, [data])
    run_one(sessions, work, log_path, data, POPULAR, 0, {})
    for seed in seeds:  # all variants of a seed first: early partial tables
      for variant in variants:
        run_one(sessions, work, log_path, data, variant, seed,
                overrides_with(settings, data, variant, extra),
                name=label(variant, extra))


def current_results(work: str, settings: Mapping[str, Any]
                    ) -> List[Dict[str, Any]]:
  """The results.jsonl lines trained with the current settings and code."""
  out = []
  version = code_version()
  for r in read_log(os.path.join(work, 'results.jsonl')):
    if r.get('code_version') != version or r['variant'] != base_variant(r):
      continue  # other code, or a grid point (reported by `encoders`)
    expected = {} if r['variant'] == POPULAR else config_of(
        r['variant'], r['seed'],
        settings_for(settings, r['data'], r['variant'])).to_dict()
    if r['config'] == expected:
      out.append(r)
  return out


def explore(work: str, data: str) -> None:
  """Trains EXPLORE (and the references) on VALID[data], seeds EXPLORE_SEEDS."""
  log_path = os.path.join(work, 'explore.jsonl')
  settings = read_settings()
  sessions: Dict[str, Session] = {}
  for seed in EXPLORE_SEEDS:
    for variant in ('none', 'rfm', 'cfm', CONTROL):
      run_one(sessions, work, log_path, VALID[data], variant, seed,
              settings_for(settings, data, variant))
    for change in EXPLORE:
      run_one(sessions, work, log_path, VALID[data], 'cfm', seed,
              dict(settings_for(settings, data, 'cfm'), **change))


def explore_lines(records: Sequence[Mapping[str, Any]],
                  settings: Mapping[str, Any]) -> List[str]:
  """Validation Recall@50 of each explored change (mean ± std over seeds)."""
  lines = []
  for data in DATA:
    rows: Dict[str, List[Mapping[str, Any]]] = {}
    for r in records:
      if r['data'] != VALID[data]:
        continue
      tuned = config_of(r['variant'], r['seed'], settings_for(
          settings, data, r['variant'])).to_dict()
      change = {k: v for k, v in r['config'].items() if tuned.get(k) != v}
      label = (f'{r["variant"]} (tuned)' if not change else
               f'cfm + `{json.dumps(change, sort_keys=True)}`')
      rows.setdefault(label, []).append(r)
    if not rows:
      continue
    lines += [f'Explored on `{VALID[data]}` (validation Recall@50, mean ± std '
              'over seeds):', '',
              '| run | seeds | overall | tail |', '|---|---|---|---|']
    for label, rs in sorted(rows.items(), key=lambda kv: -quality_stats.mean_std(
        [_score(r) for r in kv[1]])[0]):
      overall = quality_stats.mean_std([_score(r) for r in rs])
      tail = quality_stats.mean_std(
          [r['metrics'][SELECT_METRIC]['tail'] for r in rs])
      lines.append(f'| {label} | {len(rs)} | {overall[0]:.4f} ± '
                   f'{overall[1]:.4f} | {tail[0]:.4f} ± {tail[1]:.4f} |')
    lines.append('')
  return lines


def throughput(work: str, data: str = 'full') -> None:
  """Trains none and cfm alternately (THROUGHPUT_ROUNDS rounds, few epochs)."""
  log_path = os.path.join(work, 'throughput.jsonl')
  settings = read_settings()
  sessions: Dict[str, Session] = {}
  for round_ in range(THROUGHPUT_ROUNDS):
    for variant in ('none', 'cfm'):
      run_one(sessions, work, log_path, data, variant, 100 + round_,
              dict(settings_for(settings, data, variant),
                   epochs=THROUGHPUT_EPOCHS))


def throughput_lines(records: Sequence[Mapping[str, Any]]) -> List[str]:
  if not records:
    return []
  lines = ['**Training throughput, measured on its own** (none and cfm '
           f'alternately, {THROUGHPUT_EPOCHS} epochs, {THROUGHPUT_ROUNDS} rounds, '
           'one process):', '']
  lines += _throughput_lines(records)[:]
  by = {v: [r['examples_per_second'] for r in records if r['variant'] == v]
        for v in ('none', 'cfm')}
  if by['none'] and by['cfm']:
    ratio = (sum(by['none']) / len(by['none'])) / (sum(by['cfm']) / len(by['cfm']))
    lines += ['', f'none / cfm examples/s ratio: {ratio:.2f}']
  return lines + ['']


def plot(summary: quality_stats.Summary, variants: Sequence[str],
         data_sizes: Sequence[str], path: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(len(data_sizes), len(quality_stats.METRICS),
                           figsize=(15, 4 * len(data_sizes)), squeeze=False)
  width = 0.8 / len(variants)
  for row, data in enumerate(data_sizes):
    for col, metric in enumerate(quality_stats.METRICS):
      ax = axes[row][col]
      for i, variant in enumerate(variants):
        xs, means, stds = [], [], []
        for j, name in enumerate(quality_stats.SLICES):
          value = summary.get((data, variant, metric, name))
          if value:
            xs.append(j + (i - (len(variants) - 1) / 2) * width)
            means.append(value[0])
            stds.append(value[1])
        ax.bar(xs, means, width, yerr=stds, capsize=2, label=variant)
      ax.set_xticks(range(len(quality_stats.SLICES)))
      ax.set_xticklabels(quality_stats.SLICES)
      ax.set_title(f'{metric}, {"100%" if data == "full" else "10%"} of train')
      if row == 0 and col == 0:
        ax.legend()
  fig.suptitle('MovieLens-100K, mean ± std over seeds')
  fig.tight_layout()
  tmp = path + '.tmp.png'
  fig.savefig(tmp, dpi=80)
  plt.close(fig)
  os.replace(tmp, path)


def _throughput_lines(results: Sequence[Mapping[str, Any]]) -> List[str]:
  lines = ['| data | variant | examples/s (mean ± std) | train s (mean) | runs |',
           '|---|---|---|---|---|']
  groups: Dict[tuple, List[Mapping[str, Any]]] = {}
  for r in results:
    groups.setdefault((r['data'], r['variant']), []).append(r)
  for (data, variant), rs in sorted(groups.items()):
    m, s = quality_stats.mean_std([r['examples_per_second'] for r in rs])
    t, _ = quality_stats.mean_std([r['train_seconds'] for r in rs])
    lines.append(f'| {data} | {variant} | {m:.0f} ± {s:.0f} | {t:.0f} | {len(rs)} |')
  return lines


def tuning_lines(trials: Sequence[Mapping[str, Any]],
                 settings: Mapping[str, Any]) -> List[str]:
  """The tuning trials (validation scores, final SSL loss) and the choice."""
  lines = []
  for data in DATA:
    rows = [t for t in trials if t['data'] == VALID[data]
            and t.get('code_version') == code_version()]
    if not rows:
      continue
    lines += [f'Trials on `{VALID[data]}` (seed 0; validation = the last '
              f'{VALIDATION_FRACTION:.0%} of the train events by time; '
              'settings = changes to the shipped defaults):', '',
              '| variant | settings | val recall@50 overall | tail | cold | '
              'returning | final SSL loss | train s |',
              '|---|---|---|---|---|---|---|---|']
    for t in sorted(rows, key=lambda t: (t['variant'], -_score(t))):
      m = t['metrics'][SELECT_METRIC]
      ssl = t.get('ssl_loss')
      lines.append(
          f'| {t["variant"]} | `{json.dumps(trial_overrides(t))}` | '
          f'{_score(t):.4f} | {m["tail"]:.4f} | '
          + (f'{m["cold"]:.4f}' if m['cold'] is not None else '–') +
          f' | {m["returning_users"]:.4f} | '
          + ('–' if ssl is None else f'{ssl:.2f}') +
          f' | {t["train_seconds"]:.0f} |')
    counts = {v: sum(t['variant'] == v for t in rows) for v in ('none', 'cfm')}
    best = {v: max((t for t in rows if t['variant'] == v), key=_score)
            for v in ('none', 'cfm') if counts[v]}
    if len(best) == 2:
      pooled = [dict(r, variant=v) for v, r in best.items()]
      lines += ['', 'Best `cfm` trial − best `none` trial on validation '
                '(seed 0, paired 95% interval over users):', '']
      lines += quality_stats.delta_table(pooled, VALID[data], [('cfm', 'none')],
                                         SELECT_METRIC)
    lines += ['', f'Trials: {counts}. Chosen for `{data}` '
              '(bench/quality_settings.json): ', '']
    for variant, chosen in sorted(settings.get(data, {}).items()):
      lines.append(f'- `{variant}`: `{json.dumps(chosen, sort_keys=True)}`')
    lines.append('')
  return lines


# Paired differences reported for every data folder (those present).
PAIRS = (('cfm', 'none'), ('rfm', 'none'), ('cfm', 'rfm'),
         ('none', POPULAR), ('cfm', POPULAR), ('rfm', POPULAR),
         (DEFAULT_VARIANT, POPULAR))
# Metrics of the tables: Recall@50 everywhere; the leave-last-out folders add
# HR@10 and NDCG@10 (the literature's protocol for that split).
REPORT_METRICS = ('recall@50',)
LEAVE_LAST_OUT_METRICS = ('hr@10', 'ndcg@10')


def report_metrics(data: str) -> Sequence[str]:
  root = data
  while FOLDERS.get(root, ('root',))[0] != 'root':
    root = FOLDERS[root][1]
  if '--split' in FOLDERS.get(root, ('root', ()))[1]:
    return REPORT_METRICS + LEAVE_LAST_OUT_METRICS
  return REPORT_METRICS


def report_text(results: Sequence[Mapping[str, Any]], variants: Sequence[str],
                data_sizes: Sequence[str], chart: Optional[str],
                trials: Optional[Sequence[Mapping[str, Any]]] = None,
                settings: Optional[Mapping[str, Any]] = None,
                explored: Optional[Sequence[Mapping[str, Any]]] = None,
                speed: Optional[Sequence[Mapping[str, Any]]] = None) -> str:
  summary = quality_stats.summarize(results)
  deltas = quality_stats.paired_deltas(results, variants)
  parts = ['Cells: mean ± sample std over seeds (relative change vs `none`; '
           '`*` = its paired 95% interval excludes 0). Difference tables: '
           'the difference of the means and its paired 95% interval, a '
           'bootstrap over users (the evaluator\'s '
           '`components/retrieval_evaluator/bootstrap.py`, 1,000 samples) of '
           'the per-user results averaged over seeds; `*` = excludes 0.', '']
  for data in data_sizes:
    rows = [v for v in (POPULAR,) + tuple(variants)
            if any(r['data'] == data and r['variant'] == v for r in results)]
    seeds = {v: sorted({r['seed'] for r in results if r['data'] == data
                        and r['variant'] == v}) for v in rows if v != POPULAR}
    ssl = {v: [r['ssl_loss'] for r in results if r['data'] == data and
               r['variant'] == v and r.get('ssl_loss') is not None]
           for v in rows}
    parts += [f'**`{data}`** (seeds: ' + ', '.join(
        f'{v} {s}' for v, s in seeds.items()) + '; final SSL loss: ' + (
            ', '.join(f'{v} {np.mean(x):.2f}' for v, x in ssl.items() if x)
            or '–') + ')', '']
    for metric in report_metrics(data):
      parts += [f'{metric}:', '',
                quality_stats.markdown_table(summary, data, metric, rows,
                                             deltas=deltas), '',
                f'{metric}, paired differences:', '']
      parts += quality_stats.delta_table(results, data, PAIRS, metric) + ['']
  parts += ['**Goals (CFM vs tuned `none`)**', '']
  parts += quality_stats.goal_lines(summary, GOALS, deltas=deltas) + ['']
  pop_deltas = quality_stats.paired_deltas(results, variants, baseline=POPULAR)
  pop_goals = [(data, metric, name, target) for data in data_sizes
               for metric, name, target in POPULAR_GOALS]
  for variant in ('cfm', DEFAULT_VARIANT):
    if any(r['variant'] == variant for r in results):
      parts += [f'**Goals ({variant} vs the most-popular list)**', '']
      parts += quality_stats.goal_lines(summary, pop_goals, variant=variant,
                                        baseline=POPULAR,
                                        deltas=pop_deltas) + ['']
  parts += ['**Training time** (train events x epochs / wall time of '
            '`models.training.train`, shared 2-core machine)', '']
  parts += _throughput_lines([r for r in results if r['variant'] != POPULAR])
  parts += [''] + throughput_lines(speed or [])
  if chart:
    parts += [f'![quality chart]({os.path.basename(chart)})', '']
  if trials is not None:
    parts += ['**Tuning**', ''] + tuning_lines(trials, settings or {})
  if explored:
    parts += ['**What else was tried for CFM**', '']
    parts += explore_lines(explored, settings or {})
  return '\n'.join(parts)


def report(work: str, out: Optional[str], chart: Optional[str],
           variants: Sequence[str] = ALL_VARIANTS,
           data_sizes: Sequence[str] = DATA) -> str:
  settings = read_settings()
  results = current_results(work, settings)
  if not results:
    raise ValueError(f'no results in {work}/results.jsonl for the current '
                     'settings: run `bench/quality.py run` first')
  variants = [v for v in variants if v != POPULAR and
              any(r['variant'] == v for r in results)]
  data_sizes = [d for d in data_sizes if any(r['data'] == d for r in results)]
  if chart:
    plot(quality_stats.summarize(results), variants, data_sizes, chart)
  text = report_text(results, variants, data_sizes, chart,
                     read_log(os.path.join(work, 'tune.jsonl')), settings,
                     read_log(os.path.join(work, 'explore.jsonl')),
                     read_log(os.path.join(work, 'throughput.jsonl')))
  print(text)
  if out:
    write_between_markers(out, text)
  return text


# ---------------------------------------------------------------------------
# Query encoder report (step `encoders`): the encoder variants on the eval
# folders (results.jsonl) and on the validation folders (valid.jsonl).

# Paired differences of the encoder report, when both are present; a grid
# point (`variant k=v`) is compared with its variant and with that variant's
# references.
ENCODER_PAIRS = (
    ('sequence', 'pooled'), ('sequence+seq-ssl', 'pooled'),
    ('sequence+seq-ssl+cfm', 'pooled'), ('sequence+seq-ssl', 'sequence'),
    ('sequence+seq-ssl+cfm', 'sequence'),
    ('sequence+seq-ssl+cfm', 'sequence+cfm'),
    ('sequence+cfm', 'pooled+cfm'), ('sequence+cfm', 'sequence'),
    ('pooled+cfm', 'pooled'), ('sequence+cfm', 'pooled'),
    ('sequence+cfm', 'sequence+rfm'), ('sequence+rfm', 'sequence'),
)
ENCODER_METRIC = 'recall@50'
# No relative change against a near-zero base (the popular list's tail).
MIN_RELATIVE_BASE = 0.01


def latest_records(records: Sequence[Mapping[str, Any]]
                   ) -> List[Mapping[str, Any]]:
  """The records of the code version of the latest training in the log
  (the popularity rows of that version included)."""
  trained = [r for r in records if r['variant'] != POPULAR]
  if not trained:
    return []
  version = trained[-1].get('code_version')
  return [r for r in records if r.get('code_version') == version]


def encoder_pairs(names: Sequence[str]) -> List[tuple]:
  """The (a, b) differences to report among `names` (ENCODER_PAIRS, grid
  points, then every name against the popularity list)."""
  pairs = []
  for name in names:
    base = name.split(' ')[0]
    if name != base and base in names:
      pairs.append((name, base))
    pairs += [(name, b) for a, b in ENCODER_PAIRS if a == base and b in names]
  pairs += [(n, POPULAR) for n in names if n != POPULAR and POPULAR in names]
  return pairs


def _with_popular_seeds(records: Sequence[Mapping[str, Any]]
                        ) -> List[Mapping[str, Any]]:
  """The popularity list is deterministic: its one record stands for every
  seed of the trained records of its data folder."""
  out = [r for r in records if r['variant'] != POPULAR]
  for r in records:
    if r['variant'] == POPULAR:
      seeds = {t['seed'] for t in out if t['data'] == r['data']} or {0}
      out += [dict(r, seed=s) for s in sorted(seeds)]
  return out


def _delta_text(base: Optional[tuple], delta) -> str:
  """'+0.1129 (+34.8%) [+0.089, +0.139]*' (`base`: the reference's (mean,
  std, n); no relative change under MIN_RELATIVE_BASE)."""
  value, interval = delta
  rel = ''
  if base is not None and base[0] >= MIN_RELATIVE_BASE:
    rel = f' ({value / base[0]:+.1%})'
  ci = '' if interval is None else (
      f' [{interval[0]:+.3f}, {interval[1]:+.3f}]'
      + ('*' if quality_stats.is_real(delta) else ''))
  return f'{value:+.4f}{rel}{ci}'


def encoder_lines(records: Sequence[Mapping[str, Any]], data: str,
                  metric: str = ENCODER_METRIC,
                  settings=quality_stats.SETTINGS) -> List[str]:
  """Markdown of one data folder: `metric` by slice (mean +- sample std
  over seeds) and the paired differences (seeds both have; 95% bootstrap
  interval over users; * = excludes 0)."""
  from components.retrieval_evaluator import summary as eval_summary  # pylint: disable=g-import-not-at-top
  mine = [r for r in records if r['data'] == data]
  names = []
  for r in mine:
    if r['variant'] not in names:
      names.append(r['variant'])
  names.sort(key=lambda n: n != POPULAR)
  if not any(n != POPULAR for n in names):
    return []
  summary = quality_stats.summarize(mine)
  slices = quality_stats.SLICES
  version = sorted({r.get('code_version') for r in mine
                    if r['variant'] != POPULAR})
  lines = [f'**`{data}`**, {metric} (mean +- sample std over seeds; code '
           f'{", ".join(version)}):', '',
           '| variant | seeds | train s | ' + ' | '.join(slices) + ' |',
           '|---|---|---|' + '---|' * len(slices)]
  totals = eval_summary.UserTotals.from_dict(mine[0]['user_totals'])
  lines.append('| events | – | – | ' + ' | '.join(
      f'{int(totals.events[:, totals.column((metric, name))].sum())}'
      for name in slices) + ' |')
  for n in names:
    rs = [r for r in mine if r['variant'] == n]
    cells = []
    for name in slices:
      v = summary.get((data, n, metric, name))
      cells.append('–' if v is None else f'{v[0]:.4f}' + (
          f' +-{v[1]:.3f}' if v[2] > 1 else ''))
    train = ('–' if n == POPULAR else
             f'{np.mean([r["train_seconds"] for r in rs]):.0f}')
    lines.append(f'| {n} | {"–" if n == POPULAR else len(rs)} | {train} | '
                 + ' | '.join(cells) + ' |')
  lines += ['', f'{metric}, paired differences (on the seeds both have; '
            'difference (relative) [95% interval]; * = excludes 0):', '',
            '| difference | seeds | ' + ' | '.join(slices) + ' |',
            '|---|---|' + '---|' * len(slices)]
  expanded = _with_popular_seeds(mine)
  for a, b in encoder_pairs(names):
    seeds = quality_stats.shared_seeds(expanded, data, a, b)
    if not seeds:
      continue
    deltas = quality_stats.pair_delta(expanded, data, a, b, settings,
                                      shared=True)
    shared = quality_stats.summarize(
        quality_stats.on_shared_seeds(expanded, data, a, b))
    cells = []
    for name in slices:
      d = deltas.get((metric, name))
      cells.append('–' if d is None else _delta_text(
          shared.get((data, b, metric, name)), d))
    lines.append(f'| {a} − {b} | {len(seeds)} | ' + ' | '.join(cells) + ' |')
  return lines + ['']


def encoder_report(work: str, data_names: Sequence[str],
                   out: Optional[str]) -> str:
  """The encoder tables of every validation and eval folder of
  `data_names` (the latest code version of each log); writes them between
  the `bench/quality.py encoders` markers of `out`."""
  records = [r for r in read_log(os.path.join(work, 'results.jsonl'))
             if base_variant(r) in ENCODER_VARIANTS or r['variant'] == POPULAR]
  valid_records = read_log(os.path.join(work, VALID_LOG))
  parts = []
  for data in data_names:
    parts += encoder_lines(latest_records(
        [r for r in valid_records if r['data'] == VALID[data]]), VALID[data])
    parts += encoder_lines(latest_records(
        [r for r in records if r['data'] == data]), data)
  text = '\n'.join(parts)
  print(text)
  if out:
    write_between_markers(out, text, 'encoders')
  return text


def write_between_markers(path: str, text: str, block: str = 'results'
                          ) -> None:
  """Replaces the text between the `block` markers of `path` (or appends
  them): `<!-- bench/quality.py BLOCK: begin -->` ... `end -->`."""
  begin = f'<!-- bench/quality.py {block}: begin -->'
  end = f'<!-- bench/quality.py {block}: end -->'
  doc = ''
  if os.path.isfile(path):
    with open(path) as f:
      doc = f.read()
  block = f'{begin}\n{text}\n{end}'
  if begin in doc and end in doc:
    head, rest = doc.split(begin, 1)
    doc = head + block + rest.split(end, 1)[1]
  else:
    doc = doc + ('\n' if doc and not doc.endswith('\n') else '') + block + '\n'
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    f.write(doc)
  os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('step', choices=('prepare', 'tune', 'run', 'valid',
                                       'explore', 'throughput', 'report',
                                       'encoders', 'all'))
  parser.add_argument('--work', default=DEFAULT_WORK)
  parser.add_argument('--data', nargs='+', default=list(DATA), choices=DATA)
  parser.add_argument('--variants', nargs='+', default=None,
                      choices=ALL_VARIANTS,
                      help=f'default: {list(VARIANTS)} (run), all present (report)')
  parser.add_argument('--seeds', nargs='+', type=int, default=list(SEEDS))
  parser.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE',
                      help='valid, run: TrainingConfig overrides of the '
                      'sequence variants (JSON values), e.g. seq_ssl_weight=0.3')
  parser.add_argument('--out', default=None,
                      help='markdown file for the tables (report)')
  parser.add_argument('--chart', default=None, help='PNG chart path (report)')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.WARNING)
  start = time.time()
  if args.step in ('prepare', 'all'):
    prepare(args.work, [n for d in args.data for n in (d, VALID[d])])
  if args.step in ('tune', 'all'):
    for data in args.data:
      update_settings(data, tune(args.work, data, [
          v for v in (args.variants or STAGE2) if v in STAGE2]))
  if args.step in ('run', 'all'):
    run(args.work, args.data, args.variants or VARIANTS, args.seeds,
        read_settings(), parse_set(args.set))
  if args.step == 'valid':
    extra = parse_set(args.set)
    for data in args.data:
      valid(args.work, data, args.variants or list(ENCODER_REPORT_VARIANTS),
            args.seeds, extra)
  if args.step == 'explore':
    for data in args.data:
      explore(args.work, data)
  if args.step == 'throughput':
    throughput(args.work)
  if args.step == 'encoders':
    encoder_report(args.work, args.data, args.out)
  if args.step in ('report', 'all'):
    report(args.work, args.out, args.chart, args.variants or ALL_VARIANTS,
           args.data)
  _log(f'{args.step}: wall time {time.time() - start:.0f}s')
  return 0


if __name__ == '__main__':
  sys.exit(main())

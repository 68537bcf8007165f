"""Query encoders on MovieLens-100K: pooled vs sequence vs sequence + seq-SSL (+ CFM).

  python bench/sequence_quality.py [--mode valid|eval] [--work DIR]
      [--seeds 0 1 2 3 4] [--variants ...] [--set KEY=VALUE ...]
      [--reference pooled] [--report-only]

Modes (the data folders and pipeline runs of bench/quality.py's machinery,
prepared by the real pipeline up to the Transforms, bench/quality_prep.py):
  valid  `full_valid`: the train events of the ML-100K temporal split only,
         their last 10% by time as the validation split (the eval split is
         never read). Every choice (defaults, beta, lambda, K) is made here.
  eval   `full`: the ML-100K temporal split itself (train -> eval events).
Every training is run by `models.model.train`, exported by `models.export`
and ranked by the evaluator's own code (components/retrieval_evaluator:
exact search over the whole corpus, the user's train items excluded; a
sequence tower is ranked by the max over its intentions); its per-user
aggregates of every evaluator slice (overall; head/tail/cold items;
new/returning/light/heavy users) are appended as one JSON line to
WORK/sequence_quality.jsonl. A rerun skips what that log holds (same mode,
variant, seed, config and code version), so a stopped run loses one
training at most; the runs go seed by seed (every variant's seed 0 first),
so a partial run compares the variants on the same seeds.

Same budget: every variant takes the main-task settings tuned on validation
for its item-side SSL task in bench/quality_settings.json (`full`: `none`,
or `cfm` for the + cfm variant); the sequence settings are the
TrainingConfig defaults (chosen on validation, docs/ssl.md) and `--set`
overrides them for the sequence variants (a validation grid).

Prints Recall@50 per variant and slice (mean over seeds and the seeds'
spread), the most-popular list on the same events, and each variant's
difference to `--reference` (and, for the seq-SSL variants, to `sequence`)
with the evaluator's paired 95% bootstrap interval over users
(components/retrieval_evaluator/bootstrap.py; per-user aggregates averaged
over the seeds both variants share, users resampled with the same weights).
"""
import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np

from bench import quality
from bench import quality_data
from bench import quality_prep
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import summary
from models.config import TrainingConfig
# pylint: enable=g-import-not-at-top,wrong-import-position

SEQ_SSL = {'query_encoder': 'sequence', 'seq_ssl_weight': 0.1}
# variant -> (item-side SSL whose tuned settings it takes, config overrides).
VARIANTS = {
    'pooled': ('none', {}),
    'sequence': ('none', {'query_encoder': 'sequence'}),
    'sequence+seq-ssl': ('none', SEQ_SSL),
    'sequence+seq-ssl+cfm': ('cfm', SEQ_SSL),
    # Cheaper encoders (step time), compared with `sequence` on validation.
    'sequence-L20': ('none', {'query_encoder': 'sequence',
                              'sequence_max_length': 20}),
    'sequence-noatt': ('none', {'query_encoder': 'sequence',
                                'sequence_attention': False}),
    'sequence-noatt-L20': ('none', {'query_encoder': 'sequence',
                                    'sequence_max_length': 20,
                                    'sequence_attention': False}),
}
EVAL_VARIANTS = ('pooled', 'sequence', 'sequence+seq-ssl',
                 'sequence+seq-ssl+cfm')
FOLDERS = {'valid': 'full_valid', 'eval': 'full'}
LOG_NAME = 'sequence_quality.jsonl'
POPULARITY = 'popularity'
K = 50
KS = (10, 50)
METRIC = f'recall@{K}'
COLUMNS = [(m, s) for m in (f'recall@{k}' for k in KS) for s in summary.SLICES]
SETTINGS = bootstrap.Settings(samples=2000)
MIN_RELATIVE_BASE = 0.01


def config_for(variant: str, seed: int, settings: Mapping[str, Any],
               extra: Mapping[str, Any]) -> TrainingConfig:
  """The TrainingConfig of one training (`extra` only for sequence variants)."""
  ssl, overrides = VARIANTS[variant]
  overrides = dict(overrides)
  if overrides.get('query_encoder') == 'sequence':
    overrides.update(extra)
  return TrainingConfig().replace(ssl=ssl, seed=seed,
                                  **dict(settings[ssl], **overrides))


def label(variant: str, extra: Mapping[str, Any]) -> str:
  """A variant's name in the report: with the --set overrides it ran with."""
  if not extra or VARIANTS[variant][1].get('query_encoder') != 'sequence':
    return variant
  return variant + ' ' + ','.join(f'{k}={v}' for k, v in sorted(extra.items()))


# ---------------------------------------------------------------------------
# One training + evaluation.


def _prepare(work: str, folder: str) -> quality_prep.Prepared:
  data_root = os.path.join(work, 'data')
  full = os.path.join(data_root, 'full')
  if not os.path.isdir(full):
    from pipeline.cli import main as cli_main
    if cli_main(['data', quality.DATASET, '--out', full, '--cache',
                 os.path.join(quality.REPO, 'cache')]):
      raise RuntimeError('sslrec data movielens-100k failed')
  if folder == 'full_valid' and not os.path.isdir(
      os.path.join(data_root, folder)):
    quality_data.validation_split(full, os.path.join(data_root, folder),
                                  quality.VALIDATION_FRACTION)
  return quality_prep.prepare(os.path.join(data_root, folder),
                              os.path.join(work, 'out', folder))


def train_and_rank(session: quality.Session, config: TrainingConfig):
  """Trains, exports, ranks the split's events: (ranking, UserTotals, s)."""
  import tensorflow as tf
  from components import tower_io
  from components.retrieval_evaluator import evaluation
  from models import export
  from models import model as model_lib
  tf.keras.backend.clear_session()
  start = time.perf_counter()
  model = model_lib.train(session.feature_config, config, session.query_tft,
                          session.item_tft, session.corpus, session.train_files,
                          session.eval_files,
                          mutual_information=session.mutual_information)
  seconds = time.perf_counter() - start
  with tempfile.TemporaryDirectory(prefix='sslrec_seq_') as tmp:
    query_uri, item_uri = os.path.join(tmp, 'q'), os.path.join(tmp, 'i')
    export.export_query_tower(tower_io.serving_dir(query_uri),
                              model.query_tower, session.query_tft,
                              session.feature_config)
    export.export_item_tower(tower_io.serving_dir(item_uri), model.item_tower,
                             session.item_tft, session.feature_config)
    ranking = evaluation.rank_events(
        tower_io.load_tower(query_uri), tower_io.load_tower(item_uri),
        session.prepared.interactions_examples, session.eval_corpus, KS,
        exclude_seen=True)
  totals = evaluation.user_totals(session.eval_corpus, ranking, KS)
  return ranking, totals.select(COLUMNS), seconds


def _key(record: Mapping[str, Any]):
  return (record['mode'], record['variant'], record['seed'],
          json.dumps(record['config'], sort_keys=True),
          record['code_version'])


def run(mode: str, work: str, seeds: Sequence[int], variants: Sequence[str],
        extra: Mapping[str, Any]) -> List[Dict[str, Any]]:
  """Runs what the log lacks, seed by seed; returns this run's records."""
  log_path = os.path.join(work, LOG_NAME)
  settings = quality.read_settings()['full']
  session = None
  version = quality.code_version()
  out = []
  for seed in seeds:
    for variant in variants:
      config = config_for(variant, seed, settings, extra)
      record = {'mode': mode, 'variant': variant, 'label': label(variant, extra),
                'seed': seed, 'config': config.to_dict(),
                'code_version': version}
      done = {_key(r): r for r in quality.read_log(log_path)}
      if _key(record) in done:
        out.append(done[_key(record)])
        continue
      if session is None:
        session = quality.Session(_prepare(work, FOLDERS[mode]))
      ranking, totals, seconds = train_and_rank(session, config)
      if not any(r['mode'] == mode and r['variant'] == POPULARITY
                 for r in quality.read_log(log_path)):
        from components.retrieval_evaluator import evaluation
        popular = evaluation.user_totals(
            session.eval_corpus,
            evaluation.popularity_ranking(session.eval_corpus, ranking), KS)
        quality._append(log_path, {  # pylint: disable=protected-access
            'mode': mode, 'variant': POPULARITY, 'label': POPULARITY,
            'seed': 0, 'config': {}, 'code_version': version,
            'user_totals': popular.select(COLUMNS).to_dict()})
      record.update(user_totals=totals.to_dict(), train_seconds=seconds,
                    finished=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
      quality._append(log_path, record)  # pylint: disable=protected-access
      value = bootstrap.ratios(totals.values, totals.events)[
          totals.column((METRIC, 'overall'))]
      print(time.strftime('%H:%M:%S'), f'{mode} {record["label"]} seed {seed}: '
            f'{METRIC} {value:.4f} ({seconds:.0f}s training)', flush=True)
      out.append(record)
  return out


# ---------------------------------------------------------------------------
# Report (pure numpy on the logged records).


def _totals(record) -> summary.UserTotals:
  return summary.UserTotals.from_dict(record['user_totals'])


def seed_values(records: Sequence[Mapping], name: str, slice_: str
                ) -> Dict[int, float]:
  """seed -> Recall@50 on a slice of the records labelled `name`."""
  out = {}
  for r in records:
    if r['label'] == name:
      t = _totals(r)
      out[r['seed']] = bootstrap.ratios(t.values, t.events)[
          t.column((METRIC, slice_))]
  return out


def paired(records: Sequence[Mapping], name: str, reference: str,
           settings: bootstrap.Settings = SETTINGS):
  """Recall@50 of `name` minus `reference` on the seeds both have, per slice:
  {slice: (difference, relative, interval or None, seeds)}.

  Each side's per-user aggregates are averaged over those seeds (the events
  are the same), then the evaluator's paired bootstrap over users.
  """
  by = {n: {r['seed']: _totals(r) for r in records if r['label'] == n}
        for n in (name, reference)}
  if reference == POPULARITY:  # deterministic: the same for every seed
    by[reference] = {s: next(iter(by[reference].values())) for s in by[name]}
  seeds = sorted(set(by[name]) & set(by[reference]))
  if not seeds:
    return {}
  mean = {n: np.mean([by[n][s].values for s in seeds], axis=0)
          for n in (name, reference)}
  first = by[name][seeds[0]]
  events = first.events
  for n in (name, reference):
    for s in seeds:
      if not np.array_equal(by[n][s].events, events) or (
          by[n][s].users != first.users):
        raise ValueError(f'{n} seed {s} was evaluated on other events')
  point_a = bootstrap.ratios(mean[name], events)
  point_b = bootstrap.ratios(mean[reference], events)
  intervals = bootstrap.paired_delta_intervals(mean[name], mean[reference],
                                               events, settings)
  out = {}
  for slice_ in summary.SLICES:
    c = first.column((METRIC, slice_))
    if point_a[c] is None:
      continue
    diff = point_a[c] - point_b[c]
    # No relative change against a near-zero base (the popular list's tail).
    relative = diff / point_b[c] if point_b[c] >= MIN_RELATIVE_BASE else None
    out[slice_] = (diff, relative, intervals[c], seeds)
  return out


def report_lines(records: Sequence[Mapping], reference: str) -> List[str]:
  """Markdown tables: Recall@50 by slice, then the paired differences."""
  names = []
  for r in records:
    if r['label'] not in names:
      names.append(r['label'])
  names.sort(key=lambda n: n != POPULARITY)
  header = '| variant | seeds | ' + ' | '.join(summary.SLICES) + ' |'
  lines = [f'Recall@{K} (mean over seeds; +- sample std over seeds):', '',
           header, '|' + '---|' * (len(summary.SLICES) + 2)]
  for n in names:
    cells = []
    for s in summary.SLICES:
      values = [v for v in seed_values(records, n, s).values() if v is not None]
      if not values:
        cells.append('-')
        continue
      std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
      cells.append(f'{np.mean(values):.4f}' + (
          f' +-{std:.3f}' if len(values) > 1 else ''))
    seeds = sorted(seed_values(records, n, 'overall'))
    lines.append(f'| {n} | {len(seeds) if n != POPULARITY else "-"} | '
                 + ' | '.join(cells) + ' |')
  lines += ['', f'Paired differences of Recall@{K} (95% bootstrap interval over '
            'users, evaluator\'s bootstrap, '
            f'{SETTINGS.samples} samples; * = interval excludes 0):', '',
            '| comparison | seeds | ' + ' | '.join(summary.SLICES) + ' |',
            '|' + '---|' * (len(summary.SLICES) + 2)]
  pairs = [(n, reference) for n in names if n not in (reference, POPULARITY)]
  pairs += [(n, 'sequence') for n in names
            if 'seq-ssl' in n and reference != 'sequence' and 'sequence' in names]
  pairs += [(n, POPULARITY) for n in names
            if n != POPULARITY and POPULARITY in names]
  for a, b in pairs:
    d = paired(records, a, b)
    if not d:
      continue
    cells = []
    for s in summary.SLICES:
      if s not in d:
        cells.append('-')
        continue
      diff, rel, ci, _ = d[s]
      star = '*' if ci and (ci[0] > 0 or ci[1] < 0) else ''
      rel_text = f' ({rel:+.1%})' if rel is not None else ''
      ci_text = f' [{ci[0]:+.3f}, {ci[1]:+.3f}]' if ci else ''
      cells.append(f'{diff:+.4f}{rel_text}{ci_text}{star}')
    seeds = next(iter(d.values()))[3]
    lines.append(f'| {a} vs {b} | {len(seeds)} | ' + ' | '.join(cells) + ' |')
  return lines


def latest_records(records: Sequence[Mapping], mode: str) -> List[Mapping]:
  """The records of `mode` from the code version of its latest training."""
  mine = [r for r in records if r['mode'] == mode]
  trained = [r for r in mine if r['variant'] != POPULARITY]
  if not trained:
    return []
  version = trained[-1]['code_version']
  return [r for r in mine if r['code_version'] == version]


def _parse_set(items: Sequence[str]) -> Dict[str, Any]:
  out = {}
  for item in items:
    key, sep, value = item.partition('=')
    if not sep:
      raise ValueError(f'--set {item!r}: expected KEY=VALUE')
    out[key] = json.loads(value)
  return out


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--mode', default='valid', choices=list(FOLDERS))
  parser.add_argument('--work', default=quality.DEFAULT_WORK)
  parser.add_argument('--seeds', nargs='+', type=int, default=[0])
  parser.add_argument('--variants', nargs='+', default=None,
                      choices=list(VARIANTS),
                      help='default: the eval benchmark\'s four')
  parser.add_argument('--set', nargs='*', default=[], metavar='KEY=VALUE',
                      help='TrainingConfig overrides of the sequence variants '
                      '(JSON values), e.g. seq_ssl_weight=0.3')
  parser.add_argument('--reference', default='pooled')
  parser.add_argument('--report-only', action='store_true',
                      help='report what the log holds for --mode (the code '
                      'version of its latest training), run nothing')
  args = parser.parse_args(argv)
  variants = args.variants or list(EVAL_VARIANTS)
  if args.report_only:
    records = latest_records(
        quality.read_log(os.path.join(args.work, LOG_NAME)), args.mode)
  else:
    records = run(args.mode, args.work, args.seeds, variants,
                  _parse_set(args.set))
    records += [r for r in quality.read_log(os.path.join(args.work, LOG_NAME))
                if r['mode'] == args.mode and r['variant'] == POPULARITY]
  versions = sorted({r['code_version'] for r in records
                     if r['variant'] != POPULARITY})
  print(f'{args.mode} ({FOLDERS[args.mode]}), trained with code '
        f'{", ".join(versions) or "-"} (bench/quality.py code_version)')
  print('\n'.join(report_lines(records, args.reference)))
  return 0


if __name__ == '__main__':
  sys.exit(main())

"""Query encoders on a MovieLens-100K validation split: pooled vs sequence vs sequence + seq-SSL.

  python bench/sequence_quality.py [--work DIR] [--seeds 0] [--epochs 10]

Uses bench/quality.py's machinery: the `full_valid` folder (the train events
of the ML-100K temporal split only, their last 10% by time as the validation
split; the eval split is never read), prepared by the real pipeline up to the
Transforms (bench/quality_prep.py), trained by `models.model.train`, exported
by `models.export` and ranked by the evaluator's own code
(components/retrieval_evaluator: exact search over the whole corpus, the
user's train items excluded; a sequence tower is scored by the max over its
intentions). All three variants share the main-task settings tuned for
`ssl=none` (bench/quality_settings.json, full) with ssl=none: the same budget
(no tuning of the sequence variants).

Prints Recall@50 per variant (per event, and per-user means) overall, on new
users (no training event: the split is temporal) and on light users (the third
of the returning users with the fewest training items), and for each sequence
variant the change vs pooled with a paired 95% bootstrap interval over users
(per-user mean Recall@50, mean over seeds, 2000 resamples).
"""
import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np

from bench import quality
from bench import quality_data
from bench import quality_prep
from models.config import TrainingConfig
# pylint: enable=g-import-not-at-top,wrong-import-position

VARIANTS = {
    'pooled': {},
    'sequence': {'query_encoder': 'sequence'},
    'sequence+seq-ssl': {'query_encoder': 'sequence', 'seq_ssl_weight': 0.1},
}
K = 50
LIGHT_FRACTION = 1 / 3


def _prepare(work: str) -> quality_prep.Prepared:
  data_root = os.path.join(work, 'data')
  full = os.path.join(data_root, 'full')
  if not os.path.isdir(full):
    from pipeline.cli import main as cli_main
    if cli_main(['data', quality.DATASET, '--out', full, '--cache',
                 os.path.join(quality.REPO, 'cache')]):
      raise RuntimeError('sslrec data movielens-100k failed')
  valid = os.path.join(data_root, 'full_valid')
  if not os.path.isdir(valid):
    quality_data.validation_split(full, valid, quality.VALIDATION_FRACTION)
  return quality_prep.prepare(valid, os.path.join(work, 'out', 'full_valid'))


def _ranks(session: quality.Session, config: TrainingConfig):
  """Trains, exports, ranks every validation event: (ranks, users, seconds)."""
  import tensorflow as tf
  from components import tower_io
  from components.retrieval_evaluator import evaluation, metrics
  from models import export
  from models import model as model_lib
  tf.keras.backend.clear_session()
  start = time.perf_counter()
  model = model_lib.train(session.feature_config, config, session.query_tft,
                          session.item_tft, session.corpus, session.train_files,
                          session.eval_files)
  seconds = time.perf_counter() - start
  with tempfile.TemporaryDirectory(prefix='sslrec_seq_') as tmp:
    query_uri, item_uri = os.path.join(tmp, 'q'), os.path.join(tmp, 'i')
    export.export_query_tower(tower_io.serving_dir(query_uri),
                              model.query_tower, session.query_tft,
                              session.feature_config)
    export.export_item_tower(tower_io.serving_dir(item_uri), model.item_tower,
                             session.item_tft, session.feature_config)
    query, item = tower_io.load_tower(query_uri), tower_io.load_tower(item_uri)
    corpus = session.eval_corpus
    queries = evaluation.embed_eval_queries(
        query, session.prepared.interactions_examples, corpus, 1024)
    exclusions = metrics.Exclusions.from_seen(
        queries.users, corpus.seen_by_user, queries.targets)
    ranks = metrics.rank_targets(
        queries.embeddings,
        evaluation._item_embeddings(item, corpus, 4096),  # pylint: disable=protected-access
        queries.targets, depth=K, exclusions=exclusions)
  return ranks, np.array(queries.users), seconds


def _per_user(hits: np.ndarray, users: np.ndarray, order: np.ndarray):
  return np.array([hits[users == u].mean() for u in order])


def _interval(diff: np.ndarray, rng) -> tuple:
  boots = [diff[rng.integers(0, len(diff), len(diff))].mean()
           for _ in range(2000)]
  return np.percentile(boots, 2.5), np.percentile(boots, 97.5)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work', default=quality.DEFAULT_WORK)
  parser.add_argument('--seeds', nargs='+', type=int, default=[0])
  parser.add_argument('--epochs', type=int, default=None)
  parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                      choices=list(VARIANTS))
  args = parser.parse_args(argv)
  session = quality.Session(_prepare(args.work))
  settings = quality.read_settings()['full']['none']
  base = TrainingConfig().replace(ssl='none', **settings)
  if args.epochs:
    base = base.replace(epochs=args.epochs)
  # Training events per user (all the train split of full_valid).
  counts = {u: len(s) for u, s in session.eval_corpus.seen_by_user.items()}
  hits, users = {}, None
  for name in args.variants:
    per_seed = []
    for seed in args.seeds:
      ranks, users, seconds = _ranks(
          session, base.replace(seed=seed, **VARIANTS[name]))
      per_seed.append(((ranks > 0) & (ranks <= K)).astype(np.float64))
      print(time.strftime('%H:%M:%S'), f'{name} seed {seed}: Recall@{K} '
            f'{per_seed[-1].mean():.4f} ({seconds:.0f}s training)', flush=True)
    hits[name] = np.mean(per_seed, axis=0)  # mean over seeds, per event
  order = np.array(sorted(set(users.tolist())))
  user_counts = np.array([counts.get(u, 0) for u in order])
  new = user_counts == 0
  threshold = np.quantile(user_counts[~new], LIGHT_FRACTION)
  light = ~new & (user_counts <= threshold)
  slices = (('overall', np.ones(len(order), bool)), ('new', new),
            ('light', light))
  rng = np.random.default_rng(0)
  print(f'full_valid: {len(users)} validation events, {len(order)} users '
        f'({new.sum()} new: no train event; {light.sum()} light: returning, '
        f'<= {threshold:.0f} train items); seeds {args.seeds}; epochs '
        f'{base.epochs}')
  per_user = {n: _per_user(h, users, order) for n, h in hits.items()}
  for name in args.variants:
    line = (f'  {name:18s} Recall@{K} per event {hits[name].mean():.4f}; '
            'per-user mean: ' + ', '.join(
                f'{label} {per_user[name][sel].mean():.4f}'
                for label, sel in slices))
    if name != 'pooled' and 'pooled' in per_user:
      for label, sel in slices:
        diff = per_user[name][sel] - per_user['pooled'][sel]
        lo, hi = _interval(diff, rng)
        base_value = per_user['pooled'][sel].mean()
        line += (f'\n      vs pooled, {label}: {diff.mean():+.4f} '
                 f'({diff.mean() / max(base_value, 1e-9):+.1%}), 95% CI '
                 f'[{lo:+.4f}, {hi:+.4f}]')
    print(line, flush=True)
  if 'sequence' in per_user and 'sequence+seq-ssl' in per_user:
    diff = per_user['sequence+seq-ssl'][light] - per_user['sequence'][light]
    lo, hi = _interval(diff, rng)
    print(f'  seq-ssl vs sequence, light users: {diff.mean():+.4f}, 95% CI '
          f'[{lo:+.4f}, {hi:+.4f}]')
  print(json.dumps({n: float(h.mean()) for n, h in hits.items()}))


if __name__ == '__main__':
  main()

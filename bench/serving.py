"""Retrieval index latency (one query, a batch of 256) and ScaNN recall vs brute force.

Synthetic corpora (default: ML-100K size, 1682 items, and 100K items):
  python bench/serving.py [--items 1682 100000] [--dim 64] [--k 100]
                          [--repeats 200] [--scann]
Trained towers (e.g. the pushed ones) on a data folder:
  python bench/serving.py --query-model DIR --item-model DIR --data DIR [--scann]

Each index is the exported SavedModel (query tower + TFRS BruteForce, or
ScaNN, over the corpus embeddings), saved and loaded back; `serving_default`
is timed end to end after a warm-up and p50 / p99 are printed in milliseconds.
Synthetic mode: item embeddings are unit vectors around random cluster centres
(like trained embeddings, unlike uniform noise) and the query tower is a small
hashed tower with the towers' serving contract (`_HashedQueryTower`). ScaNN recall@k is the overlap of its top-k with brute force,
measured on query embeddings (synthetic: drawn like the items; towers: the eval
events' query embeddings).
Goal: single-query brute-force p99 <= 10 ms at 100K items on this CPU.
"""
import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import pandas as pd  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from components import tower_io  # pylint: disable=g-import-not-at-top,wrong-import-position
from components.index_builder import index as index_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

BATCH = 256
ITEMS_CSV = os.path.join('items', 'items.csv')
EVAL_CSV = os.path.join('interactions', 'eval', 'interactions.csv')
# The synthetic query tower's raw columns (a user, a number, a history).
QUERY_COLUMNS = {'user_id': tf.string, 'age': tf.float32, 'history': tf.string}


class _HashedQueryTower(tf.Module):
  """Raw 1-D columns in, {"embedding": float32 [batch, dim]} L2-normalized out:
  the mean of hashed `|`-separated tokens' rows of one random table, plus the
  numbers times a random vector. Costs about what a small trained tower
  does, so the index latency is the index's."""

  def __init__(self, dim: int, buckets: int = 97, seed: int = 0):
    super().__init__()
    self.table = tf.Variable(tf.random.stateless_normal([buckets, dim],
                                                        seed=[seed, 1]))
    self.weight = tf.Variable(tf.random.stateless_normal([dim], seed=[seed, 2]))
    self._buckets = buckets
    spec = {name: tf.TensorSpec([None], dtype, name=name)
            for name, dtype in QUERY_COLUMNS.items()}
    self.serve = tf.function(self._serve, input_signature=[spec])

  def _serve(self, features):
    total = 0.0
    for name, dtype in sorted(QUERY_COLUMNS.items()):
      if dtype == tf.float32:
        value = tf.where(tf.math.is_nan(features[name]), 0.0, features[name])
        total += value[:, None] * self.weight[None, :] / 100.0
        continue
      tokens = tf.strings.split(features[name], '|')
      total += tf.reduce_mean(tf.gather(self.table, tf.strings.to_hash_bucket_fast(
          tokens, self._buckets)), axis=1)
    return {tower_io.EMBEDDING: tf.math.l2_normalize(total, axis=-1)}


def _save_query_tower(model_uri: str, dim: int) -> str:
  """Saves a _HashedQueryTower under `<model_uri>/Format-Serving`; returns it."""
  tower = _HashedQueryTower(dim)
  path = tower_io.serving_dir(model_uri)
  tf.saved_model.save(tower, path, signatures={
      tower_io.SIGNATURE: tower.serve.get_concrete_function()})
  return path


def _random_queries(signature, n, rng):
  out = {}
  for name, spec in signature.structured_input_signature[1].items():
    if spec.dtype == tf.string:
      out[name] = tf.constant([f'i{rng.integers(1000)}|i{rng.integers(1000)}'
                               for _ in range(n)])
    elif spec.dtype == tf.float32:
      out[name] = tf.constant(rng.normal(size=n).astype(np.float32))
    else:
      out[name] = tf.constant(rng.integers(100, size=n), spec.dtype)
  return out


def _read_csv(path, columns):
  """CSV columns typed like a tower signature (empty = '' / NaN / 0)."""
  frame = pd.read_csv(path, dtype=str, keep_default_na=False)
  out = {}
  for name, dtype in columns.items():
    if name not in frame:
      raise ValueError(f'{path}: no column {name!r} (the tower needs it)')
    values = frame[name]
    if dtype == tf.string:
      out[name] = values.to_numpy(dtype=object)
    elif dtype == tf.float32:
      out[name] = pd.to_numeric(values.replace('', np.nan)).to_numpy(
          np.float32)
    else:
      out[name] = pd.to_numeric(values.replace('', '0')).to_numpy(np.int64)
  return out


def _rows(columns, start, end):
  return {name: tf.constant(v[start:end]) for name, v in columns.items()}


def _time(fn, inputs, repeats):
  for _ in range(5):
    fn(**inputs)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn(**inputs)['scores'].numpy()
    times.append((time.perf_counter() - start) * 1000)
  return np.percentile(times, 50), np.percentile(times, 99)


def _latency(label, export_dir, one, batch, repeats):
  fn = tf.saved_model.load(export_dir).signatures['serving_default']
  for name, inputs, n in (('1 query', one, repeats),
                          (f'batch {BATCH}', batch, max(10, repeats // 10))):
    p50, p99 = _time(fn, inputs, n)
    print(f'{label:36s} {name:10s} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms'
          f'   ({n} calls)', flush=True)


def _scann_recall(bf, sc, query_emb, k):
  exact = bf.index(tf.constant(query_emb), k=k)[1].numpy()
  approx = sc.index(tf.constant(query_emb), k=k)[1].numpy()
  return np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(exact, approx)])


def _run(tmp, label, query_dir, item_emb, item_ids, one, batch, query_emb,
         args):
  bf = index_lib.RetrievalIndex(query_dir, item_emb, item_ids, k=args.k)
  bf_dir = os.path.join(tmp, f'bf_{len(item_ids)}')
  bf.save(bf_dir)
  _latency(f'brute force {label}', bf_dir, one, batch, args.repeats)
  if args.scann:
    sc = index_lib.RetrievalIndex(query_dir, item_emb, item_ids, k=args.k,
                                  kind=index_lib.SCANN)
    sc_dir = os.path.join(tmp, f'scann_{len(item_ids)}')
    sc.save(sc_dir)
    _latency(f'scann {label}', sc_dir, one, batch, args.repeats)
    recall = _scann_recall(bf, sc, query_emb, bf.k)
    print(f'{"scann recall@" + str(bf.k) + " vs brute force":36s} '
          f'{recall:.4f} over {len(query_emb)} queries', flush=True)


def _clustered(rng, centres, n):
  clusters, dim = centres.shape
  points = centres[rng.integers(clusters, size=n)] + rng.normal(
      size=[n, dim]) * 0.5
  return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(
      np.float32)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--items', type=int, nargs='+', default=[1682, 100000])
  parser.add_argument('--dim', type=int, default=64)
  parser.add_argument('--k', type=int, default=index_lib.DEFAULT_K)
  parser.add_argument('--repeats', type=int, default=200)
  parser.add_argument('--scann', action='store_true',
                      help='also build ScaNN (needs scann==1.3.2)')
  parser.add_argument('--query-model', help='query tower SavedModel dir')
  parser.add_argument('--item-model', help='item tower SavedModel dir')
  parser.add_argument('--data', help='data folder (items/, interactions/)')
  args = parser.parse_args(argv)
  if args.scann:
    import scann  # pylint: disable=g-import-not-at-top,unused-import
  rng = np.random.default_rng(0)
  print(f'TF {tf.__version__}, {os.cpu_count()} CPUs', flush=True)
  with tempfile.TemporaryDirectory() as tmp:
    if args.query_model or args.item_model or args.data:
      if not (args.query_model and args.item_model and args.data):
        parser.error('--query-model, --item-model and --data go together')
      item_tower = tower_io.Tower(args.item_model)
      query_tower = tower_io.Tower(args.query_model)
      items = _read_csv(os.path.join(args.data, ITEMS_CSV),
                        dict(item_tower.columns, item_id=tf.string))
      events = _read_csv(os.path.join(args.data, EVAL_CSV),
                         query_tower.columns)
      item_emb = np.concatenate([
          item_tower.embed({k: v[i:i + 4096] for k, v in items.items()})
          for i in range(0, len(items['item_id']), 4096)])
      n = min(len(next(iter(events.values()))), 2000)
      query_emb = query_tower.embed({k: v[:n] for k, v in events.items()})
      _run(tmp, f'{len(item_emb)} items d={item_emb.shape[1]}',
           args.query_model, item_emb, items['item_id'], _rows(events, 0, 1),
           _rows(events, 0, BATCH), query_emb, args)
      return 0
    query_dir = _save_query_tower(os.path.join(tmp, 'query'), args.dim)
    signature = tf.saved_model.load(query_dir).signatures['serving_default']
    one = _random_queries(signature, 1, rng)
    batch = _random_queries(signature, BATCH, rng)
    for num_items in args.items:
      centres = rng.normal(size=[max(10, num_items // 100), args.dim])
      item_emb = _clustered(rng, centres, num_items)
      query_emb = _clustered(rng, centres, 1000)
      item_ids = np.array([f'i{i}' for i in range(num_items)])
      _run(tmp, f'{num_items} items d={args.dim}', query_dir, item_emb,
           item_ids, one, batch, query_emb, args)
  return 0


if __name__ == '__main__':
  sys.exit(main())

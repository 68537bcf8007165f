"""Train-step time with and without the SSL task, at the same main batch size.

  python bench/train_step.py [--steps 200] [--batch 256] [--ssl-batch 256]
                             [--variant cfm] [--dropout-rate 0.3]
  python bench/train_step.py --ssl-batch 1024     # the shipped ssl_batch_size
  python bench/train_step.py --query-encoder sequence   # SSL on the default tower
  python bench/train_step.py --compare sequence [--num-intentions 4]
      [--sequence-max-length 50] [--sequence-attention 1] [--seq-ssl-batch 64]

Builds the real towers and RetrievalModel (models/two_tower.py) on synthetic
transformed features shaped like MovieLens-100K (1682 items: item_id, title
tokens, year bucket, genres; 943 users: user_id, age bucket, gender,
occupation, zip prefix, a history of up to 50 item ids; Zipf-skewed events),
then times the compiled Keras train function one step at a time for
`ssl=none` and `ssl=<variant>` in the same process, alternating the two step
by step so that load from other processes hits both alike.
Prints the median and p90 step time and examples/s of each, and last
`ssl_step_time_ratio=<median ssl / median none>` (goal <= 1.15).

`--compare sequence` times `query_encoder=pooled` against
`query_encoder=sequence` with the sequence-to-sequence SSL loss on
(seq_ssl_weight 0.1; K, history length, attention and SSL sub-batch from
the TrainingConfig defaults unless given), both with ssl=none, and prints last
`sequence_step_time_ratio=<median sequence+seq-ssl / median pooled>` (goal <= 2).
"""
import argparse
import os
import sys
import time

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

import schemas  # pylint: disable=g-import-not-at-top,wrong-import-position
from models import data  # pylint: disable=g-import-not-at-top,wrong-import-position
from models import features as F  # pylint: disable=g-import-not-at-top,wrong-import-position
from models import assembly  # pylint: disable=g-import-not-at-top,wrong-import-position
from models import training  # pylint: disable=g-import-not-at-top,wrong-import-position
from models.config import TrainingConfig  # pylint: disable=g-import-not-at-top,wrong-import-position

NUM_ITEMS, NUM_USERS, NUM_EVENTS = 1682, 943, 90_000
# Table sizes (vocabulary + OOV) of the transformed ML-100K features.
ITEM_SIZES = {'item_id': NUM_ITEMS + 1, 'title': 3000, 'year': 11, 'genres': 20}
QUERY_SIZES = {'user_id': NUM_USERS + 1, 'age': 11, 'gender': 3,
               'occupation': 22, 'zip_prefix': 500}
HISTORY_MAX = 50
REFERENCE_SSL_BATCH = 256


def _ragged(rng, n, vocab, lo, hi):
  lengths = rng.integers(lo, hi + 1, size=n)
  return tf.RaggedTensor.from_row_lengths(
      rng.integers(0, vocab, size=lengths.sum()).astype(np.int64), lengths)


def _corpus(fc, rng):
  keys = np.array([f'i{i}' for i in range(NUM_ITEMS)])
  feats = {}
  for f in fc.item_features:
    size = ITEM_SIZES[f.name]
    if f.name == F.ITEM_ID:
      feats[f.name] = tf.range(NUM_ITEMS, dtype=tf.int64)
    elif f.is_list:
      feats[f.name] = _ragged(rng, NUM_ITEMS, size, 1, 3 if f.name == 'genres' else 6)
    else:
      feats[f.name] = tf.constant(rng.integers(0, size, NUM_ITEMS), tf.int64)
  return data.ItemCorpus(keys, feats)


def _events(fc, rng, batch):
  """(infinite batches {'query': ..., 'item_row': int64 [batch]}, item counts)."""
  p = 1.0 / np.arange(1, NUM_ITEMS + 1)
  p /= p.sum()  # Zipf popularity
  rows = rng.choice(NUM_ITEMS, size=NUM_EVENTS, p=p).astype(np.int64)
  users = rng.integers(0, NUM_USERS, NUM_EVENTS)
  query = {}
  for f in fc.query_features:
    if f.kind == F.HISTORY:
      lengths = rng.integers(0, HISTORY_MAX + 1, NUM_EVENTS)
      ids = rng.choice(NUM_ITEMS, size=lengths.sum(), p=p)
      query[f.name] = tf.RaggedTensor.from_row_lengths(
          tf.constant(np.char.add('i', ids.astype(str))), lengths)
    elif f.name == F.USER_ID:
      query[f.name] = tf.constant(users, tf.int64)
    else:  # a user attribute: a function of the user
      query[f.name] = tf.constant(
          (users * 7919 + len(f.name)) % QUERY_SIZES[f.name], tf.int64)
  ds = tf.data.Dataset.from_tensor_slices({data.QUERY: query, data.ITEM_ROW: rows})
  return ds.shuffle(NUM_EVENTS, seed=0).repeat().batch(
      batch, drop_remainder=True).prefetch(4), np.bincount(rows,
                                                          minlength=NUM_ITEMS)


def _mi(fc, rng):
  k = len(fc.item_features)
  m = rng.uniform(0, 1, (k, k))
  m = (m + m.T) / 2
  np.fill_diagonal(m, 1.0)
  return {'features': fc.item_feature_names, 'mi': m.tolist(),
          'normalized_mi': m.tolist()}


def _model(fc, config, corpus, mi, item_counts):
  """The model as assembly.build_model makes it, from the table sizes above."""
  model = assembly.assemble_model(fc, config, ITEM_SIZES, QUERY_SIZES, corpus,
                                  item_counts, mi)
  model.compile(optimizer=tf.keras.optimizers.Adagrad(config.learning_rate))
  return model


def _stats(times, batch):
  ms = np.array(times) * 1000
  return (np.percentile(ms, 25), np.median(ms), np.percentile(ms, 90),
          batch / np.median(ms) * 1000)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', type=int, default=200, help='timed steps per variant')
  parser.add_argument('--warmup', type=int, default=20)
  parser.add_argument('--batch', type=int, default=TrainingConfig.batch_size)
  # The issue-12 reference: an SSL batch the size of the main batch (the
  # shipped ssl_batch_size is larger; pass it to time the defaults).
  parser.add_argument('--ssl-batch', type=int, default=REFERENCE_SSL_BATCH)
  parser.add_argument('--variant', default='cfm', choices=['dropout', 'rfm', 'cfm'])
  parser.add_argument('--dropout-rate', type=float,
                      default=TrainingConfig.dropout_rate)
  parser.add_argument('--compare', default='ssl', choices=['ssl', 'sequence'],
                      help="ssl: ssl=none vs ssl=<variant>; sequence: pooled "
                      "vs sequence + seq-ssl")
  parser.add_argument('--num-intentions', type=int,
                      default=TrainingConfig.num_intentions)
  parser.add_argument('--sequence-max-length', type=int,
                      default=TrainingConfig.sequence_max_length)
  parser.add_argument('--sequence-attention', type=int, choices=[0, 1],
                      default=int(TrainingConfig.sequence_attention))
  parser.add_argument('--seq-ssl-batch', type=int,
                      default=TrainingConfig.seq_ssl_batch_size)
  parser.add_argument('--query-encoder', default='pooled',
                      choices=['pooled', 'sequence'],
                      help='--compare ssl: the query tower of both variants '
                      "(pooled: the issue's reference; sequence: the shipped "
                      'default, without seq-SSL)')
  args = parser.parse_args(argv)

  rng = np.random.default_rng(0)
  fc = F.load_feature_config(schemas.resolve('movielens-100k'))
  corpus = _corpus(fc, rng)
  mi = _mi(fc, rng)
  base = TrainingConfig(batch_size=args.batch, ssl_batch_size=args.ssl_batch,
                        dropout_rate=args.dropout_rate, ssl='none',
                        query_encoder='pooled')
  if args.compare == 'ssl' and args.query_encoder == 'sequence':
    base = base.replace(
        query_encoder='sequence', num_intentions=args.num_intentions,
        sequence_max_length=args.sequence_max_length,
        sequence_attention=bool(args.sequence_attention))
  if args.compare == 'sequence':
    variants = {'pooled': base, 'sequence+seq-ssl': base.replace(
        query_encoder='sequence', num_intentions=args.num_intentions,
        sequence_max_length=args.sequence_max_length,
        sequence_attention=bool(args.sequence_attention),
        seq_ssl_batch_size=args.seq_ssl_batch, seq_ssl_weight=0.1)}
  else:
    variants = {'none': base, args.variant: base.replace(ssl=args.variant)}
  runs = {}
  for name, config in variants.items():
    events, item_counts = _events(fc, rng, args.batch)
    model = _model(fc, config, corpus, mi, item_counts)
    ds = training._with_ssl_rows(  # pylint: disable=protected-access
        events, config, len(corpus), config.seed)
    runs[name] = (model.make_train_function(), iter(ds), [])

  def step(name):
    fn, it, times = runs[name]
    start = time.perf_counter()
    logs = fn(it)
    float(logs['total_loss'])
    times.append(time.perf_counter() - start)

  for name in runs:
    for _ in range(args.warmup):
      step(name)
    runs[name][2].clear()
  for _ in range(args.steps):
    for name in runs:  # alternate step by step: both see the same load
      step(name)

  print(f'ML-100K-shaped features, query encoder {base.query_encoder}, '
        f'main batch {args.batch}, SSL batch '
        f'{args.ssl_batch}, dropout_rate {args.dropout_rate}, {args.steps} '
        f'timed steps per variant, {os.cpu_count()} CPUs, load average '
        f'{os.getloadavg()[0]:.1f}')
  medians = {}
  for name, (_, _, times) in runs.items():
    p25, median, p90, rate = _stats(times, args.batch)
    medians[name] = median
    print(f'  {name:16s} median {median:7.2f} ms  (p25 {p25:6.2f}, p90 '
          f'{p90:6.2f})  {rate:8.0f} main examples/s')
  if args.compare == 'sequence':
    ratio = medians['sequence+seq-ssl'] / medians['pooled']
    seq = variants['sequence+seq-ssl']
    print(f'  sequence: K={seq.num_intentions}, sequence_max_length '
          f'{seq.sequence_max_length}, sequence_attention '
          f'{seq.sequence_attention}, seq_ssl_batch_size '
          f'{seq.seq_ssl_batch_size}; load average now {os.getloadavg()[0]:.1f}')
    print(f'sequence_step_time_ratio={ratio:.3f}')
  else:
    print(f'ssl_step_time_ratio={medians[args.variant] / medians["none"]:.3f}')


if __name__ == '__main__':
  main()

"""Test helpers: tiny real tower SavedModels and raw Examples with the pipeline's contracts.

`HashedTower` is a tf.Module with the towers' serving contract (raw 1-D columns
in, {"embedding": float32 [batch, d]} L2-normalized out). Every string value
(`|`-separated tokens) is hashed into one shared embedding table, so a query
whose `history` holds an item id lands near that item. Used by the evaluator,
index builder, pusher and report tests until the trained towers exist.
"""
import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from components import tower_io

# Columns whose tokens are hashed without a column prefix, so that an item id
# in a query's history and the same id in the item corpus share a row.
SHARED_TOKEN_COLUMNS = ('item_id', 'history')


class HashedTower(tf.Module):
  """Embedding = L2-normalized sum over columns of hashed token embeddings."""

  def __init__(self, columns: Mapping[str, tf.DType], dim: int = 8,
               buckets: int = 97, seed: int = 0):
    super().__init__()
    self._columns = dict(columns)
    self.table = tf.Variable(
        tf.random.stateless_normal([buckets, dim], seed=[seed, 1]))
    self.float_weight = tf.Variable(
        tf.random.stateless_normal([dim], seed=[seed, 2]))
    self._buckets = buckets
    spec = {name: tf.TensorSpec([None], dtype, name=name)
            for name, dtype in self._columns.items()}
    self.serve = tf.function(self._serve, input_signature=[spec])

  def _serve(self, features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    total = 0.0
    for name, dtype in sorted(self._columns.items()):
      value = features[name]
      if dtype == tf.float32:
        value = tf.where(tf.math.is_nan(value), tf.zeros_like(value), value)
        total += value[:, None] * self.float_weight[None, :] / 100.0
        continue
      if dtype == tf.int64:
        value = tf.strings.as_string(value)
      tokens = tf.strings.split(value, '|')
      if name not in SHARED_TOKEN_COLUMNS:
        tokens = tf.strings.join([name, '=', tokens])
      rows = tf.gather(self.table, tf.strings.to_hash_bucket_fast(
          tokens, self._buckets))
      total += tf.reduce_mean(rows, axis=1)  # ragged [batch, None, d] -> [batch, d]
    return {tower_io.EMBEDDING: tf.math.l2_normalize(total, axis=-1)}


def save_tower(model_uri: str, columns: Mapping[str, tf.DType], dim: int = 8,
               seed: int = 0) -> str:
  """Saves a HashedTower under `<model_uri>/Format-Serving`; returns that dir."""
  tower = HashedTower(columns, dim=dim, seed=seed)
  path = tower_io.serving_dir(model_uri)
  tf.saved_model.save(tower, path, signatures={
      tower_io.SIGNATURE: tower.serve.get_concrete_function()})
  return path


def _feature(value, dtype: tf.DType) -> tf.train.Feature:
  if value is None:  # missing: a feature with zero values
    value = []
  else:
    value = [value]
  if dtype == tf.string:
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v.encode('utf-8') for v in value]))
  if dtype == tf.float32:
    return tf.train.Feature(float_list=tf.train.FloatList(value=value))
  return tf.train.Feature(int64_list=tf.train.Int64List(value=value))


def write_examples(examples_uri: str, split: str, rows: Sequence[Mapping],
                   columns: Mapping[str, tf.DType]) -> str:
  """Writes rows as gzip TFRecords of tf.Example under `Split-<split>/`."""
  split_dir = os.path.join(examples_uri, f'Split-{split}')
  tf.io.gfile.makedirs(split_dir)
  path = os.path.join(split_dir, 'data_tfrecord-00000-of-00001.gz')
  with tf.io.TFRecordWriter(path, options='GZIP') as writer:
    for row in rows:
      example = tf.train.Example(features=tf.train.Features(feature={
          name: _feature(row.get(name), dtype)
          for name, dtype in columns.items()}))
      writer.write(example.SerializeToString())
  return path


ITEM_COLUMNS = {'item_id': tf.string, 'genres': tf.string, 'year': tf.float32}
QUERY_COLUMNS = {'user_id': tf.string, 'age': tf.float32, 'history': tf.string}
INTERACTION_COLUMNS = dict(QUERY_COLUMNS, item_id=tf.string,
                           timestamp=tf.int64)


def make_dataset(root: str, **kwargs) -> Dict[str, str]:
  """Writes `write_dataset` under root/items and root/interactions.

  Returns:
    {'items': items Examples uri, 'interactions': interactions Examples uri}.
  """
  uris = {'items': os.path.join(root, 'items'),
          'interactions': os.path.join(root, 'interactions')}
  write_dataset(uris['items'], uris['interactions'], **kwargs)
  return uris


def write_dataset(items_uri: str, interactions_uri: str, num_items: int = 30,
                  num_users: int = 12, events_per_user: int = 8,
                  seed: int = 0, cold_items: int = 4) -> None:
  """Writes a tiny synthetic items corpus and interaction log.

  Popularity is skewed (Zipf-like) and the last `cold_items` items never occur
  in the train split, so head, tail and cold slices are all populated. Each
  user's last two events form the eval split.
  """
  rng = np.random.default_rng(seed)
  items = [{'item_id': f'i{i}', 'genres': '|'.join(
      sorted({f'g{rng.integers(4)}', f'g{rng.integers(4)}'})),
            'year': None if i % 7 == 3 else float(1980 + i)}
           for i in range(num_items)]
  warm = num_items - cold_items
  weights = 1.0 / np.arange(1, warm + 1)
  weights /= weights.sum()
  train, eval_rows = [], []
  for u in range(num_users):
    picks = list(rng.choice(warm, size=events_per_user - 2, replace=False,
                            p=weights))
    # Eval: one more warm item by popularity, one item of the whole corpus.
    rest = np.where(np.isin(np.arange(warm), picks), 0.0, weights)
    picks.append(int(rng.choice(warm, p=rest / rest.sum())))
    picks.append(int(rng.choice(np.setdiff1d(np.arange(num_items), picks))))
    if u % 3 == 0:  # hold out the user's most popular item: a head eval event
      top = min(picks[:-2])
      picks.remove(top)
      picks.insert(len(picks) - 1, top)
    history: List[str] = []
    for t, item in enumerate(picks):
      row = {'user_id': f'u{u}', 'item_id': f'i{item}',
             'timestamp': 1000 * u + t,
             'age': None if u % 5 == 4 else float(20 + u),
             'history': '|'.join(history)}
      (train if t < events_per_user - 2 else eval_rows).append(row)
      history.insert(0, f'i{item}')
  write_examples(items_uri, 'corpus', items, ITEM_COLUMNS)
  write_examples(interactions_uri, 'train', train, INTERACTION_COLUMNS)
  write_examples(interactions_uri, 'eval', eval_rows, INTERACTION_COLUMNS)


def save_towers(root: str, seed: int = 0, dim: int = 8) -> Dict[str, str]:
  """Saves a query and an item HashedTower; returns their Model artifact URIs."""
  query_uri = os.path.join(root, 'query_model')
  item_uri = os.path.join(root, 'item_model')
  save_tower(query_uri, QUERY_COLUMNS, dim=dim, seed=seed)
  save_tower(item_uri, ITEM_COLUMNS, dim=dim, seed=seed)
  return {'query_model': query_uri, 'item_model': item_uri}


def numpy_embed(model_uri: str, rows: Iterable[Mapping[str, np.ndarray]]
                ) -> np.ndarray:
  """Embeds every batch of rows with a tower; float32 [num_rows, d]."""
  tower = tower_io.load_tower(model_uri)
  parts = [tower.embed(b) for b in rows]
  return np.concatenate(parts) if parts else np.zeros([0, tower.dim],
                                                      np.float32)


def all_rows(examples_uri: str, split: str,
             columns: Optional[Mapping[str, tf.DType]] = None
             ) -> Dict[str, np.ndarray]:
  """Reads a whole split into one batch of columns."""
  columns = columns or (ITEM_COLUMNS if split == 'corpus'
                        else INTERACTION_COLUMNS)
  parts = list(tower_io.read_split(examples_uri, split, columns))
  return {k: np.concatenate([p[k] for p in parts]) for k in columns}


def artifact(cls, uri: str, artifact_id: int = 1):
  """An artifact of type `cls` at `uri`, as an executor receives it."""
  a = cls()
  a.uri = uri
  a.id = artifact_id
  return a

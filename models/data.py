"""Training inputs: the item corpus table and the interaction batches.

The item corpus (transformed items) is held in memory as one table; a training
example carries only its positive item's key, mapped to a corpus row, and the
item tower reads that row's features. So an item's embedding is computed from
the same transformed corpus row in training, in the SSL task and at export.
"""
import collections
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.dsl.io import fileio

from models import features as F
from models import towers
from models.preprocessing import ITEM_KEY

ITEM_ROW = 'item_row'
QUERY = 'query'
_UNKNOWN_ROW = -1


def _gzip_dataset(file_patterns: Sequence[str]) -> tf.data.Dataset:
  files = sorted(f for p in file_patterns for f in fileio.glob(p))
  if not files:
    raise FileNotFoundError(f'no transformed examples match {file_patterns}')
  return tf.data.TFRecordDataset(files, compression_type='GZIP')


class ItemCorpus:
  """The transformed item corpus as in-memory tensors, one row per item.

  Attributes:
    keys: np.ndarray of str [num_items], the raw item ids in row order.
    features: dict feature -> int64 [num_items] or ragged [num_items, None].
  """

  def __init__(self, keys: np.ndarray, features: Dict[str, tf.Tensor]):
    if len(set(keys.tolist())) != len(keys):
      dupes = [k for k, c in collections.Counter(keys.tolist()).items() if c > 1]
      raise ValueError(f'item corpus: duplicate item_id values {dupes[:5]}')
    self.keys = keys
    self.features = features
    self._table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys), tf.range(len(keys), dtype=tf.int64)),
        default_value=_UNKNOWN_ROW)

  def __len__(self) -> int:
    return len(self.keys)

  def rows(self, item_keys: tf.Tensor) -> tf.Tensor:
    """Raw item ids [batch] -> corpus rows int64 [batch] (-1 if unknown)."""
    return self._table.lookup(item_keys)

  def gather(self, rows: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Corpus rows [batch] -> item tower inputs for those rows."""
    return {name: tf.gather(value, rows) for name, value in self.features.items()}


def utf8_strings(values: np.ndarray) -> np.ndarray:
  """tf.string values (bytes) [n] -> str [n] (object array), decoded as UTF-8
  (numpy's `astype(str)` decodes bytes as ASCII)."""
  return np.array([v.decode('utf-8') if isinstance(v, bytes) else str(v)
                   for v in values], dtype=object)


def load_corpus(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput,
                item_features: Sequence[F.Feature]) -> ItemCorpus:
  """Reads every transformed item example matching `file_patterns`."""
  spec = tft_output.transformed_feature_spec()
  batches = _gzip_dataset(file_patterns).batch(65536).map(
      lambda x: tf.io.parse_example(x, spec))
  keys: List[np.ndarray] = []
  parts = collections.defaultdict(list)
  for batch in batches:
    keys.append(tf.reshape(batch[ITEM_KEY], [-1]).numpy())
    for name, value in towers.model_inputs(batch, item_features).items():
      parts[name].append(value)
  if not keys:
    raise ValueError(f'the item corpus {file_patterns} is empty')
  features = {name: tf.concat(values, axis=0) for name, values in parts.items()}
  return ItemCorpus(utf8_strings(np.concatenate(keys)), features)


def _interaction_batches(files: Sequence[str], tft_output, batch_size: int,
                         shuffle: bool, seed: int) -> tf.data.Dataset:
  spec = tft_output.transformed_feature_spec()
  ds = _gzip_dataset(files)
  if shuffle:
    ds = ds.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
  return ds.batch(batch_size, drop_remainder=shuffle).map(
      lambda x: tf.io.parse_example(x, spec), num_parallel_calls=tf.data.AUTOTUNE)


def count_items(files: Sequence[str], tft_output, corpus: ItemCorpus,
                source: str) -> np.ndarray:
  """Counts each corpus item's events in `files`; unknown item ids are an error."""
  counts = np.zeros(len(corpus), np.int64)
  for batch in _interaction_batches(files, tft_output, 65536, False, 0):
    keys = tf.reshape(batch[ITEM_KEY], [-1])
    rows = corpus.rows(keys).numpy()
    if (rows < 0).any():
      unknown = sorted(set(utf8_strings(keys.numpy()[rows < 0]).tolist()))
      raise ValueError(f'{source}: item_id values not in the item corpus: '
                       f'{unknown[:10]} ({len(unknown)} distinct)')
    counts += np.bincount(rows, minlength=len(corpus))
  return counts


def interaction_dataset(files: Sequence[str], tft_output,
                        query_features: Sequence[F.Feature], corpus: ItemCorpus,
                        batch_size: int, shuffle: bool = True,
                        seed: int = 0) -> tf.data.Dataset:
  """Batches of {'query': tower inputs, 'item_row': int64 [batch]}."""

  def to_model_inputs(batch):
    return {QUERY: towers.model_inputs(batch, query_features),
            ITEM_ROW: corpus.rows(tf.reshape(batch[ITEM_KEY], [-1]))}

  return _interaction_batches(files, tft_output, batch_size, shuffle,
                              seed).map(to_model_inputs).prefetch(2)

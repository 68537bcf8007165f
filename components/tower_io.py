"""Reads raw Examples and runs exported towers; shared by the evaluator and the index builder.

A tower is one SavedModel under `<model artifact uri>/Format-Serving/` whose
`serving_default` signature takes raw columns as 1-D [batch] tensors and returns
{"embedding": float32 [batch, d]}; a multi-interest query tower also returns
{"intentions": float32 [batch, K, d]}, and an item's score is then the max over
the K intentions (`Tower.query_vectors`). Which columns it takes is read from the
signature, so nothing here names a dataset's columns.

Raw Examples are gzip TFRecords under `<examples uri>/Split-<name>/`; each
feature holds zero values (missing) or one value. Missing values read as '' for
strings, NaN for floats and 0 for ints, the same convention as the signatures.
"""
import os
from typing import Dict, Iterator, List, Mapping

import numpy as np
import tensorflow as tf
from tfx.dsl.io import fileio

SERVING_DIR = 'Format-Serving'
SIGNATURE = 'serving_default'
EMBEDDING = 'embedding'
INTENTIONS = 'intentions'
# String custom property of a query Model artifact: URI of its item Model.
ITEM_MODEL_URI_PROPERTY = 'item_model_uri'

_MISSING = {tf.string: b'', tf.float32: float('nan'), tf.int64: 0}


def serving_dir(model_uri: str) -> str:
  """Returns the SavedModel directory of a Model artifact URI."""
  return os.path.join(model_uri, SERVING_DIR)


class Tower:
  """A loaded tower SavedModel: `embed(columns) -> float32 [batch, d]`."""

  def __init__(self, model_dir: str):
    if not fileio.exists(os.path.join(model_dir, 'saved_model.pb')):
      raise FileNotFoundError(f'no SavedModel (saved_model.pb) in {model_dir}')
    self.model_dir = model_dir
    self._loaded = tf.saved_model.load(model_dir)
    if SIGNATURE not in self._loaded.signatures:
      raise ValueError(f'{model_dir}: SavedModel has no {SIGNATURE!r} signature; '
                       f'has {list(self._loaded.signatures)}')
    self.signature = self._loaded.signatures[SIGNATURE]
    outputs = self.signature.structured_outputs
    if EMBEDDING not in outputs:
      raise ValueError(f'{model_dir}: {SIGNATURE} must return {EMBEDDING!r}, '
                       f'returns {sorted(outputs)}')
    self.input_specs: Dict[str, tf.TensorSpec] = dict(
        self.signature.structured_input_signature[1])
    self.dim = int(outputs[EMBEDDING].shape[-1])
    self.has_intentions = INTENTIONS in outputs

  @property
  def columns(self) -> Dict[str, tf.DType]:
    """Raw column name -> dtype this tower takes."""
    return {name: spec.dtype for name, spec in self.input_specs.items()}

  def embed(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """Embeds one batch of raw rows.

    Args:
      columns: column name -> 1-D array [batch]; needs every signature input.

    Returns:
      float32 [batch, d].
    """
    return self._run(columns, EMBEDDING)

  def query_vectors(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """What a query is scored with: float32 [batch, K, d] intentions (score =
    max over K) when the tower returns them, else its [batch, d] embedding."""
    return self._run(columns, INTENTIONS if self.has_intentions else EMBEDDING)

  def _run(self, columns: Mapping[str, np.ndarray], output: str) -> np.ndarray:
    inputs = {}
    for name, spec in self.input_specs.items():
      if name not in columns:
        raise ValueError(f'{self.model_dir}: the tower needs column {name!r}, '
                         f'the data has {sorted(columns)}')
      inputs[name] = tf.constant(columns[name], dtype=spec.dtype)
    return self.signature(**inputs)[output].numpy().astype(np.float32)


def load_tower(model_uri: str) -> Tower:
  """Loads the tower of a Model artifact URI (its Format-Serving SavedModel)."""
  return Tower(serving_dir(model_uri))


def split_files(examples_uri: str, split: str) -> List[str]:
  """Returns the TFRecord files of one split, or raises naming the folder."""
  split_dir = os.path.join(examples_uri, f'Split-{split}')
  files = sorted(fileio.glob(os.path.join(split_dir, '*')))
  if not files:
    raise FileNotFoundError(f'no files for split {split!r} under {split_dir}')
  return files


def read_split(examples_uri: str, split: str, columns: Mapping[str, tf.DType],
               batch_size: int = 1024) -> Iterator[Dict[str, np.ndarray]]:
  """Yields batches of raw columns of one split of an Examples artifact.

  Args:
    examples_uri: URI of an Examples artifact (gzip TFRecords of tf.Example).
    split: split name, e.g. 'train'.
    columns: column name -> tf.string | tf.float32 | tf.int64.
    batch_size: rows per batch (the last one may be smaller).

  Yields:
    column name -> 1-D numpy array [batch] (bytes objects for strings).

  Raises:
    ValueError: a row holds more than one value for a column.
  """
  files = split_files(examples_uri, split)
  compression = 'GZIP' if all(f.endswith('.gz') for f in files) else ''
  spec = {}
  for name, dtype in columns.items():
    if dtype not in _MISSING:
      raise ValueError(f'column {name!r} has unsupported dtype {dtype.name}; '
                       'use string, float32 or int64')
    spec[name] = tf.io.VarLenFeature(dtype)
  dataset = tf.data.TFRecordDataset(files, compression_type=compression)
  dataset = dataset.batch(batch_size).map(
      lambda records: tf.io.parse_example(records, spec))
  row = 0
  for parsed in dataset:
    batch = {}
    for name, sparse in parsed.items():
      size = int(sparse.dense_shape[0])
      if sparse.indices.shape[0] and int(tf.reduce_max(sparse.indices[:, 1])) > 0:
        bad = row + int(sparse.indices[
            int(tf.argmax(sparse.indices[:, 1])), 0])
        raise ValueError(f'{examples_uri} split {split!r} row {bad}: column '
                         f'{name!r} holds more than one value')
      dense = np.full([size], _MISSING[columns[name]],
                      dtype=object if columns[name] == tf.string else
                      columns[name].as_numpy_dtype)
      dense[sparse.indices[:, 0].numpy()] = sparse.values.numpy()
      batch[name] = dense
    row += size
    yield batch


def read_column(examples_uri: str, split: str, name: str,
                batch_size: int = 4096) -> np.ndarray:
  """Returns one string column of a split as a 1-D array of str."""
  parts = [b[name] for b in read_split(examples_uri, split, {name: tf.string},
                                       batch_size)]
  values = np.concatenate(parts) if parts else np.array([], dtype=object)
  return np.array([v.decode('utf-8') for v in values], dtype=object)

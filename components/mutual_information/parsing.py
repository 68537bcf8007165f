"""Item feature values for mutual information: Arrow record batches -> values.

Pure pyarrow/numpy, no TFX. Works on Arrow record batches as TFXIO's
`BeamSource` yields them (one `large_list<...>` column per tf.Example feature,
0 or 1 values per row) and on flat columns (a CSV read as strings, null =
missing). Everything is vectorized per record batch; Python loops run over
features only.

Value model, per item and feature (the "values" of a row):
  categorical  its one value; values beyond the top-k by mass become one OOV
               value (encoders.py).
  multi_valued its `|`-separated parts, whitespace-trimmed (empty dropped).
  text         its lower-cased words: runs of [a-z0-9] (as the Transform).
  numeric      its quantile bucket (boundaries from a weighted sketch).
  A row with no value (no list entry, empty string, NaN) has the one value
  MISSING. An item of weight w spreads w evenly over its values (w / n each);
  repeated values count repeatedly, like the mean pooling of the item tower.
"""
import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.mutual_information.schema_features import DataError
from models import features as features_lib

_SINGLE_KINDS = (features_lib.ID, features_lib.CATEGORICAL,
                 features_lib.NUMERIC)


@dataclasses.dataclass
class Column:
  """One feature of one record batch, parsed.

  values: [num_values] pa.Array (large_binary / int64) for categorical kinds,
    np.float64 for numeric; no missing entries.
  lengths: np.int64 [num_rows], number of values per row (0 = missing).
  """
  values: object
  lengths: np.ndarray


@dataclasses.dataclass
class ParsedBatch:
  """The counted features of one record batch plus the item weights.

  columns: name -> Column for the features present in the record batch
    (None for the item id, which is not counted).
  weights: np.float64 [num_rows] item weights, or None for unit weights.
  """
  num_rows: int
  columns: Dict[str, Optional[Column]]
  weights: Optional[np.ndarray] = None


def _flatten(array: pa.Array) -> Tuple[pa.Array, np.ndarray]:
  """Returns (non-missing values, values per row) of a list or flat column."""
  if isinstance(array, pa.ChunkedArray):
    array = array.combine_chunks()
  n = len(array)
  if pa.types.is_null(array.type):
    return pa.array([], pa.null()), np.zeros(n, np.int64)
  if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
    lengths = pc.list_value_length(array).fill_null(0).to_numpy(
        zero_copy_only=False).astype(np.int64)
    return pc.list_flatten(array), lengths
  valid = pc.is_valid(array).to_numpy(zero_copy_only=False)
  return pc.drop_null(array), valid.astype(np.int64)


def _keep(values, lengths: np.ndarray, keep: np.ndarray):
  """Drops values where `keep` is False, updating the row lengths."""
  if keep.all():
    return values, lengths
  parent = np.repeat(np.arange(len(lengths)), lengths)
  lengths = np.bincount(parent[keep], minlength=len(lengths)).astype(np.int64)
  if isinstance(values, np.ndarray):
    return values[keep], lengths
  return values.filter(pa.array(keep)), lengths


def _as_binary(values: pa.Array, name: str) -> pa.Array:
  if pa.types.is_null(values.type):
    return pa.array([], pa.large_binary())
  if not (pa.types.is_binary(values.type) or pa.types.is_string(values.type)
          or pa.types.is_large_binary(values.type)
          or pa.types.is_large_string(values.type)):
    raise DataError(f'feature {name!r}: expected string values, got '
                    f'{values.type}')
  return values.cast(pa.large_binary())


def _non_empty(values: pa.Array, lengths: np.ndarray):
  keep = pc.binary_length(values).to_numpy(zero_copy_only=False) > 0
  return _keep(values, lengths, keep)


def _split(values: pa.Array, lengths: np.ndarray, splitter, name: str):
  """Splits each string value into tokens; a row's tokens are its values."""
  if not len(values):
    return pa.array([], pa.large_binary()), lengths
  try:
    strings = values.cast(pa.large_string())
  except pa.ArrowInvalid as e:
    raise DataError(f'feature {name!r}: values are not UTF-8 text: {e}') from e
  tokens = splitter(strings)
  per_value = pc.list_value_length(tokens).to_numpy(zero_copy_only=False)
  parent = np.repeat(np.arange(len(lengths)), lengths)
  lengths = np.bincount(parent, weights=per_value,
                        minlength=len(lengths)).astype(np.int64)
  tokens = pc.utf8_trim_whitespace(pc.list_flatten(tokens))
  return _non_empty(tokens.cast(pa.large_binary()), lengths)


# The tokenization of models/preprocessing.py (the item tower's inputs).
_NON_TOKEN = '[^a-z0-9]+'


def _split_multi_valued(strings: pa.Array) -> pa.Array:
  return pc.split_pattern(strings, features_lib.SEPARATOR)


def _split_text(strings: pa.Array) -> pa.Array:
  return pc.utf8_split_whitespace(pc.replace_substring_regex(
      pc.utf8_lower(strings), pattern=_NON_TOKEN, replacement=' '))


def _numeric(values: pa.Array, lengths: np.ndarray, name: str):
  if pa.types.is_null(values.type):
    return np.zeros(0, np.float64), lengths
  if not (pa.types.is_integer(values.type) or
          pa.types.is_floating(values.type)):
    values, lengths = _non_empty(_as_binary(values, name), lengths)
    try:
      values = values.cast(pa.large_string()).cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
      raise DataError(f'numeric feature {name!r} has a non-numeric value: '
                      f'{e}') from e
  floats = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
  return _keep(floats, lengths, ~np.isnan(floats))


def parse_column(array: pa.Array, name: str, kind: str) -> Column:
  """Parses one feature column of a record batch into values + row lengths."""
  values, lengths = _flatten(array)
  if kind in _SINGLE_KINDS and len(lengths) and lengths.max() > 1:
    row = int(np.argmax(lengths > 1))
    raise DataError(
        f'{kind} feature {name!r} has {lengths[row]} values in row {row}; at '
        f'most one is allowed (declare it {features_lib.MULTI_VALUED})')
  if kind == features_lib.NUMERIC:
    values, lengths = _numeric(values, lengths, name)
  elif pa.types.is_integer(values.type) and kind in (features_lib.ID,
                                                     features_lib.CATEGORICAL):
    values = values.cast(pa.int64())
  elif pa.types.is_floating(values.type) and kind == features_lib.CATEGORICAL:
    values, lengths = _keep(values, lengths, ~np.isnan(
        values.to_numpy(zero_copy_only=False)))
    values = values.cast(pa.float64())
  else:
    values, lengths = _non_empty(_as_binary(values, name), lengths)
    if kind == features_lib.MULTI_VALUED:
      values, lengths = _split(values, lengths, _split_multi_valued, name)
    elif kind == features_lib.TEXT:
      values, lengths = _split(values, lengths, _split_text, name)
  return Column(values, lengths)


def parse_batch(record_batch: pa.RecordBatch,
                features: Sequence[Tuple[str, str]],
                weights: Optional[np.ndarray] = None) -> ParsedBatch:
  """Parses the (name, kind) features present in `record_batch`."""
  names = set(record_batch.schema.names)
  columns = {}
  for name, kind in features:
    if name in names:
      # The id is never counted (see counting.result): only its presence.
      columns[name] = (None if kind == features_lib.ID else
                       parse_column(record_batch.column(name), name, kind))
  return ParsedBatch(record_batch.num_rows, columns, weights)


def value_mass(column: Column, weights: Optional[np.ndarray]) -> np.ndarray:
  """Mass of each value: its row's weight / the row's number of values."""
  lengths = column.lengths
  per_row = (1.0 if weights is None else weights) / np.maximum(lengths, 1)
  return np.repeat(np.broadcast_to(per_row, lengths.shape), lengths)


def id_values(array: pa.Array, name: str) -> pa.Array:
  """The one id of every row as large_binary (integers as decimal text)."""
  values, lengths = _flatten(array)
  bad = np.nonzero(lengths != 1)[0]
  if len(bad):
    raise DataError(f'{name!r} must have exactly one value in every row; row '
                    f'{bad[0]} has {lengths[bad[0]]}')
  if pa.types.is_integer(values.type):
    values = values.cast(pa.string())
  return _as_binary(values, name)

"""Item feature values for mutual information: parse, count, encode.

Pure pyarrow/numpy, no TFX. Works on Arrow record batches as TFXIO's
`BeamSource` yields them (one `large_list<...>` column per tf.Example feature,
0 or 1 values per row) and on flat columns (a CSV read as strings, null =
missing). Everything is vectorized per record batch; Python loops run over
features only.

Value model, per item and feature (the "values" of a row):
  categorical  its one value; values beyond the top-k by mass become one OOV
               value.
  multi_valued its `|`-separated parts, whitespace-trimmed (empty dropped).
  text         its lower-cased words: runs of [a-z0-9] (as the Transform).
  numeric      its quantile bucket (boundaries from a weighted sketch).
  A row with no value (no list entry, empty string, NaN) has the one value
  MISSING. An item of weight w spreads w evenly over its values (w / n each);
  repeated values count repeatedly, like the mean pooling of the item tower.
"""
import dataclasses
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models import features as features_lib

# Kinds counted through a top-k vocabulary, and all counted kinds (the id is
# not counted, see counting.result).
VOCAB_KINDS = (features_lib.CATEGORICAL, features_lib.MULTI_VALUED,
               features_lib.TEXT)
COUNTED_KINDS = VOCAB_KINDS + (features_lib.NUMERIC,)
_SINGLE_KINDS = (features_lib.ID, features_lib.CATEGORICAL,
                 features_lib.NUMERIC)

# Distinct values kept per feature while counting: beyond it, the lightest are
# dropped (top-k stays exact while a feature has fewer distinct values).
DEFAULT_MAX_DISTINCT = 200_000
# Distinct numeric values kept exactly (beyond: log-spaced bins).
DEFAULT_SKETCH_SIZE = 4096


class DataError(ValueError):
  """Bad item data (names the feature)."""


def item_features(schema, source: str = 'items schema'
                  ) -> List[Tuple[str, str]]:
  """(name, kind) of the used features of an annotated items schema.

  The id first, then declaration order: the items half of
  models.features.load_feature_config, read by the same code.
  """
  return [(f.name, f.kind)
          for f in features_lib.item_features(schema, source)]


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


# ---------------------------------------------------------------------------
# Pass 1: value statistics (mergeable), then encoders.


@dataclasses.dataclass
class ValueCounts:
  """Mass per distinct value of a categorical-kind feature (mergeable)."""
  values: Optional[pa.Array] = None
  mass: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, np.float64))

  def add(self, values: pa.Array, mass: np.ndarray,
          max_distinct: int = DEFAULT_MAX_DISTINCT) -> 'ValueCounts':
    if not len(values):
      return self
    if self.values is not None and len(self.values):
      if values.type != self.values.type:
        raise DataError(f'values of type {values.type} mixed with '
                        f'{self.values.type}')
      values = pa.concat_arrays([self.values, values])
      mass = np.concatenate([self.mass, mass])
    encoded = pc.dictionary_encode(values)
    self.values = encoded.dictionary
    self.mass = np.bincount(encoded.indices.to_numpy(zero_copy_only=False),
                            weights=mass, minlength=len(self.values))
    if len(self.mass) > max_distinct:
      top = self.top(max_distinct)
      self.values, self.mass = top
    return self

  def merge(self, other: 'ValueCounts',
            max_distinct: int = DEFAULT_MAX_DISTINCT) -> 'ValueCounts':
    if other.values is None:
      return self
    return self.add(other.values, other.mass, max_distinct)

  def top(self, k: int) -> Tuple[pa.Array, np.ndarray]:
    """The k heaviest values (ties: smaller value first) and their mass."""
    if self.values is None:
      return pa.array([], pa.large_binary()), np.zeros(0)
    # Masses equal up to float summation order (which depends on batching)
    # tie, so the vocabulary does not depend on how the data was split.
    order = pc.sort_indices(
        pa.table({'v': self.values, 'm': np.round(self.mass, 6)}),
        sort_keys=[('m', 'descending'), ('v', 'ascending')])[:k]
    return self.values.take(order), self.mass[order.to_numpy()]


# Numeric sketch beyond DEFAULT_SKETCH_SIZE distinct values: log-spaced bins
# of relative width 0.1% (as DDSketch), keyed by order-preserving integers.
_GAMMA = 1.001
_LOG_GAMMA = math.log(_GAMMA)
_TINY = 1e-12  # |x| <= _TINY is the zero bin
_KEY_SHIFT = 1 << 21  # keeps keys of positive values > 0


def _bin_keys(x: np.ndarray) -> np.ndarray:
  """Bin of each value: sign * (ceil(log_gamma |x|) + shift), 0 near zero."""
  a = np.abs(x)
  k = np.ceil(np.log(np.maximum(a, _TINY)) / _LOG_GAMMA).astype(np.int64)
  k += _KEY_SHIFT
  return np.where(a <= _TINY, 0, np.where(x > 0, k, -k))


def _bin_lower_edges(keys: np.ndarray) -> np.ndarray:
  """The smallest value of each bin (bins hold (edge, next edge])."""
  k = np.abs(keys) - _KEY_SHIFT
  return np.where(keys > 0, _GAMMA ** (k - 1.0),
                  np.where(keys < 0, -(_GAMMA ** k), -_TINY))


def _group(points: np.ndarray, weights: np.ndarray):
  uniq, inverse = np.unique(points, return_inverse=True)
  return uniq, np.bincount(inverse, weights=weights, minlength=len(uniq))


@dataclasses.dataclass
class QuantileSketch:
  """Weighted distribution of a numeric feature (mergeable, bounded).

  Exact (distinct values and their mass) while the feature has at most `size`
  distinct values; beyond that, mass per log-spaced bin of 0.1% relative width
  (at most ~60K bins over the float range). Either way the result does not
  depend on how the data was split into batches or merged: a value always
  lands in the same bin, and a sketch turns binned exactly when its data has
  more than `size` distinct values.
  """
  points: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, np.float64))
  weights: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, np.float64))
  binned: bool = False  # points are bin keys (int64), not values

  def _to_bins(self) -> None:
    if not self.binned:
      self.points, self.weights = _group(_bin_keys(self.points), self.weights)
      self.binned = True

  def _add(self, points: np.ndarray, weights: np.ndarray, binned: bool,
           size: int) -> 'QuantileSketch':
    if not len(points):
      return self
    if binned:
      self._to_bins()
    elif self.binned:
      points = _bin_keys(points)
    self.points, self.weights = _group(
        np.concatenate([self.points, points]),
        np.concatenate([self.weights, weights]))
    if not self.binned and len(self.points) > size:
      self._to_bins()
    return self

  def add(self, values: np.ndarray, weights: np.ndarray,
          size: int = DEFAULT_SKETCH_SIZE) -> 'QuantileSketch':
    return self._add(np.asarray(values, np.float64), weights, False, size)

  def merge(self, other: 'QuantileSketch',
            size: int = DEFAULT_SKETCH_SIZE) -> 'QuantileSketch':
    return self._add(other.points, other.weights, other.binned, size)

  def boundaries(self, num_buckets: int) -> np.ndarray:
    """Up to num_buckets - 1 distinct weighted-quantile boundaries.

    Bucket b of a value x is searchsorted(boundaries, x, side='right').
    """
    positive = self.weights > 0
    points, weights = self.points[positive], self.weights[positive]
    if self.binned:
      points = _bin_lower_edges(points)
    if len(points) < 2:
      return np.zeros(0, np.float64)
    cum = np.cumsum(weights)
    targets = np.arange(1, num_buckets) * (cum[-1] / num_buckets)
    # The first point whose cumulative mass exceeds each target starts a
    # bucket; a boundary equal to the minimum would leave its bucket empty.
    idx = np.searchsorted(cum, targets, side='right')
    bounds = np.unique(points[np.minimum(idx, len(points) - 1)])
    return bounds[bounds > points[0]]


@dataclasses.dataclass
class FeatureStats:
  """Pass-1 statistics of one feature over all batches seen so far."""
  seen: bool = False
  counts: Optional[ValueCounts] = None
  sketch: Optional[QuantileSketch] = None


@dataclasses.dataclass
class Stats:
  """Pass-1 statistics of the corpus (mergeable)."""
  num_items: int = 0
  total_weight: float = 0.0
  features: Dict[str, FeatureStats] = dataclasses.field(default_factory=dict)


def new_stats(features: Sequence[Tuple[str, str]]) -> Stats:
  stats = Stats()
  for name, kind in features:
    stats.features[name] = FeatureStats(
        counts=ValueCounts() if kind in VOCAB_KINDS else None,
        sketch=QuantileSketch() if kind == features_lib.NUMERIC else None)
  return stats


def add_to_stats(stats: Stats, batch: ParsedBatch,
                 max_distinct: int = DEFAULT_MAX_DISTINCT,
                 sketch_size: int = DEFAULT_SKETCH_SIZE) -> Stats:
  """Adds one parsed batch's value masses to `stats` (in place)."""
  stats.num_items += batch.num_rows
  stats.total_weight += (batch.num_rows if batch.weights is None
                         else float(batch.weights.sum()))
  for name, column in batch.columns.items():
    fs = stats.features[name]
    fs.seen = True
    if column is None:
      continue
    mass = value_mass(column, batch.weights)
    if fs.counts is not None:
      fs.counts.add(column.values, mass, max_distinct)
    if fs.sketch is not None:
      fs.sketch.add(column.values, mass, sketch_size)
  return stats


def merge_stats(stats: Sequence[Stats],
                max_distinct: int = DEFAULT_MAX_DISTINCT,
                sketch_size: int = DEFAULT_SKETCH_SIZE) -> Stats:
  first, rest = stats[0], stats[1:]
  for other in rest:
    first.num_items += other.num_items
    first.total_weight += other.total_weight
    for name, fs in other.features.items():
      mine = first.features[name]
      mine.seen = mine.seen or fs.seen
      if mine.counts is not None:
        mine.counts.merge(fs.counts, max_distinct)
      if mine.sketch is not None:
        mine.sketch.merge(fs.sketch, sketch_size)
  return first


@dataclasses.dataclass(frozen=True)
class Encoder:
  """Maps a feature's values to dense codes in [0, cardinality).

  Categorical kinds: codes 0..V-1 = the top-k values (vocab), V = OOV,
  V + 1 = MISSING. Numeric: codes 0..B-1 = buckets, B = MISSING.
  """
  name: str
  kind: str
  vocab: Optional[pa.Array] = None
  boundaries: Optional[np.ndarray] = None

  @property
  def missing(self) -> int:
    if self.vocab is not None:
      return len(self.vocab) + 1
    return len(self.boundaries) + 1

  @property
  def cardinality(self) -> int:
    return self.missing + 1

  def encode(self, column: Column) -> np.ndarray:
    """Codes of the present values, [num_values] int64."""
    if self.vocab is not None:
      values = column.values
      if not len(values):
        return np.zeros(0, np.int64)
      if values.type != self.vocab.type:
        raise DataError(f'feature {self.name!r}: values of type {values.type}'
                        f' after values of type {self.vocab.type}')
      codes = pc.index_in(values, value_set=self.vocab)
      return codes.fill_null(len(self.vocab)).to_numpy(
          zero_copy_only=False).astype(np.int64)
    return np.searchsorted(self.boundaries, column.values,
                           side='right').astype(np.int64)


def build_encoders(stats: Stats, features: Sequence[Tuple[str, str]],
                   top_k: int, num_buckets: int) -> List[Encoder]:
  """Encoders of the counted features (not the id) from pass-1 statistics.

  Raises DataError for an empty corpus, a feature absent from every record
  batch, or a corpus whose weights are all 0.
  """
  if stats.num_items == 0:
    raise DataError('the item corpus is empty: no items to compute mutual '
                    'information on')
  missing = [name for name, _ in features if not stats.features[name].seen]
  if missing:
    raise DataError(f'declared item feature(s) {missing} missing from the '
                    'data: no such column in any item')
  if stats.total_weight <= 0:
    raise DataError('all items have weight 0 (no interactions of any corpus '
                    'item): nothing to count')
  encoders = []
  for name, kind in features:
    fs = stats.features[name]
    if kind == features_lib.ID:
      continue
    if fs.sketch is not None:
      encoders.append(Encoder(name, kind,
                              boundaries=fs.sketch.boundaries(num_buckets)))
    else:
      vocab, mass = fs.counts.top(top_k)
      encoders.append(Encoder(name, kind, vocab=vocab.filter(
          pa.array(mass > 0))))
  return encoders


# ---------------------------------------------------------------------------
# `log` weighting: an item's weight is its number of interactions.


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


def count_ids(record_batch: pa.RecordBatch, name: str) -> ValueCounts:
  """Number of rows per id value in one record batch."""
  if name not in record_batch.schema.names:
    raise DataError(f'interactions have no {name!r} column')
  ids = id_values(record_batch.column(name), name)
  return ValueCounts().add(ids, np.ones(len(ids)), max_distinct=2**62)


def lookup_weights(record_batch: pa.RecordBatch, name: str,
                   id_counts: ValueCounts) -> np.ndarray:
  """Weight of each row: the count of its id in `id_counts` (0 if absent)."""
  if name not in record_batch.schema.names:
    raise DataError(f'items have no {name!r} column')
  ids = id_values(record_batch.column(name), name)
  if id_counts.values is None or not len(ids):
    return np.zeros(len(ids))
  index = pc.index_in(ids, value_set=id_counts.values).fill_null(-1)
  index = index.to_numpy(zero_copy_only=False)
  return np.where(index >= 0, id_counts.mass[np.maximum(index, 0)], 0.0)

"""Mergeable value statistics: exact mass per value, numeric quantile sketch.

Pure pyarrow/numpy, no TFX. Both are functions of the data alone, whatever
the split into batches and the merge order (see ValueCounts, QuantileSketch).
"""
import dataclasses
import math
from typing import List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.mutual_information import fixed_point
from components.mutual_information.schema_features import DataError

# Distinct values counted exactly per feature (about 150 bytes each at peak
# while counting 20-byte values: 1.5 GB at the bound); beyond, the component
# stops with an error naming the feature (encoders.py).
DEFAULT_MAX_DISTINCT = 10_000_000
# Distinct numeric values kept exactly (beyond: log-spaced bins).
DEFAULT_SKETCH_SIZE = 4096
# New values wait until they are this many (or outnumber the distinct ones).
_MIN_COMPACT = 1 << 16


@dataclasses.dataclass
class ValueCounts:
  """Exact mass per distinct value of a categorical-kind feature (mergeable).

  Mass is held in int64 ticks of 2**-VALUE_BITS (fixed_point.py), so sums are
  exact: the counts, and the top-k by (mass, then value), do not depend on
  how the data was split or merged. Nothing is dropped. New values wait in
  `pending` and are folded in (dictionary encode + exact integer sums) when
  they outnumber the distinct values, so counting costs amortized linear
  time; memory is the distinct values plus at most as many pending ones.
  """
  values: Optional[pa.Array] = None  # distinct values (after compact)
  ticks: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, np.int64))
  pending: List[Tuple[pa.Array, np.ndarray]] = dataclasses.field(
      default_factory=list)
  pending_size: int = 0

  @property
  def mass(self) -> np.ndarray:
    """Mass per distinct value, float64 (after compact)."""
    return np.ldexp(self.ticks.astype(np.float64), -fixed_point.VALUE_BITS)

  @property
  def num_distinct(self) -> int:
    """Distinct values folded in so far (all of them after compact)."""
    return 0 if self.values is None else len(self.values)

  def _type(self) -> Optional[pa.DataType]:
    if self.values is not None:
      return self.values.type
    return self.pending[0][0].type if self.pending else None

  def _add_ticks(self, values: pa.Array, ticks: np.ndarray) -> 'ValueCounts':
    if not len(values):
      return self
    known = self._type()
    if known is not None and values.type != known:
      raise DataError(f'values of type {values.type} mixed with {known}')
    self.pending.append((values, ticks))
    self.pending_size += len(values)
    if self.pending_size >= max(self.num_distinct, _MIN_COMPACT):
      self.compact()
    return self

  def add(self, values: pa.Array, mass: np.ndarray) -> 'ValueCounts':
    """Adds `mass` [len(values)] to each value (repeats add up)."""
    return self._add_ticks(values, fixed_point.ticks(
        mass, fixed_point.VALUE_BITS))

  def merge(self, other: 'ValueCounts') -> 'ValueCounts':
    if other.values is not None:
      self._add_ticks(other.values, other.ticks)
    for values, ticks in other.pending:
      self._add_ticks(values, ticks)
    return self

  def compact(self) -> 'ValueCounts':
    """Folds the pending values in: one entry per distinct value."""
    if not self.pending:
      return self
    parts = list(self.pending)
    if self.values is not None:
      parts.insert(0, (self.values, self.ticks))
    values = pa.concat_arrays([v for v, _ in parts])
    encoded = pc.dictionary_encode(values)
    index = encoded.indices.to_numpy(zero_copy_only=False)
    sums = np.zeros(len(encoded.dictionary), np.int64)
    np.add.at(sums, index, np.concatenate([t for _, t in parts]))
    self.values, self.ticks = encoded.dictionary, sums
    self.pending, self.pending_size = [], 0
    return self

  def top(self, k: int) -> Tuple[pa.Array, np.ndarray]:
    """The k heaviest values and their mass in ticks.

    A total order: mass descending, then value ascending, so ties at the cut
    do not depend on the order the values were seen in.
    """
    self.compact()
    if self.values is None:
      return pa.array([], pa.large_binary()), np.zeros(0, np.int64)
    candidates = np.arange(len(self.ticks))
    if len(candidates) > k:  # everything at least as heavy as the k-th
      kth = np.partition(self.ticks, len(self.ticks) - k)[-k]
      candidates = np.nonzero(self.ticks >= kth)[0]
    order = pc.sort_indices(
        pa.table({'m': self.ticks[candidates],
                  'v': self.values.take(pa.array(candidates))}),
        sort_keys=[('m', 'descending'), ('v', 'ascending')])[:k]
    chosen = candidates[order.to_numpy()]
    return self.values.take(pa.array(chosen)), self.ticks[chosen]


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
  lands in the same bin, a sketch turns binned exactly when its data has
  more than `size` distinct values, and weights are rounded to 2**-24 so
  that their sums are exact (integer weights, the item counts, always are).
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
    return self._add(np.asarray(values, np.float64),
                     fixed_point.rounded(weights, fixed_point.VALUE_BITS),
                     False, size)

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

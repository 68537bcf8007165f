"""Mergeable, bounded value statistics: mass per value, numeric quantile sketch.

Pure pyarrow/numpy, no TFX. Both are exact on small data and independent of
how the data was split into batches or merged.
"""
import dataclasses
import math
from typing import Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.mutual_information.schema_features import DataError

# Distinct values kept per feature while counting: beyond it, the lightest are
# dropped (top-k stays exact while a feature has fewer distinct values).
DEFAULT_MAX_DISTINCT = 200_000
# Distinct numeric values kept exactly (beyond: log-spaced bins).
DEFAULT_SKETCH_SIZE = 4096


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

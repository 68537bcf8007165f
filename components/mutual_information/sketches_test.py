"""Tests of sketches.py: value counts and the quantile sketch (pure, no TFX)."""
import numpy as np
import pyarrow as pa
import pytest

from components.mutual_information import sketches
from components.mutual_information.schema_features import DataError


def test_quantile_boundaries_exact_for_few_values():
  sketch = sketches.QuantileSketch().add(np.arange(1.0, 11.0), np.ones(10))
  np.testing.assert_array_equal(sketch.boundaries(5), [3., 5., 7., 9.])
  assert not sketch.binned
  # Buckets hold two values each: [1,3) [3,5) [5,7) [7,9) [9,...).
  buckets = np.searchsorted(sketch.boundaries(5), np.arange(1.0, 11.0),
                            side='right')
  assert np.bincount(buckets).tolist() == [2, 2, 2, 2, 2]
  # Heavy values give repeated boundaries: deduplicated, no empty bucket.
  sketch = sketches.QuantileSketch().add(np.array([1., 2.]), np.array([4., 4.]))
  np.testing.assert_array_equal(sketch.boundaries(4), [2.])


def test_quantile_sketch_bins_beyond_size_with_small_error():
  rng = np.random.default_rng(0)
  data = np.concatenate([-rng.lognormal(size=5_000), np.zeros(1000),
                         rng.lognormal(size=44_000)])
  rng.shuffle(data)
  chunks = np.array_split(data, 25)
  sketch = sketches.QuantileSketch()
  for chunk in chunks:
    sketch.merge(sketches.QuantileSketch().add(chunk, np.ones(len(chunk)),
                                             size=512), size=512)
  assert sketch.binned
  assert sketch.weights.sum() == pytest.approx(50_000)
  bounds = sketch.boundaries(10)
  share = np.bincount(np.searchsorted(bounds, data, side='right')) / len(data)
  np.testing.assert_allclose(share, 0.1, atol=0.002)
  # Another split and merge order gives the very same boundaries.
  other = sketches.QuantileSketch()
  for chunk in reversed(np.array_split(data[::-1], 7)):
    other.merge(sketches.QuantileSketch().add(chunk, np.ones(len(chunk)),
                                            size=512), size=512)
  np.testing.assert_array_equal(other.boundaries(10), bounds)
  # Few distinct values stay exact.
  small = sketches.QuantileSketch().add(np.repeat([1., 2., 3.], 1000),
                                      np.ones(3000), size=512)
  assert not small.binned and small.points.tolist() == [1., 2., 3.]


def _counts(chunks, order):
  counts = sketches.ValueCounts()
  for k in order:
    counts.merge(sketches.ValueCounts().add(*chunks[k]))
  return counts.compact()


def test_value_counts_are_exact_whatever_the_split_and_order(monkeypatch):
  monkeypatch.setattr(sketches, '_MIN_COMPACT', 5)  # fold in often
  rng = np.random.default_rng(0)
  codes = rng.zipf(1.3, 5000) % 700
  values = pa.array([f'v{c}'.encode() for c in codes], pa.large_binary())
  # Masses of multi-valued rows: 1/2, 1/3, 1/7 do not add up exactly in
  # float64, so a float sum would depend on the order.
  mass = 1.0 / rng.choice([1, 2, 3, 7], 5000)
  one = _counts([(values, mass)], [0])
  bounds = [0, 13, 400, 1999, 2000, 4321, 5000]
  chunks = [(values[a:b], mass[a:b]) for a, b in zip(bounds, bounds[1:])]
  other = _counts(chunks, rng.permutation(len(chunks)))
  def table(c):
    return dict(zip(c.values.to_pylist(), c.ticks.tolist()))
  assert table(other) == table(one)
  assert one.num_distinct == len(set(codes.tolist()))
  # Each mass is rounded to 2**-24 (half a tick at most) before adding.
  expected = np.bincount(codes, weights=mass)
  terms = np.bincount(codes)
  got = dict(zip(one.values.to_pylist(), one.mass))
  for c in set(codes.tolist()):
    assert abs(got[f'v{c}'.encode()] - expected[c]) <= terms[c] * 2.0**-25
  # Values of another type are an error, not a silent mix.
  with pytest.raises(DataError, match='mixed'):
    one.add(pa.array([1, 2]), np.ones(2))


def test_top_k_by_mass_then_value():
  counts = sketches.ValueCounts().add(
      pa.array([b'd', b'b', b'c', b'a', b'c', b'e'], pa.large_binary()),
      np.array([1., 1., 1., 1., 1., 2.]))
  values, ticks = counts.top(3)
  # c and e tie at 2 (c first), then a, b, d tie at 1: the smallest, a.
  assert values.to_pylist() == [b'c', b'e', b'a']
  np.testing.assert_array_equal(ticks, np.array([2, 2, 1]) << 24)
  assert counts.top(10)[0].to_pylist() == [b'c', b'e', b'a', b'b', b'd']

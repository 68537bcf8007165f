"""Tests of sketches.py: value counts and the quantile sketch (pure, no TFX)."""
import numpy as np
import pyarrow as pa
import pytest

from components.mutual_information import sketches


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


def test_value_counts_keep_the_heaviest_beyond_the_cap():
  counts = sketches.ValueCounts()
  counts.add(pa.array([b'a', b'b', b'c', b'a'], pa.large_binary()),
             np.ones(4), max_distinct=2)
  assert sorted(counts.values.to_pylist()) == [b'a', b'b']
  assert sorted(counts.mass.tolist()) == [1.0, 2.0]

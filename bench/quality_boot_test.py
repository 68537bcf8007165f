"""Tests of the paired user bootstrap (hand-made hits)."""
import numpy as np
import pytest

from bench import quality_boot


def test_mean_is_the_event_weighted_difference():
  # user u1: a hits 2 of 2, b 0 of 2; user u2: both 1 of 1 -> (2 - 0) / 3.
  a = np.array([1, 1, 1.0])
  b = np.array([0, 0, 1.0])
  d = quality_boot.paired_user_bootstrap(a, b, ['u1', 'u1', 'u2'], 200)
  assert d.mean == pytest.approx(2 / 3)
  # Each replicate is (2 n1) / (2 n1 + n2) for n1 + n2 = 2 draws: 0, 2/3 or 1.
  assert 0.0 <= d.low <= d.mean <= d.high <= 1.0


def test_identical_models_give_a_zero_interval():
  a = np.array([1, 0, 1, 0.0])
  d = quality_boot.paired_user_bootstrap(a, a.copy(), ['a', 'b', 'c', 'd'])
  assert (d.mean, d.low, d.high) == (0.0, 0.0, 0.0)


def test_a_constant_difference_per_user_has_no_spread():
  # Every event: a - b = 1, so every replicate is 1.
  d = quality_boot.paired_user_bootstrap(np.ones(6), np.zeros(6),
                                         list('aabbcc'), 100)
  assert (d.mean, d.low, d.high) == (1.0, 1.0, 1.0)


def test_paired_interval_is_tighter_than_the_user_spread():
  rng = np.random.default_rng(1)
  users = np.repeat(np.arange(50), 20)
  base = (rng.random(1000) < 0.3).astype(float)
  better = np.maximum(base, (rng.random(1000) < 0.1))  # b's hits plus more
  d = quality_boot.paired_user_bootstrap(better, base, users, 500)
  assert d.low > 0  # strictly more hits on the same events


def test_bad_shapes_are_one_clear_error():
  with pytest.raises(ValueError, match='one length'):
    quality_boot.paired_user_bootstrap(np.ones(3), np.ones(2), ['a'] * 3)

"""Bootstrap over users on hand-made per-user aggregates."""
import numpy as np
import pytest

from components.retrieval_evaluator import bootstrap

SETTINGS = bootstrap.Settings(samples=400, seed=3)


def _totals(hits_per_user, events_per_user):
  return (np.asarray(hits_per_user, np.float64)[:, None],
          np.asarray(events_per_user, np.float64)[:, None])


def test_per_user_sums_adds_each_users_events():
  # Events of users [0, 2, 0, 1, 0] with values [1, 0, 1, 1, 0.5].
  sums = bootstrap.per_user_sums(np.array([0, 2, 0, 1, 0]),
                                 np.array([1, 0, 1, 1, 0.5]), 4)
  assert sums.tolist() == [2.5, 1.0, 0.0, 0.0]
  sums = bootstrap.per_user_sums(np.array([1, 1]), np.array([[1, 2], [3, 4]]),
                                 2)
  assert sums.tolist() == [[0, 0], [4, 6]]


def test_weights_resample_users_with_replacement():
  blocks = list(bootstrap.weight_blocks(7, bootstrap.Settings(50, 1)))
  weights = np.concatenate(blocks)
  assert weights.shape == (50, 7)
  assert (weights.sum(1) == 7).all()  # each sample draws 7 users
  assert (weights >= 0).all() and (weights == np.round(weights)).all()
  assert (weights == 0).any()  # some users are left out of some samples


def test_a_constant_metric_has_a_zero_width_interval():
  # Every event of every user is a hit: each sample's ratio is exactly 1.
  num, den = _totals([3, 1, 5, 2], [3, 1, 5, 2])
  assert bootstrap.intervals(num, den, SETTINGS) == [(1.0, 1.0)]
  num, den = _totals([0, 0, 0], [2, 4, 1])
  assert bootstrap.intervals(num, den, SETTINGS) == [(0.0, 0.0)]


def test_the_paired_interval_of_a_model_against_itself_is_zero():
  rng = np.random.default_rng(0)
  den = rng.integers(1, 9, size=[30, 3]).astype(float)
  num = np.floor(den * rng.random([30, 3]))
  assert bootstrap.paired_delta_intervals(num, num, den, SETTINGS) == [
      (0.0, 0.0)] * 3


def test_same_seed_same_interval_other_seed_other_interval():
  rng = np.random.default_rng(1)
  den = rng.integers(1, 9, size=[40, 2]).astype(float)
  num = np.floor(den * rng.random([40, 2]))
  first = bootstrap.intervals(num, den, SETTINGS)
  assert bootstrap.intervals(num, den, SETTINGS) == first
  assert bootstrap.intervals(num, den, bootstrap.Settings(400, 4)) != first


def test_the_interval_covers_the_point_estimate_and_shrinks_with_users():
  rng = np.random.default_rng(2)
  widths = []
  for num_users in (20, 2000):
    den = rng.integers(1, 6, size=[num_users, 1]).astype(float)
    num = rng.binomial(den.astype(int), 0.3).astype(float)
    (point,) = bootstrap.ratios(num, den)
    ((low, high),) = bootstrap.intervals(num, den, SETTINGS)
    assert low < point < high
    widths.append(high - low)
  assert widths[1] < widths[0] / 4  # ~ 1/sqrt(users): 10x fewer users, ~3x


def test_resampling_users_is_wider_than_resampling_events():
  # Two kinds of users: all hits or all misses, 10 events each. Resampling
  # users sees the between-user spread; 200 independent events would give
  # a standard error of sqrt(0.25 / 200) = 0.035, an interval of ~0.14.
  den = np.full([20, 1], 10.0)
  num = np.where(np.arange(20) % 2 == 0, 10.0, 0.0)[:, None]
  ((low, high),) = bootstrap.intervals(num, den, SETTINGS)
  assert high - low > 0.3  # about 4 * sqrt(0.25 / 20) = 0.45


def test_a_paired_difference_is_narrower_than_either_interval():
  # Model b = model a plus one extra hit for a third of the users.
  rng = np.random.default_rng(5)
  den = rng.integers(2, 8, size=[60, 1]).astype(float)
  a = np.floor(den * rng.random([60, 1]))
  b = np.minimum(a + (np.arange(60)[:, None] % 3 == 0), den)
  ((low, high),) = bootstrap.paired_delta_intervals(b, a, den, SETTINGS)
  ((a_low, a_high),) = bootstrap.intervals(a, den, SETTINGS)
  assert 0 < low < high  # b is better on every resample
  assert high - low < (a_high - a_low) / 2


def test_a_column_without_events_has_no_interval():
  num = np.array([[1.0, 0.0], [0.0, 0.0]])
  den = np.array([[2.0, 0.0], [1.0, 0.0]])
  out = bootstrap.intervals(num, den, SETTINGS)
  assert out[1] is None and out[0] is not None
  assert bootstrap.ratios(num, den) == [pytest.approx(1 / 3), None]


@pytest.mark.parametrize('kwargs', [{'samples': 0}, {'seed': -1},
                                    {'samples': 2.5}, {'samples': True}])
def test_bad_settings_are_rejected(kwargs):
  with pytest.raises(ValueError, match='bootstrap'):
    bootstrap.Settings(**kwargs)


def test_mismatched_shapes_are_rejected():
  with pytest.raises(ValueError, match='differ in shape'):
    bootstrap.intervals(np.zeros([3, 2]), np.ones([3, 1]))


def test_paired_event_delta_is_the_event_weighted_difference():
  # user u1: a hits 2 of 2, b 0 of 2; user u2: both 1 of 1 -> (2 - 0) / 3.
  delta, (low, high) = bootstrap.paired_event_delta(
      np.array([1, 1, 1.0]), np.array([0, 0, 1.0]), ['u1', 'u1', 'u2'],
      SETTINGS)
  assert delta == pytest.approx(2 / 3)
  # Each sample is 2 n1 / (2 n1 + n2) for n1 + n2 = 2 drawn users.
  assert 0.0 <= low <= delta <= high <= 1.0


def test_paired_event_delta_of_a_constant_difference_has_no_spread():
  delta, interval = bootstrap.paired_event_delta(
      np.ones(6), np.zeros(6), list('aabbcc'), SETTINGS)
  assert (delta, interval) == (1.0, (1.0, 1.0))
  a = np.array([1, 0, 1, 0.0])
  assert bootstrap.paired_event_delta(a, a.copy(), list('abcd'),
                                      SETTINGS) == (0.0, (0.0, 0.0))


def test_paired_event_delta_sees_more_hits_on_the_same_events():
  rng = np.random.default_rng(1)
  users = np.repeat(np.arange(50), 20)
  base = (rng.random(1000) < 0.3).astype(float)
  better = np.maximum(base, rng.random(1000) < 0.1)
  _, (low, _) = bootstrap.paired_event_delta(better, base, users, SETTINGS)
  assert low > 0


def test_paired_event_delta_rejects_bad_shapes():
  with pytest.raises(ValueError, match='one length'):
    bootstrap.paired_event_delta(np.ones(3), np.ones(2), ['a'] * 3)
  with pytest.raises(ValueError, match='no events'):
    bootstrap.paired_event_delta(np.ones(0), np.ones(0), [])

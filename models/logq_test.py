"""logQ candidate probabilities: by hand, with and without the fallback group."""
import numpy as np
import pytest

from models import fallback
from models import logq

# 4 items with 3, 0, 1, 6 training events: 10 events, smoothed p = (c + 1) / 14.
COUNTS = np.array([3, 0, 1, 6])


def test_without_a_group_each_item_has_its_smoothed_share():
  p = logq.candidate_probability(COUNTS)
  np.testing.assert_allclose(p.log, [4 / 14, 1 / 14, 2 / 14, 7 / 14])
  np.testing.assert_allclose(p.uniform, [1 / 4] * 4)


def test_min_item_count_zero_is_the_per_item_probability_exactly():
  rare = fallback.rare_rows(COUNTS, 0)
  assert not rare.any()
  with_group = logq.candidate_probability(COUNTS, rare)
  without = logq.candidate_probability(COUNTS)
  np.testing.assert_array_equal(with_group.log, without.log)
  np.testing.assert_array_equal(with_group.uniform, without.uniform)
  np.testing.assert_array_equal(without.log, (COUNTS + 1.0) / 14)


def test_fallback_items_share_their_group_probability():
  # min 2: items 1 (0 events) and 2 (1 event) fall back: Q(G) = (1 + 2) / 14.
  rare = fallback.rare_rows(COUNTS, 2)
  np.testing.assert_array_equal(rare, [False, True, True, False])
  p = logq.candidate_probability(COUNTS, rare)
  np.testing.assert_allclose(p.log, [4 / 14, 3 / 14, 3 / 14, 7 / 14])
  # A uniform draw lands in the group with probability 2 / 4.
  np.testing.assert_allclose(p.uniform, [1 / 4, 2 / 4, 2 / 4, 1 / 4])
  # The distinct candidates (items 0 and 3, the group once) still sum to 1.
  assert p.log[[0, 1, 3]].sum() == pytest.approx(1.0)
  assert p.uniform[[0, 1, 3]].sum() == pytest.approx(1.0)


def test_every_item_in_the_group():
  p = logq.candidate_probability(COUNTS, np.ones(4, bool))
  np.testing.assert_allclose(p.log, [1.0] * 4)
  np.testing.assert_allclose(p.uniform, [1.0] * 4)


def test_bad_inputs_are_errors():
  with pytest.raises(ValueError, match='one length'):
    logq.candidate_probability(COUNTS, np.array([True, False]))
  with pytest.raises(ValueError, match=r'item_counts must be >= 0.*row 1'):
    logq.candidate_probability(np.array([2, -1]))
  with pytest.raises(ValueError, match='non-empty'):
    logq.candidate_probability(np.array([], np.int64))

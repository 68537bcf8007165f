"""logQ candidate probabilities, by hand."""
import numpy as np
import pytest

from models import logq

# 4 items with 3, 0, 1, 6 training events: 10 events, smoothed p = (c + 1) / 14.
COUNTS = np.array([3, 0, 1, 6])


def test_each_item_has_its_smoothed_share():
  p = logq.candidate_probability(COUNTS)
  np.testing.assert_allclose(p, [4 / 14, 1 / 14, 2 / 14, 7 / 14])
  np.testing.assert_array_equal(p, (COUNTS + 1.0) / 14)
  assert p.sum() == pytest.approx(1.0)


def test_bad_inputs_are_errors():
  with pytest.raises(ValueError, match=r'item_counts must be >= 0.*row 1'):
    logq.candidate_probability(np.array([2, -1]))
  with pytest.raises(ValueError, match='non-empty'):
    logq.candidate_probability(np.array([], np.int64))

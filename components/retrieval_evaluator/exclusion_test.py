"""The exclusion rules on hand-made events."""
import numpy as np
import pytest

from components.retrieval_evaluator import exclusion
from components.retrieval_evaluator import metrics

INDEX_OF = {'a': 0, 'b': 1, 'c': 2, 'd': 3, 'e': 4}
SEEN = {'u1': np.array([1, 3], np.int64)}


def _pairs(ex: metrics.Exclusions):
  return sorted(zip(ex.rows.tolist(), ex.items.tolist()))


def test_serving_leaves_out_the_history_and_the_train_items_but_the_target():
  # Event 0 (u1, item c): history 'a|b|zz' -> a, b (zz not in the corpus),
  # train items b, d -> {a, b, d}. Event 1 (u2, item a): history 'a|e' -> e
  # (its own item a stays). Event 2 (u1, item d): no history -> b (d is its
  # own item).
  ex = exclusion.event_exclusions(
      'serving', [b'a|b|zz', 'a|e', b''], ['u1', 'u2', 'u1'],
      np.array([2, 0, 3]), INDEX_OF, SEEN)
  assert _pairs(ex) == [(0, 0), (0, 1), (0, 3), (1, 4), (2, 1)]


def test_without_a_history_column_the_train_items_are_left_out():
  ex = exclusion.event_exclusions('serving', None, ['u1', 'u2'],
                                  np.array([2, 0]), INDEX_OF, SEEN)
  assert _pairs(ex) == [(0, 1), (0, 3)]


def test_none_leaves_out_nothing_and_a_bad_rule_is_named():
  assert exclusion.event_exclusions('none', ['a'], ['u1'], np.array([2]),
                                    INDEX_OF, SEEN) is None
  with pytest.raises(ValueError, match=r"exclusion must be one of "
                     r"\['serving', 'none'\], got 'seen'"):
    exclusion.event_exclusions('seen', None, [], np.array([]), INDEX_OF, SEEN)


def test_the_popularity_ranks_count_a_repeated_history_item_once():
  # Popularity order a, b, c; event (u9, item c) with history 'a|a': rank 2.
  ex = exclusion.event_exclusions('serving', ['a|a'], ['u9'], np.array([2]),
                                  INDEX_OF, {})
  assert metrics.popularity_ranks(np.array([9, 8, 7, 0, 0]), np.array([2]),
                                  ex).tolist() == [2]

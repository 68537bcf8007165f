"""Tests of the diagnosis benchmark's pure parts: slices, experiments, the popularity ranking."""
import types

import numpy as np
import pytest

from bench import quality_diag


def _corpus():
  # 4 items: 0 head, 1 and 2 tail, 3 cold; users a (seen 0, 1) and b (none).
  return types.SimpleNamespace(
      popularity=types.SimpleNamespace(
          slice_of_item=np.array(['head', 'tail', 'tail', 'cold'], object)),
      seen_by_user={'a': np.array([0, 1]), 'b': np.array([], np.int64)})


def test_slices_and_returning_users():
  targets = np.array([0, 2, 3, 0])
  masks = quality_diag.slice_masks(targets, ['a', 'a', 'b', 'c'], _corpus())
  np.testing.assert_array_equal(masks['head'], [1, 0, 0, 1])
  np.testing.assert_array_equal(masks['cold'], [0, 0, 1, 0])
  # Only a has train events (b's list is empty, c is unknown).
  np.testing.assert_array_equal(masks['returning'], [1, 1, 0, 0])
  np.testing.assert_array_equal(masks['ret_head'], [1, 0, 0, 0])
  np.testing.assert_array_equal(masks['ret_tail'], [0, 1, 0, 0])


def test_popularity_ranking_excludes_the_users_seen_items():
  # Counts 5, 3, 1, 0 -> the list is 0, 1, 2, 3; user a has seen 0 and 1.
  corpus = _corpus()
  items = np.array([[5.0], [3.0], [1.0], [0.0]], np.float32)
  ranks = quality_diag.rank_events(np.ones([3, 1], np.float32), items,
                                   np.array([2, 2, 0]), ['a', 'b', 'a'],
                                   corpus, depth=4)
  # a: 0 and 1 removed, so item 2 ranks 1st; b: 3rd; a's own target 0 is never
  # excluded, 1 is: item 0 ranks 1st.
  np.testing.assert_array_equal(ranks, [1, 3, 1])


def test_experiment_names_combine_in_order():
  assert quality_diag.parse_experiment('none+logq') == {
      'ssl': 'none', 'logq_correction': True}
  with pytest.raises(ValueError, match="unknown experiment 'nope'"):
    quality_diag.parse_experiment('none+nope')


def test_hits_are_ranks_within_k():
  record = {'ranks': [1, 50, 51, 0]}
  np.testing.assert_array_equal(quality_diag.hits(record), [1, 1, 0, 0])

"""merge_top_k: K candidate lists -> one top k of distinct items."""
import numpy as np
import tensorflow as tf

from components.index_builder import index


def test_merge_keeps_each_row_once_with_its_best_score():
  # Two intentions' top 3 for one query: row 7 is found by both.
  scores = tf.constant([[0.9, 0.5, 0.1, 0.8, 0.7, 0.6]])
  rows = tf.constant([[7, 2, 4, 3, 7, 5]], tf.int64)
  top_scores, top_rows = index.merge_top_k(scores, rows, 3)
  np.testing.assert_allclose(top_scores.numpy(), [[0.9, 0.8, 0.6]])
  assert top_rows.numpy().tolist() == [[7, 3, 5]]


def test_merge_equals_top_k_of_max_over_intentions():
  rng = np.random.default_rng(0)
  queries = rng.normal(size=(5, 3, 4)).astype(np.float32)   # [B, K, d]
  items = rng.normal(size=(20, 4)).astype(np.float32)
  k = 6
  per = np.einsum('bkd,md->bkm', queries, items)             # [B, K, M]
  rows = np.argsort(-per, axis=2)[:, :, :k]                  # each intention's top k
  scores = np.take_along_axis(per, rows, 2)
  got_scores, got_rows = index.merge_top_k(
      tf.constant(scores.reshape(5, -1)),
      tf.constant(rows.reshape(5, -1), tf.int64), k)
  best = per.max(axis=1)
  expected = np.argsort(-best, axis=1)[:, :k]
  assert got_rows.numpy().tolist() == expected.tolist()
  np.testing.assert_allclose(got_scores.numpy(),
                             np.take_along_axis(best, expected, 1), rtol=1e-6)


def test_merge_breaks_equal_scores_by_the_lower_row():
  scores = tf.constant([[0.5, 0.5, 0.9, 0.5]])
  rows = tf.constant([[9, 4, 1, 6]], tf.int64)
  _, top_rows = index.merge_top_k(scores, rows, 3)
  assert top_rows.numpy().tolist() == [[1, 4, 6]]


def test_is_in_matches_each_row_against_its_own_exclusions():
  rows = tf.constant([[3, 1, 7], [3, 1, 7]], tf.int64)
  excluded = tf.constant([[7, 3, -1], [-1, -1, -1]], tf.int64)
  assert index.is_in(rows, excluded).numpy().tolist() == [
      [True, False, True], [False, False, False]]

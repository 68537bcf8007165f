"""Mixed negative sampling: the softmax over in-batch + uniform candidates, against numpy."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import negatives


def _task(temperature):
  return tfrs.tasks.Retrieval(
      loss=tf.keras.losses.CategoricalCrossentropy(
          from_logits=True, reduction=tf.keras.losses.Reduction.SUM_OVER_BATCH_SIZE),
      temperature=temperature, remove_accidental_hits=True)


def _numpy_loss(q, c, rows, temperature, log_q=None):
  """-mean_i log softmax_i(logits)[i]; accidental hits (same row as query i's
  positive, other column) removed; logQ subtracted after the temperature."""
  logits = q @ c.T / temperature
  if log_q is not None:
    logits = logits - log_q[None, :]
  b = q.shape[0]
  for i in range(b):
    for j in range(c.shape[0]):
      if j != i and rows[j] == rows[i]:
        logits[i, j] = -np.inf
  logits = logits - logits.max(axis=1, keepdims=True)
  log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  return -np.mean([log_softmax[i, i] for i in range(b)])


Q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
POS = np.array([[0.6, 0.8], [0.8, 0.6]], np.float32)
NEG = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], np.float32)


def test_mixed_candidates_softmax_matches_numpy():
  # Rows: positives 10, 11; uniform negatives 3, 4 and 10 (query 0's own
  # positive drawn again: an accidental hit, left out of row 0).
  c, rows, q = negatives.mixed_candidates(
      tf.constant(POS), tf.constant([10, 11], tf.int64), tf.constant(NEG),
      tf.constant([3, 4, 10], tf.int64))
  assert q is None
  np.testing.assert_array_equal(rows.numpy(), [10, 11, 3, 4, 10])
  loss = _task(0.5)(tf.constant(Q), c, candidate_ids=rows,
                    compute_metrics=False, compute_batch_metrics=False)
  expected = _numpy_loss(Q, np.concatenate([POS, NEG]), [10, 11, 3, 4, 10], 0.5)
  # e.g. row 1: logits [0.8, 0.6, 0, 1, 0.8]/0.5 over all 5 candidates.
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_mixture_probability_and_logq():
  # N = 20 items; p of rows 10, 11, 3, 4, 10 = .2, .1, .05, .05, .2;
  # B = 2, M = 3: q = (2 p + 3/20) / 5.
  p = np.full(20, 0.0, np.float32)
  p[[10, 11, 3, 4]] = [0.2, 0.1, 0.05, 0.05]
  c, rows, q = negatives.mixed_candidates(
      tf.constant(POS), tf.constant([10, 11], tf.int64), tf.constant(NEG),
      tf.constant([3, 4, 10], tf.int64), tf.constant(p))
  expected_q = (2 * np.array([0.2, 0.1, 0.05, 0.05, 0.2]) + 0.15) / 5
  np.testing.assert_allclose(q.numpy(), expected_q, rtol=1e-6)
  loss = _task(0.5)(tf.constant(Q), c, candidate_ids=rows,
                    candidate_sampling_probability=q,
                    compute_metrics=False, compute_batch_metrics=False)
  expected = _numpy_loss(Q, np.concatenate([POS, NEG]), [10, 11, 3, 4, 10], 0.5,
                         np.log(expected_q))
  assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_mixture_probability_with_a_group_uniform_share():
  # As above, with rows 3 and 4 in a fallback group of 4 items of 20: their
  # uniform share is 4/20 instead of 1/20 (models/logq.py).
  p = np.full(20, 0.0, np.float32)
  p[[10, 11, 3, 4]] = [0.2, 0.1, 0.05, 0.05]
  u = np.full(20, 1 / 20, np.float32)
  u[[3, 4]] = 4 / 20
  _, _, q = negatives.mixed_candidates(
      tf.constant(POS), tf.constant([10, 11], tf.int64), tf.constant(NEG),
      tf.constant([3, 4, 10], tf.int64), tf.constant(p), tf.constant(u))
  expected_q = (2 * np.array([0.2, 0.1, 0.05, 0.05, 0.2])
                + 3 * np.array([1, 1, 4, 4, 1]) / 20) / 5
  np.testing.assert_allclose(q.numpy(), expected_q, rtol=1e-6)


def test_uniform_rows_cover_the_corpus_and_are_seeded():
  a = negatives.UniformRows(5, seed=7)(1000).numpy()
  b = negatives.UniformRows(5, seed=7)(1000).numpy()
  np.testing.assert_array_equal(a, b)
  assert set(a.tolist()) == {0, 1, 2, 3, 4}


def test_empty_corpus_is_an_error():
  with pytest.raises(ValueError, match='empty'):
    negatives.UniformRows(0, seed=0)

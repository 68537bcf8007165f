"""The sequence encoder: time order, shapes, max-over-intentions scoring."""
import numpy as np
import pytest
import tensorflow as tf

from models import sequence


def _ragged(rows):
  return tf.ragged.constant(rows, tf.int64, ragged_rank=1)


def test_recent_first_keeps_the_most_recent_items_left_aligned():
  # Contract order: most recent first. u0 saw 5, 4, 3, 2, 1 (1 is the latest).
  ids, lengths = sequence.recent_first(_ragged([[1, 2, 3, 4, 5], [7, 6], []]), 3)
  assert ids.numpy().tolist() == [[1, 2, 3], [7, 6, 0], [0, 0, 0]]
  assert lengths.numpy().tolist() == [3, 2, 0]


def test_reverse_prefixes_gives_the_time_order():
  ids = tf.constant([[1, 2, 3], [7, 6, 9], [5, 8, 8]], tf.int64)
  got = sequence.reverse_prefixes(ids, tf.constant([3, 2, 0], tf.int64))
  assert got.numpy().tolist() == [[3, 2, 1], [6, 7, 0], [0, 0, 0]]


def test_positions_count_back_from_the_latest_item():
  mask, position = sequence._mask_and_position(  # pylint: disable=protected-access
      3, tf.constant([3, 1], tf.int64))
  assert mask.numpy().tolist() == [[True, True, True], [True, False, False]]
  assert position.numpy().tolist() == [[2, 1, 0], [0, 0, 0]]


def test_encode_ignores_entries_past_the_length():
  encoder = sequence.IntentionEncoder(10, 8, 2, 5)
  short, mass = encoder(_ragged([[3, 4]]))
  padded, padded_mass = encoder.encode(tf.constant([[3, 4, 7, 9]], tf.int64),
                                       tf.constant([2], tf.int64))
  np.testing.assert_allclose(padded.numpy(), short.numpy(), atol=1e-5)
  np.testing.assert_allclose(padded_mass.numpy(), mass.numpy(), atol=1e-6)


def test_encoder_shapes_and_masses():
  encoder = sequence.IntentionEncoder(num_items=10, dim=8, num_intentions=3,
                                      max_length=5)
  intentions, mass = encoder(_ragged([[1, 2, 3, 4, 5], [6], []]))
  assert intentions.shape == (3, 3, 8) and mass.shape == (3, 3)
  # Each non-empty history spreads its unit attention over the intentions.
  np.testing.assert_allclose(mass.numpy().sum(axis=1), [1, 1, 0], atol=1e-5)
  assert np.isfinite(intentions.numpy()).all()


@pytest.mark.parametrize('attention', [True, False])
def test_encoder_ignores_padding(attention):
  encoder = sequence.IntentionEncoder(10, 8, 2, 5, attention=attention)
  short, _ = encoder(_ragged([[3, 4]]))
  padded, _ = encoder(_ragged([[3, 4], [1, 2, 3, 4, 5]]))
  np.testing.assert_allclose(padded.numpy()[0], short.numpy()[0], atol=1e-5)


def test_max_over_intentions_against_numpy():
  rng = np.random.default_rng(0)
  intentions = rng.normal(size=(4, 3, 5)).astype(np.float32)
  items = rng.normal(size=(7, 5)).astype(np.float32)
  expected = np.array([[max(intentions[b, k] @ items[c] for k in range(3))
                        for c in range(7)] for b in range(4)])
  got = sequence.max_over_intentions(tf.constant(intentions),
                                     tf.constant(items)).numpy()
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
  # What the retrieval task multiplies gives back the same scores.
  scores, identity = sequence.as_retrieval_inputs(tf.constant(intentions),
                                                  tf.constant(items))
  np.testing.assert_allclose(tf.matmul(scores, identity, transpose_b=True),
                             expected, rtol=1e-5, atol=1e-5)


def test_serving_outputs():
  pooled = tf.constant([[0.6, 0.8]])
  assert list(sequence.serving_outputs(pooled)) == ['embedding']
  vectors = tf.constant([[[1.0, 0.0], [0.0, 1.0]]])
  out = sequence.serving_outputs(vectors)
  np.testing.assert_allclose(out['intentions'], vectors)
  # The aggregate: normalized mean of the intentions.
  np.testing.assert_allclose(out['embedding'], [[0.5 ** 0.5, 0.5 ** 0.5]],
                             atol=1e-6)


def test_sequence_tower_gives_k_normalized_vectors():
  tower = sequence.SequenceQueryTower(
      ['user_id', 'history'], {'user_id': 5}, embedding_dim=4,
      layer_widths=(8, 6), history_feature='history',
      item_keys=['a', 'b', 'c'], num_intentions=3, max_length=4)
  out = tower({'user_id': tf.constant([1, 2], tf.int64),
               'history': tf.ragged.constant([['a', 'c', 'x'], []])})
  assert out.shape == (2, 3, 6)
  np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=-1), 1.0,
                             atol=1e-5)
  ids, lengths = tower.sequence({'history': tf.ragged.constant(
      [['a', 'c', 'x']])})
  assert ids.numpy().tolist() == [[0, 3, 1]]  # x is OOV (0), time order
  assert lengths.numpy().tolist() == [3]


def test_sequence_tower_needs_a_history_feature():
  with pytest.raises(ValueError, match='needs a history feature'):
    sequence.SequenceQueryTower(['user_id'], {'user_id': 5}, 4, (6,), None,
                                [], 2, 4)


def test_head_equals_the_mlp_of_the_concatenated_inputs():
  tower = sequence.SequenceQueryTower(
      ['user_id', 'history'], {'user_id': 5}, embedding_dim=4,
      layer_widths=(8, 6), history_feature='history',
      item_keys=['a', 'b', 'c'], num_intentions=3, max_length=4)
  features = {'user_id': tf.constant([1, 2], tf.int64),
              'history': tf.ragged.constant([['a', 'c'], ['b']])}
  intentions = tf.random.stateless_normal([2, 3, 4], seed=[3, 4])
  got = tower.head(features, intentions)
  others = tower.tables[0].numpy()[[1, 2]]
  concat = np.concatenate([np.repeat(others[:, None], 3, 1), intentions], -1)
  want = tower.mlp(tf.constant(concat.reshape(6, 8))).numpy().reshape(2, 3, 6)
  want /= np.linalg.norm(want, axis=-1, keepdims=True)
  np.testing.assert_allclose(got.numpy(), want, atol=1e-5)

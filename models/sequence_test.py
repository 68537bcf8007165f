"""The sequence encoder: time order, shapes, max-over-intentions scoring."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import sequence


def _ragged(rows):
  return tf.ragged.constant(rows, tf.int64, ragged_rank=1)


def test_recent_first_keeps_the_most_recent_items_left_aligned():
  # Contract order: most recent first. u0 saw 5, 4, 3, 2, 1 (1 is the latest).
  ids, lengths = sequence.recent_first(_ragged([[1, 2, 3, 4, 5], [7, 6], []]), 3)
  assert ids.numpy().tolist() == [[1, 2, 3], [7, 6, 0], [0, 0, 0]]
  assert lengths.numpy().tolist() == [3, 2, 0]


def _reference_encode(encoder, ordered, lengths):
  """The encoder's maths written out on time-ordered rows (oldest first,
  positions counted back from each row's last item, padding zeroed), with
  einsums: what `encode` computes on the same rows most recent first."""
  index = tf.range(tf.shape(ordered, out_type=tf.int64)[1])[None, :]
  mask = index < lengths[:, None]
  position = tf.where(mask, lengths[:, None] - 1 - index, 0)
  maskf = tf.cast(mask, tf.float32)
  h = (tf.nn.embedding_lookup(encoder.item_embeddings, ordered)
       + tf.nn.embedding_lookup(encoder.position_embeddings, position))
  h *= maskf[:, :, None]
  dim = tf.cast(tf.shape(h)[-1], tf.float32)
  if encoder.attention:
    query, key, value = tf.split(encoder.query_key_value(h), 3, axis=-1)
    logits = tf.matmul(query, key, transpose_b=True) / tf.sqrt(dim)
    logits += (1.0 - maskf[:, None, :]) * -1e9
    h += tf.matmul(tf.nn.softmax(logits), value)
  h = encoder.norm_attention(h) * maskf[:, :, None]
  assignment = tf.nn.softmax(tf.einsum(
      'bld,kd->blk', h, encoder.norm_prototypes(encoder.prototypes))
                             / tf.sqrt(dim), axis=-1)
  logits = tf.where(mask, tf.einsum('bld,d->bl', h, encoder.importance), -1e9)
  weights = assignment * (tf.nn.softmax(logits, axis=-1) * maskf)[:, :, None]
  return (encoder.norm_intentions(tf.einsum('blk,bld->bkd', weights, h)),
          tf.reduce_sum(weights, axis=1))


@pytest.mark.parametrize('attention', [True, False])
def test_encode_equals_the_time_ordered_reference(attention):
  # Rows of lengths 6, 3, 1, 0; the entries past a length are other ids
  # (as in the SSL views), which neither computation may see.
  encoder = sequence.IntentionEncoder(12, 8, 3, 6, attention=attention)
  rng = np.random.default_rng(2)
  recent = rng.integers(0, 12, size=(4, 6))
  lengths = np.array([6, 3, 1, 0])
  ordered = np.array([np.concatenate([r[:n][::-1], r[n:]])
                      for r, n in zip(recent, lengths)])
  recent, ordered, lengths = (tf.constant(x, tf.int64)
                              for x in (recent, ordered, lengths))
  encoder.encode(recent, lengths)  # builds the layers
  variables = encoder.trainable_variables
  probe = tf.constant(rng.normal(size=(4, 3, 8)), tf.float32)
  results = []
  for run in (lambda: encoder.encode(recent, lengths),
              lambda: _reference_encode(encoder, ordered, lengths)):
    with tf.GradientTape() as tape:
      intentions, mass = run()
      loss = tf.reduce_sum(intentions * probe) + tf.reduce_sum(mass * mass)
    results.append((intentions, mass, tape.gradient(loss, variables)))
  (got, got_mass, got_grads), (want, want_mass, want_grads) = results
  np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got_mass.numpy(), want_mass.numpy(), atol=1e-6)
  for v, g, w in zip(variables, got_grads, want_grads):
    np.testing.assert_allclose(tf.convert_to_tensor(g).numpy(),
                               tf.convert_to_tensor(w).numpy(), rtol=1e-4,
                               atol=1e-5, err_msg=v.name)


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


def test_the_retrieval_task_scores_k_intentions_by_their_max():
  # The main loss hands [B, K, d] to tfrs.tasks.Retrieval (its maxsim): the
  # same loss as the task on the max-over-intentions scores times the
  # identity (the formulation it replaced), with the logQ correction and the
  # accidental-hit removal on.
  rng = np.random.default_rng(1)
  intentions = tf.constant(rng.normal(size=(6, 3, 5)), tf.float32)
  items = tf.constant(rng.normal(size=(6, 5)), tf.float32)
  kwargs = {'candidate_ids': tf.constant([0, 1, 2, 1, 4, 5]),
            'candidate_sampling_probability': tf.constant(
                rng.uniform(0.01, 0.2, 6), tf.float32),
            'compute_metrics': False, 'compute_batch_metrics': False}
  task = tfrs.tasks.Retrieval(
      loss=tf.keras.losses.CategoricalCrossentropy(
          from_logits=True, reduction=tf.keras.losses.Reduction.NONE),
      temperature=0.2, remove_accidental_hits=True)
  got = task(intentions, items, **kwargs)
  scores = sequence.max_over_intentions(intentions, items)
  want = task(scores, tf.eye(6), **kwargs)
  np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


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
  ids, lengths = tower.recent_first({'history': tf.ragged.constant(
      [['a', 'c', 'x']])})
  assert ids.numpy().tolist() == [[1, 3, 0]]  # x is OOV (0), recent first
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

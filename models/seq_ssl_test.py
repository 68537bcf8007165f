"""Sequence-to-sequence SSL: split and reversal, confidence filter, InfoNCE."""
import numpy as np
import tensorflow as tf

from models import seq_ssl
from models import sequence


def _ragged(rows):
  return tf.ragged.constant(rows, tf.int64, ragged_rank=1)


def _views(rows, uniform):
  """split_views on hand-made time-ordered rows -> (past, future, valid)
  lists, each view as the sequence it stands for (its position 0 last)."""
  ids = _ragged(rows)
  recent, lengths = sequence.recent_first(_reversed(ids), 100)
  (past, t), (future, f), valid = seq_ssl.split_views(
      recent, lengths, tf.constant(uniform))
  cut = lambda x, n: [r[:k][::-1] for r, k in zip(x.numpy().tolist(),
                                                  n.numpy())]
  return cut(past, t), cut(future, f), valid.numpy().tolist()


def _reversed(ids):
  """Time-ordered ragged rows -> the contract's most-recent-first rows."""
  return tf.ragged.constant([r[::-1] for r in ids.to_list()], tf.int64,
                            ragged_rank=1)


def test_split_and_reversal_on_hand_made_sequences():
  rows = [[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [6, 7, 8], [9, 10], [11], []]
  # T=5: t = 1 + floor(u * 3) -> u=0 gives t=1, u=0.99 gives t=3 (= T-2).
  past, future, valid = _views(rows, [0.0, 0.99, 0.5, 0.5, 0.5, 0.5])
  assert past == [[1], [1, 2, 3], [6], [], [], []]
  assert future == [[5, 4, 3, 2], [5, 4], [8, 7], [], [], []]
  assert valid == [True, True, True, False, False, False]


def test_split_point_is_uniform_over_one_to_len_minus_two():
  lengths = tf.constant([6] * 400, tf.int64)  # T=6: t in {1, 2, 3, 4}
  t, valid = seq_ssl.split_points(
      lengths, tf.random.stateless_uniform([400], seed=[1, 2]))
  t = t.numpy()
  assert set(t.tolist()) == {1, 2, 3, 4} and valid.numpy().all()
  assert min(np.bincount(t)[1:]) > 60  # about 100 each


def test_confidence_filter_on_constants():
  confidence = tf.constant([[0.1, 0.9], [0.95, 0.99], [0.8, 0.7]])
  valid = tf.constant([True, False, True])
  # 2 valid rows x K=2 = 4 pairs; lambda 0.5 keeps ceil(2) = the 0.9 and 0.8.
  keep = seq_ssl.confident_pairs(confidence, valid, 0.5)
  assert keep.numpy().tolist() == [[False, True], [False, False], [True, False]]
  # lambda 0.6 keeps ceil(2.4) = 3; lambda 1 keeps every valid pair.
  assert seq_ssl.confident_pairs(confidence, valid, 0.6).numpy().sum() == 3
  assert seq_ssl.confident_pairs(confidence, valid, 1.0).numpy().tolist() == [
      [True, True], [False, False], [True, True]]
  assert not seq_ssl.confident_pairs(confidence, tf.zeros([3], tf.bool),
                                     0.5).numpy().any()


def _numpy_pair_losses(past, future, valid, temperature, users):
  b, k, _ = past.shape
  a = past / np.linalg.norm(past, axis=-1, keepdims=True)
  f = future / np.linalg.norm(future, axis=-1, keepdims=True)
  a, f = a.reshape(b * k, -1), f.reshape(b * k, -1)
  row = np.repeat(np.arange(b), k)
  allowed = valid[row][None, :] & ~((users[row][:, None] == users[row][None, :])
                                    & (row[:, None] != row[None, :]))
  allowed |= np.eye(b * k, dtype=bool)

  def one_way(x, y):
    logits = np.where(allowed, x @ y.T / temperature, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.diag(log_p)

  return (0.5 * (one_way(a, f) + one_way(f, a))).reshape(b, k)


def test_pair_losses_against_numpy():
  rng = np.random.default_rng(0)
  past = rng.normal(size=(4, 3, 5)).astype(np.float32)
  future = rng.normal(size=(4, 3, 5)).astype(np.float32)
  valid = np.array([True, True, False, True])
  users = np.array([0, 1, 2, 0])  # rows 0 and 3: same user, no negatives
  got = seq_ssl.pair_losses(tf.constant(past), tf.constant(future),
                            tf.constant(valid), 0.1, tf.constant(users))
  expected = _numpy_pair_losses(past, future, valid, 0.1, users)
  np.testing.assert_allclose(got.numpy()[valid], expected[valid], rtol=1e-4,
                             atol=1e-4)


def test_matching_views_have_a_lower_loss_than_shuffled_ones():
  rng = np.random.default_rng(1)
  past = rng.normal(size=(8, 2, 6)).astype(np.float32)
  valid = tf.ones([8], tf.bool)
  same = seq_ssl.pair_losses(tf.constant(past), tf.constant(past), valid, 0.1)
  other = seq_ssl.pair_losses(tf.constant(past), tf.constant(past[::-1]),
                              valid, 0.1)
  assert same.numpy().mean() < other.numpy().mean()


def _tower():
  return sequence.SequenceQueryTower(
      ['user_id', 'history'], {'user_id': 5}, embedding_dim=4,
      layer_widths=(6,), history_feature='history',
      item_keys=[f'i{i}' for i in range(9)], num_intentions=2, max_length=6)


def test_task_gives_a_finite_loss_with_gradients_to_the_encoder():
  tower = _tower()
  task = seq_ssl.SequenceContrastiveTask(confidence=0.5, temperature=0.1)
  features = {'user_id': tf.constant([0, 1, 2], tf.int64),
              'history': tf.ragged.constant([['i1', 'i2', 'i3', 'i4'],
                                             ['i5', 'i6', 'i7'], ['i8']])}
  tower(features)  # builds every weight
  with tf.GradientTape(persistent=True) as tape:
    loss = task(tower, features, training=True)
  assert np.isfinite(loss.numpy()) and loss.numpy() > 0
  grads = tape.gradient(loss, tower.encoder.trainable_variables)
  assert any(g is not None for g in grads)
  # The user tower's MLP and user-feature tables take no part.
  assert all(g is None for g in tape.gradient(loss, tower.mlp.trainable_variables))


def test_users_with_fewer_than_three_items_take_no_part():
  task = seq_ssl.SequenceContrastiveTask(confidence=1.0, temperature=0.1)
  features = {'user_id': tf.constant([0, 1], tf.int64),
              'history': tf.ragged.constant([['i1', 'i2'], []])}
  assert task(_tower(), features).numpy() == 0.0


def test_batch_size_bounds_the_examples_taking_part():
  # A fixed initialization: with one valid example the loss can round to 0
  # (its two intentions far apart: log(1 + e^-20) == 0 in float32).
  tf.keras.utils.set_random_seed(0)
  features = {'user_id': tf.constant([0, 1], tf.int64),
              'history': tf.ragged.constant([['i1'], ['i1', 'i2', 'i3', 'i4']])}
  tower = _tower()
  everyone = seq_ssl.SequenceContrastiveTask(1.0, 0.1, batch_size=0)
  first_only = seq_ssl.SequenceContrastiveTask(1.0, 0.1, batch_size=1)
  assert everyone(tower, features).numpy() > 0
  assert first_only(tower, features).numpy() == 0.0  # row 0 is too short


def test_query_and_loss_gives_the_tower_output_and_the_loss():
  tower = _tower()
  task = seq_ssl.SequenceContrastiveTask(confidence=0.5, temperature=0.1)
  features = {'user_id': tf.constant([0, 1, 2], tf.int64),
              'history': tf.ragged.constant([['i1', 'i2', 'i3', 'i4'],
                                             ['i5', 'i6', 'i7'], ['i8']])}
  query, loss = task.query_and_loss(tower, features, training=True)
  # The joint call's main rows are the tower's own output.
  np.testing.assert_allclose(query.numpy(), tower(features).numpy(), atol=1e-5)
  assert np.isfinite(loss.numpy()) and loss.numpy() > 0


def test_views_encode_like_the_hand_cut_sequences():
  """The past and future rows of the joint call encode as the views alone."""
  tower = _tower()
  features = {'user_id': tf.constant([0], tf.int64),
              'history': tf.ragged.constant([['i5', 'i4', 'i3', 'i2', 'i1']])}
  tower(features)
  recent, lengths = tower.recent_first(features)
  (past, t), (future, f), _ = seq_ssl.split_views(recent, lengths,
                                                  tf.constant([0.5]))
  assert t.numpy().tolist() == [2] and f.numpy().tolist() == [3]
  got, _ = tower.encoder.encode(tf.concat([past, future], 0), tf.concat([t, f], 0))
  # i1..i5 are ids 2..6; past = i1 i2 (i2 latest), reversed future = i5 i4
  # i3 (i3 "latest"); the encoder reads position 0 first.
  want, _ = tower.encoder(_ragged([[3, 2], [4, 5, 6]]))
  np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)

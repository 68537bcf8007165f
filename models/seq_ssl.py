"""Sequence-to-sequence self-supervision of the query tower (Ma et al., KDD'20).

For each training example whose (time-ordered, truncated) history has T >= 3
items: draw t uniform in [1, T-2]; the past x_1..x_t and the reversed future
x_T..x_{t+1} are two views, both encoded by the query tower's own
IntentionEncoder (models/sequence.py) into K intentions. InfoNCE between the
k-th intentions of the two views (symmetric, cosine / temperature); the
negatives of a past intention are every other future intention of the batch:
other users' (all K) and the same user's other K-1. Other examples of the same
user (their histories overlap) are left out of the negatives.

Only the most confident fraction lambda (`seq_ssl_confidence`) of the
(example, intention) pairs count: confidence = min(mass in the past, mass in
the future), the intention's share of the attention in each view, i.e. how
present it is in both halves (a taste of the past that the future does not
show is no positive pair). Examples with T < 3 take no part; a batch without
any gives 0.
"""
from typing import Optional, Tuple

import tensorflow as tf

from models import features as F
from models import sequence

MIN_LENGTH = 3
_NEG = -1e9


def split_views(ids: tf.RaggedTensor, uniform: tf.Tensor
                ) -> Tuple[tf.RaggedTensor, tf.RaggedTensor, tf.Tensor]:
  """Splits each time-ordered row at t = 1 + floor(u (T-2)), t in [1, T-2].

  Args:
    ids: ragged [batch, None], oldest first.
    uniform: float32 [batch] in [0, 1).

  Returns:
    past ragged [batch, None] (x_1..x_t), reversed future ragged
    [batch, None] (x_T..x_{t+1}), valid bool [batch] (T >= 3). Rows that are
    not valid are empty in both views.
  """
  lengths = ids.row_lengths()
  valid = lengths >= MIN_LENGTH
  span = tf.cast(tf.maximum(lengths - 2, 0), tf.float32)
  t = 1 + tf.cast(tf.floor(uniform * span), tf.int64)
  t = tf.where(valid, tf.minimum(t, lengths - 2), 0)
  rows = ids.value_rowids()
  position = tf.range(tf.shape(ids.values, out_type=tf.int64)[0]) - tf.gather(
      ids.row_starts(), rows)
  position = ids.with_flat_values(position)
  row_valid = ids.with_flat_values(tf.gather(valid, rows))
  past = tf.ragged.boolean_mask(ids, position < t[:, None])
  future = tf.ragged.boolean_mask(
      ids, tf.logical_and(row_valid, position >= t[:, None]))
  return past, sequence.reverse_rows(future), valid


def pair_losses(past: tf.Tensor, future: tf.Tensor, valid: tf.Tensor,
                temperature: float, users: Optional[tf.Tensor] = None
                ) -> tf.Tensor:
  """Symmetric InfoNCE of each (example, intention) pair: float32 [batch, K].

  Args:
    past, future: [batch, K, d] intentions of the two views.
    valid: bool [batch]; invalid rows are neither anchors nor negatives
      (their losses are returned but meaningless).
    temperature: the softmax temperature.
    users: optional int [batch]; other rows of the same user are no
      negatives.
  """
  batch, k = tf.shape(past)[0], tf.shape(past)[1]
  a = tf.reshape(tf.math.l2_normalize(past, axis=-1), [batch * k, -1])
  f = tf.reshape(tf.math.l2_normalize(future, axis=-1), [batch * k, -1])
  row = tf.repeat(tf.range(batch), k)                     # [BK] example of a pair
  allowed = tf.gather(valid, row)[None, :]                 # [1, BK]
  if users is not None:
    pair_user = tf.gather(users, row)
    same_user_other_row = tf.logical_and(
        tf.equal(pair_user[:, None], pair_user[None, :]),
        tf.not_equal(row[:, None], row[None, :]))
    allowed = tf.logical_and(allowed, tf.logical_not(same_user_other_row))
  else:
    allowed = tf.broadcast_to(allowed, [batch * k, batch * k])
  allowed = tf.logical_or(allowed, tf.eye(batch * k, dtype=tf.bool))

  def one_way(x, y):
    logits = tf.matmul(x, y, transpose_b=True) / temperature
    logits = tf.where(allowed, logits, _NEG)
    return -tf.linalg.diag_part(tf.nn.log_softmax(logits, axis=1))

  loss = 0.5 * (one_way(a, f) + one_way(f, a))
  return tf.reshape(loss, [batch, k])


def confident_pairs(confidence: tf.Tensor, valid: tf.Tensor,
                    fraction: float) -> tf.Tensor:
  """The ceil(fraction * n) most confident valid pairs: bool [batch, K].

  n = valid rows * K; ties are broken by position (first wins).
  """
  k = tf.shape(confidence)[1]
  flat_valid = tf.reshape(tf.repeat(valid[:, None], k, axis=1), [-1])
  flat = tf.where(flat_valid, tf.reshape(confidence, [-1]), -float('inf'))
  count = tf.reduce_sum(tf.cast(flat_valid, tf.int32))
  keep = tf.cast(tf.math.ceil(fraction * tf.cast(count, tf.float32)), tf.int32)
  order = tf.argsort(flat, direction='DESCENDING', stable=True)
  rank = tf.math.invert_permutation(order)
  mask = tf.logical_and(rank < keep, flat_valid)
  return tf.reshape(mask, tf.shape(confidence))


class SequenceContrastiveTask(tf.Module):
  """L_seq_ssl on a batch of query features, through the tower's encoder."""

  def __init__(self, confidence: float, temperature: float,
               batch_size: int = 0, seed: int = 0):
    """batch_size > 0: only the first batch_size examples of each (shuffled)
    main batch take part, which bounds the task's cost."""
    super().__init__(name='sequence_contrastive_task')
    self.batch_size = batch_size if batch_size > 0 else None
    self.confidence = confidence
    self.temperature = temperature
    self._rng = tf.random.Generator.from_seed(seed)

  @classmethod
  def from_config(cls, config) -> Optional['SequenceContrastiveTask']:
    if config.seq_ssl_weight == 0:
      return None
    return cls(config.seq_ssl_confidence, config.seq_ssl_temperature,
               config.seq_ssl_batch_size, config.seed)

  def __call__(self, query_tower: sequence.SequenceQueryTower, features,
               training: bool = False) -> tf.Tensor:
    ids = query_tower.sequence(features)[:self.batch_size]
    past, future, valid = split_views(
        ids, self._rng.uniform(tf.shape(ids.row_lengths())))
    # Both views in one encoder call: [2S] rows.
    intentions, mass = query_tower.encoder(
        tf.concat([past, future], axis=0), training=training)
    past_intentions, future_intentions = tf.split(intentions, 2, axis=0)
    past_mass, future_mass = tf.split(mass, 2, axis=0)
    users = features.get(F.USER_ID)
    if users is not None:
      users = users[:self.batch_size]
    losses = pair_losses(past_intentions, future_intentions, valid,
                         self.temperature, users)
    keep = confident_pairs(
        tf.stop_gradient(tf.minimum(past_mass, future_mass)), valid,
        self.confidence)
    keep = tf.cast(keep, losses.dtype)
    return tf.reduce_sum(losses * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)

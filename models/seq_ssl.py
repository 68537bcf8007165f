"""Sequence-to-sequence self-supervision of the query tower (Ma et al., KDD'20).

For each training example whose (time-ordered, truncated) history has T >= 3
items: draw t uniform in [1, T-2]; the past x_1..x_t and the reversed future
x_T..x_{t+1} are two views, both encoded by the query tower's own
IntentionEncoder (models/sequence.py) into K intentions, in the same
encoder call as the main batch (`query_and_loss`). InfoNCE between the
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


def split_points(lengths: tf.Tensor, uniform: tf.Tensor
                 ) -> Tuple[tf.Tensor, tf.Tensor]:
  """t = 1 + floor(u (T-2)), in [1, T-2], per row.

  Args:
    lengths: int64 [batch] history lengths T.
    uniform: float32 [batch] in [0, 1).

  Returns:
    t int64 [batch] (0 where not valid), valid bool [batch] (T >= 3).
  """
  valid = lengths >= MIN_LENGTH
  span = tf.cast(tf.maximum(lengths - 2, 0), tf.float32)
  t = 1 + tf.cast(tf.floor(uniform * span), tf.int64)
  return tf.where(valid, tf.minimum(t, lengths - 2), 0), valid


def split_views(recent_first: tf.Tensor, lengths: tf.Tensor,
                uniform: tf.Tensor):
  """The two views of each row, as left-aligned (ids, lengths) pairs in the
  encoder's layout (models/sequence.py: position 0 first).

  Args:
    recent_first: int64 [batch, L] x_T..x_1 (the history, most recent first,
      left-aligned).
    lengths: int64 [batch] T.
    uniform: float32 [batch] in [0, 1).

  Returns:
    (past ids, past lengths t): the past x_1..x_t, whose latest item x_t is
    position 0: x_t..x_1, i.e. recent_first[T-t:T];
    (future ids, future lengths T-t): the reversed future x_T..x_{t+1}, read
    as a sequence that ends with x_{t+1} (position 0): x_{t+1}..x_T, i.e.
    recent_first[T-t-1::-1];
    valid bool [batch]. Rows that are not valid have length 0 in both views.
    Ids past a view's length are any ids of the row (the encoder ignores
    them). Both views are [batch, L] gathers of `recent_first`.
  """
  t, valid = split_points(lengths, uniform)
  width = tf.shape(recent_first, out_type=lengths.dtype)[1]
  index = tf.range(width)[None, :]
  past = tf.minimum((lengths - t)[:, None] + index, width - 1)
  future = tf.maximum((lengths - t - 1)[:, None] - index, 0)
  return ((tf.gather(recent_first, past, batch_dims=1), t),
          (tf.gather(recent_first, future, batch_dims=1),
           tf.where(valid, lengths - t, 0)), valid)


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
  # Which examples may be negatives, [anchor example, negative example] ...
  allowed = tf.broadcast_to(valid[None, :], [batch, batch])
  if users is not None:
    same_user_other_row = tf.logical_and(
        tf.equal(users[:, None], users[None, :]),
        tf.logical_not(tf.eye(batch, dtype=tf.bool)))
    allowed = tf.logical_and(allowed, tf.logical_not(same_user_other_row))
  own = tf.eye(batch * k, dtype=tf.bool)

  def pairs(examples):
    """[batch, batch] -> [BK, BK] over their K x K pairs (pair i = example
    i // K, intention i % K), each pair its own positive."""
    return tf.logical_or(tf.reshape(tf.broadcast_to(
        examples[:, None, :, None], [batch, k, batch, k]), [batch * k] * 2),
                         own)

  # logits[i, j]: past i against future j. -log softmax of a row's own pair
  # = logsumexp of the row - its own logit; past -> future over a row,
  # future -> past over a column (the transpose, with the transposed mask).
  logits = tf.matmul(a, f, transpose_b=True) / temperature   # [BK, BK]
  past_to_future = tf.reduce_logsumexp(
      tf.where(pairs(allowed), logits, _NEG), axis=1)
  future_to_past = tf.reduce_logsumexp(
      tf.where(pairs(tf.transpose(allowed)), logits, _NEG), axis=0)
  loss = 0.5 * (past_to_future + future_to_past) - tf.linalg.diag_part(logits)
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

  def query_and_loss(self, query_tower: sequence.SequenceQueryTower,
                     features, training: bool = False
                     ) -> Tuple[tf.Tensor, tf.Tensor]:
    """(the tower's output [batch, K, d], L_seq_ssl) in one encoder call.

    The main batch and both views of the first `batch_size` examples go
    through the encoder together ([batch + 2S] rows of one width): the views
    are id gathers of the main rows' dense matrix (no second ragged -> dense
    conversion, no second history lookup).
    """
    recent, lengths = query_tower.recent_first(features)
    batch = tf.shape(lengths)[0]
    sub = slice(None, self.batch_size)
    (past, past_len), (future, future_len), valid = split_views(
        recent[sub], lengths[sub], self._rng.uniform(tf.shape(lengths[sub])))
    intentions, mass = query_tower.encoder.encode(
        tf.concat([recent, past, future], axis=0),
        tf.concat([lengths, past_len, future_len], axis=0))
    # Splits, not slices: their gradients are one concat, no zero padding.
    main, views = tf.split(intentions, tf.stack([batch, -1]))
    past_intentions, future_intentions = tf.split(views, 2, axis=0)
    past_mass, future_mass = tf.split(mass[batch:], 2, axis=0)
    users = features.get(F.USER_ID)
    if users is not None:
      users = users[sub]
    losses = pair_losses(past_intentions, future_intentions, valid,
                         self.temperature, users)
    keep = confident_pairs(
        tf.stop_gradient(tf.minimum(past_mass, future_mass)), valid,
        self.confidence)
    keep = tf.cast(keep, losses.dtype)
    loss = tf.reduce_sum(losses * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)
    return query_tower.head(features, main), loss

  def __call__(self, query_tower: sequence.SequenceQueryTower, features,
               training: bool = False) -> tf.Tensor:
    """L_seq_ssl alone (see query_and_loss)."""
    return self.query_and_loss(query_tower, features, training)[1]

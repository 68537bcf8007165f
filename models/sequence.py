"""The sequence query encoder: the time-ordered history into K intentions.

`query_encoder='sequence'` (models/config.py) replaces the mean-pooled history
of the query tower by
  1. the `sequence_max_length` most recent items of the history, most
     recent first (the contract's order), as a dense left-aligned [batch, L]
     id matrix with row lengths (one ragged -> dense conversion per batch;
     the SSL views are cut from the same matrix, models/seq_ssl.py);
  2. item embeddings (a table of the query tower's own, not shared with the
     item tower: see docs/ssl.md) + learned positional embeddings, position 0
     being the most recent item of the sequence (column l of a row holds
     position l, so the positional embeddings are added without a gather;
     the encoder is order-free apart from them, so this equals reading the
     history oldest first with positions counted back from its end);
  3. optionally (`sequence_attention`, off by default: docs/ssl.md) one
     bidirectional self-attention layer (single head, padding mask,
     residual; no feed-forward block); then a layer norm. Bidirectional: the
     whole history is the past of the event being predicted, so no position
     can leak a target; every position sees its full context;
  4. K intentions (Ma et al., KDD'20): K learned prototypes; position l is
     softly assigned to prototype k, a[l, k] = softmax_k(h_l.LN(p_k)/sqrt(e))
     (h_l is layer-normed); a learned vector w gives each position a weight
     b[l] = softmax over the valid positions of h_l.w; intention k = LN(sum_l a[l, k] b[l] h_l); its mass
     sum_l a[l, k] b[l] (sums to 1 over k) says how present it is.
The other query features (user id, demographics) join as today: each
intention is concatenated with their embeddings and goes through the tower's
MLP, giving K L2-normalized vectors [batch, K, d]. The score of an item is the
max over the K intentions (`max_over_intentions`).
"""
from typing import Dict, Tuple

import tensorflow as tf

from models import towers

INTENTIONS = 'intentions'
EMBEDDING = 'embedding'


def recent_first(history: tf.RaggedTensor, max_length: int
                 ) -> Tuple[tf.Tensor, tf.Tensor]:
  """The `max_length` most recent items, most recent first, left-aligned.

  Args:
    history: int64 ragged [batch, None], most recent first (the contract's
      order).

  Returns:
    ids int64 [batch, L] (0-padded; L = the longest kept row), lengths int64
    [batch].
  """
  lengths = tf.minimum(history.row_lengths(), max_length)
  width = tf.reduce_max(tf.concat([lengths, [0]], axis=0))
  # to_tensor with a shape truncates the longer rows: no ragged slice.
  return history.to_tensor(default_value=0, shape=tf.stack(
      [history.nrows(), width])), lengths


def max_over_intentions(intentions: tf.Tensor, candidates: tf.Tensor) -> tf.Tensor:
  """Multi-interest scores: [batch, K, d] x [num_candidates, d] -> [batch, num_candidates].

  score(query, item) = max_k dot(intention_k, item).
  """
  return tf.reduce_max(tf.einsum('bkd,cd->bkc', intentions, candidates), axis=1)


def serving_outputs(vectors: tf.Tensor) -> Dict[str, tf.Tensor]:
  """Tower output -> the serving signature's outputs.

  [batch, d] (pooled): {'embedding'}. [batch, K, d] (sequence): 'intentions'
  (what the index and the evaluator rank with, max over K) and 'embedding',
  the L2-normalized mean of the intentions: an aggregate for consumers that
  need one vector per user (it does not reproduce the index's ranking).
  """
  if vectors.shape.rank == 2:
    return {EMBEDDING: vectors}
  return {EMBEDDING: tf.math.l2_normalize(tf.reduce_mean(vectors, axis=1), axis=1),
          INTENTIONS: vectors}


class IntentionEncoder(tf.keras.layers.Layer):
  """Item ids, most recent first -> K intention vectors and their masses."""

  def __init__(self, num_items: int, dim: int, num_intentions: int,
               max_length: int, attention: bool = True,
               name: str = 'intention_encoder'):
    """attention=False: no self-attention layer (positions are matched to
    the prototypes from their item + position embeddings alone)."""
    super().__init__(name=name)
    self.attention = attention
    init = towers._initializer  # pylint: disable=protected-access
    self.max_length = max_length
    self.item_embeddings = self.add_weight(
        name='item_embeddings', shape=[num_items, dim], initializer=init())
    self.position_embeddings = self.add_weight(
        name='position_embeddings', shape=[max_length, dim], initializer=init())
    self.prototypes = self.add_weight(
        name='prototypes', shape=[num_intentions, dim], initializer=init())
    if attention:
      self.query_key_value = tf.keras.layers.Dense(3 * dim, use_bias=False)
    self.norm_attention = tf.keras.layers.LayerNormalization()
    self.norm_prototypes = tf.keras.layers.LayerNormalization()
    self.norm_intentions = tf.keras.layers.LayerNormalization()
    self.importance = self.add_weight(
        name='importance', shape=[dim], initializer=init())
    # Its own weights exist now; the sublayers build on first use. Callers
    # use `encode`, which Keras does not see as a call: mark it built so the
    # SavedModel serializes it fully.
    self.built = True

  def call(self, ids: tf.RaggedTensor, training=None
           ) -> Tuple[tf.Tensor, tf.Tensor]:
    """ids: int64 ragged [batch, None], most recent first, rows <= max_length."""
    return self.encode(ids.to_tensor(default_value=0), ids.row_lengths())

  def encode(self, dense: tf.Tensor, lengths: tf.Tensor
             ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Left-aligned rows: the first lengths[b] of dense[b], most recent first.

    Column l of a row is position l (0 = the most recent item).

    Args:
      dense: int64 [batch, L], L <= max_length; entries past a row's length
        are ignored.
      lengths: int64 [batch].

    Returns:
      intentions float32 [batch, K, dim]; mass float32 [batch, K] (rows sum
      to 1, all 0 for an empty history).
    """
    shape = tf.shape(dense)
    mask = tf.range(shape[1], dtype=lengths.dtype)[None, :] < lengths[:, None]
    maskf = tf.cast(mask, tf.float32)
    h = (tf.nn.embedding_lookup(self.item_embeddings, dense)
         + self.position_embeddings[None, :shape[1]])
    dim = h.shape[-1]
    scale = tf.sqrt(tf.cast(dim, tf.float32))
    if self.attention:
      h *= maskf[:, :, None]
      query, key, value = tf.split(self.query_key_value(h), 3, axis=-1)
      logits = tf.matmul(query, key, transpose_b=True) / scale  # [B, L, L]
      logits += (1.0 - maskf[:, None, :]) * -1e9  # attend to valid positions only
      h += tf.matmul(tf.nn.softmax(logits), value)
    h = self.norm_attention(h)
    # Padding positions are left as they are: every use below weighs them by
    # an exact 0 (`weight`), in the values and in the gradients alike.
    # h is layer-normed: no second norm before matching.
    flat = tf.reshape(h, [-1, dim])                                 # [B*L, d]
    assignment = tf.nn.softmax(tf.reshape(tf.matmul(
        flat, self.norm_prototypes(self.prototypes), transpose_b=True),
                                          [shape[0], shape[1], -1])
                               / scale, axis=-1)                    # [B, L, K]
    logits = tf.reshape(tf.matmul(flat, self.importance[:, None]),
                        shape[:2])                                  # [B, L]
    logits = tf.where(mask, logits, -1e9)
    weight = tf.nn.softmax(logits, axis=-1) * maskf                 # [B, L]
    weights = assignment * weight[:, :, None]                       # [B, L, K]
    intentions = self.norm_intentions(
        tf.matmul(weights, h, transpose_a=True))                    # [B, K, d]
    return intentions, tf.reduce_sum(weights, axis=1)


class SequenceQueryTower(towers.QueryTower):
  """Query features + history -> K L2-normalized vectors [batch, K, d]."""

  def __init__(self, feature_names, table_sizes, embedding_dim, layer_widths,
               history_feature: str, item_keys, num_intentions: int,
               max_length: int, attention: bool = True):
    if not history_feature:
      raise ValueError("query_encoder 'sequence' needs a history feature "
                       "(tagged sslrec:history) in the interactions schema")
    super().__init__(feature_names, table_sizes, embedding_dim, layer_widths,
                     history_feature=history_feature, item_keys=item_keys,
                     pool_history=False)
    self.num_intentions = num_intentions
    self.encoder = IntentionEncoder(len(item_keys) + 1, embedding_dim,
                                    num_intentions, max_length, attention)

  def recent_first(self, features) -> Tuple[tf.Tensor, tf.Tensor]:
    """The encoder's input: history ids, most recent first, left-aligned
    (int64 [batch, L], lengths [batch])."""
    return recent_first(self.history_ids(features), self.encoder.max_length)

  def head(self, features, intentions: tf.Tensor) -> tf.Tensor:
    """Other features' embeddings + each intention -> MLP -> [batch, K, d].

    The MLP of concat([others, intention_k]) for every k, with its first
    (linear) layer split: others @ W_others once per example, intention_k @
    W_intention per intention (the same function, a quarter of the work for
    the shared part at K=4).
    """
    others = tf.concat(self._embed(features), axis=1)            # [B, F*e]
    first, rest = self.mlp.layers[0], self.mlp.layers[1:]
    width = others.shape[-1]
    if not self.mlp.built:  # its layers are used one by one below
      self.mlp.build([None, width + intentions.shape[-1]])
    kernel_others, kernel_intention = tf.split(first.kernel, [width, -1])
    shared = tf.matmul(others, kernel_others)                    # [B, h]
    if first.use_bias:  # once per example, not per intention
      shared = tf.nn.bias_add(shared, first.bias)
    shape = tf.shape(intentions)
    x = tf.reshape(tf.matmul(tf.reshape(intentions, [-1, shape[2]]),
                             kernel_intention),
                   [shape[0], shape[1], first.units]) + shared[:, None, :]
    # The other layers on [B*K, h] rows (plain 2-D Dense layers).
    x = tf.reshape(first.activation(x), [shape[0] * shape[1], first.units])
    for layer in rest:
      x = layer(x)
    return tf.math.l2_normalize(
        tf.reshape(x, [shape[0], shape[1], x.shape[-1]]), axis=-1)

  def call(self, features, training=None):
    intentions, _ = self.encoder.encode(*self.recent_first(features))
    return self.head(features, intentions)

"""The query tower and the item tower.

Both towers embed each feature, concatenate, run an MLP and L2-normalize, so
the dot product of their outputs is a cosine similarity. Inputs are the
transformed features (models/preprocessing.py), converted by
`model_inputs` into dense int64 [batch] ids or tf.RaggedTensor [batch, None]
ids for the list kinds (multi_valued, text, history).

The item tower takes an optional `mask`, bool [k] in FeatureConfig order:
a masked feature's embedding is replaced by a learned per-feature default
embedding (correlated / random feature masking of the SSL task).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from models import features as F
from models import keras_autograph

keras_autograph.install()


def pooled_lookup(table: tf.Variable, ids) -> tf.Tensor:
  """Embeds ids: dense [batch] -> [batch, d]; ragged [batch, None] -> mean [batch, d].

  An empty row (a missing multi-valued value, or all values dropped) pools to
  the zero vector.
  """
  if isinstance(ids, tf.RaggedTensor):
    values = tf.nn.embedding_lookup(table, ids.values)
    summed = tf.math.unsorted_segment_sum(values, ids.value_rowids(),
                                         num_segments=ids.nrows())
    counts = tf.cast(ids.row_lengths(), summed.dtype)[:, None]
    return summed / tf.maximum(counts, 1.0)
  return tf.nn.embedding_lookup(table, ids)


def _initializer():
  """A fresh initializer per weight: one object reused gives identical tables."""
  return tf.keras.initializers.TruncatedNormal(stddev=0.05)


def _mlp(widths: Sequence[int], name: str) -> tf.keras.Sequential:
  layers = [tf.keras.layers.Dense(w, activation='relu') for w in widths[:-1]]
  layers.append(tf.keras.layers.Dense(widths[-1]))
  return tf.keras.Sequential(layers, name=name)


class _Tower(tf.keras.Model):
  """Embeddings per feature -> concat -> MLP -> L2 normalize."""

  def __init__(self, feature_names: List[str], table_sizes: Dict[str, int],
               embedding_dim: int, layer_widths: Sequence[int], name: str):
    super().__init__(name=name)
    self.feature_names = list(feature_names)
    self.embedding_dim = embedding_dim
    self.tables = [
        self.add_weight(name=f'{n}_embedding', shape=[table_sizes[n], embedding_dim],
                        initializer=_initializer(), trainable=True)
        for n in self.feature_names]
    self.mlp = _mlp(layer_widths, name=f'{name}_mlp')

  def _embed(self, features: Dict[str, tf.Tensor]) -> List[tf.Tensor]:
    return [pooled_lookup(t, features[n])
            for n, t in zip(self.feature_names, self.tables)]

  def _head(self, parts: List[tf.Tensor]) -> tf.Tensor:
    return tf.math.l2_normalize(self.mlp(tf.concat(parts, axis=1)), axis=1)


class ItemTower(_Tower):
  """Item features -> L2-normalized embedding [batch, d]."""

  def __init__(self, feature_names, table_sizes, embedding_dim, layer_widths):
    super().__init__(feature_names, table_sizes, embedding_dim, layer_widths,
                     name='item_tower')
    self.default_embeddings = self.add_weight(
        name='default_embeddings',
        shape=[len(self.feature_names), embedding_dim],
        initializer=_initializer(),
        trainable=True)

  def embed_features(self, features, mask: Optional[tf.Tensor] = None):
    """Per-feature embeddings, masked ones replaced: list of k [batch, d].

    mask: bool [k] (the same for every row) or [batch, k] (per row).
    """
    parts = self._embed(features)
    if mask is None:
      return parts
    mask = tf.convert_to_tensor(mask, tf.bool)
    if mask.shape.rank == 2:
      return [tf.where(mask[:, i:i + 1], self.default_embeddings[i], p)
              for i, p in enumerate(parts)]
    return [tf.where(mask[i], tf.broadcast_to(self.default_embeddings[i],
                                              tf.shape(p)), p)
            for i, p in enumerate(parts)]

  def call(self, features, mask: Optional[tf.Tensor] = None, training=None):
    return self._head(self.embed_features(features, mask))

  def embed_views(self, features, mask1: Optional[tf.Tensor],
                  mask2: Optional[tf.Tensor],
                  view2: Optional[Dict[str, tf.Tensor]] = None,
                  others=None) -> tf.Tensor:
    """Embeddings [M + 2B, width]: M unmasked `others` rows, then two views of B items.

    Equals `self` on the rows of `others` (mask None), view 1 (`features`,
    `mask1`) and view 2 (`features` with the columns of `view2` instead,
    `mask2`), in one tower pass: each table is looked up once per input (the
    views share their lookups but for the columns of `view2`), each view's
    mask replaces its masked features' embeddings by the defaults in one
    `tf.where` over both views, and the M + 2B rows go through the MLP
    together.

    Args:
      features: item tower inputs of B items, view 1's (and view 2's, but for
        the columns of `view2`).
      mask1: bool [k], view 1's mask (True: the default embedding), or None.
      mask2: bool [k], view 2's mask, or None.
      view2: {feature name: view 2's column}, for features whose values
        differ between the views (value dropout); not the id feature (one
        value per item, never dropped).
      others: item tower inputs of M more items, embedded unmasked.
    """
    view2 = dict(view2 or {})
    if self.feature_names[0] in view2:
      raise ValueError(f'embed_views: the id feature {self.feature_names[0]!r} '
                       'is shared by both views')
    k = len(self.feature_names)
    parts = self.embed_features(features)
    x = tf.concat(parts, axis=1)[tf.newaxis]                    # [1, B, k*e]
    if view2:  # view 2's own embeddings where its values differ
      second = [pooled_lookup(self.tables[i], view2[name]) if name in view2
                else part for i, (name, part) in enumerate(
                    zip(self.feature_names, parts))]
      x = tf.stack([x[0], tf.concat(second, axis=1)])           # [2, B, k*e]
    masked = tf.stack([tf.zeros([k], tf.bool) if m is None else
                       tf.convert_to_tensor(m, tf.bool) for m in (mask1, mask2)])
    # [2, 1, k*e]: True on the columns of a feature the view masks.
    masked = tf.repeat(masked, self.embedding_dim, axis=1)[:, tf.newaxis, :]
    views = tf.where(masked, tf.reshape(self.default_embeddings, [1, 1, -1]),
                     x)                                         # [2, B, k*e]
    rows = [tf.reshape(views, [-1, k * self.embedding_dim])]
    if others is not None:
      rows.insert(0, tf.concat(self.embed_features(others), axis=1))
    return tf.math.l2_normalize(self.mlp(tf.concat(rows, axis=0)), axis=1)


class QueryTower(_Tower):
  """Query features (+ history of item keys) -> L2-normalized embedding.

  History items are raw item keys (strings); they are looked up in the corpus
  keys given at construction, so the exported tower is self-contained.
  `history_max_length` > 0 pools only the first (most recent) N of them.
  `shared_history` = (table, index), needed to pool a history: history items
  are embedded with `table` (the item tower's item id table); index int64
  [len(item_keys) + 1] maps a history lookup id (0 = unknown key,
  1 + corpus row) to a row of `table`.
  """

  def __init__(self, feature_names, table_sizes, embedding_dim, layer_widths,
               history_feature: Optional[str] = None,
               item_keys: Optional[Sequence[str]] = None,
               pool_history: bool = True,
               history_max_length: int = 0,
               shared_history: Optional[Tuple[tf.Variable, tf.Tensor]] = None):
    # pool_history=False: no mean-pooled history table; a subclass encodes
    # `history_ids` itself (models/sequence.py).
    names = [n for n in feature_names if n != history_feature]
    sizes = dict(table_sizes)
    if history_feature and pool_history:
      if not shared_history:
        raise ValueError(f'QueryTower: pooling the history {history_feature!r} '
                         'needs shared_history (the item id table and index)')
      # A 1-row placeholder table (unused: the history reads the shared one).
      sizes[history_feature] = 1
      names.append(history_feature)
    super().__init__(names, sizes, embedding_dim, layer_widths,
                     name='query_tower')
    self.history_feature = history_feature
    self.history_max_length = history_max_length
    self.shared_history = shared_history
    if history_feature:
      self.history_lookup = tf.keras.layers.StringLookup(
          vocabulary=list(item_keys), num_oov_indices=1, mask_token=None,
          name='history_lookup')

  def history_ids(self, features) -> tf.RaggedTensor:
    """History item keys -> int64 ragged [batch, None] (0 = OOV, item i = i+1).

    Only the first (most recent) `history_max_length` when that is > 0.
    """
    history = features[self.history_feature]
    if self.history_max_length:
      history = history[:, :self.history_max_length]
    return tf.RaggedTensor.from_row_splits(
        self.history_lookup(history.values), history.row_splits)

  def _embed(self, features):
    if not self.shared_history:  # no pooled history
      return super()._embed(features)
    table, index = self.shared_history
    parts = []
    for name, own in zip(self.feature_names, self.tables):
      ids = features[name]
      if name == self.history_feature:
        parts.append(pooled_lookup(table, ids.with_values(
            tf.gather(index, ids.values))))
      else:
        parts.append(pooled_lookup(own, ids))
    return parts

  def call(self, features, training=None):
    features = dict(features)
    if self.history_feature:
      features[self.history_feature] = self.history_ids(features)
    return self._head(self._embed(features))


def model_inputs(transformed: Dict[str, tf.Tensor],
                 features: Sequence[F.Feature]) -> Dict[str, tf.Tensor]:
  """Transformed tensors -> tower inputs: dense [batch] or ragged [batch, None]."""
  out = {}
  for f in features:
    x = transformed[f.name]
    if f.is_list:
      out[f.name] = (x if isinstance(x, tf.RaggedTensor)
                     else tf.RaggedTensor.from_sparse(x))
    else:
      if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(x)
      out[f.name] = tf.reshape(x, [-1])
  return out

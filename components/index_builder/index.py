"""Retrieval index SavedModel: raw query features -> top-k corpus item ids and scores.

The exported `serving_default` takes the query tower's raw inputs (same names
and dtypes, read from its signature) and returns
  {"item_ids": string [batch, k], "scores": float32 [batch, k]},
best first, where score = dot(query embedding, item embedding) over the whole
corpus. A query tower that returns K `intentions` [batch, K, d] (the sequence
encoder) is scored by the max over its intentions: each intention is searched
for its top k, and the K x k candidates are merged into one top k (an item
found by several intentions keeps its best score), which equals the top k of
the max-over-intentions scores. The query tower SavedModel is embedded in the
index, so one model serves retrieval. k = min(configured k, corpus size).

Kinds:
  brute_force  exact: tfrs.layers.factorized_top_k.BruteForce over a
               [num_items, d] variable (ties: tf.math.top_k order).
  scann        approximate: tfrs.layers.factorized_top_k.ScaNN (needs
               `pip install scann==1.3.2`, the `[scann]` extra). The SavedModel
               holds custom `Scann` ops: load it after `import scann`, serve it
               with a TF Serving build that has them (google/tf-serving-scann).
"""
import math
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from components import tower_io
from components.index_builder.kinds import IndexKind

BRUTE_FORCE, SCANN = IndexKind.BRUTE_FORCE, IndexKind.SCANN
ITEM_IDS, SCORES = 'item_ids', 'scores'
DEFAULT_K = 100


def default_scann_options(num_items: int, k: int) -> Dict[str, Any]:
  """ScaNN tree settings scaled to the corpus.

  About sqrt(N) leaves; searched: 10% of them, or more when needed to hold
  about 4k items (small corpora); 4k candidates re-scored exactly.
  """
  num_leaves = max(1, min(2000, int(math.sqrt(num_items))))
  to_search = max(math.ceil(num_leaves / 10),
                  math.ceil(num_leaves * 4 * k / max(num_items, 1)))
  return {'num_leaves': num_leaves,
          'num_leaves_to_search': max(1, min(num_leaves, to_search)),
          'num_reordering_candidates': 4 * k,
          'dimensions_per_block': 2,
          'training_iterations': 12}


def _index_layer(kind: IndexKind, k: int, item_embeddings: np.ndarray,
                 item_ids: np.ndarray, scann_options: Optional[Mapping]):
  # Imported here: tensorflow_recommenders needs TF_USE_LEGACY_KERAS=1, which
  # the CLI and conftest set before TensorFlow is first imported.
  import tensorflow_recommenders as tfrs  # pylint: disable=g-import-not-at-top
  from models import keras_autograph  # pylint: disable=g-import-not-at-top
  keras_autograph.install()  # as the Trainer: AutoGraph skips tf_keras
  candidates = tf.constant(item_embeddings, tf.float32)
  # Corpus rows as identifiers: merging intentions compares integers.
  identifiers = tf.range(len(item_ids), dtype=tf.int64)
  kind = IndexKind.parse(kind, 'index kind')
  if kind is BRUTE_FORCE:
    layer = tfrs.layers.factorized_top_k.BruteForce(k=k)
  else:  # SCANN
    options = default_scann_options(len(item_ids), k)
    unknown = set(scann_options or {}) - set(options)
    if unknown:
      raise ValueError(f'unknown scann_options {sorted(unknown)}; known: '
                       f'{sorted(options)}')
    options.update(scann_options or {})
    layer = tfrs.layers.factorized_top_k.ScaNN(k=k, **options)
  layer.index(candidates, identifiers)
  return layer


def merge_top_k(scores: tf.Tensor, rows: tf.Tensor, k: int
                ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Best k distinct rows of several candidate lists.

  Args:
    scores: float32 [batch, M] candidate scores (M = K intentions x k).
    rows: int64 [batch, M] their corpus rows (a row may repeat).
    k: results kept, <= the number of distinct rows of each query.

  Returns:
    (scores float32 [batch, k], rows int64 [batch, k]), best first; a
    repeated row counts once, with its best score.
  """
  order = tf.argsort(scores, axis=1, direction='DESCENDING', stable=True)
  scores = tf.gather(scores, order, batch_dims=1)
  rows = tf.gather(rows, order, batch_dims=1)
  same = tf.equal(rows[:, :, None], rows[:, None, :])           # [B, M, M]
  m = tf.shape(rows)[1]
  earlier = tf.range(m)[None, :] < tf.range(m)[:, None]         # j < i
  repeated = tf.reduce_any(tf.logical_and(same, earlier[None]), axis=2)
  scores = tf.where(repeated, tf.fill(tf.shape(scores), -np.inf), scores)
  top_scores, top = tf.math.top_k(scores, k=k)
  return top_scores, tf.gather(rows, top, batch_dims=1)


class RetrievalIndex(tf.Module):
  """Query tower + top-k layer, with a `serve(features)` tf.function."""

  def __init__(self, query_model_dir: str, item_embeddings: np.ndarray,
               item_ids: np.ndarray, k: int = DEFAULT_K,
               kind: IndexKind = BRUTE_FORCE,
               scann_options: Optional[Mapping] = None):
    """Builds the index.

    Args:
      query_model_dir: the query tower SavedModel directory.
      item_embeddings: float32 [num_items, d] item tower embeddings.
      item_ids: [num_items] item ids (str or bytes), same order.
      k: results per query (capped at num_items).
      kind: an IndexKind (or its string).
      scann_options: overrides of `default_scann_options`.
    """
    super().__init__()
    if k < 1:
      raise ValueError(f'k must be >= 1, got {k}')
    item_embeddings = np.asarray(item_embeddings, np.float32)
    if item_embeddings.ndim != 2 or item_embeddings.shape[0] != len(item_ids):
      raise ValueError(f'item embeddings {item_embeddings.shape} do not match '
                       f'{len(item_ids)} item ids')
    if not len(item_ids):
      raise ValueError('cannot build an index over an empty corpus')
    self.query_tower = tower_io.Tower(query_model_dir)
    if self.query_tower.dim != item_embeddings.shape[1]:
      raise ValueError(f'query tower embeds in {self.query_tower.dim} dims, '
                       f'items in {item_embeddings.shape[1]}')
    self.k = min(k, len(item_ids))
    self.kind = IndexKind.parse(kind, 'index kind')
    # Tracked attributes: the query SavedModel's variables and the index.
    self.query_model = self.query_tower._loaded  # pylint: disable=protected-access
    self.index = _index_layer(kind, self.k, item_embeddings,
                              np.asarray(item_ids), scann_options)
    self.item_ids = tf.constant(  # UTF-8 bytes, whatever the ids' type
        [i if isinstance(i, bytes) else str(i).encode('utf-8')
         for i in item_ids], tf.string)
    spec = {name: tf.TensorSpec([None], s.dtype, name=name)
            for name, s in self.query_tower.input_specs.items()}
    self.serve = tf.function(self._serve, input_signature=[spec])

  def _serve(self, features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    outputs = self.query_tower.signature(**features)
    if tower_io.INTENTIONS in outputs:
      intentions = outputs[tower_io.INTENTIONS]                 # [B, K, d]
      shape = tf.shape(intentions)
      scores, rows = self.index(tf.reshape(intentions, [-1, shape[2]]),
                                k=self.k)                      # [B*K, k]
      scores, rows = merge_top_k(tf.reshape(scores, [shape[0], -1]),
                                 tf.reshape(rows, [shape[0], -1]), self.k)
    else:
      scores, rows = self.index(outputs[tower_io.EMBEDDING], k=self.k)
    return {ITEM_IDS: tf.gather(self.item_ids, rows), SCORES: scores}

  def save(self, export_dir: str) -> None:
    """Saves the index SavedModel with its `serving_default` signature."""
    options = tf.saved_model.SaveOptions(
        namespace_whitelist=['Scann'] if self.kind is SCANN else None)
    tf.saved_model.save(self, export_dir, signatures={
        tower_io.SIGNATURE: self.serve.get_concrete_function()},
                        options=options)

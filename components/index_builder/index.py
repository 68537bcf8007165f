"""Retrieval index SavedModel: raw query features -> top-k corpus item ids and scores.

The exported `serving_default` takes the query tower's raw inputs (same names
and dtypes, read from its signature) and returns
  {"item_ids": string [batch, k], "scores": float32 [batch, k]},
best first, where score = dot(query embedding, item embedding) over the
corpus minus the items the request names: the ids of its `history` column
(`|`-joined, the column the query tower reads; `history_column`). The
signature `with_exclusions` takes the same inputs plus `exclude_item_ids`,
string [batch, n] (pad short rows with ''), and excludes those ids too. Each
query over-fetches k + (its number of excluded corpus items), so k results
remain whenever the corpus holds k items that are not excluded; otherwise the
missing places are item id '' with score -inf. Ids not in the corpus are
ignored. This is the rule the evaluator ranks with (EvaluationConfig
`exclusion: serving`), as TFRS's `query_with_exclusions`, with a per-request
number of exclusions.

A query tower that returns K `intentions` [batch, K, d] (the sequence
encoder) is scored by the max over its intentions: each intention is searched
for its top (k + excluded), and the candidates are merged into one top k (an
item found by several intentions keeps its best score), which equals the top
k of the max-over-intentions scores among the items not excluded. The query
tower SavedModel is embedded in the index, so one model serves retrieval.
k = min(configured k, corpus size).

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
from models import features as F

BRUTE_FORCE, SCANN = IndexKind.BRUTE_FORCE, IndexKind.SCANN
ITEM_IDS, SCORES = 'item_ids', 'scores'
DEFAULT_K = 100
# The second signature and its extra input: string [batch, n], '' = padding.
EXCLUSIONS_SIGNATURE = 'with_exclusions'
EXCLUDE_ITEM_IDS = 'exclude_item_ids'
HISTORY_COLUMN = F.HISTORY


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
    scores: float32 [batch, M] candidate scores (M = K intentions x fetched;
      -inf = excluded).
    rows: int64 [batch, M] their corpus rows (a row may repeat).
    k: results kept, <= M.

  Returns:
    (scores float32 [batch, k], rows int64 [batch, k]), best first, equal
    scores by the lower row (as tf.math.top_k over the corpus); a repeated
    row counts once, with its best score. O(M log M): two sorts, no M x M.
  """
  # Best first, then stably by row: each row's first copy is its best.
  order = tf.argsort(scores, axis=1, direction='DESCENDING', stable=True)
  scores = tf.gather(scores, order, batch_dims=1)
  rows = tf.gather(rows, order, batch_dims=1)
  order = tf.argsort(rows, axis=1, stable=True)
  scores = tf.gather(scores, order, batch_dims=1)
  rows = tf.gather(rows, order, batch_dims=1)
  first = tf.concat([tf.ones_like(rows[:, :1], tf.bool),
                     tf.not_equal(rows[:, 1:], rows[:, :-1])], axis=1)
  scores = tf.where(first, scores, tf.fill(tf.shape(scores), -np.inf))
  top_scores, top = tf.math.top_k(scores, k=k)
  return top_scores, tf.gather(rows, top, batch_dims=1)


def is_in(rows: tf.Tensor, excluded: tf.Tensor) -> tf.Tensor:
  """bool [batch, M]: rows[b, m] is one of excluded[b, :].

  Args:
    rows: int64 [batch, M] corpus rows.
    excluded: int64 [batch, n] corpus rows, -1 = none; n >= 1.
  """
  ordered = tf.sort(excluded, axis=1)
  at = tf.searchsorted(ordered, rows, side='left')
  at = tf.minimum(at, tf.shape(ordered, out_type=at.dtype)[1] - 1)
  return tf.equal(tf.gather(ordered, at, batch_dims=1), rows)


class RetrievalIndex(tf.Module):
  """Query tower + top-k layer, with `serve(features)` and
  `serve_with_exclusions(features, exclude_item_ids)` tf.functions."""

  def __init__(self, query_model_dir: str, item_embeddings: np.ndarray,
               item_ids: np.ndarray, k: int = DEFAULT_K,
               kind: IndexKind = BRUTE_FORCE,
               scann_options: Optional[Mapping] = None,
               history_column: Optional[str] = HISTORY_COLUMN):
    """Builds the index.

    Args:
      query_model_dir: the query tower SavedModel directory.
      item_embeddings: float32 [num_items, d] item tower embeddings.
      item_ids: [num_items] item ids (str or bytes), same order.
      k: results per query (capped at num_items).
      kind: an IndexKind (or its string).
      scann_options: overrides of `default_scann_options`.
      history_column: the query tower input whose `|`-joined item ids are
        excluded from the results; None or '' = no such column.
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
    inputs = self.query_tower.input_specs
    if history_column and history_column not in inputs:
      raise ValueError(f'history_column {history_column!r} is not an input '
                       f'of the query tower {query_model_dir} (inputs: '
                       f'{sorted(inputs)}); pass \'\' for none')
    if history_column and inputs[history_column].dtype != tf.string:
      raise ValueError(f'history_column {history_column!r} must be a string '
                       f'input, is {inputs[history_column].dtype.name}')
    if EXCLUDE_ITEM_IDS in inputs:
      raise ValueError(f'the query tower has an input named '
                       f'{EXCLUDE_ITEM_IDS!r}, the index\'s own input name')
    self.history_column = history_column or None
    self.k = min(k, len(item_ids))
    self.num_items = len(item_ids)
    self.kind = IndexKind.parse(kind, 'index kind')
    # Tracked attributes: the query SavedModel's variables and the index.
    self.query_model = self.query_tower._loaded  # pylint: disable=protected-access
    self.index = _index_layer(kind, self.k, item_embeddings,
                              np.asarray(item_ids), scann_options)
    self.item_ids = tf.constant(  # UTF-8 bytes, whatever the ids' type
        [i if isinstance(i, bytes) else str(i).encode('utf-8')
         for i in item_ids], tf.string)
    self.rows = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            self.item_ids, tf.range(len(item_ids), dtype=tf.int64)),
        default_value=-1)
    spec = {name: tf.TensorSpec([None], s.dtype, name=name)
            for name, s in inputs.items()}
    self.serve = tf.function(self._serve, input_signature=[spec])
    self.serve_with_exclusions = tf.function(
        self._serve_with_exclusions, input_signature=[
            spec, tf.TensorSpec([None, None], tf.string,
                                name=EXCLUDE_ITEM_IDS)])

  def _excluded_rows(self, features: Dict[str, tf.Tensor],
                     exclude_item_ids: Optional[tf.Tensor]) -> tf.Tensor:
    """int64 [batch, n >= 1]: corpus rows to exclude, -1 = none."""
    batch = tf.shape(next(iter(features.values())))[0]
    parts = [tf.fill([batch, 1], tf.constant(-1, tf.int64))]
    if self.history_column:
      history = tf.strings.split(features[self.history_column], F.SEPARATOR)
      parts.append(self.rows.lookup(history.to_tensor(default_value='')))
    if exclude_item_ids is not None:
      parts.append(self.rows.lookup(exclude_item_ids))
    return tf.concat(parts, axis=1)

  def _top_k(self, features: Dict[str, tf.Tensor],
             exclude_item_ids: Optional[tf.Tensor] = None
             ) -> Dict[str, tf.Tensor]:
    outputs = self.query_tower.signature(**features)
    excluded = self._excluded_rows(features, exclude_item_ids)  # [B, n]
    # Over-fetch by the most excluded corpus rows of a query in the batch.
    most = tf.reduce_max(tf.reduce_sum(tf.cast(excluded >= 0, tf.int32), 1))
    fetch = tf.minimum(self.k + most, self.num_items)
    if tower_io.INTENTIONS in outputs:
      intentions = outputs[tower_io.INTENTIONS]                 # [B, K, d]
      shape = tf.shape(intentions)
      scores, rows = self.index(tf.reshape(intentions, [-1, shape[2]]),
                                k=fetch)                       # [B*K, fetch]
      scores = tf.reshape(scores, [shape[0], -1])
      rows = tf.reshape(rows, [shape[0], -1])
    else:
      scores, rows = self.index(outputs[tower_io.EMBEDDING], k=fetch)
    scores = tf.where(is_in(rows, excluded),
                      tf.fill(tf.shape(scores), -np.inf), scores)
    scores, rows = merge_top_k(scores, rows, self.k)
    found = scores > -np.inf
    return {ITEM_IDS: tf.where(found, tf.gather(self.item_ids, rows), ''),
            SCORES: scores}

  def _serve(self, features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    return self._top_k(features)

  def _serve_with_exclusions(self, features: Dict[str, tf.Tensor],
                             exclude_item_ids: tf.Tensor
                             ) -> Dict[str, tf.Tensor]:
    return self._top_k(features, exclude_item_ids)

  def save(self, export_dir: str) -> None:
    """Saves the index SavedModel with its two signatures."""
    options = tf.saved_model.SaveOptions(
        namespace_whitelist=['Scann'] if self.kind is SCANN else None)
    tf.saved_model.save(self, export_dir, signatures={
        tower_io.SIGNATURE: self.serve.get_concrete_function(),
        EXCLUSIONS_SIGNATURE:
            self.serve_with_exclusions.get_concrete_function()},
                        options=options)

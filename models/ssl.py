"""The self-supervised item-tower task: InfoNCE loss and corpus sampling.

Pure TensorFlow, no TFX. The SSL batch is drawn from the item corpus (not from
the log; uniformly), both views go through the
shared item tower, and `info_nce` pulls the two views of an item together and pushes the other items of
the batch away (Yao et al., CIKM'21; docs/ssl.md).
"""
from typing import Any, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf

from models import augmentation
from models import features as features_lib
from models.config import SslItemId
from models.config import SslVariant


def info_nce(z1: tf.Tensor, z2: tf.Tensor, temperature: float,
             ids: Optional[tf.Tensor] = None,
             normalized: bool = False) -> tf.Tensor:
  """InfoNCE with in-batch negatives, cosine similarity / temperature, mean.

  L = -(1/N) sum_i log( exp(s(z1_i, z2_i)/t) / sum_j exp(s(z1_i, z2_j)/t) ),
  s = cosine similarity. Mean over the batch (unlike `tfrs.tasks.Retrieval`,
  whose default sums), so its scale does not depend on the SSL batch size.

  Args:
    z1: float [N, d], view-1 embeddings (normalized here; need not be on input).
    z2: float [N, d], view-2 embeddings of the same N items, same order.
    temperature: t > 0.
    ids: optional [N] item ids. When given, a negative j of row i with
      ids[j] == ids[i] (the same item sampled twice, which happens with uniform
      sampling with replacement) is left out of row i's softmax, like TFRS's
      accidental-hit removal.
    normalized: z1 and z2 are unit vectors already (the towers' outputs):
      not normalized again (the same loss and parameter gradients, to float
      rounding).

  Returns:
    Scalar float loss.
  """
  if temperature <= 0:
    raise ValueError(f'temperature must be > 0, got {temperature}')
  if not normalized:
    z1 = tf.math.l2_normalize(z1, axis=-1)
    z2 = tf.math.l2_normalize(z2, axis=-1)
  logits = tf.linalg.matmul(z1, z2, transpose_b=True) / temperature  # [N, N]
  n = tf.shape(logits)[0]
  if ids is not None:
    ids = tf.reshape(ids, [-1])
    same = tf.equal(ids[:, tf.newaxis], ids[tf.newaxis, :])
    duplicate = tf.logical_and(same, tf.logical_not(tf.eye(n, dtype=tf.bool)))
    logits = tf.where(duplicate, tf.constant(-1e9, logits.dtype), logits)
  # -log softmax of row i at i (cheaper than the sparse cross-entropy op).
  return tf.reduce_mean(tf.reduce_logsumexp(logits, axis=1)
                        - tf.linalg.diag_part(logits))


def uniform_item_sampler(num_items: int, batch_size: int,
                         seed: int) -> tf.data.Dataset:
  """Infinite batches of row indices drawn uniformly with replacement.

  Batch b is `stateless_uniform([batch_size], seed=[seed, b])`, so the stream
  is reproducible and independent of how often items occur in the log.

  Args:
    num_items: corpus size; indices are in [0, num_items).
    batch_size: indices per batch.
    seed: int seed.

  Returns:
    Dataset of int64 [batch_size].
  """
  if num_items < 1:
    raise ValueError(f'the item corpus is empty (num_items={num_items})')
  if batch_size < 1:
    raise ValueError(f'batch_size must be >= 1, got {batch_size}')

  def draw(step):
    return tf.random.stateless_uniform(
        [batch_size], seed=tf.stack([tf.constant(seed, tf.int64), step]),
        maxval=num_items, dtype=tf.int64)

  return tf.data.Dataset.counter(dtype=tf.int64).map(draw)


class ItemContrastiveTask(tf.Module):
  """The SSL loss of one batch of corpus items: two views, shared tower, InfoNCE.

  Holds its own random generator (seeded), so each call draws a new mask pair
  and new dropout, also inside `tf.function`.
  """

  def __init__(self, feature_config: features_lib.FeatureConfig,
               variant: SslVariant,
               temperature: float, dropout_rate: float,
               cfm_table: Optional[np.ndarray] = None, seed: int = 0,
               item_id_masked: bool = False):
    """Creates the task.

    Args:
      feature_config: item features in tower order.
      variant: SslVariant DROPOUT, RFM or CFM (or its string).
      temperature: InfoNCE temperature (TrainingConfig.ssl_temperature).
      dropout_rate: stage-2 value dropout rate.
      cfm_table: bool [k, k] from augmentation.cfm_mask_table; 'cfm' only.
      seed: seed of the task's generator.
      item_id_masked: mask the item id in both views (augmentation.id_apart);
        `cfm_table` is then over the other features.
    """
    super().__init__(name='item_contrastive_task')
    variant = SslVariant.parse(variant, 'ssl variant')
    if variant is SslVariant.NONE:
      raise ValueError("ssl variant must be 'dropout', 'rfm' or 'cfm', got "
                       "'none'")
    if variant is SslVariant.CFM and cfm_table is None:
      raise ValueError("ssl='cfm' needs the CFM mask table")
    if temperature <= 0:
      raise ValueError(f'ssl temperature must be > 0, got {temperature}')
    self.feature_config = feature_config
    self.variant = variant
    self.temperature = temperature
    self.dropout_rate = dropout_rate
    self.cfm_table = None if cfm_table is None else np.asarray(cfm_table, bool)
    self.generator = tf.random.Generator.from_seed(seed)
    self.item_id_masked = item_id_masked

  @classmethod
  def from_config(cls, feature_config: features_lib.FeatureConfig, config,
                  mutual_information: Optional[Mapping[str, Any]] = None
                  ) -> Optional['ItemContrastiveTask']:
    """The task for a TrainingConfig, or None when `config.ssl == 'none'`.

    Args:
      feature_config: item features in tower order.
      config: models.config.TrainingConfig.
      mutual_information: the parsed mutual_information.json; needed for 'cfm'.
    """
    if config.ssl is SslVariant.NONE:
      return None
    table = None
    item_id_masked = config.ssl_item_id is SslItemId.MASKED
    names = feature_config.item_feature_names
    if item_id_masked:
      names = names[1:]  # the item id is feature 0 (features.FeatureConfig)
    if config.ssl is SslVariant.CFM:
      if mutual_information is None:
        raise ValueError(
            "ssl='cfm' needs the MutualInformation artifact: wire the mutual "
            "information component into the Trainer, or choose ssl 'rfm', "
            "'dropout' or 'none'")
      table = augmentation.cfm_mask_table(augmentation.mi_matrix(
          mutual_information, names))
    return cls(feature_config, config.ssl, config.ssl_temperature,
               config.dropout_rate, table, seed=config.seed,
               item_id_masked=item_id_masked)

  def __call__(self, item_tower, features: Mapping[str, Any],
               ids: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Scalar SSL loss.

    Args:
      item_tower: the models.towers.ItemTower (its `embed_views`).
      features: item tower inputs of B items (dense [B] / ragged [B, None]).
      ids: optional [B] item ids (corpus rows); duplicates are not negatives.
    """
    return self.loss_and_embed(item_tower, features, ids)[0]

  def loss_and_embed(self, item_tower, features: Mapping[str, Any],
                     ids: Optional[tf.Tensor] = None,
                     others: Optional[Mapping[str, Any]] = None
                     ) -> Tuple[tf.Tensor, Optional[tf.Tensor]]:
    """(SSL loss, embeddings [M, d] of `others`, unmasked, or None).

    `others`: item tower inputs of M more items (the main batch's), embedded
    in the same tower call as the two views, so that a train step calls the
    item tower once; their embeddings equal `item_tower(others)`.
    """
    fc = self.feature_config
    names = fc.item_feature_names
    # The view masks as two_views draws them (its dropout left out here) ...
    view1, view2 = augmentation.two_views(
        features, fc, self.variant, 0.0, self.generator, self.cfm_table,
        self.item_id_masked)
    # ... and each list feature's dropout with the draws two_views would make
    # (view 1's features, then view 2's). The tower embeds both views in one
    # call (ItemTower.embed_views), after the M rows of `others`, so that a
    # train step calls the item tower once. With rfm / cfm the masks are
    # complementary: a feature is unmasked in one view at most, and only that
    # view's dropout of it is seen, so both views share one column of it.
    columns = {name: features[name] for name in names}
    second = {}
    targets = augmentation.dropout_targets(features, fc, self.dropout_rate)
    if targets:
      draws = [[self.generator.uniform(tf.shape(features[n].values))
                for n in targets] for _ in range(2)]
      for name, d1, d2 in zip(targets, *draws):
        if self.variant is SslVariant.DROPOUT:  # unmasked in both views
          columns[name] = _drop_values(features[name], d1, self.dropout_rate)
          second[name] = _drop_values(features[name], d2, self.dropout_rate)
        else:  # view 2's draws where view 1 masks the feature
          columns[name] = _drop_values(
              features[name], tf.where(view1.mask[names.index(name)], d2, d1),
              self.dropout_rate)
    embeddings = item_tower.embed_views(columns, view1.mask, view2.mask,
                                        second, others)
    other_embeddings = None
    if others is not None:
      batch = tf.shape(_rows_of(features[names[0]]))[0]
      other_embeddings, embeddings = tf.split(embeddings,
                                              tf.stack([-1, 2 * batch]))
    z1, z2 = tf.split(embeddings, 2)
    return (info_nce(z1, z2, self.temperature, ids, normalized=True),
            other_embeddings)


def _drop_values(column: tf.RaggedTensor, draws: tf.Tensor,
                 rate: float) -> tf.RaggedTensor:
  """augmentation.drop_values of `column` with the given draws."""
  rowids = column.value_rowids()
  keep = augmentation.dropout_keep(draws, rowids, rate)
  return tf.RaggedTensor.from_value_rowids(
      tf.boolean_mask(column.values, keep), tf.boolean_mask(rowids, keep),
      nrows=column.nrows(), validate=False)


def _rows_of(column) -> tf.Tensor:
  """A tensor with the column's batch as its first dimension."""
  return column.row_lengths() if isinstance(column, tf.RaggedTensor) else column

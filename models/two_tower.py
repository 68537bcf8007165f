"""The two-tower retrieval model: its losses and their mix, its train step.

Loss = main + ssl_weight * ssl + seq_ssl_weight * seq_ssl, each mean-reduced:
  main: in-batch softmax over cosine similarity / temperature
        (tfrs.tasks.Retrieval with a mean-reduced loss; optional logQ
        correction and accidental-hit removal).
  ssl:  contrastive loss between two augmented views of items drawn uniformly
        from the corpus (see models/ssl.py, models/augmentation.py); the SSL
        views go through the same `item_tower` object as the main task.
  seq_ssl: sequence-to-sequence InfoNCE between the K intentions of the past
        and the reversed future of each history (models/seq_ssl.py), only
        with query_encoder='sequence', whose main scores are max over the K
        intentions (models/sequence.py).
While `pretraining` (models/training.py, mode 'pretrain') a step is SSL-only
and moves the item tower's variables only.
"""
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs

from models import data
from models import logq
from models import loss_names
from models import seq_ssl
from models import ssl as ssl_lib
from models import towers
from models.config import SslVariant
from models.config import TrainingConfig

LOSS_NAMES = loss_names.LOSS_NAMES


class RetrievalModel(tfrs.Model):
  """Query tower + item tower over an in-memory item corpus."""

  def __init__(self, query_tower: towers.QueryTower,
               item_tower: towers.ItemTower, corpus: data.ItemCorpus,
               config: TrainingConfig,
               item_counts: Optional[np.ndarray] = None,
               ssl_task: Optional[ssl_lib.ItemContrastiveTask] = None,
               seq_ssl_task: Optional[seq_ssl.SequenceContrastiveTask] = None):
    super().__init__()
    self.query_tower = query_tower
    self.item_tower = item_tower
    self.corpus = corpus
    self.config = config
    self.task = tfrs.tasks.Retrieval(
        loss=tf.keras.losses.CategoricalCrossentropy(
            from_logits=True,
            # Per-example losses, averaged in main_loss: Keras refuses
            # SUM_OVER_BATCH_SIZE under a tf.distribute strategy.
            reduction=tf.keras.losses.Reduction.NONE),
        temperature=config.temperature,
        remove_accidental_hits=config.remove_accidental_hits)
    self._item_probability = None
    # The logQ correction's probabilities of the corpus rows
    # (models/logq.py); None without the correction.
    self.candidate_probability = None
    if config.logq_correction:
      if item_counts is None:
        raise ValueError('logq_correction needs the items\' training counts')
      self.candidate_probability = logq.candidate_probability(item_counts)
      self._item_probability = tf.constant(self.candidate_probability,
                                           tf.float32)
    self._trackers = {n: tf.keras.metrics.Mean(name=n) for n in LOSS_NAMES}
    if config.ssl is not SslVariant.NONE and ssl_task is None:
      raise ValueError(f'ssl={config.ssl!r} needs an ssl_task')
    self.ssl_task = ssl_task
    if config.seq_ssl_weight > 0 and seq_ssl_task is None:
      raise ValueError('seq_ssl_weight > 0 needs a seq_ssl_task')
    self.seq_ssl_task = seq_ssl_task
    # Python flag read when the train function is traced: after changing it,
    # call make_train_function(force=True).
    self.pretraining = False

  @property
  def metrics(self):
    return list(self._trackers.values())

  def main_loss(self, batch: Dict[str, Any],
                query_embeddings: Optional[tf.Tensor] = None,
                item_embeddings: Optional[tf.Tensor] = None) -> tf.Tensor:
    """In-batch softmax loss, mean over the batch. batch: see data.interaction_dataset.

    `query_embeddings`: the query tower's output on the batch when already
    computed (with the sequence SSL task: one encoder call for both).
    `item_embeddings`: the item tower's [B, d] of the batch's items, when
    already computed (losses_for: one item tower call with the SSL views).
    """
    rows = batch[data.ITEM_ROW]
    if query_embeddings is None:
      query_embeddings = self.query_tower(batch[data.QUERY])    # [B, d]
    if item_embeddings is None:
      item_embeddings = self.item_tower(self.corpus.gather(rows))  # [B, d]
    probability = None
    if self._item_probability is not None:
      probability = tf.gather(self._item_probability, rows)
    # K intentions [B, K, d]: the task scores an item by the max over K
    # itself (tfrs maxsim, sequence.max_over_intentions).
    kwargs = {}
    if self.config.remove_accidental_hits:
      kwargs['candidate_ids'] = rows
    if probability is not None:
      kwargs['candidate_sampling_probability'] = probability
    return tf.reduce_mean(self.task(
        query_embeddings, item_embeddings, compute_metrics=False,
        compute_batch_metrics=False, **kwargs))

  def ssl_loss(self, ssl_rows: tf.Tensor) -> tf.Tensor:
    """SSL loss (mean InfoNCE) on corpus rows int64 [S]; 0 when ssl=none."""
    if self.ssl_task is None:
      return tf.constant(0.0)
    return self.ssl_task(self.item_tower, self.corpus.gather(ssl_rows), ssl_rows)

  def seq_ssl_loss(self, batch: Dict[str, Any], training: bool):
    """(query tower output or None, sequence-to-sequence SSL loss; 0 when
    off): both from one encoder call (models/seq_ssl.py)."""
    if self.seq_ssl_task is None:
      return None, tf.constant(0.0)
    return self.seq_ssl_task.query_and_loss(self.query_tower,
                                            batch[data.QUERY], training)

  def losses_for(self, inputs, training: bool = False) -> Dict[str, tf.Tensor]:
    """inputs: (main batch, SSL corpus rows [S]); see _with_ssl_rows."""
    batch, ssl_rows = inputs
    if self.pretraining:
      ssl = self.ssl_loss(ssl_rows)
      return {'ssl_loss': ssl, 'total_loss': ssl}
    item_embeddings = None
    if self.ssl_task is None:
      ssl = tf.constant(0.0)
    else:  # one item tower call for the SSL views and the batch's items
      ssl, item_embeddings = self.ssl_task.loss_and_embed(
          self.item_tower, self.corpus.gather(ssl_rows), ssl_rows,
          self.corpus.gather(batch[data.ITEM_ROW]))
    query, seq = self.seq_ssl_loss(batch, training)
    main = self.main_loss(batch, query, item_embeddings)
    total = (main + self.config.ssl_weight * ssl
             + self.config.seq_ssl_weight * seq)
    return {'main_loss': main, 'ssl_loss': ssl, 'total_loss': total,
            'seq_ssl_loss': seq}

  def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
    # As tfrs.Model: without the regularization losses, which the steps add.
    return self.losses_for(inputs, training)['total_loss']

  def _regularized(self, losses: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """`losses` with the layers' regularization losses added to total_loss."""
    if not self.losses:
      return losses
    return dict(losses, total_loss=losses['total_loss'] + tf.add_n(self.losses))

  def _report(self, losses):
    for name, value in losses.items():
      self._trackers[name].update_state(value)
    return {name: self._trackers[name].result() for name in losses}

  def train_step(self, inputs):
    with tf.GradientTape() as tape:
      losses = self._regularized(self.losses_for(inputs, training=True))
      # Replicas' gradients are summed: scale each replica's mean loss so
      # the update is the mean over replicas (1 replica: unchanged).
      scaled = losses['total_loss'] / (
          tf.distribute.get_strategy().num_replicas_in_sync)
    variables = (self.item_tower.trainable_variables if self.pretraining
                 else self.trainable_variables)
    gradients = tape.gradient(scaled, variables)
    # The default embeddings get no gradient without masking (ssl none or
    # dropout): skip them instead of warning on every trace.
    self.optimizer.apply_gradients(
        [(g, v) for g, v in zip(gradients, variables) if g is not None])
    return self._report(losses)

  def test_step(self, inputs):
    return self._report(self._regularized(self.losses_for(inputs)))

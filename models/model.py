"""The two-tower retrieval model and the Trainer's `run_fn`.

Loss = main + ssl_weight * ssl, both mean-reduced over their batches:
  main: in-batch softmax over cosine similarity / temperature
        (tfrs.tasks.Retrieval with a mean-reduced loss; optional logQ
        correction and accidental-hit removal).
  ssl:  contrastive loss between two augmented views of items drawn uniformly
        from the corpus (see models/ssl.py, models/augmentation.py).
"""
import logging
import math
import os
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tensorflow_transform as tft
from tfx.dsl.io import fileio

from models import data
from models import export
from models import features as F
from models import preprocessing
from models import towers
from models.config import TrainingConfig

LOSS_NAMES = ('main_loss', 'ssl_loss', 'total_loss')


class RetrievalModel(tfrs.Model):
  """Query tower + item tower over an in-memory item corpus."""

  def __init__(self, query_tower: towers.QueryTower,
               item_tower: towers.ItemTower, corpus: data.ItemCorpus,
               config: TrainingConfig,
               item_counts: Optional[np.ndarray] = None):
    super().__init__()
    self.query_tower = query_tower
    self.item_tower = item_tower
    self.corpus = corpus
    self.config = config
    self.task = tfrs.tasks.Retrieval(
        loss=tf.keras.losses.CategoricalCrossentropy(
            from_logits=True,
            reduction=tf.keras.losses.Reduction.SUM_OVER_BATCH_SIZE),
        temperature=config.temperature,
        remove_accidental_hits=config.remove_accidental_hits)
    self._item_probability = None
    if config.logq_correction:
      if item_counts is None:
        raise ValueError('logq_correction needs the items\' training counts')
      # Smoothed so that an item never seen in training has p > 0.
      p = (item_counts + 1.0) / (item_counts.sum() + len(item_counts))
      self._item_probability = tf.constant(p, tf.float32)
    self._trackers = {n: tf.keras.metrics.Mean(name=n) for n in LOSS_NAMES}

  @property
  def metrics(self):
    return list(self._trackers.values())

  def main_loss(self, batch: Dict[str, Any]) -> tf.Tensor:
    """In-batch softmax loss, mean over the batch. batch: see data.interaction_dataset."""
    rows = batch[data.ITEM_ROW]
    query_embeddings = self.query_tower(batch[data.QUERY])      # [B, d]
    item_embeddings = self.item_tower(self.corpus.gather(rows))  # [B, d]
    kwargs = {}
    if self.config.remove_accidental_hits:
      kwargs['candidate_ids'] = rows
    if self._item_probability is not None:
      kwargs['candidate_sampling_probability'] = tf.gather(
          self._item_probability, rows)
    return self.task(query_embeddings, item_embeddings, compute_metrics=False,
                     compute_batch_metrics=False, **kwargs)

  def ssl_loss(self, ssl_rows: Optional[tf.Tensor]) -> tf.Tensor:
    """Self-supervised item loss on corpus rows drawn uniformly; 0 when ssl=none."""
    del ssl_rows
    return tf.constant(0.0)

  def losses_for(self, inputs, training: bool = False) -> Dict[str, tf.Tensor]:
    batch, ssl_rows = inputs
    main = self.main_loss(batch)
    ssl = self.ssl_loss(ssl_rows)
    total = main + self.config.ssl_weight * ssl
    return {'main_loss': main, 'ssl_loss': ssl, 'total_loss': total}

  def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
    return self.losses_for(inputs, training)['total_loss']

  def _report(self, losses):
    for name, value in losses.items():
      self._trackers[name].update_state(value)
    return {name: t.result() for name, t in self._trackers.items()}

  def train_step(self, inputs):
    with tf.GradientTape() as tape:
      losses = self.losses_for(inputs, training=True)
    variables = self.trainable_variables
    gradients = tape.gradient(losses['total_loss'], variables)
    self.optimizer.apply_gradients(zip(gradients, variables))
    return self._report(losses)

  def test_step(self, inputs):
    return self._report(self.losses_for(inputs))


class _LossSummaries(tf.keras.callbacks.Callback):
  """Writes main_loss / ssl_loss / total_loss per epoch as TensorBoard scalars."""

  def __init__(self, log_dir: str):
    super().__init__()
    self._writers = {'train': tf.summary.create_file_writer(
        os.path.join(log_dir, 'train')), 'validation': tf.summary.create_file_writer(
            os.path.join(log_dir, 'validation'))}

  def on_epoch_end(self, epoch, logs=None):
    logs = logs or {}
    for split, prefix in (('train', ''), ('validation', 'val_')):
      with self._writers[split].as_default():
        for name in LOSS_NAMES:
          if prefix + name in logs:
            tf.summary.scalar(name, logs[prefix + name], step=epoch)
      self._writers[split].flush()
    logging.info('epoch %d: %s', epoch + 1, ', '.join(
        f'{k}={v:.4f}' for k, v in sorted(logs.items())))


def _optimizer(config: TrainingConfig):
  if config.optimizer == 'adam':
    return tf.keras.optimizers.Adam(config.learning_rate)
  return tf.keras.optimizers.Adagrad(config.learning_rate)


def _with_ssl_rows(ds: tf.data.Dataset, config: TrainingConfig,
                   num_items: int) -> tf.data.Dataset:
  """Zips main batches with SSL corpus rows drawn uniformly (or None)."""
  if config.ssl == 'none':
    return ds.map(lambda batch: (batch, tf.zeros([0], tf.int64)))
  sampler = tf.data.Dataset.random(seed=config.seed).map(
      lambda x: x % num_items).batch(config.ssl_batch_size)
  return tf.data.Dataset.zip((ds, sampler))


def build_model(feature_config: F.FeatureConfig, config: TrainingConfig,
                query_tft: tft.TFTransformOutput, item_tft: tft.TFTransformOutput,
                corpus: data.ItemCorpus,
                item_counts: Optional[np.ndarray] = None) -> RetrievalModel:
  """Creates the towers (table sizes from the TFT vocabularies) and the model."""
  item_sizes = {f.name: preprocessing.num_ids(f, item_tft, config)
                for f in feature_config.item_features}
  history = [f.name for f in feature_config.query_features if f.kind == F.HISTORY]
  query_sizes = {f.name: preprocessing.num_ids(f, query_tft, config)
                 for f in feature_config.query_features if f.kind != F.HISTORY}
  item_tower = towers.ItemTower(feature_config.item_feature_names, item_sizes,
                                config.embedding_dim, config.tower_layers)
  query_tower = towers.QueryTower(
      feature_config.query_feature_names, query_sizes, config.embedding_dim,
      config.tower_layers, history_feature=history[0] if history else None,
      item_keys=corpus.keys.tolist())
  return RetrievalModel(query_tower, item_tower, corpus, config, item_counts)


def train(feature_config: F.FeatureConfig, config: TrainingConfig,
          query_tft: tft.TFTransformOutput, item_tft: tft.TFTransformOutput,
          corpus: data.ItemCorpus, train_files, eval_files,
          log_dir: Optional[str] = None) -> RetrievalModel:
  """Trains the model on the transformed interaction files."""
  tf.keras.utils.set_random_seed(config.seed)
  item_counts = data.count_items(train_files, query_tft, corpus, 'train split')
  data.count_items(eval_files, query_tft, corpus, 'eval split')
  model = build_model(feature_config, config, query_tft, item_tft, corpus,
                      item_counts)
  model.compile(optimizer=_optimizer(config))
  train_ds = data.interaction_dataset(
      train_files, query_tft, feature_config.query_features, corpus,
      config.batch_size, shuffle=True, seed=config.seed)
  eval_ds = data.interaction_dataset(
      eval_files, query_tft, feature_config.query_features, corpus,
      config.batch_size, shuffle=False)
  steps_per_epoch = None
  if config.train_steps:
    train_ds = train_ds.repeat()
    steps_per_epoch = max(1, math.ceil(config.train_steps / config.epochs))
  callbacks = [_LossSummaries(log_dir)] if log_dir else []
  logging.info('training: %d corpus items, %d train events, config %s',
               len(corpus), int(item_counts.sum()), config.to_dict())
  model.fit(_with_ssl_rows(train_ds, config, len(corpus)),
            validation_data=_with_ssl_rows(eval_ds, config, len(corpus)),
            epochs=config.epochs, steps_per_epoch=steps_per_epoch,
            callbacks=callbacks, verbose=0)
  return model


def run_fn(fn_args) -> None:
  """TFX Trainer entry point (see components/trainer for the extra fn_args)."""
  feature_config = F.FeatureConfig.from_dict(fn_args.custom_config['features'])
  config = TrainingConfig.from_dict(fn_args.custom_config['training'])
  query_tft = tft.TFTransformOutput(fn_args.transform_output)
  item_tft = tft.TFTransformOutput(fn_args.item_transform_output)
  corpus = data.load_corpus(fn_args.item_files, item_tft,
                            feature_config.item_features)
  model = train(feature_config, config, query_tft, item_tft, corpus,
                fn_args.train_files, fn_args.eval_files,
                log_dir=fn_args.model_run_dir)
  export.export_query_tower(fn_args.serving_model_dir, model.query_tower,
                            query_tft, feature_config)
  export.export_item_tower(fn_args.item_serving_model_dir, model.item_tower,
                           item_tft, feature_config)
  fileio.makedirs(fn_args.model_run_dir)

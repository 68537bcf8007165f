"""Training: the Keras fit loop, the SSL row stream, the pretraining schedule.

`train` counts the items of the transformed log, builds the model
(models/assembly.py) under the tf.distribute strategy, zips every main batch
with its SSL corpus rows, runs (mode 'pretrain') `pretrain_steps` SSL-only
steps (item tower variables only, the same optimizer) before the joint
epochs, and logs progress (models/progress.py) and per-epoch loss summaries.
"""
import logging
import math
import os
from typing import Any, Dict, Optional

import tensorflow as tf
import tensorflow_transform as tft

from models import assembly
from models import data
from models import distribute
from models import features as F
from models import progress
from models import ssl as ssl_lib
from models.config import Mode
from models.config import Optimizer
from models.config import SslVariant
from models.config import TrainingConfig
from models.two_tower import LOSS_NAMES
from models.two_tower import RetrievalModel


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
  if config.optimizer is Optimizer.ADAM:
    return tf.keras.optimizers.Adam(config.learning_rate)
  return tf.keras.optimizers.Adagrad(config.learning_rate)


def _with_ssl_rows(ds: tf.data.Dataset, config: TrainingConfig,
                   num_items: int, seed: int) -> tf.data.Dataset:
  """Zips main batches with SSL corpus rows int64 [ssl_batch_size].

  The rows are drawn uniformly with replacement from the whole corpus, by a
  pipeline of their own; empty [0] when ssl=none.
  """
  if config.ssl is SslVariant.NONE:
    return ds.map(lambda batch: (batch, tf.zeros([0], tf.int64)))
  sampler = ssl_lib.uniform_item_sampler(num_items, config.ssl_batch_size,
                                         seed)
  return tf.data.Dataset.zip((ds, sampler))


def _pretrain(model: RetrievalModel, config: TrainingConfig,
              first_batch: Dict[str, Any], log_dir: Optional[str]) -> None:
  """mode=pretrain: `pretrain_steps` SSL-only steps, then back to joint steps."""
  # Create every variable and the optimizer's slots for all of them now: the
  # joint phase updates the query tower, which pretraining never calls.
  model.losses_for((first_batch, tf.zeros([2], tf.int64)))
  model.optimizer.build(model.trainable_variables)
  # Up to 10 TensorBoard points, with exactly pretrain_steps steps in total.
  epochs = max(d for d in range(1, 11) if config.pretrain_steps % d == 0)
  rows = ssl_lib.uniform_item_sampler(len(model.corpus), config.ssl_batch_size,
                                      config.seed + 2)
  callbacks = ([_LossSummaries(os.path.join(log_dir, 'pretrain'))]
               if log_dir else [])
  logging.info('SSL pretraining: %d steps', config.pretrain_steps)
  model.pretraining = True
  model.make_train_function(force=True)
  model.fit(rows.map(lambda r: (tf.zeros([0], tf.int64), r)), epochs=epochs,
            steps_per_epoch=config.pretrain_steps // epochs,
            callbacks=callbacks, verbose=0)
  model.pretraining = False
  model.make_train_function(force=True)


def _per_worker(ds_fn, strategy: tf.distribute.Strategy):
  """Keras input: `ds_fn()` as is, or one copy per worker under a strategy.

  Each worker's batches are its own (no re-batching across replicas), so the
  in-batch softmax sees `batch_size` examples on every worker as on one.
  """
  if strategy.num_replicas_in_sync == 1:
    return ds_fn()
  return strategy.distribute_datasets_from_function(lambda _: ds_fn())


def train(feature_config: F.FeatureConfig, config: TrainingConfig,
          query_tft: tft.TFTransformOutput, item_tft: tft.TFTransformOutput,
          corpus: data.ItemCorpus, train_files, eval_files,
          log_dir: Optional[str] = None,
          mutual_information: Optional[Dict[str, Any]] = None,
          workers: Optional[distribute.Workers] = None,
          strategy: Optional[tf.distribute.Strategy] = None) -> RetrievalModel:
  """Trains the model on the transformed interaction files.

  Under several workers (`workers`, `strategy`: models/distribute.py) every
  worker runs the same number of steps on its own share of the batches.
  """
  workers = workers or distribute.Workers()
  strategy = strategy or tf.distribute.get_strategy()
  tf.keras.utils.set_random_seed(config.seed)
  item_counts = data.count_items(train_files, query_tft, corpus, 'train split')
  eval_counts = data.count_items(eval_files, query_tft, corpus, 'eval split')
  with strategy.scope():
    model = assembly.build_model(feature_config, config, query_tft, item_tft,
                                 corpus, item_counts, mutual_information)
    model.compile(optimizer=_optimizer(config))

  def train_ds():
    ds = data.interaction_dataset(
        train_files, query_tft, feature_config.query_features, corpus,
        config.batch_size, shuffle=True, seed=config.seed)
    ds = workers.shard(ds if workers.num_workers == 1 and not config.train_steps
                       else ds.repeat())
    return _with_ssl_rows(ds, config, len(corpus), workers.seed(config.seed))

  def eval_ds():
    ds = data.interaction_dataset(
        eval_files, query_tft, feature_config.query_features, corpus,
        config.batch_size, shuffle=False)
    ds = workers.shard(ds if workers.num_workers == 1 else ds.repeat())
    return _with_ssl_rows(ds, config, len(corpus),
                          workers.seed(config.seed + 1))

  steps_per_epoch, validation_steps = None, None
  if config.train_steps:
    steps_per_epoch = max(1, math.ceil(config.train_steps / config.epochs))
  elif workers.num_workers > 1:  # equal step counts: collectives must match
    steps_per_epoch = max(1, int(item_counts.sum()) // config.batch_size
                          // workers.num_workers)
  if workers.num_workers > 1:
    validation_steps = max(1, math.ceil(int(eval_counts.sum()) /
                                        config.batch_size) // workers.num_workers)
  callbacks = [_LossSummaries(log_dir)] if log_dir and workers.is_chief else []
  callbacks.append(progress.Progress(
      steps_per_epoch or int(item_counts.sum()) // config.batch_size,
      config.batch_size, config.epochs))
  logging.info('training: %d corpus items, %d train events, %s, config %s',
               len(corpus), int(item_counts.sum()),
               distribute.describe(strategy, workers), config.to_dict())
  if config.mode is Mode.PRETRAIN:  # TrainingConfig ensures pretrain_steps > 0
    first_batch, _ = next(iter(eval_ds()))  # (main batch, SSL rows)
    _pretrain(model, config, first_batch, log_dir)
  model.fit(_per_worker(train_ds, strategy),
            validation_data=_per_worker(eval_ds, strategy),
            epochs=config.epochs, steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            callbacks=callbacks, verbose=0)
  return model

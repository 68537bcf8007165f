"""The two-tower retrieval model and the Trainer's `run_fn`.

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
mode 'pretrain' runs `pretrain_steps` SSL-only steps (item tower variables
only) before the joint steps, with the same optimizer.
"""
import json
import logging
import math
import os
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tensorflow_transform as tft
from tfx.dsl.io import fileio

from components.trainer import progress
from models import data
from models import distribute
from models import export
from models import logq
from models import loss_names
from models import features as F
from models import preprocessing
from models import seq_ssl
from models import sequence
from models import ssl as ssl_lib
from models import towers
from models.config import Mode
from models.config import QueryEncoder
from models.config import Optimizer
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


def _shared_history(item_tower: towers.ItemTower,
                    feature_config: F.FeatureConfig, corpus: data.ItemCorpus,
                    item_sizes: Dict[str, int]):
  """(the item tower's item id table, history lookup id -> row of it).

  History lookup ids are 0 for an unknown key and 1 + corpus row otherwise
  (towers.QueryTower); an unknown key maps to the id table's OOV row.
  """
  id_feature = feature_config.item_features[0]
  if id_feature.kind != F.ID:
    raise ValueError("query_encoder 'pooled' embeds the history with the item "
                     'tower\'s id table: it needs the item id as the first item '
                     f'feature, which is {id_feature.name!r}')
  oov = item_sizes[id_feature.name] - 1
  ids = tf.cast(corpus.features[id_feature.name], tf.int64)
  index = tf.concat([tf.constant([oov], tf.int64), ids], axis=0)
  return item_tower.tables[0], index


def build_model(feature_config: F.FeatureConfig, config: TrainingConfig,
                query_tft: tft.TFTransformOutput, item_tft: tft.TFTransformOutput,
                corpus: data.ItemCorpus,
                item_counts: Optional[np.ndarray] = None,
                mutual_information: Optional[Dict[str, Any]] = None
                ) -> RetrievalModel:
  """Creates the towers (table sizes from the TFT vocabularies) and the model.

  `mutual_information` (the parsed MutualInformation JSON) is needed for
  ssl=cfm.
  """
  item_sizes = {f.name: preprocessing.num_ids(f, item_tft)
                for f in feature_config.item_features}
  query_sizes = {f.name: preprocessing.num_ids(f, query_tft)
                 for f in feature_config.query_features if f.kind != F.HISTORY}
  return assemble_model(feature_config, config, item_sizes, query_sizes,
                        corpus, item_counts, mutual_information)


def effective_config(feature_config: F.FeatureConfig, config: TrainingConfig
                     ) -> TrainingConfig:
  """`config` as the schema can train it. The sequence encoder reads the
  history feature: without one (no `sslrec:history` in the interactions
  schema) the query tower pools the other query features (query_encoder
  'pooled', logged once per model built); seq_ssl_weight > 0 then is an
  error naming the missing feature."""
  if config.query_encoder is not QueryEncoder.SEQUENCE or any(
      f.kind == F.HISTORY for f in feature_config.query_features):
    return config
  if config.seq_ssl_weight > 0:
    raise ValueError('training config: seq_ssl_weight > 0 needs a history '
                     'feature (tagged sslrec:history) in the interactions '
                     'schema; it has none')
  logging.warning("query_encoder 'sequence' needs a history feature (tagged "
                  "sslrec:history) and the interactions schema has none: "
                  "the query tower is 'pooled'")
  return config.replace(query_encoder=QueryEncoder.POOLED.value)


def assemble_model(feature_config: F.FeatureConfig, config: TrainingConfig,
                   item_sizes: Dict[str, int], query_sizes: Dict[str, int],
                   corpus: data.ItemCorpus,
                   item_counts: Optional[np.ndarray] = None,
                   mutual_information: Optional[Dict[str, Any]] = None
                   ) -> RetrievalModel:
  """The towers and the model from the id table sizes (build_model reads them
  from the TFT vocabularies; bench/train_step.py gives its own)."""
  config = effective_config(feature_config, config)
  ssl_task = ssl_lib.ItemContrastiveTask.from_config(
      feature_config, config, mutual_information)
  history = [f.name for f in feature_config.query_features if f.kind == F.HISTORY]
  item_tower = towers.ItemTower(
      feature_config.item_feature_names, item_sizes,
      config.feature_embedding_dim, config.tower_layers)
  query_names = [f.name for f in feature_config.query_features
                 if config.query_id_embedding or f.kind != F.ID]
  shared_history = None
  if history and config.query_encoder is QueryEncoder.POOLED:
    shared_history = _shared_history(item_tower, feature_config, corpus,
                                     item_sizes)
  query_tower = build_query_tower(
      query_names, query_sizes, config, history[0] if history else None,
      corpus.keys.tolist(), shared_history)
  return RetrievalModel(query_tower, item_tower, corpus, config, item_counts,
                        ssl_task, seq_ssl.SequenceContrastiveTask.from_config(
                            config))


def build_query_tower(feature_names, table_sizes, config: TrainingConfig,
                      history_feature, item_keys,
                      shared_history=None) -> towers.QueryTower:
  """The query tower of `config.query_encoder` (pooled or sequence).

  `shared_history` (pooled only): the item tower's id table and the history
  lookup's index into it; the sequence encoder embeds its history with a
  table of its own (docs/ssl.md).
  """
  if config.query_encoder is QueryEncoder.SEQUENCE:
    return sequence.SequenceQueryTower(
        feature_names, table_sizes, config.feature_embedding_dim,
        config.tower_layers,
        history_feature, item_keys, config.num_intentions,
        config.sequence_max_length, attention=config.sequence_attention)
  return towers.QueryTower(feature_names, table_sizes,
                           config.feature_embedding_dim, config.tower_layers,
                           history_feature=history_feature, item_keys=item_keys,
                           history_max_length=config.history_max_length,
                           shared_history=shared_history)


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
    model = build_model(feature_config, config, query_tft, item_tft, corpus,
                        item_counts, mutual_information)
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


def _read_mutual_information(path: Optional[str]) -> Optional[Dict[str, Any]]:
  if not path:
    return None
  if not fileio.exists(path):
    raise FileNotFoundError(f'mutual information file not found: {path}')
  with fileio.open(path, 'r') as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f'{path}: not valid JSON: {e}') from e


def run_fn(fn_args) -> None:
  """TFX Trainer entry point (see components/trainer for the extra fn_args).

  Runs under the tf.distribute strategy of the environment (TF_CONFIG:
  models/distribute.py); only the chief writes the exported towers.
  """
  workers = distribute.workers()
  strategy = distribute.strategy()
  feature_config = F.FeatureConfig.from_dict(fn_args.custom_config['features'])
  config = TrainingConfig.from_dict(fn_args.custom_config['training'])
  query_tft = tft.TFTransformOutput(fn_args.transform_output)
  item_tft = tft.TFTransformOutput(fn_args.item_transform_output)
  corpus = data.load_corpus(fn_args.item_files, item_tft,
                            feature_config.item_features)
  model = train(feature_config, config, query_tft, item_tft, corpus,
                fn_args.train_files, fn_args.eval_files,
                log_dir=fn_args.model_run_dir,
                mutual_information=_read_mutual_information(
                    getattr(fn_args, 'mutual_information_path', None)),
                workers=workers, strategy=strategy)
  for export_fn, path, tower, tft_output in (
      (export.export_query_tower, fn_args.serving_model_dir,
       model.query_tower, query_tft),
      (export.export_item_tower, fn_args.item_serving_model_dir,
       model.item_tower, item_tft)):
    target = workers.export_dir(path)
    export_fn(target, tower, tft_output, feature_config)
    workers.discard(target)
  fileio.makedirs(fn_args.model_run_dir)

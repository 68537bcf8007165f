"""The towers and the model from a TrainingConfig and the id table sizes.

`build_model` reads the table sizes from the TF Transform vocabularies;
`assemble_model` takes them as given (bench/train_step.py); `effective_config`
is the config as the schema can train it (no history feature: pooled).
"""
import logging
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from models import data
from models import features as F
from models import preprocessing
from models import seq_ssl
from models import sequence
from models import ssl as ssl_lib
from models import towers
from models.config import QueryEncoder
from models.config import TrainingConfig
from models.two_tower import RetrievalModel


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

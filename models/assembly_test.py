"""The towers a config assembles (models/assembly.py), trained on real TF
Transform output of tiny data: history embedded by the item tower's id table,
history truncation, no user id embedding, pooling without a history feature.
Exported towers must serve like the trained ones."""
import dataclasses
import logging

import numpy as np
import pytest
import tensorflow as tf

from models import assembly
from models import data
from models import export
from models import features as F
from models import sequence
from models import towers
from models import training
from models.config import TrainingConfig
from tests.support import tft as test_tft

CONFIG = TrainingConfig(epochs=2, batch_size=16, feature_embedding_dim=8,
                        tower_layers=(16, 8), learning_rate=0.2,
                        seed=1, ssl='none', temperature=0.1,
                        history_max_length=3,
                        query_id_embedding=False,
                        logq_correction=True, query_encoder='pooled')


@pytest.fixture(scope='module')
def setup(tiny_transformed, tmp_path_factory):
  setup = dict(tiny_transformed, root=tmp_path_factory.mktemp('options'))
  setup['model'] = training.train(
      setup['fc'], CONFIG, setup['query_tft'], setup['item_tft'],
      setup['corpus'], setup['files'], setup['files'])
  export.export_query_tower(str(setup['root'] / 'query'),
                            setup['model'].query_tower, setup['query_tft'],
                            setup['fc'])
  return setup


def _batch(setup):
  return next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], setup['fc'].query_features,
      setup['corpus'], batch_size=len(setup['interactions']), shuffle=False)))


def test_history_shares_the_item_id_table(setup):
  query_tower, item_tower = setup['model'].query_tower, setup['model'].item_tower
  table, index = query_tower.shared_history
  assert table is item_tower.tables[0]
  corpus = setup['corpus']
  # Lookup id 1 + r is corpus row r, whose item id index is the corpus's.
  np.testing.assert_array_equal(index.numpy()[1:],
                                corpus.features['item_id'].numpy())
  # 0 (an unknown key) is the id table's OOV row, the last one.
  assert index.numpy()[0] == item_tower.tables[0].shape[0] - 1


def test_query_tower_has_no_user_id_table(setup):
  assert 'user_id' not in setup['model'].query_tower.feature_names


def test_only_the_most_recent_history_items_count(setup):
  query_tower = setup['model'].query_tower
  inputs = dict(_batch(setup)[data.QUERY])
  full = query_tower(inputs).numpy()
  history = inputs['history']
  kept = history[:, :CONFIG.history_max_length]
  # Dropping items beyond the first 3 changes nothing; changing the first does.
  inputs['history'] = tf.concat(
      [kept, tf.ragged.constant([['i0']] * int(history.nrows()))], axis=1)
  np.testing.assert_allclose(
      query_tower(inputs).numpy()[kept.row_lengths().numpy() == 3],
      full[kept.row_lengths().numpy() == 3], atol=1e-6)


def test_exported_query_tower_serves_like_training(setup):
  trained = setup['model'].query_tower(_batch(setup)[data.QUERY]).numpy()
  served = tf.saved_model.load(str(setup['root'] / 'query'))
  exported = served.signatures['serving_default'](
      **test_tft.raw_inputs(setup['interactions'], setup['fc'].query_features))['embedding']
  np.testing.assert_allclose(exported.numpy(), trained, atol=1e-5)


def test_training_lowers_the_main_loss(setup):
  history = setup['model'].history.history['main_loss']
  assert np.isfinite(history).all() and history[-1] < history[0]


def test_logq_is_each_items_smoothed_share(setup):
  # Every corpus row its own candidate, (count + 1) / (events + items).
  counts = data.count_items(setup['files'], setup['query_tft'],
                            setup['corpus'], 'train')
  np.testing.assert_array_equal(
      setup['model'].candidate_probability,
      (counts + 1.0) / (counts.sum() + len(counts)))


def test_bad_option_values_are_errors_naming_the_field():
  with pytest.raises(ValueError, match='history_max_length'):
    CONFIG.replace(history_max_length=-1)


def test_without_a_history_feature_the_sequence_encoder_pools(setup, caplog):
  fc = setup['fc']
  no_history = dataclasses.replace(fc, query_features=tuple(
      f for f in fc.query_features if f.kind != F.HISTORY))
  counts = data.count_items(setup['files'], setup['query_tft'],
                            setup['corpus'], 'train')  # logQ needs them
  config = CONFIG.replace(query_encoder='sequence')
  with caplog.at_level(logging.WARNING):
    model = assembly.build_model(no_history, config, setup['query_tft'],
                                 setup['item_tft'], setup['corpus'], counts)
  said = [r.getMessage() for r in caplog.records if 'query_encoder' in r.getMessage()]
  assert said == ["query_encoder 'sequence' needs a history feature (tagged "
                  "sslrec:history) and the interactions schema has none: the "
                  "query tower is 'pooled'"]
  assert type(model.query_tower) is towers.QueryTower  # pylint: disable=unidiomatic-typecheck
  assert model.config.query_encoder.value == 'pooled'
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], no_history.query_features,
      setup['corpus'], batch_size=8, shuffle=False)))
  assert model.query_tower(batch['query']).shape == [8, CONFIG.tower_layers[-1]]
  # With the history feature the same config builds the sequence tower.
  with_history = assembly.build_model(fc, config, setup['query_tft'],
                                      setup['item_tft'], setup['corpus'],
                                      counts)
  assert isinstance(with_history.query_tower, sequence.SequenceQueryTower)
  # The sequence SSL loss has no fallback: one error naming the feature.
  with pytest.raises(ValueError, match=r'seq_ssl_weight > 0 needs a history '
                     r'feature \(tagged sslrec:history\)'):
    assembly.build_model(no_history, config.replace(seq_ssl_weight=0.1),
                         setup['query_tft'], setup['item_tft'],
                         setup['corpus'], counts)

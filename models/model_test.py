"""Training and export on real TF Transform output of tiny data."""
import dataclasses
import logging

import numpy as np
import pytest
import tensorflow as tf

from models import data
from models import features as F
from models import model as model_lib
from models import sequence
from models import towers
from models.config import TrainingConfig
from tests.support import tft as test_tft

CONFIG = TrainingConfig(epochs=3, batch_size=16, feature_embedding_dim=8,
                        tower_layers=(16, 8), learning_rate=0.2,
                        seed=1, ssl='none', temperature=0.1,
                        query_encoder='pooled')


@pytest.fixture(scope='module')
def setup(tiny_transformed, tmp_path_factory):
  return test_tft.train_and_export(
      tiny_transformed, tmp_path_factory.mktemp('model'), CONFIG)


@pytest.fixture(scope='module')
def served_query(setup):
  """The exported query tower, loaded back once for the tests that read it."""
  return tf.saved_model.load(str(setup['root'] / 'query'))


def test_corpus_holds_every_item_once(setup):
  assert sorted(setup['corpus'].keys.tolist()) == sorted(
      r['item_id'] for r in setup['items'])


def test_item_embedding_same_from_corpus_row_and_from_raw_features(setup):
  corpus, fc = setup['corpus'], setup['feature_config']
  rows = tf.range(len(corpus), dtype=tf.int64)
  trained = setup['model'].item_tower(corpus.gather(rows)).numpy()
  by_key = {r['item_id']: r for r in setup['items']}
  raw_rows = [by_key[k] for k in corpus.keys.tolist()]
  served = tf.saved_model.load(str(setup['root'] / 'item'))
  exported = served.signatures['serving_default'](
      **test_tft.raw_inputs(raw_rows, fc.item_features))['embedding'].numpy()
  np.testing.assert_allclose(exported, trained, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(exported, axis=1), 1.0, atol=1e-5)


def test_query_tower_serves_raw_features_like_training(setup, served_query):
  fc = setup['feature_config']
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], fc.query_features, setup['corpus'],
      batch_size=len(setup['interactions']), shuffle=False)))
  trained = setup['model'].query_tower(batch[data.QUERY]).numpy()
  # The transformed files keep the input order of the tiny rows.
  exported = served_query.signatures['serving_default'](
      **test_tft.raw_inputs(setup['interactions'], fc.query_features))['embedding'].numpy()
  assert exported.shape == (len(setup['interactions']), CONFIG.tower_layers[-1])
  np.testing.assert_allclose(exported, trained, atol=1e-5)


def test_query_signature_takes_only_query_columns(setup, served_query):
  _, kwargs = served_query.signatures['serving_default'].structured_input_signature
  assert sorted(kwargs) == sorted(setup['feature_config'].query_feature_names)


def test_training_lowers_the_main_loss(setup):
  history = setup['model'].history.history
  assert history['main_loss'][-1] < history['main_loss'][0]
  assert set(model_lib.LOSS_NAMES) <= set(history)


def test_loss_summaries_written(setup):
  events = tf.io.gfile.glob(str(setup['root'] / 'logs' / 'train' / 'events*'))
  assert events


def test_unknown_item_in_log_is_an_error_naming_it(setup):
  fc = setup['feature_config']
  small = data.ItemCorpus(setup['corpus'].keys[:3], {
      k: v[:3] for k, v in setup['corpus'].features.items()})
  with pytest.raises(ValueError, match=r"not in the item corpus: \['i"):
    data.count_items(setup['files'], setup['query_tft'], small, 'train split')
  del fc


def test_logq_needs_counts():
  with pytest.raises(ValueError, match='logq'):
    model_lib.RetrievalModel(None, None, None,
                             CONFIG.replace(logq_correction=True))


def test_a_regularized_layers_loss_reaches_the_total(setup):
  fc = setup['feature_config']
  counts = data.count_items(setup['files'], setup['query_tft'],
                            setup['corpus'], 'train')  # logQ needs them
  model = model_lib.build_model(fc, CONFIG, setup['query_tft'],
                                setup['item_tft'], setup['corpus'], counts)
  model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], fc.query_features, setup['corpus'],
      batch_size=8, shuffle=False)))
  inputs = (batch, tf.zeros([0], tf.int64))
  plain = float(model.test_step(inputs)['total_loss'])
  # A layer the losses never call: its L2 penalty is its only path to the
  # total. kernel 2 x 1 of ones, l2(0.5): penalty = 0.5 * (1 + 1) = 1.0.
  model.regularized = tf.keras.layers.Dense(
      1, use_bias=False, kernel_initializer='ones',
      kernel_regularizer=tf.keras.regularizers.l2(0.5))
  model.regularized.build([None, 2])
  model.reset_metrics()
  assert float(model.test_step(inputs)['total_loss']) == pytest.approx(
      plain + 1.0, rel=1e-5)
  # And it is trained: SGD moves the kernel by lr * d(penalty)/dw = 0.1 * 1.0.
  model.train_step(inputs)
  np.testing.assert_allclose(model.regularized.kernel.numpy(), [[0.9], [0.9]],
                             rtol=1e-5)


def test_without_a_history_feature_the_sequence_encoder_pools(setup, caplog):
  fc = setup['feature_config']
  no_history = dataclasses.replace(fc, query_features=tuple(
      f for f in fc.query_features if f.kind != F.HISTORY))
  counts = data.count_items(setup['files'], setup['query_tft'],
                            setup['corpus'], 'train')  # logQ needs them
  config = CONFIG.replace(query_encoder='sequence')
  with caplog.at_level(logging.WARNING):
    model = model_lib.build_model(no_history, config, setup['query_tft'],
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
  with_history = model_lib.build_model(fc, config, setup['query_tft'],
                                       setup['item_tft'], setup['corpus'],
                                       counts)
  assert isinstance(with_history.query_tower, sequence.SequenceQueryTower)
  # The sequence SSL loss has no fallback: one error naming the feature.
  with pytest.raises(ValueError, match=r'seq_ssl_weight > 0 needs a history '
                     r'feature \(tagged sslrec:history\)'):
    model_lib.build_model(no_history, config.replace(seq_ssl_weight=0.1),
                          setup['query_tft'], setup['item_tft'],
                          setup['corpus'], counts)

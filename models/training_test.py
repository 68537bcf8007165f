"""Training (models/training.py) and export on real TF Transform output of tiny data."""
import numpy as np
import pytest
import tensorflow as tf

from models import data
from models import two_tower
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
  assert set(two_tower.LOSS_NAMES) <= set(history)


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

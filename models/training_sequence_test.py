"""The sequence query encoder end to end on real TF Transform output of tiny data.

Trains `query_encoder='sequence'` with the sequence-to-sequence SSL loss (and
the item-side CFM-free dropout SSL, so both SSL terms are on), exports the
towers, feeds raw rows to the query SavedModel (`embedding` and `intentions`
out, equal to training), builds the retrieval index and checks it against a
numpy brute force over the K intentions, and evaluates with the evaluator's
ranking.
"""
import numpy as np
import pytest
import tensorflow as tf

from components import tower_io
from components.index_builder import index as index_lib
from components.retrieval_evaluator import metrics
from models import data
from models import two_tower
from models import sequence
from models.config import TrainingConfig
from tests.support import tft as test_tft

K = 3
CONFIG = TrainingConfig(epochs=2, batch_size=16, feature_embedding_dim=8,
                        tower_layers=(16, 8), seed=1,
                        ssl='dropout', ssl_batch_size=8, ssl_weight=0.1,
                        temperature=0.1, query_encoder='sequence',
                        num_intentions=K, sequence_max_length=10,
                        seq_ssl_weight=0.5)


@pytest.fixture(scope='module')
def setup(tiny_transformed, tmp_path_factory):
  return test_tft.train_and_export(
      tiny_transformed, tmp_path_factory.mktemp('sequence_model'), CONFIG)


def _raw(rows, features):
  out = {}
  for f in features:
    values = [r[f.name] for r in rows]
    if f.dtype == 'float':
      out[f.name] = np.array([np.nan if v is None else v for v in values],
                             np.float32)
    else:
      out[f.name] = np.array(['' if v is None else v for v in values], object)
  return out


@pytest.fixture(scope='module')
def served(setup):
  """The exported towers loaded back once for the tests that read them:
  items (the item SavedModel's embeddings of the corpus rows, raw features
  in) and query (the query SavedModel as a tower_io.Tower)."""
  by_key = {r['item_id']: r for r in setup['items']}
  rows = [by_key[k] for k in setup['corpus'].keys.tolist()]
  item = tower_io.Tower(str(setup['root'] / 'item'))
  return dict(items=item.embed(_raw(rows, setup['fc'].item_features)),
              query=tower_io.Tower(str(setup['root'] / 'query')))


def test_the_query_tower_is_a_sequence_tower_with_every_loss(setup):
  model = setup['model']
  assert isinstance(model.query_tower, sequence.SequenceQueryTower)
  history = model.history.history
  assert set(two_tower.LOSS_NAMES) <= set(history)
  assert all(v > 0 for v in history['seq_ssl_loss'])
  assert history['main_loss'][-1] < history['main_loss'][0]
  events = tf.io.gfile.glob(str(setup['root'] / 'logs' / 'train' / 'events*'))
  assert events


def test_export_round_trip_raw_rows_in_embedding_and_intentions_out(setup):
  fc = setup['fc']
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], fc.query_features, setup['corpus'],
      batch_size=len(setup['interactions']), shuffle=False)))
  trained = setup['model'].query_tower(batch[data.QUERY]).numpy()  # [N, K, d]
  served = tf.saved_model.load(str(setup['root'] / 'query'))
  out = served.signatures['serving_default'](**{
      k: tf.constant(v, tf.float32 if v.dtype == np.float32 else tf.string)
      for k, v in _raw(setup['interactions'], fc.query_features).items()})
  n = len(setup['interactions'])
  assert out['intentions'].shape == (n, K, CONFIG.tower_layers[-1])
  assert out['embedding'].shape == (n, CONFIG.tower_layers[-1])
  np.testing.assert_allclose(out['intentions'].numpy(), trained, atol=1e-5)
  mean = trained.mean(axis=1)
  np.testing.assert_allclose(
      out['embedding'].numpy(),
      mean / np.linalg.norm(mean, axis=1, keepdims=True), atol=1e-5)


def test_index_equals_numpy_brute_force_over_k_intentions(setup, served,
                                                         tmp_path):
  items = served['items']
  keys = setup['corpus'].keys
  query_dir = str(setup['root'] / 'query')
  index = index_lib.RetrievalIndex(query_dir, items, keys, k=10)
  index.save(str(tmp_path / 'index'))
  rows = setup['interactions'][:50]
  raw = _raw(rows, setup['fc'].query_features)
  intentions = served['query'].query_vectors(raw)   # [50, K, d]
  scores = np.einsum('nkd,md->nkm', intentions, items).max(axis=1)
  # The index leaves each request's history items out.
  column = setup['fc'].history_column
  assert column
  for row, history in enumerate(raw[column]):
    scores[row, np.isin(keys, history.split('|'))] = -np.inf
  assert np.isneginf(scores).any()
  order = np.argsort(-scores, axis=1, kind='stable')[:, :10]
  served = tf.saved_model.load(str(tmp_path / 'index')).signatures[
      'serving_default']
  out = served(**{k: tf.constant(v, tf.float32 if v.dtype == np.float32
                                 else tf.string) for k, v in raw.items()})
  np.testing.assert_allclose(out['scores'].numpy(),
                             np.take_along_axis(scores, order, 1), atol=1e-5)
  got = np.array([[i.decode() for i in r] for r in out['item_ids'].numpy()])
  # Same items up to float ties at equal scores.
  assert (got == keys[order]).mean() > 0.98
  assert all(len(set(r)) == 10 for r in got)  # each item once


def test_evaluator_ranks_with_max_over_intentions(setup, served):
  items, tower = served['items'], served['query']
  assert tower.has_intentions
  raw = _raw(setup['interactions'][:40], setup['fc'].query_features)
  intentions = tower.query_vectors(raw)
  top = metrics.TopK(intentions, k=5)
  top.add(items[:11])
  top.add(items[11:])
  scores = np.einsum('nkd,md->nkm', intentions, items).max(axis=1)
  np.testing.assert_allclose(top.scores, -np.sort(-scores, axis=1)[:, :5],
                             atol=1e-5)
  # The aggregate embedding ranks differently from the intentions.
  by_embedding = tower.embed(raw) @ items.T
  assert not np.allclose(by_embedding, scores)

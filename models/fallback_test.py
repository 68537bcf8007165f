"""Rare-item fallback: flags by hand, and a rare item's id masked in training and export alike."""
import numpy as np
import pytest
import tensorflow as tf

from models import data
from models import export
from models import fallback
from models import logq
from models import model as model_lib
from models.config import TrainingConfig
from tests.support import tft as test_tft


def test_rare_id_flags_by_hand():
  # Corpus rows 0..3 have ids 2, 0, 3, 1 and 5, 0, 1, 9 train events; the id
  # table has 5 rows (4 + OOV = row 4). min 2: rows 1 (id 0) and 2 (id 3) are rare.
  flags = fallback.rare_id_flags(np.array([5, 0, 1, 9]), np.array([2, 0, 3, 1]),
                                 5, 2)
  np.testing.assert_array_equal(flags, [True, False, False, True, True])


def test_min_count_zero_flags_only_ids_outside_the_corpus():
  flags = fallback.rare_id_flags(np.array([0, 3]), np.array([0, 1]), 3, 0)
  np.testing.assert_array_equal(flags, [False, False, True])


def test_bad_inputs_are_errors():
  with pytest.raises(ValueError, match='one length'):
    fallback.rare_id_flags(np.array([1]), np.array([0, 1]), 3, 1)
  with pytest.raises(ValueError, match=r'in \[0, 2\)'):
    fallback.rare_id_flags(np.array([1]), np.array([2]), 2, 1)


CONFIG = TrainingConfig(epochs=2, batch_size=16, feature_embedding_dim=8,
                        tower_layers=(16, 8), learning_rate=0.2,
                        seed=1, ssl='rfm', temperature=0.1,
                        min_item_count=3, ssl_item_id='masked',
                        query_encoder='pooled')


@pytest.fixture(scope='module')
def setup(tiny_transformed, tmp_path_factory):
  setup = dict(tiny_transformed, root=tmp_path_factory.mktemp('fallback'))
  setup['model'] = model_lib.train(
      setup['fc'], CONFIG, setup['query_tft'], setup['item_tft'],
      setup['corpus'], setup['files'], setup['files'])
  export.export_item_tower(str(setup['root'] / 'item'),
                           setup['model'].item_tower, setup['item_tft'],
                           setup['fc'])
  counts = data.count_items(setup['files'], setup['query_tft'],
                            setup['corpus'], 'train')
  setup['rare'] = counts < CONFIG.min_item_count
  return setup


def test_rare_items_are_embedded_with_the_id_masked(setup):
  tower, corpus, rare = setup['model'].item_tower, setup['corpus'], setup['rare']
  assert 0 < rare.sum() < len(rare)  # the tiny log's Pareto tail has both kinds
  features = corpus.gather(tf.range(len(corpus), dtype=tf.int64))
  trained = tower(features).numpy()
  # Mask only feature 0, the item id.
  id_masked = tower(features, mask=tf.range(len(setup['fc'].item_features))
                    < 1).numpy()
  np.testing.assert_allclose(trained[rare], id_masked[rare], atol=1e-6)
  # A frequent item keeps its own id embedding.
  assert np.abs(trained[~rare] - id_masked[~rare]).max() > 1e-3


def test_exported_item_tower_falls_back_like_training(setup):
  corpus = setup['corpus']
  trained = setup['model'].item_tower(
      corpus.gather(tf.range(len(corpus), dtype=tf.int64))).numpy()
  by_key = {r['item_id']: r for r in setup['items']}
  rows = [by_key[k] for k in corpus.keys.tolist()]
  served = tf.saved_model.load(str(setup['root'] / 'item'))
  exported = served.signatures['serving_default'](
      **test_tft.raw_inputs(rows, setup['fc'].item_features))['embedding'].numpy()
  np.testing.assert_allclose(exported, trained, atol=1e-5)
  # An id unknown to the vocabulary (a new item) falls back too: its embedding
  # is the one of the same content with any rare item's id.
  rare_row = int(np.flatnonzero(setup['rare'])[0])
  new = dict(rows[rare_row], item_id='never-seen-id')
  np.testing.assert_allclose(
      served.signatures['serving_default'](
          **test_tft.raw_inputs([new], setup['fc'].item_features))['embedding'].numpy()[0],
      trained[rare_row], atol=1e-5)


def test_logq_probability_of_the_fallback_items_item_or_group(setup):
  # CONFIG trains with the logQ correction (the default) and min 3; the
  # default fallback_logq 'item' keeps each item's own probability.
  counts = data.count_items(setup['files'], setup['query_tft'],
                            setup['corpus'], 'train')
  rare, trained = setup['rare'], setup['model']
  per_item = logq.candidate_probability(counts)
  np.testing.assert_array_equal(trained.candidate_probability.log,
                                per_item.log)
  grouped = model_lib.RetrievalModel(
      trained.query_tower, trained.item_tower, setup['corpus'],
      CONFIG.replace(fallback_logq='group'), counts, trained.ssl_task)
  got = grouped.candidate_probability
  want = logq.candidate_probability(counts, rare)
  np.testing.assert_array_equal(got.log, want.log)
  np.testing.assert_array_equal(got.uniform, want.uniform)
  assert np.unique(got.log[rare]).size == 1
  np.testing.assert_array_equal(got.log[~rare], per_item.log[~rare])
  assert got.log[rare][0] == pytest.approx(per_item.log[rare].sum())


def test_min_item_count_needs_counts():
  with pytest.raises(ValueError, match='min_item_count'):
    model_lib.build_model(None, CONFIG, None, None, None, item_counts=None)

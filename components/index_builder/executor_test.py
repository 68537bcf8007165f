"""IndexBuilder on real tower SavedModels: the exported index equals numpy brute force."""
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import channel_utils
from tfx.types import standard_artifacts

from components import tower_io
from tests.support import towers as test_towers
from tests.support.towers import artifact
from components.index_builder import component
from components.index_builder import executor
from components.index_builder import index


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('index'))
  data = test_towers.make_dataset(root)
  towers = test_towers.save_towers(root)
  return root, data, towers


def _build(root, data, towers, name, **params):
  props = {'k': 10, 'kind': 'brute_force', 'scann_options': '{}',
           'batch_size': 7}
  props.update(params)
  out = artifact(standard_artifacts.Model, os.path.join(root, name))
  executor.Executor().Do(
      {'query_model': [artifact(standard_artifacts.Model,
                                 towers['query_model'])],
       'item_model': [artifact(standard_artifacts.Model, towers['item_model'])],
       'items': [artifact(standard_artifacts.Examples, data['items'])]},
      {'index': [out]}, props)
  return out


def _numpy_top_k(data, towers, k):
  items = test_towers.all_rows(data['items'], 'corpus')
  queries = test_towers.all_rows(data['interactions'], 'eval')
  item_emb = test_towers.numpy_embed(towers['item_model'], [items])
  query_emb = test_towers.numpy_embed(towers['query_model'], [queries])
  scores = query_emb @ item_emb.T
  order = np.argsort(-scores, axis=1, kind='stable')[:, :k]
  ids = np.array([i.decode() for i in items['item_id']])[order]
  return queries, ids, np.take_along_axis(scores, order, 1), scores


def _serve(export_dir, queries):
  loaded = tf.saved_model.load(export_dir)
  fn = loaded.signatures['serving_default']
  inputs = {name: tf.constant(queries[name], spec.dtype) for name, spec in
            fn.structured_input_signature[1].items()}
  out = fn(**inputs)
  return (np.array([[i.decode() for i in row] for row in
                    out['item_ids'].numpy()]), out['scores'].numpy())


def test_brute_force_index_equals_numpy_brute_force(setup):
  root, data, towers = setup
  out = _build(root, data, towers, 'bf')
  assert out.get_int_custom_property('k') == 10
  assert out.get_int_custom_property('num_items') == 30
  assert out.get_string_custom_property('index_kind') == 'brute_force'
  assert sorted(os.listdir(out.uri)) == ['Format-Serving']
  queries, ids, scores, _ = _numpy_top_k(data, towers, 10)
  got_ids, got_scores = _serve(tower_io.serving_dir(out.uri), queries)
  assert got_ids.shape == (len(queries['item_id']), 10)
  assert got_scores.dtype == np.float32
  np.testing.assert_allclose(got_scores, scores, atol=1e-5)
  np.testing.assert_array_equal(got_ids, ids)


def test_k_is_capped_at_the_corpus_size(setup):
  root, data, towers = setup
  out = _build(root, data, towers, 'big_k', k=100)
  assert out.get_int_custom_property('k') == 30
  queries, ids, _, _ = _numpy_top_k(data, towers, 30)
  got_ids, _ = _serve(tower_io.serving_dir(out.uri), queries)
  assert got_ids.shape[1] == 30
  assert (got_ids == ids).mean() > 0.99  # full permutation; allow float ties


def test_scann_index_has_the_same_signature_and_high_recall(setup):
  pytest.importorskip('scann')
  root, data, towers = setup
  out = _build(root, data, towers, 'scann', kind='scann',
               scann_options='{"num_leaves": 3, "num_leaves_to_search": 3}')
  queries, ids, _, _ = _numpy_top_k(data, towers, 10)
  got_ids, got_scores = _serve(tower_io.serving_dir(out.uri), queries)
  assert got_ids.shape == ids.shape and got_scores.dtype == np.float32
  recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got_ids, ids)])
  # All leaves searched and exact reordering: recall close to 1.
  assert recall >= 0.9


def test_index_rejects_mismatched_inputs(setup):
  _, _, towers = setup
  query_dir = tower_io.serving_dir(towers['query_model'])
  with pytest.raises(ValueError, match='do not match 2 item ids'):
    index.RetrievalIndex(query_dir, np.ones([3, 8]), np.array(['a', 'b']))
  with pytest.raises(ValueError, match='query tower embeds in 8 dims, items '
                     'in 4'):
    index.RetrievalIndex(query_dir, np.ones([2, 4]), np.array(['a', 'b']))
  pytest.importorskip('scann')
  with pytest.raises(ValueError, match='unknown scann_options'):
    index.RetrievalIndex(query_dir, np.ones([2, 8]), np.array(['a', 'b']),
                         kind='scann', scann_options={'leaves': 2})


def _channel(artifact_type):
  return channel_utils.as_channel([artifact_type()])


def test_component_spec():
  c = component.IndexBuilder(query_model=_channel(standard_artifacts.Model),
                             item_model=_channel(standard_artifacts.Model),
                             items=_channel(standard_artifacts.Examples))
  assert c.outputs['index'].type is standard_artifacts.Model
  assert c.exec_properties['k'] == 100
  assert c.exec_properties['kind'] == 'brute_force'
  with pytest.raises(ValueError, match='kind must be one of'):
    component.IndexBuilder(query_model=_channel(standard_artifacts.Model),
                           item_model=_channel(standard_artifacts.Model),
                           items=_channel(standard_artifacts.Examples),
                           kind='annoy')

"""IndexBuilder on real tower SavedModels: the exported index equals numpy brute force."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import channel_utils
from tfx.types import standard_artifacts

from components import tower_io
from components.pusher import warmup
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


def _numpy_top_k(data, towers, k, extra=None, history=True):
  """Brute force in numpy, each query's history items (and `extra` [n]
  lists of ids) excluded: (queries, ids [n, k], scores [n, k]); places
  beyond the items left are ('', -inf)."""
  items = test_towers.all_rows(data['items'], 'corpus')
  queries = test_towers.all_rows(data['interactions'], 'eval')
  item_emb = test_towers.numpy_embed(towers['item_model'], [items])
  query_emb = test_towers.numpy_embed(towers['query_model'], [queries])
  scores = query_emb @ item_emb.T
  corpus = [i.decode() for i in items['item_id']]
  for row, value in enumerate(queries['history']):
    names = (value.decode().split('|') if history else []) + list(
        extra[row] if extra is not None else [])
    scores[row, [corpus.index(n) for n in names if n in corpus]] = -np.inf
  order = np.argsort(-scores, axis=1, kind='stable')[:, :k]
  top = np.take_along_axis(scores, order, 1)
  ids = np.where(np.isneginf(top), '', np.array(corpus)[order])
  return queries, ids, top


def _serve(export_dir, queries, exclude=None):
  loaded = tf.saved_model.load(export_dir)
  if exclude is None:
    fn = loaded.signatures['serving_default']
  else:
    fn = loaded.signatures[index.EXCLUSIONS_SIGNATURE]
  inputs = {name: tf.constant(queries[name], spec.dtype) for name, spec in
            fn.structured_input_signature[1].items()
            if name != index.EXCLUDE_ITEM_IDS}
  if exclude is not None:
    inputs[index.EXCLUDE_ITEM_IDS] = tf.constant(exclude, tf.string)
  out = fn(**inputs)
  return (np.array([[i.decode() for i in row] for row in
                    out['item_ids'].numpy()]), out['scores'].numpy())


def _padded(lists):
  width = max(1, max(len(x) for x in lists))
  return np.array([list(x) + [''] * (width - len(x)) for x in lists],
                  dtype=object)


def test_brute_force_index_equals_numpy_brute_force(setup):
  root, data, towers = setup
  out = _build(root, data, towers, 'bf')
  assert out.get_int_custom_property('k') == 10
  assert out.get_int_custom_property('num_items') == 30
  assert out.get_string_custom_property('index_kind') == 'brute_force'
  assert sorted(os.listdir(out.uri)) == ['Format-Serving']
  assert out.get_string_custom_property('history_column') == 'history'
  queries, ids, scores = _numpy_top_k(data, towers, 10)
  # The eval queries' histories hold 6 or 7 of the 30 items: excluded, and
  # 10 results remain (over-fetched).
  assert min(len(h.split(b'|')) for h in queries['history']) >= 6
  got_ids, got_scores = _serve(tower_io.serving_dir(out.uri), queries)
  assert got_ids.shape == (len(queries['item_id']), 10)
  assert got_scores.dtype == np.float32
  np.testing.assert_allclose(got_scores, scores, atol=1e-5)
  np.testing.assert_array_equal(got_ids, ids)
  for row, history in zip(got_ids, queries['history']):
    assert not set(row) & set(history.decode().split('|'))


def test_extra_exclusions_are_excluded_too(setup):
  root, data, towers = setup
  out = _build(root, data, towers, 'bf_extra')
  queries, served, _ = _numpy_top_k(data, towers, 10)
  # Exclude each query's first 3 served items, plus an unknown id; one row
  # excludes nothing (all padding).
  extra = [list(row[:3]) + ['not-an-item'] for row in served]
  extra[0] = []
  queries, ids, scores = _numpy_top_k(data, towers, 10, extra=extra)
  got_ids, got_scores = _serve(tower_io.serving_dir(out.uri), queries,
                               exclude=_padded(extra))
  np.testing.assert_array_equal(got_ids, ids)
  np.testing.assert_allclose(got_scores, scores, atol=1e-5)
  np.testing.assert_array_equal(got_ids[0], served[0])
  assert not set(got_ids[1]) & set(served[1][:3])


def test_without_a_history_column_nothing_is_excluded(setup):
  root, data, towers = setup
  out = _build(root, data, towers, 'bf_none', history_column='')
  queries, ids, scores = _numpy_top_k(data, towers, 10, history=False)
  got_ids, got_scores = _serve(tower_io.serving_dir(out.uri), queries)
  np.testing.assert_array_equal(got_ids, ids)
  np.testing.assert_allclose(got_scores, scores, atol=1e-5)


def test_k_is_capped_at_the_corpus_size(setup):
  root, data, towers = setup
  out = _build(root, data, towers, 'big_k', k=100)
  assert out.get_int_custom_property('k') == 30
  queries, ids, scores = _numpy_top_k(data, towers, 30)
  got_ids, got_scores = _serve(tower_io.serving_dir(out.uri), queries)
  assert got_ids.shape[1] == 30
  # Fewer than 30 items are left: the rest is ('', -inf).
  np.testing.assert_array_equal(got_ids == '', ids == '')
  np.testing.assert_array_equal(np.isneginf(got_scores), np.isneginf(scores))
  found = ids != ''
  assert (got_ids[found] == ids[found]).mean() > 0.99  # allow float ties


def test_warmup_requests_replay_through_the_index(setup, tmp_path):
  root, data, towers = setup
  out = _build(root, data, towers, 'warm')
  model = str(tmp_path / 'index')
  shutil.copytree(tower_io.serving_dir(out.uri), model)
  warmup.write(model, 'index')
  outputs = warmup.replay_outputs(model)
  assert len(outputs) == warmup.NUM_REQUESTS
  for out in outputs:  # empty histories: nothing excluded, 10 real items
    assert out['item_ids'].shape == (warmup.BATCH_SIZE, 10)
    assert (out['item_ids'] != b'').all()


def test_scann_index_has_the_same_signature_and_high_recall(setup):
  pytest.importorskip('scann')
  root, data, towers = setup
  out = _build(root, data, towers, 'scann', kind='scann',
               scann_options='{"num_leaves": 3, "num_leaves_to_search": 3}')
  queries, ids, _ = _numpy_top_k(data, towers, 10)
  got_ids, got_scores = _serve(tower_io.serving_dir(out.uri), queries)
  assert got_ids.shape == ids.shape and got_scores.dtype == np.float32
  recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got_ids, ids)])
  # All leaves searched and exact reordering: recall close to 1.
  assert recall >= 0.9
  # The same rule: history and extra ids excluded, 10 results left.
  extra = [list(row[:3]) for row in ids]
  for exclude in (None, _padded(extra)):
    got_ids, _ = _serve(tower_io.serving_dir(out.uri), queries, exclude)
    assert (got_ids != '').all()
    for row, history, more in zip(got_ids, queries['history'], extra):
      assert not set(row) & set(history.decode().split('|'))
      assert exclude is None or not set(row) & set(more)


def test_index_rejects_mismatched_inputs(setup):
  _, _, towers = setup
  query_dir = tower_io.serving_dir(towers['query_model'])
  with pytest.raises(ValueError, match='do not match 2 item ids'):
    index.RetrievalIndex(query_dir, np.ones([3, 8]), np.array(['a', 'b']))
  with pytest.raises(ValueError, match='query tower embeds in 8 dims, items '
                     'in 4'):
    index.RetrievalIndex(query_dir, np.ones([2, 4]), np.array(['a', 'b']))
  with pytest.raises(ValueError, match="history_column 'seen' is not an input "
                     'of the query tower'):
    index.RetrievalIndex(query_dir, np.ones([2, 8]), np.array(['a', 'b']),
                         history_column='seen')
  with pytest.raises(ValueError, match="history_column 'age' must be a "
                     'string input'):
    index.RetrievalIndex(query_dir, np.ones([2, 8]), np.array(['a', 'b']),
                         history_column='age')
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
  assert c.exec_properties['history_column'] == 'history'
  with pytest.raises(ValueError, match='kind must be one of'):
    component.IndexBuilder(query_model=_channel(standard_artifacts.Model),
                           item_model=_channel(standard_artifacts.Model),
                           items=_channel(standard_artifacts.Examples),
                           kind='annoy')

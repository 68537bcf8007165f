"""End to end: synthetic data -> LocalDagRunner -> towers pushed, MLMD, cache.

The runs are the session fixtures of tests/support/fixtures.py: `cache_runs`
(a first run trains and pushes, a second is unchanged, a third needs an
impossible recall; shared with tests/operations_e2e_test.py and
pipeline/commands/inspect_test.py) and `release_runs` (a second run changes a
training-only setting; shared with tests/operations_e2e_test.py). A schema
anomaly stopping the run before Transform is a row of tests/bad_inputs_test.py.
"""
import csv
import os

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

from tests.support import mlmd as test_mlmd

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def run(cache_runs):
  """The session's real runs (tests/support/fixtures.py)."""
  return cache_runs['config'], cache_runs['first'], cache_runs['second']


def test_every_component_ran_once(run):
  _, first, _ = run
  executions = first['executions']
  assert {'ItemsExampleGen', 'InteractionsExampleGen', 'ItemsStatisticsGen',
          'InteractionsStatisticsGen', 'ItemsSchemaGen', 'InteractionsSchemaGen',
          'ItemsExampleValidator', 'InteractionsExampleValidator',
          'ItemsTransform', 'InteractionsTransform', 'MutualInformationGen',
          'TwoTowerTrainer', 'LatestBlessedModelResolver', 'RetrievalEvaluator',
          'IndexBuilder', 'PushQueryTower', 'PushItemTower', 'PushIndex'
          } <= set(executions)
  complete = metadata_store_pb2.Execution.COMPLETE
  assert all(states == [complete] for states in executions.values()), executions


def test_transforms_output_no_statistics(run):
  # pipeline.py: the StatisticsGens compute the inputs' statistics; the
  # Transforms' own pre/post-transform statistics are switched off.
  config, _, _ = run
  for node in ('ItemsTransform', 'InteractionsTransform'):
    outputs = set(os.listdir(os.path.join(config.pipeline_root, node)))
    assert {'transform_graph', 'transformed_examples'} <= outputs, outputs
    assert not {o for o in outputs if 'stats' in o or 'anomalies' in o}, outputs


# Re-executed on every run: the resolver, and (as the resolved baseline is now
# the first run's model) the evaluator and the pushers it gates, which find the
# same bytes already pushed and push nothing new.
_NOT_CACHED = ('LatestBlessedModelResolver', 'RetrievalEvaluator',
               'PushQueryTower', 'PushItemTower', 'PushIndex')


def test_second_run_is_served_from_cache(run, cache_runs):
  _, first, second = run
  cached = metadata_store_pb2.Execution.CACHED
  for node, states in second.items():
    assert len(states) == 2, (node, states)
    if node not in _NOT_CACHED:
      assert states[1] == cached, (node, states)
  assert second['TwoTowerTrainer'][1] == cached
  # Nothing new was pushed, by the second run nor by the unblessed third
  # (the pushed version folders after it are those after the second).
  after_second = cache_runs['steps']['unchanged']['versions']
  for tower in ('query', 'item', 'index'):
    assert cache_runs['second_versions'][f'{tower}_versions'] == (
        first[f'{tower}_versions'])
    unblessed = cache_runs['unblessed_versions'][f'{tower}_versions']
    name = 'index' if tower == 'index' else f'{tower}_tower'
    assert [int(os.path.basename(v)) for v in unblessed] == after_second[name]


def test_a_training_only_change_keeps_the_transforms_cache_hits(release_runs):
  # The second run of release_runs changes the seed (a training setting).
  second = {node: states[1] for node, states in test_mlmd.executions_by_node(
      release_runs['config'].output).items() if len(states) >= 2}
  cached = metadata_store_pb2.Execution.CACHED
  for node in ('ItemsExampleGen', 'InteractionsExampleGen', 'ItemsTransform',
               'InteractionsTransform', 'MutualInformationGen'):
    assert second[node] == cached, (node, second)
  assert second['TwoTowerTrainer'] == metadata_store_pb2.Execution.COMPLETE


def test_impossible_threshold_is_not_blessed_and_says_why(run):
  store = test_mlmd.store(run[0].output)  # the unblessed run is the last
  blessings = store.get_artifacts_by_type('ModelBlessing')
  newest = max(blessings, key=lambda a: a.id)
  assert newest.custom_properties['blessed'].int_value == 0
  assert 'recall' in newest.custom_properties['blessing_message'].string_value.lower()
  assert any(b.custom_properties['blessed'].int_value == 1 for b in blessings)


def test_index_returns_the_item_towers_top_k(run):
  config, first, _ = run
  items = _first_rows(os.path.join(config.data, 'items', 'items.csv'), 10**6)
  events = _first_rows(os.path.join(
      config.data, 'interactions', 'eval', 'interactions.csv'), 4)
  item_fn = tf.saved_model.load(first['item_versions'][0]).signatures[
      'serving_default']
  query_fn = tf.saved_model.load(first['query_versions'][0]).signatures[
      'serving_default']
  index_fn = tf.saved_model.load(first['index_versions'][0]).signatures[
      'serving_default']
  item_embeddings = item_fn(**_raw(items, item_fn))['embedding'].numpy()
  queries = query_fn(**_raw(events, query_fn))['embedding'].numpy()
  result = index_fn(**_raw(events, index_fn))
  scores = queries @ item_embeddings.T
  ids = np.array([r['item_id'] for r in items])
  # The index leaves each request's history items out.
  for row, event in enumerate(events):
    scores[row, np.isin(ids, (event.get('history') or '').split('|'))] = (
        -np.inf)
  k = result['item_ids'].shape[1]
  expected = np.argsort(-scores, axis=1)[:, :k]
  np.testing.assert_allclose(result['scores'].numpy(),
                             np.take_along_axis(scores, expected, 1), atol=1e-4)
  # Ids agree wherever scores are not tied.
  got = result['item_ids'].numpy().astype(str)
  assert (got[:, :5] == ids[expected][:, :5]).mean() > 0.9


def _first_rows(path, n):
  with open(path, newline='') as f:
    return [row for _, row in zip(range(n), csv.DictReader(f))]


def _raw(rows, signature):
  _, specs = signature.structured_input_signature
  out = {}
  for name, spec in specs.items():
    values = [row[name] for row in rows]
    if spec.dtype == tf.string:
      out[name] = tf.constant(values)
    elif spec.dtype == tf.int64:
      out[name] = tf.constant([int(v) for v in values], tf.int64)
    else:
      out[name] = tf.constant([float(v) if v else np.nan for v in values],
                              spec.dtype)
  return out


def test_pushed_towers_load_and_embed_raw_rows(run):
  config, first, _ = run
  assert len(first['query_versions']) == 1 and len(first['item_versions']) == 1
  assert len(first['index_versions']) == 1
  items = _first_rows(os.path.join(config.data, 'items', 'items.csv'), 5)
  events = _first_rows(os.path.join(
      config.data, 'interactions', 'eval', 'interactions.csv'), 5)
  item_tower = tf.saved_model.load(first['item_versions'][0])
  query_tower = tf.saved_model.load(first['query_versions'][0])
  item_fn = item_tower.signatures['serving_default']
  query_fn = query_tower.signatures['serving_default']
  item_embeddings = item_fn(**_raw(items, item_fn))['embedding'].numpy()
  query_embeddings = query_fn(**_raw(events, query_fn))['embedding'].numpy()
  width = config.training.tower_layers[-1]
  assert item_embeddings.shape == (5, width)
  assert query_embeddings.shape == (5, width)
  np.testing.assert_allclose(np.linalg.norm(item_embeddings, axis=1), 1, atol=1e-5)
  assert np.isfinite(query_embeddings).all()


def test_trainer_execution_records_the_training_config(run):
  config, _, _ = run
  store = test_mlmd.store(config.output)
  [context] = [c for c in store.get_contexts_by_type('node')
               if c.name.endswith('.TwoTowerTrainer')]
  execution = store.get_executions_by_context(context.id)[0]
  recorded = execution.custom_properties['training_config'].string_value
  assert '"ssl": "cfm"' in recorded

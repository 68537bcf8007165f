"""End to end: synthetic data -> LocalDagRunner -> towers pushed, MLMD, cache.

The runs are the session fixture `pipeline_runs` (tests/support/fixtures.py:
run 1 trains and pushes, run 2 is unchanged, run 3 changes a training-only
setting, run 4 needs an impossible recall; shared with
tests/operations_e2e_test.py and pipeline/commands/inspect_test.py); the
anomaly test runs its own.
"""
import csv
import os

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

from pipeline import runner
from pipeline.config import RunConfig
from pipeline.data import synthetic
from tests.support import mlmd as test_mlmd
from tests.support.fixtures import TINY_TRAINING

pytestmark = pytest.mark.e2e

TRAINING = TINY_TRAINING


@pytest.fixture(scope='module')
def run(pipeline_runs):
  """The session's real runs (tests/support/fixtures.py)."""
  return (pipeline_runs['config'], pipeline_runs['first'],
          pipeline_runs['second'])


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


# Re-executed on every run: the resolver, and (as the resolved baseline is now
# the first run's model) the evaluator and the pushers it gates, which find the
# same bytes already pushed and push nothing new.
_NOT_CACHED = ('LatestBlessedModelResolver', 'RetrievalEvaluator',
               'PushQueryTower', 'PushItemTower', 'PushIndex')


def test_second_run_is_served_from_cache(run, pipeline_runs):
  _, first, second = run
  cached = metadata_store_pb2.Execution.CACHED
  for node, states in second.items():
    assert len(states) == 2, (node, states)
    if node not in _NOT_CACHED:
      assert states[1] == cached, (node, states)
  assert second['TwoTowerTrainer'][1] == cached
  # Nothing new was pushed, by the second run nor by the unblessed fourth
  # (the pushed version folders after it are those after run 3).
  after_run3 = pipeline_runs['steps']['run3']['versions']
  for tower in ('query', 'item', 'index'):
    assert pipeline_runs['second_versions'][f'{tower}_versions'] == (
        first[f'{tower}_versions'])
    fourth = pipeline_runs['fourth_versions'][f'{tower}_versions']
    name = 'index' if tower == 'index' else f'{tower}_tower'
    assert [int(os.path.basename(v)) for v in fourth] == after_run3[name]


def test_a_training_only_change_keeps_the_transforms_cache_hits(run):
  config, _, _ = run
  third = {node: states[2] for node, states in
           test_mlmd.executions_by_node(config.output).items()
           if len(states) >= 3}
  cached = metadata_store_pb2.Execution.CACHED
  for node in ('ItemsExampleGen', 'InteractionsExampleGen', 'ItemsTransform',
               'InteractionsTransform', 'MutualInformationGen'):
    assert third[node] == cached, (node, third)
  assert third['TwoTowerTrainer'] == metadata_store_pb2.Execution.COMPLETE


def test_impossible_threshold_is_not_blessed_and_says_why(pipeline_runs):
  store = test_mlmd.store(pipeline_runs['after_run4'])  # as run 4 left it
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
  k = result['item_ids'].shape[1]
  expected = np.argsort(-scores, axis=1)[:, :k]
  ids = np.array([r['item_id'] for r in items])
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


def test_schema_anomalies_stop_the_run_before_transform(tmp_path):
  data = str(tmp_path / 'data')
  synthetic.generate(data, num_items=50, num_users=20, num_events=400, seed=4)
  train_csv = os.path.join(data, 'interactions', 'train', 'interactions.csv')
  with open(train_csv, newline='') as f:
    rows = list(csv.DictReader(f))
  rows[3]['age'] = '-5'  # outside the declared float_domain
  with open(train_csv, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  config = RunConfig(data=data, output=str(tmp_path / 'output'),
                     training=TRAINING)
  with pytest.raises(Exception, match=r'age'):
    runner.run(config)
  executions = test_mlmd.executions_by_node(config.output)
  assert 'InteractionsTransform' not in executions
  assert 'TwoTowerTrainer' not in executions
  assert not os.path.exists(os.path.join(config.output, 'serving'))

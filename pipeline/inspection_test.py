"""Tests of pipeline/inspection.py on real ML Metadata stores.

The evaluation, blessing, index and push parts run on the gate pipeline
(tests/gate_pipeline.py: the production wiring from the Resolver on, over
stand-in data and towers); the store is the session fixture `gate_runs` as
its first two runs left it: run 1 is blessed and pushes the query tower, item
tower and index; run 2 is not blessed (impossible threshold) and evaluates its
new towers against run 1's as the baseline, pushing nothing.
"""
import json
import os
import shutil
import sqlite3

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from pipeline import inspection
from pipeline.pipeline import PUSHES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def gate(gate_runs):
  return dict(gate_runs['paths'], metadata=gate_runs['metadata_after_run2'])


def _by_type(artifacts, type_name):
  return [a for a in artifacts if a['type'] == type_name]


def test_runs_newest_first_with_states_and_cache_hits(gate):
  runs = inspection.inspector(gate['metadata']).runs(live=False)
  assert len(runs) == 2
  second, first = runs
  assert second['start'] >= first['start']
  assert first['state'] == second['state'] == 'complete'
  assert first['cached'] == []
  assert second['cached'] == ['TinyExampleGen']  # same data, same outputs
  assert first['executions']['PushQueryTower'] == 'COMPLETE'
  assert 'PushQueryTower' not in second['executions']  # skipped by the gate
  assert {r['pipeline'] for r in runs} == {'gate-test'}


def test_evaluation_and_blessing_key_properties(gate):
  ins = inspection.inspector(gate['metadata'])
  latest = [a for a in ins.artifacts(run='latest') if a['role'] == 'output']
  (evaluation,) = _by_type(latest, 'ModelEvaluation')
  with open(os.path.join(evaluation['uri'], 'metrics.json')) as f:
    metrics = json.load(f)
  # The gate pipeline blesses at K = 10 (not the default 50): inspect shows
  # the K the run recorded.
  assert metrics['settings']['blessing_k'] == 10
  assert evaluation['properties'] == {
      'recall@10_overall': metrics['recall@10']['overall'],
      'recall@10_tail': metrics['recall@10']['tail']}
  (blessing,) = _by_type(latest, 'ModelBlessing')
  assert blessing['properties']['blessed'] is False
  assert 'NOT blessed' in blessing['properties']['message']
  first_run = ins.runs()[1]['run_id']
  (blessing,) = _by_type(ins.artifacts(run=first_run), 'ModelBlessing')
  assert blessing['properties']['blessed'] is True
  assert blessing['role'] == 'output'


def test_artifacts_of_a_run_say_what_it_made_reused_or_read(gate):
  ins = inspection.inspector(gate['metadata'])
  roles = {}
  for a in ins.artifacts(run='latest'):
    roles.setdefault(a['role'], set()).add((a['type'], a['producer']))
  assert set(roles) == {'output', 'cached', 'input'}
  assert {('ModelEvaluation', 'RetrievalEvaluator'),
          ('ModelBlessing', 'RetrievalEvaluator'),
          ('Model', 'TinyTrainer')} <= roles['output']
  assert roles['cached'] == {('Examples', 'TinyExampleGen')}
  # The Resolver's baseline: run 1's blessed query model and blessing.
  assert roles['input'] == {('Model', 'TinyTrainer'),
                            ('ModelBlessing', 'RetrievalEvaluator')}
  baseline = [a for a in ins.artifacts(run='latest') if a['role'] == 'input']
  first_run = ins.runs()[1]['run_id']
  assert {a['run_id'] for a in baseline} == {first_run}


def test_artifacts_filter_by_run_and_type(gate):
  ins = inspection.inspector(gate['metadata'])
  everything = ins.artifacts()
  pushed = ins.artifacts(type_name='pushedmodel')  # case-insensitive
  assert [a['id'] for a in pushed] == [a['id'] for a in everything
                                       if a['type'] == 'PushedModel']
  assert len(pushed) == 3
  assert all(os.path.isdir(a['uri']) for a in everything)
  ids = [a['id'] for a in everything]
  assert ids == sorted(ids, reverse=True)  # newest first
  with pytest.raises(inspection.StoreError, match='types in this store: '):
    ins.artifacts(type_name='Nope')
  with pytest.raises(inspection.StoreError, match="no pipeline run 'nope'"):
    ins.artifacts(run='nope')


def test_pushed_names_versions_runs_and_the_evaluation_of_that_run(gate):
  ins = inspection.inspector(gate['metadata'])
  pushed = {p['pusher']: p for p in ins.pushed()}
  assert set(pushed) == set(PUSHES)
  first_run = ins.runs()[1]['run_id']
  (first_eval,) = _by_type(ins.artifacts(run=first_run), 'ModelEvaluation')
  for name, p in pushed.items():
    tower = PUSHES[name]
    assert os.listdir(os.path.join(gate['serving'], tower)) == [
        p['pushed_version']]
    assert p['pushed_destination'] == os.path.join(
        gate['serving'], tower, p['pushed_version'])
    assert p['run_id'] == first_run
    # Run 2 read run 1's query model as its baseline; that evaluation is not
    # the one of the pushed model.
    assert p['evaluation']['evaluation_id'] == first_eval['id'], name
    assert p['evaluation']['blessed'] is True
    assert p['evaluation']['recall@10_overall'] == (
        first_eval['properties']['recall@10_overall'])
    # The blessing the pusher read, and the folder it serves.
    assert p['blessing']['blessed'] is True
    assert p['blessing']['blessing_id'] in {
        a['id'] for a in _by_type(ins.artifacts(run=first_run), 'ModelBlessing')}
    assert p['served'] is True


def test_lineage_of_the_pushed_index_reaches_the_examples(gate):
  ins = inspection.inspector(gate['metadata'])
  index_push = next(p for p in ins.pushed() if p['pusher'] == 'PushIndex')
  tree = ins.lineage(index_push['id'])
  assert tree['produced_by']['node'] == 'PushIndex'
  (index,) = tree['produced_by']['inputs']['model']
  assert index['properties']['index_kind'] == 'brute_force'
  builder = index['produced_by']
  assert builder['node'] == 'IndexBuilder'
  assert {'query_model', 'item_model', 'items'} <= set(builder['inputs'])
  # The blessing that let the push happen is an input of the push (MLMD keeps
  # one event per artifact: its key is `model_blessing` or the Cond's).
  (blessing,) = [c for cs in tree['produced_by']['inputs'].values() for c in cs
                 if c['type'] == 'ModelBlessing']
  assert blessing['properties']['blessed'] is True
  # Each artifact is expanded once (where first met); later mentions are
  # marked seen.
  expanded = _expanded(tree)
  (query_model,) = builder['inputs']['query_model']
  assert expanded[query_model['id']]['produced_by']['node'] == 'TinyTrainer'
  (items,) = builder['inputs']['items']
  assert expanded[items['id']]['produced_by']['node'] == 'TinyExampleGen'
  assert expanded[items['id']]['produced_by']['inputs'] == {}
  mentions = _mentions(tree)
  assert all(len([m for m in mentions if m['id'] == i and not m.get('seen')])
             == 1 for i in expanded)


def _mentions(node):
  out = [node]
  for children in node.get('produced_by', {}).get('inputs', {}).values():
    for child in children:
      out += _mentions(child)
  return out


def _expanded(tree):
  return {m['id']: m for m in _mentions(tree) if not m.get('seen')}


def _copy_with_state(metadata, tmp_path, node, state):
  """A copy of the store where the latest run's `node` execution has `state`."""
  path = str(tmp_path / 'copy.sqlite')
  shutil.copy(metadata, path)
  config = mlmd_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  store = metadata_store.MetadataStore(config)
  (node_context,) = [c for c in store.get_contexts_by_type('node')
                     if c.name.endswith('.' + node)]
  execution = max(store.get_executions_by_context(node_context.id),
                  key=lambda e: e.id)
  execution.last_known_state = state
  store.put_executions([execution])
  return path


def test_a_repeated_push_of_the_same_bytes_keeps_the_run_that_wrote_it(
    gate, tmp_path):
  """Run 2's pusher finds run 1's bytes already pushed (new_version 0).

  Recorded with the MLMD API as components/pusher records it: a PushedModel
  with the existing destination and version, output by a PushQueryTower
  execution of run 2.
  """
  path = str(tmp_path / 'copy.sqlite')
  shutil.copy(gate['metadata'], path)
  config = mlmd_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  store = metadata_store.MetadataStore(config)
  before = {p['pusher']: p for p in inspection.inspector(path).pushed()}
  first = before['PushQueryTower']
  (old_push,) = store.get_artifacts_by_id([first['id']])
  (old_execution,) = store.get_executions_by_id(
      [e.execution_id for e in store.get_events_by_artifact_ids([old_push.id])
       if e.type == mlmd_pb2.Event.OUTPUT])
  node = next(c for c in store.get_contexts_by_type('node')
              if c.name.endswith('.PushQueryTower'))
  latest_run = max(store.get_contexts_by_type('pipeline_run'),
                   key=lambda c: c.create_time_since_epoch)
  push = mlmd_pb2.Artifact(type_id=old_push.type_id, uri=old_push.uri + '-2',
                           state=mlmd_pb2.Artifact.LIVE)
  for key in ('pushed', 'pushed_destination', 'pushed_version'):
    push.custom_properties[key].CopyFrom(old_push.custom_properties[key])
  push.custom_properties['new_version'].int_value = 0
  execution = mlmd_pb2.Execution(type_id=old_execution.type_id,
                                 last_known_state=mlmd_pb2.Execution.COMPLETE)
  event = mlmd_pb2.Event(type=mlmd_pb2.Event.OUTPUT)
  event.path.steps.add().key = 'pushed_model'
  store.put_execution(execution, [(push, event)], [node, latest_run])

  ins = inspection.inspector(path)
  now = {p['pusher']: p for p in ins.pushed()}
  assert now['PushQueryTower']['id'] == first['id']
  assert now['PushQueryTower']['run_id'] == first['run_id']
  assert (now['PushQueryTower']['last_run_id'] == latest_run.name
          != first['run_id'])
  assert now['PushQueryTower']['evaluation'] == first['evaluation']
  assert now['PushItemTower'] == before['PushItemTower']
  every = [p for p in ins.pushed(all_versions=True)
           if p['pusher'] == 'PushQueryTower']
  assert len(every) == 2
  assert every[0]['new_version'] is False  # newest first
  assert every[1]['id'] == first['id']


@pytest.mark.parametrize('state, live, expected', [
    (mlmd_pb2.Execution.RUNNING, False, 'interrupted'),  # holder died
    (mlmd_pb2.Execution.RUNNING, True, 'running'),
    (mlmd_pb2.Execution.RUNNING, None, 'running'),
    (mlmd_pb2.Execution.FAILED, False, 'failed'),
])
def test_run_state(gate, tmp_path, state, live, expected):
  path = _copy_with_state(gate['metadata'], tmp_path, 'RetrievalEvaluator',
                          state)
  latest, first = inspection.inspector(path).runs(live=live)
  assert latest['state'] == expected
  assert first['state'] == 'complete'
  if state == mlmd_pb2.Execution.FAILED:
    assert latest['failed'] == ['RetrievalEvaluator']


def test_a_run_killed_between_components_is_interrupted(gate, tmp_path):
  """Every recorded execution of run 2 completed, but `sslrec run` marked
  only run 1 finished: run 2 was killed between two components."""
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'copy.sqlite')
  shutil.copy(gate['metadata'], path)
  config = mlmd_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  store = metadata_store.MetadataStore(config)
  first = min(store.get_contexts_by_type(inspection.RUN_CONTEXT),
              key=lambda c: (c.create_time_since_epoch, c.id))
  first.custom_properties[inspection.FINISHED_PROPERTY].int_value = 1
  store.put_contexts([first])
  latest, oldest = inspection.inspector(path).runs(live=False)
  assert (latest['state'], oldest['state']) == ('interrupted', 'complete')
  assert inspection.inspector(path).runs(live=None)[0]['state'] == 'running'
  runner.mark_finished(config)  # the newest run: run 2
  assert inspection.inspector(path).runs(live=False)[0]['state'] == (
      'complete')


def test_missing_and_foreign_files_are_clear_errors(tmp_path):
  text = tmp_path / 'notes.sqlite'
  text.write_text('not a database\n')
  other = str(tmp_path / 'other.sqlite')
  connection = sqlite3.connect(other)
  connection.execute('CREATE TABLE t (a)')
  connection.commit()
  connection.close()
  before = open(other, 'rb').read()
  cases = [
      (str(tmp_path / 'none.sqlite'), 'no such metadata file'),
      (str(tmp_path), 'not a file'),
      (str(text), 'not an ML Metadata store (not a SQLite database)'),
      (other, 'a SQLite database but not an ML Metadata store (tables: t)'),
  ]
  for path, message in cases:
    with pytest.raises(inspection.StoreError) as e:
      inspection.open_store(path)
    assert str(e.value) == f'{path}: {message}' or (
        str(e.value).startswith(f'{path}: {message}'))
  assert open(other, 'rb').read() == before  # never written to


def test_evaluation_summary_reads_metrics_json(tmp_path):
  (tmp_path / 'metrics.json').write_text(json.dumps(
      {'recall@50': {'overall': 0.25, 'tail': 0.125, 'head': 0.5},
       'recall@10': {'overall': 0.1}}))
  assert inspection.evaluation_summary(str(tmp_path)) == {
      'recall@50_overall': 0.25, 'recall@50_tail': 0.125}
  assert inspection.evaluation_summary(str(tmp_path / 'none')) == {
      'metrics_file': None}

  # The K is the one the run's blessing read, recorded in metrics.json.
  (tmp_path / 'metrics.json').write_text(json.dumps(
      {'recall@50': {'overall': 0.25, 'tail': 0.125},
       'recall@10': {'overall': 0.1, 'tail': 0.05},
       'settings': {'blessing_k': 10, 'exclusion': 'serving'}}))
  assert inspection.evaluation_summary(str(tmp_path)) == {
      'recall@10_overall': 0.1, 'recall@10_tail': 0.05}


def test_report_queries_executions_producers_and_properties(gate):
  ins = inspection.inspector(gate['metadata'])
  first, second = ins.run_ids()
  assert [r['run_id'] for r in ins.runs()] == [second, first]
  executions = ins.executions(second)
  nodes = [e['node'] for e in executions]
  assert 'RetrievalEvaluator' in nodes and 'push_query' not in nodes
  assert [e['start_ms'] for e in executions] == sorted(
      e['start_ms'] for e in executions)
  assert all(e['seconds'] is not None and e['seconds'] >= 0
             for e in executions)
  (trainer,) = [e for e in executions if e['node'] == 'TinyTrainer']
  assert trainer['properties']['seed'] == 2
  # Run 2's blessing names run 1's query model as the baseline; its producer
  # is run 1's trainer (seed 1).
  (blessing,) = [a for a in ins.artifacts(run=second)
                 if a['type'] == 'ModelBlessing' and a['role'] == 'output']
  props = ins.artifact_properties(blessing['id'])
  assert props['blessed'] == 0 and 'NOT blessed' in props['blessing_message']
  producer = ins.producer_execution(props['baseline_model_id'])
  assert producer['node'] == 'TinyTrainer'
  assert producer['properties']['seed'] == 1
  assert producer['id'] in {e['id'] for e in ins.executions(first)}

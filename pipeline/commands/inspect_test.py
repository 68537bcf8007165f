"""`sslrec inspect` on the store of real pipeline runs.

The store is the session fixture `cache_runs` (tests/support/fixtures.py,
shared with tests/pipeline_e2e_test.py and tests/operations_e2e_test.py): the
real pipeline (`sslrec run`) on a tiny synthetic dataset, run twice, the
second time unchanged (every component up to the towers a cache hit); these
tests read a copy of the store and serving folder as those two runs left them.
"""
import csv
import json
import os
import subprocess
import sys
import time

import pytest

from pipeline import cli

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def config(cache_runs):
  """Its output holds the store after runs 1 and 2 (and the serving folder)."""
  return cache_runs['view_after_unchanged']


def _num_items(config):
  with open(os.path.join(config.data, 'items', 'items.csv'), newline='') as f:
    return sum(1 for _ in csv.DictReader(f))


def _inspect(capsys, *argv, expect=0):
  code = cli.main(['inspect', *argv])
  captured = capsys.readouterr()
  assert code == expect, captured.err
  return captured


def _json(capsys, config, *argv):
  return json.loads(_inspect(capsys, *argv, '--output', config.output,
                             '--json').out)


def test_runs_show_states_times_and_the_cached_second_run(config, capsys):
  runs = _json(capsys, config, 'runs')
  assert len(runs) == 2
  second, first = runs
  assert first['state'] == second['state'] == 'complete'
  assert first['start'] <= first['end'] <= second['start'] <= second['end']
  assert first['cached'] == [] and first['failed'] == []
  assert set(first['executions']) >= {
      'ItemsExampleGen', 'InteractionsTransform', 'MutualInformationGen',
      'TwoTowerTrainer', 'PushQueryTower', 'PushItemTower'}
  assert set(first['executions'].values()) == {'COMPLETE'}
  assert set(second['executions']) == set(first['executions'])
  # Unchanged inputs: everything up to the towers and the index is a cache
  # hit. The evaluator (and the pushes after it) run again when run 1's
  # blessed model is now the baseline its inputs include.
  assert {'ItemsExampleGen', 'InteractionsExampleGen', 'ItemsTransform',
          'InteractionsTransform', 'MutualInformationGen',
          'TwoTowerTrainer'} <= set(second['cached'])
  assert all(state in ('CACHED', 'COMPLETE')
             for state in second['executions'].values())
  assert [n for n, state in second['executions'].items()
          if state == 'CACHED'] == second['cached']
  text = _inspect(capsys, 'runs', '--output', config.output).out
  assert text.splitlines()[0].split() == ['RUN', 'STATE', 'START', 'END',
                                          'EXECUTIONS', 'CACHED']
  assert f'{second["run_id"]}  complete' in text
  assert f'{second["run_id"]} cached: ' in text


def test_artifacts_of_a_run_by_type(config, capsys):
  first_run = _json(capsys, config, 'runs')[1]['run_id']
  models = _json(capsys, config, 'artifacts', '--run', first_run,
                 '--type', 'Model')
  towers = [m for m in models if m['producer'] == 'TwoTowerTrainer']
  assert sorted(os.path.basename(os.path.dirname(m['uri'])) for m in towers) \
      == ['item_model', 'query_model']
  assert all(m['role'] == 'output' and os.path.isfile(
      os.path.join(m['uri'], 'Format-Serving', 'saved_model.pb'))
             for m in towers)
  for index in (m for m in models if m['producer'] == 'IndexBuilder'):
    assert index['properties']['index_kind'] == 'brute_force'
    assert index['properties']['num_items'] == _num_items(config)
  latest = _json(capsys, config, 'artifacts', '--run', 'latest')
  roles = {(a['type'], a['role']) for a in latest}
  assert ('Model', 'cached') in roles and ('Examples', 'cached') in roles
  assert ('Model', 'output') not in roles  # no new towers in run 2
  examples = _json(capsys, config, 'artifacts', '--type', 'examples')
  assert {tuple(e['properties']['splits']) for e in examples
          if e['producer'].endswith('ExampleGen')} == {('train', 'eval'),
                                                       ('corpus',)}
  err = _inspect(capsys, 'artifacts', '--output', config.output, '--type',
                 'Nope', expect=2).err
  assert err.startswith("sslrec inspect: error: no artifact of type 'Nope'; "
                        'types in this store: ')


def test_pushed_towers_with_version_run_and_metrics(config, capsys):
  runs = _json(capsys, config, 'runs')
  pushed = {p['pusher']: p for p in _json(capsys, config, 'pushed')}
  assert set(pushed) >= {'PushQueryTower', 'PushItemTower'}
  evaluations = _json(capsys, config, 'artifacts', '--type', 'ModelEvaluation'
                      ) if 'RetrievalEvaluator' in runs[1]['executions'] else []
  for name, tower in (('PushQueryTower', 'query_tower'),
                      ('PushItemTower', 'item_tower')):
    p = pushed[name]
    assert os.listdir(os.path.join(config.serving_root, tower)) == [
        p['pushed_version']]
    assert os.path.isfile(os.path.join(p['pushed_destination'],
                                       'saved_model.pb'))
    assert p['run_id'] == runs[1]['run_id']  # the run that wrote the version
    if runs[0]['executions'].get(name) == 'COMPLETE':  # pushed the same bytes
      assert p['last_run_id'] == runs[0]['run_id']
    if evaluations:  # the evaluator is wired into the pipeline
      assert p['evaluation']['recall@50_overall'] == (
          evaluations[0]['properties']['recall@50_overall'])
    else:
      assert p['evaluation'] == {}
  text = _inspect(capsys, 'pushed', '--output', config.output).out
  assert (f'PushQueryTower: version {pushed["PushQueryTower"]["pushed_version"]}'
          f' -> {pushed["PushQueryTower"]["pushed_destination"]}') in text


def test_lineage_from_a_pushed_tower_back_to_the_csv_inputs_and_mi(
    config, capsys):
  pushed = {p['pusher']: p for p in _json(capsys, config, 'pushed')}
  artifact_id = str(pushed['PushQueryTower']['id'])
  tree = _json(capsys, config, 'lineage', artifact_id)
  nodes, sources = [], {}

  def walk(node):
    producer = node.get('produced_by')
    if producer:
      nodes.append((node['type'], producer['node']))
      sources.update(producer['sources'])
      for children in producer['inputs'].values():
        for child in children:
          walk(child)

  walk(tree)
  assert ('PushedModel', 'PushQueryTower') == nodes[0]
  assert ('Model', 'TwoTowerTrainer') in nodes
  assert ('sslrec.MutualInformation', 'MutualInformationGen') in nodes
  assert ('Examples', 'ItemsExampleGen') in nodes
  assert sources['input_base'] in (os.path.join(config.data, 'items'),
                                   os.path.join(config.data, 'interactions'))
  text = _inspect(capsys, 'lineage', artifact_id, '--output', config.output).out
  lines = text.splitlines()
  assert lines[0].startswith(f'PushedModel #{artifact_id} ')
  assert lines[1].startswith('└─ PushQueryTower (execution ')
  assert any(l.lstrip('│ ├└─').startswith('mutual_information: '
                                          'sslrec.MutualInformation #') for l in lines)
  for sub in ('items', 'interactions'):
    assert any(l.endswith(f'input_base: {os.path.join(config.data, sub)}')
               for l in lines)
  err = _inspect(capsys, 'lineage', '999999', '--output', config.output,
                 expect=2).err
  assert err == 'sslrec inspect: error: no artifact with id 999999\n'


_HOLDER = '''
import sys, time
from pipeline import run_lock
with run_lock.hold(sys.argv[1]):
  print('locked', flush=True)
  time.sleep(120)
'''


def test_a_second_run_on_the_same_output_fails_fast(config, capsys):
  holder = subprocess.Popen([sys.executable, '-c', _HOLDER, config.output],
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == 'locked'
    start = time.monotonic()
    code = cli.main(['run', '--data', config.data, '--output', config.output])
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 5, (code, elapsed, err)
    assert (f'{config.output} is in use by another sslrec run (pid '
            f'{holder.pid} ') in err
    # While a live process holds the lock, the latest run shows as running.
    assert _json(capsys, config, 'runs')[0]['state'] == 'running'
  finally:
    holder.kill()
    holder.wait()
  runs = _json(capsys, config, 'runs')
  assert len(runs) == 2  # the refused run recorded nothing
  assert runs[0]['state'] == 'complete'


def test_config_file_names_the_store(config, capsys, tmp_path):
  path = tmp_path / 'run.yaml'
  path.write_text(f'output: {config.output}\n')
  runs = json.loads(_inspect(capsys, 'runs', '--config', str(path),
                             '--json').out)
  assert len(runs) == 2


@pytest.mark.parametrize('make, message', [
    (lambda d: str(d / 'missing' / 'metadata.sqlite'), 'no such metadata file'),
    (lambda d: (d / 'm.sqlite').write_text('hello\n') and str(d / 'm.sqlite'),
     'not an ML Metadata store (not a SQLite database)'),
])
def test_missing_or_foreign_metadata_is_one_clear_line(tmp_path, capsys, make,
                                                       message):
  path = make(tmp_path)
  for what in ('runs', 'artifacts', 'pushed'):
    err = _inspect(capsys, what, '--metadata', path, expect=2).err
    assert err.startswith(f'sslrec inspect: error: {path}: {message}')
    assert err.count('\n') == 1 and 'Traceback' not in err

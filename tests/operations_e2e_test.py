"""End to end: exit codes and last lines, one version per run, rollback.

The runs are the session fixtures `release_runs` and `cache_runs`
(tests/support/fixtures.py: `sslrec run` in this process, shared with
tests/pipeline_e2e_test.py). release_runs:

  first (seed 1)            -> 0, pushed version V1 (the same V1 for all three)
  retrained (seed 2)        -> 0, pushed V2
  rollback                  -> V3 = V1's bytes for all three, recorded in MLMD
  after_rollback (seed 1: cached) -> its evaluation's baseline is the
                               rolled-back model; nothing new to push (V3
                               holds it), 0

cache_runs: first (seed 1, V1), unchanged (seed 1), then

  unblessed (min_recall 1)  -> 3, not blessed, nothing pushed; `inspect pushed`
                               still says V1 was blessed (the blessing OF the push)
"""
import filecmp
import json
import os
import re

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.pusher import push
from components.pusher import warmup
from pipeline import cli
from tests.support.fixtures import SERVED as MODELS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def runs(release_runs):
  """(output folder, {step: code, out, err, last, versions}, V1, V2, V3)."""
  steps = release_runs['steps']
  [v1] = steps['first']['versions']['query_tower']
  v2 = steps['retrained']['versions']['query_tower'][-1]
  v3 = steps['rollback']['versions']['query_tower'][-1]
  return release_runs['config'].output, steps, v1, v2, v3


def _same_tree(a, b):
  cmp = filecmp.dircmp(a, b)
  return (not cmp.left_only and not cmp.right_only and not cmp.diff_files
          and all(_same_tree(os.path.join(a, d), os.path.join(b, d))
                  for d in cmp.common_dirs))


def _same_model(model_dir, pushed_dir):
  """The same model bytes; the pushed copy adds the warmup requests."""
  return push.same_tree(model_dir, pushed_dir) and os.path.isfile(
      warmup.warmup_path(pushed_dir))


def _newest_blessing(output):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(output, 'metadata.sqlite')
  store = metadata_store.MetadataStore(config)
  blessings = [a for a in store.get_artifacts_by_type('ModelBlessing')
               if 'baseline_model' in a.custom_properties]
  return max(blessings, key=lambda a: a.id), store


def _pushed(step):
  assert step['code'] == 0, step['err'][-3000:]
  return {p['pusher']: p for p in json.loads(step['out'])}


def test_a_run_pushes_one_version_of_the_three_models_ready_to_serve(runs):
  output, steps, v1, _, _ = runs
  code, last = steps['first']['code'], steps['first']['last']
  assert code == 0, last
  assert steps['first']['versions'] == {m: [v1] for m in MODELS}
  assert re.fullmatch(rf'sslrec run: pushed version {v1}: .*query_tower/{v1}, '
                      rf'.*item_tower/{v1}, .*index/{v1}', last), last
  # Ready for TF Serving: warmup requests that replay through each pushed
  # model, and one models.config for the three.
  for m in MODELS:
    assert warmup.replay(os.path.join(output, 'serving', m, str(v1))) == (
        warmup.NUM_REQUESTS)
  with open(os.path.join(output, 'serving', 'models.config')) as f:
    config = f.read()
  assert all(f'name: "{m}"' in config for m in MODELS)
  assert ('No baseline model: nothing to compare with.'
          in steps['first']['report'])


def test_a_new_training_pushes_the_next_version(runs):
  _, steps, v1, v2, _ = runs
  code, last = steps['retrained']['code'], steps['retrained']['last']
  assert code == 0, last
  assert v2 > v1 and steps['retrained']['versions'] == {
      m: [v1, v2] for m in MODELS}
  # Its report compares with the first run's model, the blessed baseline.
  text = steps['retrained']['report']
  assert 'Differences from the baseline model&#39;s config: seed.' in text
  assert '<tr class="changed"><td>seed</td><td>2</td><td>1</td></tr>' in text
  assert re.search(r'<td[^>]*title="\d+ eval events, \d+ users">', text)
  assert '<td>recall@50 popularity</td>' in text
  assert '<h2>Run timings</h2>' in text and '<td>TwoTowerTrainer</td>' in text
  assert last.startswith(f'sslrec run: pushed version {v2}: ')


def test_an_unblessed_run_exits_3_and_pushed_names_the_blessed_push(
    cache_runs):
  steps = cache_runs['steps']
  [v1] = steps['first']['versions']['query_tower']
  code, last = steps['unblessed']['code'], steps['unblessed']['last']
  assert code == 3, last
  assert re.fullmatch(r'sslrec run: not blessed, nothing pushed: .*recall.*',
                      last), last
  assert steps['unblessed']['versions'] == {m: [v1] for m in MODELS}
  pushed = _pushed(steps['pushed_after_unblessed'])
  for p in pushed.values():
    assert p['pushed_version'] == str(v1)
    assert p['blessing']['blessed'] is True  # the push's, not the newest one
    assert p['served'] is True
  assert pushed['PushQueryTower']['evaluation']['blessed'] is False


def test_rollback_serves_the_first_models_as_a_new_version(runs):
  output, steps, v1, v2, v3 = runs
  assert steps['rollback']['code'] == 0, steps['rollback']['err']
  out = steps['rollback']['out']
  assert v3 > v2 and steps['rollback']['versions'] == {
      m: [v1, v2, v3] for m in MODELS}
  assert out.startswith(f'sslrec rollback: version {v3} now serves the models '
                        f'of version {v1}: ')
  for m in MODELS:
    assert _same_tree(os.path.join(output, 'serving', m, str(v1)),
                      os.path.join(output, 'serving', m, str(v3)))
  # versions.json as the rollback left it (the next run adds a record).
  assert steps['rollback']['versions_json'][-1]['rollback_of'] == v1
  pushed = _pushed(steps['pushed_after_rollback'])
  assert {p['pushed_version'] for p in pushed.values()} == {str(v3)}
  assert {p['rollback_of'] for p in pushed.values()} == {v1}


def test_after_a_rollback_its_model_is_the_baseline_and_not_pushed_again(runs):
  output, steps, v1, _, v3 = runs
  code, last = steps['after_rollback']['code'], steps['after_rollback']['last']
  assert code == 0, last
  assert last.startswith(f'sslrec run: nothing new to push: version {v3} '
                         'already serves these models'), last
  blessing, store = _newest_blessing(output)
  baseline_uri = blessing.custom_properties['baseline_model'].string_value
  first_query_model = [
      a for a in store.get_artifacts_by_type('Model')
      if a.uri == baseline_uri and 'rollback_of' not in a.custom_properties]
  assert first_query_model, baseline_uri
  # the first run's query model: the one pushed as v1.
  assert _same_model(os.path.join(baseline_uri, 'Format-Serving'),
                     os.path.join(output, 'serving', 'query_tower', str(v1)))


def test_a_missing_served_folder_is_reported_and_a_bad_version_refused(
    runs, capsys):
  output, _, _, _, v3 = runs
  # Moved aside for the check and back, for the other tests of these runs.
  served = os.path.join(output, 'serving', 'index', str(v3))
  aside = os.path.join(output, 'index-aside')
  os.rename(served, aside)
  try:
    assert cli.main(['inspect', 'pushed', '--output', output]) == 0
    assert 'MISSING: the served folder does not exist' in (
        capsys.readouterr().out)
  finally:
    os.rename(aside, served)
  assert cli.main(['rollback', '--output', output, '--to', '12']) == 2
  assert 'no version 12 of every model' in capsys.readouterr().err

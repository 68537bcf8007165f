"""End to end: exit codes and last lines, one version per run, rollback.

  run 1 (seed 1)            -> 0, pushed version V1 (the same V1 for all three)
  run 2 (seed 2)            -> 0, pushed V2; its report shows the config diff
                               against run 1's model (seed), n, timings
  run 3 (min_recall 1)      -> 3, not blessed, nothing pushed; `inspect pushed`
                               still says V2 was blessed (the blessing OF the push)
  rollback                  -> V3 = V1's bytes for all three, recorded in MLMD
  run 4 (seed 1: cached)    -> its evaluation's baseline is the rolled-back
                               model; nothing new to push (V3 holds it), 0
"""
import filecmp
import json
import os
import re
import shutil

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.pusher import push
from components.pusher import versions
from components.pusher import warmup
from pipeline import cli
from pipeline.data import synthetic

pytestmark = pytest.mark.e2e

MODELS = ('query_tower', 'item_tower', 'index')
TINY = ['--epochs', '1', '--batch-size', '64', '--feature-embedding-dim', '8',
        '--tower-layers', '16', '8', '--ssl-batch-size', '64',
        '--min-recall', '0', '--max-overall-drop', '1', '--max-tail-drop', '1']


def _run(capsys, data, output, *flags):
  code = cli.main(['run', '--data', data, '--output', output] + TINY +
                  list(flags))
  err = capsys.readouterr().err
  return code, err.strip().splitlines()[-1]


def _versions(output):
  return {m: sorted(int(v) for v in os.listdir(os.path.join(output, 'serving',
                                                            m)) if v.isdigit())
          for m in MODELS}


def _same_tree(a, b):
  cmp = filecmp.dircmp(a, b)
  return (not cmp.left_only and not cmp.right_only and not cmp.diff_files
          and all(_same_tree(os.path.join(a, d), os.path.join(b, d))
                  for d in cmp.common_dirs))


def _same_model(model_dir, pushed_dir):
  """The same model bytes; the pushed copy adds the warmup requests."""
  return push.same_tree(model_dir, pushed_dir) and os.path.isfile(
      warmup.warmup_path(pushed_dir))


def _report(output):
  with open(os.path.join(output, 'report', 'index.html'), encoding='utf-8') as f:
    return f.read()


def _newest_blessing(output):
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(output, 'metadata.sqlite')
  store = metadata_store.MetadataStore(config)
  blessings = [a for a in store.get_artifacts_by_type('ModelBlessing')
               if 'baseline_model' in a.custom_properties]
  return max(blessings, key=lambda a: a.id), store


def test_exit_codes_versions_and_rollback(tmp_path, capsys):
  data, output = str(tmp_path / 'data'), str(tmp_path / 'output')
  synthetic.generate(data, num_items=200, num_users=60, num_events=2500, seed=3)

  code, last = _run(capsys, data, output, '--seed', '1')
  assert code == 0, last
  [v1] = _versions(output)['query_tower']
  assert _versions(output) == {m: [v1] for m in MODELS}
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

  assert 'No baseline model: nothing to compare with.' in _report(output)

  code, last = _run(capsys, data, output, '--seed', '2')
  assert code == 0, last
  # The report of run 2 compares with run 1's model, the blessed baseline.
  text = _report(output)
  assert 'Differences from the baseline model&#39;s config: seed.' in text
  assert '<tr class="changed"><td>seed</td><td>2</td><td>1</td></tr>' in text
  assert re.search(r'<td[^>]*title="\d+ eval events, \d+ users">', text)
  assert '<td>recall@50 popularity</td>' in text
  assert '<h2>Run timings</h2>' in text and '<td>TwoTowerTrainer</td>' in text
  v2 = _versions(output)['query_tower'][-1]
  assert v2 > v1 and _versions(output) == {m: [v1, v2] for m in MODELS}
  assert last.startswith(f'sslrec run: pushed version {v2}: ')

  code, last = _run(capsys, data, output, '--seed', '2', '--min-recall', '1')
  assert code == 3, last
  assert re.fullmatch(r'sslrec run: not blessed, nothing pushed: .*recall.*',
                      last), last
  assert _versions(output) == {m: [v1, v2] for m in MODELS}
  assert cli.main(['inspect', 'pushed', '--output', output, '--json']) == 0
  pushed = {p['pusher']: p for p in json.loads(capsys.readouterr().out)}
  for p in pushed.values():
    assert p['pushed_version'] == str(v2)
    assert p['blessing']['blessed'] is True  # the push's, not the newest one
    assert p['served'] is True
  assert pushed['PushQueryTower']['evaluation']['blessed'] is False

  assert cli.main(['rollback', '--output', output]) == 0
  out = capsys.readouterr().out
  v3 = _versions(output)['query_tower'][-1]
  assert v3 > v2 and _versions(output) == {m: [v1, v2, v3] for m in MODELS}
  assert out.startswith(f'sslrec rollback: version {v3} now serves the models '
                        f'of version {v1}: ')
  for m in MODELS:
    assert _same_tree(os.path.join(output, 'serving', m, str(v1)),
                      os.path.join(output, 'serving', m, str(v3)))
  assert versions.load(os.path.join(output, 'serving'))[-1]['rollback_of'] == v1
  assert cli.main(['inspect', 'pushed', '--output', output, '--json']) == 0
  pushed = {p['pusher']: p for p in json.loads(capsys.readouterr().out)}
  assert {p['pushed_version'] for p in pushed.values()} == {str(v3)}
  assert {p['rollback_of'] for p in pushed.values()} == {v1}

  code, last = _run(capsys, data, output, '--seed', '1')
  assert code == 0, last
  assert last.startswith(f'sslrec run: nothing new to push: version {v3} '
                         'already serves these models'), last
  blessing, store = _newest_blessing(output)
  baseline_uri = blessing.custom_properties['baseline_model'].string_value
  first_query_model = [
      a for a in store.get_artifacts_by_type('Model')
      if a.uri == baseline_uri and 'rollback_of' not in a.custom_properties]
  assert first_query_model, baseline_uri
  # run 1's query model: the one pushed as v1.
  assert _same_model(os.path.join(baseline_uri, 'Format-Serving'),
                     os.path.join(output, 'serving', 'query_tower', str(v1)))

  # A served folder that disappeared is reported.
  shutil.rmtree(os.path.join(output, 'serving', 'index', str(v3)))
  assert cli.main(['inspect', 'pushed', '--output', output]) == 0
  assert 'MISSING: the served folder does not exist' in capsys.readouterr().out
  assert cli.main(['rollback', '--output', output, '--to', '12']) == 2
  assert 'no version 12 of every model' in capsys.readouterr().err

"""The three pushes of a run share one version (files only, no TensorFlow)."""
import os

from components.pusher import push
from components.pusher import versions

NAMES = ('query_tower', 'item_tower', 'index')


def _model(root, name, content):
  path = os.path.join(str(root), name)
  os.makedirs(os.path.join(path, 'variables'), exist_ok=True)
  with open(os.path.join(path, push.SAVED_MODEL_FILE), 'w') as f:
    f.write(content)
  with open(os.path.join(path, 'variables', 'v'), 'w') as f:
    f.write(content * 2)
  return path


def _push_run(tmp_path, serving, key, contents, now):
  models = {n: _model(tmp_path / key, n, contents[n]) for n in NAMES}
  return {n: versions.push_model(models[n], serving, n, key, now=now)
          for n in NAMES}


def test_a_run_pushes_one_version_for_its_three_models(tmp_path):
  serving = str(tmp_path / 'serving')
  # The item tower already has a later version than the clock: the run's
  # version is above every model's versions, not just the first pusher's.
  os.makedirs(os.path.join(serving, 'item_tower', '150'))
  first = _push_run(tmp_path, serving, 'blessing-1',
                    {n: n + '1' for n in NAMES}, now=100)
  assert {r.version for r in first.values()} == {151}
  assert all(r.new for r in first.values())
  second = _push_run(tmp_path, serving, 'blessing-2',
                     {n: n + '2' for n in NAMES}, now=100)
  assert {r.version for r in second.values()} == {152}
  for n in NAMES:
    assert push.existing_versions(os.path.join(serving, n))[-2:] == [151, 152]
  assert [e['version'] for e in versions.load(serving)] == [151, 152]


def test_unchanged_models_under_a_new_blessing_are_not_pushed_again(tmp_path):
  serving = str(tmp_path / 'serving')
  same = {n: n + '1' for n in NAMES}
  _push_run(tmp_path, serving, 'blessing-1', same, now=100)
  again = _push_run(tmp_path, serving, 'blessing-2', same, now=200)
  assert {r.version for r in again.values()} == {100}
  assert not any(r.new for r in again.values())
  # The same key again (a cache hit re-running a pusher): the same version.
  assert versions.push_model(_model(tmp_path / 'x', 'index', 'index1'),
                             serving, 'index', 'blessing-2').version == 100


def test_first_model_unchanged_but_a_later_one_new_moves_all_three(tmp_path):
  serving = str(tmp_path / 'serving')
  _push_run(tmp_path, serving, 'blessing-1', {n: n + '1' for n in NAMES},
            now=100)
  mixed = {'query_tower': 'query_tower1', 'item_tower': 'item_tower2',
           'index': 'index2'}
  results = _push_run(tmp_path, serving, 'blessing-2', mixed, now=100)
  assert results['item_tower'].version == results['index'].version == 101
  # The query tower was re-pushed at 101 when the item tower turned out new.
  assert push.existing_versions(os.path.join(serving, 'query_tower')) == [
      100, 101]
  with open(os.path.join(serving, 'query_tower', '101',
                         push.SAVED_MODEL_FILE)) as f:
    assert f.read() == 'query_tower1'

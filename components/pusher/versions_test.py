"""The three pushes of a run share one version, published all or nothing
(files only, no TensorFlow)."""
import os
import threading

import pytest

from components.pusher import push
from components.pusher import versions
from tests.support import pushes

NAMES = pushes.NAMES


def _listing(serving, name):
  return sorted(os.listdir(os.path.join(serving, name)))


def test_a_run_pushes_one_version_for_its_three_models(tmp_path):
  serving = str(tmp_path / 'serving')
  # A later version than the clock (withdrawn later as partial): the run's
  # version is above every model's versions, not just the first pusher's.
  os.makedirs(os.path.join(serving, 'item_tower', '150'))
  first = pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  assert {r.version for r in first.values()} == {151}
  assert all(r.new for r in first.values())
  second = pushes.push_run(tmp_path, serving, 'blessing-2', '2', now=100)
  assert {r.version for r in second.values()} == {152}
  for n in NAMES:
    assert push.existing_versions(os.path.join(serving, n))[-2:] == [151, 152]
    assert pushes.served_content(serving, n, 152) == n + '2'
  assert [e['version'] for e in versions.load(serving)] == [151, 152]
  assert {e['state'] for e in versions.load(serving)} == {'committed'}
  with open(os.path.join(serving, versions.MODELS_CONFIG)) as f:
    assert f.read().count('base_path') == 3


def test_no_version_folder_appears_before_the_last_model_is_pushed(tmp_path):
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  models = {n: pushes.fake_model(tmp_path / 'b2', n, n + '2') for n in NAMES}
  for name in NAMES[:2]:
    result = versions.push_model(models[name], serving, name, 'blessing-2',
                                 names=list(NAMES), now=100)
    assert result.version == 101 and not os.path.exists(result.destination)
    assert _listing(serving, name) == ['.staged-blessing-2', '100']
  assert versions.load(serving)[-1]['state'] == 'staged'
  assert [line.split(' (')[0] for line in versions.problems(serving)] == [
      'version 101']
  versions.push_model(models['index'], serving, 'index', 'blessing-2',
                      names=list(NAMES), now=100)
  for name in NAMES:
    assert _listing(serving, name) == ['100', '101']
  assert versions.problems(serving) == []


def test_unchanged_models_under_a_new_blessing_are_not_pushed_again(tmp_path):
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  again = pushes.push_run(tmp_path, serving, 'blessing-2', '1', now=200)
  assert {r.version for r in again.values()} == {100}
  assert not any(r.new for r in again.values())
  # The same key again (a cache hit re-running a pusher): the same version.
  assert versions.push_model(
      pushes.fake_model(tmp_path / 'x', 'index', 'index1'), serving,
      'index', 'blessing-2', names=list(NAMES)).version == 100


def test_first_model_unchanged_but_a_later_one_new_moves_all_three(tmp_path):
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  models = {'query_tower': pushes.fake_model(tmp_path, 'query_tower',
                                             'query_tower1'),
            'item_tower': pushes.fake_model(tmp_path, 'item_tower',
                                            'item_tower2'),
            'index': pushes.fake_model(tmp_path, 'index', 'index2')}
  results = {n: versions.push_model(models[n], serving, n, 'blessing-2',
                                    now=100, names=list(NAMES))
             for n in NAMES}
  assert results['item_tower'].version == results['index'].version == 101
  # The query tower is published at 101 too, from its recorded source.
  for name in NAMES:
    assert push.existing_versions(os.path.join(serving, name)) == [100, 101]
  assert pushes.served_content(serving, 'query_tower', 101) == 'query_tower1'


def test_a_failed_stage_leaves_the_served_version_untouched(tmp_path):
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  models = {n: pushes.fake_model(tmp_path / 'b2', n, n + '2') for n in NAMES}

  def fail_on_index(copy, name):
    if name == 'index':
      raise RuntimeError('index: failed validation')

  for name in NAMES[:2]:
    versions.push_model(models[name], serving, name, 'blessing-2',
                        names=list(NAMES), now=100, prepare=fail_on_index)
  with pytest.raises(RuntimeError, match='index: failed validation'):
    versions.push_model(models['index'], serving, 'index', 'blessing-2',
                        names=list(NAMES), now=100, prepare=fail_on_index)
  for name in NAMES:
    assert push.existing_versions(os.path.join(serving, name)) == [100]
  assert not [n for n in os.listdir(os.path.join(serving, 'index'))
              if n.startswith('.tmp-')]
  # The next run removes the staged copies, and says so in one line.
  [line] = versions.repair(serving)
  assert line.startswith('version 101 (blessing-2) was staged but never '
                         'published')
  for name in NAMES:
    assert _listing(serving, name) == ['100']


def test_repair_withdraws_a_partial_version_of_an_older_release(tmp_path):
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  # What the one-by-one pushers of an older release left after a kill: a new
  # index beside the old towers, and a journal listing all three.
  pushes.fake_model(tmp_path / 'old', '200', 'index2')
  os.rename(str(tmp_path / 'old' / '200'), os.path.join(serving, 'index',
                                                        '200'))
  entries = versions.load(serving)
  entries.append({'version': 200, 'key': 'blessing-2', 'rollback_of': None,
                  'models': {n: '/gone' for n in NAMES}})
  versions.save(serving, entries)
  [problem] = versions.problems(serving)
  assert problem.startswith('version 200 is partial (index present, '
                            'item_tower, query_tower missing)')
  [line] = versions.repair(serving)
  assert line.startswith('withdrew partial version 200 (index present')
  assert line.endswith('version 100 is served')
  assert push.existing_versions(os.path.join(serving, 'index')) == [100]
  assert [n for n in _listing(serving, 'index')
          if n.startswith('.partial-200-')]
  assert versions.load(serving)[-1]['state'] == 'withdrawn'
  assert versions.problems(serving) == [] and versions.repair(serving) == []
  # The number is never reused.
  assert versions.next_version(serving, now=0) == 201


def test_repair_finishes_a_committed_version(tmp_path):
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  pushes.push_run(tmp_path, serving, 'blessing-2', '2', now=100)
  # As if killed after the commit point, before the last two renames.
  for name in NAMES[1:]:
    os.rename(os.path.join(serving, name, '101'),
              versions.staged_dir(serving, name, 'blessing-2'))
  assert 'committed but not fully published' in versions.problems(serving)[0]
  [line] = versions.repair(serving)
  assert line.startswith('finished publishing version 101')
  for name in NAMES:
    assert pushes.served_content(serving, name, 101) == name + '2'


def test_a_rerun_with_cached_pushers_publishes_from_recorded_sources(
    tmp_path):
  """A run killed after staging two models: the re-run's first two pushers
  are cache hits (they do not run); the index pusher publishes all three."""
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  models = {n: pushes.fake_model(tmp_path / 'b2', n, n + '2') for n in NAMES}
  for name in NAMES[:2]:
    versions.push_model(models[name], serving, name, 'blessing-2',
                        names=list(NAMES), now=100)
  [line] = versions.repair(serving)  # the next run starts
  assert 'never published' in line
  result = versions.push_model(models['index'], serving, 'index',
                               'blessing-2', names=list(NAMES), now=100)
  assert (result.version, result.new) == (101, True)
  for name in NAMES:
    assert pushes.served_content(serving, name, 101) == name + '2'


def test_pushers_running_in_parallel_publish_one_complete_version(tmp_path):
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  models = {n: pushes.fake_model(tmp_path / 'b2', n, n + '2', size=1 << 20)
            for n in NAMES}
  results = {}

  def push_one(name):
    results[name] = versions.push_model(models[name], serving, name,
                                        'blessing-2', names=list(NAMES))

  threads = [threading.Thread(target=push_one, args=(n,)) for n in NAMES]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert len({r.version for r in results.values()}) == 1
  version = results['index'].version
  for name in NAMES:
    assert pushes.served_content(serving, name, version) == name + '2'
  assert versions.load(serving)[-1]['state'] == 'committed'

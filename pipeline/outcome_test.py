"""Tests of the run outcome: exit code and last line from blessing and pushes."""
from pipeline import outcome


def _pushes(version='7', new=True, pushers=outcome.PUSHERS):
  return [outcome.Push(p, version, f'/s/{p}/{version}', new) for p in pushers]


def test_pushed_names_the_version_and_destinations():
  result = outcome.decide(True, 'blessed: ...', _pushes())
  assert result.exit_code == 0
  assert result.message == ('pushed version 7: /s/PushQueryTower/7, '
                            '/s/PushItemTower/7, /s/PushIndex/7')


def test_nothing_new_is_success():
  result = outcome.decide(True, '', _pushes(new=False))
  assert result.exit_code == 0
  assert result.message.startswith('nothing new to push: version 7 already '
                                   'serves these models')


def test_not_blessed_is_3_with_the_reason():
  result = outcome.decide(False, 'overall recall@50 0.01 < threshold 0.05', [])
  assert result == outcome.Outcome(
      3, 'not blessed, nothing pushed: overall recall@50 0.01 < threshold 0.05')


def test_missing_push_or_blessing_or_mismatch_is_internal():
  assert outcome.decide(True, '', _pushes()[:2]).exit_code == 1
  assert 'PushIndex did not push' in outcome.decide(True, '', _pushes()[:2]
                                                    ).message
  assert outcome.decide(None, '', []).exit_code == 1
  mixed = _pushes()[:2] + [outcome.Push('PushIndex', '8', '/s/i/8', True)]
  assert outcome.decide(True, '', mixed).message.startswith(
      "pushed mismatched versions ['7', '8']")


def test_a_push_recorded_before_its_version_moved_reads_the_journal(tmp_path):
  """The query tower's pusher found its bytes unchanged (version 100); the
  index was new, so the version moved to 101 when the last pusher published
  it: the outcome names the published version."""
  from tests.support import pushes  # pylint: disable=g-import-not-at-top
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=100)
  models = {n: pushes.fake_model(tmp_path / 'b2', n, n + ('2' if n == 'index'
                                                           else '1'))
            for n in pushes.NAMES}
  from components.pusher import versions  # pylint: disable=g-import-not-at-top
  results = {n: versions.push_model(models[n], serving, n, 'blessing-2',
                                    names=list(pushes.NAMES), now=100)
             for n in pushes.NAMES}
  assert results['query_tower'].version == 100  # what its pusher recorded
  recorded = [outcome.Push(node, str(results[name].version),
                           results[name].destination, results[name].new)
              for node, name in zip(outcome.PUSHERS, pushes.NAMES)]
  published = [outcome._published(p, 'blessing-2') for p in recorded]  # pylint: disable=protected-access
  result = outcome.decide(True, '', published)
  assert result.message.startswith('pushed version 101: '), result.message
  assert outcome._published(recorded[0], '') == recorded[0]  # pylint: disable=protected-access

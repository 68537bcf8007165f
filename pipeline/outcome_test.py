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

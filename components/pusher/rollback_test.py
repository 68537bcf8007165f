"""Rollback on serving folders (files only; the ML Metadata record is tested
end to end in tests/operations_e2e_test.py)."""
import os

import pytest

from components.pusher import push
from components.pusher import rollback
from components.pusher import versions

NAMES = [name for _, name in rollback.PUSHERS]


def _serving(tmp_path, runs):
  serving = str(tmp_path / 'serving')
  for number, version in enumerate(runs, start=1):
    for name in NAMES:
      source = tmp_path / f'src{number}' / name
      source.mkdir(parents=True)
      (source / push.SAVED_MODEL_FILE).write_text(f'{name} of run {number}')
      versions.push_model(str(source), serving, name, f'blessing-{number}',
                          now=version, names=NAMES)
  return serving


def _content(serving, name, version):
  with open(os.path.join(serving, name, str(version),
                         push.SAVED_MODEL_FILE)) as f:
    return f.read()


def test_default_rolls_back_to_the_previous_version_as_a_new_one(tmp_path):
  serving = _serving(tmp_path, [100, 200])
  result = rollback.roll_back(serving, None, now=150)
  assert (result.version, result.rollback_of) == (201, 100)
  for name in NAMES:
    assert push.existing_versions(os.path.join(serving, name)) == [100, 200, 201]
    assert _content(serving, name, 201) == f'{name} of run 1'
  assert versions.load(serving)[-1]['rollback_of'] == 100
  # Rolling back again: 201 serves 100's models, so the newest version with
  # other models is 200.
  again = rollback.roll_back(serving, None, now=150)
  assert again.rollback_of == 200
  assert _content(serving, 'index', again.version) == 'index of run 2'


def test_explicit_version_and_errors(tmp_path):
  serving = _serving(tmp_path, [100, 200, 300])
  assert rollback.roll_back(serving, None, to=200).rollback_of == 200
  with pytest.raises(rollback.RollbackError, match='no version 250 of every'):
    rollback.choose(serving, 250)
  latest = push.existing_versions(os.path.join(serving, 'index'))[-1]
  with pytest.raises(rollback.RollbackError, match='already the served'):
    rollback.choose(serving, latest)
  single = _serving(tmp_path / 'one', [100])
  with pytest.raises(rollback.RollbackError, match='only one pushed version'):
    rollback.choose(single, None)


def test_a_version_missing_for_one_model_is_not_offered(tmp_path):
  serving = _serving(tmp_path, [100, 200])
  os.rename(os.path.join(serving, 'index', '100'),
            os.path.join(serving, 'index', 'gone'))
  with pytest.raises(rollback.RollbackError, match='only one pushed version'):
    rollback.choose(serving, None)

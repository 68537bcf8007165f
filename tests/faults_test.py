"""Faults during a push: real processes killed with SIGKILL, a real full disk.

Each row pushes version 1 of three stand-in models (tests/support/pushes.py),
then starts the push of version 2 in a process of its own and breaks it: a
SIGKILL where $SSLREC_PUSH_PAUSE_AT stops it, or a tmpfs too small for it.
Whatever happens, TF Serving (which serves the highest all-digit folder of
each model) must serve three models of one run, and `versions.repair` (what
the next run or rollback does) states in one line what it repaired.
"""
import os
import signal
import subprocess
import sys

import pytest

from components.pusher import push
from components.pusher import versions
from tests.support import filesystems
from tests.support import pushes

SMALL, BIG = 16 << 10, 600 << 10  # model sizes (bytes) of a disk-full row


def _served(serving):
  """model -> the content of the version TF Serving serves (the highest)."""
  out = {}
  for name in pushes.NAMES:
    found = push.existing_versions(os.path.join(serving, name))
    out[name] = pushes.served_content(serving, name, found[-1]) if found else None
  return out


def _run_of(served):
  """The run (content suffix) whose models are served; fails on a mix."""
  runs = {content[len(name):] for name, content in served.items()}
  assert len(runs) == 1, f'mixed versions served: {served}'
  return runs.pop()


def _push_process(serving, key, content, size=64, pause_at=None,
                  sources=None):
  env = dict(os.environ, PYTHONPATH=os.getcwd() + os.pathsep +
             os.environ.get('PYTHONPATH', ''))
  env.pop(versions.PAUSE_ENV, None)
  if pause_at:
    env[versions.PAUSE_ENV] = pause_at
  return subprocess.Popen(
      [sys.executable, '-m', 'tests.support.pushes', serving, key, content,
       str(size)] + ([sources] if sources else []), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True)


def _killed_at(serving, point):
  process = _push_process(serving, 'blessing-2', '2', pause_at=point)
  for line in process.stderr:  # wait until the push stops there
    if f'paused at {point}' in line:
      break
  else:
    pytest.fail(f'the push never reached {point}')
  os.kill(process.pid, signal.SIGKILL)
  process.wait(timeout=60)
  assert process.returncode == -signal.SIGKILL


# (case, how the push of run 2 is broken, the run served after it, the one
# line repair says (part of it), the run served after the repair).
CASES = [
    ('kill_after_first_model_staged', 'staged:query_tower', '1',
     '(blessing-2) was staged but never published', '1'),
    ('kill_after_the_index_is_staged', 'staged:index', '1',
     '(blessing-2) was staged but never published', '1'),
    ('kill_at_the_commit_point', 'committed', None,
     'finished publishing version', '2'),
]


@pytest.mark.parametrize('case,point,served_before,repaired,served_after',
                         CASES, ids=[c[0] for c in CASES])
def test_a_killed_push_never_serves_a_mix(tmp_path, case, point, served_before,
                                          repaired, served_after):
  del case
  serving = str(tmp_path / 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=1)
  _killed_at(serving, point)
  if served_before:
    assert _run_of(_served(serving)) == served_before
  lines = versions.repair(serving)
  assert len(lines) == 1 and repaired in lines[0], lines
  assert _run_of(_served(serving)) == served_after
  assert versions.problems(serving) == []
  # The re-run of the same key (cache hits included) publishes version 2.
  again = _push_process(serving, 'blessing-2', '2')
  assert again.wait(timeout=120) == 0, again.stderr.read()
  assert _run_of(_served(serving)) == '2'


def test_inspect_warns_and_rollback_repairs_in_one_line(tmp_path, capsys):
  """`sslrec inspect pushed` says what a killed push left, changing nothing;
  `sslrec rollback` (holding the run lock) repairs it first and says so."""
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from pipeline import cli  # pylint: disable=g-import-not-at-top
  from pipeline import metadata  # pylint: disable=g-import-not-at-top
  output = str(tmp_path)
  serving = os.path.join(output, 'serving')
  pushes.push_run(tmp_path, serving, 'blessing-1', '1', now=1)
  _killed_at(serving, 'committed')
  metadata_store.MetadataStore(metadata.sqlite(
      os.path.join(output, 'metadata.sqlite')))  # an empty store
  assert cli.main(['inspect', 'pushed', '--output', output]) == 0
  [warning] = [line for line in capsys.readouterr().err.splitlines()
               if 'warning' in line]
  assert 'is committed but not fully published' in warning
  assert 'the next `sslrec run` or `sslrec rollback` repairs it' in warning
  os.remove(os.path.join(output, 'metadata.sqlite'))  # files only
  assert cli.main(['rollback', '--output', output]) == 0
  err = capsys.readouterr()
  assert 'finished publishing version' in err.err
  assert 'now serves the models of version 1' in err.out
  assert _run_of(_served(serving)) == '1'


def test_a_disk_that_fills_during_the_item_tower_keeps_the_old_version(
    tmp_path):
  with filesystems.small_tmpfs(tmp_path / 'disk', 1024) as disk:
    serving = os.path.join(disk, 'serving')
    sources = str(tmp_path / 'sources')  # the models, on the big disk
    first = _push_process(serving, 'blessing-1', '1', SMALL, sources=sources)
    assert first.wait(timeout=120) == 0, first.stderr.read()
    second = _push_process(serving, 'blessing-2', '2', BIG, sources=sources)
    assert second.wait(timeout=120) != 0
    err = second.stderr.read()
    assert 'No space left on device' in err, err[-2000:]
    assert 'item_tower' in err  # it failed while staging the item tower
    assert _run_of(_served(serving)) == '1'
    assert versions.load(serving)[-1]['state'] == 'staged'
    lines = versions.repair(serving)
    assert len(lines) == 1 and 'never published' in lines[0]
    leftovers = [n for name in pushes.NAMES
                 for n in os.listdir(os.path.join(serving, name))
                 if not n.isdigit()]
    assert leftovers == []  # no temp or staged copy fills the disk
    third = _push_process(serving, 'blessing-3', '3', SMALL, sources=sources)
    assert third.wait(timeout=120) == 0, third.stderr.read()
    assert _run_of(_served(serving)) == '3'

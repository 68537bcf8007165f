"""Tests of the per-output run lock with real processes."""
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline import run_lock

_HOLDER = """
import sys, time
from pipeline import run_lock
with run_lock.hold(sys.argv[1]):
  print('locked', flush=True)
  time.sleep(60)
"""


def _start_holder(output_dir):
  """A child process holding the lock of `output_dir` (waits until it does)."""
  child = subprocess.Popen([sys.executable, '-c', _HOLDER, output_dir],
                           stdout=subprocess.PIPE, text=True,
                           cwd=os.path.dirname(os.path.dirname(__file__)))
  assert child.stdout.readline().strip() == 'locked'
  return child


def test_second_holder_fails_fast_naming_the_first(tmp_path):
  out = str(tmp_path / 'out')
  child = _start_holder(out)
  try:
    start = time.monotonic()
    with pytest.raises(run_lock.RunLockedError) as e:
      with run_lock.hold(out):
        pytest.fail('took a lock held by another process')
    assert time.monotonic() - start < 1.0
    message = str(e.value)
    assert f'pid {child.pid}' in message
    assert 'in use by another sslrec run' in message
    assert os.path.abspath(out) in message
    assert run_lock.is_held(out)
  finally:
    child.kill()
    child.wait()


def test_lock_of_a_killed_process_does_not_block(tmp_path):
  out = str(tmp_path / 'out')
  child = _start_holder(out)
  os.kill(child.pid, signal.SIGKILL)
  child.wait()
  # The lock file (with the dead holder's pid) is still there...
  assert run_lock.read_holder(out)['pid'] == child.pid
  assert not run_lock.is_held(out)
  # ...and does not block.
  with run_lock.hold(out) as path:
    assert path == os.path.join(out, run_lock.LOCK_FILE)
    assert run_lock.read_holder(out)['pid'] == os.getpid()


def test_lock_is_released_after_the_block_even_on_error_and_reentrant(tmp_path):
  out = str(tmp_path / 'out')
  with pytest.raises(RuntimeError):
    with run_lock.hold(out):
      raise RuntimeError('component failed')
  with run_lock.hold(out):
    with run_lock.hold(out + '/'):  # re-entrant within the process
      pass
    # Still held after the inner block: another process cannot take it.
    probe = subprocess.run(
        [sys.executable, '-c', _HOLDER, out], capture_output=True, text=True,
        cwd=os.path.dirname(os.path.dirname(__file__)), timeout=60)
    assert probe.returncode != 0 and 'RunLockedError' in probe.stderr
  assert not run_lock.is_held(out)

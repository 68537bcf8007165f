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


def test_clean_dead_runs_removes_only_what_dead_executions_left(tmp_path):
  from ml_metadata import metadata_store
  from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2
  root, serving = tmp_path / 'pipeline', tmp_path / 'serving'
  metadata = str(tmp_path / 'metadata.sqlite')
  config = mlmd_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata
  store = metadata_store.MetadataStore(config)
  node_type = store.put_context_type(mlmd_pb2.ContextType(name='node'))
  [node_id] = store.put_contexts([mlmd_pb2.Context(
      type_id=node_type, name='sslrec.ItemsTransform')])
  [node] = store.get_contexts_by_id([node_id])
  exec_type = store.put_execution_type(mlmd_pb2.ExecutionType(name='T'))
  art_type = store.put_artifact_type(mlmd_pb2.ArtifactType(name='Examples'))
  folders = {}

  def execution(state, artifact_state, name):
    folder = root / 'ItemsTransform' / name
    (folder / '.temp_path').mkdir(parents=True)
    folders[name] = folder
    artifact = mlmd_pb2.Artifact(type_id=art_type, uri=str(folder),
                                 state=artifact_state)
    event = mlmd_pb2.Event(type=mlmd_pb2.Event.OUTPUT)
    execution_id, _, _ = store.put_execution(
        mlmd_pb2.Execution(type_id=exec_type, last_known_state=state),
        [(artifact, event)], [node])
    return execution_id

  done = execution(mlmd_pb2.Execution.COMPLETE, mlmd_pb2.Artifact.LIVE, 'done')
  killed = execution(mlmd_pb2.Execution.RUNNING, mlmd_pb2.Artifact.PENDING,
                     'killed')
  system = root / 'ItemsTransform' / '.system' / 'executor_execution'
  (system / str(killed) / '.temp').mkdir(parents=True)
  (system / str(done)).mkdir(parents=True)
  (serving / 'index' / '.tmp-123-abcd').mkdir(parents=True)
  (serving / 'index' / '122').mkdir(parents=True)
  removed = run_lock.clean_dead_runs(str(root), metadata, str(serving))
  assert sorted(removed) == sorted([
      str(folders['killed']), str(system / str(killed)),
      str(serving / 'index' / '.tmp-123-abcd')])
  assert folders['done'].exists() and (system / str(done)).exists()
  assert (serving / 'index' / '122').exists()
  assert run_lock.clean_dead_runs(str(root), metadata, str(serving)) == []

"""One pipeline run at a time per output folder: an flock on <output>/.sslrec.lock.

`hold(output)` takes an exclusive, non-blocking `fcntl.flock` on the lock file
for the duration of a run and writes the holder (pid, host, start time,
command line) into it. The kernel drops the lock when the holding process
exits, however it exits, so a lock file left behind by a dead run never
blocks the next one: only a live holder does. The file itself is left in
place (deleting it would race with a run that has just opened it).
"""
import contextlib
import datetime
import fcntl
import json
import os
import socket
import sys
from typing import Any, Dict, Iterator, Optional

from pipeline.errors import UserError

LOCK_FILE = '.sslrec.lock'
# Lock files this process holds (realpath -> nesting depth): `hold` is
# re-entrant, so the CLI can take the lock before importing TensorFlow (to
# fail fast) and the runner can take it again.
_HELD: Dict[str, int] = {}


class RunLockedError(UserError):
  """Another live `sslrec run` holds the output folder."""


def lock_path(output_dir: str) -> str:
  return os.path.join(output_dir, LOCK_FILE)


def read_holder(output_dir: str) -> Optional[Dict[str, Any]]:
  """The holder recorded in the lock file (the last one, live or not), or None."""
  try:
    with open(lock_path(output_dir)) as f:
      holder = json.loads(f.read() or 'null')
  except (OSError, ValueError):
    return None
  return holder if isinstance(holder, dict) else None


def _describe(holder: Optional[Dict[str, Any]]) -> str:
  if not holder:
    return 'holder unknown'
  return (f"pid {holder.get('pid')} on {holder.get('host')}, started "
          f"{holder.get('started')}: {holder.get('command')}")


def is_held(output_dir: str) -> bool:
  """Whether a live process holds the lock (without taking it).

  Best effort, for display only: the recorded pid is alive on this host. It
  never takes the lock itself, so it cannot make a starting run fail.
  """
  holder = read_holder(output_dir)
  if not holder or holder.get('host') != socket.gethostname():
    return False
  try:
    os.kill(int(holder.get('pid', -1)), 0)
  except (OSError, ValueError, TypeError):
    return False
  return True


@contextlib.contextmanager
def hold(output_dir: str) -> Iterator[str]:
  """Holds the run lock of `output_dir` (created if missing) inside the block.

  Re-entrant within one process.

  Yields:
    The lock file path.

  Raises:
    RunLockedError: another live process holds the lock.
  """
  path = lock_path(output_dir)
  key = os.path.realpath(path)
  if key in _HELD:  # this process holds it already
    _HELD[key] += 1
    try:
      yield path
    finally:
      _HELD[key] -= 1
    return
  try:
    os.makedirs(output_dir, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as e:  # a read-only or foreign folder
    raise UserError(f'--output {os.path.abspath(output_dir)}: cannot write '
                    f'the run lock {os.path.abspath(path)}: '
                    f'{e.strerror or e}; give a writable --output') from None
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise RunLockedError(
          f'{os.path.abspath(output_dir)} is in use by another sslrec run '
          f'({_describe(read_holder(output_dir))}); wait for it to finish or '
          f'use another --output (lock file {os.path.abspath(path)})') from None
    holder = {
        'pid': os.getpid(),
        'host': socket.gethostname(),
        'started': datetime.datetime.now().isoformat(timespec='seconds'),
        'command': ' '.join(sys.argv),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(holder) + '\n').encode('utf-8'), 0)
    _HELD[key] = 1
    try:
      yield path
    finally:
      del _HELD[key]
      os.ftruncate(fd, 0)  # a clean exit leaves no holder behind
  finally:
    os.close(fd)  # releases the flock


def clean_dead_runs(pipeline_root: str, metadata, serving_root: str) -> list:
  """Removes what killed runs left half-written; call while holding the lock.

  With the lock held, no other run is alive, so an execution that ML
  Metadata still records as RUNNING (or NEW) belongs to a dead run: its
  output artifacts that never became LIVE (PENDING, e.g. half-written
  examples, Transform's `.temp_path`) and its executor temp folder
  (`<pipeline_root>/<node>/.system/executor_execution/<id>`) are deleted, and
  so are pushers' temp copies (`<serving>/<model>/.tmp-*`). The executions
  stay in ML Metadata (`sslrec inspect runs` shows the run as interrupted).

  Returns:
    The removed paths.
  """
  import glob  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  removed = []
  for tmp in sorted(glob.glob(os.path.join(serving_root, '*', '.tmp-*'))):
    shutil.rmtree(tmp, ignore_errors=True)
    removed.append(tmp)
  from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2  # pylint: disable=g-import-not-at-top
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  if isinstance(metadata, str):
    metadata = inspection.sqlite_connection(metadata)
  if (metadata.WhichOneof('config') == 'sqlite'
      and not os.path.isfile(metadata.sqlite.filename_uri)):
    return removed  # no run recorded yet
  store = inspection.open_store(metadata)
  dead = {e.id: e for e in store.get_executions()
          if e.last_known_state in (mlmd_pb2.Execution.RUNNING,
                                    mlmd_pb2.Execution.NEW)}
  if not dead:
    return removed
  node_of = {}
  for ctx in store.get_contexts_by_type('node'):
    for e in store.get_executions_by_context(ctx.id):
      node_of[e.id] = ctx.name.rpartition('.')[2]
  outputs = [ev.artifact_id for ev in
             store.get_events_by_execution_ids(sorted(dead))
             if ev.type in (mlmd_pb2.Event.OUTPUT, mlmd_pb2.Event.PENDING_OUTPUT)]
  paths = [a.uri for a in store.get_artifacts_by_id(outputs)
           if a.state != mlmd_pb2.Artifact.LIVE and a.uri]
  paths += [os.path.join(pipeline_root, node_of[i], '.system',
                         'executor_execution', str(i))
            for i in sorted(dead) if i in node_of]
  root = os.path.realpath(pipeline_root)
  for path in paths:
    inside = os.path.realpath(path).startswith(root + os.sep)
    if inside and os.path.exists(path):  # never outside the pipeline root
      shutil.rmtree(path, ignore_errors=True)
      removed.append(path)
  return removed

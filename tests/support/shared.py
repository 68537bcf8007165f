"""Session fixtures built once per test run, also across pytest-xdist workers.

`make test` runs pytest with `-n 2 --dist loadfile` (pytest-xdist): each
worker process has its own session, so a session fixture that test files on
both workers use would be built twice. Such a fixture builds its folder
through `build_once` (or its result through `result_once`): the first worker
to ask builds it under a lock in the run's shared temporary folder, the
other waits for it and reads it back.
"""
import fcntl
import os
import pathlib
import pickle
import shutil
from typing import Any, Callable

_DONE = '.built'
_RESULT = 'result.pickle'


def run_root(tmp_path_factory) -> pathlib.Path:
  """The temporary folder of the whole pytest run (shared by xdist workers)."""
  base = tmp_path_factory.getbasetemp()
  # An xdist worker's basetemp is <the run's basetemp>/popen-gw<N>.
  return base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base


def build_once(tmp_path_factory, name: str,
               build: Callable[[pathlib.Path], None]) -> pathlib.Path:
  """<run root>/<name>, made by `build(folder)` in exactly one process.

  A build that raised leaves no folder behind, so the next process to ask
  builds it again (and fails alike, with its own traceback).
  """
  root = run_root(tmp_path_factory)
  folder = root / name
  with open(root / f'{name}.lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if not (folder / _DONE).exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        try:
          build(folder)
        except BaseException:
          shutil.rmtree(folder, ignore_errors=True)
          raise
        (folder / _DONE).touch()
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return folder


def result_once(tmp_path_factory, name: str, build: Callable[[pathlib.Path], Any]):
  """`build(folder)`'s result, built once per run (`build_once`), read back.

  The result must pickle: the process that built it pickles it into the
  folder, and every process (that one included) returns the unpickled copy.
  """
  def make(folder):
    result = build(folder)
    with open(folder / _RESULT, 'wb') as f:
      pickle.dump(result, f)
  with open(build_once(tmp_path_factory, name, make) / _RESULT, 'rb') as f:
    return pickle.load(f)

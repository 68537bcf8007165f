"""Atomic push of a SavedModel directory to `<base_directory>/<version>/` (TF Serving layout).

The model is copied into a hidden temp directory beside the version directories
(`<base>/.tmp-<version>-<random>/<version>/`; TF Serving ignores it: it only
loads all-digit names) and then renamed to `<base>/<version>`, so a version
directory appears complete or not at all. Earlier versions are never touched.

version = max(current epoch seconds, largest existing version + 1): increasing
and never reused, also for two pushes within one second. If another pusher
takes the same version between our listing and our rename, the rename fails
(the target exists) and the next version is tried.

A model whose files are byte for byte those of the latest version (a re-run
with unchanged inputs re-blesses the same model) is not pushed again: `push`
returns that version with `new=False`.

The rename is atomic on local and POSIX filesystems. On object stores (gs://,
s3://) a directory rename is a copy and delete, so it is not atomic there.
"""
import contextlib
import logging
import os
import time
import uuid
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional

from tfx.dsl.io import fileio

SAVED_MODEL_FILE = 'saved_model.pb'
# Written into each pushed copy (serving.py); not part of the model's bytes.
WARMUP_FILE = os.path.join('assets.extra', 'tf_serving_warmup_requests')
TMP_PREFIX = '.tmp-'
_MAX_ATTEMPTS = 5


def existing_versions(base_directory: str) -> List[int]:
  """Sorted integer versions present under base_directory."""
  if not fileio.exists(base_directory):
    return []
  names = [n.rstrip('/') for n in fileio.listdir(base_directory)]
  return sorted(int(n) for n in names if n.isdigit())


def next_version(base_directory: str, now: Optional[float] = None) -> int:
  """max(epoch seconds, last version + 1)."""
  versions = existing_versions(base_directory)
  now = int(time.time() if now is None else now)
  return max([now] + [v + 1 for v in versions])


def copy_tree(src: str, dst: str) -> None:
  """Copies a directory recursively with fileio; saved_model.pb goes last."""
  src = src.rstrip('/')
  fileio.makedirs(dst)
  last = []
  for dir_name, sub_dirs, files in fileio.walk(src):
    rel = os.path.relpath(dir_name, src)
    target_dir = dst if rel == '.' else os.path.join(dst, rel)
    for sub_dir in sub_dirs:
      fileio.makedirs(os.path.join(target_dir, sub_dir.rstrip('/')))
    for name in files:
      pair = (os.path.join(dir_name, name), os.path.join(target_dir, name))
      if name == SAVED_MODEL_FILE and rel == '.':
        last.append(pair)
      else:
        fileio.copy(*pair, overwrite=False)
  for pair in last:
    fileio.copy(*pair, overwrite=False)


def _files(root: str) -> Dict[str, int]:
  """Relative path -> size of every file under root."""
  root = root.rstrip('/')
  out = {}
  for dir_name, _, files in fileio.walk(root):
    for name in files:
      path = os.path.join(dir_name, name)
      if os.path.relpath(path, root) != WARMUP_FILE:
        out[os.path.relpath(path, root)] = fileio.stat(path).length
  return out


def _same_bytes(a: str, b: str, chunk: int = 1 << 22) -> bool:
  with fileio.open(a, 'rb') as fa, fileio.open(b, 'rb') as fb:
    while True:
      block = fa.read(chunk)
      if block != fb.read(chunk):
        return False
      if not block:
        return True


def same_tree(a: str, b: str) -> bool:
  """True when two directories hold the same files with the same bytes."""
  files = _files(a)
  if files != _files(b):
    return False
  return all(_same_bytes(os.path.join(a, f), os.path.join(b, f))
             for f in files)


class PushResult(NamedTuple):
  destination: str  # <base_directory>/<version>
  version: int
  new: bool  # False: the latest version already held these exact bytes


def _unchanged(model_dir: str, version_dir: str,
               version: int) -> Optional[PushResult]:
  """PushResult(new=False) when version_dir already holds model_dir's bytes."""
  if not same_tree(model_dir, version_dir):
    return None
  logging.info('%s already holds this model; not pushing it again.',
               version_dir)
  return PushResult(version_dir, version, False)


@contextlib.contextmanager
def staged(model_dir: str, base_directory: str, version: int,
            prepare: Optional[Callable[[str], None]]) -> Iterator[str]:
  """A complete, prepared copy of model_dir in a hidden temp folder.

  The copy is `<base>/.tmp-<version>-<random>/<version>/` (TF Serving ignores
  the hidden folder; inside it the copy is a version of a valid base path,
  which the model-server check serves); the caller renames it into place.
  Whatever is left on exit (after a failed copy, prepare or rename) is removed.
  """
  tmp_dir = os.path.join(base_directory,
                         f'{TMP_PREFIX}{version}-{uuid.uuid4().hex[:8]}')
  copy = os.path.join(tmp_dir, str(version))
  try:
    copy_tree(model_dir, copy)
    if prepare:
      prepare(copy)
    yield copy
  finally:
    if fileio.exists(tmp_dir):
      fileio.rmtree(tmp_dir)


def push(model_dir: str, base_directory: str,
         now: Optional[float] = None,
         prepare: Optional[Callable[[str], None]] = None) -> PushResult:
  """Pushes a SavedModel directory unless the latest version is identical.

  Args:
    model_dir: a SavedModel directory (holds saved_model.pb).
    base_directory: the serving directory of this model (one per model).
    now: epoch seconds to use instead of the clock (tests).
    prepare: called on the complete copy before it is renamed into place
      (warmup requests, validation); an exception stops the push.

  Raises:
    FileNotFoundError: model_dir holds no saved_model.pb.
    RuntimeError: no free version after several attempts.
  """
  if not fileio.exists(os.path.join(model_dir, SAVED_MODEL_FILE)):
    raise FileNotFoundError(f'no SavedModel to push: {SAVED_MODEL_FILE} not '
                            f'found in {model_dir}')
  fileio.makedirs(base_directory)
  versions = existing_versions(base_directory)
  if versions:
    unchanged = _unchanged(
        model_dir, os.path.join(base_directory, str(versions[-1])),
        versions[-1])
    if unchanged:
      return unchanged
  version = next_version(base_directory, now)
  with staged(model_dir, base_directory, version, prepare) as tmp_dir:
    for _ in range(_MAX_ATTEMPTS):
      destination = os.path.join(base_directory, str(version))
      if not fileio.exists(destination):
        try:
          fileio.rename(tmp_dir, destination, overwrite=False)
          return PushResult(destination, version, True)
        except Exception as e:  # pylint: disable=broad-except
          if not fileio.exists(destination):
            raise
          logging.info('Version %d appeared during the push (%s); trying the '
                       'next one.', version, e)
      version = next_version(base_directory, now)
  raise RuntimeError(f'could not find a free version under {base_directory} '
                     f'after {_MAX_ATTEMPTS} attempts')

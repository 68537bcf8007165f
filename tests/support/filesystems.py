"""A real, small filesystem that fills up: a size-limited tmpfs.

Mounting needs root (or CAP_SYS_ADMIN); elsewhere the test is skipped with
the reason (no stand-in: a quota we fake in Python would not be a full disk).
"""
import contextlib
import subprocess

import pytest


@contextlib.contextmanager
def small_tmpfs(path, size_kb: int, read_only: bool = False):
  """Mounts a `size_kb` KiB tmpfs at `path` (a new, empty folder), read-only
  if asked (root ignores file modes, not a read-only mount)."""
  path = str(path)
  subprocess.run(['mkdir', '-p', path], check=True)
  mounted = subprocess.run(
      ['mount', '-t', 'tmpfs', '-o',
       f'size={size_kb}k' + (',ro' if read_only else ''), 'tmpfs', path],
      capture_output=True, text=True, check=False)
  if mounted.returncode != 0:
    pytest.skip('cannot mount a small tmpfs here (needs root): '
                + mounted.stderr.strip())
  try:
    yield path
  finally:
    subprocess.run(['umount', '-l', path], check=False)

"""Stand-in SavedModel folders and a push of a run's three models in a process
of its own (for the kill and disk-full tests of components/pusher).

  python -m tests.support.pushes SERVING KEY CONTENT [SIZE_BYTES [SOURCES]]

stages and publishes query_tower, item_tower and index, each a folder with a
`saved_model.pb` holding '<name><CONTENT>' and a `variables/v` of SIZE_BYTES
(default 64), written under SOURCES (default: beside SERVING), in that order
($SSLREC_PUSH_PAUSE_AT stops it on the way).
"""
import os
import sys

NAMES = ('query_tower', 'item_tower', 'index')


def fake_model(root: str, name: str, content: str, size: int = 64) -> str:
  """<root>/<name>: saved_model.pb holds `content`, variables/v `size` bytes."""
  from components.pusher import push  # pylint: disable=g-import-not-at-top
  path = os.path.join(str(root), name)
  os.makedirs(os.path.join(path, 'variables'), exist_ok=True)
  with open(os.path.join(path, push.SAVED_MODEL_FILE), 'w') as f:
    f.write(content)
  with open(os.path.join(path, 'variables', 'v'), 'wb') as f:
    f.write((content.encode() * (size // max(len(content), 1) + 1))[:size])
  return path


def push_run(sources_root: str, serving: str, key: str, content: str,
             size: int = 64, names=NAMES, now=None):
  """Pushes the three models of one run, in order; returns their results."""
  from components.pusher import versions  # pylint: disable=g-import-not-at-top
  models = {n: fake_model(os.path.join(str(sources_root), key), n,
                          n + content, size) for n in names}
  return {n: versions.push_model(models[n], serving, n, key, now=now,
                                 names=list(names)) for n in names}


def served_content(serving: str, name: str, version: int) -> str:
  from components.pusher import push  # pylint: disable=g-import-not-at-top
  with open(os.path.join(serving, name, str(version),
                         push.SAVED_MODEL_FILE)) as f:
    return f.read()


if __name__ == '__main__':
  serving_root, run_key, text = sys.argv[1:4]
  size_bytes = int(sys.argv[4]) if len(sys.argv) > 4 else 64
  sources = (sys.argv[5] if len(sys.argv) > 5
             else os.path.join(os.path.dirname(serving_root), 'sources'))
  push_run(sources, serving_root, run_key, text, size_bytes)
  print('pushed', flush=True)

"""One version number for the models of one run (query tower, item tower, index).

The pushers of a run push to sibling folders of one serving root
(`<serving>/query_tower`, `<serving>/item_tower`, `<serving>/index`) and must
use the same version, so a client asking TF Serving for version V gets a query
tower, an item tower and an index that belong together. The serving root holds
a small journal, `<serving>/versions.json`, one entry per version:

  {"version": 1795965171, "key": "blessing-31", "models": {"query_tower": SRC, ...},
   "rollback_of": null}

`key` names what the version serves (the ModelBlessing all three pushers
read, or `rollback-...`). The first pusher of a key picks the version: the
newest journal version again when its model has the same bytes as that
version's (nothing new to push), else a new one, larger than every version of
every sibling folder and of the journal. The other pushers of the key read it.
Writes of the journal are atomic (temp file, rename); one run at a time per
output folder (the run lock) means one writer.
"""
import json
import os
import time
import uuid
from typing import Any, Callable, Dict, List, Optional

from tfx.dsl.io import fileio

from components.pusher import push

JOURNAL = 'versions.json'


def journal_path(serving_root: str) -> str:
  return os.path.join(serving_root, JOURNAL)


def load(serving_root: str) -> List[Dict[str, Any]]:
  """The journal entries, oldest first ([] when there is none)."""
  path = journal_path(serving_root)
  if not fileio.exists(path):
    return []
  with fileio.open(path, 'r') as f:
    return json.load(f).get('versions', [])


def save(serving_root: str, entries: List[Dict[str, Any]]) -> None:
  fileio.makedirs(serving_root)
  tmp = os.path.join(serving_root, f'.{JOURNAL}.{uuid.uuid4().hex[:8]}')
  with fileio.open(tmp, 'w') as f:
    f.write(json.dumps({'versions': entries}, indent=1, sort_keys=True))
  fileio.rename(tmp, journal_path(serving_root), overwrite=True)


def model_dirs(serving_root: str) -> List[str]:
  """The model folders (query_tower, ...) under a serving root."""
  if not fileio.exists(serving_root):
    return []
  return sorted(n.rstrip('/') for n in fileio.listdir(serving_root)
                if fileio.isdir(os.path.join(serving_root, n.rstrip('/')))
                and not n.startswith('.'))


def next_version(serving_root: str, now: Optional[float] = None) -> int:
  """max(epoch seconds, 1 + every version of every model and the journal)."""
  taken = [e['version'] for e in load(serving_root)]
  for name in model_dirs(serving_root):
    taken += push.existing_versions(os.path.join(serving_root, name))
  now = int(time.time() if now is None else now)
  return max([now] + [v + 1 for v in taken])


def entry_for(entries: List[Dict[str, Any]], key: str
              ) -> Optional[Dict[str, Any]]:
  for entry in entries:
    if entry['key'] == key:
      return entry
  return None


def push_model(model_dir: str, serving_root: str, name: str, key: str,
               now: Optional[float] = None,
               prepare: Optional[Callable[[str, str], None]] = None
               ) -> push.PushResult:
  """Pushes `model_dir` as model `name` at the version of `key`.

  Returns the PushResult (new=False when that version already holds these
  bytes). If the version of `key` already holds other bytes for `name` (the
  first pusher found its model unchanged, this one did not), every model of
  the key moves to a new version, so the three still match. `prepare(copy,
  name)` runs on each copy before it is renamed into place (serving.prepare).
  """
  def prepared(model_name):
    return (lambda copy: prepare(copy, model_name)) if prepare else None

  entries = load(serving_root)
  base = os.path.join(serving_root, name)
  entry = entry_for(entries, key)
  if entry is None:
    version = None
    own = push.existing_versions(base)
    latest = entries[-1]['version'] if entries else (own[-1] if own else None)
    if latest is not None:
      latest_dir = os.path.join(base, str(latest))
      if fileio.exists(latest_dir) and push.same_tree(model_dir, latest_dir):
        version = latest
    entry = {'version': version or next_version(serving_root, now),
             'key': key, 'models': {}, 'rollback_of': None}
    entries.append(entry)
  entry['models'][name] = model_dir
  target = os.path.join(base, str(entry['version']))
  if fileio.exists(target) and not push.same_tree(model_dir, target):
    entry['version'] = next_version(serving_root, now)
    for other, source in entry['models'].items():
      if other != name:
        push.push(source, os.path.join(serving_root, other),
                  version=entry['version'], prepare=prepared(other))
  save(serving_root, entries)
  return push.push(model_dir, base, version=entry['version'],
                   prepare=prepared(name))

"""One version of the models of one run (query tower, item tower, index), published all or nothing.

The pushers of a run push to sibling folders of one serving root
(`<serving>/query_tower`, `<serving>/item_tower`, `<serving>/index`) and share
one version V, so a client asking TF Serving for version V gets a query
tower, an item tower and an index that belong together. TF Serving loads any
all-digit folder under a model's base path, so no `<model>/<V>` may appear
before every model of V is complete. A push therefore has two phases:

  stage    each pusher copies and validates its model into a hidden folder,
           `<serving>/<model>/.staged-<key>` (TF Serving ignores it), and
           records its source in the journal;
  publish  the pusher that completes the set stages any model still missing
           (from the sources the journal records), writes models.config,
           then writes the journal with the version's state `committed`
           (one atomic rename: the commit point), then renames the staged
           folders to `<serving>/<model>/<V>`.

`<serving>/versions.json` is the journal, one entry per version:

  {"version": 1795965171, "key": "blessing-31", "names": [...],
   "models": {"query_tower": SRC, ...}, "state": "committed",
   "rollback_of": null}

`key` names what the version serves (the ModelBlessing all three pushers
read, or `rollback-...`). A version whose every model has the same bytes as
the newest version's is not published again (state committed at that
version, nothing copied).

A failure before the commit point (a full disk, a failed validation, a kill)
leaves the served versions untouched; `repair` (run by `sslrec run` and
`sslrec rollback`, and by each pusher) then removes the staged copies, and a
re-run of the same key publishes it from the recorded sources. A kill after
the commit point leaves some staged folders not yet renamed: `repair`
renames them (the version was committed). A version folder present for some
models but not all (left by an older release, or removed by hand) is
withdrawn: renamed to `<model>/.partial-<V>`, so TF Serving goes back to the
previous complete version. `problems` reports all of this without changing
anything (`sslrec inspect pushed`).

Writes of the journal are atomic (temp file, rename), and pushes, rollbacks
and repairs of one local serving root take turns (an flock on
`<serving>/.sslrec-push.lock`), so pushers an orchestrator runs in parallel
never lose each other's journal records. $SSLREC_PUSH_PAUSE_AT (a
point name, see `_pause`) makes a push stop there, for the kill tests.
"""
import contextlib
import fcntl
import json
import logging
import os
import sys
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional

from tfx.dsl.io import fileio

from components.pusher import model_server
from components.pusher import push

JOURNAL = 'versions.json'
MODELS_CONFIG = 'models.config'
PUSH_LOCK = '.sslrec-push.lock'
STAGED_PREFIX = '.staged-'
PARTIAL_PREFIX = '.partial-'
STAGED, COMMITTED, WITHDRAWN = 'staged', 'committed', 'withdrawn'
# A point name ('staged:<model>', 'committed'): the push stops there (tests).
PAUSE_ENV = 'SSLREC_PUSH_PAUSE_AT'

Entry = Dict[str, Any]
Prepare = Callable[[str, str], None]  # (copy, model name)


def _pause(point: str) -> None:
  """Waits forever at `point` when $SSLREC_PUSH_PAUSE_AT names it."""
  if os.environ.get(PAUSE_ENV) == point:
    print(f'sslrec push paused at {point}', file=sys.stderr, flush=True)
    while True:
      time.sleep(60)


def journal_path(serving_root: str) -> str:
  return os.path.join(serving_root, JOURNAL)


def load(serving_root: str) -> List[Entry]:
  """The journal entries, oldest first ([] when there is none)."""
  path = journal_path(serving_root)
  if not fileio.exists(path):
    return []
  with fileio.open(path, 'r') as f:
    return json.load(f).get('versions', [])


def _write_atomically(path: str, text: str) -> None:
  """Writes a temp file beside `path`, then renames it; no temp left behind."""
  folder, name = os.path.split(path)
  tmp = os.path.join(folder, f'.{name}.{uuid.uuid4().hex[:8]}')
  try:
    with fileio.open(tmp, 'w') as f:
      f.write(text)
    fileio.rename(tmp, path, overwrite=True)
  finally:
    if fileio.exists(tmp):
      fileio.remove(tmp)


def save(serving_root: str, entries: List[Entry]) -> None:
  fileio.makedirs(serving_root)
  _write_atomically(journal_path(serving_root),
                    json.dumps({'versions': entries}, indent=1,
                               sort_keys=True))


def state(entry: Entry) -> str:
  return entry.get('state', COMMITTED)  # older releases wrote no state


def model_dirs(serving_root: str) -> List[str]:
  """The model folders (query_tower, ...) under a serving root."""
  if not fileio.exists(serving_root):
    return []
  return sorted(n.rstrip('/') for n in fileio.listdir(serving_root)
                if fileio.isdir(os.path.join(serving_root, n.rstrip('/')))
                and not n.startswith('.'))


def _withdrawn_versions(base: str) -> List[int]:
  if not fileio.exists(base):
    return []
  names = [n.rstrip('/') for n in fileio.listdir(base)]
  return [int(n[len(PARTIAL_PREFIX):].partition('-')[0]) for n in names
          if n.startswith(PARTIAL_PREFIX)
          and n[len(PARTIAL_PREFIX):].partition('-')[0].isdigit()]


def next_version(serving_root: str, now: Optional[float] = None) -> int:
  """max(epoch seconds, 1 + every version of every model and the journal)."""
  taken = [e['version'] for e in load(serving_root) if e.get('version')]
  for name in model_dirs(serving_root):
    base = os.path.join(serving_root, name)
    taken += push.existing_versions(base) + _withdrawn_versions(base)
  now = int(time.time() if now is None else now)
  return max([now] + [v + 1 for v in taken])


def entry_for(entries: List[Entry], key: str) -> Optional[Entry]:
  for entry in entries:
    if entry['key'] == key:
      return entry
  return None


def staged_dir(serving_root: str, name: str, key: str) -> str:
  return os.path.join(serving_root, name, STAGED_PREFIX + key)


def _version_dir(serving_root: str, name: str, version: int) -> str:
  return os.path.join(serving_root, name, str(version))


def _latest_committed(entries: List[Entry]) -> Optional[int]:
  done = [e['version'] for e in entries if state(e) == COMMITTED]
  return max(done) if done else None


def _stage(model_dir: str, serving_root: str, name: str, key: str,
           prepare: Optional[Prepare]) -> None:
  """A complete, prepared copy of model_dir at staged_dir (replaced if any)."""
  target = staged_dir(serving_root, name, key)
  base = os.path.join(serving_root, name)
  if fileio.exists(target):
    if push.same_tree(model_dir, target):
      return
    fileio.rmtree(target)
  with push.staged(model_dir, base, 1, (lambda copy: prepare(copy, name))
                   if prepare else None) as copy:
    fileio.rename(copy, target, overwrite=False)


def write_models_config(serving_root: str, names) -> str:
  """Writes <serving_root>/models.config (TF Serving's model config listing
  each model's base path) atomically; returns its path:

    tensorflow_model_server --model_config_file=<serving>/models.config
  """
  root = (serving_root if '://' in serving_root
          else os.path.abspath(serving_root))
  path = os.path.join(serving_root, MODELS_CONFIG)
  _write_atomically(path, model_server.server_config(
      {name: os.path.join(root, name) for name in sorted(names)}))
  return path


@contextlib.contextmanager
def _serialized(serving_root: str) -> Iterator[None]:
  """One push or repair at a time per local serving root (an flock on
  `<serving>/.sslrec-push.lock`): pushers an orchestrator runs in parallel
  read and write the journal in turn. Remote roots are not locked."""
  if '://' in serving_root:
    yield
    return
  os.makedirs(serving_root, exist_ok=True)
  fd = os.open(os.path.join(serving_root, PUSH_LOCK), os.O_RDWR | os.O_CREAT,
               0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX)
    yield
  finally:
    os.close(fd)


def push_model(model_dir: str, serving_root: str, name: str, key: str,
               now: Optional[float] = None,
               prepare: Optional[Prepare] = None,
               names: Optional[List[str]] = None) -> push.PushResult:
  """Stages `model_dir` as model `name` of the version of `key` (module doc),
  one push at a time per serving root."""
  with _serialized(serving_root):
    return _push_model(model_dir, serving_root, name, key, now, prepare,
                       names)


def _push_model(model_dir: str, serving_root: str, name: str, key: str,
                now: Optional[float], prepare: Optional[Prepare],
                names: Optional[List[str]]) -> push.PushResult:
  """Stages `model_dir` as model `name` of the version of `key`; the push
  that completes `names` (default [name]) publishes the version.

  Returns the PushResult of `name`: its destination `<serving>/<name>/<V>`,
  which exists once every model of `names` is pushed, and new=False when V
  was already published with these bytes. `prepare(copy, name)` writes the
  warmup requests and validates each copy before it is staged.
  """
  names = sorted(set(names or [name]) | {name})
  entries = load(serving_root)
  entry = entry_for(entries, key)
  if entry is not None and state(entry) == COMMITTED:
    target = _version_dir(serving_root, name, entry['version'])
    if fileio.exists(target) and push.same_tree(model_dir, target):
      return push.PushResult(target, entry['version'], False)
    entry.update(state=STAGED, version=None)  # publish it again, anew
  if entry is None or state(entry) == WITHDRAWN:
    entry = {'version': None, 'key': key, 'models': {}, 'rollback_of': None}
    entries.append(entry)
  entry.update(state=STAGED, names=sorted(set(entry.get('names', [])) |
                                          set(names)))
  entry['models'][name] = model_dir
  latest = _latest_committed(entries)
  if entry['version'] is None:
    latest_dir = (_version_dir(serving_root, name, latest)
                  if latest is not None else None)
    same = (latest_dir and fileio.exists(latest_dir)
            and push.same_tree(model_dir, latest_dir))
    entry['version'] = latest if same else next_version(serving_root, now)
  target = _version_dir(serving_root, name, entry['version'])
  unchanged = fileio.exists(target) and push.same_tree(model_dir, target)
  if not unchanged:
    if entry['version'] == latest:  # this model differs: a new version
      entry['version'] = next_version(serving_root, now)
      target = _version_dir(serving_root, name, entry['version'])
    fileio.makedirs(serving_root)
    _stage(model_dir, serving_root, name, key, prepare)
  save(serving_root, entries)
  _pause(f'staged:{name}')
  if all(n in entry['models'] for n in entry['names']):
    new = _publish(serving_root, entries, entry, prepare, now)
    target = _version_dir(serving_root, name, entry['version'])
    return push.PushResult(target, entry['version'], new)
  logging.info('Staged %s for version %d; published when %s are pushed.',
               name, entry['version'],
               ', '.join(n for n in entry['names'] if n not in entry['models']))
  return push.PushResult(target, entry['version'], not unchanged)


def publish(serving_root: str, sources: Dict[str, str],
            now: Optional[float] = None, **fields) -> int:
  """Publishes the SavedModels `sources` ({model name: folder}) as one new
  version, all or nothing (a rollback); returns the version. `fields` go
  into its journal entry (e.g. rollback_of)."""
  with _serialized(serving_root):
    return _publish_new(serving_root, sources, now, fields)


def _publish_new(serving_root: str, sources: Dict[str, str],
                 now: Optional[float], fields: Dict[str, Any]) -> int:
  version = next_version(serving_root, now)
  entries = load(serving_root)
  entry = dict({'rollback_of': None}, **fields, version=version,
               key=f'rollback-{version}', models=dict(sources),
               names=sorted(sources), state=STAGED)
  entries.append(entry)
  save(serving_root, entries)
  _publish(serving_root, entries, entry, None, now)
  return entry['version']


def _publish(serving_root: str, entries: List[Entry], entry: Entry,
             prepare: Optional[Prepare], now: Optional[float]) -> bool:
  """Publishes the entry's version (module doc); False: nothing new."""
  key, names = entry['key'], entry['names']
  staged = [n for n in names if fileio.exists(staged_dir(serving_root, n,
                                                         key))]
  version = entry['version']
  if not staged and all(fileio.exists(_version_dir(serving_root, n, version))
                        for n in names):
    entry['state'] = COMMITTED  # every model unchanged: nothing to copy
    save(serving_root, entries)
    return False
  if any(fileio.exists(_version_dir(serving_root, n, version))
         for n in names):
    version = entry['version'] = next_version(serving_root, now)
  for n in names:
    if n not in staged:
      _stage(entry['models'][n], serving_root, n, key, prepare)
  write_models_config(serving_root, set(names) | set(model_dirs(serving_root)))
  entry['state'] = COMMITTED
  save(serving_root, entries)  # the commit point
  _pause('committed')
  for n in names:
    fileio.rename(staged_dir(serving_root, n, key),
                  _version_dir(serving_root, n, version), overwrite=False)
  logging.info('Published version %d of %s.', version, ', '.join(names))
  return True


def _describe(names: List[str], present: List[str]) -> str:
  missing = [n for n in names if n not in present]
  return (f'{", ".join(present)} present, {", ".join(missing)} missing'
          if present else 'nothing present')


def _partial_versions(serving_root: str) -> Dict[int, List[str]]:
  """Version -> the models holding it, for versions not held by every model."""
  names = model_dirs(serving_root)
  held: Dict[int, List[str]] = {}
  for name in names:
    for version in push.existing_versions(os.path.join(serving_root, name)):
      held.setdefault(version, []).append(name)
  return {v: found for v, found in held.items() if len(found) < len(names)}


def _served(serving_root: str, skip=()) -> Optional[int]:
  names = model_dirs(serving_root)
  common = None
  for name in names:
    found = set(push.existing_versions(os.path.join(serving_root, name)))
    common = found if common is None else common & found
  common = set(common or ()) - set(skip)
  return max(common) if common else None


def problems(serving_root: str) -> List[str]:
  """One line per partial, unfinished or unpublished version (read only)."""
  if not fileio.exists(serving_root):
    return []
  entries = load(serving_root)
  out = []
  for entry in entries:
    key, version = entry['key'], entry.get('version')
    names = entry.get('names') or model_dirs(serving_root)
    staged = [n for n in names
              if fileio.exists(staged_dir(serving_root, n, key))]
    if state(entry) == COMMITTED and staged:
      out.append(f'version {version} is committed but not fully published '
                 f'({", ".join(staged)} still staged)')
    elif state(entry) == STAGED and staged:
      out.append(f'version {version} ({key}) is staged but not published '
                 f'({", ".join(staged)} staged: a push in progress, or an '
                 'interrupted one)')
  partial = _partial_versions(serving_root)
  for version, present in sorted(partial.items()):
    out.append(f'version {version} is partial '
               f'({_describe(model_dirs(serving_root), present)}): '
               'TF Serving may serve models of different versions')
  return out


def repair(serving_root: str, keep_key: Optional[str] = None) -> List[str]:
  """Finishes committed versions, removes unpublished staged copies (but those
  of `keep_key`) and withdraws partial versions; one line per repair."""
  if not fileio.exists(serving_root):
    return []
  with _serialized(serving_root):
    return _repair(serving_root, keep_key)


def _repair(serving_root: str, keep_key: Optional[str]) -> List[str]:
  entries = load(serving_root)
  out, changed = [], False
  for entry in entries:
    key, version = entry['key'], entry.get('version')
    names = entry.get('names') or model_dirs(serving_root)
    staged = [n for n in names
              if fileio.exists(staged_dir(serving_root, n, key))]
    if not staged or (key == keep_key and state(entry) == STAGED):
      continue
    if state(entry) == COMMITTED and not any(
        fileio.exists(_version_dir(serving_root, n, version)) for n in staged):
      for n in staged:
        fileio.rename(staged_dir(serving_root, n, key),
                      _version_dir(serving_root, n, version), overwrite=False)
      out.append(f'finished publishing version {version} (committed before '
                 f'a push was interrupted; {", ".join(staged)} renamed into '
                 'place)')
      continue
    for n in staged:
      fileio.rmtree(staged_dir(serving_root, n, key))
    if state(entry) == STAGED:
      out.append(f'version {version} ({key}) was staged but never published '
                 '(an interrupted push): removed its staged copies; a re-run '
                 'publishes it')
  names = model_dirs(serving_root)
  for version, present in sorted(_partial_versions(serving_root).items()):
    for name in present:
      fileio.rename(_version_dir(serving_root, name, version),
                    os.path.join(serving_root, name,
                                 f'{PARTIAL_PREFIX}{version}-'
                                 f'{uuid.uuid4().hex[:6]}'), overwrite=False)
    for entry in entries:
      if entry.get('version') == version and state(entry) == COMMITTED:
        entry['state'], changed = WITHDRAWN, True
    served = _served(serving_root)
    out.append(f'withdrew partial version {version} '
               f'({_describe(names, present)}; kept as '
               f'<model>/{PARTIAL_PREFIX}{version}-*); '
               + (f'version {served} is served' if served
                  else 'no complete version left to serve'))
  if changed:
    save(serving_root, entries)
  if out and names and any(e for e in entries if state(e) == COMMITTED):
    write_models_config(serving_root, names)
  return out

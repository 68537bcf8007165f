"""Reads pipeline runs, artifacts, lineage and pushes from an ML Metadata store.

Everything goes through the ml_metadata API on a read-only connection, so a
store that a run is writing can be inspected. Results are plain dicts (what
`sslrec inspect --json` prints). TFX conventions relied on:

- a pipeline run is a context of type `pipeline_run` (its name is the run id);
  a component is a context of type `node` named `<pipeline>.<component id>`;
- an execution's `last_known_state` is COMPLETE, FAILED, RUNNING, NEW, CACHED
  or CANCELED; a cached execution has OUTPUT events to the reused artifacts;
- events INPUT / OUTPUT link executions to artifacts, with the channel key as
  the first step of the event path.
"""
import datetime
import json
import os
import re
import sqlite3
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from components.retrieval_evaluator import outputs as evaluator_outputs
from components.retrieval_evaluator.outputs import METRICS_FILE
from pipeline.errors import UserError

RUN_CONTEXT = 'pipeline_run'
# Set (int 1) on a run's context by `sslrec run` when the pipeline returned
# (pipeline/runner.py): in a store holding such marks, a run without one and
# not live was killed, even if all its recorded executions completed.
FINISHED_PROPERTY = 'sslrec_finished'
NODE_CONTEXT = 'node'
_SQLITE_HEADER = b'SQLite format 3\x00'
# The MySQL client's message when it has no reason to give.
_EMPTY_MYSQL_REASON = re.compile(r'errno: *, *error: *$')
_State = mlmd_pb2.Execution.State
_INPUT, _OUTPUT = mlmd_pb2.Event.INPUT, mlmd_pb2.Event.OUTPUT
# Execution properties that name an execution's outside inputs (files).
_SOURCE_PROPERTIES = ('input_base', 'schema_file')


class StoreError(UserError):
  """The metadata file is missing or is not an ML Metadata store."""


def sqlite_connection(path: str) -> mlmd_pb2.ConnectionConfig:
  """A read-only connection to the MLMD sqlite file `path`."""
  config = mlmd_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = mlmd_pb2.SqliteMetadataSourceConfig.READONLY
  return config


def open_store(source: Union[str, mlmd_pb2.ConnectionConfig]
               ) -> metadata_store.MetadataStore:
  """Opens an ML Metadata store; StoreError when it is missing or not one.

  `source`: an MLMD sqlite file (opened read-only) or a ConnectionConfig
  (pipeline/metadata.py: a sqlite file or a MySQL server).
  """
  if isinstance(source, str):
    source = sqlite_connection(source)
  if source.WhichOneof('config') == 'sqlite':
    _check_sqlite(source.sqlite.filename_uri)
  from pipeline import metadata  # pylint: disable=g-import-not-at-top
  try:
    return metadata_store.MetadataStore(source)
  except RuntimeError as e:  # unreachable server, bad credentials, a schema
    # version this library cannot read
    reason = str(e)
    if source.WhichOneof('config') == 'mysql' and _EMPTY_MYSQL_REASON.search(
        reason):
      reason = metadata.mysql_reason(source.mysql)
    raise StoreError(f'{metadata.describe(source)}: cannot open the ML '
                     f'Metadata store: {reason}') from None


def _check_sqlite(path: str) -> None:
  """StoreError unless `path` is an MLMD sqlite file."""
  if not os.path.exists(path):
    raise StoreError(f'{path}: no such metadata file (a pipeline run writes '
                     '<output>/metadata.sqlite; give --output or --metadata)')
  if not os.path.isfile(path):
    raise StoreError(f'{path}: not a file')
  with open(path, 'rb') as f:
    header = f.read(len(_SQLITE_HEADER))
  if header != _SQLITE_HEADER:
    raise StoreError(f'{path}: not an ML Metadata store (not a SQLite '
                     'database)')
  try:
    connection = sqlite3.connect(f'file:{path}?mode=ro', uri=True)
    try:
      tables = {row[0] for row in connection.execute(
          "SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
      connection.close()
  except sqlite3.DatabaseError as e:
    raise StoreError(f'{path}: not an ML Metadata store ({e})') from None
  if not {'MLMDEnv', 'Context', 'Execution', 'Artifact'} <= tables:
    raise StoreError(f'{path}: a SQLite database but not an ML Metadata '
                     f'store (tables: {", ".join(sorted(tables)) or "none"})')


def _time(ms: int) -> Optional[str]:
  if not ms:
    return None
  return datetime.datetime.fromtimestamp(ms / 1000).isoformat(
      sep=' ', timespec='seconds')


def _value(value: mlmd_pb2.Value) -> Any:
  kind = value.WhichOneof('value')
  if kind == 'struct_value':
    from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
    return json_format.MessageToDict(value.struct_value)
  return getattr(value, kind) if kind else None


def _key(event: mlmd_pb2.Event) -> str:
  """The channel key of an event ('' when not recorded)."""
  return next((s.key for s in event.path.steps if s.HasField('key')), '')


def _state_name(execution: mlmd_pb2.Execution) -> str:
  return _State.Name(execution.last_known_state)


def _read_json(uri: str, name: str) -> Optional[Dict[str, Any]]:
  """A JSON file inside an artifact URI, or None when absent or unreadable."""
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  path = os.path.join(uri, name)
  try:
    if not fileio.exists(path):
      return None
    with fileio.open(path, 'r') as f:
      content = json.loads(f.read())
  except (OSError, ValueError):
    return None
  return content if isinstance(content, dict) else None


def evaluation_summary(uri: str) -> Dict[str, Any]:
  """Recall@K overall / tail of a ModelEvaluation (None when not recorded),
  at the K its blessing read (recorded in metrics.json)."""
  metrics = _read_json(uri, METRICS_FILE)
  if metrics is None:
    return {'metrics_file': None}
  k = evaluator_outputs.blessing_k(metrics)
  recall = metrics.get(f'recall@{k}')
  recall = recall if isinstance(recall, dict) else {}
  return {f'recall@{k}_overall': recall.get('overall'),
          f'recall@{k}_tail': recall.get('tail')}


def _blessing(a: mlmd_pb2.Artifact) -> Dict[str, Any]:
  props = a.custom_properties
  out = {'blessed': bool(props['blessed'].int_value) if 'blessed' in props
         else None}
  if 'blessing_message' in props:
    out['message'] = props['blessing_message'].string_value
  return out


def _pushed(a: mlmd_pb2.Artifact) -> Dict[str, Any]:
  props = a.custom_properties
  return {'pushed': bool(props['pushed'].int_value) if 'pushed' in props
                    else None,
          'pushed_destination': _value(props['pushed_destination'])
                                if 'pushed_destination' in props else None,
          'pushed_version': _value(props['pushed_version'])
                            if 'pushed_version' in props else None,
          **({'new_version': bool(props['new_version'].int_value)}
             if 'new_version' in props else {})}


def _custom(names: Iterable[str]) -> Callable[[mlmd_pb2.Artifact], Dict]:
  def extract(a):
    return {n: _value(a.custom_properties[n]) for n in names
            if n in a.custom_properties}
  return extract


def _split_names(a: mlmd_pb2.Artifact) -> Dict[str, Any]:
  if 'split_names' not in a.properties:
    return {}
  return {'splits': json.loads(a.properties['split_names'].string_value)}


# Key properties shown per artifact type.
_KEY_PROPERTIES: Dict[str, Callable[[mlmd_pb2.Artifact], Dict[str, Any]]] = {
    'ModelEvaluation': lambda a: evaluation_summary(a.uri),
    'ModelBlessing': _blessing,
    'PushedModel': _pushed,
    'ExampleAnomalies': _custom(['blessed']),
    'sslrec.MutualInformation': _custom(['num_items', 'num_features']),
    'Examples': _split_names,
    # An index (components/index_builder) is a Model with these properties.
    'Model': _custom(['index_kind', 'k', 'num_items']),
}


def key_properties(a: mlmd_pb2.Artifact) -> Dict[str, Any]:
  if a.type in _KEY_PROPERTIES:
    return _KEY_PROPERTIES[a.type](a)
  if 'pushed_destination' in a.custom_properties:  # a pusher of another type
    return _pushed(a)
  return {}


class Inspector:
  """Queries over one store; caches the node and run of every execution."""

  def __init__(self, store: metadata_store.MetadataStore):
    self._store = store
    self._node_of: Dict[int, str] = {}
    self._pipeline_of: Dict[int, str] = {}
    for ctx in store.get_contexts_by_type(NODE_CONTEXT):
      pipeline, _, node = ctx.name.rpartition('.')
      for e in store.get_executions_by_context(ctx.id):
        self._node_of[e.id] = node or ctx.name
        self._pipeline_of[e.id] = pipeline
    self._runs = sorted(store.get_contexts_by_type(RUN_CONTEXT),
                        key=lambda c: (c.create_time_since_epoch, c.id),
                        reverse=True)
    # Whether `sslrec run` marks finished runs here (older stores: no marks).
    self._marked = any(FINISHED_PROPERTY in c.custom_properties
                       for c in self._runs)
    self._run_of: Dict[int, mlmd_pb2.Context] = {}
    self._run_executions: Dict[int, List[mlmd_pb2.Execution]] = {}
    for run in self._runs:
      executions = store.get_executions_by_context(run.id)
      self._run_executions[run.id] = executions
      for e in executions:
        self._run_of[e.id] = run

  # Runs.

  def run_context(self, run: str) -> mlmd_pb2.Context:
    """The run named `run` (its id), 'latest', or a context id."""
    if not self._runs:
      raise StoreError('no pipeline runs in this store')
    if run == 'latest':
      return self._runs[0]
    for ctx in self._runs:
      if ctx.name == run or str(ctx.id) == run:
        return ctx
    raise StoreError(f'no pipeline run {run!r}; runs: '
                     f'{", ".join(c.name for c in self._runs[:5])}'
                     f'{" ..." if len(self._runs) > 5 else ""}')

  def _run_state(self, run: mlmd_pb2.Context, live: Optional[bool]) -> str:
    states = {e.last_known_state for e in self._run_executions[run.id]}
    if _State.FAILED in states:
      return 'failed'
    if _State.CANCELED in states:
      return 'canceled'
    if live and run.id == self._runs[0].id:
      return 'running'
    if states & {_State.RUNNING, _State.NEW}:
      return 'running' if live is None else 'interrupted'
    if self._marked and FINISHED_PROPERTY not in run.custom_properties:
      newest = run.id == self._runs[0].id
      return 'running' if live is None and newest else 'interrupted'
    return 'complete'

  def runs(self, live: Optional[bool] = None) -> List[Dict[str, Any]]:
    """Pipeline runs, newest first.

    Args:
      live: whether a process holds the output's run lock now (None: unknown).
        A run with executions left RUNNING while no process holds the lock was
        killed: its state is 'interrupted'; so is a run `sslrec run` did not
        mark finished (FINISHED_PROPERTY; a kill between two components
        leaves no RUNNING execution) in a store where it marks runs.
    """
    out = []
    for run in self._runs:
      executions = sorted(self._run_executions[run.id], key=lambda e: e.id)
      end = max((e.last_update_time_since_epoch for e in executions),
                default=0)
      out.append({
          'run_id': run.name,
          'context_id': run.id,
          'pipeline': next((self._pipeline_of[e.id] for e in executions
                            if e.id in self._pipeline_of), None),
          'state': self._run_state(run, live),
          'start': _time(run.create_time_since_epoch),
          'end': _time(end),
          'executions': {self._node_of.get(e.id, str(e.id)): _state_name(e)
                         for e in executions},
          'cached': [self._node_of.get(e.id, str(e.id)) for e in executions
                     if e.last_known_state == _State.CACHED],
          'failed': [self._node_of.get(e.id, str(e.id)) for e in executions
                     if e.last_known_state == _State.FAILED],
      })
    return out

  # Artifacts.

  def _producers(self, artifact_ids: List[int]) -> Dict[int, int]:
    """artifact id -> the execution that made it (not a cache hit, if any)."""
    events = [ev for ev in self._store.get_events_by_artifact_ids(artifact_ids)
              if ev.type == _OUTPUT]
    executions = {e.id: e for e in self._store.get_executions_by_id(
        sorted({ev.execution_id for ev in events}))}
    producer: Dict[int, int] = {}
    for ev in sorted(events, key=lambda ev: ev.execution_id):
      e = executions.get(ev.execution_id)
      current = producer.get(ev.artifact_id)
      if current is None or (
          executions[current].last_known_state == _State.CACHED
          and e is not None and e.last_known_state != _State.CACHED):
        producer[ev.artifact_id] = ev.execution_id
    return producer

  def _artifact_dict(self, a: mlmd_pb2.Artifact,
                     producer: Optional[int]) -> Dict[str, Any]:
    run = self._run_of.get(producer) if producer is not None else None
    return {
        'id': a.id,
        'type': a.type,
        'uri': a.uri,
        'state': mlmd_pb2.Artifact.State.Name(a.state),
        'created': _time(a.create_time_since_epoch),
        'producer': self._node_of.get(producer) if producer else None,
        'run_id': run.name if run else None,
        'properties': key_properties(a),
    }

  def _roles(self, run: mlmd_pb2.Context) -> Dict[int, str]:
    """artifact id -> 'output' (made by the run) or 'cached' (reused by it)."""
    executions = {e.id: e for e in self._run_executions[run.id]}
    roles: Dict[int, str] = {}
    for ev in self._store.get_events_by_execution_ids(sorted(executions)):
      if ev.type == _OUTPUT:
        cached = executions[ev.execution_id].last_known_state == _State.CACHED
        if roles.get(ev.artifact_id) != 'output':
          roles[ev.artifact_id] = 'cached' if cached else 'output'
    return roles

  def artifacts(self, run: Optional[str] = None,
                type_name: Optional[str] = None) -> List[Dict[str, Any]]:
    """Artifacts (of a run, of a type), newest first.

    With `run`, each artifact has `role`: 'output' (the run made it),
    'cached' (a cache hit of the run reused it) or 'input' (made by an earlier
    run and read by this one, e.g. the baseline model a Resolver found).
    """
    roles = None
    if run is not None:
      context = self.run_context(run)
      found = self._store.get_artifacts_by_context(context.id)
      roles = self._roles(context)
    else:
      found = self._store.get_artifacts()
    if type_name is not None:
      known = sorted({a.type for a in self._store.get_artifacts()})
      match = [t for t in known if t.lower() == type_name.lower()]
      if not match:
        raise StoreError(f'no artifact of type {type_name!r}; types in this '
                         f'store: {", ".join(known)}')
      found = [a for a in found if a.type == match[0]]
    found = sorted(found, key=lambda a: (a.create_time_since_epoch, a.id),
                   reverse=True)
    producer = self._producers([a.id for a in found]) if found else {}
    out = [self._artifact_dict(a, producer.get(a.id)) for a in found]
    if roles is not None:
      for a in out:
        a['role'] = roles.get(a['id'], 'input')
    return out

  def _artifact(self, artifact_id: int) -> mlmd_pb2.Artifact:
    found = self._store.get_artifacts_by_id([artifact_id])
    if not found:
      raise StoreError(f'no artifact with id {artifact_id}')
    return found[0]

  # Lineage.

  def lineage(self, artifact_id: int, max_depth: int = 50) -> Dict[str, Any]:
    """The upstream tree of an artifact.

    Each artifact node has `produced_by`: the execution that made it (node,
    execution id, state, run) with `inputs` (channel key -> artifact nodes)
    and `sources` (files it read, e.g. ExampleGen's `input_base`). An artifact
    already shown higher up has `seen: true` and no subtree.
    """
    seen: set = set()

    def visit(a: mlmd_pb2.Artifact, depth: int) -> Dict[str, Any]:
      node = {'id': a.id, 'type': a.type, 'uri': a.uri,
              'properties': key_properties(a)}
      if a.id in seen:
        node['seen'] = True
        return node
      seen.add(a.id)
      producer = self._producers([a.id]).get(a.id)
      if producer is None or depth >= max_depth:
        return node
      execution = self._store.get_executions_by_id([producer])[0]
      run = self._run_of.get(producer)
      inputs: Dict[str, List[Dict[str, Any]]] = {}
      events = [ev for ev in self._store.get_events_by_execution_ids([producer])
                if ev.type == _INPUT]
      parents = {p.id: p for p in self._store.get_artifacts_by_id(
          sorted({ev.artifact_id for ev in events}))}
      for ev in sorted(events, key=lambda ev: ev.artifact_id):
        if ev.artifact_id in parents:
          inputs.setdefault(_key(ev), []).append(
              visit(parents[ev.artifact_id], depth + 1))
      node['produced_by'] = {
          'node': self._node_of.get(producer),
          'execution_id': producer,
          'state': _state_name(execution),
          'run_id': run.name if run else None,
          'sources': {p: _value(execution.custom_properties[p])
                      for p in _SOURCE_PROPERTIES
                      if p in execution.custom_properties},
          'inputs': inputs,
      }
      return node

    return visit(self._artifact(artifact_id), 0)

  # Pushes.

  def _upstream(self, artifact_id: int, type_name: str) -> List[int]:
    """Ids of the `type_name` artifacts upstream of an artifact."""
    found, stack, seen = [], [self.lineage(artifact_id)], set()
    while stack:
      node = stack.pop()
      if node['id'] in seen:
        continue
      seen.add(node['id'])
      if node['type'] == type_name and node['id'] != artifact_id:
        found.append(node['id'])
      for children in node.get('produced_by', {}).get('inputs', {}).values():
        stack.extend(children)
    return found

  def _evaluation_of(self, model_ids: List[int]) -> Dict[str, Any]:
    """Metrics and blessing of the newest evaluation that read these models."""
    if not model_ids:
      return {}
    consumers = {ev.execution_id for ev in
                 self._store.get_events_by_artifact_ids(model_ids)
                 if ev.type == _INPUT and 'baseline' not in _key(ev)}
    outputs = [ev.artifact_id for ev in
               self._store.get_events_by_execution_ids(sorted(consumers))
               if ev.type == _OUTPUT]
    result: Dict[str, Any] = {}
    for a in sorted(self._store.get_artifacts_by_id(outputs),
                    key=lambda a: a.id):
      if a.type == 'ModelEvaluation':
        result.update(evaluation_summary(a.uri), evaluation_id=a.id)
      elif a.type == 'ModelBlessing':
        result.update(_blessing(a), blessing_id=a.id)
    return result

  def pushed(self, all_versions: bool = False) -> List[Dict[str, Any]]:
    """What is pushed: per pusher, the version it serves now, newest first.

    A push is an artifact with a `pushed_destination` property and pushed = 1
    (PushedModel of the stock Pusher and of components/pusher). A pusher that
    finds the same bytes already pushed records the existing version again
    (`new_version` 0), so the version a pusher serves comes from its newest
    push, and its `run_id`, `id` and metrics from the oldest push of that
    same destination: the run that wrote it. `last_run_id` is the newest run
    that pushed (or confirmed) it. Runs are those of the executions that
    pushed, not of later cache hits; metrics are those of the evaluation that
    read the Model(s) upstream of the push (not as a baseline).

    Args:
      all_versions: list every push artifact instead, newest first.
    """
    pushes = [a for a in self._store.get_artifacts()
              if 'pushed_destination' in a.custom_properties
              and ('pushed' not in a.custom_properties
                   or a.custom_properties['pushed'].int_value == 1)]
    pushes.sort(key=lambda a: (a.create_time_since_epoch, a.id), reverse=True)
    producer = self._producers([a.id for a in pushes]) if pushes else {}

    def pusher(a):
      return self._node_of.get(producer.get(a.id), a.type)

    def destination(a):
      return a.custom_properties['pushed_destination'].string_value

    out, shown = [], set()
    for a in pushes:
      if all_versions:
        origin = a
      elif pusher(a) in shown:
        continue
      else:
        shown.add(pusher(a))
        origin = [b for b in pushes if pusher(b) == pusher(a)
                  and destination(b) == destination(a)][-1]
      entry = self._artifact_dict(origin, producer.get(origin.id))
      entry.update(entry.pop('properties'))
      entry['pusher'] = entry.pop('producer')
      newest_run = self._run_of.get(producer.get(a.id))
      entry['last_run_id'] = newest_run.name if newest_run else None
      entry['evaluation'] = self._evaluation_of(
          self._upstream(origin.id, 'Model'))
      entry['blessing'] = self._blessing_of_push(producer.get(origin.id))
      if 'rollback_of' in origin.custom_properties:
        entry['rollback_of'] = origin.custom_properties[
            'rollback_of'].int_value
      entry['served'] = os.path.isdir(destination(a))
      out.append(entry)
    return out

  def _blessing_of_push(self, execution_id: Optional[int]
                        ) -> Dict[str, Any]:
    """The ModelBlessing the pushing execution read (what allowed the push),
    not the newest evaluation of the same model."""
    if execution_id is None:
      return {}
    ids = [ev.artifact_id for ev in
           self._store.get_events_by_execution_ids([execution_id])
           if ev.type == _INPUT and 'model_blessing' in
           {step.key for step in ev.path.steps if step.HasField('key')}]
    for a in self._store.get_artifacts_by_id(ids):
      return dict(_blessing(a), blessing_id=a.id)
    return {}


  # Reports (pipeline/run_records.py builds the report's record on these).

  def run_ids(self) -> List[str]:
    """The recorded run ids, oldest first."""
    return [c.name for c in reversed(self._runs)]

  def _execution_dict(self, e: mlmd_pb2.Execution) -> Dict[str, Any]:
    start, end = e.create_time_since_epoch, e.last_update_time_since_epoch
    return {
        'id': e.id,
        'node': self._node_of.get(e.id, str(e.id)),
        'state': _state_name(e),
        'start_ms': start,
        'end_ms': end,
        'seconds': max(end - start, 0) / 1000 if start and end else None,
        'properties': {k: _value(v) for k, v in e.custom_properties.items()},
    }

  def executions(self, run: str) -> List[Dict[str, Any]]:
    """The run's executions in start order: node, state, start/end (epoch ms),
    seconds, and the execution properties (exec properties of the node)."""
    context = self.run_context(run)
    return [self._execution_dict(e) for e in sorted(
        self._run_executions[context.id],
        key=lambda e: (e.create_time_since_epoch, e.id))]

  def producer_execution(self, artifact_id: int) -> Optional[Dict[str, Any]]:
    """The execution that made an artifact (not a cache hit), as `executions`."""
    producer = self._producers([artifact_id]).get(artifact_id)
    if producer is None:
      return None
    return self._execution_dict(self._store.get_executions_by_id([producer])[0])

  def artifact_properties(self, artifact_id: int) -> Dict[str, Any]:
    """Every custom property of an artifact."""
    return {k: _value(v) for k, v in
            self._artifact(artifact_id).custom_properties.items()}


def inspector(source: Union[str, mlmd_pb2.ConnectionConfig]) -> Inspector:
  return Inspector(open_store(source))

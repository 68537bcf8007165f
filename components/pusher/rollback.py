"""Rollback: serve an earlier pushed version again, for all three models.

TF Serving serves the highest version number of each model, so a rollback
re-pushes the old version's folders as a NEW version V (larger than every
version, the same V for query tower, item tower and index), the way a new run
pushes: all three staged, then published at one commit point
(versions.py), earlier versions untouched, so a later rollback or a new run
go on from there. It first repairs what a killed push left (versions.repair). Then in ML Metadata it records, in the pipeline's
context (where the LatestBlessedModelResolver looks):

  - per pusher node (PushQueryTower, ...), an execution of type
    `sslrec.Rollback` whose INPUT is the Model that was pushed as the old
    version and whose OUTPUT is a PushedModel of V (`rollback_of` = the old
    version): `sslrec inspect pushed` shows it as what is served;
  - with the query tower's execution, a new Model artifact with the old query
    model's URI and properties, and a ModelBlessing (blessed = 1,
    current_model_id = that Model): the newest blessed model, so the next
    run's evaluation compares against the rolled-back model.
"""
import dataclasses
import os
import time
from typing import Dict, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from components.pusher import push
from components.pusher import versions
from pipeline.errors import UserError

ROLLBACK_EXECUTION_TYPE = 'sslrec.Rollback'
# Pusher node id -> its model folder under the serving root.
PUSHERS = (('PushQueryTower', 'query_tower'), ('PushItemTower', 'item_tower'),
           ('PushIndex', 'index'))
QUERY_PUSHER = 'PushQueryTower'


class RollbackError(UserError):
  """The rollback cannot be done (no such version, nothing to roll back)."""


@dataclasses.dataclass(frozen=True)
class Result:
  version: int  # the new served version
  rollback_of: int  # the version whose models it serves
  destinations: Tuple[str, ...]
  baseline_model_id: Optional[int]  # the new blessed Model in MLMD


def complete_versions(serving_root: str) -> List[int]:
  """Versions present for every model of the serving root, oldest first."""
  common = None
  for _, name in PUSHERS:
    found = set(push.existing_versions(os.path.join(serving_root, name)))
    common = found if common is None else common & found
  return sorted(common or ())


def choose(serving_root: str, to: Optional[int]) -> Tuple[int, int]:
  """(served version, version to roll back to); RollbackError if none."""
  available = complete_versions(serving_root)
  if not available:
    raise RollbackError(f'{serving_root}: no pushed version to roll back to')
  current = available[-1]
  served = _content_version(serving_root, current)
  if to is None:
    earlier = [v for v in available
               if _content_version(serving_root, v) != served]
    if not earlier:
      raise RollbackError(f'{serving_root}: only one pushed version '
                          f'({current}); nothing earlier to roll back to')
    return current, earlier[-1]
  if to not in available:
    raise RollbackError(f'{serving_root}: no version {to} of every model; '
                        f'versions: {available}')
  if to == current:
    raise RollbackError(f'version {to} is already the served version')
  return current, to


def _content_version(serving_root: str, version: int) -> int:
  """The version whose models `version` serves (itself unless a rollback)."""
  for entry in versions.load(serving_root):
    if entry['version'] == version and entry.get('rollback_of'):
      return _content_version(serving_root, entry['rollback_of'])
  return version


def roll_back(serving_root: str, store: Optional[metadata_store.MetadataStore],
              to: Optional[int] = None, now: Optional[float] = None) -> Result:
  """Serves version `to` (default: the last one before the served models)."""
  _, target = choose(serving_root, to)
  sources = {name: os.path.join(serving_root, name, str(target))
             for _, name in PUSHERS}
  version = versions.publish(serving_root, sources, now, rollback_of=target)
  destinations = tuple(os.path.join(serving_root, name, str(version))
                       for _, name in PUSHERS)
  baseline = _record(store, target, version, destinations) if store else None
  return Result(version, target, destinations, baseline)


def _node_contexts(store) -> Dict[str, mlmd_pb2.Context]:
  return {c.name.rpartition('.')[2]: c
          for c in store.get_contexts_by_type('node')}


def _pushes_of(store, node: mlmd_pb2.Context, version: int
               ) -> List[Tuple[mlmd_pb2.Execution, mlmd_pb2.Artifact]]:
  """(execution, PushedModel) of a pusher node that pushed `version`."""
  executions = {e.id: e for e in store.get_executions_by_context(node.id)}
  found = []
  for ev in store.get_events_by_execution_ids(sorted(executions)):
    if ev.type != mlmd_pb2.Event.OUTPUT:
      continue
    [a] = store.get_artifacts_by_id([ev.artifact_id])
    props = a.custom_properties
    if ('pushed_version' in props and
        props['pushed_version'].string_value == str(version)):
      found.append((executions[ev.execution_id], a))
  return found


def _input_model(store, execution_id: int) -> Optional[mlmd_pb2.Artifact]:
  for ev in store.get_events_by_execution_ids([execution_id]):
    keys = {step.key for step in ev.path.steps if step.HasField('key')}
    if ev.type == mlmd_pb2.Event.INPUT and 'model' in keys:
      return store.get_artifacts_by_id([ev.artifact_id])[0]
  return None


def _event(kind, key: str) -> mlmd_pb2.Event:
  event = mlmd_pb2.Event(type=kind)
  event.path.steps.add().key = key
  event.path.steps.add().index = 0
  return event


def _record(store, target: int, version: int, destinations: Tuple[str, ...]
            ) -> Optional[int]:
  """Writes the rollback to ML Metadata; returns the new baseline Model id."""
  nodes = _node_contexts(store)
  type_id = store.put_execution_type(mlmd_pb2.ExecutionType(
      name=ROLLBACK_EXECUTION_TYPE,
      properties={'version': mlmd_pb2.INT, 'rollback_of': mlmd_pb2.INT}))
  pipelines = {c.id: c for c in store.get_contexts_by_type('pipeline')}
  baseline_id = None
  for (node_id, _), destination in zip(PUSHERS, destinations):
    node = nodes.get(node_id)
    pushes = _pushes_of(store, node, target) if node else []
    if not pushes:
      raise RollbackError(f'ML Metadata has no {node_id} push of version '
                          f'{target}; the serving folders were copied but '
                          'not recorded')
    old_execution, old_push = pushes[0]
    model = _input_model(store, old_execution.id)
    contexts = [node] + [c for c in store.get_contexts_by_execution(
        old_execution.id) if c.id in pipelines]
    execution = mlmd_pb2.Execution(
        type_id=type_id, last_known_state=mlmd_pb2.Execution.COMPLETE)
    execution.properties['version'].int_value = version
    execution.properties['rollback_of'].int_value = target
    pushed = mlmd_pb2.Artifact(type_id=old_push.type_id, uri=destination,
                               state=mlmd_pb2.Artifact.LIVE)
    for name, value in (('pushed', 1), ('new_version', 1),
                        ('rollback_of', target)):
      pushed.custom_properties[name].int_value = value
    pushed.custom_properties['pushed_version'].string_value = str(version)
    pushed.custom_properties['pushed_destination'].string_value = destination
    records = [(pushed, _event(mlmd_pb2.Event.OUTPUT, 'pushed_model'))]
    if model is not None:
      records.append((model, _event(mlmd_pb2.Event.INPUT, 'model')))
    execution_id, _, _ = store.put_execution(execution, records, contexts)
    if node_id == QUERY_PUSHER and model is not None:
      baseline_id = _record_baseline(store, execution_id, model, target,
                                     contexts)
  return baseline_id


def _record_baseline(store, execution_id: int, model: mlmd_pb2.Artifact,
                     target: int, contexts) -> int:
  """A new Model (the old query model's URI) and a blessing naming it."""
  baseline = mlmd_pb2.Artifact(type_id=model.type_id, uri=model.uri,
                               state=mlmd_pb2.Artifact.LIVE)
  for name, value in model.custom_properties.items():
    baseline.custom_properties[name].CopyFrom(value)
  baseline.custom_properties['rollback_of'].int_value = target
  [baseline_id] = store.put_artifacts([baseline])
  blessing_type = store.get_artifact_type('ModelBlessing')
  blessing = mlmd_pb2.Artifact(type_id=blessing_type.id,
                               uri=os.path.join(model.uri, 'rollback'),
                               state=mlmd_pb2.Artifact.LIVE)
  blessing.custom_properties['blessed'].int_value = 1
  blessing.custom_properties['current_model_id'].int_value = baseline_id
  blessing.custom_properties['blessing_message'].string_value = (
      f'rollback to version {target} at '
      f'{time.strftime("%Y-%m-%dT%H:%M:%S")}: its query model is the '
      'baseline of the next run')
  baseline.id = baseline_id
  execution = store.get_executions_by_id([execution_id])[0]
  store.put_execution(
      execution,
      [(baseline, _event(mlmd_pb2.Event.OUTPUT, 'baseline_model')),
       (blessing, _event(mlmd_pb2.Event.OUTPUT, 'blessing'))], contexts)
  return baseline_id

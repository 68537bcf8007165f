"""What a finished `sslrec run` did, as an exit code and one last line.

Exit codes (cron users alert on them; docs/operations.md):

  0  pushed a new version, or nothing new to push (the served version already
     holds these models)
  3  the run completed but the model was not blessed: nothing pushed
  2  bad input or configuration (the CLI's `sslrec run: error: ...` line)
  1  internal failure (a traceback)

`decide` is pure; `of_latest_run` reads the newest pipeline run from ML
Metadata (its RetrievalEvaluator blessing and its pushers' PushedModels,
cache hits included).
"""
import dataclasses
import os
from typing import Dict, List, Optional, Sequence

PUSHED, NOT_BLESSED, BAD_INPUT, INTERNAL = 0, 3, 2, 1
EVALUATOR = 'RetrievalEvaluator'
PUSHERS = ('PushQueryTower', 'PushItemTower', 'PushIndex')


@dataclasses.dataclass(frozen=True)
class Push:
  pusher: str
  version: str
  destination: str
  new: bool


@dataclasses.dataclass(frozen=True)
class Outcome:
  exit_code: int
  message: str  # the run's last line, after 'sslrec run: '


def decide(blessed: Optional[bool], blessing_message: str,
           pushes: Sequence[Push], pushers: Sequence[str] = PUSHERS
           ) -> Outcome:
  """The outcome of a completed run from its blessing and its pushes."""
  if blessed is False:
    return Outcome(NOT_BLESSED, 'not blessed, nothing pushed: '
                   f'{blessing_message or "see the ModelBlessing"}')
  by_pusher = {p.pusher: p for p in pushes}
  missing = [p for p in pushers if p not in by_pusher]
  if blessed is None or missing:
    return Outcome(INTERNAL, 'nothing pushed: '
                   + ('no blessing recorded for this run' if blessed is None
                      else f'blessed, but {", ".join(missing)} did not push'))
  versions = sorted({by_pusher[p].version for p in pushers})
  where = ', '.join(by_pusher[p].destination for p in pushers)
  if len(versions) != 1:
    return Outcome(INTERNAL, f'pushed mismatched versions {versions}: {where}')
  if any(by_pusher[p].new for p in pushers):
    return Outcome(PUSHED, f'pushed version {versions[0]}: {where}')
  return Outcome(PUSHED, f'nothing new to push: version {versions[0]} '
                 f'already serves these models ({where})')


def announce(result: Outcome) -> None:
  """Prints the run's last line (stderr, like the error lines)."""
  import sys  # pylint: disable=g-import-not-at-top
  sys.stderr.flush()
  print(f'sslrec run: {result.message}', file=sys.stderr, flush=True)


def _int(props, name: str) -> Optional[int]:
  return props[name].int_value if name in props else None


def _str(props, name: str) -> str:
  if name not in props:
    return ''
  value = props[name]
  return value.string_value or (str(value.int_value) if value.int_value
                                else '')


def of_latest_run(metadata) -> Outcome:
  """The outcome of the newest pipeline run in the store."""
  from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2  # pylint: disable=g-import-not-at-top
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  store = inspection.open_store(metadata)
  runs = sorted(store.get_contexts_by_type(inspection.RUN_CONTEXT),
                key=lambda c: (c.create_time_since_epoch, c.id))
  if not runs:
    return Outcome(INTERNAL, 'no pipeline run recorded')
  done = (mlmd_pb2.Execution.COMPLETE, mlmd_pb2.Execution.CACHED)
  executions = [e for e in store.get_executions_by_context(runs[-1].id)
                if e.last_known_state in done]
  node_of: Dict[int, str] = {}
  for ctx in store.get_contexts_by_type(inspection.NODE_CONTEXT):
    for e in store.get_executions_by_context(ctx.id):
      node_of[e.id] = ctx.name.rpartition('.')[2]
  outputs: Dict[str, List[int]] = {}
  for ev in store.get_events_by_execution_ids([e.id for e in executions]):
    if ev.type == mlmd_pb2.Event.OUTPUT:
      outputs.setdefault(node_of.get(ev.execution_id, ''), []).append(
          ev.artifact_id)
  blessed, message, pushes = None, '', []
  for node, ids in outputs.items():
    for a in store.get_artifacts_by_id(ids):
      props = a.custom_properties
      if node == EVALUATOR and a.type == 'ModelBlessing':
        blessed = _int(props, 'blessed') == 1
        message = _str(props, 'blessing_message')
      elif node in PUSHERS and _int(props, 'pushed') == 1:
        pushes.append(_published(Push(
            node, _str(props, 'pushed_version'),
            _str(props, 'pushed_destination'),
            _int(props, 'new_version') != 0), _str(props, 'version_key')))
  return decide(blessed, message, pushes)


def _published(push: Push, key: str) -> Push:
  """The push as published: a pusher that ran before the last one recorded
  the version it expected, which the last may have moved (another model of
  the version changed); the journal (components/pusher/versions.py) of the
  serving root holds the final version of `key`."""
  if not key or not push.destination:
    return push
  from components.pusher import versions  # pylint: disable=g-import-not-at-top
  model_dir, _ = os.path.split(push.destination.rstrip('/'))
  serving_root, name = os.path.split(model_dir)
  entry = versions.entry_for(versions.load(serving_root), key)
  if (entry is None or versions.state(entry) != versions.COMMITTED
      or str(entry['version']) == push.version):
    return push
  return Push(push.pusher, str(entry['version']),
              os.path.join(serving_root, name, str(entry['version'])), True)

"""Which tf.distribute strategy the Trainer runs under, read from the environment.

- `TF_CONFIG` naming more than one task in its cluster (`chief` + `worker`,
  the convention of Vertex AI Training, Kubeflow TFJob and TFX's training
  extensions): `MultiWorkerMirroredStrategy`, one replica per worker.
- Several local GPUs: `MirroredStrategy`.
- Otherwise the default (no-op) strategy: today's single-process training.

Every worker computes the same model; input is sharded per worker by
`Workers.shard` (worker w keeps every n-th batch) and each worker's SSL item
stream has its own seed, so the SSL samples are independent per worker and
reproducible. Only the chief writes the exported towers: the others save to a
scratch folder that is deleted (saving is collective under
MultiWorkerMirroredStrategy, so every worker must call it).
`SSLREC_HEARTBEAT_TIMEOUT_SECONDS` lengthens the heartbeat timeout of
TensorFlow's coordination service (10 s by default) for workers that a loaded
machine starves of CPU.
"""
import dataclasses
import json
import os
import shutil
from typing import Any, Dict, Mapping, Optional

import tensorflow as tf

TF_CONFIG = 'TF_CONFIG'
# Seconds a worker may go without a heartbeat to TensorFlow's coordination
# service before the whole job fails (TF's default: 10 s); longer for workers
# starved of CPU on a loaded machine.
HEARTBEAT_ENV = 'SSLREC_HEARTBEAT_TIMEOUT_SECONDS'
_CHIEF_TYPES = ('chief', 'master')


@dataclasses.dataclass(frozen=True)
class Workers:
  """This process's place among the training workers."""
  num_workers: int = 1
  index: int = 0          # 0 .. num_workers - 1, the chief first
  is_chief: bool = True

  def shard(self, ds: tf.data.Dataset) -> tf.data.Dataset:
    """This worker's share of `ds`: every num_workers-th element."""
    if self.num_workers == 1:
      return ds
    return ds.shard(self.num_workers, self.index)

  def seed(self, seed: int) -> int:
    """A per-worker seed derived from `seed` (unchanged on one worker)."""
    return seed + 1_000_003 * self.index

  def export_dir(self, path: str) -> str:
    """Where this worker saves a SavedModel meant for `path`."""
    if self.is_chief:
      return path
    return os.path.join(os.path.dirname(path.rstrip('/')) or '.',
                        f'.worker-{self.index}-{os.path.basename(path)}')

  def discard(self, saved_path: str) -> None:
    """Deletes a non-chief worker's scratch export."""
    if not self.is_chief and os.path.isdir(saved_path):
      shutil.rmtree(saved_path, ignore_errors=True)


def parse_tf_config(environ: Mapping[str, str] = os.environ
                    ) -> Dict[str, Any]:
  """The TF_CONFIG JSON ({} when unset); ValueError names the variable."""
  raw = environ.get(TF_CONFIG, '')
  if not raw.strip():
    return {}
  try:
    value = json.loads(raw)
  except json.JSONDecodeError as e:
    raise ValueError(f'{TF_CONFIG}: not valid JSON: {e}') from None
  if not isinstance(value, dict):
    raise ValueError(f'{TF_CONFIG}: expected a JSON object with "cluster" '
                     f'and "task", got {type(value).__name__}')
  return value


def workers(environ: Mapping[str, str] = os.environ) -> Workers:
  """Reads the cluster from TF_CONFIG (one worker when it names none)."""
  tf_config = parse_tf_config(environ)
  cluster = tf_config.get('cluster', {})
  chiefs = [a for t in _CHIEF_TYPES for a in cluster.get(t, [])]
  others = list(cluster.get('worker', []))
  num = len(chiefs) + len(others)
  if num <= 1:
    return Workers()
  task = tf_config.get('task', {})
  kind, index = task.get('type'), task.get('index', 0)
  if kind in _CHIEF_TYPES:
    return Workers(num, 0, True)
  if kind != 'worker' or not 0 <= int(index) < len(others):
    raise ValueError(f'{TF_CONFIG}: task {task!r} is not in the cluster '
                     f'{sorted(cluster)}')
  # Without a chief task, worker 0 is the chief (TensorFlow's convention).
  position = len(chiefs) + int(index)
  return Workers(num, position, position == 0)


def heartbeat_timeout_ms(environ: Mapping[str, str] = os.environ
                         ) -> Optional[int]:
  """HEARTBEAT_ENV in milliseconds (None when unset: TensorFlow's default)."""
  raw = environ.get(HEARTBEAT_ENV, '').strip()
  if not raw:
    return None
  try:
    seconds = float(raw)
  except ValueError:
    seconds = float('nan')
  if not 0 < seconds < 1e9:
    raise ValueError(f'{HEARTBEAT_ENV}: expected seconds > 0, got {raw!r}')
  return int(seconds * 1000)


def coordination_settings(environ: Mapping[str, str] = os.environ
                          ) -> Optional[Dict[str, Any]]:
  """configure_coordination_service's arguments for a longer heartbeat
  timeout, or None (HEARTBEAT_ENV unset or one worker).

  They are those MultiWorkerMirroredStrategy uses itself (a standalone
  service led by the chief, else worker 0, over the chief and worker jobs),
  plus the heartbeat timeout. TF 2.16 has no public option for it (the
  strategy's CommunicationOptions.timeout_seconds bounds each collective,
  not the heartbeat); the strategy keeps a service configured before it."""
  timeout = heartbeat_timeout_ms(environ)
  if timeout is None or workers(environ).num_workers <= 1:
    return None
  cluster = parse_tf_config(environ)['cluster']
  leader = ('/job:chief/replica:0/task:0' if cluster.get('chief')
            else '/job:worker/replica:0/task:0')
  return {'service_type': 'standalone', 'service_leader': leader,
          'heartbeat_timeout_in_ms': timeout,
          'coordinated_jobs': [(job, len(cluster[job]))
                               for job in ('chief', 'worker')
                               if cluster.get(job)]}


def _configure_coordination(settings: Dict[str, Any]) -> None:
  from tensorflow.python.eager import context  # pylint: disable=g-import-not-at-top
  from tensorflow.tsl.protobuf import coordination_config_pb2  # pylint: disable=g-import-not-at-top
  settings = dict(settings, coordinated_jobs=[
      coordination_config_pb2.CoordinatedJob(name=name, num_tasks=n)
      for name, n in settings['coordinated_jobs']])
  context.context().configure_coordination_service(**settings)


def strategy(environ: Mapping[str, str] = os.environ,
             ) -> tf.distribute.Strategy:
  """The strategy for this process (see the module docstring)."""
  if workers(environ).num_workers > 1:
    settings = coordination_settings(environ)
    if settings:
      _configure_coordination(settings)
    return tf.distribute.MultiWorkerMirroredStrategy()
  if len(tf.config.list_logical_devices('GPU')) > 1:
    return tf.distribute.MirroredStrategy()
  return tf.distribute.get_strategy()


def describe(s: Optional[tf.distribute.Strategy], w: Workers) -> str:
  name = type(s).__name__ if s is not None else 'default'
  return (f'{name}, {s.num_replicas_in_sync if s else 1} replica(s), '
          f'worker {w.index} of {w.num_workers}'
          f'{" (chief)" if w.is_chief else ""}')

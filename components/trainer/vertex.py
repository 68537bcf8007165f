"""TwoTowerTrainer on Vertex AI Training (TFX's google_cloud_ai_platform extension).

On Kubeflow V2 / Vertex AI Pipelines the Trainer task can hand the training to
a Vertex AI CustomJob: the task's executor (`VertexExecutor`) submits a job
whose worker pools run this project's own trainer executor
(`components.trainer.executor.Executor`, through `tfx.scripts.run_executor`)
in the pipeline image, and waits for it. Vertex sets `TF_CONFIG` in every
replica (workerpool0 = chief, workerpool1 = workers), so `run_fn` trains
under MultiWorkerMirroredStrategy when there is more than one worker
(models/distribute.py) and only the chief exports.
"""
import dataclasses
from typing import Any, Dict, List

from tfx.extensions.google_cloud_ai_platform import constants
from tfx.extensions.google_cloud_ai_platform.trainer import executor as cloud_executor

from components.trainer import executor

TRAINING_ARGS_KEY = cloud_executor.TRAINING_ARGS_KEY
ENABLE_VERTEX_KEY = constants.ENABLE_VERTEX_KEY
VERTEX_REGION_KEY = constants.VERTEX_REGION_KEY


@dataclasses.dataclass(frozen=True)
class VertexJob:
  """Where and on what the Vertex AI training job runs."""
  project: str
  region: str
  image: str
  workers: int = 1                # replicas in all: 1 chief + (workers - 1)
  machine_type: str = 'n1-standard-8'
  accelerator_type: str = ''      # e.g. NVIDIA_TESLA_T4; '' = CPU only
  accelerator_count: int = 0

  def __post_init__(self):
    for name in ('project', 'region', 'image', 'machine_type'):
      if not getattr(self, name):
        raise ValueError(f'vertex training: {name} is required')
    if self.workers < 1:
      raise ValueError(f'vertex training: workers must be >= 1, got '
                       f'{self.workers}')
    if bool(self.accelerator_type) != (self.accelerator_count > 0):
      raise ValueError('vertex training: give both an accelerator type and a '
                       'count > 0, or neither')

  def worker_pool_specs(self) -> List[Dict[str, Any]]:
    """The CustomJob's pools: the chief, then the other workers if any."""
    machine: Dict[str, Any] = {'machine_type': self.machine_type}
    if self.accelerator_type:
      machine.update(accelerator_type=self.accelerator_type,
                     accelerator_count=self.accelerator_count)
    pool = {'machine_spec': machine,
            'container_spec': {'image_uri': self.image}}
    pools = [dict(pool, replica_count=1)]
    if self.workers > 1:
      pools.append(dict(pool, replica_count=self.workers - 1))
    return pools

  def custom_config(self) -> Dict[str, Any]:
    """The Trainer's custom_config read by the cloud executor."""
    return {
        ENABLE_VERTEX_KEY: True,
        VERTEX_REGION_KEY: self.region,
        TRAINING_ARGS_KEY: {
            'project': self.project,
            'job_spec': {'worker_pool_specs': self.worker_pool_specs()},
        },
    }


class VertexExecutor(cloud_executor.GenericExecutor):
  """Submits the two-tower training as a Vertex AI CustomJob and waits."""

  def _GetExecutorClass(self):
    return executor.Executor

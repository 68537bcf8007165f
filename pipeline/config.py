"""Run configuration: where the data and outputs are, and how to train.

`RunConfig.from_dict` rejects unknown keys by name; the `training` section is
a models.config.TrainingConfig.
"""
import dataclasses
import json
import os
from typing import Any, Dict, Tuple

from models.config import TrainingConfig

DATASET_FILE = 'dataset.json'
DEFAULT_SCHEMAS = 'movielens-100k'
# Beam's DirectRunner on this machine; see the README for Dataflow/Flink/Spark.
DEFAULT_BEAM_ARGS = ('--direct_running_mode=in_memory', '--direct_num_workers=1')


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Everything `sslrec run` needs."""
  data: str = 'data/movielens-100k'
  schemas: str = ''            # bundled schema name or folder; '' = from dataset.json
  output: str = 'output'
  pipeline_name: str = 'sslrec'
  beam_args: Tuple[str, ...] = DEFAULT_BEAM_ARGS
  enable_cache: bool = True
  training: TrainingConfig = TrainingConfig()

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.output, 'pipeline')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.output, 'metadata.sqlite')

  @property
  def serving_root(self) -> str:
    return os.path.join(self.output, 'serving')

  def schema_name(self) -> str:
    """The schema folder to use: explicit, else the one named by dataset.json."""
    if self.schemas:
      return self.schemas
    path = os.path.join(self.data, DATASET_FILE)
    if os.path.exists(path):
      with open(path) as f:
        try:
          return json.load(f).get('schemas', DEFAULT_SCHEMAS)
        except json.JSONDecodeError as e:
          raise ValueError(f'{path}: not valid JSON: {e}') from e
    return DEFAULT_SCHEMAS

  def to_dict(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d['beam_args'] = list(self.beam_args)
    d['training'] = self.training.to_dict()
    return d

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> 'RunConfig':
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
      raise ValueError(f'run config: unknown key(s) {unknown}; known keys: '
                       f'{sorted(known)}')
    d = dict(d)
    if 'training' in d:
      d['training'] = (d['training'] if isinstance(d['training'], TrainingConfig)
                       else TrainingConfig.from_dict(d['training']))
    if 'beam_args' in d:
      d['beam_args'] = tuple(d['beam_args'])
    return cls(**d)

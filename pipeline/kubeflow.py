"""Compiles the pipeline for Kubeflow Pipelines V2 / Vertex AI Pipelines.

`KubeflowV2DagRunner` turns the TFX pipeline into a PipelineJob spec (JSON);
compiling needs no cluster and no network. The orchestrator supplies ML
Metadata, so the pipeline has no metadata path; data, output and schema
paths are kept as given when they are URIs (gs://...) because they are read
by the pipeline's containers, not by this machine.
"""
import json
import os
import re
from typing import Any, Dict, List, Optional

import schemas as schemas_lib
from pipeline.config import RunConfig
from pipeline.errors import UserError

TARGETS = ('kubeflow-v2',)
# The image must contain sslrec (docs/operations.md shows a Dockerfile).
DEFAULT_IMAGE = 'gcr.io/tfx-oss-public/tfx:1.16.0'


def is_uri(path: str) -> bool:
  return '://' in path


def _location(path: str) -> str:
  return path if is_uri(path) else os.path.abspath(path)


def kubeflow_pipeline(config: RunConfig, pipeline_root: Optional[str] = None,
                      schema_dir: Optional[str] = None, vertex_job=None):
  """The pipeline of `config` for an orchestrator that supplies MLMD.

  Args:
    config: the run config; `data` and `output` may be URIs.
    pipeline_root: artifact root (default <output>/pipeline).
    schema_dir: the schema folder as the containers see it (default: the
      folder `config.schemas` names, resolved on this machine).
    vertex_job: train on Vertex AI Training (components/trainer/vertex.py).
  """
  if is_uri(config.data) and not config.schemas:
    raise UserError(f'data {config.data} is remote: set `schemas` (a bundled '
                     f'schema name or a folder) in the config')
  name = config.schema_name()
  local_schema_dir = name if is_uri(name) else schemas_lib.resolve(name)
  # TFX is imported when compiling, not when the CLI registers commands.
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  try:
    kwargs = runner.pipeline_kwargs(config, local_schema_dir,
                                    location=_location)
    kwargs['schema_dir'] = schema_dir or local_schema_dir
    if not is_uri(local_schema_dir):
      kwargs['local_schema_dir'] = local_schema_dir
    if pipeline_root:
      kwargs['pipeline_root'] = _location(pipeline_root)
    return pipeline_lib.create_pipeline(metadata_connection_config=None,
                                        vertex_job=vertex_job, **kwargs)
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    if not is_uri(local_schema_dir):
      raise
    # A remote folder fails in many ways (no credentials, no bucket, no
    # network, no permission): each is about the `schemas` the user named.
    reason = (str(e).strip().splitlines() or [''])[0][:300]
    raise UserError(f'schemas {local_schema_dir}: cannot read the schema '
                    f'folder ({type(e).__name__}: {reason}); check the URI '
                    'and your credentials, or use a bundled schema name or a '
                    'local folder') from None


def local_paths(config: RunConfig, pipeline_root: Optional[str],
                schema_dir: Optional[str], image: str) -> List[str]:
  """What a spec for remote containers would get wrong: local paths (the
  containers cannot read this machine's files) and the stock TFX image (it
  lacks sslrec)."""
  problems = []
  for name, path in (('data', config.data), ('output', config.output),
                     ('pipeline root', pipeline_root or config.output),
                     ('schema dir', schema_dir or config.schema_name())):
    if not is_uri(path):
      problems.append(f'{name} {path!r} is a local path')
  if image == DEFAULT_IMAGE:
    problems.append(f'image {image} is the stock TFX image, which lacks sslrec')
  return problems


_INPUT_REF = re.compile(r"inputs\.artifacts\['([^']+)'\]")


def fix_conditions(job: Dict[str, Any]) -> Dict[str, Any]:
  """Makes every task's trigger condition name the task's own inputs.

  KubeflowV2DagRunner (TFX 1.16) writes the Cond of a task whose blessing
  input is a channel it also uses elsewhere as
  `inputs.artifacts['<Producer>.<key>']`, an input the task does not have
  (PushIndex); Vertex then fails the task. Each such reference becomes the
  task's input fed by the same producer task and output key.
  """
  for name, task in job['pipelineSpec']['root']['dag']['tasks'].items():
    condition = task.get('triggerPolicy', {}).get('condition')
    if not condition:
      continue
    inputs = task.get('inputs', {}).get('artifacts', {})

    def own(match, inputs=inputs, name=name):
      ref = match.group(1)
      if ref in inputs:
        return match.group(0)
      producer, _, key = ref.lstrip('_').rpartition('.')
      for input_name, spec in inputs.items():
        source = spec.get('taskOutputArtifact', {})
        if (source.get('producerTask') == producer and
            source.get('outputArtifactKey') == key):
          return f"inputs.artifacts['{input_name}']"
      raise UserError(f'task {name}: its condition reads {ref!r}, which is '
                       f'none of its inputs {sorted(inputs)}')
    task['triggerPolicy']['condition'] = _INPUT_REF.sub(own, condition)
  return job


def condition_inputs(job: Dict[str, Any]) -> Dict[str, List[str]]:
  """task -> the input names its condition reads (for checks and tests)."""
  return {name: _INPUT_REF.findall(task['triggerPolicy']['condition'])
          for name, task in job['pipelineSpec']['root']['dag']['tasks'].items()
          if task.get('triggerPolicy', {}).get('condition')}


def set_resources(job: Dict[str, Any], resources: Dict[str, Dict[str, Any]]
                  ) -> Dict[str, Any]:
  """Per-task CPU / memory limits: {'default' | task: {'cpu': 4, 'memory':
  '16G'}} into each executor's container `resources` (cpuLimit,
  memoryLimit); a task's own entry wins over `default`."""
  tasks = job['pipelineSpec']['root']['dag']['tasks']
  unknown = sorted(set(resources) - set(tasks) - {'default'})
  if unknown:
    raise UserError(f'resources for unknown tasks {unknown}; tasks: '
                     f'{sorted(tasks)}')
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  for name, task in tasks.items():
    wanted = dict(resources.get('default', {}), **resources.get(name, {}))
    bad = sorted(set(wanted) - {'cpu', 'memory'})
    if bad:
      raise UserError(f'resources of {name}: unknown keys {bad} (cpu, memory)')
    if not wanted:
      continue
    component = job['pipelineSpec']['components'][task['componentRef']['name']]
    container = executors[component['executorLabel']].get('container')
    if container is None:  # a resolver: no container
      continue
    limits = container.setdefault('resources', {})
    if 'cpu' in wanted:
      limits['cpuLimit'] = float(wanted['cpu'])
    if 'memory' in wanted:
      memory = str(wanted['memory'])
      if not re.fullmatch(r'[0-9.]+[GM]i?', memory):
        raise UserError(f'resources of {name}: memory {memory!r} must look '
                         'like 16G or 512M')
      value = float(re.match(r'[0-9.]+', memory).group(0))
      limits['memoryLimit'] = value if 'G' in memory else value / 1024
  return job


def compile_pipeline(pipeline, output_file: str, image: str = DEFAULT_IMAGE,
                     resources: Optional[Dict[str, Dict[str, Any]]] = None
                     ) -> Dict[str, Any]:
  """Writes the KubeflowV2DagRunner PipelineJob JSON of `pipeline` atomically.

  Returns:
    The PipelineJob dict (its `pipelineSpec.root.dag.tasks` has one task per
    component id).
  """
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
          default_image=image))
  job = fix_conditions(runner.run(pipeline, write_out=False))
  if resources:
    job = set_resources(job, resources)
  directory = os.path.dirname(output_file) or '.'
  if not fileio.exists(directory):
    fileio.makedirs(directory)
  tmp = os.path.join(directory, f'.{os.path.basename(output_file)}.tmp')
  with fileio.open(tmp, 'w') as f:
    f.write(json.dumps(job, sort_keys=True, indent=1))
  fileio.rename(tmp, output_file, overwrite=True)
  return job

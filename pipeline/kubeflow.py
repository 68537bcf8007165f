"""Compiles the pipeline for Kubeflow Pipelines V2 / Vertex AI Pipelines.

`KubeflowV2DagRunner` turns the TFX pipeline into a PipelineJob spec (JSON);
compiling needs no cluster and no network. The orchestrator supplies ML
Metadata, so the pipeline has no metadata path; data, output and schema
paths are kept as given when they are URIs (gs://...) because they are read
by the pipeline's containers, not by this machine.
"""
import json
import os
from typing import Any, Dict, Optional

import schemas as schemas_lib
from pipeline.config import RunConfig

TARGETS = ('kubeflow-v2',)
# The image must contain sslrec (docs/operations.md shows a Dockerfile).
DEFAULT_IMAGE = 'gcr.io/tfx-oss-public/tfx:1.16.0'


def is_uri(path: str) -> bool:
  return '://' in path


def _location(path: str) -> str:
  return path if is_uri(path) else os.path.abspath(path)


def kubeflow_pipeline(config: RunConfig, pipeline_root: Optional[str] = None,
                      schema_dir: Optional[str] = None):
  """The pipeline of `config` for an orchestrator that supplies MLMD.

  Args:
    config: the run config; `data` and `output` may be URIs.
    pipeline_root: artifact root (default <output>/pipeline).
    schema_dir: the schema folder as the containers see it (default: the
      folder `config.schemas` names, resolved on this machine).
  """
  if is_uri(config.data) and not config.schemas:
    raise ValueError(f'data {config.data} is remote: set `schemas` (a bundled '
                     f'schema name or a folder) in the config')
  name = config.schema_name()
  local_schema_dir = name if is_uri(name) else schemas_lib.resolve(name)
  # TFX is imported when compiling, not when the CLI registers commands.
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  kwargs = runner.pipeline_kwargs(config, local_schema_dir, location=_location)
  kwargs['schema_dir'] = schema_dir or local_schema_dir
  if pipeline_root:
    kwargs['pipeline_root'] = _location(pipeline_root)
  return pipeline_lib.create_pipeline(metadata_path=None, **kwargs)


def compile_pipeline(pipeline, output_file: str, image: str = DEFAULT_IMAGE
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
  job = runner.run(pipeline, write_out=False)
  directory = os.path.dirname(output_file) or '.'
  if not fileio.exists(directory):
    fileio.makedirs(directory)
  tmp = os.path.join(directory, f'.{os.path.basename(output_file)}.tmp')
  with fileio.open(tmp, 'w') as f:
    f.write(json.dumps(job, sort_keys=True, indent=1))
  fileio.rename(tmp, output_file, overwrite=True)
  return job

"""What one pipeline run produced, read back from ML Metadata and the artifacts.

A run is an MLMD context of type `pipeline_run` (LocalDagRunner names it by its
start time). Its executions' OUTPUT events lead to the artifacts read here:
ModelEvaluation (`metrics.json`), ModelBlessing (`blessed`,
`blessing_message`), ModelRun (TensorBoard event files, searched recursively)
and PushedModel (`pushed`, `pushed_destination`, `pushed_version`). Cached
executions count: TFX records them in the run with their reused outputs.
"""
import dataclasses
import json
import os
from typing import Dict, List, Optional, Tuple

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.io import fileio

RUN_CONTEXT_TYPE = 'pipeline_run'
NODE_CONTEXT_TYPE = 'node'
METRICS_FILE = 'metrics.json'
LOSS_TAGS = ('main_loss', 'ssl_loss', 'total_loss', 'seq_ssl_loss')

# series (event file folder relative to the ModelRun, e.g. 'train') ->
# tag -> [(step, value)] sorted by step.
Curves = Dict[str, Dict[str, List[Tuple[int, float]]]]


@dataclasses.dataclass
class Push:
  node_id: str
  pushed: bool
  destination: str
  version: str


@dataclasses.dataclass
class RunRecord:
  """The report's inputs for one run."""
  run_id: str
  pipeline_name: str
  start_time_ms: int
  metrics: Optional[dict] = None
  evaluation_uri: str = ''
  blessed: Optional[bool] = None
  blessing_message: str = ''
  model_run_uri: str = ''
  curves: Curves = dataclasses.field(default_factory=dict)
  pushes: List[Push] = dataclasses.field(default_factory=list)


def open_store(metadata_path: str) -> mlmd.MetadataStore:
  """Opens an MLMD sqlite file read-only; a clear error if it is not one."""
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  return inspection.open_store(metadata_path)


def list_runs(store: mlmd.MetadataStore) -> List[metadata_store_pb2.Context]:
  """Pipeline runs, oldest first."""
  runs = store.get_contexts_by_type(RUN_CONTEXT_TYPE)
  return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def find_run(store: mlmd.MetadataStore,
             run_id: Optional[str] = None) -> metadata_store_pb2.Context:
  """The run named run_id, or the latest run; ValueError if there is none."""
  runs = list_runs(store)
  if not runs:
    raise ValueError('the ML Metadata store records no pipeline run yet')
  if run_id is None:
    return runs[-1]
  for run in runs:
    if run.name == run_id:
      return run
  recent = ', '.join(r.name for r in runs[-5:])
  raise ValueError(f'no pipeline run {run_id!r} in ML Metadata; the latest '
                   f'runs are: {recent}')


def _node_ids(store, execution_ids) -> Dict[int, str]:
  out = {}
  for execution_id in execution_ids:
    for context in store.get_contexts_by_execution(execution_id):
      if context.type == NODE_CONTEXT_TYPE:
        out[execution_id] = context.name.split('.', 1)[-1]
  return out


def _prop(artifact, name: str):
  value = artifact.custom_properties.get(name)
  if value is None:
    return None
  return getattr(value, value.WhichOneof('value'))


def read_metrics(evaluation_uri: str) -> dict:
  path = os.path.join(evaluation_uri, METRICS_FILE)
  with fileio.open(path, 'r') as f:
    return json.loads(f.read())


def read_curves(model_run_uri: str, tags=LOSS_TAGS) -> Curves:
  """Scalar curves of `tags` from every TensorBoard event file under a folder.

  Keras' TensorBoard callback names epoch scalars `epoch_<name>`; that prefix is
  dropped. Both TF2 tensor summaries and TF1 simple values are read.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  curves: Curves = {}
  if not model_run_uri or not fileio.exists(model_run_uri):
    return curves
  for dir_name, _, files in fileio.walk(model_run_uri):
    for name in sorted(files):
      if 'tfevents' not in name:
        continue
      series = os.path.relpath(dir_name, model_run_uri)
      series = '' if series == '.' else series
      for event in tf.compat.v1.train.summary_iterator(
          os.path.join(dir_name, name)):
        for value in event.summary.value:
          tag = value.tag[len('epoch_'):] if value.tag.startswith(
              'epoch_') else value.tag
          if tag not in tags:
            continue
          if value.HasField('simple_value'):
            number = value.simple_value
          else:
            number = float(tf.make_ndarray(value.tensor))
          curves.setdefault(series, {}).setdefault(tag, []).append(
              (int(event.step), float(number)))
  for by_tag in curves.values():
    for tag in by_tag:
      by_tag[tag] = sorted(dict(by_tag[tag]).items())  # last value per step
  return curves


def read_run(store: mlmd.MetadataStore,
             run_id: Optional[str] = None) -> RunRecord:
  """Collects the record of one run (default: the latest)."""
  run = find_run(store, run_id)
  pipelines = [c.name for c in store.get_parent_contexts_by_context(run.id)]
  record = RunRecord(run_id=run.name,
                     pipeline_name=pipelines[0] if pipelines else '',
                     start_time_ms=run.create_time_since_epoch)
  executions = store.get_executions_by_context(run.id)
  node_of = _node_ids(store, [e.id for e in executions])
  events = [e for e in store.get_events_by_execution_ids(node_of)
            if e.type == metadata_store_pb2.Event.OUTPUT]
  artifacts = {a.id: a for a in store.get_artifacts_by_id(
      sorted({e.artifact_id for e in events}))}
  type_names = {t.id: t.name for t in store.get_artifact_types()}
  for event in sorted(events, key=lambda e: (e.execution_id, e.artifact_id)):
    artifact = artifacts[event.artifact_id]
    kind = type_names.get(artifact.type_id)
    if kind == 'ModelEvaluation' and record.metrics is None:
      record.evaluation_uri = artifact.uri
      record.metrics = read_metrics(artifact.uri)
    elif kind == 'ModelBlessing' and record.blessed is None:
      blessed = _prop(artifact, 'blessed')
      record.blessed = None if blessed is None else blessed == 1
      record.blessing_message = _prop(artifact, 'blessing_message') or ''
    elif kind == 'ModelRun' and not record.model_run_uri:
      record.model_run_uri = artifact.uri
      record.curves = read_curves(artifact.uri)
    elif kind == 'PushedModel':
      record.pushes.append(Push(
          node_id=node_of.get(event.execution_id, ''),
          pushed=_prop(artifact, 'pushed') == 1,
          destination=_prop(artifact, 'pushed_destination') or '',
          version=_prop(artifact, 'pushed_version') or ''))
  return record

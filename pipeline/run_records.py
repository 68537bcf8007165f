"""What one pipeline run produced: the report's record, read through the Inspector.

Every ML Metadata query is `pipeline/inspection.py`'s `Inspector` (run lookup,
the run's artifacts and their producers, execution times and properties);
this module only picks what the report shows and reads the files the
artifacts hold: ModelEvaluation (`metrics.json`), ModelBlessing (`blessed`,
`blessing_message`, `baseline_model_id`), ModelRun (TensorBoard event files,
searched recursively) and PushedModel (`pushed`, `pushed_destination`,
`pushed_version`). Cached executions count: the run reuses their outputs.
The training config is the Trainer's `training_config` execution property,
the baseline's that of the Trainer that made the baseline model.
"""
import dataclasses
import json
import os
from typing import Any, Dict, List, Optional, Tuple, Union

from ml_metadata import metadata_store

from models import loss_names
from pipeline import inspection

METRICS_FILE = inspection.METRICS_FILE
LOSS_TAGS = loss_names.LOSS_NAMES
TRAINING_CONFIG_PROPERTY = 'training_config'

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
class Timing:
  node_id: str
  state: str  # COMPLETE, CACHED, FAILED, ...
  seconds: Optional[float]


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
  training_config: Optional[Dict[str, Any]] = None
  baseline_training_config: Optional[Dict[str, Any]] = None
  timings: List[Timing] = dataclasses.field(default_factory=list)


open_store = inspection.open_store


def _inspector(source: Union[metadata_store.MetadataStore,
                             inspection.Inspector]) -> inspection.Inspector:
  if isinstance(source, inspection.Inspector):
    return source
  return inspection.Inspector(source)


@dataclasses.dataclass(frozen=True)
class RunId:
  name: str


def list_runs(source) -> List[RunId]:
  """Pipeline runs, oldest first (each with its `.name`, the run id)."""
  return [RunId(name) for name in _inspector(source).run_ids()]


def read_metrics(evaluation_uri: str) -> dict:
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  path = os.path.join(evaluation_uri, METRICS_FILE)
  with fileio.open(path, 'r') as f:
    return json.loads(f.read())


def read_curves(model_run_uri: str, tags=LOSS_TAGS) -> Curves:
  """Scalar curves of `tags` from every TensorBoard event file under a folder.

  Keras' TensorBoard callback names epoch scalars `epoch_<name>`; that prefix is
  dropped. Both TF2 tensor summaries and TF1 simple values are read. Steps
  are as logged (the Trainer logs epoch e, counted from 0, at step e).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
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


def _training_config(execution: Optional[Dict[str, Any]]
                   ) -> Optional[Dict[str, Any]]:
  if not execution:
    return None
  value = execution['properties'].get(TRAINING_CONFIG_PROPERTY)
  if not isinstance(value, str):
    return None
  try:
    config = json.loads(value)
  except ValueError:
    return None
  return config if isinstance(config, dict) else None


def read_run(source, run_id: Optional[str] = None) -> RunRecord:
  """Collects the record of one run (default: the latest).

  Args:
    source: an MLMD store or an `inspection.Inspector` over one.
    run_id: the run's id (`list_runs`), or None for the latest run.
  """
  ins = _inspector(source)
  context = ins.run_context('latest' if run_id is None else run_id)
  run = context.name
  executions = ins.executions(run)
  summary = next((r for r in ins.runs() if r['run_id'] == run), {})
  record = RunRecord(run_id=run, pipeline_name=summary.get('pipeline') or '',
                     start_time_ms=context.create_time_since_epoch)
  record.timings = [Timing(e['node'], e['state'], e['seconds'])
                    for e in executions]
  produced = sorted((a for a in ins.artifacts(run=run)
                     if a['role'] != 'input'), key=lambda a: a['id'])
  baseline_model_id = None
  for artifact in produced:
    kind = artifact['type']
    if kind == 'ModelEvaluation' and record.metrics is None:
      record.evaluation_uri = artifact['uri']
      record.metrics = read_metrics(artifact['uri'])
    elif kind == 'ModelBlessing' and record.blessed is None:
      props = ins.artifact_properties(artifact['id'])
      record.blessed = (None if 'blessed' not in props
                        else props['blessed'] == 1)
      record.blessing_message = props.get('blessing_message') or ''
      baseline_model_id = props.get('baseline_model_id')
    elif kind == 'ModelRun' and not record.model_run_uri:
      record.model_run_uri = artifact['uri']
      record.curves = read_curves(artifact['uri'])
      record.training_config = _training_config(
          ins.producer_execution(artifact['id']))
    elif kind == 'PushedModel':
      props = artifact['properties']
      record.pushes.append(Push(
          node_id=artifact['producer'] or '',
          pushed=bool(props.get('pushed')),
          destination=props.get('pushed_destination') or '',
          version=str(props.get('pushed_version') or '')))
  if record.training_config is None:
    record.training_config = next(
        (c for c in map(_training_config, executions) if c is not None), None)
  if baseline_model_id is not None:
    record.baseline_training_config = _training_config(
        ins.producer_execution(int(baseline_model_id)))
  return record

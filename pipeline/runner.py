"""Runs the pipeline locally (LocalDagRunner, ML Metadata in sqlite)."""
import logging
import os
from typing import Any, Callable, Dict

import schemas
from models import features as F
from pipeline import config as config_lib
from pipeline import outcome
from pipeline import pipeline as pipeline_lib
from pipeline import run_lock
from pipeline.config import RunConfig
from pipeline.errors import MissingInputError


def with_runner(beam_args) -> list:
  """Beam args naming a runner: DirectRunner unless one is given.

  No args stay no args: given any Beam args without a dependency flag
  (--setup_file, --extra_packages, ...), every TFX Beam executor repackages
  TFX's own install into a ~50 MB sdist for remote workers (1.5 s, left in
  the temp folder), which a local run never ships. With none, TFX skips that,
  and Beam's "Missing pipeline option (runner)" line is dropped by
  `logs.setup`. Remote runners need sslrec's code on the workers anyway:
  --setup_file (README, "Scaling out").
  """
  args = list(beam_args)
  if args and not any(a == '--runner' or a.startswith('--runner=')
                      for a in args):
    args.insert(0, '--runner=DirectRunner')
  return args


def pipeline_kwargs(config: RunConfig, schema_dir: str,
                    location: Callable[[str], str] = os.path.abspath
                    ) -> Dict[str, Any]:
  """create_pipeline's arguments for `config`, but the metadata connection.

  `location` maps each path of the config (absolute locally; URIs kept for an
  orchestrator); every config section (training, evaluation, ...) is passed
  under its name.
  """
  return dict(
      pipeline_name=config.pipeline_name,
      pipeline_root=location(config.pipeline_root),
      data_root=location(config.data),
      schema_dir=schema_dir,
      serving_root=location(config.serving_root),
      feature_config=F.load_feature_config(schema_dir),
      beam_pipeline_args=with_runner(config.beam_args),
      enable_cache=config.enable_cache,
      **{name: getattr(config, name) for name in config_lib.sections()})


def build(config: RunConfig):
  """Resolves the schemas and creates the pipeline for `config`."""
  for sub in ('items', 'interactions'):
    if not os.path.isdir(os.path.join(config.data, sub)):
      raise MissingInputError(
          f'{config.data}: not a data folder (missing {sub}/); create one with '
          "'sslrec data import' (your event log), 'sslrec data movielens-100k' "
          "or 'sslrec data synthetic'")
  schema_dir = schemas.resolve(config.schema_name())
  return pipeline_lib.create_pipeline(
      metadata_connection_config=config.metadata_connection(),
      **pipeline_kwargs(config, schema_dir))


def mark_finished(connection) -> None:
  """Marks the newest pipeline run as finished (inspection.FINISHED_PROPERTY):
  a run killed between two components has no other trace."""
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  store = metadata_store.MetadataStore(connection)
  runs = store.get_contexts_by_type(inspection.RUN_CONTEXT)
  if runs:
    newest = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    newest.custom_properties[inspection.FINISHED_PROPERTY].int_value = 1
    store.put_contexts([newest])


def run(config: RunConfig) -> int:
  """Runs the whole pipeline; raises on the first failing component.

  Returns the exit code of the outcome (pipeline/outcome.py: 0 pushed or
  nothing new, 3 not blessed) after logging its one line last.
  """
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # pylint: disable=g-import-not-at-top
  os.makedirs(config.output, exist_ok=True)
  with run_lock.hold(config.output):  # one run at a time per output folder
    removed = run_lock.clean_dead_runs(
        os.path.abspath(config.pipeline_root),
        config.metadata_connection(readonly=True),
        os.path.abspath(config.serving_root))
    if removed:
      logging.info('Removed %d half-written folder(s) of killed runs: %s',
                   len(removed), ', '.join(removed))
    from components.pusher import versions  # pylint: disable=g-import-not-at-top
    for line in versions.repair(config.serving_root):
      logging.warning('%s: %s', config.serving_root, line)
    pipeline = build(config)
    logging.info('Running pipeline %r: data %s, schemas %s, output %s',
                 config.pipeline_name, config.data, config.schema_name(),
                 config.output)
    LocalDagRunner().run(pipeline)
    mark_finished(config.metadata_connection())
    result = outcome.of_latest_run(config.metadata_connection(readonly=True))
  from pipeline import report  # pylint: disable=g-import-not-at-top
  try:
    logging.info('Report: %s', report.generate(
        config.output, metadata=config.metadata_connection(readonly=True)))
  except Exception as e:  # pylint: disable=broad-except  # the run succeeded
    logging.warning('Could not write the report: %s', e)
  outcome.announce(result)
  return result.exit_code

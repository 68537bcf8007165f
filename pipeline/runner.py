"""Runs the pipeline locally (LocalDagRunner, ML Metadata in sqlite)."""
import logging
import os

import schemas
from models import features as F
from pipeline import pipeline as pipeline_lib
from pipeline import run_lock
from pipeline.config import RunConfig


def build(config: RunConfig):
  """Resolves the schemas and creates the pipeline for `config`."""
  for sub in ('items', 'interactions'):
    if not os.path.isdir(os.path.join(config.data, sub)):
      raise FileNotFoundError(
          f'{config.data}: not a data folder (missing {sub}/); create one with '
          "'sslrec data movielens-100k' or 'sslrec data synthetic'")
  schema_dir = schemas.resolve(config.schema_name())
  feature_config = F.load_feature_config(schema_dir)
  return pipeline_lib.create_pipeline(
      pipeline_name=config.pipeline_name,
      pipeline_root=os.path.abspath(config.pipeline_root),
      data_root=os.path.abspath(config.data),
      schema_dir=schema_dir,
      serving_root=os.path.abspath(config.serving_root),
      feature_config=feature_config,
      training=config.training,
      evaluation=config.evaluation,
      metadata_path=os.path.abspath(config.metadata_path),
      beam_pipeline_args=config.beam_args,
      enable_cache=config.enable_cache)


def run(config: RunConfig) -> None:
  """Runs the whole pipeline; raises on the first failing component."""
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  os.makedirs(config.output, exist_ok=True)
  with run_lock.hold(config.output):  # one run at a time per output folder
    pipeline = build(config)
    logging.info('Running pipeline %r: data %s, schemas %s, output %s',
                 config.pipeline_name, config.data, config.schema_name(),
                 config.output)
    tfx.orchestration.LocalDagRunner().run(pipeline)
  logging.info('Pipeline %r finished; pushed models under %s',
               config.pipeline_name, config.serving_root)
  from pipeline import report  # pylint: disable=g-import-not-at-top
  try:
    logging.info('Report: %s', report.generate(config.output))
  except Exception as e:  # pylint: disable=broad-except  # the run succeeded
    logging.warning('Could not write the report: %s', e)

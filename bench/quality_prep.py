"""Raw Examples, Transform outputs and MI of a data folder, from the real pipeline.

`prepare(data_dir, output_dir)` runs the sslrec pipeline (pipeline.runner.build,
the same factory as `sslrec run`) as a TFX partial run that stops after the two
Transforms and MutualInformationGen, then reads the artifact URIs from the
run's ML Metadata (`<output_dir>/metadata.sqlite`). Running again on the same
output reuses the cached executions.
"""
import dataclasses
import json
import os
from typing import Dict, List

from models.config import TransformConfig

ITEMS_EXAMPLE_GEN = 'ItemsExampleGen'
INTERACTIONS_EXAMPLE_GEN = 'InteractionsExampleGen'
ITEMS_TRANSFORM = 'ItemsTransform'
INTERACTIONS_TRANSFORM = 'InteractionsTransform'
MUTUAL_INFORMATION = 'MutualInformationGen'
LAST_NODES = (ITEMS_TRANSFORM, INTERACTIONS_TRANSFORM, MUTUAL_INFORMATION)


@dataclasses.dataclass(frozen=True)
class Prepared:
  """Artifact URIs of one data folder (what the Trainer and evaluator read)."""
  data_dir: str
  items_examples: str          # raw items Examples (split `corpus`)
  interactions_examples: str   # raw interactions Examples (train, eval)
  items_transformed: str       # transformed items Examples
  interactions_transformed: str
  items_transform_graph: str
  interactions_transform_graph: str
  mutual_information: str      # the MI JSON file

  def to_dict(self) -> Dict[str, str]:
    return dataclasses.asdict(self)


def _latest_outputs(store, node_id: str) -> Dict[str, str]:
  """Output key -> URI of the node's latest complete (or cached) execution."""
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  done = (metadata_store_pb2.Execution.COMPLETE,
          metadata_store_pb2.Execution.CACHED)
  executions = []
  for context in store.get_contexts_by_type('node'):
    if context.name.split('.')[-1] == node_id:
      executions += [e for e in store.get_executions_by_context(context.id)
                     if e.last_known_state in done]
  if not executions:
    raise RuntimeError(f'no finished execution of {node_id} in ML Metadata')
  latest = max(executions, key=lambda e: (e.create_time_since_epoch, e.id))
  events = [e for e in store.get_events_by_execution_ids([latest.id])
            if e.type == metadata_store_pb2.Event.OUTPUT]
  artifacts = {a.id: a for a in store.get_artifacts_by_id(
      [e.artifact_id for e in events])}
  return {e.path.steps[0].key: artifacts[e.artifact_id].uri for e in events}


def read_uris(metadata_path: str, data_dir: str) -> Prepared:
  """Reads the prepared artifact URIs from an MLMD sqlite file."""
  import ml_metadata as mlmd  # pylint: disable=g-import-not-at-top
  from ml_metadata.proto import metadata_store_pb2  # pylint: disable=g-import-not-at-top
  from components.mutual_information import artifact as mi_artifact  # pylint: disable=g-import-not-at-top
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = (
      metadata_store_pb2.SqliteMetadataSourceConfig.READONLY)
  store = mlmd.MetadataStore(config)
  out = {node: _latest_outputs(store, node) for node in (
      ITEMS_EXAMPLE_GEN, INTERACTIONS_EXAMPLE_GEN, ITEMS_TRANSFORM,
      INTERACTIONS_TRANSFORM, MUTUAL_INFORMATION)}
  return Prepared(
      data_dir=data_dir,
      items_examples=out[ITEMS_EXAMPLE_GEN]['examples'],
      interactions_examples=out[INTERACTIONS_EXAMPLE_GEN]['examples'],
      items_transformed=out[ITEMS_TRANSFORM]['transformed_examples'],
      interactions_transformed=out[INTERACTIONS_TRANSFORM][
          'transformed_examples'],
      items_transform_graph=out[ITEMS_TRANSFORM]['transform_graph'],
      interactions_transform_graph=out[INTERACTIONS_TRANSFORM][
          'transform_graph'],
      mutual_information=mi_artifact.file_path(
          out[MUTUAL_INFORMATION]['mutual_information']))


def prepare(data_dir: str, output_dir: str,
            transform: TransformConfig = TransformConfig()) -> Prepared:
  """Runs the pipeline up to the Transforms and MI; returns their URIs.

  `transform` is what the Transforms read (the training config is not).
  """
  from tfx import v1 as tfx  # pylint: disable=g-import-not-at-top
  from tfx.orchestration import pipeline as tfx_pipeline  # pylint: disable=g-import-not-at-top
  from pipeline import run_lock  # pylint: disable=g-import-not-at-top
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  from pipeline.config import RunConfig  # pylint: disable=g-import-not-at-top
  config = RunConfig(data=data_dir, output=output_dir, transform=transform)
  os.makedirs(output_dir, exist_ok=True)
  with run_lock.hold(output_dir):
    pipeline = runner.build(config)
    tfx.orchestration.LocalDagRunner().run(
        pipeline, run_options=tfx_pipeline.RunOptions(to_nodes=LAST_NODES))
  prepared = read_uris(os.path.abspath(config.metadata_path),
                       os.path.abspath(data_dir))
  with open(os.path.join(output_dir, 'prepared.json'), 'w') as f:
    json.dump(prepared.to_dict(), f, indent=2)
  return prepared


def split_files(uri: str, split: str) -> List[str]:
  """File pattern of one split of an Examples artifact (as the Trainer passes it)."""
  return [os.path.join(uri, f'Split-{split}', '*')]

"""A small real TFX pipeline around the evaluation, gate, index and push components.

Stand-ins replace the data and training steps (they write tiny Examples and
HashedTower SavedModels with the Trainer's output contract, plus TensorBoard
scalars); everything from the Resolver on is the production wiring,
pipeline/pipeline.py's `evaluate_and_push`. Used by the gate end-to-end test
and the inspection test (through tests/support/fixtures.py's `gate_runs`).
"""
import os
from typing import Dict

import tensorflow as tf
from tfx.dsl.component.experimental import annotations
from tfx.dsl.component.experimental.decorators import component
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from components import tower_io
from models.loss_names import LOSS_NAMES
from pipeline import pipeline as pipeline_lib
from pipeline.config import EvaluationConfig
from tests.support import towers as test_towers

OutputArtifact = annotations.OutputArtifact
InputArtifact = annotations.InputArtifact
Parameter = annotations.Parameter


@component
def TinyExampleGen(  # pylint: disable=invalid-name
    interactions: OutputArtifact[standard_artifacts.Examples],
    items: OutputArtifact[standard_artifacts.Examples]):
  """Writes the synthetic interactions (train/eval) and items (corpus)."""
  test_towers.write_dataset(items.uri, interactions.uri)
  interactions.split_names = artifact_utils.encode_split_names(
      ['train', 'eval'])
  items.split_names = artifact_utils.encode_split_names(['corpus'])


@component
def TinyTrainer(  # pylint: disable=invalid-name
    examples: InputArtifact[standard_artifacts.Examples],
    query_model: OutputArtifact[standard_artifacts.Model],
    item_model: OutputArtifact[standard_artifacts.Model],
    model_run: OutputArtifact[standard_artifacts.ModelRun],
    seed: Parameter[int] = 0):
  """Saves two HashedTowers and epoch-level loss scalars, like the Trainer."""
  del examples  # the stand-in does not learn
  test_towers.save_tower(query_model.uri, test_towers.QUERY_COLUMNS,
                           seed=seed)
  test_towers.save_tower(item_model.uri, test_towers.ITEM_COLUMNS,
                           seed=seed)
  query_model.set_string_custom_property(tower_io.ITEM_MODEL_URI_PROPERTY,
                                         item_model.uri)
  writer = tf.summary.create_file_writer(os.path.join(model_run.uri, 'train'))
  with writer.as_default():
    for epoch in range(3):
      main, ssl = 2.0 / (epoch + 1) + seed * 0.1, 1.0 / (epoch + 2)
      for name, value in zip(LOSS_NAMES, (main, ssl, main + 0.3 * ssl)):
        tf.summary.scalar(name, value, step=epoch)
  writer.close()


def create_pipeline(pipeline_root: str, metadata_path: str, serving_dir: str,
                    seed: int = 0, min_recall: float = 0.0
                    ) -> tfx_pipeline.Pipeline:
  """The sslrec pipeline's evaluation/gate/push part, on stand-in inputs."""
  example_gen = TinyExampleGen()
  trainer = TinyTrainer(examples=example_gen.outputs['interactions'],
                        seed=seed)
  gate = pipeline_lib.evaluate_and_push(
      query_model=trainer.outputs['query_model'],
      item_model=trainer.outputs['item_model'],
      interactions=example_gen.outputs['interactions'],
      items=example_gen.outputs['items'], serving_root=serving_dir,
      evaluation=EvaluationConfig(ks=(10, 50, 100), blessing_k=10,
                                  min_recall=min_recall, index_k=10,
                                  min_eval_events=0, min_eval_users=0))
  return tfx_pipeline.Pipeline(
      pipeline_name='gate-test',
      pipeline_root=pipeline_root,
      metadata_connection_config=(
          metadata.sqlite_metadata_connection_config(
              metadata_path)),
      components=[example_gen, trainer] + gate,
      enable_cache=True)


def run(output_dir: str, **kwargs) -> Dict[str, str]:
  """Runs the pipeline with LocalDagRunner under output_dir; returns paths.

  The run id (MLMD context of type pipeline_run) is the start time in ISO
  format, as LocalDagRunner sets it.
  """
  paths = {'pipeline_root': os.path.join(output_dir, 'pipeline'),
           'metadata': os.path.join(output_dir, 'metadata.sqlite'),
           'serving': os.path.join(output_dir, 'serving')}
  LocalDagRunner().run(create_pipeline(
      paths['pipeline_root'], paths['metadata'], paths['serving'], **kwargs))
  return paths

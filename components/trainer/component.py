"""TwoTowerTrainer: a Trainer with the item corpus and its transform as typed inputs.

The stock Trainer takes one examples channel and one transform graph and
writes one Model. Two-tower retrieval needs the transformed item corpus (the
item tower's table and the SSL task's uniform item source), both transform
graphs, optionally the MutualInformation artifact (correlated feature
masking), and writes two Model artifacts, one per tower, because the Pusher
copies one SavedModel per Model artifact.
"""
import json
from typing import TYPE_CHECKING, Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import component_spec
from tfx.types import standard_artifacts

from components.mutual_information.artifact import MutualInformation
from components.trainer import executor

if TYPE_CHECKING:  # imported when used: it loads TFX's Google Cloud extension
  from components.trainer import vertex  # pylint: disable=g-bad-import-order


class TwoTowerTrainerSpec(types.ComponentSpec):
  """Inputs, outputs and execution properties of TwoTowerTrainer."""
  PARAMETERS = {
      'run_fn': component_spec.ExecutionParameter(type=str),
      'features': component_spec.ExecutionParameter(type=str),
      'training_config': component_spec.ExecutionParameter(type=str),
      # JSON; set only to train on Vertex AI (components/trainer/vertex.py).
      'custom_config': component_spec.ExecutionParameter(type=str,
                                                         optional=True),
  }
  INPUTS = {
      'examples': component_spec.ChannelParameter(
          type=standard_artifacts.Examples),
      'transform_graph': component_spec.ChannelParameter(
          type=standard_artifacts.TransformGraph),
      'item_examples': component_spec.ChannelParameter(
          type=standard_artifacts.Examples),
      'item_transform_graph': component_spec.ChannelParameter(
          type=standard_artifacts.TransformGraph),
      'mutual_information': component_spec.ChannelParameter(
          type=MutualInformation, optional=True),
  }
  OUTPUTS = {
      'query_model': component_spec.ChannelParameter(
          type=standard_artifacts.Model),
      'item_model': component_spec.ChannelParameter(
          type=standard_artifacts.Model),
      'model_run': component_spec.ChannelParameter(
          type=standard_artifacts.ModelRun),
  }


class TwoTowerTrainer(base_component.BaseComponent):
  """Trains the two towers with `run_fn` (a dotted path) and exports both."""

  SPEC_CLASS = TwoTowerTrainerSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self,
               examples: types.BaseChannel,
               transform_graph: types.BaseChannel,
               item_examples: types.BaseChannel,
               item_transform_graph: types.BaseChannel,
               features: Dict[str, Any],
               training_config: Dict[str, Any],
               run_fn: str = 'models.model.run_fn',
               mutual_information: Optional[types.BaseChannel] = None,
               vertex_job: Optional['vertex.VertexJob'] = None):
    """Creates the component.

    Args:
      examples: transformed interactions with splits `train` and `eval`.
      transform_graph: the interactions' TF Transform graph.
      item_examples: transformed item corpus with split `corpus`.
      item_transform_graph: the items' TF Transform graph.
      features: FeatureConfig.to_dict() (which column feeds which tower).
      training_config: TrainingConfig.to_dict() (recorded in ML Metadata).
      run_fn: dotted path of the training function.
      mutual_information: optional MutualInformation artifact (CFM masking).
      vertex_job: train on Vertex AI Training (a CustomJob of its worker
        pools) instead of in the task's own process.
    """
    spec = TwoTowerTrainerSpec(
        examples=examples,
        transform_graph=transform_graph,
        item_examples=item_examples,
        item_transform_graph=item_transform_graph,
        run_fn=run_fn,
        features=json.dumps(features, sort_keys=True),
        training_config=json.dumps(training_config, sort_keys=True),
        query_model=types.Channel(type=standard_artifacts.Model),
        item_model=types.Channel(type=standard_artifacts.Model),
        model_run=types.Channel(type=standard_artifacts.ModelRun),
        mutual_information=mutual_information,
        custom_config=(json.dumps(vertex_job.custom_config(), sort_keys=True)
                       if vertex_job else None))
    super().__init__(spec=spec, custom_executor_spec=(
        _vertex_executor_spec() if vertex_job else None))


def _vertex_executor_spec() -> executor_spec.ExecutorClassSpec:
  from components.trainer import vertex  # pylint: disable=g-import-not-at-top,redefined-outer-name
  return executor_spec.ExecutorClassSpec(vertex.VertexExecutor)

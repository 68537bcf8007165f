"""MutualInformationGen: pairwise mutual information between item features.

  mi_gen = MutualInformationGen(
      examples=item_example_gen.outputs['examples'],   # split 'corpus'
      schema=item_schema_gen.outputs['schema'])        # annotated items schema
  trainer = TwoTowerTrainer(..., mutual_information=mi_gen.outputs[
      'mutual_information'])
"""
from typing import Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import component_spec
from tfx.types import standard_artifacts
from tfx.utils import json_utils

from components.mutual_information import executor
from components.mutual_information.artifact import MutualInformation
from components.mutual_information.weights import Weighting
from components.mutual_information.weights import check_weighting


class MutualInformationGenSpec(types.ComponentSpec):
  """Inputs, outputs and execution properties of MutualInformationGen."""
  PARAMETERS = {
      executor.FEATURE_NAMES_KEY: component_spec.ExecutionParameter(
          type=str, optional=True),
      executor.INCLUDE_ITEM_ID_KEY: component_spec.ExecutionParameter(
          type=bool),
      executor.TOP_K_KEY: component_spec.ExecutionParameter(type=int),
      executor.NUM_BUCKETS_KEY: component_spec.ExecutionParameter(type=int),
      executor.WEIGHTING_KEY: component_spec.ExecutionParameter(type=str),
      executor.SPLITS_KEY: component_spec.ExecutionParameter(type=str),
      executor.INTERACTIONS_SPLITS_KEY: component_spec.ExecutionParameter(
          type=str),
  }
  INPUTS = {
      executor.EXAMPLES_KEY: component_spec.ChannelParameter(
          type=standard_artifacts.Examples),
      executor.SCHEMA_KEY: component_spec.ChannelParameter(
          type=standard_artifacts.Schema),
      executor.INTERACTIONS_KEY: component_spec.ChannelParameter(
          type=standard_artifacts.Examples, optional=True),
  }
  OUTPUTS = {
      executor.OUTPUT_KEY: component_spec.ChannelParameter(
          type=MutualInformation),
  }


class MutualInformationGen(base_beam_component.BaseBeamComponent):
  """Computes the MutualInformation artifact of the item corpus (Beam)."""

  SPEC_CLASS = MutualInformationGenSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self,
               examples: types.BaseChannel,
               schema: types.BaseChannel,
               interactions: Optional[types.BaseChannel] = None,
               feature_names: Optional[Sequence[str]] = None,
               include_item_id: bool = True,
               top_k: int = executor.DEFAULT_TOP_K,
               num_buckets: int = executor.DEFAULT_NUM_BUCKETS,
               weighting: Weighting = Weighting.CORPUS,
               splits: Sequence[str] = executor.DEFAULT_SPLITS,
               interactions_splits: Sequence[str] = (
                   executor.DEFAULT_INTERACTIONS_SPLITS)):
    """Builds the component.

    Args:
      examples: Examples of the item corpus (one row per item).
      schema: the annotated items Schema (ImportSchemaGen of
        schemas/<name>/items.pbtxt); features and kinds come from its
        `sslrec:<kind>` tags.
      interactions: Examples of the interactions; needed for weighting 'log'.
      feature_names: item features to cover (default: every used item
        feature of the schema); the item id is governed by include_item_id.
      include_item_id: put the item id first in the matrix (computed exactly
        from the other features, never counted).
      top_k: categorical values kept per feature, by mass (rest = one OOV).
      num_buckets: quantile buckets per numeric feature.
      weighting: a weights.Weighting (or its string): CORPUS (each item
        counts once) or LOG (each item counts its number of interactions in
        `interactions_splits`).
      splits: item example splits to read.
      interactions_splits: interaction splits counted for 'log'.
    """
    names = None if feature_names is None else list(feature_names)
    weighting = check_weighting(weighting, interactions is not None,
                                'channel')
    if int(top_k) < 1 or int(num_buckets) < 2:
      raise ValueError(f'top_k must be >= 1 and num_buckets >= 2, got '
                       f'{top_k} and {num_buckets}')
    if not splits:
      raise ValueError('splits must name at least one item split')
    spec = MutualInformationGenSpec(
        examples=examples,
        schema=schema,
        interactions=interactions,
        feature_names=None if names is None else json_utils.dumps(names),
        include_item_id=bool(include_item_id),
        top_k=int(top_k),
        num_buckets=int(num_buckets),
        weighting=weighting.value,
        splits=json_utils.dumps(list(splits)),
        interactions_splits=json_utils.dumps(list(interactions_splits)),
        mutual_information=types.Channel(type=MutualInformation))
    super().__init__(spec=spec)

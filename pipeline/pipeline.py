"""The sslrec TFX pipeline: one factory, no I/O at import or creation.

  per input (items, interactions):
    CSV -> ExampleGen -> StatisticsGen -> StrictExampleValidator <- ImportSchemaGen
                      -> Transform (after both validators)
  items ExampleGen -> MutualInformationGen
  Transforms + MI -> TwoTowerTrainer -> query_model, item_model
  LatestBlessedModelResolver (baseline) + towers -> RetrievalEvaluator -> blessing
  towers -> IndexBuilder -> index
  [blessing.blessed == 1] -> PushQueryTower, PushItemTower, PushIndex
"""
import os
from typing import Any, Dict, List, Optional, Sequence

# TFX's classes from their modules, not through `tfx.v1`, whose import also
# loads the Google Cloud extensions (seconds per process; unused here).
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components import StatisticsGen
from tfx.components import Transform
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.transform_pb2 import SplitsConfig
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

from components.csv_example_gen import rules as csv_rules
from components.csv_example_gen.component import create_csv_example_gen
from components.index_builder.component import IndexBuilder
from components.mutual_information.component import MutualInformationGen
from components.pusher.component import AtomicPusher
from components.retrieval_evaluator.component import RetrievalEvaluator
from components.strict_example_validator.component import StrictExampleValidator
from components.trainer.component import TwoTowerTrainer
from models import features as F
from models.config import TrainingConfig
from models.config import TransformConfig
from pipeline.config import EvaluationConfig

ITEMS_DIR = 'items'
INTERACTIONS_DIR = 'interactions'
CORPUS_SPLIT = 'corpus'
QUERY_TOWER = 'query_tower'
ITEM_TOWER = 'item_tower'
INDEX = 'index'
# Pusher node id -> its folder under the serving root.
PUSHES = {'PushQueryTower': QUERY_TOWER, 'PushItemTower': ITEM_TOWER,
          'PushIndex': INDEX}


def _validated_input(name: str, input_base: str, splits: Dict[str, str],
                     schema_file: str, columns: Sequence[Sequence[str]],
                     rules: csv_rules.Rules):
  """ExampleGen -> StatisticsGen, ImportSchemaGen -> StrictExampleValidator."""
  example_gen = create_csv_example_gen(
      input_base=input_base, columns=columns, splits=splits,
      rules=rules).with_id(f'{name}ExampleGen')
  statistics_gen = StatisticsGen(
      examples=example_gen.outputs['examples']).with_id(f'{name}StatisticsGen')
  schema_gen = ImportSchemaGen(
      schema_file=schema_file).with_id(f'{name}SchemaGen')
  validator = StrictExampleValidator(
      statistics=statistics_gen.outputs['statistics'],
      schema=schema_gen.outputs['schema'],
      source=input_base).with_id(f'{name}ExampleValidator')
  return [example_gen, statistics_gen, schema_gen, validator]


def evaluate_and_push(*, query_model: Channel, item_model: Channel,
                      interactions: Channel, items: Channel,
                      serving_root: str,
                      evaluation: EvaluationConfig,
                      history_column: str = F.HISTORY) -> List[Any]:
  """Resolver -> RetrievalEvaluator -> IndexBuilder -> Cond-gated pushers.

  The part of the pipeline after the Trainer (tests/gate_pipeline.py runs it
  on stand-in towers).

  Args:
    query_model: the Trainer's query tower Model channel.
    item_model: the Trainer's item tower Model channel.
    interactions: raw interactions Examples (splits train, eval).
    items: raw items Examples (split corpus).
    serving_root: push destination; <serving_root>/<PUSHES[node]>/<version>.
    evaluation: metrics, blessing thresholds and the exported index.
    history_column: the query column of `|`-joined item ids whose items the
      index leaves out of its results, and so the evaluator too ('' = none).

  Returns:
    The nodes: the resolver, evaluator, index builder and the pushers.
  """
  # The last blessed query model (none on the first run) is the baseline: the
  # strategy keeps only Models named by a blessed ModelBlessing's
  # current_model_id, which the evaluator sets to the query model.
  baseline = Resolver(
      strategy_class=LatestBlessedModelStrategy,
      model=Channel(type=standard_artifacts.Model),
      model_blessing=Channel(type=standard_artifacts.ModelBlessing),
  ).with_id('LatestBlessedModelResolver')
  evaluator = RetrievalEvaluator(
      query_model=query_model, item_model=item_model, examples=interactions,
      items=items, baseline_model=baseline.outputs['model'],
      ks=list(evaluation.ks), blessing_k=evaluation.blessing_k,
      min_recall=evaluation.min_recall,
      max_overall_drop=evaluation.max_overall_drop,
      max_tail_drop=evaluation.max_tail_drop,
      exclusion=evaluation.exclusion, history_column=history_column,
      bootstrap_samples=evaluation.bootstrap_samples,
      bootstrap_seed=evaluation.bootstrap_seed,
      min_eval_events=evaluation.min_eval_events,
      min_eval_users=evaluation.min_eval_users)
  # Outside the Cond: a node under a Cond takes the blessing as an input, so
  # a gated index would be rebuilt whenever the same towers are re-blessed.
  index_builder = IndexBuilder(
      query_model=query_model, item_model=item_model, items=items,
      k=evaluation.index_k, kind=evaluation.index_kind,
      history_column=history_column)
  blessing = evaluator.outputs['blessing']
  models = {QUERY_TOWER: query_model, ITEM_TOWER: item_model,
            INDEX: index_builder.outputs['index']}
  with Cond(blessing.future()[0].custom_property('blessed') == 1):
    pushers = [
        AtomicPusher(model=models[name], model_blessing=blessing,
                     base_directory=os.path.join(serving_root, name),
                     version_models=list(PUSHES.values())).with_id(node_id)
        for node_id, name in PUSHES.items()]
  return [baseline, evaluator, index_builder] + pushers


def create_pipeline(
    *,
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    schema_dir: str,
    serving_root: str,
    feature_config: F.FeatureConfig,
    training: TrainingConfig,
    transform: TransformConfig = TransformConfig(),
    evaluation: EvaluationConfig = EvaluationConfig(),
    metadata_connection_config: Optional[Any] = None,
    beam_pipeline_args: Sequence[str] = (),
    enable_cache: bool = True,
    local_schema_dir: Optional[str] = None,
    vertex_job: Optional[Any] = None,
) -> Pipeline:
  """Creates the pipeline.

  Args:
    pipeline_name: name of the pipeline (its MLMD context).
    pipeline_root: root of every artifact URI.
    data_root: the data contract folder (items/, interactions/train|eval/).
    schema_dir: folder with the annotated items.pbtxt and interactions.pbtxt.
    serving_root: push destination; towers go to <serving_root>/<tower>/<version>.
    feature_config: the features read from `schema_dir` (features.load_feature_config).
    training: the model and SSL hyperparameters (the Trainer's only config).
    transform: feature processing (the Transforms' only config, so a change
      of `training` keeps their cache hits).
    evaluation: metrics, blessing thresholds and the exported index.
    metadata_connection_config: the MLMD ConnectionConfig (sqlite file or
      MySQL: pipeline/metadata.py); None when the orchestrator supplies MLMD.
    beam_pipeline_args: Beam arguments for every Beam-powered component.
    enable_cache: reuse executions whose inputs and properties are unchanged.
    local_schema_dir: `schema_dir` as this machine reads it, for the
      ExampleGens' cell rules (default `schema_dir`; differs when compiling
      for an orchestrator whose containers read a gs:// schema_dir).
    vertex_job: a components.trainer.vertex.VertexJob to train on Vertex AI
      Training (worker pools of a CustomJob) instead of in the Trainer's own
      process; None trains in place.
  """
  items_base, items_pattern = os.path.join(data_root, ITEMS_DIR), '*.csv'
  items_schema_file = os.path.join(schema_dir, F.ITEMS_SCHEMA_FILE)
  inter_schema_file = os.path.join(schema_dir, F.INTERACTIONS_SCHEMA_FILE)
  rules_dir = local_schema_dir or schema_dir
  items = _validated_input(
      'Items', items_base, {CORPUS_SPLIT: items_pattern}, items_schema_file,
      feature_config.item_columns, csv_rules.items_rules(
          os.path.join(rules_dir, F.ITEMS_SCHEMA_FILE)))
  interactions = _validated_input(
      'Interactions', os.path.join(data_root, INTERACTIONS_DIR),
      {'train': 'train/*.csv', 'eval': 'eval/*.csv'}, inter_schema_file,
      feature_config.interaction_columns, csv_rules.interactions_rules(
          os.path.join(rules_dir, F.INTERACTIONS_SCHEMA_FILE), items_base,
          items_pattern))
  items_gen, _, items_schema, items_validator = items
  inter_gen, _, inter_schema, inter_validator = interactions

  custom_config = {'features': feature_config.to_dict(),
                   'transform': transform.to_dict()}
  # No pre/post-transform statistics: the StatisticsGens compute the input's,
  # nothing reads the rest, and on the local runner they cost 1.90 vs 1.21 GB
  # peak RSS and 78 vs 58 CPU s (interactions, 490K events; docs/operations.md).
  items_transform = Transform(
      examples=items_gen.outputs['examples'],
      schema=items_schema.outputs['schema'],
      preprocessing_fn='models.preprocessing.items_preprocessing_fn',
      splits_config=SplitsConfig(analyze=[CORPUS_SPLIT],
                                 transform=[CORPUS_SPLIT]),
      custom_config=custom_config,
      disable_statistics=True).with_id('ItemsTransform')
  inter_transform = Transform(
      examples=inter_gen.outputs['examples'],
      schema=inter_schema.outputs['schema'],
      preprocessing_fn='models.preprocessing.interactions_preprocessing_fn',
      splits_config=SplitsConfig(analyze=['train'],
                                 transform=['train', 'eval']),
      custom_config=custom_config,
      disable_statistics=True).with_id('InteractionsTransform')
  # Data that breaks the schema stops the run before Transform.
  for node in (items_transform, inter_transform):
    node.add_upstream_node(items_validator)
    node.add_upstream_node(inter_validator)

  # Pairwise mutual information of the item features (correlated masking).
  mutual_information = MutualInformationGen(
      examples=items_gen.outputs['examples'],
      schema=items_schema.outputs['schema'])
  mutual_information.add_upstream_node(items_validator)

  trainer = TwoTowerTrainer(
      examples=inter_transform.outputs['transformed_examples'],
      transform_graph=inter_transform.outputs['transform_graph'],
      item_examples=items_transform.outputs['transformed_examples'],
      item_transform_graph=items_transform.outputs['transform_graph'],
      features=feature_config.to_dict(),
      training_config=training.to_dict(),
      mutual_information=mutual_information.outputs['mutual_information'],
      vertex_job=vertex_job)

  gate = evaluate_and_push(
      query_model=trainer.outputs['query_model'],
      item_model=trainer.outputs['item_model'],
      interactions=inter_gen.outputs['examples'],
      items=items_gen.outputs['examples'],
      serving_root=serving_root, evaluation=evaluation,
      history_column=feature_config.history_column)

  components: List[Any] = items + interactions + [
      items_transform, inter_transform, mutual_information, trainer] + gate
  return Pipeline(
      pipeline_name=pipeline_name,
      pipeline_root=pipeline_root,
      components=components,
      enable_cache=enable_cache,
      metadata_connection_config=metadata_connection_config,
      beam_pipeline_args=list(beam_pipeline_args))

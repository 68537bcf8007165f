"""Component test: construction, and a LocalDagRunner run on synthetic data."""
import os

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from ml_metadata.proto import metadata_store_pb2
from tfx.components.example_gen import utils
from tfx.dsl.io import fileio
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.csv_example_gen import component
from components.csv_example_gen import executor
from models import features
from pipeline.data import synthetic
import schemas


def _split_names(gen):
  input_config = example_gen_pb2.Input()
  output_config = example_gen_pb2.Output()
  proto_utils.json_to_proto(gen.exec_properties[specs.INPUT_CONFIG_KEY],
                            input_config)
  proto_utils.json_to_proto(gen.exec_properties[specs.OUTPUT_CONFIG_KEY],
                            output_config)
  return utils.generate_output_split_names(input_config, output_config)


def test_interactions_gen_has_train_and_eval_and_the_declared_columns():
  config = features.load_feature_config(schemas.resolve('movielens-100k'))
  gen = component.create_csv_example_gen(
      '/data/interactions', config.interaction_columns,
      {'train': 'train/*', 'eval': 'eval/*'})
  assert _split_names(gen) == ['train', 'eval']
  assert gen.exec_properties[specs.INPUT_BASE_KEY] == '/data/interactions'
  assert executor.decode_columns(gen.exec_properties) == (
      config.interaction_columns)
  assert gen.executor_spec.executor_class is executor.Executor
  assert gen.outputs[specs.EXAMPLES_KEY].type is standard_artifacts.Examples


def test_single_split_is_not_hashed_into_train_and_eval():
  gen = component.create_csv_example_gen(
      '/data/items', [['item_id', 'string']], {'corpus': 'items*.csv'})
  assert _split_names(gen) == ['corpus']


@pytest.mark.parametrize('columns, splits, message', [
    ([['a', 'str']], {'s': '*'}, 'dtype must be one of'),
    ([['a', 'int']], {}, 'at least one split'),
    ([['a', 'int']], {'s': ''}, "split 's' needs"),
])
def test_bad_arguments(columns, splits, message):
  with pytest.raises(ValueError, match=message):
    component.create_csv_example_gen('/x', columns, splits)


def test_runs_in_a_local_pipeline_and_is_cached(tmp_path):
  data = tmp_path / 'data'
  synthetic.generate(str(data), num_items=40, num_users=10, num_events=120,
                     seed=1)
  config = features.load_feature_config(schemas.resolve('synthetic'))
  db = str(tmp_path / 'metadata.sqlite')

  def run():
    items = component.create_csv_example_gen(
        str(data / 'items'), config.item_columns,
        {'corpus': 'items*.csv'}).with_id('ItemsExampleGen')
    interactions = component.create_csv_example_gen(
        str(data / 'interactions'), config.interaction_columns,
        {'train': 'train/*', 'eval': 'eval/*'}
    ).with_id('InteractionsExampleGen')
    LocalDagRunner().run(tfx_pipeline.Pipeline(
        pipeline_name='csv_example_gen_test',
        pipeline_root=str(tmp_path / 'root'),
        components=[items, interactions], enable_cache=True,
        metadata_connection_config=(
            metadata.sqlite_metadata_connection_config(db))))

  run()
  run()
  with metadata.Metadata(metadata.sqlite_metadata_connection_config(db)) as m:
    executions = m.store.get_executions()
    artifacts = m.store.get_artifacts_by_type('Examples')
  states = sorted(metadata_store_pb2.Execution.State.Name(e.last_known_state)
                  for e in executions)
  assert states == ['CACHED', 'CACHED', 'COMPLETE', 'COMPLETE']
  assert len(artifacts) == 2
  splits = {}
  for artifact in artifacts:
    names = artifact_utils.decode_split_names(
        artifact.properties['split_names'].string_value)
    for name in names:
      files = fileio.glob(os.path.join(artifact.uri, f'Split-{name}', '*.gz'))
      splits[name] = [
          tf.train.Example.FromString(r.numpy()) for r in
          tf.data.TFRecordDataset(files, compression_type='GZIP')]
      # The examples satisfy the bundled schema (types, presence, domains).
      schema = features.load_schema(os.path.join(
          schemas.resolve('synthetic'), features.ITEMS_SCHEMA_FILE
          if name == 'corpus' else features.INTERACTIONS_SCHEMA_FILE))
      stats = tfdv.generate_statistics_from_tfrecord(
          os.path.join(artifact.uri, f'Split-{name}', '*.gz'))
      anomalies = tfdv.validate_statistics(stats, schema)
      assert not anomalies.anomaly_info, (name, anomalies.anomaly_info)
  assert {n: len(e) for n, e in splits.items()} == {
      'corpus': 40, 'train': 108, 'eval': 12}
  corpus = splits['corpus'][0].features.feature
  assert corpus['price'].HasField('float_list')
  assert corpus['tags'].HasField('bytes_list')
  train = splits['train'][0].features.feature
  assert train['age'].HasField('int64_list')
  assert train['timestamp'].HasField('int64_list')

"""MutualInformationGen: its spec, and a real LocalDagRunner run with MLMD."""
import csv
import json
import os

import numpy as np
import pytest
from tfx.components import CsvExampleGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.proto import example_gen_pb2
from tfx.types import channel_utils
from tfx.types import standard_artifacts

from components.mutual_information import artifact
from components.mutual_information import component
from components.mutual_information import executor
from tests.support import mi_tables
from components.mutual_information.schema_features import DataError
from google.protobuf import text_format


def _channel(artifact_type):
  return channel_utils.as_channel([artifact_type()])


def test_spec_inputs_outputs_and_properties():
  mi = component.MutualInformationGen(
      examples=_channel(standard_artifacts.Examples),
      schema=_channel(standard_artifacts.Schema),
      feature_names=['genres', 'year'], top_k=50)
  out = mi.outputs[executor.OUTPUT_KEY]
  assert out.type is artifact.MutualInformation
  assert out.type.TYPE_NAME == 'sslrec.MutualInformation'
  props = mi.exec_properties
  assert json.loads(props[executor.FEATURE_NAMES_KEY]) == ['genres', 'year']
  assert props[executor.INCLUDE_ITEM_ID_KEY] is True
  assert props[executor.TOP_K_KEY] == 50
  assert props[executor.NUM_BUCKETS_KEY] == 10
  assert props[executor.WEIGHTING_KEY] == 'corpus'
  assert json.loads(props[executor.SPLITS_KEY]) == ['corpus']
  assert set(mi.inputs) == {executor.EXAMPLES_KEY, executor.SCHEMA_KEY}


def test_constructor_rejects_bad_arguments():
  kwargs = dict(examples=_channel(standard_artifacts.Examples),
                schema=_channel(standard_artifacts.Schema))
  with pytest.raises(ValueError, match='needs the interactions channel'):
    component.MutualInformationGen(weighting='log', **kwargs)
  with pytest.raises(ValueError, match='weighting must be one of'):
    component.MutualInformationGen(weighting='clicks', **kwargs)
  with pytest.raises(ValueError, match='top_k'):
    component.MutualInformationGen(top_k=0, **kwargs)
  mi = component.MutualInformationGen(
      weighting='log', interactions=_channel(standard_artifacts.Examples),
      **kwargs)
  assert executor.INTERACTIONS_KEY in mi.inputs


def _write_items_csv(path, columns):
  names = list(columns)
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(names)
    for i in range(len(columns[names[0]])):
      writer.writerow(['' if columns[n][i] is None else columns[n][i]
                       for n in names])


def _write_schema(path):
  with open(path, 'w') as f:
    f.write(text_format.MessageToString(mi_tables.items_schema()))
  return str(path)


def _pipeline(root, items_dir, schema_file):
  example_gen = CsvExampleGen(
      input_base=items_dir,
      input_config=example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='corpus', pattern='items.csv')]),
      output_config=example_gen_pb2.Output(
          split_config=example_gen_pb2.SplitConfig(splits=[
              example_gen_pb2.SplitConfig.Split(name='corpus',
                                                hash_buckets=1)])))
  schema_gen = ImportSchemaGen(schema_file=schema_file)
  mi = component.MutualInformationGen(
      examples=example_gen.outputs['examples'],
      schema=schema_gen.outputs['schema'], num_buckets=4)
  return tfx_pipeline.Pipeline(
      pipeline_name='mi_test', pipeline_root=os.path.join(root, 'root'),
      components=[example_gen, schema_gen, mi],
      metadata_connection_config=metadata.sqlite_metadata_connection_config(
          os.path.join(root, 'mlmd.sqlite')))


def test_pipeline_run_records_the_artifact_in_mlmd(tmp_path):
  # Items through the CSV ExampleGen and ImportSchemaGen, as in the pipeline;
  # the MI artifact must land in MLMD with its properties.
  names = [n for n, _ in mi_tables.FEATURES]
  os.makedirs(tmp_path / 'items')
  _write_items_csv(tmp_path / 'items' / 'items.csv',
                   mi_tables.correlated_items(400, seed=3))
  LocalDagRunner().run(_pipeline(
      str(tmp_path), str(tmp_path / 'items'),
      _write_schema(tmp_path / 'items.pbtxt')))

  with metadata.Metadata(metadata.sqlite_metadata_connection_config(
      str(tmp_path / 'mlmd.sqlite'))) as m:
    found = m.store.get_artifacts_by_type('sslrec.MutualInformation')
  assert len(found) == 1
  props = found[0].custom_properties
  assert props['num_items'].int_value == 400
  assert props['num_features'].int_value == len(names)
  result = artifact.load(found[0].uri)
  assert result['features'] == names
  nmi = np.array(result['normalized_mi'])
  for group in mi_tables.GROUPS:
    i, j = names.index(group[0]), names.index(group[1])
    others = [k for k in range(1, len(names)) if k not in (i, j)]
    assert nmi[i, j] > nmi[i, others].max()


def test_executor_error_reaches_the_runner(tmp_path):
  # A non-numeric price: the run fails naming the feature, no artifact file.
  columns = mi_tables.correlated_items(30, seed=4)
  columns['price'] = ['cheap'] + columns['price'][1:]
  os.makedirs(tmp_path / 'items')
  _write_items_csv(tmp_path / 'items' / 'items.csv', columns)
  with pytest.raises(DataError, match="numeric feature 'price'"):
    LocalDagRunner().run(_pipeline(
        str(tmp_path), str(tmp_path / 'items'),
        _write_schema(tmp_path / 'items.pbtxt')))
  written = [f for _, _, fs in os.walk(tmp_path / 'root') for f in fs
             if f.startswith(artifact.FILE_NAME)]
  assert not written

"""Executor of the schema-typed CSV ExampleGen (TFX glue around typed_csv).

The declared columns travel as plain data in `custom_config`: a
google.protobuf.Struct `{"columns": [[name, dtype], ...]}` packed in
example_gen_pb2.CustomConfig. Each input split pattern is read file by file
(quoted cells may span lines) and every row becomes a tf.train.Example holding
every declared column, typed from its dtype: bytes_list for 'string',
int64_list for 'int', float_list for 'float'; an empty cell gives an empty
list of that type.
"""
import os
from typing import Any, Dict, Iterator, Sequence

import apache_beam as beam
import tensorflow as tf
from google.protobuf import struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.csv_example_gen import typed_csv

COLUMNS_KEY = 'columns'


def encode_columns(columns: Sequence[Sequence[str]]
                   ) -> example_gen_pb2.CustomConfig:
  """[[name, dtype], ...] -> the CustomConfig this executor reads."""
  columns = typed_csv.check_columns(columns)
  struct = struct_pb2.Struct()
  struct.update({COLUMNS_KEY: [list(c) for c in columns]})
  config = example_gen_pb2.CustomConfig()
  config.custom_config.Pack(struct)
  return config


def decode_columns(exec_properties: Dict[str, Any]) -> typed_csv.Columns:
  """The declared columns from the `custom_config` execution property."""
  raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
  if not raw:
    raise ValueError('custom_config with the declared columns is required; '
                     'build the component with create_csv_example_gen')
  config = example_gen_pb2.CustomConfig()
  if isinstance(raw, example_gen_pb2.CustomConfig):
    config.CopyFrom(raw)
  else:
    proto_utils.json_to_proto(raw, config)
  struct = struct_pb2.Struct()
  if not config.custom_config.Unpack(struct) or COLUMNS_KEY not in struct:
    raise ValueError(f'custom_config must hold a Struct with {COLUMNS_KEY!r}, '
                     f'got {config}')
  return typed_csv.check_columns(
      [list(c) for c in struct[COLUMNS_KEY]])


def _to_example(row: typed_csv.Row, dtypes: Dict[str, str]
                ) -> tf.train.Example:
  feature = {}
  for name, values in row.items():
    dtype = dtypes[name]
    if dtype == typed_csv.STRING:
      feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(
          value=values))
    elif dtype == typed_csv.INT:
      feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(
          value=values))
    else:
      feature[name] = tf.train.Feature(float_list=tf.train.FloatList(
          value=values))
  return tf.train.Example(features=tf.train.Features(feature=feature))


def _read_file(path: str, columns: typed_csv.Columns
               ) -> Iterator[tf.train.Example]:
  """Beam step: one CSV file -> its typed examples."""
  dtypes = dict(columns)
  with beam.io.filesystems.FileSystems.open(
      path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED
  ) as f:
    for row in typed_csv.read_rows(f, columns, path):
      yield _to_example(row, dtypes)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _CsvToExample(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
    split_pattern: str) -> beam.pvalue.PCollection:
  """Reads the CSV files of one split into typed tf.train.Examples."""
  columns = decode_columns(exec_properties)
  pattern = os.path.join(
      exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
  files = sorted(fileio.glob(pattern))
  if not files:
    raise ValueError(f'split pattern {pattern} matches no files')
  for path in files:  # fail before the pipeline runs on a bad header
    with fileio.open(path, 'rb') as f:
      typed_csv.check_header(typed_csv.read_header(f, path), columns, path)
  return (pipeline
          | 'CreateFilenames' >> beam.Create(files)
          | 'ReadTypedCsv' >> beam.FlatMap(_read_file, columns))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """ExampleGen executor typing CSV columns from the declared dtypes."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _CsvToExample

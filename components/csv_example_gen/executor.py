"""Executor of the schema-typed CSV ExampleGen (TFX glue around typed_csv).

The declared columns travel as plain data in `custom_config`: a
google.protobuf.Struct `{"columns": [[name, dtype], ...]}` packed in
example_gen_pb2.CustomConfig. Each input split pattern is read file by file
(quoted cells may span lines) and every row becomes a tf.train.Example holding
every declared column, typed from its dtype: bytes_list for 'string',
int64_list for 'int', float_list for 'float'; an empty cell gives an empty
list of that type.

The Struct may also hold `rules` (rules.Rules.to_dict()): per-column cell
rules applied to every row, and whole-input checks run in the same Beam
pipeline, each failing the run with the file and the rows:
  - every split has at least one data row (a header-only file, an empty eval
    split);
  - `unique`: no value of the column appears twice (duplicate item ids);
  - `references`: every value of the columns names an id of another CSV
    (interactions naming an item that the items file lacks).
"""
import logging
import os
from typing import (AbstractSet, Any, Dict, Iterator, List, Optional,
                    Sequence, Tuple)

import apache_beam as beam
import tensorflow as tf
from google.protobuf import struct_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.csv_example_gen import rules as rules_lib
from components.csv_example_gen import typed_csv
from pipeline.errors import UserError

COLUMNS_KEY = 'columns'
RULES_KEY = 'rules'
# How many offending values an error message shows.
_SHOWN = 5


def encode_columns(columns: Sequence[Sequence[str]],
                   rules: Optional[rules_lib.Rules] = None
                   ) -> example_gen_pb2.CustomConfig:
  """[[name, dtype], ...] (and rules) -> the CustomConfig this executor reads."""
  columns = typed_csv.check_columns(columns)
  struct = struct_pb2.Struct()
  struct.update({COLUMNS_KEY: [list(c) for c in columns]})
  if rules is not None:
    struct.update({RULES_KEY: rules.to_dict()})
  config = example_gen_pb2.CustomConfig()
  config.custom_config.Pack(struct)
  return config


def _decode_struct(exec_properties: Dict[str, Any]) -> struct_pb2.Struct:
  raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
  if not raw:
    raise UserError('custom_config with the declared columns is required; '
                     'build the component with create_csv_example_gen')
  config = example_gen_pb2.CustomConfig()
  if isinstance(raw, example_gen_pb2.CustomConfig):
    config.CopyFrom(raw)
  else:
    proto_utils.json_to_proto(raw, config)
  struct = struct_pb2.Struct()
  if not config.custom_config.Unpack(struct) or COLUMNS_KEY not in struct:
    raise UserError(f'custom_config must hold a Struct with {COLUMNS_KEY!r}, '
                     f'got {config}')
  return struct


def decode_columns(exec_properties: Dict[str, Any]) -> typed_csv.Columns:
  """The declared columns from the `custom_config` execution property."""
  struct = _decode_struct(exec_properties)
  return typed_csv.check_columns(
      [list(c) for c in struct[COLUMNS_KEY]])


def decode_rules(exec_properties: Dict[str, Any]) -> rules_lib.Rules:
  """The cell and data rules from `custom_config` (none if absent)."""
  struct = _decode_struct(exec_properties)
  if RULES_KEY not in struct:
    return rules_lib.Rules()
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  return rules_lib.Rules.from_dict(json_format.MessageToDict(struct[RULES_KEY]))


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


Origin = Tuple[str, int]  # (file, line)


def _read_file(path: str, columns: typed_csv.Columns, rules: rules_lib.Rules
               ) -> Iterator[Tuple[Origin, typed_csv.Row]]:
  """Beam step: one CSV file -> (its file and line, typed row) per row."""
  with beam.io.filesystems.FileSystems.open(
      path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED
  ) as f:
    for line, row in typed_csv.read_numbered_rows(f, columns, path, rules):
      yield (path, line), row


def _read_ids(path: str, column: str) -> Iterator[str]:
  """Beam step: the ids of `column` in one CSV file."""
  with beam.io.filesystems.FileSystems.open(
      path, compression_type=beam.io.filesystem.CompressionTypes.UNCOMPRESSED
  ) as f:
    yield from typed_csv.read_column(f, column, path)


def _row_to_example(origin_row, dtypes: Dict[str, str]) -> tf.train.Example:
  return _to_example(origin_row[1], dtypes)


def _where(origins: Sequence[Origin]) -> str:
  by_file: Dict[str, List[int]] = {}
  for path, line in sorted(set(origins)):
    by_file.setdefault(path, []).append(line)
  return '; '.join(
      f'{path} line{"s" if len(lines) > 1 else ""} '
      f'{", ".join(map(str, lines[:_SHOWN]))}{" ..." if len(lines) > _SHOWN else ""}'
      for path, lines in by_file.items())


def _fail_if_empty(count: int, pattern: str, files: Sequence[str]) -> None:
  if count == 0:
    raise UserError(
        f'{", ".join(files)}: no data rows (a header only); the split '
        f'{pattern} needs at least one row')


def _fail_on(found: List[Tuple[str, List[Origin]]], total: int, what: str,
             num_known: Optional[int] = None, no_known: str = '') -> None:
  """Raises naming the first offending values and their rows, if any."""
  if not found:
    return
  if num_known == 0:
    raise UserError(no_known)
  shown = '; '.join(f'{value!r} ({_where(origins)})' for value, origins in found)
  more = f' ... ({total} in all)' if total > len(found) else ''
  raise UserError(f'{what}: {shown}{more}')


def _column_values(origin_row, column: str, separator: Optional[str]
                   ) -> Iterator[Tuple[str, Origin]]:
  origin, row = origin_row
  for value in row[column]:
    text = value.decode('utf-8')
    for part in (text.split(separator) if separator else [text]):
      if part:
        yield part, origin


def _check_unique(rows, column: str, label: str) -> None:
  repeated = (rows
              | f'{label}Values' >> beam.FlatMap(_column_values, column, None)
              | f'{label}Group' >> beam.GroupByKey()
              | f'{label}Repeated' >> beam.Filter(lambda kv: len(kv[1]) > 1)
              | f'{label}Sorted' >> beam.Map(lambda kv: (kv[0], sorted(kv[1]))))
  _report(repeated, label, f'{column} values repeat, each must be unique')


def _unknown_ids(origin_row, refs: rules_lib.References,
                 known: AbstractSet[str]) -> Iterator[Tuple[str, Origin]]:
  origin, row = origin_row
  for value in refs.unknown_ids(row, known):
    yield value, origin


def _check_references(pipeline, rows, refs: rules_lib.References, label: str
                      ) -> None:
  """Every id the rows name must be an id of the referenced CSV files.

  The known ids travel to every worker as one set (a side input, the size of
  the item corpus); each row is checked where it is read and only the
  unknown ids go on, with their rows, to the shuffle. Nothing of the size of
  the events is grouped: a history column names items millions of times."""
  files = sorted(fileio.glob(os.path.join(refs.input_base, refs.pattern)))
  known = (pipeline
           | f'{label}IdFiles' >> beam.Create(files)
           | f'{label}Ids' >> beam.FlatMap(_read_ids, refs.id_column)
           | f'{label}IdSet' >> beam.combiners.ToSet())
  unknown = (rows
             | f'{label}UnknownValues' >> beam.FlatMap(
                 _unknown_ids, refs, beam.pvalue.AsSingleton(known))
             | f'{label}FirstRows' >> beam.combiners.Top.SmallestPerKey(
                 _SHOWN)
             | f'{label}Sorted' >> beam.Map(lambda kv: (kv[0], sorted(kv[1]))))
  id_files = os.path.join(refs.input_base, refs.pattern)
  num_known = known | f'{label}CountIds' >> beam.Map(len)
  _report(unknown, label,
          f'{"/".join(refs.columns)} values name no {refs.id_column} of '
          f'{id_files}', num_known=num_known,
          no_known=f'{id_files}: no {refs.id_column} at all (a header only?); '
          'every interaction names an unknown item')


def _report(found, label: str, what: str, num_known=None, no_known='') -> None:
  total = found | f'{label}Count' >> beam.combiners.Count.Globally()
  known = (beam.pvalue.AsSingleton(num_known) if num_known is not None
           else None)
  (found
   | f'{label}First' >> beam.combiners.Top.Smallest(_SHOWN)
   | f'{label}Fail' >> beam.Map(_fail_on, beam.pvalue.AsSingleton(total), what,
                                known, no_known))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _CsvToExample(  # pylint: disable=invalid-name
    pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
    split_pattern: str) -> beam.pvalue.PCollection:
  """Reads the CSV files of one split into typed tf.train.Examples."""
  columns = decode_columns(exec_properties)
  rules = decode_rules(exec_properties)
  pattern = os.path.join(
      exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
  files = sorted(fileio.glob(pattern))
  if not files:
    raise UserError(f'split pattern {pattern} matches no files')
  for path in files:  # fail before the pipeline runs on a bad header
    with fileio.open(path, 'rb') as f:
      typed_csv.check_header(typed_csv.read_header(f, path), columns, path)
  logging.info('Reading %d CSV file(s) of %s, typing %d declared columns and '
               'checking every row', len(files), pattern, len(columns))
  rows = (pipeline
          | 'CreateFilenames' >> beam.Create(files)
          | 'ReadTypedCsv' >> beam.FlatMap(_read_file, columns, rules))
  (rows
   | 'CountRows' >> beam.combiners.Count.Globally()
   | 'FailIfEmpty' >> beam.Map(_fail_if_empty, split_pattern, files))
  for column in rules.unique:
    _check_unique(rows, column, f'Unique[{column}]')
  if rules.references:
    _check_references(pipeline, rows, rules.references, 'Known')
  return rows | 'ToExample' >> beam.Map(_row_to_example, dict(columns))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """ExampleGen executor typing CSV columns from the declared dtypes."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _CsvToExample

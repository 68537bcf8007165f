"""Executor test: a real Beam pipeline over tiny CSVs, TFRecords read back."""
import os

import pytest
import tensorflow as tf
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.utils import proto_utils

from components.csv_example_gen import executor
from components.csv_example_gen import rules as rules_lib

COLUMNS = [['user_id', 'string'], ['item_id', 'string'],
           ['timestamp', 'int'], ['age', 'float'], ['zip_prefix', 'string'],
           ['history', 'string']]
# The train split holds only digit zip prefixes (with a leading zero), the
# eval split letters and an empty cell: the stock CsvExampleGen would type the
# column INT in one split and BYTES in the other.
TRAIN = ('user_id,item_id,timestamp,age,zip_prefix,history\n'
         '1,10,100,24,857,\n'
         '2,"Heat, ""the"" movie",101,53.5,021,10\n')
EVAL = ('history,zip_prefix,age,timestamp,item_id,user_id\n'  # other order
        '"10|Heat, ""the"" movie",T8H,,102,"multi\nline",1\n'
        ',,30,103,10,3\n')


def _write(base, files):
  for name, text in files.items():
    path = os.path.join(base, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8', newline='') as f:
      f.write(text)
  return str(base)


def _run(input_base, splits, out_dir, columns=COLUMNS, rules=None):
  examples = standard_artifacts.Examples()
  examples.uri = str(out_dir)
  input_config = example_gen_pb2.Input(splits=[
      example_gen_pb2.Input.Split(name=n, pattern=p)
      for n, p in splits.items()])
  exec_properties = {
      specs.INPUT_BASE_KEY: input_base,
      specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(input_config),
      specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
          example_gen_pb2.Output()),
      specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(
          executor.encode_columns(columns, rules)),
  }
  executor.Executor().Do({}, {specs.EXAMPLES_KEY: [examples]},
                         exec_properties)
  return examples


def _read_split(examples, split):
  files = fileio.glob(os.path.join(
      artifact_utils.get_split_uri([examples], split), '*.gz'))
  assert files, f'no output files for split {split}'
  dataset = tf.data.TFRecordDataset(files, compression_type='GZIP')
  result = []
  for record in dataset:
    example = tf.train.Example.FromString(record.numpy())
    result.append(example.features.feature)
  return sorted(result, key=lambda f: f['timestamp'].int64_list.value[0])


def _kinds(features):
  return {name: f.WhichOneof('kind') for name, f in features.items()}


@pytest.fixture(name='interactions', scope='module')
def _interactions(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('interactions')
  base = _write(tmp / 'in', {'train/interactions.csv': TRAIN,
                             'eval/interactions.csv': EVAL})
  return _run(base, {'train': 'train/*', 'eval': 'eval/*'}, tmp / 'out')


def test_splits_and_types_follow_the_declaration(interactions):
  assert artifact_utils.decode_split_names(interactions.split_names) == [
      'train', 'eval']
  expected = {'user_id': 'bytes_list', 'item_id': 'bytes_list',
              'timestamp': 'int64_list', 'age': 'float_list',
              'zip_prefix': 'bytes_list', 'history': 'bytes_list'}
  for split in ('train', 'eval'):
    rows = _read_split(interactions, split)
    assert len(rows) == 2
    for row in rows:
      assert _kinds(row) == expected


def test_values_quotes_and_multiline_cells(interactions):
  train = _read_split(interactions, 'train')
  assert train[1]['item_id'].bytes_list.value == [b'Heat, "the" movie']
  assert train[1]['zip_prefix'].bytes_list.value == [b'021']  # leading zero
  assert train[1]['timestamp'].int64_list.value == [101]
  assert train[1]['age'].float_list.value == [53.5]
  evaluation = _read_split(interactions, 'eval')
  assert evaluation[0]['item_id'].bytes_list.value == [b'multi\nline']
  assert evaluation[0]['history'].bytes_list.value == [
      b'10|Heat, "the" movie']
  assert evaluation[0]['zip_prefix'].bytes_list.value == [b'T8H']


def test_empty_cells_are_present_with_no_values(interactions):
  train = _read_split(interactions, 'train')
  evaluation = _read_split(interactions, 'eval')
  assert 'history' in train[0] and not train[0]['history'].bytes_list.value
  assert not evaluation[0]['age'].float_list.value
  assert evaluation[0]['age'].HasField('float_list')
  assert not evaluation[1]['zip_prefix'].bytes_list.value


def test_single_corpus_split(tmp_path):
  base = _write(tmp_path / 'in', {
      'items/items.csv': 'item_id,year\n1,1995\n2,\n',
      'items/items_more.csv': 'year,item_id\n1990,3\n'})
  examples = _run(base, {'corpus': 'items/items*.csv'}, tmp_path / 'out',
                  columns=[['item_id', 'string'], ['year', 'float']])
  assert artifact_utils.decode_split_names(examples.split_names) == ['corpus']
  ids = sorted(f['item_id'].bytes_list.value[0]
               for f in _read_split_unsorted(examples, 'corpus'))
  assert ids == [b'1', b'2', b'3']


def _read_split_unsorted(examples, split):
  files = fileio.glob(os.path.join(
      artifact_utils.get_split_uri([examples], split), '*.gz'))
  return [tf.train.Example.FromString(r.numpy()).features.feature
          for r in tf.data.TFRecordDataset(files, compression_type='GZIP')]


def test_header_error_names_file_and_columns(tmp_path):
  base = _write(tmp_path / 'in', {
      'train/a.csv': TRAIN,
      'eval/b.csv': 'user_id,item_id,timestamp,age,zip,history,rating\n'})
  with pytest.raises(ValueError, match=(
      r"eval/b\.csv: the header .* lacks declared columns \['zip_prefix'\] "
      r"and has undeclared columns \['zip', 'rating'\]")):
    _run(base, {'train': 'train/*', 'eval': 'eval/*'}, tmp_path / 'out')


def test_bad_number_names_file_line_and_column(tmp_path):
  base = _write(tmp_path / 'in', {
      'train/a.csv': TRAIN,
      'eval/b.csv': EVAL + '4,11,"soon",1,x,\n'})
  # Beam appends the step name to the message and keeps the type.
  # Line 5: the header, a row over lines 2-3, a row on line 4, then this one.
  with pytest.raises(ValueError, match=(
      r"eval/b\.csv line 5, column 'age': 'soon' is not a valid float")):
    _run(base, {'train': 'train/*', 'eval': 'eval/*'}, tmp_path / 'out')


def test_missing_files_and_config(tmp_path):
  base = _write(tmp_path / 'in', {'train/a.csv': TRAIN})
  with pytest.raises(ValueError, match=r'eval/\* matches no files'):
    _run(base, {'train': 'train/*', 'eval': 'eval/*'}, tmp_path / 'out')
  with pytest.raises(ValueError, match='custom_config'):
    executor.decode_columns({})


ITEM_COLUMNS = [['item_id', 'string'], ['year', 'float']]


def test_references_name_unknown_items_with_their_rows(tmp_path):
  base = _write(tmp_path / 'in', {
      'items/items.csv': 'item_id,year\n10,1995\n"Heat, ""the"" movie",\n',
      'train/a.csv': TRAIN,
      'eval/b.csv': EVAL + '77|10,x,1,104,99,4\n'})
  refs = rules_lib.Rules(references=rules_lib.References(
      columns=('item_id', 'history'), list_columns=('history',),
      input_base=os.path.join(base, 'items'), pattern='*.csv',
      id_column='item_id'))
  # "multi\nline" (lines 2-3), 99 and 77 (line 5) are no items.
  with pytest.raises(ValueError, match=(
      r"item_id/history values name no item_id of .*items/\*\.csv: "
      r"'77' \(.*eval/b\.csv line 5\); '99' \(.*eval/b\.csv line 5\); "
      r"'multi\\nline' \(.*eval/b\.csv line 2\)")):
    _run(base, {'train': 'train/*', 'eval': 'eval/*'}, tmp_path / 'out',
         rules=refs)


def test_unique_ids_and_empty_splits(tmp_path):
  base = _write(tmp_path / 'in', {
      'items/a.csv': 'item_id,year\n1,1995\n2,\n',
      'items/b.csv': 'item_id,year\n3,1990\n1,1991\n',
      'empty/c.csv': 'item_id,year\n'})
  unique = rules_lib.Rules(unique=('item_id',))
  with pytest.raises(ValueError, match=(
      r"item_id values repeat, each must be unique: '1' \(.*items/a\.csv "
      r"line 2; .*items/b\.csv line 3\)")):
    _run(base, {'corpus': 'items/*.csv'}, tmp_path / 'out1',
         columns=ITEM_COLUMNS, rules=unique)
  with pytest.raises(ValueError, match=r'empty/c\.csv: no data rows'):
    _run(base, {'corpus': 'empty/*.csv'}, tmp_path / 'out2',
         columns=ITEM_COLUMNS, rules=unique)

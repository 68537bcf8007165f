"""Bad inputs stop `sslrec run` in its first stage, in one line, pushing nothing.

One table: each row breaks a small synthetic dataset in one way and states the
message, the exit code and the component that stops the run (read from ML
Metadata: the one FAILED execution). The runs go through the real command
line in this process (`cli.main`), so a row costs the seconds of the
ExampleGens (and StatisticsGens for a schema anomaly), not a training. Beam's
traceback of the failing step is in the run's log file, not on stderr.
"""
import csv
import glob
import os
import re
import shutil

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipeline import cli
from pipeline.data import synthetic

# Real `sslrec run`s: end to end, if short.
pytestmark = pytest.mark.e2e

ITEMS = 'items/items.csv'
TRAIN = 'interactions/train/interactions.csv'
EVAL = 'interactions/eval/interactions.csv'


def _edit(path, change):
  """Rewrites a CSV: change(rows) gets and returns the list of row dicts."""
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.DictReader(f)
    header, rows = reader.fieldnames, list(reader)
  rows = change(rows)
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.DictWriter(f, header, lineterminator='\n')
    writer.writeheader()
    writer.writerows(rows)


def _set(index, column, value):
  def change(rows):
    rows[index][column] = value
    return rows
  return change


def _header_only(rows):
  return []


def _duplicate_item(rows):
  return rows + [dict(rows[3])]


def _new_item_with_newline(rows):
  return rows + [dict(rows[0], item_id='new\nitem')]


def _unknown_item(rows):
  rows[5]['item_id'] = 'no-such-item'
  return rows


# (case, file, change, failing component, message regex). Row i of the data
# is on line i + 2 of its file (line 1 is the header).
CASES = [
    ('nan_float', ITEMS, _set(1, 'price', 'nan'), 'ItemsExampleGen',
     r"items\.csv line 3, column 'price': 'nan' is not a valid float: NaN is "
     r"not allowed \(tag the feature 'nan:missing'"),
    ('Infinity_float', ITEMS, _set(2, 'price', '-Infinity'), 'ItemsExampleGen',
     r"line 4, column 'price': '-Infinity' is not a valid float: infinity"),
    ('overflow_float', ITEMS, _set(0, 'price', '1e400'), 'ItemsExampleGen',
     r"line 2, column 'price': '1e400' is not a valid float: beyond the "
     'float32 range'),
    ('underscore_int', TRAIN, _set(0, 'timestamp', '1_600_000_000'),
     'InteractionsExampleGen',
     r"train/interactions\.csv line 2, column 'timestamp': '1_600_000_000' is "
     'not a valid int'),
    ('arabic_indic_int', TRAIN, _set(1, 'age', '\u0663\u0667'),
     'InteractionsExampleGen',
     r"line 3, column 'age': '\u0663\u0667' is not a valid int"),
    ('newline_in_id', ITEMS, _new_item_with_newline, 'ItemsExampleGen',
     r"items\.csv line 32, column 'item_id': 'new\\nitem' holds a line "
     'break'),
    ('empty_id', TRAIN, _set(2, 'user_id', ''), 'InteractionsExampleGen',
     r"train/interactions\.csv line 4, column 'user_id': empty, a value is "
     'required'),
    ('negative_timestamp', EVAL, _set(0, 'timestamp', '-5'),
     'InteractionsExampleGen',
     r"eval/interactions\.csv line 2, column 'timestamp': '-5' is below the "
     'schema minimum 0'),
    # The interactions are read first: they name items that the empty items
    # file lacks.
    ('header_only_items', ITEMS, _header_only, 'InteractionsExampleGen',
     r'items/\*\.csv: no item_id at all \(a header only\?\); every '
     'interaction names an unknown item'),
    ('header_only_train', TRAIN, _header_only, 'InteractionsExampleGen',
     r'train/interactions\.csv: no data rows'),
    ('empty_eval_split', EVAL, _header_only, 'InteractionsExampleGen',
     r'eval/interactions\.csv: no data rows'),
    ('duplicate_item_ids', ITEMS, _duplicate_item, 'ItemsExampleGen',
     r"item_id values repeat, each must be unique: 'i03' \(.*items\.csv "
     r'lines 5, 32\)'),
    ('unknown_item', TRAIN, _unknown_item, 'InteractionsExampleGen',
     r"item_id/history values name no item_id of .*items/\*\.csv: "
     r"'no-such-item' \(.*train/interactions\.csv line 7\)"),
    ('schema_anomaly', TRAIN, _set(0, 'segment', 'zz'),
     'InteractionsExampleValidator',
     r'interactions: data breaks the declared schema: \[train\] segment: '
     r'Unexpected string values .*; all anomalies in .*anomalies'),
]


@pytest.fixture(scope='module')
def base_data(tmp_path_factory):
  data = str(tmp_path_factory.mktemp('base') / 'data')
  synthetic.generate(data, num_items=30, num_users=10, num_events=200, seed=1)
  return data


def _executions(output):
  """[(component id, execution state)] of every execution in the store."""
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(output, 'metadata.sqlite')
  store = metadata_store.MetadataStore(config)
  return [(context.name.split('.', 1)[1], execution.last_known_state)
          for context in store.get_contexts_by_type('node')
          for execution in store.get_executions_by_context(context.id)]


@pytest.mark.parametrize('case, file, change, stage, message', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_stops_early_in_one_line(base_data, tmp_path, capsys, case,
                                           file, change, stage, message):
  del case
  data = str(tmp_path / 'data')
  shutil.copytree(base_data, data)
  _edit(os.path.join(data, file), change)
  output = str(tmp_path / 'output')
  code = cli.main(['run', '--data', data, '--output', output, '--epochs', '1',
                   '--batch-size', '64'])
  err = capsys.readouterr().err
  last = err.strip().splitlines()[-1]
  assert code == 2, err[-3000:]
  assert last.startswith('sslrec run: error: '), last
  assert re.search(message, last), last
  # The ExampleGens say what they read and check.
  assert re.search(r'Reading 1 CSV file\(s\) of .*, typing \d+ declared '
                   'columns and checking every row', err), err[-3000:]
  # Beam's traceback of the failing DoFn stays in the run's log file.
  assert 'Traceback' not in err, err[-3000:]
  [log] = glob.glob(os.path.join(output, 'logs', 'run-*.log'))
  assert f'(traceback in {log})' in err or stage.endswith('Validator')
  if stage.endswith('ExampleGen'):
    with open(log, encoding='utf-8') as f:
      assert 'Traceback (most recent call last)' in f.read()
  executions = _executions(output)
  assert [node for node, state in executions
          if state == metadata_store_pb2.Execution.FAILED] == [stage]
  # Stopped before the Transforms and the Trainer; nothing pushed.
  assert not {'ItemsTransform', 'InteractionsTransform', 'TwoTowerTrainer'} & {
      node for node, _ in executions}
  assert not os.path.exists(os.path.join(output, 'serving'))

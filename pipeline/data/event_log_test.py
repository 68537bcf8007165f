"""Tests for pipeline/data/event_log.py (`sslrec data import`) on real files."""
import csv
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from models import features
from pipeline import config as config_lib
from pipeline.data import contract
from pipeline.data import event_log
from pipeline.data import split
from pipeline.data.events import Event

EVENTS = ('uid,item,ts,device\n'
          'u1,i1,2024-01-01T00:00:10,mobile\n'
          'u1,i2,20,web\n'
          'u2,i1,15,mobile\n'
          'u1,i3,30,mobile\n'
          'u2,i3,25,tv\n'
          'u2,i2,40,web\n'
          'u3,i1,5,tv\n')
ITEMS = ('item,title,genres,price,brand,notes\n'
         'i1,Toy Story Returns,Animation;Comedy,9.5,acme,\n'
         'i2,Heat,Drama,,globex,\n'
         'i3,Big Night Out,Comedy; Drama,12,acme,\n'
         'i4,Cold Fever,Drama,3,initech,\n')
USERS = ('uid,age,city,zip\n'
         'u1,24,paris,02139\n'
         'u2,,lyon,10001\n'
         'u3,50,paris,75001\n'
         'u9,33,nice,06000\n')
KEYS = dict(user_col='uid', item_col='item', time_col='ts', separator=';')
T0 = 1704067200  # 2024-01-01T00:00:00Z


def _files(folder, events=EVENTS, items=ITEMS, users=USERS):
  folder.mkdir(exist_ok=True)
  paths = []
  for name, text in (('events.csv', events), ('items.csv', items),
                     ('users.csv', users)):
    (folder / name).write_text(text, encoding='utf-8')
    paths.append(str(folder / name))
  return paths


def _rows(path):
  with open(path, encoding='utf-8', newline='') as f:
    return list(csv.reader(f))


def test_writes_the_contract_and_a_schema_folder_that_run_finds(tmp_path):
  events, items, users = _files(tmp_path / 'in')
  out = tmp_path / 'shop'
  info, declared = event_log.build(str(out), events, items, users,
                                   eval_fraction=0.3, history_length=2,
                                   **KEYS)
  assert json.loads((out / contract.DATASET_JSON).read_text()) == info
  assert {k: info[k] for k in ('name', 'schemas', 'num_items', 'num_users',
                               'num_train_events', 'num_eval_events',
                               'format')} == {
      'name': 'shop', 'schemas': 'schema', 'num_items': 4, 'num_users': 3,
      'num_train_events': 5, 'num_eval_events': 2, 'format': 'event-log'}
  assert info['source'] == {'events': events, 'items': items, 'users': users}
  # Multi-valued cells are rewritten with '|'; the empty notes column is kept.
  assert _rows(out / contract.ITEMS_CSV) == [
      ['item_id', 'title', 'genres', 'price', 'brand', 'notes'],
      ['i1', 'Toy Story Returns', 'Animation|Comedy', '9.5', 'acme', ''],
      ['i2', 'Heat', 'Drama', '', 'globex', ''],
      ['i3', 'Big Night Out', 'Comedy|Drama', '12', 'acme', ''],
      ['i4', 'Cold Fever', 'Drama', '3', 'initech', '']]
  # The ISO time of u1's first event is T0 + 10: the latest events by time
  # are the two eval ones; history spans both splits, most recent first.
  assert _rows(out / contract.EVAL_CSV) == [
      ['user_id', 'item_id', 'timestamp', 'device', 'age', 'city', 'zip',
       'history'],
      ['u2', 'i2', '40', 'web', '', 'lyon', '10001', 'i3|i1'],
      ['u1', 'i1', str(T0 + 10), 'mobile', '24', 'paris', '02139', 'i3|i2']]
  assert [r[:3] for r in _rows(out / contract.TRAIN_CSV)[1:]] == [
      ['u3', 'i1', '5'], ['u2', 'i1', '15'], ['u1', 'i2', '20'],
      ['u2', 'i3', '25'], ['u1', 'i3', '30']]
  schema_dir = config_lib.RunConfig(data=str(out)).schema_name()
  assert schema_dir == os.path.join(str(out), contract.GENERATED_SCHEMAS)
  config = features.load_feature_config(schema_dir)
  assert [(f.name, f.kind, f.dtype) for f in config.item_features] == [
      ('item_id', 'id', 'string'), ('title', 'text', 'string'),
      ('genres', 'multi_valued', 'string'), ('price', 'numeric', 'float'),
      ('brand', 'categorical', 'string')]  # notes: always empty, ignore
  assert [(f.name, f.kind, f.dtype) for f in config.query_features] == [
      ('user_id', 'id', 'string'), ('device', 'categorical', 'string'),
      ('age', 'numeric', 'float'), ('city', 'categorical', 'string'),
      ('zip', 'categorical', 'string'), ('history', 'history', 'string')]
  assert [(d.table, d.column.name, d.column.required) for d in declared] == [
      ('items', 'title', True), ('items', 'genres', True),
      ('items', 'price', False), ('items', 'brand', True),
      ('items', 'notes', False), ('events', 'device', True),
      ('users', 'age', False), ('users', 'city', True),
      ('users', 'zip', True)]
  table = event_log.table_text(declared).splitlines()
  assert table[0].split() == ['column', 'from', 'tag', 'type', 'empty',
                              'distinct', 'example']
  assert table[3].split() == ['price', 'items', 'numeric', 'float', '25%',
                              '3', '9.5']


def test_history_and_split_are_the_shared_contract_code(tmp_path):
  events, items, users = _files(tmp_path / 'in')
  out = tmp_path / 'out'
  event_log.build(str(out), events, items, users, split='leave-last-out',
                  history_length=1, **KEYS)
  ids = [('u1', 'i1', T0 + 10), ('u1', 'i2', 20), ('u2', 'i1', 15),
         ('u1', 'i3', 30), ('u2', 'i3', 25), ('u2', 'i2', 40),
         ('u3', 'i1', 5)]
  train, evaluation = split.split_events([Event(*e) for e in ids],
                                         'leave-last-out', None, 1)
  for path, expected in ((contract.TRAIN_CSV, train),
                         (contract.EVAL_CSV, evaluation)):
    assert [(r[0], r[1], int(r[2]), r[-1]) for r in _rows(out / path)[1:]] == [
        (e.user_id, e.item_id, e.timestamp, h) for e, h in expected]


def test_parquet_inputs_give_the_same_files(tmp_path):
  events, items, users = _files(tmp_path / 'in')
  event_log.build(str(tmp_path / 'csv'), events, items, users, **KEYS)
  parquet = {}
  for path in (events, items, users):
    with open(path, encoding='utf-8', newline='') as f:
      rows = list(csv.reader(f))
    columns = {name: [r[i] for r in rows[1:]]
               for i, name in enumerate(rows[0])}
    parquet[path] = path.replace('.csv', '.parquet')
    pq.write_table(pa.table(columns), parquet[path])
  event_log.build(str(tmp_path / 'pq'), parquet[events], parquet[items],
                  parquet[users], name='csv', **KEYS)
  for name in (contract.ITEMS_CSV, contract.TRAIN_CSV, contract.EVAL_CSV):
    assert ((tmp_path / 'csv' / name).read_bytes()
            == (tmp_path / 'pq' / name).read_bytes())


def test_without_a_user_table_and_with_tags(tmp_path):
  events, items, _ = _files(tmp_path / 'in')
  out = tmp_path / 'out'
  info, declared = event_log.build(
      str(out), events, items, tags={'price': 'categorical',
                                     'device': 'ignore'}, **KEYS)
  assert info['num_users'] == 3 and 'users' not in info['source']
  config = features.load_feature_config(str(out / 'schema'))
  assert config.query_feature_names == ['user_id', 'history']
  assert config.item_feature('price').kind == 'categorical'
  assert _rows(out / contract.TRAIN_CSV)[0] == [
      'user_id', 'item_id', 'timestamp', 'device', 'history']
  assert [d.column.comment for d in declared if d.column.name == 'price'] == [
      'items.csv price: set by --tag']
  with pytest.raises(ValueError, match='--tag colour: no such feature column'):
    event_log.build(str(tmp_path / 'o2'), events, items,
                    tags={'colour': 'text'}, **KEYS)


def _error(tmp_path, message, keys=None, users=True, **texts):
  events, items, user_file = _files(tmp_path / 'in', **texts)
  with pytest.raises(ValueError, match=message):
    event_log.build(str(tmp_path / 'out'), events, items,
                    user_file if users else None, **(keys or KEYS))
  assert not (tmp_path / 'out').exists()
  assert [p for p in os.listdir(tmp_path) if p != 'in'] == []


@pytest.mark.parametrize('texts, message', [
    (dict(events=EVENTS.replace('u1,i2,20', 'u1,i2,later')),
     r"events.csv line 3, column 'ts': 'later' is neither whole epoch "
     'seconds nor an ISO 8601 date-time'),
    (dict(events=EVENTS.replace('u2,i3,25', 'u2,i7,25')),
     r"events.csv line 6, column 'item': item 'i7' has no row in .*items.csv"),
    (dict(events=EVENTS.replace('u3,i1,5', 'u4,i1,5')),
     r"events.csv line 8, column 'uid': user 'u4' has no row in .*users.csv"),
    (dict(events=EVENTS.replace('u3,i1,5,tv', 'u3,i1,5')),
     r'events.csv line 8: 3 fields, the header has 4'),
    (dict(items=ITEMS.replace('i4,', 'i2,')),
     r"items.csv line 5, column 'item': item id 'i2' appears twice \(first "
     'at line 3\\)'),
    (dict(events=EVENTS.replace('device', 'history')),
     r"events.csv line 1, column 'history': 'history' is a contract column"),
    (dict(events=EVENTS.replace('device', 'city')),
     r"events.csv line 1, column 'city': column 'city' is also in "
     '.*users.csv'),
    (dict(events=EVENTS.split('\n')[0] + '\n'), 'no events after the header'),
])
def test_errors_name_file_line_and_column_and_write_nothing(tmp_path, texts,
                                                            message):
  _error(tmp_path, message, **texts)


def test_key_columns_must_exist(tmp_path):
  _error(tmp_path, r"events.csv line 1: no column 'user_id' \(--user-col\)",
         keys=dict(KEYS, user_col='user_id'), users=False)


def test_multi_valued_with_the_pipe_in_a_value(tmp_path):
  # genres split by ';' but one value holds '|': it cannot be written.
  _error(tmp_path, r"items.csv line 4, column 'genres': a value holds '\|'",
         items=ITEMS.replace('Comedy; Drama', 'Comedy; Dr|ama'))

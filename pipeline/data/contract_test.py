"""Tests for pipeline/data/contract.py (columns, atomic writing)."""
import csv
import json
import os

import pytest

from pipeline import errors
from pipeline.data import contract

E = contract.Event


@pytest.mark.parametrize('full, expected', [
    ('Toy Story (1995)', ('Toy Story', '1995')),
    ('Scream of Stone (Schrei aus Stein) (1991)',
     ('Scream of Stone (Schrei aus Stein)', '1991')),
    ('Land Before Time III: The Time (1995) (V)',
     ('Land Before Time III: The Time (V)', '1995')),
    ('unknown', ('unknown', '')),
    ('  Heat (1995)  ', ('Heat', '1995')),
    ('1984 (1984)', ('1984', '1984')),
    ('Se7en', ('Se7en', '')),
])
def test_split_title_year(full, expected):
  assert contract.split_title_year(full) == expected


# -------------------------------------------------------------- writing

ITEMS = [{'item_id': '2', 'title': 'B, the "sequel"', 'year': '', 'genres': ''},
         {'item_id': '1', 'title': 'A', 'year': '1995',
          'genres': 'Action|Drama'}]
USERS = {'7': {'age': '24', 'gender': 'M', 'occupation': 'writer',
               'zip_prefix': '857'}}
EVENTS = [E('7', '1', 100), E('7', '2', 200), E('7', '1', 300)]


def _write(out, **kwargs):
  args = dict(name='toy', schemas_name='movielens-100k', items=ITEMS,
              users=USERS, events=EVENTS, eval_fraction=0.34)
  args.update(kwargs)
  return contract.write_dataset(str(out), **args)


def _read(path):
  with open(path, encoding='utf-8', newline='') as f:
    return list(csv.reader(f))


def test_write_dataset_writes_the_contract_files(tmp_path):
  out = tmp_path / 'ds'
  info = _write(out)
  assert info == {'name': 'toy', 'schemas': 'movielens-100k', 'num_items': 2,
                  'num_users': 1, 'num_train_events': 2, 'num_eval_events': 1,
                  'split': 'temporal', 'eval_fraction': 0.34,
                  'history_length': 50}
  assert json.loads((out / 'dataset.json').read_text()) == info
  items = _read(out / contract.ITEMS_CSV)
  assert items == [['item_id', 'title', 'year', 'genres'],
                   ['1', 'A', '1995', 'Action|Drama'],
                   ['2', 'B, the "sequel"', '', '']]
  header = ['user_id', 'item_id', 'timestamp', 'age', 'gender', 'occupation',
            'zip_prefix', 'history']
  assert _read(out / contract.TRAIN_CSV) == [
      header, ['7', '1', '100', '24', 'M', 'writer', '857', ''],
      ['7', '2', '200', '24', 'M', 'writer', '857', '1']]
  assert _read(out / contract.EVAL_CSV) == [
      header, ['7', '1', '300', '24', 'M', 'writer', '857', '2|1']]
  assert sorted(os.listdir(tmp_path)) == ['ds']  # no temp folder left


def test_write_dataset_refuses_a_non_empty_out_unless_forced(tmp_path):
  out = tmp_path / 'ds'
  _write(out)
  (out / 'items' / 'stale.csv').write_text('from an earlier version')
  with pytest.raises(errors.UserError, match='not empty.*--force'):
    _write(out)
  _write(out, force=True)  # sslrec wrote it (its marker): replaced
  assert sorted(os.listdir(out)) == [contract.MARKER, 'dataset.json',
                                     'interactions', 'items']
  assert os.listdir(out / 'items') == ['items.csv']
  assert sorted(os.listdir(tmp_path)) == ['ds']


def test_force_never_deletes_a_folder_sslrec_did_not_write(tmp_path):
  out = tmp_path / 'ds'
  out.mkdir()
  (out / 'keep.txt').write_text('mine')
  (out / contract.DATASET_JSON).write_text('{}')
  with pytest.raises(errors.UserError, match='holds files sslrec did not '
                     'write'):
    _write(out, force=True)
  assert sorted(os.listdir(out)) == ['dataset.json', 'keep.txt']


@pytest.mark.parametrize('name', ['../../etc/x', '/etc/x', 'a/b', '..', '.',
                                  '', 'a\\b'])
def test_a_dataset_name_is_a_name(name):
  with pytest.raises(errors.UserError, match='a dataset name is a plain'):
    contract.check_name(name)
  assert contract.check_name('ml-1m.v2') == 'ml-1m.v2'


def test_out_may_not_be_contain_or_sit_inside_the_source(tmp_path):
  source = tmp_path / 'src'
  (source / 'sub').mkdir(parents=True)
  for out in (source, source / 'sub', source / 'new', tmp_path):
    with pytest.raises(errors.UserError, match='is, contains or sits inside '
                       'the source'):
      contract.check_out_dir(str(out), True, sources=[str(source)])
  contract.check_out_dir(str(tmp_path / 'other'), False, sources=[str(source)])


def test_write_dataset_accepts_an_empty_out(tmp_path):
  (tmp_path / 'ds').mkdir()
  _write(tmp_path / 'ds')
  assert (tmp_path / 'ds' / 'dataset.json').exists()


def test_write_dataset_names_the_event_origin_and_leaves_nothing(tmp_path):
  out = tmp_path / 'ds'
  _write(out)
  before = sorted(os.listdir(out))
  events = EVENTS + [E('8', '1', 400, origin='u.data line 4')]
  with pytest.raises(ValueError, match="u.data line 4: user_id '8'"):
    _write(out, events=events, force=True)
  assert sorted(os.listdir(out)) == before  # the old folder is untouched
  assert sorted(os.listdir(tmp_path)) == ['ds']


def test_write_dataset_rejects_unknown_item_and_wrong_columns(tmp_path):
  with pytest.raises(ValueError, match="item_id '9' has no item row"):
    _write(tmp_path / 'a', events=EVENTS + [E('7', '9', 400)])
  bad_items = [dict(ITEMS[0], rating='5')]
  with pytest.raises(ValueError, match='item row has columns'):
    _write(tmp_path / 'b', items=bad_items, events=[E('7', '2', 1),
                                                    E('7', '2', 2)])
  with pytest.raises(ValueError, match='duplicate item_id'):
    _write(tmp_path / 'c', items=ITEMS + ITEMS[:1])
  assert not os.listdir(tmp_path)


def test_events_carry_their_own_query_columns(tmp_path):
  files = {
      'items.pbtxt': 'feature { name: "item_id" type: BYTES annotation { tag: '
                     '"sslrec:id" } }\n',
      'interactions.pbtxt': ''.join(
          f'feature {{ name: "{n}" type: {t}{tag} }}\n' for n, t, tag in (
              ('user_id', 'BYTES', ' annotation { tag: "sslrec:id" }'),
              ('item_id', 'BYTES', ''), ('timestamp', 'INT', ''),
              ('device', 'BYTES', ' annotation { tag: "sslrec:categorical" }'),
              ('age', 'FLOAT', ' annotation { tag: "sslrec:numeric" }'),
              ('history', 'BYTES', ' annotation { tag: "sslrec:history" }')))}
  events = [E('7', '1', 100, extra=('web',)), E('7', '2', 200, extra=('tv',)),
            E('7', '1', 300, extra=('web',))]
  out = tmp_path / 'ds'
  contract.write_dataset(str(out), name='toy', schema_files=files,
                         items=[{'item_id': '1'}, {'item_id': '2'}],
                         users={'7': {'age': '24'}}, events=events,
                         eval_fraction=0.34, event_columns=['device'])
  assert _read(out / contract.TRAIN_CSV) == [
      ['user_id', 'item_id', 'timestamp', 'device', 'age', 'history'],
      ['7', '1', '100', 'web', '24', ''], ['7', '2', '200', 'tv', '24', '1']]
  assert _read(out / contract.EVAL_CSV)[1] == ['7', '1', '300', 'web', '24',
                                               '2|1']
  # An event without its declared cell is an error, and nothing is written.
  with pytest.raises(ValueError, match='interaction row has columns'):
    contract.write_dataset(str(tmp_path / 'bad'), name='toy',
                           schema_files=files, items=[{'item_id': '1'}],
                           users={'7': {'age': '24'}},
                           events=[E('7', '1', 1), E('7', '1', 2)],
                           eval_fraction=0.5, event_columns=['device'])
  assert not (tmp_path / 'bad').exists()

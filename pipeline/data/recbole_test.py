"""Tests for pipeline/data/recbole.py on hand-made atomic folders and zips."""
import csv
import glob
import json
import os
import zipfile

import pytest

from models import features
from pipeline import config as config_lib
from pipeline.data import contract
from pipeline.data import recbole

TOY = {
    'toy.inter': ('user_id:token\titem_id:token\trating:float\t'
                  'timestamp:float\n'
                  'u1\ti1\t5\t100\n'
                  'u1\ti2\t3\t200\n'
                  'u2\ti1\t4\t150\n'
                  'u1\ti3\t1\t300\n'
                  'u2\ti3\t2\t250\n'
                  'u2\ti2\t5\t400\n'
                  'u3\ti1\t1\t50\n'),
    'toy.item': ('item_id:token\ttitle:token_seq\tgenre:token_seq\t'
                 'year:token\tprice:float\temb:float_seq\n'
                 'i1\tToy Story Returns\tAnimation Comedy\t1995\t9.5\t0.1 0.2\n'
                 'i2\tHeat\tComedy Drama\t1995\t\t\n'
                 'i3\tBig Night Out\tComedy\t1996\t12\t0.3 0.4\n'
                 'i4\tCold Fever\tDrama Comedy\t1994\t3\t0 1\n'),
    'toy.user': ('user_id:token\tage:float\tcity:token\n'
                 'u1\t24\tparis\n'
                 'u2\t\tlyon\n'
                 'u3\t50\tparis\n'),
    'toy.link': ('item_id:token\tentity_id:token\n'
                 'i1\tm.1\n'
                 'i2\tm.2\n'
                 'i3\tm.3\n'),
    'toy.kg': ('head_id:token\trelation_id:token\ttail_id:token\n'
               'm.1\tfilm.film.actor\ta.x\n'
               'm.1\tfilm.film.actor\ta.y\n'
               'm.2\tfilm.film.actor\ta.x\n'
               'm.2\tfilm.film.genre\tg.1\n'
               'a.x\tfilm.actor.film\tm.1\n'),
}
CSVS = (contract.ITEMS_CSV, contract.TRAIN_CSV, contract.EVAL_CSV)


def write_folder(folder, files=None, drop=()):
  os.makedirs(folder, exist_ok=True)
  for name, text in (files or TOY).items():
    if name not in drop:
      with open(os.path.join(folder, name), 'w', encoding='utf-8') as f:
        f.write(text)
  return str(folder)


def _zip(path, files=None):
  with zipfile.ZipFile(path, 'w') as z:
    for name, text in (files or TOY).items():
      z.writestr(f'pkg/dataset_example/toy/{name}', text.encode('utf-8'))
  return str(path)


def _rows(path):
  with open(path, encoding='utf-8', newline='') as f:
    return list(csv.DictReader(f))


def _changed(name, old, new):
  files = dict(TOY)
  assert old in files[name]
  files[name] = files[name].replace(old, new)
  return files


def test_writes_the_contract_and_a_schema_folder_that_run_finds(tmp_path):
  out = tmp_path / 'out'
  info = recbole.build(str(out), write_folder(tmp_path / 'toy'), 'toy',
                       eval_fraction=0.3, history_length=2)
  assert json.loads((out / contract.DATASET_JSON).read_text()) == {
      'name': 'toy', 'schemas': 'schema', 'num_items': 4, 'num_users': 3,
      'num_train_events': 5, 'num_eval_events': 2, 'split': 'temporal',
      'eval_fraction': 0.3, 'history_length': 2, 'format': 'recbole'}
  assert info['source'] == str(tmp_path / 'toy')
  assert [list(r.values()) for r in _rows(out / contract.ITEMS_CSV)] == [
      ['i1', 'Toy Story Returns', 'Animation|Comedy', '1995', '9.5', '0.1 0.2'],
      ['i2', 'Heat', 'Comedy|Drama', '1995', '', ''],
      ['i3', 'Big Night Out', 'Comedy', '1996', '12', '0.3 0.4'],
      ['i4', 'Cold Fever', 'Drama|Comedy', '1994', '3', '0 1']]
  # rating is dropped; eval = the last round(0.3 * 7) = 2 events by time.
  assert [list(r.values()) for r in _rows(out / contract.EVAL_CSV)] == [
      ['u1', 'i3', '300', '24', 'paris', 'i2|i1'],
      ['u2', 'i2', '400', '', 'lyon', 'i3|i1']]
  assert len(_rows(out / contract.TRAIN_CSV)) == 5
  # `sslrec run --data out` finds the generated folder through dataset.json.
  schema_dir = config_lib.RunConfig(data=str(out)).schema_name()
  assert schema_dir == os.path.join(str(out), 'schema')
  config = features.load_feature_config(schema_dir)
  assert [(f.name, f.kind, f.dtype) for f in config.item_features] == [
      ('item_id', 'id', 'string'), ('title', 'text', 'string'),
      ('genre', 'multi_valued', 'string'), ('year', 'categorical', 'string'),
      ('price', 'numeric', 'float')]  # emb (float_seq) is declared ignore
  assert [c for c, _ in config.item_columns][-1] == 'emb'
  assert [(f.name, f.kind, f.dtype) for f in config.query_features] == [
      ('user_id', 'id', 'string'), ('age', 'numeric', 'float'),
      ('city', 'categorical', 'string'), ('history', 'history', 'string')]
  items_schema = (out / 'schema' / 'items.pbtxt').read_text()
  # price has an empty cell: optional; title never: required.
  assert 'name: "price"\n  type: FLOAT\n  value_count { max: 1 }' in items_schema
  assert 'name: "title"\n  type: BYTES\n  presence' in items_schema


def test_a_zip_gives_the_same_files_as_a_folder(tmp_path):
  recbole.build(str(tmp_path / 'a'), write_folder(tmp_path / 'toy'), 'toy')
  recbole.build(str(tmp_path / 'b'), _zip(tmp_path / 'toy.zip'), 'toy')
  for name in CSVS + (contract.DATASET_JSON,):
    assert ((tmp_path / 'a' / name).read_bytes()
            == (tmp_path / 'b' / name).read_bytes()), name


def test_kg_columns_and_overrides(tmp_path):
  out = tmp_path / 'out'
  info = recbole.build(str(out), write_folder(tmp_path / 'toy'), 'toy',
                       kg=True, max_kg_values=1, text_fields=['genre'],
                       multi_valued_fields=['title'])
  assert info['kg_relations'] == {'kg_actor': 'film.film.actor',
                                  'kg_genre': 'film.film.genre'}
  assert info['kg_max_values'] == 1
  items = _rows(out / contract.ITEMS_CSV)
  assert [(r['item_id'], r['title'], r['genre'], r['kg_actor'], r['kg_genre'])
          for r in items] == [
              ('i1', 'Toy|Story|Returns', 'Animation Comedy', 'a.x', ''),
              ('i2', 'Heat', 'Comedy Drama', 'a.x', 'g.1'),
              ('i3', 'Big|Night|Out', 'Comedy', '', ''),
              ('i4', 'Cold|Fever', 'Drama Comedy', '', '')]
  config = features.load_feature_config(str(out / 'schema'))
  kinds = {f.name: f.kind for f in config.item_features}
  assert (kinds['title'], kinds['genre'], kinds['kg_actor']) == (
      'multi_valued', 'text', 'multi_valued')


def test_leave_last_out(tmp_path):
  info = recbole.build(str(tmp_path / 'out'), write_folder(tmp_path / 'toy'),
                       'toy', split='leave-last-out')
  assert (info['split'], info['min_user_events']) == ('leave-last-out', 3)
  assert 'eval_fraction' not in info
  evaluation = _rows(tmp_path / 'out' / contract.EVAL_CSV)
  # u1 and u2 have 3 events each; u3 only 1, so all of it stays in train.
  assert [(r['user_id'], r['item_id'], r['history']) for r in evaluation] == [
      ('u1', 'i3', 'i2|i1'), ('u2', 'i2', 'i3|i1')]


def test_without_a_user_file_users_have_no_features(tmp_path):
  out = tmp_path / 'out'
  recbole.build(str(out), write_folder(tmp_path / 'toy', drop=['toy.user']),
                'toy')
  assert list(_rows(out / contract.EVAL_CSV)[0]) == [
      'user_id', 'item_id', 'timestamp', 'history']


@pytest.mark.parametrize('files, kwargs, message', [
    (_changed('toy.inter', 'timestamp:float', 'time:float'), {},
     r"toy\.inter: header lacks columns \['timestamp'\] \(line 1"),
    (_changed('toy.item', 'price:float', 'price:money'), {},
     r"toy\.item line 1: field 'price' has unknown type 'money'"),
    (_changed('toy.inter', 'u2\ti2\t5\t400', 'u2\ti9\t5\t400'), {},
     r"toy\.inter line 7: item_id 'i9' has no item row"),
    (_changed('toy.inter', 'u3\ti1\t1\t50', 'u4\ti1\t1\t50'), {},
     r"toy\.inter line 8: user_id 'u4' has no user row"),
    (_changed('toy.inter', '\t400', '\tlater'), {},
     r"toy\.inter line 7: field 'timestamp' \(float\) has 'later', not a "
     'number'),
    (_changed('toy.link', 'i3\tm.3', 'i7\tm.3'), {'kg': True},
     r"toy\.link line 4: field item_id 'i7' is not in .*toy\.item"),
    (_changed('toy.item', 'i4\tCold', 'i1\tCold'), {},
     r"toy\.item line 5: field item_id 'i1' appears twice \(first at "
     r'.*toy\.item line 2\)'),
    (_changed('toy.item', 'Comedy Drama', 'Comedy|Drama'),
     {'multi_valued_fields': ['genre']},
     r"toy\.item line 3: field 'genre' has a value holding '\|'"),
    (_changed('toy.user', 'city:token', 'history:token'), {},
     r"toy\.user line 1: field 'history' clashes"),
    (TOY, {'text_fields': ['year']},
     r"--text year: not a token_seq field .* \['genre', 'title'\]"),
    (TOY, {'text_fields': ['genre'], 'multi_valued_fields': ['genre']},
     'both --text and --multi-valued'),
])
def test_errors_name_file_line_and_field(tmp_path, files, kwargs, message):
  source = write_folder(tmp_path / 'toy', files)
  with pytest.raises(ValueError, match=message):
    recbole.build(str(tmp_path / 'out'), source, 'toy', **kwargs)
  assert not (tmp_path / 'out').exists()


def test_kg_needs_both_files(tmp_path):
  source = write_folder(tmp_path / 'toy', drop=['toy.link'])
  with pytest.raises(FileNotFoundError, match=r'toy\.link not found: --kg '
                     r'needs toy\.kg and toy\.link'):
    recbole.build(str(tmp_path / 'out'), source, 'toy', kg=True)
  # Without --kg the KG files are not read.
  recbole.build(str(tmp_path / 'out'), source, 'toy')


_CACHED = sorted(glob.glob(os.path.join(
    os.path.dirname(__file__), '..', '..', 'cache', 'recbole-1.2.1-*.whl')))


@pytest.mark.skipif(not _CACHED, reason='no cached RecBole wheel in ./cache')
def test_ml_100k_from_the_cached_wheel(tmp_path):
  info = recbole.build(str(tmp_path / 'ml'), _CACHED[0], 'ml-100k', kg=True)
  assert (info['num_items'], info['num_users']) == (1682, 943)
  assert (info['num_train_events'], info['num_eval_events']) == (90000, 10000)
  relations = info['kg_relations'].values()
  assert len(relations) == 15
  assert all(r.startswith('film.film.') for r in relations)
  config = features.load_feature_config(str(tmp_path / 'ml' / 'schema'))
  kinds = {f.name: f.kind for f in config.item_features}
  assert (kinds['movie_title'], kinds['class']) == ('text', 'multi_valued')

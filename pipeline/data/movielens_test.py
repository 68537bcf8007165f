"""Tests for pipeline/data/movielens.py on tiny hand-made sources of each kind.

The two fixtures below hold the same 6 movies, 3 users and 9 ratings, written
the way each distribution writes them (the RecBole lines are copied from the
wheel; the GroupLens lines follow the ml-100k README).
"""
import csv
import glob
import json
import os
import subprocess
import zipfile

import pytest

from pipeline.data import contract
from pipeline.data import movielens

GENRES = ['unknown', 'Action', 'Adventure', 'Animation', "Children's",
          'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy', 'Film-Noir',
          'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller',
          'War', 'Western']


def _flags(*names):
  return '|'.join('1' if g in names else '0' for g in GENRES)


CHILDRENS = "Children's"

GROUPLENS = {
    'u.genre': ''.join(f'{g}|{i}\n' for i, g in enumerate(GENRES)) + '\n',
    'u.item': (
        '1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?'
        f'Toy%20Story%20(1995)|{_flags("Animation", CHILDRENS, "Comedy")}\n'
        '12|Usual Suspects, The (1995)|14-Aug-1995||http://x|'
        f'{_flags("Crime", "Thriller")}\n'
        f'267|unknown||||{_flags("unknown")}\n'
        '543|Mis\xe9rables, Les (1995)|01-Jan-1995||http://x|'
        f'{_flags("Drama", "Musical")}\n'
        '1412|Land Before Time III: The Time of the Great Giving (1995) (V)|'
        f'01-Jan-1995||http://x|{_flags("Animation", CHILDRENS)}\n'
        '1633|\xc1 k\xf6ldum klaka (Cold Fever) (1994)|08-Mar-1996||http://x|'
        f'{_flags("Comedy", "Drama")}\n'),
    'u.user': ('1|24|M|technician|85711\n'
               '74|39|M|scientist|T8H1N\n'
               '2|53|F|other|94043\n'),
    'u.data': ('1\t1\t5\t874965758\n'
               '74\t12\t3\t881250949\n'
               '2\t267\t1\t874965758\n'
               '1\t543\t4\t874965758\n'
               '1\t1412\t2\t875071561\n'
               '2\t1633\t3\t888550871\n'
               '74\t1\t4\t888550871\n'
               '2\t12\t5\t889000000\n'
               '1\t1633\t1\t889000001\n'),
}

RECBOLE = {
    'ml-100k.item': (
        'item_id:token\tmovie_title:token_seq\trelease_year:token\t'
        'class:token_seq\n'
        "1\tToy Story\t1995\tAnimation Children's Comedy\n"
        '12\tUsual Suspects, The\t1995\tCrime Thriller\n'
        '267\tunkonwn\tunkonwn\tunknown\n'
        '543\tMis\xe9rables, Les\t1995\tDrama Musical\n'
        '1412\tLand Before Time III: The Time of the Great Giving (1995)\tV\t'
        "Animation Children's\n"
        '1633\t\xc1 k\xf6ldum klaka (Cold Fever)\t1994\tComedy Drama\n'),
    'ml-100k.user': (
        'user_id:token\tage:token\tgender:token\toccupation:token\t'
        'zip_code:token\n'
        '1\t24\tM\ttechnician\t85711\n'
        '2\t53\tF\tother\t94043\n'
        '74\t39\tM\tscientist\tT8H1N\n'),
    'ml-100k.inter': (
        'user_id:token\titem_id:token\trating:float\ttimestamp:float\n'
        '74\t12\t3\t881250949\n'
        '1\t1\t5\t874965758\n'
        '1\t543\t4\t874965758\n'
        '2\t267\t1\t874965758\n'
        '1\t1412\t2\t875071561\n'
        '2\t1633\t3\t888550871\n'
        '74\t1\t4\t888550871\n'
        '2\t12\t5\t889000000\n'
        '1\t1633\t1\t889000001\n'),
}


def write_grouplens(folder, files=None):
  """Writes the GroupLens fixture (or `files`) to `folder`; returns it."""
  os.makedirs(folder, exist_ok=True)
  for name, text in (files or GROUPLENS).items():
    with open(os.path.join(folder, name), 'w', encoding='latin-1') as f:
      f.write(text)
  return str(folder)


def _wheel(cache, files=None):
  os.makedirs(cache, exist_ok=True)
  path = os.path.join(cache, 'recbole-1.2.1-py3-none-any.whl')
  with zipfile.ZipFile(path, 'w') as z:
    z.writestr('recbole/__init__.py', '')
    for name, text in (files or RECBOLE).items():
      z.writestr(movielens.RECBOLE_DIR + name, text.encode('utf-8'))
  return path


def _never_run(*args, **kwargs):
  raise AssertionError(f'pip must not run when the wheel is cached: {args}')


def _files(out):
  names = [contract.ITEMS_CSV, contract.TRAIN_CSV, contract.EVAL_CSV,
           contract.DATASET_JSON]
  return {n: open(os.path.join(out, n), 'rb').read() for n in names}


def _rows(path):
  with open(path, encoding='utf-8', newline='') as f:
    return list(csv.DictReader(f))


@pytest.fixture(name='both')
def _both(tmp_path):
  """Builds the dataset from each fixture; returns the two output folders."""
  a = tmp_path / 'from_grouplens'
  b = tmp_path / 'from_recbole'
  info_a = movielens.build(str(a), source=write_grouplens(tmp_path / 'ml-100k'),
                           eval_fraction=0.3, history_length=2)
  _wheel(tmp_path / 'cache')
  info_b = movielens.build(str(b), cache_dir=str(tmp_path / 'cache'),
                           eval_fraction=0.3, history_length=2)
  assert info_a['source'].endswith('ml-100k')
  assert info_b['source'].endswith('.whl')
  return a, b


def test_both_sources_give_byte_identical_files(both):
  a, b = both
  assert _files(a) == _files(b)


def test_items_have_title_year_and_sorted_genres(both):
  items = _rows(both[0] / contract.ITEMS_CSV)
  got = [(r['item_id'], r['title'], r['year'], r['genres']) for r in items]
  assert got == [
      ('1', 'Toy Story', '1995', "Animation|Children's|Comedy"),
      ('12', 'Usual Suspects, The', '1995', 'Crime|Thriller'),
      ('267', 'unknown', '', 'unknown'),
      ('543', 'Misérables, Les', '1995', 'Drama|Musical'),
      ('1412', 'Land Before Time III: The Time of the Great Giving (V)',
       '1995', "Animation|Children's"),
      ('1633', 'Á köldum klaka (Cold Fever)', '1994', 'Comedy|Drama')]


def test_interactions_split_by_time_with_history(both):
  train = _rows(both[0] / contract.TRAIN_CSV)
  evaluation = _rows(both[0] / contract.EVAL_CSV)
  # 9 events, eval = last round(2.7) = 3; ties at 874965758 by user then item.
  assert [(r['user_id'], r['item_id'], r['history']) for r in train] == [
      ('1', '1', ''), ('1', '543', '1'), ('2', '267', ''),
      ('1', '1412', '543|1'), ('74', '12', ''), ('2', '1633', '267')]
  assert [(r['user_id'], r['item_id'], r['history']) for r in evaluation] == [
      ('74', '1', '12'), ('2', '12', '1633|267'), ('1', '1633', '1412|543')]
  assert evaluation[0] == {
      'user_id': '74', 'item_id': '1', 'timestamp': '888550871', 'age': '39',
      'gender': 'M', 'occupation': 'scientist', 'zip_prefix': 'T8H',
      'history': '12'}


def test_dataset_json(both):
  info = json.loads(
      (both[1] / contract.DATASET_JSON).read_text())
  assert info == {'name': 'movielens-100k', 'schemas': 'movielens-100k',
                  'num_items': 6, 'num_users': 3, 'num_train_events': 6,
                  'num_eval_events': 3, 'split': 'temporal', 'eval_fraction': 0.3,
                  'history_length': 2}


def test_headers_match_the_bundled_schema(both):
  import schemas  # pylint: disable=g-import-not-at-top
  from models import features  # pylint: disable=g-import-not-at-top
  config = features.load_feature_config(schemas.resolve('movielens-100k'))
  with open(both[0] / contract.ITEMS_CSV, encoding='utf-8') as f:
    assert f.readline().strip().split(',') == [c for c, _ in
                                               config.item_columns]
  with open(both[0] / contract.EVAL_CSV, encoding='utf-8') as f:
    assert f.readline().strip().split(',') == [
        c for c, _ in config.interaction_columns]


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize('name, line, bad, message', [
    ('u.data', 3, '2\t267\t1\n', r'u\.data line 3: expected 4'),
    ('u.data', 2, '74\t12\t3\tyesterday\n', r'u\.data line 2: timestamp'),
    ('u.data', 9, '1\t1633\t1\t889000001\n9\t1\t1\t1\n',
     r"u\.data line 10: user_id '9' has no user row"),
    ('u.data', 1, '1\t99\t5\t874965758\n',
     r"u\.data line 1: item_id '99' has no item row"),
    ('u.item', 3, '267|unknown||||1|0\n', r'u\.item line 3: expected 24'),
    ('u.user', 2, '74|old|M|scientist|T8H1N\n', r"u\.user line 2: age 'old'"),
    ('u.user', 3, '1|53|F|other|94043\n', r"u\.user line 3: user_id '1' "
     'appears twice'),
])
def test_grouplens_errors_name_file_and_line(tmp_path, name, line, bad,
                                             message):
  files = dict(GROUPLENS)
  lines = files[name].splitlines(keepends=True)
  lines[line - 1] = bad
  files[name] = ''.join(lines)
  source = write_grouplens(tmp_path / 'ml-100k', files)
  with pytest.raises(ValueError, match=message):
    movielens.build(str(tmp_path / 'out'), source=source)
  assert not (tmp_path / 'out').exists()


def test_grouplens_missing_file(tmp_path):
  files = {k: v for k, v in GROUPLENS.items() if k != 'u.user'}
  with pytest.raises(FileNotFoundError, match=r'u\.user not found'):
    movielens.build(str(tmp_path / 'out'),
                    source=write_grouplens(tmp_path / 'ml', files))
  with pytest.raises(FileNotFoundError, match='not a folder'):
    movielens.build(str(tmp_path / 'out'), source=str(tmp_path / 'nowhere'))


def test_recbole_errors_name_member_and_line(tmp_path):
  files = dict(RECBOLE)
  files['ml-100k.inter'] = files['ml-100k.inter'].replace(
      'timestamp:float', 'time:float')
  _wheel(tmp_path / 'cache', files)
  with pytest.raises(ValueError, match=r"ml-100k\.inter: header lacks "
                     r"columns \['timestamp'\]"):
    movielens.build(str(tmp_path / 'out'), cache_dir=str(tmp_path / 'cache'))
  files['ml-100k.inter'] = RECBOLE['ml-100k.inter'] + '1\t12\t5\n'
  _wheel(tmp_path / 'cache', files)
  with pytest.raises(ValueError, match=r'ml-100k\.inter line 11: expected 4'):
    movielens.build(str(tmp_path / 'out'), cache_dir=str(tmp_path / 'cache'))


def test_recbole_wheel_needs_the_movielens_fields(tmp_path):
  files = dict(RECBOLE)
  files['ml-100k.item'] = files['ml-100k.item'].replace('class:', 'genre:')
  _wheel(tmp_path / 'cache', files)
  with pytest.raises(ValueError, match=r"ml-100k\.item: header lacks columns "
                     r"\['class'\]"):
    movielens.build(str(tmp_path / 'out'), cache_dir=str(tmp_path / 'cache'))
  files = {k: v for k, v in RECBOLE.items() if k != 'ml-100k.user'}
  _wheel(tmp_path / 'cache', files)
  with pytest.raises(FileNotFoundError, match=r'ml-100k\.user not found'):
    movielens.build(str(tmp_path / 'out'), cache_dir=str(tmp_path / 'cache'))


def test_refuses_non_empty_out_before_reading(tmp_path):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'x').write_text('x')
  with pytest.raises(ValueError, match='--force'):
    movielens.build(str(out), source=str(tmp_path / 'nowhere'))


def test_fetch_runs_pip_download_into_the_cache(tmp_path):
  calls = []

  def fake_pip(command, **kwargs):  # stands in for the network download
    calls.append(command)
    _wheel(command[command.index('-d') + 1])
    return subprocess.CompletedProcess(command, 0, '', '')

  wheel = movielens.fetch_recbole_wheel(str(tmp_path / 'c'), run=fake_pip)
  assert calls and calls[0][1:] == ['-m', 'pip', 'download', '--no-deps',
                                    'recbole==1.2.1', '-d', str(tmp_path / 'c')]
  assert wheel == str(tmp_path / 'c' / 'recbole-1.2.1-py3-none-any.whl')
  # Cached now: a second call does not run pip.
  assert movielens.fetch_recbole_wheel(str(tmp_path / 'c'),
                                       run=_never_run) == wheel


def test_fetch_failure_explains(tmp_path):
  def failing_pip(command, **kwargs):
    return subprocess.CompletedProcess(command, 1, '', 'No matching '
                                       'distribution found')

  with pytest.raises(ValueError,
                     match='(?s)No matching distribution.*--source'):
    movielens.fetch_recbole_wheel(str(tmp_path / 'c'), run=failing_pip)


_CACHED = sorted(glob.glob(os.path.join(
    os.path.dirname(__file__), '..', '..', 'cache', 'recbole-1.2.1-*.whl')))


@pytest.mark.skipif(not _CACHED, reason='no cached RecBole wheel in ./cache')
def test_full_movielens_100k_from_the_cached_wheel(tmp_path):
  info = movielens.build(str(tmp_path / 'ml'),
                         cache_dir=os.path.dirname(_CACHED[0]))
  assert (info['num_items'], info['num_users']) == (1682, 943)
  assert (info['num_train_events'], info['num_eval_events']) == (90000, 10000)


# --------------------------------------------------------------------- KG

KG_RELATIONS = ('actor', 'award_nomination', 'award_won', 'cinematography',
                'country', 'directed_by', 'genre', 'language', 'prequel',
                'produced_by', 'production_companies', 'rating', 'sequel',
                'subjects', 'written_by')


def _kg_files():
  """RECBOLE plus a .link of 5 of the 6 movies and a .kg with every relation."""
  link = ('item_id:token\tentity_id:token\n'
          + ''.join(f'{i}\tm.{i}\n' for i in (1, 12, 267, 543, 1412)))
  triples = [f'm.1\tfilm.film.{r}\tt.{r}' for r in KG_RELATIONS]
  triples += ['m.1\tfilm.film.actor\tp.b', 'm.12\tfilm.film.actor\tp.b',
              'm.12\tfilm.film.actor\tp.a', 'm.543\tfilm.film.actor\tp.b',
              'p.b\tfilm.actor.film\tm.12',        # reverse: dropped
              'm.12\tfilm.film.language\tl.en']
  files = dict(RECBOLE)
  files['ml-100k.link'] = link
  files['ml-100k.kg'] = ('head_id:token\trelation_id:token\ttail_id:token\n'
                         + '\n'.join(triples) + '\n')
  return files


def test_kg_columns_follow_the_bundled_schema(tmp_path):
  _wheel(tmp_path / 'cache', _kg_files())
  out = tmp_path / 'kg'
  info = movielens.build(str(out), cache_dir=str(tmp_path / 'cache'), kg=True,
                         max_kg_values=2)
  assert (info['name'], info['schemas']) == ('movielens-100k-kg',
                                             'movielens-100k-kg')
  assert info['kg_relations'] == {f'kg_{r}': f'film.film.{r}'
                                  for r in KG_RELATIONS}
  assert info['kg_max_values'] == 2
  import schemas  # pylint: disable=g-import-not-at-top
  from models import features  # pylint: disable=g-import-not-at-top
  config = features.load_feature_config(schemas.resolve('movielens-100k-kg'))
  assert {f.name: f.kind for f in config.item_features} == dict(
      item_id='id', title='text', year='numeric', genres='multi_valued',
      **{f'kg_{r}': 'multi_valued' for r in KG_RELATIONS})
  items = {r['item_id']: r for r in _rows(out / contract.ITEMS_CSV)}
  # p.b is in 3 movies, t.actor and p.a in 1 (ties by id): cap 2.
  assert items['1']['kg_actor'] == 'p.b|t.actor'
  assert items['12']['kg_actor'] == 'p.b|p.a'
  assert items['12']['kg_language'] == 'l.en'
  assert items['543']['kg_actor'] == 'p.b'
  assert {items['267'][f'kg_{r}'] for r in KG_RELATIONS} == {''}  # linked, none
  assert {items['1633'][f'kg_{r}'] for r in KG_RELATIONS} == {''}  # no link
  assert all(items['1'][f'kg_{r}'].endswith(f't.{r}') for r in KG_RELATIONS)
  # The other columns and the events are those of the plain dataset.
  movielens.build(str(tmp_path / 'plain'), cache_dir=str(tmp_path / 'cache'))
  plain = {r['item_id']: r for r in _rows(tmp_path / 'plain' /
                                          contract.ITEMS_CSV)}
  assert all({k: items[i][k] for k in plain[i]} == plain[i] for i in plain)
  for name in (contract.TRAIN_CSV, contract.EVAL_CSV):
    assert ((out / name).read_bytes()
            == (tmp_path / 'plain' / name).read_bytes())


def test_kg_needs_the_wheel(tmp_path):
  with pytest.raises(ValueError, match='--kg reads ml-100k.kg .* drop '
                     '--source'):
    movielens.build(str(tmp_path / 'out'), kg=True,
                    source=write_grouplens(tmp_path / 'ml-100k'))


def test_leave_last_out_from_both_sources_is_byte_identical(tmp_path):
  a, b = tmp_path / 'a', tmp_path / 'b'
  movielens.build(str(a), source=write_grouplens(tmp_path / 'ml-100k'),
                  split='leave-last-out')
  _wheel(tmp_path / 'cache')
  movielens.build(str(b), cache_dir=str(tmp_path / 'cache'),
                  split='leave-last-out')
  assert _files(a) == _files(b)
  evaluation = _rows(a / contract.EVAL_CSV)
  # Users 1 and 2 have 4 and 3 ratings: their last goes to eval; user 74 has
  # only 2, which stay in train.
  assert [(r['user_id'], r['item_id'], r['history']) for r in evaluation] == [
      ('2', '12', '1633|267'), ('1', '1633', '1412|543|1')]
  info = json.loads((a / contract.DATASET_JSON).read_text())
  assert (info['split'], info['num_eval_events']) == ('leave-last-out', 2)


@pytest.mark.skipif(not _CACHED, reason='no cached RecBole wheel in ./cache')
def test_full_movielens_100k_kg_from_the_cached_wheel(tmp_path):
  info = movielens.build(str(tmp_path / 'kg'),
                         cache_dir=os.path.dirname(_CACHED[0]), kg=True,
                         split='leave-last-out')
  assert (info['num_items'], info['num_users']) == (1682, 943)
  # Every ML-100K user has >= 20 ratings, so each gives one eval event.
  assert (info['num_train_events'], info['num_eval_events']) == (99057, 943)
  items = _rows(tmp_path / 'kg' / contract.ITEMS_CSV)
  with_actor = [r['kg_actor'].split('|') for r in items if r['kg_actor']]
  assert len(with_actor) > 0.9 * len(items)
  assert max(len(a) for a in with_actor) == info['kg_max_values']

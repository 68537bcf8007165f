"""`sslrec mi` on CSV files from the synthetic generator (real Beam)."""
import csv
import json
import os

import numpy as np
import pytest
from pyarrow import csv as pa_csv
from sklearn import metrics

from components.mutual_information import counting
from pipeline import cli
from pipeline.data import contract
from pipeline.data import synthetic


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
  out = str(tmp_path_factory.mktemp('synthetic') / 'data')
  synthetic.generate(out, num_items=1500, num_users=40, num_events=300,
                     seed=5)
  return out


def _write(path, header, rows):
  with open(path, 'w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return str(path)


def test_ranks_the_correlated_groups_first(dataset, tmp_path, capsys):
  items = os.path.join(dataset, contract.ITEMS_CSV)
  out = str(tmp_path / 'mi.json')
  assert cli.main(['mi', items, '--multi-valued', 'tags', '--numeric',
                   'price', '--out', out]) == 0
  printed = capsys.readouterr().out.splitlines()
  ranked = [line.split()[1:3] for line in printed[2:4]]
  assert sorted(map(sorted, ranked)) == [['category', 'subcategory'],
                                         ['country', 'language']]
  with open(out) as f:
    result = json.load(f)
  names = result['features']
  assert names == ['item_id'] + list(synthetic.ITEM_FEATURES)
  assert result['params']['kinds']['tags'] == 'multi_valued'
  # Each feature of a correlated group has its top partner in the group.
  nmi = np.array(result['normalized_mi'])
  for group in synthetic.CORRELATED_GROUPS:
    for name in group:
      i = names.index(name)
      row = nmi[i].copy()
      row[[0, i]] = -1  # not itself, not the id
      assert names[int(np.argmax(row))] in group
  # Single-valued categorical pairs: sklearn's MI on the CSV columns.
  table = pa_csv.read_csv(items).to_pydict()
  mi = np.array(result['mi'])
  a, b = names.index('country'), names.index('language')
  assert mi[a, b] == pytest.approx(
      metrics.mutual_info_score(table['country'], table['language']),
      rel=1e-9)


def test_schemas_flag_gives_the_same_json(dataset, tmp_path):
  items = os.path.join(dataset, contract.ITEMS_CSV)
  by_flags, by_schema = str(tmp_path / 'a.json'), str(tmp_path / 'b.json')
  assert cli.main(['mi', items, '--multi-valued', 'tags', '--numeric', 'price',
                   '--out', by_flags]) == 0
  assert cli.main(['mi', items, '--schemas', 'synthetic', '--out',
                   by_schema]) == 0
  with open(by_flags) as f, open(by_schema) as g:
    a, b = json.load(f), json.load(g)
  assert a['features'] == b['features']
  np.testing.assert_allclose(a['mi'], b['mi'], rtol=1e-12)


def test_interactions_weighting(dataset, tmp_path):
  items = os.path.join(dataset, contract.ITEMS_CSV)
  train = os.path.join(dataset, contract.TRAIN_CSV)
  out = str(tmp_path / 'log.json')
  assert cli.main(['mi', items, '--schemas', 'synthetic', '--interactions',
                   train, '--top', '3', '--out', out]) == 0
  with open(out) as f:
    result = json.load(f)
  assert result['params']['weighting'] == 'log'
  with open(train) as f:
    num_events = sum(1 for _ in f) - 1
  assert result['params']['total_weight'] == num_events


def test_same_json_as_the_local_computation(tmp_path):
  path = _write(tmp_path / 'items.csv', ['item_id', 'genres', 'year', 'c'],
                [['a', 'x|y', '1990', 'p'], ['b', 'x', '', 'q'],
                 ['c', '', '2001', 'q']])
  out = str(tmp_path / 'mi.json')
  assert cli.main(['mi', path, '--multi-valued', 'genres', '--numeric',
                   'year', '--out', out]) == 0
  with open(out) as f:
    got = json.load(f)
  features = [('item_id', 'id'), ('genres', 'multi_valued'),
              ('year', 'numeric'), ('c', 'categorical')]
  expected = counting.compute_local(list(pa_csv.read_csv(
      path, convert_options=pa_csv.ConvertOptions(
          column_types={n: 'string' for n, _ in features},
          strings_can_be_null=True)).to_batches()), features)
  np.testing.assert_allclose(got['mi'], expected['mi'], rtol=1e-12)
  assert got['num_items'] == 3


@pytest.mark.parametrize('rows,flags,message', [
    ([['a', 'x', 'n/a']], ['--numeric', 'year'],
     "numeric feature 'year' has a non-numeric value"),
    ([], [], 'corpus is empty'),
    ([['a', 'x', '1']], ['--numeric', 'years'],
     "column 'years' (--numeric) is not in the CSV header"),
    ([['a', 'x', '1']], ['--top-k', '0'], 'top_k must be'),
])
def test_errors_name_the_problem(tmp_path, capsys, rows, flags, message):
  path = _write(tmp_path / 'items.csv', ['item_id', 'color', 'year'], rows)
  out = str(tmp_path / 'mi.json')
  assert cli.main(['mi', path, '--out', out] + flags) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err[-1].startswith('sslrec mi: error: ') and message in err[-1]
  assert not [line for line in err if 'while running' in line]
  assert not os.path.exists(out)
  assert os.listdir(tmp_path) == ['items.csv']

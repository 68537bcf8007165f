"""Tests for `sslrec data` (pipeline/commands/data.py) through the real CLI."""
import json
import os

from pipeline import cli
from pipeline.data import contract
from pipeline.data import movielens_test


def test_synthetic_writes_and_reports(tmp_path, capsys):
  out = tmp_path / 'syn'
  code = cli.main(['data', 'synthetic', '--items', '30', '--users', '10',
                   '--events', '200', '--seed', '5', '--out', str(out),
                   '--eval-fraction', '0.2', '--history-length', '3'])
  assert code == 0
  info = json.loads((out / contract.DATASET_JSON).read_text())
  assert (info['num_items'], info['num_train_events'],
          info['num_eval_events'], info['history_length'], info['seed']) == (
              30, 160, 40, 3, 5)
  printed = capsys.readouterr().out
  assert str(out) in printed
  assert f'{contract.TRAIN_CSV}: 160 events' in printed
  assert f'{contract.EVAL_CSV}: 40 events (last 0.2 by time)' in printed


def test_movielens_from_a_grouplens_folder(tmp_path, capsys):
  source = movielens_test.write_grouplens(tmp_path / 'ml-100k')
  out = tmp_path / 'ml'
  assert cli.main(['data', 'movielens-100k', '--source', source,
                   '--out', str(out), '--eval-fraction', '0.3']) == 0
  printed = capsys.readouterr().out
  assert f'read {source}' in printed
  assert f'{contract.ITEMS_CSV}: 6 items' in printed
  assert sorted(os.listdir(out)) == ['dataset.json', 'interactions', 'items']


def test_refusal_and_force(tmp_path, capsys):
  out = tmp_path / 'syn'
  out.mkdir()
  (out / 'mine.txt').write_text('x')
  args = ['data', 'synthetic', '--items', '5', '--users', '3', '--events',
          '20', '--seed', '1', '--out', str(out)]
  assert cli.main(args) == 2
  err = capsys.readouterr().err
  assert 'sslrec data: error:' in err and '--force' in err
  assert os.listdir(out) == ['mine.txt']
  assert cli.main(args + ['--force']) == 0
  assert 'mine.txt' not in os.listdir(out)


def test_bad_source_is_a_clear_error(tmp_path, capsys):
  assert cli.main(['data', 'movielens-100k', '--source',
                   str(tmp_path / 'missing'), '--out',
                   str(tmp_path / 'o')]) == 2
  assert 'is not a folder' in capsys.readouterr().err

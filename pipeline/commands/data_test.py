"""Tests for `sslrec data` (pipeline/commands/data.py) through the real CLI."""
import json
import os

import pytest

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
  assert info['split'] == 'temporal'


def test_movielens_from_a_grouplens_folder(tmp_path, capsys):
  source = movielens_test.write_grouplens(tmp_path / 'ml-100k')
  out = tmp_path / 'ml'
  assert cli.main(['data', 'movielens-100k', '--source', source,
                   '--out', str(out), '--eval-fraction', '0.3']) == 0
  printed = capsys.readouterr().out
  assert f'read {source}' in printed
  assert f'{contract.ITEMS_CSV}: 6 items' in printed
  assert sorted(os.listdir(out)) == [contract.MARKER, 'dataset.json',
                                     'interactions', 'items']


def test_refusal_and_force(tmp_path, capsys):
  out = tmp_path / 'syn'
  out.mkdir()
  (out / 'mine.txt').write_text('x')
  args = ['data', 'synthetic', '--items', '5', '--users', '3', '--events',
          '20', '--seed', '1', '--out', str(out)]
  assert cli.main(args) == 2
  err = capsys.readouterr().err
  assert 'sslrec data: error:' in err and '--force' in err
  assert cli.main(args + ['--force']) == 2  # not a folder sslrec wrote
  assert 'holds files sslrec did not write' in capsys.readouterr().err
  assert os.listdir(out) == ['mine.txt']
  os.remove(out / 'mine.txt')
  assert cli.main(args) == 0
  assert cli.main(args) == 2
  assert cli.main(args + ['--force']) == 0  # sslrec's own folder


@pytest.mark.parametrize('dataset', ['../../etc/x', '/etc/x', 'a/b'])
def test_recbole_dataset_names_stay_inside_their_folders(tmp_path, capsys,
                                                          dataset):
  from pipeline.data import recbole_test  # pylint: disable=g-import-not-at-top
  source = recbole_test.write_folder(tmp_path / 'toy')
  before = sorted(os.listdir(tmp_path))
  assert cli.main(['data', 'recbole', source, '--dataset', dataset]) == 2
  [line] = capsys.readouterr().err.strip().splitlines()
  assert line.startswith(f'sslrec data: error: --dataset {dataset!r}: a '
                         'dataset name is a plain file name')
  assert sorted(os.listdir(tmp_path)) == before


def test_recbole_out_may_not_be_the_source_even_with_force(tmp_path, capsys):
  from pipeline.data import recbole_test  # pylint: disable=g-import-not-at-top
  source = recbole_test.write_folder(tmp_path / 'toy')
  files = sorted(os.listdir(source))
  for out in (source, os.path.join(source, 'data'), str(tmp_path)):
    assert cli.main(['data', 'recbole', source, '--dataset', 'toy', '--out',
                     out, '--force']) == 2
    assert 'is, contains or sits inside the source' in (
        capsys.readouterr().err)
  assert sorted(os.listdir(source)) == files  # the user's files untouched


def test_bad_source_is_a_clear_error(tmp_path, capsys):
  assert cli.main(['data', 'movielens-100k', '--source',
                   str(tmp_path / 'missing'), '--out',
                   str(tmp_path / 'o')]) == 2
  assert 'is not a folder' in capsys.readouterr().err


def test_recbole_writes_the_contract_and_a_schema_folder(tmp_path, capsys):
  from pipeline.data import recbole_test  # pylint: disable=g-import-not-at-top
  source = recbole_test.write_folder(tmp_path / 'toy')
  out = tmp_path / 'toy-out'
  assert cli.main(['data', 'recbole', source, '--dataset', 'toy', '--kg',
                   '--kg-max-values', '1', '--text', 'genre', '--out',
                   str(out), '--split', 'leave-last-out']) == 0
  printed = capsys.readouterr().out
  assert f'read toy from {source}' in printed
  assert (f'{contract.EVAL_CSV}: 2 events (leave-last-out: the last event of '
          'each user with >= 3 events)') in printed
  assert '2 KG columns, at most 1 values each: kg_actor, kg_genre' in printed
  assert sorted(os.listdir(out / 'schema')) == ['interactions.pbtxt',
                                                'items.pbtxt']
  info = json.loads((out / contract.DATASET_JSON).read_text())
  assert (info['schemas'], info['split']) == ('schema', 'leave-last-out')
  assert 'sslrec:text' in (out / 'schema' / 'items.pbtxt').read_text()


def test_recbole_errors_are_one_line(tmp_path, capsys):
  from pipeline.data import recbole_test  # pylint: disable=g-import-not-at-top
  source = recbole_test.write_folder(tmp_path / 'toy')
  assert cli.main(['data', 'recbole', source, '--dataset', 'other',
                   '--out', str(tmp_path / 'o')]) == 2
  assert 'has no other.inter' in capsys.readouterr().err


def test_split_is_recorded_and_checked_on_every_command(tmp_path, capsys):
  out = tmp_path / 'syn'
  args = ['data', 'synthetic', '--items', '20', '--users', '10', '--events',
          '200', '--seed', '1', '--out', str(out)]
  assert cli.main(args + ['--split', 'leave-last-out']) == 0
  info = json.loads((out / contract.DATASET_JSON).read_text())
  assert (info['split'], info['min_user_events']) == ('leave-last-out', 3)
  assert info['num_eval_events'] == info['num_users']  # all have >= 3 events
  capsys.readouterr()
  assert cli.main(args + ['--force', '--split', 'leave-last-out',
                          '--eval-fraction', '0.2']) == 2
  assert 'temporal split only' in capsys.readouterr().err
  source = movielens_test.write_grouplens(tmp_path / 'ml-100k')
  assert cli.main(['data', 'movielens-100k', '--source', source, '--kg',
                   '--out', str(tmp_path / 'k')]) == 2
  assert 'drop --source' in capsys.readouterr().err
  with pytest.raises(SystemExit):  # argparse rejects it, naming the choices
    cli.main(args + ['--split', 'random'])
  assert "invalid choice: 'random'" in capsys.readouterr().err


def test_import_prints_the_tag_table_and_run_needs_no_other_flag(tmp_path,
                                                                  capsys):
  from pipeline import config as config_lib  # pylint: disable=g-import-not-at-top
  from pipeline.data import event_log_test  # pylint: disable=g-import-not-at-top
  events, items, users = event_log_test._files(tmp_path / 'in')  # pylint: disable=protected-access
  out = tmp_path / 'shop'
  argv = ['data', 'import', '--events', events, '--items', items,
          '--users', users, '--user-col', 'uid', '--item-col', 'item',
          '--time-col', 'ts', '--separator', ';', '--out', str(out),
          '--eval-fraction', '0.3', '--tag', 'price=categorical']
  assert cli.main(argv) == 0
  printed = capsys.readouterr().out
  assert f'{contract.ITEMS_CSV}: 4 items' in printed
  lines = printed.splitlines()
  header = next(i for i, l in enumerate(lines) if l.startswith('column'))
  assert [l.split()[:3] for l in lines[header + 1:header + 4]] == [
      ['title', 'items', 'text'], ['genres', 'items', 'multi_valued'],
      ['price', 'items', 'categorical']]
  assert f'sslrec run --data {out}' in printed
  assert config_lib.RunConfig(data=str(out)).schema_name() == str(
      out / contract.GENERATED_SCHEMAS)
  # Again without --force: refused, the first import is kept.
  assert cli.main(argv) == 2
  assert 'exists and is not empty' in capsys.readouterr().err
  assert cli.main(argv[:-2] + ['--force', '--tag', 'price']) == 2
  assert "--tag 'price': expected COLUMN=KIND" in capsys.readouterr().err
  assert (out / contract.ITEMS_CSV).exists()

"""Exit codes of the command line: 2 and one line only for bad input the
project reports on purpose (errors.UserError); anything else is exit 1, with
the traceback in the run log."""
import glob
import os

from pipeline import cli
from pipeline import errors
from pipeline import runner


def test_a_user_error_is_one_line_and_exit_2(tmp_path, capsys):
  assert cli.main(['run', '--data', str(tmp_path / 'none'), '--output',
                   str(tmp_path / 'out')]) == 2
  [line] = capsys.readouterr().err.strip().splitlines()[-1:]
  assert line.startswith('sslrec run: error: ')
  assert 'not a data folder' in line


def test_a_bug_is_exit_1_with_the_traceback_in_the_run_log(
    tmp_path, capsys, monkeypatch):
  def fails(config):  # what models/data.py did with an id like 'Misérables'
    del config
    return 'Misérables'.encode('utf-8').decode('ascii')

  monkeypatch.setattr(runner, 'run', fails)
  output = str(tmp_path / 'out')
  assert cli.main(['run', '--data', str(tmp_path), '--output', output]) == 1
  err = capsys.readouterr().err
  [log] = glob.glob(os.path.join(output, 'logs', 'run-*.log'))
  last = err.strip().splitlines()[-1]
  assert last == ('sslrec run: internal error (exit 1): UnicodeDecodeError: '
                  "'ascii' codec can't decode byte 0xc3 in position 3: "
                  f'ordinal not in range(128) (traceback in {log})')
  assert 'Traceback' not in err
  with open(log, encoding='utf-8') as f:
    text = f.read()
  assert 'Traceback (most recent call last)' in text and 'in fails' in text


def test_a_bug_outside_a_run_prints_its_traceback(capsys, monkeypatch):
  from pipeline.commands import inspect  # pylint: disable=g-import-not-at-top

  def fails(args):
    raise KeyError('no such key')

  monkeypatch.setattr(inspect, 'metadata_source', fails)
  assert cli.main(['inspect', 'runs']) == 1
  err = capsys.readouterr().err
  assert 'Traceback (most recent call last)' in err
  assert err.strip().splitlines()[-1] == (
      "sslrec inspect: internal error (exit 1): KeyError: 'no such key'")


def test_user_errors_are_value_errors():
  assert issubclass(errors.UserError, ValueError)
  assert issubclass(errors.MissingInputError, FileNotFoundError)

"""`sslrec run` flags: one per config key, each saying what it means."""
import argparse
import dataclasses
import os

import pytest

from models.config import RETIRED
from models.config import retired_message
from models.options import Choice
from pipeline import config as config_lib
from pipeline.commands import run as run_command


def _parser():
  parser = argparse.ArgumentParser()
  run_command.add_run_arguments(parser)
  return parser


def _options():
  return {a.option_strings[0]: a for a in _parser()._actions  # pylint: disable=protected-access
          if a.option_strings and a.option_strings[0] != '-h'}


def test_every_flag_says_what_it_means_and_its_default():
  for flag, action in _options().items():
    if flag == '--config' or action.help == argparse.SUPPRESS:
      continue
    text = action.help or ''
    meaning = text.split('(default:')[0].strip()
    assert meaning, f'{flag} has no help'
    assert '(default: ' in text, f'{flag} help names no default'


def test_every_section_key_has_a_flag_and_choices_are_listed():
  options = _options()
  for section, cls in config_lib.sections().items():
    for field in dataclasses.fields(cls):
      flag = '--' + field.name.replace('_', '-')
      assert flag in options, f'{section}.{field.name} has no flag'
      if isinstance(field.default, Choice):
        assert options[flag].choices == type(field.default).values()


def test_feature_width_and_output_width_are_told_apart():
  options = _options()
  assert '--embedding-dim' not in options
  assert 'not the output size' in options['--feature-embedding-dim'].help
  assert 'output' in options['--tower-layers'].help


@pytest.mark.parametrize('argv, key, value', [
    (['--ssl', 'rfm'], 'ssl', 'rfm'),
    (['--index-kind', 'scann'], 'index_kind', 'scann'),
    (['--numeric-buckets', '4'], 'numeric_buckets', 4),
])
def test_flags_land_in_their_section(argv, key, value):
  config = run_command.config_from_args(_parser().parse_args(argv))
  plain = config.to_dict()
  assert value in [plain[s].get(key) for s in config_lib.sections()]


@pytest.mark.parametrize('section,key', [
    (s, k) for s, keys in RETIRED.items() for k in keys])
@pytest.mark.parametrize('value', [[], ['2']])
def test_a_retired_flag_is_an_error_saying_it_was_retired(section, key, value):
  flag = '--' + key.replace('_', '-')
  args = _parser().parse_args([flag] + value)
  with pytest.raises(config_lib.ConfigError) as e:
    run_command.config_from_args(args)
  assert str(e.value) == (f'command line: {flag}: '
                          f'{retired_message(section, key)}')
  assert flag not in (_parser().format_help())


def test_a_bad_choice_is_refused_listing_the_choices(capsys):
  with pytest.raises(SystemExit):
    _parser().parse_args(['--ssl', 'byol'])
  assert "choose from 'none', 'dropout', 'rfm', 'cfm'" in capsys.readouterr().err


def test_each_run_gets_a_new_log_file_and_old_ones_go(tmp_path):
  out = str(tmp_path / 'out')
  paths = [run_command.run_log_path(out, keep=3, now=1_800_000_000)
           for _ in range(2)]
  assert len(set(paths)) == 2  # the same second: still two files
  assert all(os.path.isfile(p) and p.startswith(f'{out}/logs/run-')
             and p.endswith('.log') for p in paths)
  later = [run_command.run_log_path(out, keep=3, now=1_900_000_000 + i)
           for i in range(3)]
  assert sorted(os.listdir(os.path.join(out, 'logs'))) == sorted(
      os.path.basename(p) for p in later)  # the 3 newest kept


def test_a_bad_model_server_path_fails_before_the_run(tmp_path, capsys,
                                                     monkeypatch):
  from pipeline import cli  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv('SSLREC_MODEL_SERVER', str(tmp_path / 'no-such-binary'))
  out = str(tmp_path / 'out')
  assert cli.main(['run', '--data', str(tmp_path), '--output', out]) == 2
  last = capsys.readouterr().err.strip().splitlines()[-1]
  assert last == (f'sslrec run: error: $SSLREC_MODEL_SERVER={tmp_path}/'
                  "no-such-binary: not an executable file (unset it to use "
                  "tensorflow_model_server from PATH, or set it to 'none' to "
                  'validate with TensorFlow only)')
  assert not os.path.exists(os.path.join(out, 'metadata.sqlite'))

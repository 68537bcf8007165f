"""Tests of the run config: YAML file, flags over file, --print-config, errors."""
import json
import os

import pytest
import yaml

from models.config import RETIRED
from models.config import TrainingConfig
from models.config import retired_message
from pipeline import cli
from pipeline import config as config_lib
from pipeline.commands import run as run_command
from pipeline.config import ConfigError, RunConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, 'configs', 'movielens-100k.yaml')


def _write(tmp_path, text, name='run.yaml'):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def _keys(d, prefix=''):
  out = set()
  for key, value in d.items():
    out.add(prefix + key)
    if isinstance(value, dict):
      out |= _keys(value, f'{prefix}{key}.')
  return out


def test_example_config_is_the_defaults_and_names_every_key():
  assert config_lib.load(EXAMPLE) == RunConfig()
  with open(EXAMPLE) as f:
    assert _keys(yaml.safe_load(f)) == _keys(RunConfig().to_dict())


def test_kg_example_config_is_the_defaults_on_the_kg_folder():
  kg = config_lib.load(os.path.join(REPO, 'configs', 'movielens-100k-kg.yaml'))
  assert (kg.data, kg.output) == ('data/movielens-100k-kg',
                                  'output/movielens-100k-kg')
  assert kg.replace({'data': RunConfig().data,
                     'output': RunConfig().output}) == RunConfig()


def test_partial_file_keeps_defaults_for_missing_keys(tmp_path):
  path = _write(tmp_path, 'output: /tmp/x\ntraining:\n  epochs: 2\n'
                'beam_args: "--runner=DirectRunner --direct_num_workers=2"\n')
  config = config_lib.load(path)
  assert config.output == '/tmp/x'
  assert config.training == TrainingConfig(epochs=2)
  assert config.beam_args == ('--runner=DirectRunner', '--direct_num_workers=2')
  assert config.data == RunConfig().data


def test_empty_file_is_the_defaults(tmp_path):
  assert config_lib.load(_write(tmp_path, '')) == RunConfig()


def test_yaml_round_trip_of_a_non_default_config(tmp_path):
  config = RunConfig(data='/d', schemas='synthetic', output='/o',
                     pipeline_name='p', beam_args=('--a=1',), enable_cache=False,
                     training=TrainingConfig(tower_layers=(16, 8), ssl='cfm',
                                             learning_rate=1))
  path = _write(tmp_path, config_lib.to_yaml(config))
  assert config_lib.load(path) == config
  assert isinstance(config_lib.load(path).training.learning_rate, float)


@pytest.mark.parametrize('text, key', [
    ('outptu: x\n', 'outptu'),
    ('training:\n  epoch: 3\n', 'training.epoch'),
])
def test_unknown_key_names_the_key_and_the_file(tmp_path, text, key):
  path = _write(tmp_path, text)
  with pytest.raises(ConfigError) as e:
    config_lib.load(path)
  assert str(e.value).startswith(f'{path}: unknown key {key};')


@pytest.mark.parametrize('text, message', [
    ('training:\n  epochs: ten\n', 'training.epochs: expected an integer'),
    ('training:\n  epochs: 2.5\n', 'training.epochs: expected an integer'),
    ('enable_cache: 1\n', 'enable_cache: expected true or false'),
    ('training:\n  tower_layers: [64, x]\n',
     'training.tower_layers[1]: expected an integer'),
    ('training: 3\n', 'training: expected a mapping'),
    ('data:\n', 'data: expected a string, got None'),
    ('training:\n  epochs: 0\n', 'training config: epochs must be > 0'),
    ('training:\n  ssl: cfn\n', 'training config: ssl must be one of'),
    ('- a\n- b\n', 'the top level must be a mapping'),
    ('a: [1\n', 'not valid YAML'),
])
def test_bad_values_are_errors_naming_file_and_key(tmp_path, text, message):
  path = _write(tmp_path, text)
  with pytest.raises(ConfigError) as e:
    config_lib.load(path)
  assert str(e.value).startswith(f'{path}: ')
  assert message in str(e.value)


@pytest.mark.parametrize('section,key', [
    (s, k) for s, keys in RETIRED.items() for k in keys])
def test_a_retired_key_names_the_file_and_says_it_was_retired(tmp_path,
                                                              section, key):
  path = _write(tmp_path, f'{section}:\n  {key}: 2\n')
  with pytest.raises(ConfigError) as e:
    config_lib.load(path)
  assert str(e.value) == f'{path}: {retired_message(section, key)}'


def test_missing_file(tmp_path):
  with pytest.raises(FileNotFoundError, match='nope.yaml: config file not found'):
    config_lib.load(str(tmp_path / 'nope.yaml'))


def test_from_dict_still_takes_a_training_config_instance():
  training = TrainingConfig(epochs=1)
  assert RunConfig.from_dict({'training': training}).training is training


def _print_config(capsys, argv):
  assert cli.main(['run', '--print-config'] + argv) == 0
  return yaml.safe_load(capsys.readouterr().out)


def test_print_config_shows_flags_over_file_over_defaults(tmp_path, capsys):
  path = _write(tmp_path, 'output: from-file\ndata: from-file\n'
                'training:\n  epochs: 5\n  batch_size: 64\n')
  printed = _print_config(capsys, [
      '--config', path, '--output', 'from-flag', '--epochs', '2',
      '--tower-layers', '16', '8', '--no-remove-accidental-hits',
      '--beam-args=--direct_running_mode=multi_processing '
      '--direct_num_workers=2', '--no-cache'])
  expected = RunConfig(
      data='from-file', output='from-flag', enable_cache=False,
      beam_args=('--direct_running_mode=multi_processing',
                 '--direct_num_workers=2'),
      training=TrainingConfig(epochs=2, batch_size=64, tower_layers=(16, 8),
                              remove_accidental_hits=False))
  assert printed == expected.to_dict()
  assert RunConfig.from_dict(printed) == expected


def test_print_config_without_file_is_the_defaults(capsys):
  assert _print_config(capsys, []) == RunConfig().to_dict()


def test_cli_config_error_is_one_message_without_traceback(tmp_path, capsys):
  path = _write(tmp_path, 'training:\n  epoch: 3\n')
  assert cli.main(['run', '--config', path, '--print-config']) == 2
  err = capsys.readouterr().err
  assert err.startswith(f'sslrec run: error: {path}: unknown key training.epoch')
  assert 'Traceback' not in err


def test_bad_flag_value_is_reported_by_the_config_check(capsys):
  assert cli.main(['run', '--epochs', '0', '--print-config']) == 2
  assert 'command line: training config: epochs must be > 0' in (
      capsys.readouterr().err)


def test_run_argv_repeats_only_the_given_options_with_absolute_paths(
    tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  path = _write(tmp_path, 'training:\n  epochs: 5\n', name='c.yaml')
  parser = cli.build_parser()
  args = parser.parse_args([
      'run', '--config', 'c.yaml', '--data', 'd', '--output', 'o',
      '--beam-args=--direct_num_workers=2', '--no-cache', '--epochs', '3',
      '--tower-layers', '16', '8', '--logq-correction'])
  argv = run_command.run_argv(args)
  assert argv == [
      '--config', path, f'--data={tmp_path}/d', f'--output={tmp_path}/o',
      '--beam-args=--direct_num_workers=2', '--no-cache', '--tower-layers',
      '16', '8', '--logq-correction', '--epochs', '3']
  expected = run_command.config_from_args(args).replace(
      {'data': f'{tmp_path}/d', 'output': f'{tmp_path}/o'})
  assert expected.training == TrainingConfig(epochs=3, tower_layers=(16, 8),
                                             logq_correction=True)
  # The same effective config from another working directory.
  monkeypatch.chdir(REPO)
  again = parser.parse_args(['run'] + argv)
  assert run_command.config_from_args(again) == expected


@pytest.mark.parametrize('text, message', [
    ('training:\n  numeric_buckets: 4\n',
     'key training.numeric_buckets is now transform.numeric_buckets'),
    ('training:\n  embedding_dim: 8\n',
     'key training.embedding_dim is now training.feature_embedding_dim'),
    ('evaluation:\n  exclude_seen: false\n',
     r"key evaluation.exclude_seen is now evaluation.exclusion \(serving: the "
     r"index's rule, history and train items left out; none: nothing left "
     r'out\)'),
])
def test_a_moved_key_says_where_it_is_now(tmp_path, text, message):
  path = _write(tmp_path, text)
  with pytest.raises(ConfigError, match=f'^{path}: {message}$'):
    config_lib.load(path)


def test_transform_settings_are_their_own_section(tmp_path):
  path = _write(tmp_path, 'transform:\n  numeric_buckets: 4\n')
  config = config_lib.load(path)
  assert config.transform.numeric_buckets == 4
  assert config.training == RunConfig().training


def test_exclusion_is_a_closed_choice(tmp_path):
  assert RunConfig().evaluation.exclusion == 'serving'
  config = config_lib.load(_write(tmp_path, 'evaluation:\n  exclusion: none\n'))
  assert config.evaluation.exclusion == 'none'
  path = _write(tmp_path, 'evaluation:\n  exclusion: seen\n')
  with pytest.raises(ConfigError, match=r"evaluation.exclusion must be one "
                     r"of \['serving', 'none'\], got 'seen'"):
    config_lib.load(path)


def test_schema_name_comes_from_the_flag_the_data_folder_or_a_bundle(
    tmp_path):
  data = tmp_path / 'shop'
  data.mkdir()
  (data / 'schema').mkdir()
  assert RunConfig(data=str(data), schemas='synthetic').schema_name() == (
      'synthetic')
  (data / 'dataset.json').write_text(json.dumps({'schemas': 'schema'}))
  assert RunConfig(data=str(data)).schema_name() == str(data / 'schema')
  (data / 'dataset.json').write_text(json.dumps({'schemas': 'synthetic'}))
  assert RunConfig(data=str(data)).schema_name() == 'synthetic'
  # A bundled dataset by its dataset.json name or its folder name.
  (data / 'dataset.json').write_text(json.dumps({'name': 'movielens-100k'}))
  assert RunConfig(data=str(data)).schema_name() == 'movielens-100k'
  bundled = tmp_path / 'movielens-100k-kg'
  bundled.mkdir()
  assert RunConfig(data=str(bundled)).schema_name() == 'movielens-100k-kg'


def test_data_that_names_no_schema_is_one_line_saying_how_to_get_one(
    tmp_path, capsys):
  data = tmp_path / 'shop'
  (data / 'items').mkdir(parents=True)
  (data / 'interactions').mkdir()
  with pytest.raises(config_lib.ConfigError,
                     match=f'{data} has no dataset.json and --schemas is not '
                     'set: import the data with `sslrec data import'):
    RunConfig(data=str(data)).schema_name()
  (data / 'dataset.json').write_text(json.dumps({'name': 'shop'}))
  assert cli.main(['run', '--data', str(data), '--output',
                   str(tmp_path / 'out')]) == 2
  err = [l for l in capsys.readouterr().err.splitlines()
         if l.startswith('sslrec run: error:')]
  assert len(err) == 1, err
  err = err[0]
  assert f"{data}/dataset.json has no 'schemas' entry" in err
  assert "--schemas with a schema folder or one of ['movielens-100k'" in err
  assert not (tmp_path / 'out' / 'pipeline').exists()

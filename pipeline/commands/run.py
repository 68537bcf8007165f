"""`sslrec run`: run the pipeline on a data folder.

The effective config is the defaults, overridden by `--config FILE` (YAML),
overridden by the flags given; `--print-config` prints it and exits.
"""
import argparse
import dataclasses
import glob
import itertools
import logging
import os
import shlex
import sys
import time
from typing import Any, Dict, List, Optional

from models.config import RETIRED
from models.config import retired_message
from models.options import Choice
from models.options import help_of
from pipeline import config as config_lib
from pipeline import errors
from pipeline import logs

# Each run's full log, tracebacks included: <output>/logs/run-<time>.log.
LOG_DIR = 'logs'
KEEP_RUN_LOGS = 30

# Top-level flags: (RunConfig field, flag, is a path).
_TOP_FLAGS = (
    ('data', '--data', True),
    ('schemas', '--schemas', False),  # a bundled name or a folder
    ('output', '--output', True),
    ('pipeline_name', '--pipeline-name', False),
    ('beam_args', '--beam-args', False),
    ('enable_cache', '--cache', False),
    ('metadata_config', '--metadata-config', True),
)


def _flag(name: str) -> str:
  return '--' + name.replace('_', '-')


def _dest(section: str, name: str) -> str:
  return f'{section}.{name}'


def _help(field: dataclasses.Field) -> str:
  """What the option means (the field's help) and its default."""
  default = field.default
  if isinstance(default, tuple):
    default = ' '.join(str(v) for v in default)
  elif default == '':
    default = "''"
  # argparse expands %-formats in help texts.
  return f'{help_of(field)} (default: {default})'.replace('%', '%%')


def _add_flag(group, flag: str, dest: str, field: dataclasses.Field) -> None:
  """The flag of one config field, its type and choices from the default."""
  default = field.default
  kwargs = dict(dest=dest, default=None, help=_help(field))
  if isinstance(default, Choice):
    kwargs.update(choices=type(default).values())
  elif isinstance(default, bool):
    kwargs.update(action=argparse.BooleanOptionalAction)
  elif isinstance(default, tuple):
    kwargs.update(nargs='+', metavar=field.name.upper(),
                  type=type(default[0]) if default else str)
  else:
    kwargs.update(type=type(default), metavar=field.name.upper())
  group.add_argument(flag, **kwargs)


def _retired_dest(section: str, name: str) -> str:
  return f'retired.{section}.{name}'


def _add_section_flags(parser: argparse.ArgumentParser, taken: set) -> None:
  """One flag per field of every config section (e.g. --epochs for
  training.epochs), and a hidden one per retired key (an error when given)."""
  for section, cls in config_lib.sections().items():
    group = parser.add_argument_group(f'{section} (YAML section {section}:)')
    names = [(f.name, f) for f in dataclasses.fields(cls)]
    names += [(name, None) for name in RETIRED.get(section, {})]
    for name, field in names:
      flag = _flag(name)
      if flag in taken:  # a new section must not reuse a flag name
        raise RuntimeError(f'flag {flag} of {section}.{name} is taken')
      taken.add(flag)
      if field is None:  # any value, or none: overrides_from_args refuses it
        parser.add_argument(flag, dest=_retired_dest(section, name),
                            nargs='?', const='', help=argparse.SUPPRESS)
      else:
        _add_flag(group, flag, _dest(section, name), field)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
  """The options of a run (shared by `sslrec run` and `sslrec schedule`)."""
  parser.add_argument('--config', metavar='FILE',
                      help='YAML run config (e.g. configs/movielens-100k.yaml); '
                      'flags override it')
  fields = {f.name: f for f in dataclasses.fields(config_lib.RunConfig)}
  for name, flag, _ in _TOP_FLAGS:
    field = fields[name]
    if name == 'beam_args':  # one string, split like a shell would
      parser.add_argument(
          flag, metavar='ARGS', help=_help(field) + ". One string, written "
          "with '=': --beam-args='--direct_running_mode=multi_processing "
          "--direct_num_workers=2'")
    else:
      _add_flag(parser, flag, name, field)
  _add_section_flags(parser, {flag for _, flag, _ in _TOP_FLAGS} | {
      '--config', '--print-config', '--cron', '--print', '--help'})


def overrides_from_args(args) -> Dict[str, Any]:
  """The config keys set by flags (only the flags given); a retired key's
  flag is an error saying so."""
  for section, keys in RETIRED.items():
    for name in keys:
      if getattr(args, _retired_dest(section, name), None) is not None:
        raise config_lib.ConfigError(
            f'command line: {_flag(name)}: {retired_message(section, name)}')
  out: Dict[str, Any] = {}
  for name, _, _ in _TOP_FLAGS:
    value = getattr(args, name)
    if value is not None:
      out[name] = shlex.split(value) if name == 'beam_args' else value
  for section, cls in config_lib.sections().items():
    values = {f.name: getattr(args, _dest(section, f.name))
              for f in dataclasses.fields(cls)
              if getattr(args, _dest(section, f.name)) is not None}
    if values:
      out[section] = values
  return out


def config_from_args(args) -> config_lib.RunConfig:
  overrides = overrides_from_args(args)
  if args.config:
    return config_lib.load(args.config, overrides)
  return config_lib.RunConfig().replace(overrides, source='command line')


def run_argv(args) -> List[str]:
  """The `sslrec run` arguments equivalent to `args`, paths made absolute.

  Only the options given are repeated, so a config file edited later still
  takes effect for the keys the flags do not set.
  """
  argv: List[str] = []
  if args.config:
    argv += ['--config', os.path.abspath(args.config)]
  for name, flag, is_path in _TOP_FLAGS:
    value = getattr(args, name)
    if value is None:
      continue
    if isinstance(value, bool):
      argv.append(flag if value else '--no-' + flag[2:])
      continue
    if is_path or (name == 'schemas' and os.path.isdir(value)):
      value = os.path.abspath(value)
    argv.append(f'{flag}={value}')  # '=' keeps a value like '--runner=X' a value
  for section, cls in config_lib.sections().items():
    for field in dataclasses.fields(cls):
      value = getattr(args, _dest(section, field.name))
      if value is None:
        continue
      flag = _flag(field.name)
      if isinstance(value, bool):
        argv.append(flag if value else '--no-' + flag[2:])
      elif isinstance(value, list):
        argv += [flag] + [str(v) for v in value]
      else:
        argv += [flag, str(value)]
  return argv


def run_log_path(output: str, keep: int = KEEP_RUN_LOGS,
                 now: Optional[float] = None) -> str:
  """Creates a new, empty `<output>/logs/run-<time>.log` and returns it.

  The oldest run logs beyond `keep` (this one included) are removed.
  """
  folder = os.path.join(output, LOG_DIR)
  os.makedirs(folder, exist_ok=True)
  old = sorted(glob.glob(os.path.join(folder, 'run-*.log')),
               key=lambda p: (os.path.getmtime(p), p))
  for path in old[:max(0, len(old) - keep + 1)]:
    os.remove(path)
  stamp = time.strftime('%Y%m%d-%H%M%S', time.localtime(now))
  for n in itertools.count(1):
    path = os.path.join(folder, f'run-{stamp}{"" if n == 1 else f"-{n}"}.log')
    try:
      with open(path, 'x', encoding='utf-8'):
        return path
    except FileExistsError:  # another run log within the same second
      continue


def _check_training_data(config: config_lib.RunConfig) -> None:
  """Values the Trainer would reject minutes later, named by their flag."""
  from pipeline.data import contract  # pylint: disable=g-import-not-at-top
  events = contract.train_events(config.data)
  batch = config.training.batch_size
  if events and batch > events:  # no events: the ExampleGen says so
    raise errors.UserError(
        f'--batch-size {batch} (training.batch_size) is larger than the '
        f'training data: {events} train events in {config.data}; every batch '
        'would be empty. Give a smaller --batch-size')


def _run(args) -> int:
  config = config_from_args(args)
  if args.print_config:
    sys.stdout.write(config_lib.to_yaml(config))
    return 0
  from pipeline import run_lock  # pylint: disable=g-import-not-at-top
  # Taken before importing TensorFlow, so a second run fails in a second.
  with run_lock.hold(config.output):
    if '://' not in config.output:
      logging.info('Log file (tracebacks included): %s',
                   logs.to_file(run_log_path(config.output)))
    from components.pusher import model_server  # pylint: disable=g-import-not-at-top
    # A bad $SSLREC_MODEL_SERVER fails now, not at the push.
    model_server.check_runs(model_server.binary())
    _check_training_data(config)
    from pipeline import runner  # pylint: disable=g-import-not-at-top
    return runner.run(config)  # exit code: pipeline/outcome.py


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      'run', help='run the pipeline (ingest, validate, transform, train, push)')
  add_run_arguments(parser)
  parser.add_argument('--print-config', action='store_true',
                      help='print the effective config (YAML) and exit')
  parser.set_defaults(func=_run)

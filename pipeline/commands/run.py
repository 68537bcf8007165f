"""`sslrec run`: run the pipeline on a data folder."""
import argparse
import dataclasses

from models.config import TrainingConfig
from pipeline.config import RunConfig


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
  group = parser.add_argument_group('training (models/config.py)')
  for field in dataclasses.fields(TrainingConfig):
    flag = '--' + field.name.replace('_', '-')
    default = field.default
    if isinstance(default, bool):
      group.add_argument(flag, dest=field.name, default=None,
                         action=argparse.BooleanOptionalAction,
                         help=f'(default {default})')
    elif isinstance(default, tuple):
      group.add_argument(flag, dest=field.name, type=int, nargs='+',
                         default=None, help=f'(default {list(default)})')
    else:
      group.add_argument(flag, dest=field.name, type=type(default),
                         default=None, help=f'(default {default})')


def config_from_args(args) -> RunConfig:
  defaults = RunConfig()
  training = {f.name: getattr(args, f.name)
              for f in dataclasses.fields(TrainingConfig)
              if getattr(args, f.name) is not None}
  return RunConfig(
      data=args.data or defaults.data,
      schemas=args.schemas or defaults.schemas,
      output=args.output or defaults.output,
      pipeline_name=args.pipeline_name or defaults.pipeline_name,
      beam_args=tuple(args.beam_args.split()) if args.beam_args is not None
      else defaults.beam_args,
      enable_cache=not args.no_cache,
      training=defaults.training.replace(**training))


def _run(args) -> int:
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  runner.run(config_from_args(args))
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      'run', help='run the pipeline (ingest, validate, transform, train, push)')
  parser.add_argument('--data', help='data folder (default data/movielens-100k)')
  parser.add_argument('--schemas', help='bundled schema name or folder '
                      '(default: the one named in <data>/dataset.json)')
  parser.add_argument('--output', help='output folder (default ./output)')
  parser.add_argument('--pipeline-name', help='pipeline name (default sslrec)')
  parser.add_argument('--beam-args', help='Beam pipeline args, one string, '
                      "e.g. '--direct_running_mode=multi_processing "
                      "--direct_num_workers=2'")
  parser.add_argument('--no-cache', action='store_true',
                      help='re-run every component even if its inputs are unchanged')
  _add_training_flags(parser)
  parser.set_defaults(func=_run)

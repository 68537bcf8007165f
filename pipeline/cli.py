"""`sslrec` command line: one sub-command per module under pipeline/commands/."""
import argparse
import importlib
import os
import sys
from typing import List, Optional

from pipeline import logs
from pipeline.errors import UserError

logs.quiet_import_warnings()

# Each module has `register(subparsers)`, which adds its parser and sets
# `func(args) -> int` as the parser default.
_COMMAND_MODULES = (
    'data',
    'mi',
    'run',
    'schedule',
    'inspect',
    'compile',
    'report',
    'rollback',
)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='sslrec',
      description='Two-tower retrieval with self-supervised item-tower '
      'learning, as a TFX pipeline.')
  parser.add_argument('-v', '--verbose', action='store_true',
                      help='debug logging')
  subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
  subparsers.required = True
  for name in _COMMAND_MODULES:
    importlib.import_module(f'pipeline.commands.{name}').register(subparsers)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')  # hide CUDA-probe noise
  args = build_parser().parse_args(argv)
  logs.setup(verbose=args.verbose)
  try:
    return int(args.func(args) or 0)
  except (UserError, ValueError, FileNotFoundError) as e:
    print(f'sslrec {args.command}: error: {e}', file=sys.stderr)
    return 2


if __name__ == '__main__':
  sys.exit(main())

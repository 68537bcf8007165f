"""`sslrec` command line: one sub-command per module under pipeline/commands/."""
import argparse
import importlib
import os
import sys
import traceback
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
  except UserError as e:  # bad input, said so on purpose: one line
    print(f'sslrec {args.command}: error: {e}', file=sys.stderr)
    return 2
  except Exception as e:  # pylint: disable=broad-except  # a bug or the environment
    return _internal_error(args.command, e)


def _internal_error(command: str, error: Exception) -> int:
  """Exit 1: one line on stderr naming the run log that holds the traceback
  (`sslrec run`), else the traceback on stderr."""
  log_file = logs.log_file()
  if not log_file:
    traceback.print_exc()
    print(f'sslrec {command}: internal error (exit 1): '
          f'{type(error).__name__}: {error}', file=sys.stderr)
    return 1
  logs.write_to_file(f'sslrec {command}: internal error:\n'
                     + traceback.format_exc())
  first = str(error).strip().splitlines()[0] if str(error).strip() else ''
  print(f'sslrec {command}: internal error (exit 1): {type(error).__name__}: '
        f'{first} (traceback in {log_file})', file=sys.stderr)
  return 1


if __name__ == '__main__':
  sys.exit(main())

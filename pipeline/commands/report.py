"""`sslrec report`: regenerate the HTML report of a run from ML Metadata.

  sslrec report [--output DIR] [--run ID] [--dest DIR] [--list]

Reads `<output>/metadata.sqlite`; the run is an MLMD `pipeline_run` context
(default: the latest). Writes `<output>/report/index.html` and its PNG charts,
or under --dest.
"""
import argparse
import os

from pipeline import metadata
from pipeline.commands import inspect


def _report(args: argparse.Namespace) -> int:
  # matplotlib, ml_metadata and TFX load only when the command runs.
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  from pipeline import report  # pylint: disable=g-import-not-at-top
  source = (metadata.load(args.metadata_config) if args.metadata_config
            else os.path.join(args.output, report.METADATA_FILE))
  if args.list:
    for run_id in inspection.inspector(source).run_ids():
      print(run_id)
    return 0
  path = report.generate(args.output, run_id=args.run, dest=args.dest,
                         metadata=source)
  print(f'wrote {path}')
  return 0


def register(subparsers) -> None:
  """Adds `report`."""
  parser = subparsers.add_parser(
      'report', help='regenerate the HTML report of a run from ML Metadata',
      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--output', default='output',
                      help='output folder of the runs, holding metadata.sqlite '
                      '(default: %(default)s)')
  parser.add_argument('--run', metavar='ID',
                      help='pipeline run id (see --list; default: the latest)')
  parser.add_argument('--dest', metavar='DIR',
                      help='report folder (default: <output>/report)')
  inspect.add_metadata_config_flag(parser)
  parser.add_argument('--list', action='store_true',
                      help='list the recorded run ids, oldest first, and exit')
  parser.set_defaults(func=_report)

"""`sslrec rollback --output DIR [--to VERSION]`: serve an earlier version again.

Re-pushes the query tower, item tower and index of VERSION (default: the
newest version before the served models) as one new version, which TF Serving
then serves (it serves the highest version number), records the rollback in
ML Metadata and makes its query model the baseline of the next run's blessing.
Holds the output's run lock, so it never races a run. Details:
components/pusher/rollback.py, docs/operations.md.
"""
import os
import sys

from pipeline import config as config_lib
from pipeline import errors
from pipeline import run_lock
from pipeline.commands import inspect


def _rollback(args) -> int:
  config = (config_lib.load(args.config) if args.config
            else config_lib.RunConfig())
  changes = {key: value for key, value in (
      ('output', args.output), ('metadata_config', args.metadata_config))
             if value}
  config = config.replace(changes) if changes else config
  if not os.path.isdir(config.serving_root):
    raise errors.UserError(f'{config.serving_root}: no pushed models (no '
                           'serving folder); run the pipeline first')
  with run_lock.hold(config.output):
    from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top
    from components.pusher import rollback  # pylint: disable=g-import-not-at-top
    store = None
    if config.metadata_config or os.path.exists(config.metadata_path):
      store = metadata_store.MetadataStore(config.metadata_connection())
    from components.pusher import versions  # pylint: disable=g-import-not-at-top
    for line in versions.repair(config.serving_root):
      print(f'sslrec rollback: {config.serving_root}: {line}',
            file=sys.stderr)
    try:
      rollback.choose(config.serving_root, args.to)  # fail before copying
      result = rollback.roll_back(config.serving_root, store, args.to)
    except rollback.RollbackError as e:
      raise errors.UserError(str(e)) from None
  print(f'sslrec rollback: version {result.version} now serves the models of '
        f'version {result.rollback_of}: {", ".join(result.destinations)}; '
        + (f'baseline of the next run: Model #{result.baseline_model_id}'
           if result.baseline_model_id else 'no ML Metadata record'))
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      'rollback', help='serve an earlier pushed version again (all three '
      'models), as a new version')
  parser.add_argument('--output', help='the run output folder (default '
                      f'{config_lib.RunConfig().output})')
  parser.add_argument('--config', metavar='FILE',
                      help='take the output folder from this run config')
  inspect.add_metadata_config_flag(parser)
  parser.add_argument('--to', type=int, metavar='VERSION',
                      help='the version to serve again (default: the newest '
                      'one before the served models)')
  parser.set_defaults(func=_rollback)

"""`sslrec data`: write a dataset in the contract layout (see docs/data.md).

  sslrec data movielens-100k [--source DIR] [--out DIR] [--cache DIR]
                             [--eval-fraction F] [--history-length N] [--force]
  sslrec data synthetic --items N --users M --events K --seed S [--out DIR] ...
"""
import argparse
import os

from pipeline.data import contract
from pipeline.data import split


def _add_common(parser: argparse.ArgumentParser, default_out: str) -> None:
  parser.add_argument('--out', default=default_out,
                      help='dataset folder to write (default: %(default)s)')
  parser.add_argument('--eval-fraction', type=float,
                      default=split.DEFAULT_EVAL_FRACTION,
                      help='last fraction of events, by time, that forms the '
                      'eval split (default: %(default)s)')
  parser.add_argument('--history-length', type=int,
                      default=split.DEFAULT_HISTORY_LENGTH,
                      help='most previous items kept in `history` '
                      '(default: %(default)s)')
  parser.add_argument('--force', action='store_true',
                      help='replace --out when it exists and is not empty')


def _report(info, out: str) -> None:
  print(f'wrote {info["name"]} to {os.path.abspath(out)}:')
  print(f'  {contract.ITEMS_CSV}: {info["num_items"]} items')
  print(f'  {contract.TRAIN_CSV}: {info["num_train_events"]} events')
  print(f'  {contract.EVAL_CSV}: {info["num_eval_events"]} events '
        f'(last {info["eval_fraction"]:g} by time)')
  print(f'  {contract.DATASET_JSON}: {info["num_users"]} users, schemas '
        f'{info["schemas"]!r}, history up to {info["history_length"]} items')


def _movielens(args: argparse.Namespace) -> int:
  from pipeline.data import movielens  # pylint: disable=g-import-not-at-top
  info = movielens.build(
      args.out, source=args.source, cache_dir=args.cache,
      eval_fraction=args.eval_fraction, history_length=args.history_length,
      force=args.force)
  print(f'read {info["source"]}')
  _report(info, args.out)
  return 0


def _synthetic(args: argparse.Namespace) -> int:
  from pipeline.data import synthetic  # pylint: disable=g-import-not-at-top
  info = synthetic.generate(
      args.out, args.items, args.users, args.events, args.seed,
      eval_fraction=args.eval_fraction, history_length=args.history_length,
      zipf_exponent=args.zipf_exponent, force=args.force)
  _report(info, args.out)
  return 0


def register(subparsers) -> None:
  """Adds `data movielens-100k` and `data synthetic`."""
  parser = subparsers.add_parser(
      'data', help='write a dataset as the CSV files the pipeline reads',
      description='Write a dataset in the sslrec data contract: '
      'items/items.csv, interactions/{train,eval}/interactions.csv and '
      'dataset.json.')
  sources = parser.add_subparsers(dest='dataset', metavar='DATASET')
  sources.required = True

  ml = sources.add_parser(
      'movielens-100k', help='MovieLens-100K (GroupLens folder or RecBole '
      'wheel)', description='MovieLens-100K. With --source, read an extracted '
      'GroupLens ml-100k folder; without it, download the recbole==1.2.1 wheel '
      'with pip into --cache (once) and read its bundled ml-100k files.')
  ml.add_argument('--source', default=None,
                  help='extracted GroupLens ml-100k folder (u.data, u.item, '
                  'u.user, u.genre)')
  ml.add_argument('--cache', default='cache',
                  help='download folder for the RecBole wheel '
                  '(default: %(default)s)')
  _add_common(ml, os.path.join('data', 'movielens-100k'))
  ml.set_defaults(func=_movielens)

  syn = sources.add_parser(
      'synthetic', help='synthetic data with known correlated item features',
      description='Synthetic items with correlated feature groups '
      '(country/language, category/subcategory) and independent features, '
      'Zipf popularity, and users whose choices depend on their features.')
  syn.add_argument('--items', type=int, required=True, help='number of items')
  syn.add_argument('--users', type=int, required=True, help='number of users')
  syn.add_argument('--events', type=int, required=True,
                   help='number of interactions')
  syn.add_argument('--seed', type=int, required=True, help='random seed')
  syn.add_argument('--zipf-exponent', type=float, default=1.0,
                   help='popularity of rank r is 1/r**exponent '
                   '(default: %(default)s)')
  _add_common(syn, os.path.join('data', 'synthetic'))
  syn.set_defaults(func=_synthetic)

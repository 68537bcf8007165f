"""`sslrec data`: write a dataset in the contract layout (see docs/data.md).

  sslrec data movielens-100k [--source DIR] [--kg [--kg-max-values N]]
                             [--out DIR] [--cache DIR] [split options] [--force]
  sslrec data recbole SOURCE --dataset NAME [--kg [--kg-max-values N]]
                      [--text FIELD ...] [--multi-valued FIELD ...] [--out DIR]
                      [split options] [--force]
  sslrec data synthetic --items N --users M --events K --seed S [--out DIR] ...
  sslrec data import --events FILE --items FILE [--users FILE] --out DIR
                     [--user-col C] [--item-col C] [--time-col C]
                     [--separator S] [--tag COLUMN=KIND ...] [split options]

Split options (every command): --split temporal|leave-last-out,
--eval-fraction F (temporal only), --history-length N.
"""
import argparse
import os

from pipeline.data import contract
from pipeline.data import kg
from pipeline.data import split


def _add_common(parser: argparse.ArgumentParser, default_out,
                out_required: bool = False) -> None:
  parser.add_argument('--out', default=default_out, required=out_required,
                      help='dataset folder to write' + (
                          '' if out_required else ' (default: %(default)s)'))
  parser.add_argument('--split', choices=split.NAMES,
                      default=split.DEFAULT_SPLIT.value,
                      help='temporal: the last --eval-fraction of all events '
                      'by time form eval; leave-last-out: the last event of '
                      f'each user with >= {split.LEAVE_LAST_OUT_MIN_EVENTS} '
                      'events (default: %(default)s)')
  parser.add_argument('--eval-fraction', type=float, default=None,
                      help='temporal split: last fraction of events, by time, '
                      f'that forms eval (default: {split.DEFAULT_EVAL_FRACTION})')
  parser.add_argument('--history-length', type=int,
                      default=split.DEFAULT_HISTORY_LENGTH,
                      help='most previous items kept in `history` '
                      '(default: %(default)s)')
  parser.add_argument('--force', action='store_true',
                      help='replace --out when it exists and is not empty')


def _add_kg(parser: argparse.ArgumentParser, files: str) -> None:
  parser.add_argument('--kg', action='store_true',
                      help=f'add one multi-valued item column per forward '
                      f'knowledge-graph relation of {files}')
  parser.add_argument('--kg-max-values', type=int,
                      default=kg.DEFAULT_MAX_VALUES,
                      help='most values kept in one KG cell (e.g. actors of a '
                      'movie), the ones most items share (default: '
                      '%(default)s)')


def _split_kwargs(args: argparse.Namespace):
  return dict(split=args.split, eval_fraction=args.eval_fraction,
              history_length=args.history_length, force=args.force)


def _report(info, out: str) -> None:
  print(f'wrote {info["name"]} to {os.path.abspath(out)}:')
  print(f'  {contract.ITEMS_CSV}: {info["num_items"]} items')
  print(f'  {contract.TRAIN_CSV}: {info["num_train_events"]} events')
  if info['split'] == split.SplitProtocol.TEMPORAL:
    how = f'last {info["eval_fraction"]:g} by time'
  else:
    how = (f'leave-last-out: the last event of each user with >= '
           f'{info["min_user_events"]} events')
  print(f'  {contract.EVAL_CSV}: {info["num_eval_events"]} events ({how})')
  print(f'  {contract.DATASET_JSON}: {info["num_users"]} users, schemas '
        f'{info["schemas"]!r}, history up to {info["history_length"]} items')
  if info.get('kg_relations'):
    print(f'  {len(info["kg_relations"])} KG columns, at most '
          f'{info["kg_max_values"]} values each: '
          + ', '.join(info['kg_relations']))


def _movielens(args: argparse.Namespace) -> int:
  from pipeline.data import movielens  # pylint: disable=g-import-not-at-top
  out = args.out or os.path.join(
      'data', movielens.KG_NAME if args.kg else movielens.NAME)
  info = movielens.build(
      out, source=args.source, cache_dir=args.cache, kg=args.kg,
      max_kg_values=args.kg_max_values, **_split_kwargs(args))
  print(f'read {info["source"]}')
  _report(info, out)
  return 0


def _recbole(args: argparse.Namespace) -> int:
  from pipeline.data import recbole  # pylint: disable=g-import-not-at-top
  out = args.out or os.path.join('data', contract.check_name(args.dataset))
  info = recbole.build(
      out, args.source, args.dataset, kg=args.kg,
      max_kg_values=args.kg_max_values, text_fields=args.text,
      multi_valued_fields=args.multi_valued, **_split_kwargs(args))
  print(f'read {args.dataset} from {info["source"]}')
  _report(info, out)
  print(f'  {contract.GENERATED_SCHEMAS}/: the generated annotated schemas '
        '(edit the sslrec:<kind> tags if you like)')
  return 0


def _import(args: argparse.Namespace) -> int:
  from pipeline.data import event_log  # pylint: disable=g-import-not-at-top
  from pipeline.data import infer  # pylint: disable=g-import-not-at-top
  info, declared = event_log.build(
      args.out, args.events, args.items, args.users, user_col=args.user_col,
      item_col=args.item_col, time_col=args.time_col,
      separator=args.separator, tags=infer.parse_tags(args.tag),
      name=args.name, **_split_kwargs(args))
  _report(info, args.out)
  schema_dir = os.path.join(os.path.abspath(args.out),
                            contract.GENERATED_SCHEMAS)
  print(f'\nFeature tags (from the values; {schema_dir}/):')
  print(event_log.table_text(declared))
  print(f'\nAccept them and run `sslrec run --data {args.out}`, or change a '
        f'tag by editing {schema_dir}/*.pbtxt or re-importing with '
        '--tag COLUMN=KIND --force.')
  return 0


def _synthetic(args: argparse.Namespace) -> int:
  from pipeline.data import synthetic  # pylint: disable=g-import-not-at-top
  info = synthetic.generate(
      args.out, args.items, args.users, args.events, args.seed,
      zipf_exponent=args.zipf_exponent, **_split_kwargs(args))
  _report(info, args.out)
  return 0


def register(subparsers) -> None:
  """Adds `data movielens-100k`, `data recbole` and `data synthetic`."""
  parser = subparsers.add_parser(
      'data', help='write a dataset as the CSV files the pipeline reads',
      description='Write a dataset in the sslrec data contract: '
      'items/items.csv, interactions/{train,eval}/interactions.csv and '
      'dataset.json.')
  sources = parser.add_subparsers(dest='dataset', metavar='DATASET')
  sources.required = True

  ml = sources.add_parser(
      'movielens-100k', help='MovieLens-100K (GroupLens folder or RecBole '
      'wheel), optionally with knowledge-graph item features',
      description='MovieLens-100K. With --source, read an extracted '
      'GroupLens ml-100k folder; without it, download the recbole==1.2.1 wheel '
      'with pip into --cache (once) and read its bundled ml-100k files. '
      '--kg (wheel only) adds the knowledge-graph columns and uses '
      'schemas/movielens-100k-kg/.')
  ml.add_argument('--source', default=None,
                  help='extracted GroupLens ml-100k folder (u.data, u.item, '
                  'u.user, u.genre)')
  ml.add_argument('--cache', default='cache',
                  help='download folder for the RecBole wheel '
                  '(default: %(default)s)')
  _add_kg(ml, 'ml-100k.kg (with ml-100k.link)')
  _add_common(ml, None)
  ml.set_defaults(func=_movielens)
  ml.epilog = ('--out defaults to data/movielens-100k, or '
               'data/movielens-100k-kg with --kg.')

  rb = sources.add_parser(
      'recbole', help='any dataset in RecBole atomic format',
      description='A dataset in RecBole atomic format: NAME.inter (user_id, '
      'item_id, timestamp), NAME.item, optional NAME.user, and with --kg '
      'NAME.kg + NAME.link; tab-separated, header field:type. Writes the '
      'contract and a generated annotated schema folder <out>/schema/ '
      '(token -> categorical, token_seq -> text or multi_valued, float -> '
      'numeric, float_seq -> ignore).')
  rb.add_argument('source', metavar='SOURCE',
                  help='a folder holding the atomic files, or a zip/wheel '
                  'containing them (found at any depth)')
  rb.add_argument('--dataset', required=True, metavar='NAME',
                  help='the dataset name: the files are NAME.inter, ...')
  _add_kg(rb, 'NAME.kg (with NAME.link)')
  rb.add_argument('--text', nargs='+', default=[], metavar='FIELD',
                  help='token_seq fields to declare sslrec:text (default: '
                  'guessed; tokens that rarely repeat make a text field)')
  rb.add_argument('--multi-valued', nargs='+', default=[], metavar='FIELD',
                  help='token_seq fields to declare sslrec:multi_valued')
  _add_common(rb, None)
  rb.epilog = '--out defaults to data/NAME.'
  rb.set_defaults(func=_recbole)

  imp = sources.add_parser(
      'import', help='your own event log (CSV or Parquet) with an item table '
      'and an optional user table',
      description='Your own data: an event log (one row per interaction: '
      'user, item, time, plus any query feature columns), an item table '
      '(item id plus item features) and optionally a user table (user id '
      'plus user features, joined onto the events). CSV (UTF-8, header) or '
      'Parquet (.parquet/.pq). Writes the contract and a generated annotated '
      'schema folder <out>/schema/ with each feature\'s tag guessed from its '
      'values (numeric, text, multi_valued, categorical; ignore when always '
      'empty), printed as a table.')
  imp.add_argument('--events', required=True, metavar='FILE',
                   help='the event log, CSV or Parquet')
  imp.add_argument('--items', required=True, metavar='FILE',
                   help='the item table, CSV or Parquet')
  imp.add_argument('--users', default=None, metavar='FILE',
                   help='optional user table, CSV or Parquet')
  imp.add_argument('--user-col', default='user_id',
                   help='user id column of the events and the user table '
                   '(default: %(default)s)')
  imp.add_argument('--item-col', default='item_id',
                   help='item id column of the events and the item table '
                   '(default: %(default)s)')
  imp.add_argument('--time-col', default='timestamp',
                   help='event time column: epoch seconds or ISO 8601 '
                   '(default: %(default)s)')
  imp.add_argument('--separator', default='|',
                   help='separator of multi-valued cells in the inputs '
                   '(default: %(default)s); written as |')
  imp.add_argument('--tag', action='append', default=[],
                   metavar='COLUMN=KIND',
                   help='declare COLUMN as KIND (categorical, multi_valued, '
                   'text, numeric, ignore) instead of the guess; repeatable')
  imp.add_argument('--name', default=None,
                   help='dataset name in dataset.json (default: the --out '
                   'folder name)')
  _add_common(imp, None, out_required=True)
  imp.set_defaults(func=_import)

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

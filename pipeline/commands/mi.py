"""`sslrec mi ITEMS.csv`: how correlated are the item features?

Runs the MutualInformationGen computation (components/mutual_information,
same Beam transform, same JSON) on one items CSV and prints the feature pairs
ranked by normalized MI. Column kinds come from flags (every column not named
is categorical; `item_id` is the id) or from `--schemas`.
"""
import argparse
import csv
import json
import logging
import os
import re
import shlex
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

# Beam, pyarrow and the MI component are imported by the functions that run
# them, so `sslrec --help` stays fast.
from models import features as features_lib
from pipeline.errors import UserError
import schemas as schemas_lib
from pipeline.errors import MissingInputError

_BLOCK_SIZE = 16 << 20  # bytes of CSV per record batch


def _header(path: str) -> List[str]:
  if not os.path.isfile(path):
    raise MissingInputError(f'no such CSV file: {path}')
  with open(path, newline='', encoding='utf-8') as f:
    header = next(csv.reader(f), None)
  if not header:
    raise UserError(f'{path}: empty file, expected a header row')
  return header


def _read_csv(path: str, columns: Sequence[str]):
  """Record batches of `columns`, all as strings (empty cell = null)."""
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  from pyarrow import csv as pa_csv  # pylint: disable=g-import-not-at-top
  reader = pa_csv.open_csv(
      path, read_options=pa_csv.ReadOptions(block_size=_BLOCK_SIZE),
      convert_options=pa_csv.ConvertOptions(
          column_types={c: pa.string() for c in columns},
          include_columns=list(columns), strings_can_be_null=True,
          null_values=['']))  # only an empty cell is missing, not 'NA'
  for batch in reader:
    if batch.num_rows:
      yield batch


def _kinds_from_flags(header: Sequence[str], args) -> List[Tuple[str, str]]:
  named = {}
  for kind, cols in ((features_lib.MULTI_VALUED, args.multi_valued),
                     (features_lib.NUMERIC, args.numeric),
                     (features_lib.TEXT, args.text),
                     (features_lib.IGNORE, args.ignore)):
    for col in cols or ():
      if col not in header:
        raise UserError(f'column {col!r} (--{kind.replace("_", "-")}) is not '
                        f'in the CSV header {list(header)}')
      if col in named:
        raise UserError(f'column {col!r} is given two kinds: {named[col]} and '
                        f'{kind}')
      named[col] = kind
  features = []
  for col in header:
    if col == features_lib.ITEM_ID and col not in named:
      features.append((col, features_lib.ID))
    elif named.get(col, features_lib.CATEGORICAL) != features_lib.IGNORE:
      features.append((col, named.get(col, features_lib.CATEGORICAL)))
  return features


def _kinds_from_schemas(header: Sequence[str], schemas: str
                        ) -> List[Tuple[str, str]]:
  from components.mutual_information import schema_features  # pylint: disable=g-import-not-at-top
  path = os.path.join(schemas_lib.resolve(schemas),
                      features_lib.ITEMS_SCHEMA_FILE)
  features = schema_features.item_features(features_lib.load_schema(path), path)
  missing = [n for n, _ in features if n not in header]
  if missing:
    raise UserError(f'{path} declares item feature(s) {missing} that the CSV '
                    f'header {list(header)} lacks')
  return features


def compute(items: str, features: Sequence[Tuple[str, str]], top_k: int,
            num_buckets: int, out: str, interactions: Optional[str] = None,
            beam_args: Sequence[str] = ()) -> Dict:
  """Runs the Beam computation on CSV files and writes `out` (JSON)."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from components.mutual_information import beam_transforms  # pylint: disable=g-import-not-at-top
  from components.mutual_information import schema_features  # pylint: disable=g-import-not-at-top
  from components.mutual_information.weights import Weighting  # pylint: disable=g-import-not-at-top
  weighting = Weighting.LOG if interactions else Weighting.CORPUS
  if interactions and features_lib.ITEM_ID not in _header(interactions):
    raise UserError(f'{interactions}: no {features_lib.ITEM_ID!r} column')
  params = {'items': os.path.abspath(items)}
  beam_args = list(beam_args)
  if not any(a.startswith('--runner') for a in beam_args):
    beam_args.insert(0, '--runner=DirectRunner')
  try:
    with beam.Pipeline(options=PipelineOptions(beam_args)) as p:
      log = None
      if interactions:
        log = (p | 'Interactions' >> beam.Create([interactions])
               | 'ReadInteractions' >> beam.FlatMap(
                   _read_csv, [features_lib.ITEM_ID]))
      _ = (p | 'Items' >> beam.Create([items])
           | 'ReadItems' >> beam.FlatMap(_read_csv, [n for n, _ in features])
           | 'MutualInformation' >> beam_transforms.ComputeMutualInformation(
               features, top_k=top_k, num_buckets=num_buckets,
               weighting=weighting, interactions=log, params=params)
           | 'Write' >> beam.Map(beam_transforms.write_json, out))
  except schema_features.DataError as e:
    # Beam appends the failing step: keep the user's part of the message.
    raise UserError(f'{items}: ' + re.sub(r"\s*\[while running '.*$", '',
                                          str(e), flags=re.S)) from None
  with open(out) as f:
    return json.load(f)


def _print(result: Dict, top: int, file=None) -> None:
  from components.mutual_information import beam_transforms  # pylint: disable=g-import-not-at-top
  file = file or sys.stdout
  names = result['features']
  params = result['params']
  print(f"mutual information of {len(names)} features over "
        f"{result['num_items']} items (weighting {params['weighting']}, top_k "
        f"{params['top_k']}, {params['num_buckets']} numeric buckets)",
        file=file)
  # The id's MI with f is H(f) - H(f | item), known from the entropies: its
  # pairs would crowd the ranking without telling how features relate.
  ids = {n for n, k in params.get('kinds', {}).items()
         if k == features_lib.ID}
  ranked = [r for r in beam_transforms.ranked_pairs(result)
            if r[0] not in ids and r[1] not in ids]
  shown = ranked if top <= 0 else ranked[:top]
  width = max([len(n) for n in names] + [9])
  print(f"{'rank':>4}  {'feature a':<{width}}  {'feature b':<{width}}  "
        f"{'norm. MI':>8}  {'MI (nats)':>9}", file=file)
  for rank, (a, b, nmi, mi) in enumerate(shown, start=1):
    print(f'{rank:>4}  {a:<{width}}  {b:<{width}}  {nmi:8.4f}  {mi:9.4f}',
          file=file)
  if len(shown) < len(ranked):
    print(f'({len(ranked) - len(shown)} more pairs; --top 0 shows all)',
          file=file)
  if ids:
    print(f'({", ".join(sorted(ids))} not ranked: its MI with a feature f is '
          'H(f) minus the entropy of f within an item)', file=file)
  print('entropy (nats): ' + ', '.join(
      f'{n} {h:.3f}' for n, h in zip(names, result['entropy'])), file=file)


def _run(args: argparse.Namespace) -> int:
  if not args.verbose:
    # Beam logs a failing step's traceback; the error is reported once, below.
    logging.getLogger('apache_beam').setLevel(logging.CRITICAL)
  header = _header(args.items)
  if args.schemas:
    if args.multi_valued or args.numeric or args.text or args.ignore:
      raise UserError('give column kinds either by flags or by --schemas, '
                      'not both')
    features = _kinds_from_schemas(header, args.schemas)
  else:
    features = _kinds_from_flags(header, args)
  if args.no_item_id:
    features = [(n, k) for n, k in features if k != features_lib.ID]
  if args.top_k < 1 or args.num_buckets < 2:
    raise UserError(f'--top-k {args.top_k} / --num-buckets {args.num_buckets}: '
                    'top_k must be >= 1 and num_buckets >= 2')
  from components.mutual_information import counting  # pylint: disable=g-import-not-at-top
  out = args.out
  with tempfile.TemporaryDirectory() as tmp:
    target = out or os.path.join(tmp, counting.FILE_NAME)
    if out and os.path.dirname(os.path.abspath(out)):
      os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    result = compute(args.items, features, args.top_k, args.num_buckets,
                     target, args.interactions, shlex.split(args.beam_args))
  _print(result, args.top)
  if out:
    print(f'wrote {out}')
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      'mi', help='pairwise mutual information of the item features of a CSV',
      description='Computes the mutual information of every pair of item '
      'columns of ITEMS.csv (the MutualInformationGen computation, Beam '
      'DirectRunner) and prints the pairs ranked by normalized MI. Every '
      'column is categorical unless named by a kind flag; item_id is the id.')
  parser.add_argument('items', metavar='ITEMS.csv', help='items CSV with a '
                      'header row')
  parser.add_argument('--multi-valued', nargs='+', metavar='COL', default=[],
                      help="columns of values joined by '|'")
  parser.add_argument('--numeric', nargs='+', metavar='COL', default=[],
                      help='numeric columns (bucketized by quantiles)')
  parser.add_argument('--text', nargs='+', metavar='COL', default=[],
                      help='free-text columns (lower-cased words)')
  parser.add_argument('--ignore', nargs='+', metavar='COL', default=[],
                      help='columns to leave out')
  parser.add_argument('--schemas', metavar='NAME_OR_DIR',
                      help='take the kinds from an annotated schema folder '
                      '(items.pbtxt) instead of the flags')
  parser.add_argument('--no-item-id', action='store_true',
                      help='leave the item id out of the matrix')
  parser.add_argument('--interactions', metavar='CSV',
                      help="weight items by their rows in this CSV (its "
                      "item_id column): weighting 'log'")
  parser.add_argument('--top-k', type=int, default=100,
                      help='values kept per categorical feature (default 100)')
  parser.add_argument('--num-buckets', type=int, default=10,
                      help='quantile buckets per numeric feature (default 10)')
  parser.add_argument('--top', type=int, default=20,
                      help='pairs to print (default 20, 0 = all)')
  parser.add_argument('--out', metavar='FILE.json',
                      help='write the mutual_information.json here')
  parser.add_argument('--beam-args', default='',
                      help="Beam pipeline options, e.g. '--direct_num_workers"
                      "=2 --direct_running_mode=multi_processing'")
  parser.set_defaults(func=_run)

"""Issue 14 step 2: a vocabulary minimum count for near-unique item tokens.

Trains bench/quality.py's variants on a data folder whose Transforms ran with
`transform.vocab_min_count` MIN_COUNT (values on one item only are out of
vocabulary) and compares them, paired over users, with the same variants on
the folder as bench/quality.py prepares it (min count 1). The records go to
the work folder's valid.jsonl / results.jsonl like bench/quality.py's, with
data `<folder>_min<N>` (the folder's own prepared Transforms under
<work>/out/<folder>_min<N>/), so both scripts resume from them.

  python bench/quality_vocab.py valid  --work DIR --data kg_full_valid --variants sequence sequence+cfm [--seeds 0 1 2]
  python bench/quality_vocab.py run    --work DIR --data kg_full --variants sequence [--seeds 0 1 2 3 4]
  python bench/quality_vocab.py table  --work DIR --data kg_full_valid --pairs 'sequence@min:sequence' ...

`valid` reads a `<name>_valid` folder into valid.jsonl, `run` an eval folder
into results.jsonl (the min count 1 references come from bench/quality.py
`valid` / `run`). In `table`, `<variant>@min` is the variant on the min-count
folder, `<variant>` the one on the plain folder.
"""
import argparse
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from bench import quality
from bench import quality_stats
# pylint: enable=g-import-not-at-top,wrong-import-position

MIN_COUNT = 2
ON_MIN = '@min'  # a table variant's suffix: trained on the min-count folder
SLICES = ('overall', 'head', 'tail', 'cold', 'returning_users', 'light_users',
          'new_users')


def min_folder(data: str, min_count: int = MIN_COUNT) -> str:
  """The records' data name (and out/ folder) of `data` at `min_count`."""
  return f'{data}_min{min_count}'


def settings_data(data: str) -> str:
  """The folder whose tuned settings `data` trains with (a validation folder:
  the folder it is carved from, as bench/quality.py `valid` does)."""
  how, source = quality.FOLDERS[data]
  return source if how == 'valid' else data


def log_of(data: str) -> str:
  return quality.VALID_LOG if data.endswith('_valid') else 'results.jsonl'


def train(work: str, data: str, variants: Sequence[str],
          seeds: Sequence[int]) -> None:
  """`variants` x `seeds` on `data` with its Transforms at MIN_COUNT
  (prepared once under <work>/out/<min_folder>), with their tuned settings;
  appends to the folder's log (and the popularity row)."""
  from models.config import TransformConfig  # pylint: disable=g-import-not-at-top
  log = os.path.join(work, log_of(data))
  settings = quality.read_settings()
  name = min_folder(data)
  prepared = quality.prepare(
      work, [data], transform=TransformConfig(vocab_min_count=MIN_COUNT),
      tag=name[len(data):])[data]
  sessions = {name: quality.Session(prepared)}
  quality.run_one(sessions, work, log, name, quality.POPULAR, 0, {})
  for seed in seeds:
    for variant in variants:
      quality.run_one(
          sessions, work, log, name, variant, seed,
          quality.overrides_with(settings, settings_data(data), variant, {}))


def relabel(records: Sequence[Mapping[str, Any]], data: str
            ) -> List[Dict[str, Any]]:
  """The records of `data` and of its min-count folder, the latter renamed to
  `data` with variant `<variant>@min` (so bench/quality_stats pairs them)."""
  out = []
  for r in records:
    if r['data'] == data:
      out.append(dict(r))
    elif r['data'] == min_folder(data):
      out.append(dict(r, data=data, variant=r['variant'] + ON_MIN))
  return out


def parse_pair(text: str) -> Tuple[str, str]:
  variant, sep, reference = text.partition(':')
  if not sep or not variant or not reference:
    raise ValueError(f'--pairs {text!r}: expected VARIANT:REFERENCE')
  return variant, reference


def table_lines(records: Sequence[Mapping[str, Any]], data: str,
                pairs: Sequence[Tuple[str, str]]) -> List[str]:
  """A markdown table of Recall@50 differences (paired, on the seeds both
  have) and each variant's mean overall / tail / final SSL loss."""
  lines = quality_stats.delta_table(records, data, pairs, 'recall@50', SLICES,
                                    shared=True)
  lines.append('')
  for variant in dict.fromkeys(v for pair in pairs for v in pair):
    found = [r for r in records if r['data'] == data and r['variant'] == variant]
    if not found:
      continue
    recall = [r['metrics']['recall@50'] for r in found]
    ssl = [r['ssl_loss'] for r in found if r.get('ssl_loss') is not None]
    lines.append(
        f'- `{variant}`: overall {np.mean([m["overall"] for m in recall]):.3f}, '
        f'tail {np.mean([m["tail"] for m in recall]):.3f}'
        + (f', final SSL loss {np.mean(ssl):.2f}' if ssl else '')
        + f' ({len(found)} seeds)')
  return lines


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('command', choices=('valid', 'run', 'table'))
  parser.add_argument('--work', required=True)
  parser.add_argument('--data', required=True,
                      choices=sorted(quality.FOLDERS))
  parser.add_argument('--variants', nargs='+', default=['sequence'])
  parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
  parser.add_argument('--pairs', nargs='+', default=[],
                      help='table: VARIANT:REFERENCE (VARIANT@min = on the '
                      'min-count folder)')
  args = parser.parse_args(argv)
  valid_folder = args.data.endswith('_valid')
  if args.command in ('valid', 'run') and valid_folder != (
      args.command == 'valid'):
    parser.error(f'{args.command} needs '
                 + ('a _valid folder' if args.command == 'valid'
                    else 'an eval folder (not _valid)'))
  if args.command == 'table':
    pairs = [parse_pair(p) for p in args.pairs]
    records = relabel(quality.read_log(os.path.join(args.work,
                                                    log_of(args.data))),
                      args.data)
    print('\n'.join(table_lines(records, args.data, pairs)))
    return 0
  train(args.work, args.data, args.variants, args.seeds)
  return 0


if __name__ == '__main__':
  sys.exit(main())

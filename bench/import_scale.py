"""Memory and time of `sslrec data import` on a generated event log.

Writes an event log of --events events (user, item, ISO or epoch time, a
device column), an item table (title, genres, price, brand) and a user table
(age, city) as CSV or Parquet under --root (reused when the sizes match), runs
`sslrec data import` on them in a child process and prints its wall time,
CPU time and peak RSS (the child's ru_maxrss), plus the same for `--help` (the
interpreter and imports alone) so the part the events take is visible.

  .venv/bin/python bench/import_scale.py                       # 1M events, CSV
  .venv/bin/python bench/import_scale.py --events 100000 1000000 --format parquet
"""
import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_GENRES = ['action', 'comedy', 'drama', 'horror', 'romance', 'sci-fi',
           'documentary', 'animation']
_WORDS = ['night', 'story', 'return', 'city', 'last', 'big', 'dark', 'love',
          'river', 'king', 'game', 'house', 'summer', 'road', 'heart']


def _write(frame, path: str) -> None:
  if path.endswith('.parquet'):
    frame.to_parquet(path, index=False)
  else:
    frame.to_csv(path, index=False)


def generate(folder: str, events: int, items: int, users: int, fmt: str,
             seed: int = 0):
  """The three input files (written once per size and format)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  ext = '.parquet' if fmt == 'parquet' else '.csv'
  paths = [os.path.join(folder, f'{name}{ext}')
           for name in ('events', 'items', 'users')]
  if all(os.path.exists(p) for p in paths):
    return paths
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(seed)
  popularity = 1.0 / np.arange(1, items + 1)
  item_of_event = rng.choice(items, size=events, p=popularity / popularity.sum())
  _write(pd.DataFrame({
      'user_id': [f'u{u}' for u in rng.integers(0, users, events)],
      'item_id': [f'i{i}' for i in item_of_event],
      'timestamp': np.sort(rng.integers(1_600_000_000, 1_700_000_000,
                                        events)),
      'device': rng.choice(['mobile', 'web', 'tv'], events),
  }), paths[0])
  _write(pd.DataFrame({
      'item_id': [f'i{i}' for i in range(items)],
      'title': [' '.join(rng.choice(_WORDS, 3)) + f' {i}'
                for i in range(items)],
      'genres': ['|'.join(sorted(set(rng.choice(_GENRES, 2))))
                 for _ in range(items)],
      'price': np.round(rng.lognormal(2, 1, items), 2),
      'brand': [f'b{b}' for b in rng.integers(0, 300, items)],
  }), paths[1])
  _write(pd.DataFrame({
      'user_id': [f'u{u}' for u in range(users)],
      'age': rng.integers(18, 80, users),
      'city': [f'c{c}' for c in rng.integers(0, 500, users)],
  }), paths[2])
  return paths


def _measure(argv):
  """(wall s, CPU s, peak RSS MB) of one child process."""
  env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep +
             os.environ.get('PYTHONPATH', ''))
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.monotonic()
  subprocess.run([sys.executable, '-m', 'pipeline.cli'] + argv, check=True,
                 env=env, stdout=subprocess.DEVNULL)
  wall = time.monotonic() - start
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime +
                                              before.ru_stime)
  return wall, cpu, after.ru_maxrss / 1024


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--events', type=int, nargs='+', default=[1_000_000])
  parser.add_argument('--items', type=int, default=20_000)
  parser.add_argument('--users', type=int, default=50_000)
  parser.add_argument('--format', choices=('csv', 'parquet'), default='csv')
  parser.add_argument('--root', default=os.path.join('output', 'import_scale'))
  args = parser.parse_args()
  # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: the smallest
  # process goes first.
  wall, cpu, rss = _measure(['data', 'import', '--help'])
  print(f'{"run":<28} {"wall s":>7} {"CPU s":>7} {"peak RSS MB":>12}')
  print(f'{"interpreter + CLI (--help)":<28} {wall:7.1f} {cpu:7.1f} {rss:12.0f}')
  for events in sorted(args.events):
    folder = os.path.join(args.root, f'{events}-{args.items}-{args.users}')
    paths = generate(folder, events, args.items, args.users, args.format)
    out = os.path.join(folder, f'out-{args.format}')
    wall, cpu, rss = _measure(['data', 'import', '--events', paths[0],
                               '--items', paths[1], '--users', paths[2],
                               '--out', out, '--force'])
    size = os.path.getsize(paths[0]) / 2**20
    print(f'{f"{events:,} events ({args.format}, {size:.0f} MB)":<28} '
          f'{wall:7.1f} {cpu:7.1f} {rss:12.0f}')


if __name__ == '__main__':
  main()

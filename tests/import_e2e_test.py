"""End to end: an event log imported with `sslrec data import`, then
`sslrec run --data DIR` with no schema flag, and the evaluation read by TFMA.
"""
import glob
import os

import numpy as np
import pandas as pd
import pytest
import tensorflow_model_analysis as tfma

from pipeline import cli
from tests.support.fixtures import TINY_FLAGS

pytestmark = pytest.mark.e2e

_GENRES = ['action', 'comedy', 'drama', 'horror', 'romance']
_WORDS = ['night', 'story', 'return', 'city', 'last', 'big', 'dark', 'love',
          'river', 'king', 'game', 'house', 'summer', 'road', 'heart', 'sea']


def _event_log(folder):
  """A small shop: items with a title, genres and a price; users with an age;
  events with a device column; the items a user picks depend on genre."""
  rng = np.random.default_rng(4)
  folder.mkdir()
  items = pd.DataFrame({
      'sku': [f'p{i}' for i in range(80)],
      # Two words, one of them the item's own: tokens rarely repeat (text).
      'title': [f'{rng.choice(_WORDS)} {w}{i}' for i, w in
                enumerate(rng.choice(['mo', 'ka', 'zu', 'ri'], 80))],
      'genres': ['|'.join(sorted(set(rng.choice(_GENRES, 2))))
                 for _ in range(80)],
      'price': np.round(rng.lognormal(2, 1, 80), 2)})
  users = pd.DataFrame({'customer': [f'c{u}' for u in range(50)],
                        'age': rng.integers(18, 70, 50)})
  favourite = rng.choice(_GENRES, 50)
  rows = []
  for n in range(1500):
    user = int(rng.integers(50))
    liked = [i for i in range(80) if favourite[user] in items.genres[i]]
    item = int(rng.choice(liked if rng.random() < 0.7 else range(80)))
    rows.append((f'c{user}', f'p{item}',
                 pd.Timestamp(1_700_000_000 + 60 * n, unit='s').isoformat(),
                 rng.choice(['mobile', 'web'])))
  events = pd.DataFrame(rows, columns=['customer', 'sku', 'when', 'device'])
  paths = {'events': str(folder / 'events.parquet'),
           'items': str(folder / 'items.csv'),
           'users': str(folder / 'users.csv')}
  events.to_parquet(paths['events'], index=False)
  items.to_csv(paths['items'], index=False)
  users.to_csv(paths['users'], index=False)
  return paths


def test_import_then_run_with_no_other_flag(tmp_path, capsys):
  paths = _event_log(tmp_path / 'raw')
  data = str(tmp_path / 'shop')
  assert cli.main(['data', 'import', '--events', paths['events'],
                   '--items', paths['items'], '--users', paths['users'],
                   '--user-col', 'customer', '--item-col', 'sku',
                   '--time-col', 'when', '--out', data]) == 0
  printed = capsys.readouterr().out
  for line in ('title   items   text', 'genres  items   multi_valued',
               'price   items   numeric', 'device  events  categorical',
               'age     users   numeric'):
    assert line in printed, printed
  output = str(tmp_path / 'output')
  assert cli.main(['run', '--data', data, '--output', output]
                  + list(TINY_FLAGS)) == 0
  evaluations = glob.glob(os.path.join(output, 'pipeline',
                                       'RetrievalEvaluator', 'evaluation',
                                       '*'))
  assert len(evaluations) == 1
  result = tfma.load_eval_result(evaluations[0])
  overall = dict(result.slicing_metrics)[()]['']['']
  assert overall['example_count'] == {'doubleValue': 150.0}
  assert 'lowerBound' in overall['recall@10']['boundedValue']

"""Tests for pipeline/data/synthetic.py."""
import collections
import csv
import json
import os

import numpy as np
import pytest
from sklearn import metrics

from models import features
from pipeline.data import contract
from pipeline.data import synthetic
import schemas

FILES = (contract.ITEMS_CSV, contract.TRAIN_CSV, contract.EVAL_CSV,
         contract.DATASET_JSON)


def _rows(path):
  with open(path, encoding='utf-8', newline='') as f:
    return list(csv.DictReader(f))


@pytest.fixture(name='data', scope='module')
def _data(tmp_path_factory):
  """2000 items, 400 users, 20000 events; returns (items, events, info)."""
  out = tmp_path_factory.mktemp('synthetic') / 'ds'
  info = synthetic.generate(str(out), 2000, 400, 20000, seed=7)
  events = _rows(out / contract.TRAIN_CSV) + _rows(out / contract.EVAL_CSV)
  return _rows(out / contract.ITEMS_CSV), events, info, out


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
  def files(out):
    return [open(os.path.join(out, f), 'rb').read() for f in FILES]
  synthetic.generate(str(tmp_path / 'a'), 50, 20, 300, seed=3)
  synthetic.generate(str(tmp_path / 'b'), 50, 20, 300, seed=3)
  synthetic.generate(str(tmp_path / 'c'), 50, 20, 300, seed=4)
  assert files(tmp_path / 'a') == files(tmp_path / 'b')
  assert files(tmp_path / 'a')[0] != files(tmp_path / 'c')[0]


def test_contract_files_and_counts(data):
  items, events, info, out = data
  assert info == json.loads((out / contract.DATASET_JSON).read_text())
  assert (info['name'], info['schemas'], info['num_items']) == (
      'synthetic', 'synthetic', 2000)
  assert (info['num_train_events'], info['num_eval_events']) == (18000, 2000)
  assert info['num_users'] == len({e['user_id'] for e in events}) <= 400
  assert info['correlated_groups'] == [list(g) for g in
                                       synthetic.CORRELATED_GROUPS]
  config = features.load_feature_config(schemas.resolve('synthetic'))
  assert list(items[0]) == [c for c, _ in config.item_columns]
  assert list(events[0]) == [c for c, _ in config.interaction_columns]
  assert set(synthetic.ITEM_FEATURES) == set(
      config.item_feature_names[1:])
  assert set(synthetic.USER_FEATURES) < set(config.query_feature_names)
  # Typed like the schema: ints parse, prices are floats or missing.
  assert all(int(e['timestamp']) >= 0 and int(e['age']) > 0 for e in events)
  prices = [r['price'] for r in items]
  assert 0 < prices.count('') < 0.05 * len(items)
  assert all(float(p) > 0 for p in prices if p)
  assert all(1 <= len(r['tags'].split('|')) <= 3 for r in items)


def test_split_is_temporal_with_history(data):
  _, events, info, _ = data
  train, evaluation = (events[:info['num_train_events']],
                       events[info['num_train_events']:])
  assert max(int(e['timestamp']) for e in train) <= min(
      int(e['timestamp']) for e in evaluation)
  last = {}
  for e in events:  # history = previous items of the user, most recent first
    previous = last.setdefault(e['user_id'], [])
    assert e['history'] == '|'.join(previous[::-1][:50])
    previous.append(e['item_id'])


def _ami(items, a, b):
  """Mutual information adjusted for chance: 0 = independent, 1 = same."""
  return metrics.adjusted_mutual_info_score([r[a] for r in items],
                                            [r[b] for r in items])


def test_known_groups_are_dependent_and_the_rest_independent(data):
  items = data[0]
  for f in items:
    f['price_bin'] = '' if not f['price'] else str(int(np.log(float(
        f['price']))))
    f['tag00'] = str('tag00' in f['tags'].split('|'))
  grouped = [_ami(items, a, b) for a, b in synthetic.CORRELATED_GROUPS]
  categorical = ['country', 'language', 'category', 'subcategory', 'color',
                 'price_bin', 'tag00']
  in_group = {frozenset(g) for g in synthetic.CORRELATED_GROUPS}
  across = [_ami(items, a, b) for i, a in enumerate(categorical)
            for b in categorical[i + 1:] if frozenset((a, b)) not in in_group]
  assert min(grouped) > 0.5
  assert max(across) < 0.02


def test_popularity_has_a_long_tail(data):
  items, events, _, _ = data
  counts = sorted(collections.Counter(e['item_id'] for e in events).values(),
                  reverse=True)
  head = sum(counts[:len(items) // 10]) / len(events)
  assert head > 0.5  # top 10% of items take over half of the events
  assert counts[0] > 50 * np.median(counts)


def test_choices_depend_on_user_features(data):
  items, events, _, _ = data
  by_id = {r['item_id']: r for r in items}
  # Each segment favours two categories: they get far more than 2/6 of events.
  tied = {s: {synthetic.CATEGORIES[i % 6], synthetic.CATEGORIES[(i + 4) % 6]}
          for i, s in enumerate(synthetic.SEGMENTS)}
  share = np.mean([by_id[e['item_id']]['category'] in tied[e['segment']]
                   for e in events])
  assert share > 0.45
  # Young users favour en/ja, older ones es/pt.
  young = [by_id[e['item_id']]['language'] for e in events
           if int(e['age']) < 30]
  old = [by_id[e['item_id']]['language'] for e in events
         if int(e['age']) >= 50]

  def frac(languages, keys):
    return np.mean([l in keys for l in languages])
  assert frac(young, {'en', 'ja'}) > frac(old, {'en', 'ja'}) + 0.15
  assert frac(old, {'es', 'pt'}) > frac(young, {'es', 'pt'}) + 0.15


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_items=0), 'num_items'),
    (dict(num_events=1), 'num_events'),
    (dict(num_users=2.5), 'num_users'),
    (dict(eval_fraction=1.0), 'eval_fraction'),
    (dict(zipf_exponent=-1), 'zipf_exponent'),
])
def test_bad_arguments(tmp_path, kwargs, message):
  args = dict(num_items=10, num_users=5, num_events=50, seed=0)
  args.update(kwargs)
  with pytest.raises(ValueError, match=message):
    synthetic.generate(str(tmp_path / 'x'), **args)
  assert not os.listdir(tmp_path)

"""Evaluation of real tower SavedModels on real TFRecords vs a plain numpy brute force."""
import math

import numpy as np
import pytest

from components import tower_io
from tests.support import towers as test_towers
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import evaluation


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('eval'))
  data = test_towers.make_dataset(root)
  towers = test_towers.save_towers(root)
  return data, towers


def _expected(data, towers, ks, exclusion):
  """Independent numpy computation: full score matrix, rank by counting."""
  items = test_towers.all_rows(data['items'], 'corpus')
  train = test_towers.all_rows(data['interactions'], 'train')
  ev = test_towers.all_rows(data['interactions'], 'eval')
  item_ids = [i.decode() for i in items['item_id']]
  item_emb = test_towers.numpy_embed(towers['item_model'], [items])
  query_emb = test_towers.numpy_embed(towers['query_model'], [ev])
  scores = query_emb @ item_emb.T
  counts = {i: 0 for i in item_ids}
  for item in train['item_id']:
    counts[item.decode()] += 1
  seen_items = [i for i in item_ids if counts[i]]
  by_freq = sorted(seen_items, key=lambda i: (-counts[i], item_ids.index(i)))
  head = set(by_freq[:math.ceil(0.1 * len(by_freq))])
  ranks, slices = [], []
  for row in range(len(ev['item_id'])):
    user, target = ev['user_id'][row], ev['item_id'][row].decode()
    t = item_ids.index(target)
    excluded = set()
    if exclusion == 'serving':  # history + the user's train items
      named = {i.decode() for u, i in zip(train['user_id'], train['item_id'])
               if u == user} | set(ev['history'][row].decode().split('|'))
      excluded = {item_ids.index(i) for i in named if i in item_ids} - {t}
    better = [j for j in range(len(item_ids)) if j not in excluded and (
        scores[row, j] > scores[row, t] or
        (scores[row, j] == scores[row, t] and j < t))]
    ranks.append(len(better) + 1)
    slices.append('cold' if not counts[target] else
                  'head' if target in head else 'tail')
  ranks, slices = np.array(ranks), np.array(slices)
  out = {}
  for k in ks:
    for s in ('overall', 'head', 'tail', 'cold'):
      r = ranks if s == 'overall' else ranks[slices == s]
      out[(k, s)] = (np.mean(r <= k), np.mean(np.where(r <= k, 1 / r, 0)))
  return out, len(ranks)


@pytest.mark.parametrize('exclusion', ['serving', 'none'])
def test_metrics_match_numpy_brute_force(setup, exclusion):
  data, towers = setup
  corpus = evaluation.load_corpus(data['items'], data['interactions'],
                                  batch_size=7)
  got = evaluation.evaluate_models(
      towers['query_model'], towers['item_model'], data['interactions'],
      corpus, ks=[5, 10], exclusion=exclusion, query_batch_size=5,
      corpus_batch_size=8)
  expected, num_events = _expected(data, towers, [5, 10], exclusion)
  assert got['num_eval_events'] == num_events
  for (k, s), (recall, map_) in expected.items():
    assert got[f'recall@{k}'][s] == pytest.approx(recall), (k, s)
    assert got[f'map@{k}'][s] == pytest.approx(map_), (k, s)
  # All three slices have events in this data set.
  assert all(got['num_eval_events_by_slice'][s] > 0
             for s in ('head', 'tail', 'cold'))


def test_excluding_items_never_lowers_recall(setup):
  data, towers = setup
  corpus = evaluation.load_corpus(data['items'], data['interactions'])
  on = evaluation.evaluate_models(towers['query_model'], towers['item_model'],
                                  data['interactions'], corpus, ks=[10])
  off = evaluation.evaluate_models(towers['query_model'], towers['item_model'],
                                   data['interactions'], corpus, ks=[10],
                                   exclusion='none')
  assert on['recall@10']['overall'] > off['recall@10']['overall']


def test_eval_item_outside_the_corpus_is_an_error(tmp_path, setup):
  data, towers = setup
  test_towers.write_examples(
      str(tmp_path), 'corpus', [{'item_id': 'i0'}, {'item_id': 'i1'}],
      test_towers.ITEM_COLUMNS)
  corpus = evaluation.load_corpus(str(tmp_path), data['interactions'])
  with pytest.raises(ValueError, match=r"split 'eval' row \d+: item_id 'i\d+' "
                     'is not in the item corpus'):
    evaluation.evaluate_models(towers['query_model'], towers['item_model'],
                               data['interactions'], corpus, ks=[10])


def test_duplicate_corpus_item_is_an_error(tmp_path, setup):
  data, _ = setup
  test_towers.write_examples(
      str(tmp_path), 'corpus', [{'item_id': 'i0'}, {'item_id': 'i0'}],
      test_towers.ITEM_COLUMNS)
  with pytest.raises(ValueError, match=r"item_id 'i0' occurs twice \(rows 0 "
                     r'and 1\)'):
    evaluation.load_corpus(str(tmp_path), data['interactions'])


def test_towers_of_different_widths_are_rejected(tmp_path, setup):
  data, towers = setup
  test_towers.save_tower(str(tmp_path), test_towers.ITEM_COLUMNS, dim=5)
  corpus = evaluation.load_corpus(data['items'], data['interactions'])
  with pytest.raises(ValueError, match='embeds in 8 dims'):
    evaluation.evaluate(tower_io.load_tower(towers['query_model']),
                        tower_io.load_tower(str(tmp_path)),
                        data['interactions'], corpus, ks=[10])


def test_metrics_json_of_a_model_against_itself_has_zero_deltas(setup):
  data, towers = setup
  corpus = evaluation.load_corpus(data['items'], data['interactions'])
  ranking = evaluation.rank_models(towers['query_model'],
                                   towers['item_model'], data['interactions'],
                                   corpus, ks=[10])
  settings = bootstrap.Settings(samples=200, seed=1)
  content = evaluation.metrics_json(corpus, ranking, ranking, [10], settings)
  for name, cell in content['delta_ci95']['baseline']['recall@10'].items():
    assert cell is None or cell == {'delta': 0.0, 'ci95': [0.0, 0.0]}, name
  single = evaluation.evaluate_models(
      towers['query_model'], towers['item_model'], data['interactions'],
      corpus, ks=[10], bootstrap_settings=settings)
  assert single['ci95'] == content['ci95']  # same events, same weights
  assert single['recall@10'] == content['recall@10']

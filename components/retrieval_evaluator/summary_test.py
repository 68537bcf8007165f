"""Slices, per-user aggregates and the metrics.json dicts on hand-made rankings."""
import numpy as np
import pytest

from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import summary

approx = pytest.approx
# Corpus of 5 items by train count: i0 (10) is head, i1 (0) cold, i2 i3 i4
# tail; deciles [0, -1, 2, 5, 7].
POP = metrics.popularity(np.array([10, 0, 3, 3, 1]))
TARGETS = np.array([2, 4, 4, 2, 0, 1, 3])
RANKS = np.array([3, 5, 1, 1, 2, 0, 0])
USERS = ['a', 'b', 'a', 'c', 'd', 'e', 'a']
# d has no train event (new); returning by train events: b 1, c 2, a 5,
# e 9 -> light = the bottom half (b, c), heavy = the top 10%, ceil (e).
TRAIN_EVENTS = {'a': 5, 'b': 1, 'c': 2, 'e': 9, 'x': 100}
SETTINGS = bootstrap.Settings(samples=300, seed=0)


def _slices():
  return summary.event_slices(TARGETS, USERS, POP, TRAIN_EVENTS)


def test_event_slices_written_out():
  s = _slices()
  assert s.users == ['a', 'b', 'c', 'd', 'e']
  assert s.user_index.tolist() == [0, 1, 0, 2, 3, 4, 0]
  expected = {
      'overall': [1, 1, 1, 1, 1, 1, 1],
      'head': [0, 0, 0, 0, 1, 0, 0],
      'tail': [1, 1, 1, 1, 0, 0, 1],
      'cold': [0, 0, 0, 0, 0, 1, 0],
      'new_users': [0, 0, 0, 0, 1, 0, 0],
      'returning_users': [1, 1, 1, 1, 0, 1, 1],
      'light_users': [0, 1, 0, 1, 0, 0, 0],
      'heavy_users': [0, 0, 0, 0, 0, 1, 0],
  }
  assert list(s.masks) == list(summary.SLICES)
  assert {k: v.astype(int).tolist() for k, v in s.masks.items()} == expected
  assert s.decile.tolist() == [2, 7, 7, 2, 0, -1, 5]


def test_user_groups_order_by_train_events_then_id():
  # Returning: u1 (1), u3 (1), u0 (4), u4 (6), u5 (6); u2 is new. n = 5:
  # light = floor(2.5) = 2 (u1, u3: ties by id), heavy = ceil(0.5) = 1 (u5).
  groups = summary.user_groups(np.array([4, 1, 0, 1, 6, 6]),
                               ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'])
  assert groups['new_users'].tolist() == [0, 0, 1, 0, 0, 0]
  assert groups['returning_users'].tolist() == [1, 1, 0, 1, 1, 1]
  assert groups['light_users'].tolist() == [0, 1, 0, 1, 0, 0]
  assert groups['heavy_users'].tolist() == [0, 0, 0, 0, 0, 1]
  none = summary.user_groups(np.array([0, 0]), ['a', 'b'])
  assert not none['light_users'].any() and not none['heavy_users'].any()


def test_metrics_dict_by_item_and_user_slice_written_out():
  out = summary.metrics_dict(summary.user_totals(RANKS, _slices(), [3, 1]))
  assert list(out) == ['recall@1', 'map@1', 'recall@3', 'map@3', 'hr@10',
                       'ndcg@10', 'recall@50_by_decile', 'num_eval_events',
                       'num_eval_events_by_slice', 'n_events', 'n_users']
  # Hits@3 per event: [1, 0, 1, 1, 1, 0, 0].
  assert out['recall@3'] == {
      'overall': approx(4 / 7), 'head': 1.0, 'tail': approx(3 / 5),
      'cold': 0.0, 'new_users': 1.0, 'returning_users': approx(3 / 6),
      'light_users': approx(1 / 2), 'heavy_users': 0.0}
  # Hits@1: events 2 and 3 (users a, c).
  assert out['recall@1']['overall'] == approx(2 / 7)
  assert out['recall@1']['tail'] == approx(2 / 5)
  assert out['recall@1']['light_users'] == approx(1 / 2)
  # AP@3 per event: [1/3, 0, 1, 1, 1/2, 0, 0].
  assert out['map@3']['overall'] == approx((1 / 3 + 1 + 1 + 1 / 2) / 7)
  assert out['map@3']['returning_users'] == approx((1 / 3 + 1 + 1) / 6)
  assert out['map@3']['head'] == approx(0.5)
  assert out['recall@50_by_decile'] == [1.0, None, 1.0, None, None, 0.0,
                                        None, 1.0, None, None]
  # HR@10: ranks 1..10 hit ([1, 1, 1, 1, 1, 0, 0]); NDCG@10 per event:
  # 1/log2(rank + 1) = [1/2, 1/log2 6, 1, 1, 1/log2 3, 0, 0].
  assert out['hr@10']['overall'] == approx(5 / 7)
  assert out['hr@10']['cold'] == 0.0 and out['hr@10']['head'] == 1.0
  gains = np.array([0.5, 1 / np.log2(6), 1, 1, 1 / np.log2(3), 0, 0])
  assert out['ndcg@10']['overall'] == approx(gains.sum() / 7)
  assert out['ndcg@10']['tail'] == approx(
      (gains[0] + gains[1] + 1 + 1 + 0) / 5)
  assert out['ndcg@10']['new_users'] == approx(1 / np.log2(3))
  assert out['ndcg@10']['returning_users'] == approx(
      (gains[0] + gains[1] + 2) / 6)
  assert out['num_eval_events'] == 7
  assert out['n_events'] == {
      'overall': 7, 'head': 1, 'tail': 5, 'cold': 1, 'new_users': 1,
      'returning_users': 6, 'light_users': 2, 'heavy_users': 1}
  assert out['num_eval_events_by_slice'] == out['n_events']
  assert out['n_users'] == {
      'overall': 5, 'head': 1, 'tail': 3, 'cold': 1, 'new_users': 1,
      'returning_users': 4, 'light_users': 2, 'heavy_users': 1}


def test_a_slice_without_events_is_none_and_has_no_interval():
  pop = metrics.popularity(np.array([4, 2]))
  totals = summary.user_totals(np.array([1]), summary.event_slices(
      np.array([0]), ['u'], pop, {'u': 3}), [10])
  (samples,) = bootstrap.sample_ratios([totals.values], totals.events,
                                       SETTINGS)
  out = summary.metrics_dict(totals, samples)
  assert out['recall@10']['cold'] is None and out['recall@10']['tail'] is None
  assert out['recall@10']['head'] == 1.0
  assert out['ci95']['recall@10']['cold'] is None
  assert out['ci95']['recall@10']['head'] == [1.0, 1.0]  # one user, a hit


def _popularity_ranks():
  return np.array([1, 2, 4, 3, 1, 2, 5])


def test_metrics_json_layout_intervals_and_deltas():
  slices = _slices()
  cand = summary.user_totals(RANKS, slices, [3])
  pop = summary.user_totals(_popularity_ranks(), slices, [3])
  content = summary.metrics_json(cand, None, pop, SETTINGS)
  assert list(content) == [
      'recall@3', 'map@3', 'hr@10', 'ndcg@10', 'recall@50_by_decile',
      'num_eval_events', 'num_eval_events_by_slice', 'n_events', 'n_users',
      'ci95', 'baseline',
      'popularity', 'delta_ci95', 'bootstrap']
  assert content['baseline'] is None
  assert content['delta_ci95']['baseline'] is None
  assert content['bootstrap'] == {'unit': 'user', 'samples': 300, 'seed': 0,
                                  'level': 0.95}
  assert content['popularity'] == summary.metrics_json(
      pop, None, pop, SETTINGS)['popularity']
  for model in (content, content['popularity']):
    for key in ('recall@3', 'map@3', 'hr@10', 'ndcg@10'):
      for name, value in model[key].items():
        low, high = model['ci95'][key][name]
        assert low <= value <= high, (key, name)
  # Popularity hits@3: [1, 1, 0, 1, 1, 1, 0] -> 5/7; candidate 4/7.
  delta = content['delta_ci95']['popularity']['recall@3']['overall']
  assert delta['delta'] == approx(4 / 7 - 5 / 7)
  assert delta['ci95'][0] <= delta['delta'] <= delta['ci95'][1]
  # NDCG@10: popularity ranks [1, 2, 4, 3, 1, 2, 5] vs the candidate's.
  ndcg = lambda r: np.where((r >= 1) & (r <= 10),
                            1 / np.log2(np.maximum(r, 1) + 1), 0).mean()
  delta = content['delta_ci95']['popularity']['ndcg@10']['overall']
  assert delta['delta'] == approx(ndcg(RANKS) - ndcg(_popularity_ranks()))
  # Same seed, same file.
  assert summary.metrics_json(cand, None, pop, SETTINGS) == content


def test_a_baseline_identical_to_the_candidate_has_zero_deltas():
  slices = _slices()
  cand = summary.user_totals(RANKS, slices, [3])
  pop = summary.user_totals(_popularity_ranks(), slices, [3])
  content = summary.metrics_json(cand, cand, pop, SETTINGS)
  assert content['baseline']['recall@3'] == content['recall@3']
  assert content['baseline']['ci95'] == content['ci95']
  for key in ('recall@3', 'map@3'):
    for name, cell in content['delta_ci95']['baseline'][key].items():
      assert cell == {'delta': 0.0, 'ci95': [0.0, 0.0]}, (key, name)


def test_models_on_different_events_are_not_compared():
  cand = summary.user_totals(RANKS, _slices(), [3])
  other = summary.user_totals(RANKS, summary.event_slices(
      TARGETS, ['z'] * 7, POP, TRAIN_EVENTS), [3])
  with pytest.raises(ValueError, match='different events'):
    summary.metrics_json(cand, other, cand, SETTINGS)


def test_user_totals_round_trip_through_a_dict():
  totals = summary.user_totals(RANKS, _slices(), [3])
  back = summary.UserTotals.from_dict(totals.to_dict())
  assert back.columns == totals.columns and back.users == totals.users
  np.testing.assert_array_equal(back.values, totals.values)
  np.testing.assert_array_equal(back.events, totals.events)
  part = totals.select([('recall@3', 'overall'), ('recall@3', 'tail')])
  assert part.values[:, 0].tolist() == [2, 0, 1, 1, 0]  # a: events 0, 2

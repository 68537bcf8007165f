"""Tests of the quality benchmark's statistics on hand-made per-user results."""
import numpy as np
import pytest

from bench import quality_stats
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import summary

# 5 items by train count: i0 head, i1 cold, i2 i3 i4 tail.
POP = metrics.popularity(np.array([10, 0, 3, 3, 1]))
TARGETS = np.array([2, 4, 4, 2, 0, 1, 3])
USERS = ['a', 'b', 'a', 'c', 'd', 'e', 'a']
TRAIN_EVENTS = {'a': 5, 'b': 1, 'c': 2, 'e': 9}
SLICES = summary.event_slices(TARGETS, USERS, POP, TRAIN_EVENTS)
SETTINGS = bootstrap.Settings(samples=200, seed=0)


def _record(variant, seed, ranks, data='d'):
  totals = summary.user_totals(np.array(ranks), SLICES, [10, 50, 100])
  return {'data': data, 'variant': variant, 'seed': seed,
          'metrics': summary.metrics_dict(totals),
          'user_totals': totals.select(quality_stats.COLUMNS).to_dict()}


def test_pair_delta_pools_seeds_then_differences():
  # Variant a: hits@50 [1,1,1,1,1,0,0] with seed 0, [1,0,1,1,1,0,0] seed 1;
  # b: [0,0,1,1,1,0,0]. Pooled over seeds a hits 4.5 of 7, b 3 of 7.
  results = [_record('a', 0, [3, 5, 1, 1, 2, 0, 0]),
             _record('a', 1, [3, 0, 1, 1, 2, 0, 0]),
             _record('b', 0, [0, 0, 1, 1, 2, 0, 0])]
  deltas = quality_stats.pair_delta(results, 'd', 'a', 'b', SETTINGS)
  value, (low, high) = deltas[('recall@50', 'overall')]
  assert value == pytest.approx(1.5 / 7)
  assert low <= value <= high
  # The tail events (0, 1, 2, 3, 6): a 3.5 of 5, b 2 of 5.
  assert deltas[('recall@50', 'tail')][0] == pytest.approx(1.5 / 5)
  # NDCG@10 is in the columns too.
  ndcg = lambda r: np.where(r > 0, 1 / np.log2(np.maximum(r, 1) + 1), 0)
  a = (ndcg(np.array([3, 5, 1, 1, 2, 0, 0])) +
       ndcg(np.array([3, 0, 1, 1, 2, 0, 0]))) / 2
  b = ndcg(np.array([0, 0, 1, 1, 2, 0, 0]))
  assert deltas[('ndcg@10', 'overall')][0] == pytest.approx((a - b).mean())
  assert quality_stats.pair_delta(results, 'd', 'a', 'missing') == {}


def test_a_variant_against_itself_is_zero_and_not_real():
  results = [_record('a', 0, [3, 5, 1, 1, 2, 0, 0]),
             _record('b', 0, [3, 5, 1, 1, 2, 0, 0])]
  delta = quality_stats.pair_delta(results, 'd', 'a', 'b', SETTINGS)[
      ('recall@50', 'overall')]
  assert delta == (0.0, (0.0, 0.0))
  assert not quality_stats.is_real(delta)
  assert quality_stats.delta_cell(delta) == '+0.0000 [+0.0000, +0.0000]'


def test_delta_cell_marks_an_interval_that_excludes_zero():
  assert quality_stats.delta_cell((0.1, (0.05, 0.2))) == (
      '+0.1000 [+0.0500, +0.2000]*')
  assert quality_stats.delta_cell((-0.1, (-0.2, 0.01))) == (
      '-0.1000 [-0.2000, +0.0100]')
  assert quality_stats.delta_cell(None) == '–'


def test_delta_table_has_a_row_per_present_pair_and_every_slice():
  results = [_record('cfm', 0, [3, 5, 1, 1, 2, 0, 0]),
             _record('none', 0, [0, 0, 1, 1, 2, 0, 0]),
             _record('popular', 0, [1, 2, 4, 3, 1, 2, 5])]
  lines = quality_stats.delta_table(
      results, 'd', [('cfm', 'none'), ('rfm', 'none'), ('cfm', 'popular')],
      'recall@50')
  assert lines[0] == '| difference | ' + ' | '.join(summary.SLICES) + ' |'
  assert [line.split(' | ')[0] for line in lines[2:]] == [
      '| cfm − none', '| cfm − popular']
  # cfm - none overall: 2 more hits of 7 events.
  assert lines[2].split(' | ')[1].startswith(f'{2 / 7:+.4f} [')


def test_seeds_on_other_events_are_an_error():
  other = dict(_record('a', 1, [3, 5, 1, 1, 2, 0, 0]))
  totals = summary.UserTotals.from_dict(other['user_totals'])
  other['user_totals'] = summary.UserTotals(
      totals.columns, totals.users, totals.values, totals.events * 2).to_dict()
  with pytest.raises(ValueError, match='different events'):
    quality_stats.pooled_totals([_record('a', 0, [3, 5, 1, 1, 2, 0, 0]),
                                 other], 'd', 'a')

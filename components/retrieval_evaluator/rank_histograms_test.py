"""Rank histograms merge exactly and give summary.user_totals' aggregates."""
import numpy as np
import pytest

from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import rank_histograms
from components.retrieval_evaluator import summary

KS = [1, 3, 10]
DEPTH = rank_histograms.depth(KS)


def _events(seed=0, num_events=300, num_items=40, num_users=25):
  rng = np.random.default_rng(seed)
  counts = rng.integers(0, 5, num_items)
  counts[:5] = 0  # cold items
  pop = metrics.popularity(counts)
  users = [f'u{u}' for u in rng.integers(0, num_users, num_events)]
  targets = rng.integers(0, num_items, num_events)
  ranks = rng.integers(0, DEPTH + 20, num_events)  # some beyond the depth
  train = {f'u{u}': int(rng.integers(0, 6)) for u in range(num_users)}
  return users, targets, ranks, pop, train


def test_totals_equal_summary_user_totals():
  users, targets, ranks, pop, train = _events()
  got = rank_histograms.ranking_totals(users, targets, ranks, pop, train, KS)
  clipped = np.where(ranks > DEPTH, 0, ranks)
  expected = summary.user_totals(
      clipped, summary.event_slices(targets, users, pop, train), KS)
  assert got.columns == expected.columns
  assert got.users == expected.users  # first-event order
  np.testing.assert_array_equal(got.events, expected.events)
  np.testing.assert_allclose(got.values, expected.values, rtol=1e-12)
  assert (got.values > 0).any() and (got.events > 0).any()


def test_any_partition_merged_in_any_order_gives_the_same_totals():
  users, targets, ranks, pop, train = _events(seed=1)
  kinds = rank_histograms.item_kinds(pop)[targets]
  positions = np.arange(len(ranks))
  whole = rank_histograms.ranking_totals(users, targets, ranks, pop, train,
                                         KS)
  rng = np.random.default_rng(2)
  for _ in range(3):
    cuts = np.sort(rng.choice(np.arange(1, len(ranks)), 6, replace=False))
    parts = [rank_histograms.Histogram.of_events(
        [users[i] for i in idx], positions[idx], kinds[idx], ranks[idx],
        DEPTH) for idx in np.split(positions, cuts)]
    rng.shuffle(parts)
    merged = rank_histograms.Histogram.merge(
        [rank_histograms.Histogram.merge(parts[:3]),
         rank_histograms.Histogram.merge(parts[3:])])
    assert merged.num_events == len(ranks)
    got = rank_histograms.user_totals(merged, train, KS)
    assert got.users == whole.users
    np.testing.assert_array_equal(got.values, whole.values)  # bit-identical
    np.testing.assert_array_equal(got.events, whole.events)


def test_bad_inputs_are_named():
  users, targets, ranks, pop, train = _events()
  kinds = rank_histograms.item_kinds(pop)[targets]
  with pytest.raises(ValueError, match='for 300 ranks'):
    rank_histograms.Histogram.of_events(users[:-1], np.arange(300), kinds,
                                        ranks, DEPTH)
  with pytest.raises(ValueError, match='ranks must be >= 0'):
    rank_histograms.Histogram.of_events(users, np.arange(300), kinds,
                                        -np.ones(300, np.int64), DEPTH)
  small = rank_histograms.Histogram.of_events(users, np.arange(300), kinds,
                                              ranks, 5)
  with pytest.raises(ValueError, match='need depth'):
    rank_histograms.user_totals(small, train, KS)
  with pytest.raises(ValueError, match='different depths'):
    rank_histograms.Histogram.merge([small, rank_histograms.Histogram.empty(
        DEPTH)])

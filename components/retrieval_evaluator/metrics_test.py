"""Metric math on hand-made cases: a corpus of 5 items with known rankings."""
import numpy as np
import pytest

from components.retrieval_evaluator import metrics

# Item embeddings = identity, so query q scores item j with q[j].
ITEMS = np.eye(5, dtype=np.float32)
QUERIES = np.array([
    [0.9, 0.1, 0.5, 0.3, 0.7],  # ranking i0 i4 i2 i3 i1; target i2 -> rank 3
    [0.2, 0.8, 0.6, 0.4, 0.0],  # ranking i1 i2 i3 i0 i4; target i4 -> rank 5
    [0.1, 0.2, 0.3, 0.4, 0.5],  # ranking i4 i3 i2 i1 i0; target i4 -> rank 1
    [0.9, 0.1, 0.5, 0.3, 0.7],  # as q0, but i0 and i4 were seen: i2 -> rank 1
], dtype=np.float32)
TARGETS = np.array([2, 4, 4, 2])


def _exclusions():
  return metrics.Exclusions.from_seen(
      ['u0', 'u1', 'u2', 'u3'],
      {'u3': np.array([0, 4]), 'u1': np.array([4, 1])},  # u1's target kept
      TARGETS)


@pytest.mark.parametrize('batch_size', [5, 2, 1])
def test_ranks_on_five_items_streamed_in_batches(batch_size):
  batches = [ITEMS[i:i + batch_size] for i in range(0, 5, batch_size)]
  ranks = metrics.rank_targets(QUERIES, batches, TARGETS, depth=5,
                               exclusions=_exclusions(), query_block=3)
  # q1: i1 is excluded (seen), i4 is its own target and stays: i2 i3 i0 i4.
  assert list(ranks) == [3, 4, 1, 1]


def test_recall_and_map_written_out():
  ranks = metrics.rank_targets(QUERIES, [ITEMS], TARGETS, depth=5)
  assert list(ranks) == [3, 5, 1, 3]  # nothing excluded: q3 ranks like q0
  assert metrics.recall_at_k(ranks, 1) == pytest.approx(1 / 4)
  assert metrics.recall_at_k(ranks, 3) == pytest.approx(3 / 4)
  # MAP@3 = (1/3 + 0 + 1 + 1/3) / 4; MAP@5 = (1/3 + 1/5 + 1 + 1/3) / 4.
  assert metrics.map_at_k(ranks, 3) == pytest.approx(0.4166667)
  assert metrics.map_at_k(ranks, 5) == pytest.approx(0.4666667)
  # With the seen items excluded the ranks are [3, 4, 1, 1]:
  # Recall@1 = 2/4; MAP@5 = (1/3 + 1/4 + 1 + 1) / 4.
  ranks = metrics.rank_targets(QUERIES, [ITEMS], TARGETS, depth=5,
                               exclusions=_exclusions())
  assert metrics.recall_at_k(ranks, 1) == pytest.approx(2 / 4)
  assert metrics.map_at_k(ranks, 5) == pytest.approx(0.6458333)
  assert metrics.recall_at_k(np.array([]), 3) is None


def test_hit_rate_and_ndcg_against_numpy_written_out():
  ranks = np.array([1, 2, 3, 10, 11, 0, 7])
  # NDCG@10 with one held-out item: DCG = 1/log2(rank + 1), ideal DCG = 1.
  gains = np.array([1.0, 1 / np.log2(3), 1 / np.log2(4), 1 / np.log2(11),
                    0.0, 0.0, 1 / np.log2(8)])
  assert metrics.ndcg_at_k(ranks, 10) == pytest.approx(gains.mean())
  assert metrics.hit_rate_at_k(ranks, 10) == pytest.approx(5 / 7)
  assert metrics.hit_rate_at_k(ranks, 10) == metrics.recall_at_k(ranks, 10)
  assert metrics.ndcg_at_k(ranks, 2) == pytest.approx(
      (1 + 1 / np.log2(3)) / 7)
  # The ranks of the five-item corpus: [3, 5, 1, 3] -> NDCG@3.
  ranks = metrics.rank_targets(QUERIES, [ITEMS], TARGETS, depth=5)
  assert metrics.ndcg_at_k(ranks, 3) == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)
  assert metrics.ndcg_at_k(np.array([]), 10) is None
  assert metrics.hit_rate_at_k(np.array([]), 10) is None


def test_event_values_of_an_unknown_metric_is_one_clear_error():
  with pytest.raises(ValueError, match="unknown metric key 'mrr@10'"):
    metrics.event_values(np.array([1]), 'mrr@10')


def test_rank_beyond_depth_is_a_miss():
  ranks = metrics.rank_targets(QUERIES, [ITEMS[:3], ITEMS[3:]], TARGETS,
                               depth=2)
  assert list(ranks) == [0, 0, 1, 0]


def test_ties_are_broken_by_corpus_order_across_batches():
  queries = np.array([[0.5] * 5, [0.5] * 5], np.float32)
  for batch_size in (5, 2, 1):
    top = metrics.TopK(queries, k=3)
    for i in range(0, 5, batch_size):
      top.add(ITEMS[i:i + batch_size])
    assert top.indices.tolist() == [[0, 1, 2], [0, 1, 2]]
  ranks = metrics.rank_targets(queries, [ITEMS], np.array([3, 1]), depth=3)
  assert list(ranks) == [0, 2]


def test_batch_top_k_redoes_rows_with_a_tie_at_the_kth_place():
  scores = np.array([[1.0, 0.5, 0.5, 0.5, 0.5, 0.0]], np.float32)
  values, indices = metrics.batch_top_k(scores, 3, offset=10)
  assert indices.tolist() == [[10, 11, 12]]
  assert values.tolist() == [[1.0, 0.5, 0.5]]


def test_streamed_top_k_equals_full_sort_with_random_exclusions():
  rng = np.random.default_rng(7)
  queries = rng.normal(size=[37, 4]).astype(np.float32)
  items = rng.normal(size=[103, 4]).astype(np.float32)
  items[50] = items[20]  # an exact tie
  rows = rng.integers(0, 37, size=200)
  cols = rng.integers(0, 103, size=200)
  top = metrics.TopK(queries, k=9, exclusions=metrics.Exclusions(rows, cols),
                     query_block=8)
  for i in range(0, 103, 16):
    top.add(items[i:i + 16])
  scores = queries @ items.T
  scores[rows, cols] = -np.inf
  expected = np.array([np.lexsort((np.arange(103), -s))[:9] for s in scores])
  np.testing.assert_array_equal(top.indices, expected)
  np.testing.assert_allclose(
      top.scores, np.take_along_axis(scores, expected, 1), rtol=1e-6)


def test_popularity_slices_and_deciles():
  # Seen items by count: i0 (10), i2 (3), i3 (3, after i2 by corpus order),
  # i4 (1); head = ceil(10% of 4) = 1 item; i1 is cold.
  pop = metrics.popularity(np.array([10, 0, 3, 3, 1]))
  assert list(pop.slice_of_item) == ['head', 'cold', 'tail', 'tail', 'tail']
  # Decile of the p-th most popular of n seen items = p * 10 // n.
  assert list(pop.decile_of_item) == [0, -1, 2, 5, 7]


def _brute_force_popularity_rank(counts, target, excluded):
  """Position of target in the corpus sorted by (-count, index), minus the excluded."""
  ranking = sorted((j for j in range(len(counts)) if j not in excluded),
                   key=lambda j: (-counts[j], j))
  return ranking.index(target) + 1


def test_popularity_ranks_match_a_brute_force_sort():
  rng = np.random.default_rng(11)
  counts = rng.integers(0, 4, size=40)  # many ties
  targets = rng.integers(0, 40, size=25)
  users = [f'u{q % 7}' for q in range(25)]
  seen = {f'u{u}': np.unique(rng.integers(0, 40, size=6)) for u in range(6)}
  exclusions = metrics.Exclusions.from_seen(users, seen, targets)
  got = metrics.popularity_ranks(counts, targets, exclusions)
  for q, target in enumerate(targets):
    excluded = set(seen.get(users[q], [])) - {target}
    assert got[q] == _brute_force_popularity_rank(counts, target, excluded), q
  # Without exclusions: the global position.
  plain = metrics.popularity_ranks(counts, targets)
  assert list(plain) == [_brute_force_popularity_rank(counts, t, set())
                         for t in targets]


def test_popularity_ranks_equal_a_model_scoring_items_by_count():
  # The same ranking through TopK: a 1-d "embedding" = the train count.
  counts = np.array([3, 0, 5, 3, 1, 5], np.int64)
  targets = np.array([0, 3, 1, 2])
  exclusions = metrics.Exclusions(np.array([1, 1, 3]), np.array([2, 0, 5]))
  via_topk = metrics.rank_targets(np.ones([4, 1], np.float32),
                                  [counts[:, None].astype(np.float32)],
                                  targets, depth=6, exclusions=exclusions)
  got = metrics.popularity_ranks(counts, targets, exclusions)
  # Order i2 i5 i0 i3 i4 i1; q1 loses i2 and i0 ahead of its i3; q3's
  # excluded i5 is below its target i2 and changes nothing.
  assert list(got) == [3, 2, 6, 1]
  assert list(got) == list(via_topk)


@pytest.mark.parametrize('ks', [[], [0, 10], [10, 10], [2.5]])
def test_bad_ks_are_rejected(ks):
  with pytest.raises(ValueError, match='ks'):
    metrics.check_ks(ks)


def test_item_embeddings_of_the_wrong_width_are_rejected():
  top = metrics.TopK(QUERIES, k=2)
  with pytest.raises(ValueError, match=r'\[batch, 5\]'):
    top.add(np.ones([3, 4], np.float32))


def test_top_k_scores_k_intentions_by_their_max():
  rng = np.random.default_rng(3)
  intentions = rng.normal(size=(4, 2, 3)).astype(np.float32)  # [n, K, d]
  items = rng.normal(size=(9, 3)).astype(np.float32)
  expected = np.maximum(intentions[:, 0] @ items.T, intentions[:, 1] @ items.T)
  np.testing.assert_allclose(metrics.query_item_scores(intentions, items),
                             expected, rtol=1e-6)
  top = metrics.TopK(intentions, k=9)
  top.add(items[:4])
  top.add(items[4:])
  np.testing.assert_array_equal(top.indices, np.argsort(-expected, axis=1))

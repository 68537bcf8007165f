"""Counting ranks equals metrics.rank_targets (the running top-k) on hard cases."""
import numpy as np
import pytest

from components.retrieval_evaluator import count_ranks
from components.retrieval_evaluator import metrics


def _case(seed, num_queries=37, num_items=203, d=6, intentions=0,
          quantized=False):
  rng = np.random.default_rng(seed)
  shape = (num_queries, intentions, d) if intentions else (num_queries, d)
  if quantized:  # small integers: exact dot products, many exact ties
    queries = rng.integers(-2, 3, shape).astype(np.float32)
    items = rng.integers(-2, 3, (num_items, d)).astype(np.float32)
  else:
    queries = rng.normal(size=shape).astype(np.float32)
    items = rng.normal(size=(num_items, d)).astype(np.float32)
  items[rng.integers(0, num_items, 3)] = np.nan  # NaN items rank last
  targets = rng.integers(0, num_items, num_queries)
  rows = rng.integers(0, num_queries, 300)
  excluded = rng.integers(0, num_items, 300)
  keep = excluded != targets[rows]
  exclusions = metrics.Exclusions(rows[keep], excluded[keep])
  return queries, items, targets, exclusions


def _expected(queries, items, targets, depth, exclusions, block, batch):
  return metrics.rank_targets(
      queries, (items[i:i + batch] for i in range(0, len(items), batch)),
      targets, depth, exclusions, query_block=block)


@pytest.mark.parametrize('seed,intentions,quantized', [
    (0, 0, False), (1, 0, True), (2, 3, False), (3, 3, True)])
@pytest.mark.parametrize('depth', [5, 60, 500])
def test_counting_equals_the_running_top_k(seed, intentions, quantized,
                                           depth):
  queries, items, targets, exclusions = _case(seed, intentions=intentions,
                                              quantized=quantized)
  for ex in (exclusions, None):
    expected = _expected(queries, items, targets, depth, ex, 10, 17)
    got = count_ranks.rank_targets(queries, items, targets, depth, ex,
                                   query_block=10, corpus_batch_size=17)
    np.testing.assert_array_equal(got, expected)
    if depth >= 60:
      assert (got > 0).any()  # targets within the depth
    if depth <= 60:
      assert (got == 0).any()  # and targets beyond it


def test_a_nan_target_is_a_miss_as_in_the_top_k():
  queries, items, targets, _ = _case(4)
  items[targets[0]] = np.nan
  got = count_ranks.rank_targets(queries, items, targets, 500)
  assert got[0] == 0
  np.testing.assert_array_equal(
      got, _expected(queries, items, targets, 500, None, 1024, 4096))


def test_rows_outside_the_margin_are_ranked_again(monkeypatch):
  monkeypatch.setattr(count_ranks, '_MARGIN_ULPS', -1.0)  # every row misses
  queries, items, targets, exclusions = _case(5, quantized=True)
  got = count_ranks.rank_targets(queries, items, targets, 60, exclusions,
                                 query_block=8, corpus_batch_size=50)
  np.testing.assert_array_equal(
      got, _expected(queries, items, targets, 60, exclusions, 8, 50))


def test_bad_shapes_are_named():
  queries, items, targets, _ = _case(6)
  with pytest.raises(ValueError, match='item embeddings must be'):
    count_ranks.rank_targets(queries, items[:, :2], targets, 10)
  with pytest.raises(ValueError, match='targets for'):
    count_ranks.rank_targets(queries, items, targets[:-1], 10)
  with pytest.raises(ValueError, match='corpus indices'):
    count_ranks.rank_targets(queries, items, targets + 1000, 10)


def _previous_ranks(queries, items, targets, depth, exclusions):
  """The ranks before the BLAS scoring: einsum scores, NaN and excluded items
  -inf, rank = 1 + better items (ties by the lower index), 0 beyond depth."""
  if queries.ndim == 3:
    scores = np.einsum('nkd,md->nkm', queries, items).max(axis=1)
  else:
    scores = queries @ items.T
  scores[np.isnan(scores)] = -np.inf
  if exclusions is not None:
    scores[exclusions.rows, exclusions.items] = -np.inf
  own = scores[np.arange(len(targets)), targets][:, None]
  index = np.arange(items.shape[0])[None, :]
  better = (scores > own) | ((scores == own) & (index < targets[:, None]))
  ranks = 1 + better.sum(axis=1)
  ranks[np.isneginf(own[:, 0]) | (ranks > depth)] = 0
  return ranks


@pytest.mark.parametrize('intentions', [0, 1, 4])
def test_ranks_equal_the_previous_implementation(intentions):
  queries, items, targets, exclusions = _case(
      intentions, num_queries=300, num_items=2000, d=64,
      intentions=intentions)
  # Unit vectors, as the towers embed.
  items /= np.linalg.norm(items, axis=1, keepdims=True)
  queries /= np.linalg.norm(queries, axis=-1, keepdims=True)
  for ex in (exclusions, None):
    expected = _previous_ranks(queries, items, targets, 100, ex)
    got = count_ranks.rank_targets(queries, items, targets, 100, ex,
                                   query_block=128, corpus_batch_size=512)
    np.testing.assert_array_equal(got, expected)
    assert (got > 0).any() and (got == 0).any()

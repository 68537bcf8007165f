"""Retrieval metrics over the whole item corpus, by popularity slice (pure numpy).

Protocol: every eval event is one query (its query features) with one relevant
item (its `item_id`). The query is scored against every corpus item by exact
brute force (dot product of the L2-normalized tower embeddings); the corpus is
streamed in batches and a running top-k is merged, so memory is
O(num_queries * k + query_block * corpus_batch), not O(corpus).

- rank: 1-based position of the event's item in the query's ranking; ties are
  broken by the lower corpus index. An event whose item ranks below the depth
  of the top-k kept has rank 0 (a miss at every K reported).
- Recall@K: fraction of events whose item ranks <= K (one relevant item per
  event, so this is also the hit rate).
- MAP@K: mean over events of AP@K; with one relevant item AP@K = 1/rank when
  rank <= K, else 0.
- HR@K and NDCG@K (reported at K = LITERATURE_K = 10, for comparability with
  the leave-last-out literature): one held-out item per event, so HR@K = the
  fraction of events whose item ranks <= K (the same number as Recall@K) and
  NDCG@K = mean over events of 1/log2(rank + 1) when rank <= K, else 0 (the
  ideal DCG of one relevant item is 1).
- Excluded items (by default the user's items in the train split, except the
  event's own item, which is never excluded) are removed from the ranking: they
  neither take a top-k slot nor push the relevant item down.
- Slices, by the event's item and its frequency in the train split:
  head = the top 10% (ceil) of the items seen in training, most frequent first
  (ties by corpus order); tail = the other items seen in training;
  cold = items never seen in training. Deciles split the seen items the same
  way into 10 equal groups (decile 0 = head); cold items are in no decile.
  A slice with no eval event has the value None (null in JSON).
- Popularity baseline: every query ranks the corpus by train-split frequency
  (`popularity_ranks`), with the same exclusions.
User slices, intervals and the metrics.json layout: `summary.py`.
"""
import dataclasses
import math
from typing import Iterable, List, Mapping, Optional, Sequence

import numpy as np

OVERALL, HEAD, TAIL, COLD = 'overall', 'head', 'tail', 'cold'
SLICES = (OVERALL, HEAD, TAIL, COLD)
HEAD_FRACTION = 0.1
NUM_DECILES = 10
DECILE_K = 50
DEFAULT_KS = (10, 50, 100)
LITERATURE_K = 10  # HR@K and NDCG@K are reported at this K
DECILE_KEY = f'recall@{DECILE_K}_by_decile'
NUM_EVENTS_KEY = 'num_eval_events'
NUM_EVENTS_BY_SLICE_KEY = 'num_eval_events_by_slice'
BASELINE_KEY = 'baseline'

_NO_ITEM = -1


def recall_key(k: int) -> str:
  return f'recall@{k}'


def map_key(k: int) -> str:
  return f'map@{k}'


def hr_key(k: int) -> str:
  return f'hr@{k}'


def ndcg_key(k: int) -> str:
  return f'ndcg@{k}'


def event_values(ranks: np.ndarray, key: str) -> np.ndarray:
  """Per-event value of the metric `key` ('recall@K', 'map@K', 'hr@K',
  'ndcg@K'): float64 [num_events]; the metric is their mean over events."""
  name, _, k = key.partition('@')
  if name not in ('recall', 'map', 'hr', 'ndcg') or not k.isdigit():
    raise ValueError(f'unknown metric key {key!r}')
  ranks = np.asarray(ranks, np.int64)
  hit = (ranks >= 1) & (ranks <= int(k))
  safe = np.maximum(ranks, 1)
  if name == 'map':
    return np.where(hit, 1.0 / safe, 0.0)
  if name == 'ndcg':
    return np.where(hit, 1.0 / np.log2(safe + 1.0), 0.0)
  return hit.astype(np.float64)


def check_ks(ks: Sequence[int]) -> List[int]:
  """Returns the sorted cutoffs, or raises ValueError for a bad list."""
  ks = list(ks)
  if not ks or any(not isinstance(k, int) or isinstance(k, bool) or k < 1
                   for k in ks):
    raise ValueError(f'ks must be a non-empty list of positive ints, got {ks}')
  if len(set(ks)) != len(ks):
    raise ValueError(f'ks has duplicates: {ks}')
  return sorted(ks)


class Exclusions:
  """(query row, corpus index) pairs removed from the ranking.

  Stored sorted by corpus index so that each corpus batch finds its pairs
  with a binary search.
  """

  def __init__(self, rows: np.ndarray, items: np.ndarray):
    order = np.argsort(items, kind='stable')
    self.rows = np.asarray(rows, np.int64)[order]
    self.items = np.asarray(items, np.int64)[order]

  def __len__(self) -> int:
    return len(self.rows)

  @classmethod
  def from_seen(cls, query_users: Sequence, seen: Mapping[object, np.ndarray],
                targets: np.ndarray) -> 'Exclusions':
    """Excludes each query user's seen items, except the query's own target.

    Args:
      query_users: [num_queries] user key of each query.
      seen: user key -> int array of corpus indices seen by that user.
      targets: [num_queries] corpus index of each query's relevant item.
    """
    rows, items = [np.zeros([0], np.int64)], [np.zeros([0], np.int64)]
    for row, (user, target) in enumerate(zip(query_users, targets)):
      user_items = seen.get(user)
      if user_items is None or not len(user_items):
        continue
      user_items = user_items[user_items != target]
      rows.append(np.full([len(user_items)], row, np.int64))
      items.append(user_items)
    return cls(np.concatenate(rows), np.concatenate(items))

  def in_range(self, item_start: int, item_end: int):
    """Returns (rows, items) of the pairs with item_start <= item < item_end."""
    lo, hi = np.searchsorted(self.items, [item_start, item_end])
    return self.rows[lo:hi], self.items[lo:hi]


def _sort_candidates(scores: np.ndarray, indices: np.ndarray):
  """Sorts each row by score descending, then by index ascending."""
  index_key = np.where(indices < 0, np.iinfo(np.int64).max, indices)
  order = np.lexsort((index_key, -scores), axis=-1)
  return (np.take_along_axis(scores, order, 1),
          np.take_along_axis(indices, order, 1))


def batch_top_k(scores: np.ndarray, k: int, offset: int = 0):
  """Exact top-k of each row, ties broken by the lower column.

  Args:
    scores: float32 [num_queries, batch]; -inf marks an excluded item.
    k: number of results kept per row.
    offset: corpus index of column 0.

  Returns:
    (scores [num_queries, min(k, batch)], corpus indices of the same shape,
    sorted best first; excluded items have index -1).
  """
  n = scores.shape[1]
  if n <= k:
    part = np.argsort(-scores, axis=1, kind='stable')
  else:
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    chosen = np.take_along_axis(scores, part, 1)
    kth = chosen.min(axis=1, keepdims=True)
    # argpartition picks an arbitrary one of equal scores at the k-th place:
    # redo the rows where the k-th score is shared with an unchosen column.
    tied = (scores == kth).sum(1) > (chosen == kth).sum(1)
    for row in np.flatnonzero(tied):
      part[row] = np.argsort(-scores[row], kind='stable')[:k]
  top = np.take_along_axis(scores, part, 1)
  indices = np.where(np.isneginf(top), _NO_ITEM, part + offset)
  return _sort_candidates(top, indices)


def query_item_scores(queries: np.ndarray, items: np.ndarray,
                      out: Optional[np.ndarray] = None) -> np.ndarray:
  """[n, d] or [n, K, d] (K intentions: max over K) x [m, d] -> [n, m].

  float32 BLAS matrix products, one per intention, folded with a running
  maximum (no [n, K, m] array); `out` (float32 [n, m]) is reused if given.
  Every ranker scores through this function, so their scores are the same
  floats.
  """
  if queries.ndim == 2:
    return np.matmul(queries, items.T, out=out)
  out = np.matmul(queries[:, 0], items.T, out=out)
  if queries.shape[1] > 1:
    other = np.empty_like(out)
    for k in range(1, queries.shape[1]):
      np.maximum(out, np.matmul(queries[:, k], items.T, out=other), out=out)
  return out


class TopK:
  """Running exact top-k of query . item scores over a streamed corpus."""

  def __init__(self, queries: np.ndarray, k: int,
               exclusions: Optional[Exclusions] = None,
               query_block: int = 1024):
    """Initializes the accumulator.

    Args:
      queries: float32 [num_queries, d] query embeddings, or
        [num_queries, K, d] intentions (score = max over K).
      k: number of best items kept per query.
      exclusions: (query, item) pairs to leave out of the ranking.
      query_block: queries scored at a time (bounds the score matrix).
    """
    self._queries = np.asarray(queries, np.float32)
    self._k = k
    self._exclusions = exclusions
    self._block = query_block
    num_queries = self._queries.shape[0]
    self.scores = np.full([num_queries, k], -np.inf, np.float32)
    self.indices = np.full([num_queries, k], _NO_ITEM, np.int64)
    self.num_items = 0

  def add(self, items: np.ndarray) -> None:
    """Scores the next corpus batch, float32 [batch, d], and merges it."""
    items = np.asarray(items, np.float32)
    if items.ndim != 2 or items.shape[1] != self._queries.shape[-1]:
      raise ValueError(f'item embeddings must be [batch, '
                       f'{self._queries.shape[-1]}], got {items.shape}')
    start, end = self.num_items, self.num_items + items.shape[0]
    if self._exclusions is not None:
      ex_rows, ex_items = self._exclusions.in_range(start, end)
    for q0 in range(0, self._queries.shape[0], self._block):
      q1 = min(q0 + self._block, self._queries.shape[0])
      scores = query_item_scores(self._queries[q0:q1], items)  # [block, batch]
      scores[np.isnan(scores)] = -np.inf
      if self._exclusions is not None:
        hit = (ex_rows >= q0) & (ex_rows < q1)
        scores[ex_rows[hit] - q0, ex_items[hit] - start] = -np.inf
      top_scores, top_indices = batch_top_k(scores, self._k, offset=start)
      merged_scores, merged_indices = _sort_candidates(
          np.concatenate([self.scores[q0:q1], top_scores], axis=1),
          np.concatenate([self.indices[q0:q1], top_indices], axis=1))
      self.scores[q0:q1] = merged_scores[:, :self._k]
      self.indices[q0:q1] = merged_indices[:, :self._k]
    self.num_items = end


def rank_targets(queries: np.ndarray, item_batches: Iterable[np.ndarray],
                 targets: np.ndarray, depth: int,
                 exclusions: Optional[Exclusions] = None,
                 query_block: int = 1024) -> np.ndarray:
  """Ranks each query's target among all streamed items.

  Args:
    queries: float32 [num_queries, d].
    item_batches: float32 [batch, d] arrays, the whole corpus in corpus order.
    targets: int [num_queries] corpus index of each query's relevant item.
    depth: ranks beyond this are reported as 0 (a miss).
    exclusions: pairs left out of the ranking (never a query's own target).
    query_block: queries scored at a time.

  Returns:
    int64 [num_queries]: 1-based rank of the target, 0 if beyond `depth`.
  """
  top = TopK(queries, depth, exclusions, query_block)
  for batch in item_batches:
    top.add(batch)
  return target_ranks(top.indices, targets)


def target_ranks(indices: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Returns the 1-based position of each target in its row, 0 if absent.

  Args:
    indices: int [num_queries, k] ranked corpus indices.
    targets: int [num_queries].
  """
  hits = indices == np.asarray(targets)[:, None]
  return np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)


def recall_at_k(ranks: np.ndarray, k: int) -> Optional[float]:
  """Fraction of events with 1 <= rank <= k; None without events."""
  if not len(ranks):
    return None
  return float(np.mean((ranks >= 1) & (ranks <= k)))


def map_at_k(ranks: np.ndarray, k: int) -> Optional[float]:
  """Mean of 1/rank over events (0 beyond k); None without events."""
  if not len(ranks):
    return None
  return float(np.mean(event_values(ranks, map_key(k))))


def ndcg_at_k(ranks: np.ndarray, k: int) -> Optional[float]:
  """Mean of 1/log2(rank + 1) over events (0 beyond k); None without events."""
  if not len(ranks):
    return None
  return float(np.mean(event_values(ranks, ndcg_key(k))))


def hit_rate_at_k(ranks: np.ndarray, k: int) -> Optional[float]:
  """Fraction of events with 1 <= rank <= k (one held-out item per event)."""
  if not len(ranks):
    return None
  return float(np.mean(event_values(ranks, hr_key(k))))


@dataclasses.dataclass(frozen=True)
class Popularity:
  """Slice and decile of every corpus item, from its train-split frequency."""
  slice_of_item: np.ndarray  # [num_items] HEAD | TAIL | COLD
  decile_of_item: np.ndarray  # [num_items] int, 0 = most popular; -1 = cold


def popularity(train_counts: np.ndarray) -> Popularity:
  """Assigns head/tail/cold and a popularity decile to every corpus item.

  Args:
    train_counts: int [num_items] train-split events of each corpus item.
  """
  counts = np.asarray(train_counts, np.int64)
  seen = np.flatnonzero(counts > 0)
  order = seen[np.lexsort((seen, -counts[seen]))]  # most frequent first
  num_seen = len(order)
  deciles = np.full(counts.shape, -1, np.int64)
  deciles[order] = np.arange(num_seen) * NUM_DECILES // max(num_seen, 1)
  slices = np.where(counts > 0, TAIL, COLD).astype(object)
  slices[order[:math.ceil(HEAD_FRACTION * num_seen)]] = HEAD
  return Popularity(slices, deciles)


def popularity_ranks(train_counts: np.ndarray, targets: np.ndarray,
                     exclusions: Optional[Exclusions] = None) -> np.ndarray:
  """Ranks of the most-popular-items baseline (the same for every query).

  Items are ranked by train-split frequency, most frequent first, ties by the
  lower corpus index (the tie rule of `rank_targets`); a query's excluded
  items are removed from its ranking as for a model.

  Args:
    train_counts: int [num_items] train-split events of each corpus item.
    targets: int [num_queries] corpus index of each query's relevant item.
    exclusions: pairs left out of the ranking (never a query's own target).

  Returns:
    int64 [num_queries]: 1-based rank of the target (never 0).
  """
  counts = np.asarray(train_counts, np.int64)
  targets = np.asarray(targets, np.int64)
  order = np.lexsort((np.arange(len(counts)), -counts))
  position = np.empty(len(counts), np.int64)
  position[order] = np.arange(len(counts))
  ranks = position[targets] + 1
  if exclusions is not None and len(exclusions):
    ahead = position[exclusions.items] < position[targets[exclusions.rows]]
    ranks -= np.bincount(exclusions.rows[ahead], minlength=len(targets))
  return ranks

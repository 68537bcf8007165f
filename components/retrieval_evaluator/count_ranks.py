"""Exact ranks of the targets by counting the better items, without a top-k (pure numpy).

The evaluator needs only each event's rank, not the top-k list. With the
target's score s known, rank = 1 + the items scoring above s + the items
scoring exactly s with a lower corpus index (the tie rule of
`metrics.rank_targets`), over the non-excluded items. Counting is a compare
and a sum per score, about 8 times cheaper than the running top-k (argpartition
and sorts per corpus batch), for the same result.

Exactness: the scores are computed exactly as `metrics.TopK` computes them
(`metrics.query_item_scores` on the same query block and corpus batches, NaN
and excluded items -inf). The target's own score is only known once its corpus
batch is scored, so the counting uses a margin around an estimate computed
beforehand: items above estimate + margin are counted, items within the margin
are kept and compared with the exact score at the end. The margin bounds the
float32 rounding of a d-term dot product; a row whose exact score falls outside
it (or whose estimate is not finite) is ranked again by `metrics.rank_targets`.
So the ranks equal `metrics.rank_targets`' whatever the data
(count_ranks_test.py).
"""
from typing import Optional

import numpy as np

from components.retrieval_evaluator import metrics

# Margin = _MARGIN_ULPS * d * 2**-24 * sum_i |q_i e_i|: a generous bound of the
# float32 rounding error of the dot product, in either computation.
_MARGIN_ULPS = 4.0
# Score rows compared at a time: 64 x a 4096-item batch is 1 MB of floats.
_CACHE_ROWS = 64


def _estimates(queries: np.ndarray, target_items: np.ndarray):
  """(estimated target score, margin) per query, float64 [n] each."""
  q = np.asarray(queries, np.float64)
  e = np.asarray(target_items, np.float64)
  if q.ndim == 3:  # intentions: score = max over K
    score = np.einsum('nkd,nd->nk', q, e).max(axis=1)
    magnitude = np.einsum('nkd,nd->nk', np.abs(q), np.abs(e)).max(axis=1)
  else:
    score = np.einsum('nd,nd->n', q, e)
    magnitude = np.einsum('nd,nd->n', np.abs(q), np.abs(e))
  d = q.shape[-1]
  margin = _MARGIN_ULPS * d * 2.0**-24 * magnitude + 1e-30
  return score, margin


def _count(scores: np.ndarray, low: np.ndarray, high: np.ndarray,
           flags: np.ndarray):
  """Per row: (scores > high, scores >= low) counts, int64 [n] each.

  `flags` is a bool buffer of the scores' shape. Rows go _CACHE_ROWS at a
  time, so the second comparison reads the scores from the cache; the flags
  are summed as bytes.
  """
  n, width = scores.shape
  kind = np.uint16 if width < 2**16 else np.int64
  over = np.empty(n, np.int64)
  at_least_low = np.empty(n, np.int64)
  as_bytes = flags.view(np.uint8)
  for r0 in range(0, n, _CACHE_ROWS):
    rows = slice(r0, r0 + _CACHE_ROWS)
    np.greater(scores[rows], high[rows], out=flags[rows])
    over[rows] = as_bytes[rows].sum(axis=1, dtype=kind)
    np.greater_equal(scores[rows], low[rows], out=flags[rows])
    at_least_low[rows] = as_bytes[rows].sum(axis=1, dtype=kind)
  return over, at_least_low


def _rank_block(queries: np.ndarray, items: np.ndarray, targets: np.ndarray,
                depth: int, exclusions: Optional[metrics.Exclusions],
                row0: int, corpus_batch_size: int) -> np.ndarray:
  """Ranks of one query block (rows row0.. of the exclusions' numbering)."""
  n = len(targets)
  estimate, margin = _estimates(queries, items[targets])
  # The window [low, high] in float32 (rounded outwards): comparing float32
  # scores with float32 bounds avoids a float64 copy of every score.
  with np.errstate(invalid='ignore', over='ignore'):
    low = np.nextafter((estimate - margin).astype(np.float32),
                       np.float32(-np.inf))[:, None]
    high = np.nextafter((estimate + margin).astype(np.float32),
                        np.float32(np.inf))[:, None]
  exact = np.full(n, np.nan)
  above = np.zeros(n, np.int64)
  near_rows, near_items, near_scores = [], [], []
  # One score block and one mask, reused by every corpus batch. NaN scores
  # (the top-k's -inf) fail every comparison: never counted, never near.
  width = min(corpus_batch_size, len(items))
  buffer = np.empty([n * width], np.float32)
  mask = np.empty([n * width], bool)
  for start in range(0, len(items), corpus_batch_size):
    batch = items[start:start + corpus_batch_size]
    end = start + len(batch)
    # Contiguous [n, len(batch)] views (BLAS writes them directly).
    shape = (n, len(batch))
    scores = metrics.query_item_scores(
        queries, batch, out=buffer[:n * len(batch)].reshape(shape))
    if exclusions is not None:
      ex_rows, ex_items = exclusions.in_range(start, end)
      hit = (ex_rows >= row0) & (ex_rows < row0 + n)
      scores[ex_rows[hit] - row0, ex_items[hit] - start] = -np.inf
    here = np.flatnonzero((targets >= start) & (targets < end))
    exact[here] = scores[here, targets[here] - start]
    over, at_least_low = _count(scores, low, high,
                                mask[:n * len(batch)].reshape(shape))
    above += over
    # Only the rows with a score in their window (the rows whose target is in
    # this batch, and rare others) are searched for it.
    some = np.flatnonzero(at_least_low > over)
    window = scores[some]
    local, cols = np.nonzero((window >= low[some]) & (window <= high[some]))
    near_rows.append(some[local])
    near_items.append(cols + start)
    near_scores.append(window[local, cols])
  exact[np.isnan(exact)] = -np.inf  # a NaN target scores as the top-k's -inf
  low, high = low[:, 0], high[:, 0]
  rows = np.concatenate(near_rows)
  idx = np.concatenate(near_items)
  score = np.concatenate(near_scores).astype(np.float64)
  s = exact[rows]
  t = targets[rows]
  better = (idx != t) & ((score > s) | ((score == s) & (idx < t)))
  ranks = 1 + above + np.bincount(rows[better], minlength=n)
  ranks[np.isneginf(exact)] = 0  # TopK never ranks a -inf (NaN) target
  ranks[ranks > depth] = 0
  redo = ~(np.isfinite(estimate) & (exact >= low) & (exact <= high))
  redo &= ~np.isneginf(exact)
  if redo.any():
    rows = np.flatnonzero(redo)
    sub = None
    if exclusions is not None:
      ex = np.isin(exclusions.rows, rows + row0)
      position = np.full(n, -1, np.int64)
      position[rows] = np.arange(len(rows))
      sub = metrics.Exclusions(position[exclusions.rows[ex] - row0],
                               exclusions.items[ex])
    ranks[rows] = metrics.rank_targets(
        queries[rows], (items[i:i + corpus_batch_size]
                        for i in range(0, len(items), corpus_batch_size)),
        targets[rows], depth, sub, query_block=len(rows))
  return ranks


def rank_targets(queries: np.ndarray, items: np.ndarray, targets: np.ndarray,
                 depth: int, exclusions: Optional[metrics.Exclusions] = None,
                 query_block: int = 1024,
                 corpus_batch_size: int = 4096) -> np.ndarray:
  """`metrics.rank_targets` with the corpus as one array: the same ranks.

  Args:
    queries: float32 [num_queries, d] or [num_queries, K, d].
    items: float32 [num_items, d], the whole corpus in corpus order.
    targets: int [num_queries] corpus index of each query's relevant item.
    depth: ranks beyond this are reported as 0 (a miss).
    exclusions: pairs left out of the ranking (never a query's own target).
    query_block: queries scored at a time (as metrics.rank_targets).
    corpus_batch_size: items scored at a time (the batches of the corpus
      metrics.rank_targets is given).

  Returns:
    int64 [num_queries]: 1-based rank of the target, 0 if beyond `depth`.
  """
  queries = np.asarray(queries, np.float32)
  items = np.asarray(items, np.float32)
  targets = np.asarray(targets, np.int64)
  if items.ndim != 2 or items.shape[1] != queries.shape[-1]:
    raise ValueError(f'item embeddings must be [num_items, '
                     f'{queries.shape[-1]}], got {items.shape}')
  if len(targets) != len(queries):
    raise ValueError(f'{len(targets)} targets for {len(queries)} queries')
  if len(targets) and (targets.min() < 0 or targets.max() >= len(items)):
    raise ValueError(f'targets must be corpus indices in [0, {len(items)})')
  out = np.zeros(len(targets), np.int64)
  for q0 in range(0, len(targets), query_block):
    q1 = min(q0 + query_block, len(targets))
    out[q0:q1] = _rank_block(queries[q0:q1], items, targets[q0:q1], depth,
                             exclusions, q0, corpus_batch_size)
  return out

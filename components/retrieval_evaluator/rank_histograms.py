"""Per-user rank histograms: exactly mergeable accumulators of the eval metrics (pure numpy).

Every metric of summary.py is a ratio over events whose event value depends
only on the event's rank, its item's slice and decile and its user's slice.
So one model's result on the eval events is summarized, for each eval user,
by how many of the user's events had each (item slice, decile, rank): a
`Histogram`. Histograms of any partition of the events (eval blocks ranked on
different workers) merge exactly (integer counts), in any order, into the
histogram of all events; `user_totals` then turns it into the per-user
aggregates (summary.UserTotals) that every point value and bootstrap interval
is computed from, in one canonical order (users by first eval event, then by
event kind), so the result does not depend on how the events were blocked.

Size: one entry per distinct (user, item slice, decile, rank) of a user's
events, at most one per event and in practice about one per user (ranks
beyond the ranked depth are one value), plus one id per eval user; nothing of
size events x k. The user slices (new / returning / light / heavy) are
decided at the end from the users' train-event counts, which are known
before ranking.

The per-event metric values come from `summary.user_totals`, so any metric
it computes from a rank is covered here without change.
"""
import dataclasses
from typing import Mapping, Sequence

import numpy as np

from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import summary

_DECILE_VALUES = metrics.NUM_DECILES + 1  # deciles -1 (cold) .. 9


def depth(ks: Sequence[int]) -> int:
  """The ranked depth of an evaluation with cutoffs `ks`."""
  return max(max(metrics.check_ks(ks)), metrics.DECILE_K)


def item_kinds(pop: metrics.Popularity) -> np.ndarray:
  """int64 [num_items]: the (item slice, decile) of every corpus item as one code."""
  slice_index = np.full(len(pop.slice_of_item), -1, np.int64)
  for i, name in enumerate(summary.ITEM_SLICES):
    slice_index[pop.slice_of_item == name] = i
  if (slice_index < 0).any():
    raise ValueError('an item has a slice outside '
                     f'{list(summary.ITEM_SLICES)}')
  return slice_index * _DECILE_VALUES + (np.asarray(pop.decile_of_item,
                                                    np.int64) + 1)


@dataclasses.dataclass(frozen=True)
class Histogram:
  """Counts of (user, event kind, rank), canonical: users by first event.

  users: object [num_users] user ids, ordered by `first`.
  first: int64 [num_users] position of the user's first eval event.
  entry_user: int64 [num_entries] index into `users`.
  code: int64 [num_entries] item kind * (depth + 1) + rank (0 = a miss).
  count: int64 [num_entries] events; entries sorted by (entry_user, code).
  """
  depth: int
  users: np.ndarray
  first: np.ndarray
  entry_user: np.ndarray
  code: np.ndarray
  count: np.ndarray

  @property
  def num_events(self) -> int:
    return int(self.count.sum())

  @classmethod
  def empty(cls, depth_: int) -> 'Histogram':
    z = np.zeros([0], np.int64)
    return cls(depth_, np.zeros([0], object), z, z, z, z)

  @classmethod
  def of_events(cls, users: Sequence[str], positions: np.ndarray,
                kinds: np.ndarray, ranks: np.ndarray,
                depth_: int) -> 'Histogram':
    """The histogram of some eval events.

    Args:
      users: [n] user id of each event.
      positions: int [n] each event's position in the eval split.
      kinds: int [n] item kind of each event's item (`item_kinds`[target]).
      ranks: int [n] 1-based ranks; 0 or > depth_ = beyond the ranked depth.
      depth_: the ranked depth (every rank above it counts as a miss).
    """
    ranks = np.asarray(ranks, np.int64)
    n = len(ranks)
    if not (len(users) == len(positions) == len(kinds) == n):
      raise ValueError(f'{len(users)} users, {len(positions)} positions, '
                       f'{len(kinds)} kinds for {n} ranks')
    if n and ranks.min() < 0:
      raise ValueError('ranks must be >= 0')
    ranks = np.where(ranks > depth_, 0, ranks)
    code = np.asarray(kinds, np.int64) * (depth_ + 1) + ranks
    return cls._canonical(depth_, np.asarray(list(users), object),
                          np.asarray(positions, np.int64), code,
                          np.ones(n, np.int64))

  @classmethod
  def merge(cls, parts: Sequence['Histogram']) -> 'Histogram':
    """The histogram of the union of the parts' (disjoint) events."""
    parts = list(parts)
    if not parts:
      raise ValueError('nothing to merge')
    depths = {p.depth for p in parts}
    if len(depths) != 1:
      raise ValueError(f'histograms of different depths {sorted(depths)}')
    if len(parts) == 1:
      return parts[0]
    return cls._canonical(
        depths.pop(),
        np.concatenate([p.users[p.entry_user] for p in parts]),
        np.concatenate([p.first[p.entry_user] for p in parts]),
        np.concatenate([p.code for p in parts]),
        np.concatenate([p.count for p in parts]))

  @classmethod
  def _canonical(cls, depth_: int, entry_users: np.ndarray,
                 entry_first: np.ndarray, code: np.ndarray,
                 count: np.ndarray) -> 'Histogram':
    """Groups (user, code) entries, users ordered by their first event."""
    if not len(code):
      return cls.empty(depth_)
    names, user_of = np.unique(entry_users, return_inverse=True)
    first = np.full(len(names), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, user_of, entry_first)
    order = np.argsort(first, kind='stable')
    if len(np.unique(first)) != len(first):
      raise ValueError('two eval users share a first event position')
    rank_of_user = np.empty(len(order), np.int64)
    rank_of_user[order] = np.arange(len(order))
    width = int(code.max()) + 1
    keys, entry = np.unique(rank_of_user[user_of] * width + code,
                            return_inverse=True)
    counts = np.bincount(entry, weights=count, minlength=len(keys))
    return cls(depth_, names[order], first[order], keys // width,
               keys % width, counts.astype(np.int64))


def user_totals(hist: Histogram, train_events_by_user: Mapping[str, int],
                ks: Sequence[int]) -> summary.UserTotals:
  """The per-user aggregates (summary.UserTotals) of a histogram.

  Args:
    hist: one model's histogram of the eval events.
    train_events_by_user: user id -> train-split events (the user slices).
    ks: cutoffs K; max(ks) and metrics.DECILE_K must not exceed the depth.
  """
  if depth(ks) > hist.depth:
    raise ValueError(f'cutoffs {list(ks)} need depth {depth(ks)}, the '
                     f'histogram has {hist.depth}')
  users = [str(u) for u in hist.users]
  groups = summary.user_groups(
      np.array([train_events_by_user.get(u, 0) for u in users], np.int64),
      users)
  ranks = hist.code % (hist.depth + 1)
  kind = hist.code // (hist.depth + 1)
  slice_index, decile = kind // _DECILE_VALUES, kind % _DECILE_VALUES - 1
  n = len(hist.code)
  masks = {metrics.OVERALL: np.ones(n, bool)}
  masks.update({s: slice_index == i for i, s in enumerate(summary.ITEM_SLICES)})
  masks.update({s: groups[s][hist.entry_user] for s in summary.USER_SLICES})
  # Every entry as its own one-event "user": its value per column.
  entries = summary.user_totals(
      ranks, summary.EventSlices(list(range(n)), np.arange(n), masks, decile),
      ks)
  weight = hist.count.astype(np.float64)[:, None]
  num_users = len(users)
  return summary.UserTotals(
      entries.columns, users,
      bootstrap.per_user_sums(hist.entry_user, entries.values * weight,
                              num_users),
      bootstrap.per_user_sums(hist.entry_user, entries.events * weight,
                              num_users))


def ranking_totals(users: Sequence[str], targets: np.ndarray,
                   ranks: np.ndarray, pop: metrics.Popularity,
                   train_events_by_user: Mapping[str, int],
                   ks: Sequence[int]) -> summary.UserTotals:
  """`user_totals` of one ranking of all eval events, in split order.

  Args:
    users: [n] user id of each eval event.
    targets: int [n] corpus index of each event's item.
    ranks: int [n] the events' ranks (0 = beyond the ranked depth).
    pop: slices and deciles of the corpus items.
    train_events_by_user: user id -> train-split events.
    ks: cutoffs K.
  """
  targets = np.asarray(targets, np.int64)
  hist = Histogram.of_events(users, np.arange(len(targets)),
                             item_kinds(pop)[targets], ranks, depth(ks))
  return user_totals(hist, train_events_by_user, ks)

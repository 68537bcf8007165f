"""Slices of the eval events, per-user aggregates, and the metrics.json dicts (pure numpy).

Slices (each a key of every metric dict):
- `overall`; item slices `head`, `tail`, `cold` (metrics.popularity);
- user slices, by the user's events in the train split: `new_users` (none),
  `returning_users` (at least one), and among the returning users of the
  eval split ordered by train events (ties by user id), `light_users` = the
  bottom half (floor) and `heavy_users` = the top 10% (ceil).
A slice without eval events has the value None.

Every metric is a ratio over events restricted to a slice (Recall@K and
HR@10: hits / events; MAP@K: sum of AP@K / events; NDCG@10: sum of
1/log2(rank + 1) over the hits / events; the decile Recall@50s), so one model is
summarized by per-user aggregates (`UserTotals`): for each column (metric,
slice) each user's sum of event values and event count. Point values, the
bootstrap intervals over users (bootstrap.py) and the paired differences
between models on the same events all come from them.
"""
import dataclasses
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import metrics

NEW_USERS, RETURNING_USERS = 'new_users', 'returning_users'
LIGHT_USERS, HEAVY_USERS = 'light_users', 'heavy_users'
ITEM_SLICES = (metrics.HEAD, metrics.TAIL, metrics.COLD)
USER_SLICES = (NEW_USERS, RETURNING_USERS, LIGHT_USERS, HEAVY_USERS)
SLICES = (metrics.OVERALL,) + ITEM_SLICES + USER_SLICES
LIGHT_FRACTION, HEAVY_FRACTION = 0.5, 0.1

# metrics.json keys.
N_EVENTS_KEY, N_USERS_KEY = 'n_events', 'n_users'
CI_KEY, DELTA_KEY = 'ci95', 'delta_ci95'
POPULARITY_KEY = 'popularity'
BOOTSTRAP_KEY = 'bootstrap'
DELTA_VALUE, DELTA_CI = 'delta', 'ci95'

# A column: (metric key, slice name) or (DECILE_KEY, decile index).
Column = Tuple[str, Union[str, int]]


@dataclasses.dataclass(frozen=True)
class EventSlices:
  """The user and the slices of every eval event."""
  users: List[str]  # [num_users] distinct eval users, in first-event order
  user_index: np.ndarray  # int64 [num_events] index into `users`
  masks: Dict[str, np.ndarray]  # slice -> bool [num_events], SLICES order
  decile: np.ndarray  # int64 [num_events], -1 for cold items


def user_groups(train_events: np.ndarray, users: Sequence[str]
                ) -> Dict[str, np.ndarray]:
  """The user slices as bool masks over users.

  Args:
    train_events: int [num_users] train-split events of each eval user.
    users: [num_users] user ids (tie break of the light/heavy order).
  """
  train_events = np.asarray(train_events, np.int64)
  returning = np.flatnonzero(train_events > 0)
  keys = np.array([str(users[i]) for i in returning], dtype=object)
  order = returning[np.lexsort((keys, train_events[returning]))] if len(
      returning) else returning
  n = len(order)
  light = np.zeros(len(train_events), bool)
  heavy = np.zeros(len(train_events), bool)
  light[order[:int(n * LIGHT_FRACTION)]] = True
  heavy[order[n - math.ceil(n * HEAVY_FRACTION):]] = True
  return {NEW_USERS: train_events == 0, RETURNING_USERS: train_events > 0,
          LIGHT_USERS: light, HEAVY_USERS: heavy}


def event_slices(targets: np.ndarray, users: Sequence[str],
                 pop: metrics.Popularity,
                 train_events_by_user: Mapping[str, int]) -> EventSlices:
  """Slices of the eval events.

  Args:
    targets: int [num_events] corpus index of each event's item.
    users: [num_events] user id of each event.
    pop: slices of the corpus items.
    train_events_by_user: user id -> number of train-split events.
  """
  targets = np.asarray(targets, np.int64)
  if len(targets) != len(users):
    raise ValueError(f'{len(targets)} targets for {len(users)} users')
  index_of: Dict[str, int] = {}
  user_index = np.array([index_of.setdefault(u, len(index_of)) for u in users],
                        np.int64)
  distinct = list(index_of)
  groups = user_groups(np.array([train_events_by_user.get(u, 0)
                                 for u in distinct], np.int64), distinct)
  item_slice = pop.slice_of_item[targets]
  masks = {metrics.OVERALL: np.ones(len(targets), bool)}
  masks.update({s: item_slice == s for s in ITEM_SLICES})
  masks.update({s: groups[s][user_index] for s in USER_SLICES})
  return EventSlices(distinct, user_index, masks,
                     pop.decile_of_item[targets])


def columns(ks: Sequence[int]) -> List[Column]:
  """Every column of the metrics dict, in metrics.json order."""
  out: List[Column] = []
  for k in metrics.check_ks(ks):
    for key in (metrics.recall_key(k), metrics.map_key(k)):
      out.extend((key, s) for s in SLICES)
  for key in (metrics.hr_key(metrics.LITERATURE_K),
              metrics.ndcg_key(metrics.LITERATURE_K)):
    out.extend((key, s) for s in SLICES)
  out.extend((metrics.DECILE_KEY, d) for d in range(metrics.NUM_DECILES))
  return out


@dataclasses.dataclass(frozen=True)
class UserTotals:
  """One model's per-user aggregates on the eval events."""
  columns: List[Column]
  users: List[str]
  values: np.ndarray  # float64 [num_users, num_columns]: sum of event values
  events: np.ndarray  # float64 [num_users, num_columns]: event counts

  def column(self, column: Column) -> int:
    return self.columns.index(column)

  def select(self, wanted: Sequence[Column]) -> 'UserTotals':
    """The same aggregates restricted to some columns."""
    idx = [self.column(c) for c in wanted]
    return UserTotals(list(wanted), self.users, self.values[:, idx],
                      self.events[:, idx])

  def to_dict(self) -> Dict[str, object]:
    return {'columns': [list(c) for c in self.columns], 'users': self.users,
            'values': self.values.tolist(), 'events': self.events.tolist()}

  @classmethod
  def from_dict(cls, d: Mapping[str, object]) -> 'UserTotals':
    return cls([tuple(c) for c in d['columns']], list(d['users']),
               np.asarray(d['values'], np.float64).reshape(
                   len(d['users']), len(d['columns'])),
               np.asarray(d['events'], np.float64).reshape(
                   len(d['users']), len(d['columns'])))


def user_totals(ranks: np.ndarray, slices: EventSlices,
                ks: Sequence[int]) -> UserTotals:
  """Per-user sums of hits / AP@K and event counts of every column.

  Args:
    ranks: int [num_events] 1-based ranks, 0 = beyond the ranked depth
      (metrics.rank_targets; depth >= max(ks), DECILE_K and LITERATURE_K).
    slices: the events' slices (`event_slices`).
    ks: cutoffs K.
  """
  ranks = np.asarray(ranks, np.int64)
  if len(ranks) != len(slices.user_index):
    raise ValueError(f'{len(ranks)} ranks for {len(slices.user_index)} '
                     'events')
  cols = columns(ks)
  values = np.zeros([len(ranks), len(cols)], np.float64)
  events = np.zeros([len(ranks), len(cols)], np.float64)
  for c, (key, name) in enumerate(cols):
    if key == metrics.DECILE_KEY:
      mask = slices.decile == name
      value = metrics.event_values(ranks, metrics.recall_key(metrics.DECILE_K))
    else:
      mask = slices.masks[name]
      value = metrics.event_values(ranks, key)
    values[:, c] = np.where(mask, value, 0.0)
    events[:, c] = mask
  n = len(slices.users)
  return UserTotals(cols, slices.users,
                    bootstrap.per_user_sums(slices.user_index, values, n),
                    bootstrap.per_user_sums(slices.user_index, events, n))


def _nest(cols: Sequence[Column], values: Sequence) -> Dict[str, object]:
  """{metric: {slice: value}} and {DECILE_KEY: [value per decile]}."""
  out: Dict[str, object] = {}
  for (key, name), value in zip(cols, values):
    if key == metrics.DECILE_KEY:
      out.setdefault(key, []).append(value)
    else:
      out.setdefault(key, {})[name] = value
  return out


def _interval(interval: bootstrap.Interval) -> Optional[List[float]]:
  return None if interval is None else [interval[0], interval[1]]


def metrics_dict(totals: UserTotals,
                 samples: Optional[np.ndarray] = None) -> Dict[str, object]:
  """One model's metrics dict (today's keys, user slices, n and ci95).

  Args:
    totals: the model's per-user aggregates.
    samples: its bootstrap samples [samples, num_columns] (sample_ratios), or
      None for no `ci95`.
  """
  out = _nest(totals.columns, bootstrap.ratios(totals.values, totals.events))
  slice_columns = [c for c in totals.columns
                   if c[0] == totals.columns[0][0]]  # one metric, all slices
  idx = [totals.column(c) for c in slice_columns]
  n_events = {name: int(totals.events[:, i].sum())
              for (_, name), i in zip(slice_columns, idx)}
  n_users = {name: int((totals.events[:, i] > 0).sum())
             for (_, name), i in zip(slice_columns, idx)}
  out[metrics.NUM_EVENTS_KEY] = n_events[metrics.OVERALL]
  out[metrics.NUM_EVENTS_BY_SLICE_KEY] = dict(n_events)
  out[N_EVENTS_KEY] = n_events
  out[N_USERS_KEY] = n_users
  if samples is not None:
    out[CI_KEY] = _nest(totals.columns, [
        _interval(i) for i in bootstrap.percentile_intervals(samples)])
  return out


def delta_dict(candidate: UserTotals, reference: UserTotals,
               candidate_samples: np.ndarray, reference_samples: np.ndarray
               ) -> Dict[str, object]:
  """{metric: {slice: {'delta': candidate - reference, 'ci95': [lo, hi]}}}.

  The samples come from the same weights (one `sample_ratios` call), so the
  interval is the paired one.
  """
  _same_events(candidate, reference)
  cand = bootstrap.ratios(candidate.values, candidate.events)
  ref = bootstrap.ratios(reference.values, reference.events)
  diffs = bootstrap.percentile_intervals(candidate_samples - reference_samples)
  return _nest(candidate.columns, [
      None if c is None or r is None else
      {DELTA_VALUE: c - r, DELTA_CI: _interval(i)}
      for c, r, i in zip(cand, ref, diffs)])


def _same_events(a: UserTotals, b: UserTotals) -> None:
  if a.columns != b.columns or a.users != b.users or not np.array_equal(
      a.events, b.events):
    raise ValueError('paired comparison of models evaluated on different '
                     'events')


def metrics_json(candidate: UserTotals, baseline: Optional[UserTotals],
                 popularity: UserTotals,
                 settings: bootstrap.Settings = bootstrap.Settings()
                 ) -> Dict[str, object]:
  """The content of metrics.json.

  The candidate's keys (metrics_dict) plus `baseline` (the last blessed
  model's dict, or None), `popularity` (the most-popular-items baseline's
  dict), `delta_ci95` ({'baseline': delta_dict or None, 'popularity':
  delta_dict}) and `bootstrap` (unit, samples, seed, level). One weight matrix
  serves every interval.
  """
  models = [candidate, popularity] + ([baseline] if baseline is not None
                                        else [])
  for other in models[1:]:
    _same_events(candidate, other)
  samples = bootstrap.sample_ratios([m.values for m in models],
                                    candidate.events, settings)
  out = metrics_dict(candidate, samples[0])
  out[metrics.BASELINE_KEY] = (metrics_dict(baseline, samples[2])
                               if baseline is not None else None)
  out[POPULARITY_KEY] = metrics_dict(popularity, samples[1])
  out[DELTA_KEY] = {
      metrics.BASELINE_KEY: (delta_dict(candidate, baseline, samples[0],
                                        samples[2])
                            if baseline is not None else None),
      POPULARITY_KEY: delta_dict(candidate, popularity, samples[0],
                                 samples[1])}
  out[BOOTSTRAP_KEY] = {'unit': 'user', 'samples': settings.samples,
                        'seed': settings.seed, 'level': bootstrap.LEVEL}
  return out

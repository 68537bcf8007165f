"""Aggregation, paired intervals and markdown tables of the quality benchmark.

A result is one training + evaluation:
  {'data': 'full', 'variant': 'cfm', 'seed': 0,
   'metrics': {'recall@50': {'overall': x, 'head': x, 'tail': x, 'cold': x,
                             'new_users': x, 'returning_users': x,
                             'light_users': x, 'heavy_users': x
                             (or None when the slice has no eval event)}, ...},
   'user_totals': summary.UserTotals.to_dict() of the METRICS x SLICES columns,
   'train_seconds': s, 'examples_per_second': r}

Over seeds: the mean and the sample standard deviation (ddof=1; 0 for a single
seed). Relative change against the baseline variant: (mean - base) / base.
A difference is marked real ('*') only when its paired 95% interval excludes
0: the evaluator's bootstrap over users (components/retrieval_evaluator/
bootstrap.py), pooled over seeds: each variant's per-user aggregates are
averaged over its seeds (the events are the same), and the users are
resampled with the same weights for both variants. Results without
`user_totals` (older logs) get no mark.
"""
import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import summary as eval_summary

SLICES = eval_summary.SLICES  # item slices, then the user slices
METRICS = ('recall@10', 'recall@50', 'map@50', 'hr@10', 'ndcg@10')
COLUMNS = [(m, s) for m in METRICS for s in SLICES]
BASELINE = 'none'
SETTINGS = bootstrap.Settings()


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
  """(mean, sample standard deviation with ddof=1; 0.0 for one value)."""
  values = [float(v) for v in values]
  if not values:
    raise ValueError('mean_std of no values')
  mean = sum(values) / len(values)
  if len(values) == 1:
    return mean, 0.0
  var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
  return mean, math.sqrt(var)


def relative_change(value: float, base: float) -> Optional[float]:
  """(value - base) / base, or None when base is 0."""
  if base == 0:
    return None
  return (value - base) / base


def pooled_totals(results: Iterable[Mapping], data: str, variant: str
                  ) -> Optional[eval_summary.UserTotals]:
  """A variant's per-user aggregates averaged over its seeds (None when a
  result has none)."""
  found = [r for r in results if r['data'] == data and r['variant'] == variant]
  if not found or any('user_totals' not in r for r in found):
    return None
  totals = [eval_summary.UserTotals.from_dict(r['user_totals']) for r in found]
  first = totals[0]
  for t in totals[1:]:
    if t.columns != first.columns or t.users != first.users or (
        not np.array_equal(t.events, first.events)):
      raise ValueError(f'{data} {variant}: the seeds were evaluated on '
                       'different events')
  return eval_summary.UserTotals(
      first.columns, first.users,
      np.mean([t.values for t in totals], axis=0), first.events)


# (data, variant, metric, slice) -> (difference vs the baseline, interval).
Deltas = Dict[Tuple[str, str, str, str],
              Tuple[float, Optional[Tuple[float, float]]]]


def shared_seeds(results: Sequence[Mapping], data: str, variant: str,
                 reference: str) -> List[int]:
  """The seeds both variants have at `data`, sorted."""
  seeds = [{r['seed'] for r in results
            if r['data'] == data and r['variant'] == v}
           for v in (variant, reference)]
  return sorted(seeds[0] & seeds[1])


def on_shared_seeds(results: Sequence[Mapping], data: str, variant: str,
                    reference: str) -> List[Mapping]:
  """The results of the two variants at `data` on their shared seeds."""
  seeds = set(shared_seeds(results, data, variant, reference))
  return [r for r in results if r['data'] == data and
          r['variant'] in (variant, reference) and r['seed'] in seeds]


def pair_delta(results: Sequence[Mapping], data: str, variant: str,
               reference: str, settings: bootstrap.Settings = SETTINGS,
               shared: bool = False
               ) -> Dict[Tuple[str, str],
                         Tuple[float, Optional[Tuple[float, float]]]]:
  """(metric, slice) -> (variant - reference, paired 95% interval), pooled
  over seeds (`shared`: only the seeds both have); {} when either has no
  per-user results."""
  if shared:
    results = on_shared_seeds(results, data, variant, reference)
  cand = pooled_totals(results, data, variant)
  base = pooled_totals(results, data, reference)
  if cand is None or base is None:
    return {}
  wanted = [c for c in cand.columns if c in base.columns]
  cand, base = cand.select(wanted), base.select(wanted)
  if cand.users != base.users or not np.array_equal(cand.events, base.events):
    raise ValueError(f'{data}: {variant} and {reference} were evaluated on '
                     'different events')
  intervals = bootstrap.paired_delta_intervals(cand.values, base.values,
                                               cand.events, settings)
  points = zip(bootstrap.ratios(cand.values, cand.events),
               bootstrap.ratios(base.values, base.events))
  return {column: (c - b, interval)
          for column, (c, b), interval in zip(cand.columns, points, intervals)
          if c is not None and b is not None}


def paired_deltas(results: Sequence[Mapping], variants: Sequence[str],
                  baseline: str = BASELINE,
                  settings: bootstrap.Settings = SETTINGS) -> Deltas:
  """Pooled paired differences of every variant against `baseline`."""
  out: Deltas = {}
  for data in sorted({r['data'] for r in results}):
    for variant in variants:
      if variant == baseline:
        continue
      for (metric, name), delta in pair_delta(results, data, variant,
                                              baseline, settings).items():
        out[(data, variant, metric, name)] = delta
  return out


def delta_cell(delta: Optional[Tuple[float, Optional[Tuple[float, float]]]]
               ) -> str:
  """'+0.0123 [+0.0045, +0.0201]*' ('*': the interval excludes 0)."""
  if delta is None:
    return '–'
  value, interval = delta
  if interval is None:
    return f'{value:+.4f}'
  return (f'{value:+.4f} [{interval[0]:+.4f}, {interval[1]:+.4f}]'
          f'{"*" if is_real(delta) else ""}')


def delta_table(results: Sequence[Mapping], data: str,
                pairs: Sequence[Tuple[str, str]], metric: str,
                slices: Sequence[str] = SLICES,
                settings: bootstrap.Settings = SETTINGS,
                shared: bool = False) -> List[str]:
  """One markdown table: a row per (variant, reference) pair present, a
  column per slice, cells = the paired difference and its 95% interval
  (`shared`: over the seeds both have, `pair_delta`)."""
  present = {r['variant'] for r in results if r['data'] == data}
  lines = ['| difference | ' + ' | '.join(slices) + ' |',
           '|---|' + '---|' * len(slices)]
  for a, b in pairs:
    if a not in present or b not in present:
      continue
    deltas = pair_delta(results, data, a, b, settings, shared)
    lines.append(f'| {a} − {b} | ' + ' | '.join(
        delta_cell(deltas.get((metric, name))) for name in slices) + ' |')
  return lines


def is_real(delta: Optional[Tuple[float, Optional[Tuple[float, float]]]]
            ) -> bool:
  """True when the paired 95% interval of the difference excludes 0."""
  if delta is None or delta[1] is None:
    return False
  low, high = delta[1]
  return low > 0 or high < 0


# (data, variant, metric, slice) -> (mean, std, n).
Summary = Dict[Tuple[str, str, str, str], Tuple[float, float, int]]


def summarize(results: Iterable[Mapping]) -> Summary:
  """Mean and std over seeds for every (data, variant, metric, slice)."""
  groups: Dict[Tuple[str, str, str, str], List[float]] = {}
  for r in results:
    for metric, by_slice in r['metrics'].items():
      if not isinstance(by_slice, Mapping):
        continue
      for name, value in by_slice.items():
        if value is not None:
          groups.setdefault((r['data'], r['variant'], metric, name),
                            []).append(float(value))
  return {key: mean_std(v) + (len(v),) for key, v in groups.items()}


def format_cell(mean: float, std: float, base: Optional[Tuple[float, float]],
                delta=None) -> str:
  """'0.1234 ± 0.0056' plus ' (+12.3%*)' against a baseline (mean, std).

  '*' marks a real difference: `delta` (difference, paired interval) has an
  interval that excludes 0.
  """
  text = f'{mean:.4f} ± {std:.4f}'
  if base is None:
    return text
  change = relative_change(mean, base[0])
  if change is None:
    return text + ' (n/a)'
  mark = '*' if is_real(delta) else ''
  return f'{text} ({change * 100:+.1f}%{mark})'


def markdown_table(summary: Summary, data: str, metric: str,
                   variants: Sequence[str], slices: Sequence[str] = SLICES,
                   baseline: str = BASELINE,
                   deltas: Optional[Deltas] = None) -> str:
  """One table: a row per variant, a column per slice, for one data size."""
  lines = ['| variant | ' + ' | '.join(slices) + ' |',
           '|---|' + '---|' * len(slices)]
  for variant in variants:
    cells = []
    for name in slices:
      value = summary.get((data, variant, metric, name))
      if value is None:
        cells.append('–')
        continue
      base = None
      if variant != baseline:
        b = summary.get((data, baseline, metric, name))
        if b:
          base = (b[0], b[1])
      cells.append(format_cell(value[0], value[1], base, (deltas or {}).get(
          (data, variant, metric, name))))
    lines.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def goal_lines(summary: Summary, goals: Sequence[Tuple[str, str, str, float]],
               variant: str = 'cfm', baseline: str = BASELINE,
               deltas: Optional[Deltas] = None) -> List[str]:
  """One line per goal (data, metric, slice, minimum relative change).

  Says the measured change, the paired 95% interval of the difference
  (pooled over seeds) and whether the goal is reached: the change reaches the
  target and the interval lies above 0.
  """
  lines = []
  for data, metric, name, target in goals:
    v = summary.get((data, variant, metric, name))
    b = summary.get((data, baseline, metric, name))
    label = f'{data} {metric} {name}: {variant} vs {baseline}'
    if v is None or b is None:
      lines.append(f'- {label}: not measured')
      continue
    change = relative_change(v[0], b[0])
    if change is None:
      lines.append(f'- {label}: baseline is 0')
      continue
    delta = (deltas or {}).get((data, variant, metric, name))
    if delta is None or delta[1] is None:
      real, why = False, ' (no per-user results: no paired interval)'
    else:
      low, high = delta[1]
      real = low > 0
      why = (f', paired 95% interval of the difference [{low:+.4f}, '
             f'{high:+.4f}]')
    reached = change >= target and real
    lines.append(
        f'- {label}: {change * 100:+.1f}% (goal >= {target * 100:+.0f}%)'
        f'{why}: {"reached" if reached else "NOT reached"}')
  return lines

"""Aggregation and markdown tables of the quality benchmark (pure Python).

A result is one training + evaluation:
  {'data': 'full', 'variant': 'cfm', 'seed': 0,
   'metrics': {'recall@50': {'overall': x, 'head': x, 'tail': x, 'cold': x
                             (or None when the slice has no eval event)}, ...},
   'train_seconds': s, 'examples_per_second': r}

Over seeds: the mean and the sample standard deviation (ddof=1; 0 for a single
seed). Relative change against the baseline variant: (mean - base) / base.
A change is marked significant ('*') when |mean - base| exceeds the sum of the
two standard deviations, i.e. the difference is larger than the seeds' spread.
"""
import math
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

SLICES = ('overall', 'head', 'tail', 'cold')
METRICS = ('recall@10', 'recall@50', 'map@50')
BASELINE = 'none'


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


def exceeds_spread(mean: float, std: float, base_mean: float,
                   base_std: float) -> bool:
  """True when the difference of the means exceeds the sum of the stds."""
  return abs(mean - base_mean) > std + base_std


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
                judge_spread: bool = True) -> str:
  """'0.1234 ± 0.0056' plus ' (+12.3%*)' against a baseline (mean, std).

  '*' marks a change larger than the seeds' spread (exceeds_spread); never
  when `judge_spread` is False (fewer than two seeds: no spread to compare).
  """
  text = f'{mean:.4f} ± {std:.4f}'
  if base is None:
    return text
  change = relative_change(mean, base[0])
  if change is None:
    return text + ' (n/a)'
  mark = '*' if judge_spread and exceeds_spread(mean, std, base[0],
                                                base[1]) else ''
  return f'{text} ({change * 100:+.1f}%{mark})'


def markdown_table(summary: Summary, data: str, metric: str,
                   variants: Sequence[str], slices: Sequence[str] = SLICES,
                   baseline: str = BASELINE) -> str:
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
      base, judge = None, False
      if variant != baseline:
        b = summary.get((data, baseline, metric, name))
        if b:
          base, judge = (b[0], b[1]), min(value[2], b[2]) >= 2
      cells.append(format_cell(value[0], value[1], base, judge))
    lines.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def goal_lines(summary: Summary, goals: Sequence[Tuple[str, str, str, float]],
               variant: str = 'cfm', baseline: str = BASELINE) -> List[str]:
  """One line per goal (data, metric, slice, minimum relative change).

  Says the measured change, whether it reaches the goal and whether it exceeds
  the seeds' spread (a goal counts as reached only when both hold, with at
  least two seeds of each).
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
    reached = change >= target
    if min(v[2], b[2]) < 2:
      spread, why = False, ' (one seed: no spread to compare)'
    else:
      spread = exceeds_spread(v[0], v[1], b[0], b[1])
      why = '' if spread else ' (within the seeds spread)'
    lines.append(
        f'- {label}: {change * 100:+.1f}% (goal >= {target * 100:+.0f}%): '
        f'{"reached" if reached and spread else "NOT reached"}{why}')
  return lines

"""Blessing decision from metrics.json dicts (pure).

A candidate is blessed when
  1. its overall Recall@K >= `min_recall`, and
  2. when a baseline (the last blessed model) exists, its overall Recall@K is
     not below the baseline's by more than `max_overall_drop`, and its tail
     Recall@K is not below the baseline's by more than `max_tail_drop`.
Drops are absolute (recall points, e.g. 0.01 = one point). The first run, with
no baseline, is judged on the threshold alone. A tail check is skipped (and
the reason says so) when either model has no tail eval event.

Paired interval: when the candidate's dict has `delta_ci95.baseline` (the
paired bootstrap over users of candidate - baseline, summary.py), a drop
beyond the tolerance blocks the blessing only when it is also real: the
whole 95% interval of the difference lies below 0. A drop whose interval
reaches 0 passes, and the reason says so. Without the interval (a dict
without `delta_ci95`) the rule is the point rule above. The interval is
deterministic for a given bootstrap seed, so is the decision.

Evidence first: no blessing on fewer than `min_eval_events` eval events or
`min_eval_users` eval users (the dict's `n_events` / `n_users` of the
overall slice), nor when the candidate's 95% interval of overall Recall@K
has zero width (a degenerate sample: one user, or every bootstrap sample
equal). A dict without counts or interval is not checked for them.

Defaults: K = 50, min_recall = 0.05 (random ranking on MovieLens-100K's 1682
items gives 50/1682 = 0.03), max_overall_drop = max_tail_drop = 0.01,
min_eval_events = 1000 and min_eval_users = 50 (MovieLens-100K's temporal
split has ~10K eval events of a few hundred users).
"""
import dataclasses
import math
from typing import List, Mapping, Optional, Tuple

from components.retrieval_evaluator import metrics


@dataclasses.dataclass(frozen=True)
class BlessingConfig:
  k: int = 50
  min_recall: float = 0.05
  max_overall_drop: float = 0.01
  max_tail_drop: float = 0.01
  min_eval_events: int = 1000
  min_eval_users: int = 50

  def __post_init__(self):
    for name in ('min_eval_events', 'min_eval_users'):
      value = getattr(self, name)
      if not isinstance(value, int) or value < 0:
        raise ValueError(f'{name} must be an int >= 0, got {value!r}')
    if not isinstance(self.k, int) or self.k < 1:
      raise ValueError(f'blessing k must be a positive int, got {self.k!r}')
    for name in ('min_recall', 'max_overall_drop', 'max_tail_drop'):
      value = getattr(self, name)
      if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise ValueError(f'{name} must be a number >= 0, got {value!r}')


def _recall(m: Mapping, k: int, slice_name: str, who: str) -> Optional[float]:
  key = metrics.recall_key(k)
  if key not in m:
    raise ValueError(f'{who} metrics have no {key!r} (blessing k={k} must be '
                     f'one of the evaluated ks); keys: {sorted(m)}')
  return m[key].get(slice_name)


def _delta_interval(candidate: Mapping, k: int, slice_name: str
                    ) -> Optional[List[float]]:
  deltas = (candidate.get('delta_ci95') or {}).get('baseline') or {}
  cell = (deltas.get(metrics.recall_key(k)) or {}).get(slice_name)
  return cell.get('ci95') if cell else None


def decide(candidate: Mapping, baseline: Optional[Mapping],
           config: BlessingConfig = BlessingConfig()) -> Tuple[bool, str]:
  """Returns (blessed, reason): one sentence per check, failures first.

  Args:
    candidate: metrics dict of the candidate (summary.metrics_json output or
      summary.metrics_dict; `delta_ci95` is used when present).
    baseline: the same for the last blessed model, or None on a first run.
    config: thresholds.
  """
  k = config.k
  failures: List[str] = _evidence(candidate, config)
  passes: List[str] = []
  overall = _recall(candidate, k, metrics.OVERALL, 'candidate')
  if overall is None or overall < config.min_recall:
    failures.append(f'overall recall@{k} {_fmt(overall)} is below the '
                    f'threshold {config.min_recall:g}')
  else:
    passes.append(f'overall recall@{k} {_fmt(overall)} >= threshold '
                  f'{config.min_recall:g}')
  if baseline is None:
    passes.append('no blessed baseline yet: regression checks skipped')
  else:
    for slice_name, max_drop in ((metrics.OVERALL, config.max_overall_drop),
                                 (metrics.TAIL, config.max_tail_drop)):
      cand = _recall(candidate, k, slice_name, 'candidate')
      base = _recall(baseline, k, slice_name, 'baseline')
      if cand is None or base is None:
        passes.append(f'{slice_name} recall@{k} not compared (no '
                      f'{slice_name} eval events)')
      elif base - cand > max_drop + 1e-12:
        interval = _delta_interval(candidate, k, slice_name)
        drop = (f'{slice_name} recall@{k} {_fmt(cand)} dropped by '
                f'{base - cand:.4f} from the baseline {_fmt(base)} '
                f'(tolerance {max_drop:g}')
        if interval is None:
          failures.append(drop + ')')
        elif interval[1] < 0:
          failures.append(drop + f', paired 95% interval of the difference '
                          f'[{interval[0]:+.4f}, {interval[1]:+.4f}] below 0)')
        else:
          passes.append(drop + f', but the paired 95% interval of the '
                        f'difference [{interval[0]:+.4f}, {interval[1]:+.4f}] '
                        'includes 0: not a real drop)')
      else:
        passes.append(f'{slice_name} recall@{k} {_fmt(cand)} vs baseline '
                      f'{_fmt(base)} (tolerance {max_drop:g})')
  blessed = not failures
  verdict = 'blessed' if blessed else 'NOT blessed'
  return blessed, f'{verdict}: ' + '; '.join(failures + passes)


def _evidence(candidate: Mapping, config: BlessingConfig) -> List[str]:
  """Why the candidate's evaluation is too thin to bless it ([] if not)."""
  out = []
  events = (candidate.get('n_events') or {}).get(metrics.OVERALL)
  users = (candidate.get('n_users') or {}).get(metrics.OVERALL)
  if events is not None and users is not None and (
      events < config.min_eval_events or users < config.min_eval_users):
    out.append(f'too little evidence: {events} eval events of {users} users '
               f'(minimum {config.min_eval_events} events and '
               f'{config.min_eval_users} users: evaluation.min_eval_events / '
               'min_eval_users)')
  interval = ((candidate.get('ci95') or {}).get(metrics.recall_key(config.k))
              or {}).get(metrics.OVERALL)
  if interval is not None and not interval[1] > interval[0]:
    out.append(f'degenerate evaluation: the 95% interval of overall '
               f'recall@{config.k} [{interval[0]:.4f}, {interval[1]:.4f}] has '
               'zero width')
  return out


def _fmt(value: Optional[float]) -> str:
  return 'n/a' if value is None else f'{value:.4f}'

"""Paired bootstrap over users for a difference of two models' recall (bench-only).

Events of one user are correlated, so the unit of resampling is the user: draw
the users with replacement, take every event of each drawn user (as many times
as the user is drawn), and compute the difference of the two models' recall on
those events, both models scored on the same events (paired). Recall is the
event-weighted mean of the hits, as in the evaluator.
"""
import dataclasses
from typing import Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Interval:
  mean: float   # the difference on the events as they are
  low: float    # 2.5th percentile of the bootstrap differences
  high: float   # 97.5th percentile


def paired_user_bootstrap(a: np.ndarray, b: np.ndarray, users: Sequence,
                          num_boot: int = 1000, seed: int = 0,
                          level: float = 0.95) -> Interval:
  """Mean(a) - mean(b) with a bootstrap interval over users.

  Args:
    a, b: float [num_events] per-event hits (0/1, or means over seeds) of two
      models on the same events.
    users: [num_events] the user of each event.
    num_boot: bootstrap replicates.
    seed: numpy seed.
    level: interval coverage.
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape != b.shape or a.ndim != 1 or len(a) != len(users):
    raise ValueError(f'a {a.shape}, b {b.shape} and users ({len(users)}) must '
                     'be 1-D of one length')
  if not len(a):
    raise ValueError('paired bootstrap of no events')
  _, user_index = np.unique(np.asarray(users, dtype=object).astype(str),
                            return_inverse=True)
  num_users = int(user_index.max()) + 1
  diff_sum = np.bincount(user_index, weights=a - b, minlength=num_users)
  count = np.bincount(user_index, minlength=num_users).astype(np.float64)
  rng = np.random.default_rng(seed)
  draws = rng.integers(0, num_users, size=(num_boot, num_users))
  weight = np.stack([np.bincount(d, minlength=num_users) for d in draws])
  boot = (weight @ diff_sum) / (weight @ count)
  tail = (1 - level) / 2
  return Interval(float(diff_sum.sum() / count.sum()),
                  float(np.quantile(boot, tail)),
                  float(np.quantile(boot, 1 - tail)))

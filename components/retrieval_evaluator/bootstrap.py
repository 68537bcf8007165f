"""95% intervals by bootstrap over users (pure numpy).

Events of one user are correlated (same tastes, same history), so the unit of
resampling is the user, not the event: a bootstrap sample draws as many users
as there are, with replacement, and keeps all events of each drawn user.

Every metric here is a ratio over events, value = sum(hits) / sum(events)
(Recall@K: hits are 0/1; MAP@K: hits are the events' AP@K), restricted to a
slice. Per-user aggregates make the bootstrap vectorized: with
`numerators[u, c]` = sum of user u's event values in column c (a metric in a
slice) and `denominators[u, c]` = user u's events in that slice, a sample with
user multiplicities w[u] has the value sum_u w[u] num[u, c] / sum_u w[u] den[u, c]
(the ratio estimator). The multiplicities of all samples are one seeded
multinomial weight matrix [samples, users], drawn in fixed blocks, so a result
depends only on (seed, samples, number of users) and the aggregates.

Paired: two models evaluated on the same events share the weight matrix, and
the interval is that of the per-sample difference; a model against itself has
the interval [0, 0] exactly. The interval is the percentile interval
(2.5th and 97.5th percentiles of the samples; numpy's linear interpolation).
A sample whose slice has no event gives no value; a column without events
has no interval (None).
"""
import dataclasses
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

DEFAULT_SAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 0.95
# Weight entries drawn per block ([rows, users]): bounds memory; a constant so
# that the drawn stream, and therefore every interval, is reproducible.
_BLOCK_ENTRIES = 1 << 22

Interval = Optional[Tuple[float, float]]


@dataclasses.dataclass(frozen=True)
class Settings:
  samples: int = DEFAULT_SAMPLES
  seed: int = DEFAULT_SEED

  def __post_init__(self):
    if (not isinstance(self.samples, (int, np.integer))
        or isinstance(self.samples, bool) or self.samples < 1):
      raise ValueError(f'bootstrap samples must be an int >= 1, got '
                       f'{self.samples!r}')
    if (not isinstance(self.seed, (int, np.integer))
        or isinstance(self.seed, bool) or self.seed < 0):
      raise ValueError(f'bootstrap seed must be an int >= 0, got '
                       f'{self.seed!r}')


def per_user_sums(user_index: np.ndarray, values: np.ndarray,
                  num_users: int) -> np.ndarray:
  """Sums event values per user.

  Args:
    user_index: int [num_events] user of each event, in [0, num_users).
    values: float [num_events, num_columns] (or [num_events]).
    num_users: number of users (rows of the result).

  Returns:
    float64 [num_users, num_columns] (or [num_users]).
  """
  user_index = np.asarray(user_index, np.int64)
  values = np.asarray(values, np.float64)
  flat = values.ndim == 1
  values = values[:, None] if flat else values
  if len(user_index) != len(values):
    raise ValueError(f'{len(user_index)} user indices for {len(values)} '
                     'events')
  if len(user_index) and (user_index.min() < 0
                          or user_index.max() >= num_users):
    raise ValueError(f'user indices must be in [0, {num_users})')
  out = np.zeros([num_users, values.shape[1]], np.float64)
  for c in range(values.shape[1]):
    out[:, c] = np.bincount(user_index, weights=values[:, c],
                            minlength=num_users)
  return out[:, 0] if flat else out


def weight_blocks(num_users: int, settings: Settings) -> Iterator[np.ndarray]:
  """Yields the multinomial user multiplicities, float64 [rows, num_users].

  The rows of all blocks are the `settings.samples` bootstrap samples; each
  row sums to num_users.
  """
  if num_users < 1:
    raise ValueError('a bootstrap over users needs at least one user')
  rng = np.random.default_rng(settings.seed)
  rows_per_block = max(1, _BLOCK_ENTRIES // max(num_users, 1))
  done = 0
  while done < settings.samples:
    rows = min(rows_per_block, settings.samples - done)
    drawn = rng.integers(0, num_users, size=(rows, num_users))
    flat = drawn + (np.arange(rows) * num_users)[:, None]
    counts = np.bincount(flat.ravel(), minlength=rows * num_users)
    yield counts.reshape(rows, num_users).astype(np.float64)
    done += rows


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
  with np.errstate(divide='ignore', invalid='ignore'):
    return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _percentiles(samples: np.ndarray) -> List[Interval]:
  """Per column: (low, high) of the non-NaN samples, None when there is none."""
  out: List[Interval] = []
  tail = (1 - LEVEL) / 2 * 100
  for column in samples.T:
    column = column[~np.isnan(column)]
    if not len(column):
      out.append(None)
      continue
    low, high = np.percentile(column, [tail, 100 - tail])
    out.append((float(low), float(high)))
  return out


def _check(numerators: Sequence[np.ndarray], denominators: np.ndarray) -> None:
  if denominators.ndim != 2:
    raise ValueError(f'aggregates must be [num_users, num_columns], got '
                     f'{denominators.shape}')
  for num in numerators:
    if num.shape != denominators.shape:
      raise ValueError(f'numerators {num.shape} and denominators '
                       f'{denominators.shape} differ in shape')


def sample_ratios(numerators: Sequence[np.ndarray], denominators: np.ndarray,
                  settings: Settings = Settings()) -> List[np.ndarray]:
  """Bootstrap samples of each model's ratios, all models on the same weights.

  Args:
    numerators: per model, float [num_users, num_columns] per-user sums of
      event values (models evaluated on the same events).
    denominators: float [num_users, num_columns] per-user event counts.
    settings: samples and seed.

  Returns:
    Per model, float64 [samples, num_columns]; NaN where a sample has no event
    in the column.
  """
  numerators = [np.asarray(n, np.float64) for n in numerators]
  denominators = np.asarray(denominators, np.float64)
  _check(numerators, denominators)
  samples: List[List[np.ndarray]] = [[] for _ in numerators]
  for weights in weight_blocks(denominators.shape[0], settings):
    den = weights @ denominators
    for i, num in enumerate(numerators):
      samples[i].append(_ratio(weights @ num, den))
  return [np.concatenate(s) for s in samples]


def percentile_intervals(samples: np.ndarray) -> List[Interval]:
  """Per column of [samples, num_columns]: the 95% percentile interval."""
  return _percentiles(np.asarray(samples, np.float64))


def intervals(numerators: np.ndarray, denominators: np.ndarray,
              settings: Settings = Settings()) -> List[Interval]:
  """95% intervals of the ratio sum(num) / sum(den) of every column."""
  (samples,) = sample_ratios([numerators], denominators, settings)
  return percentile_intervals(samples)


def paired_delta_intervals(numerators: np.ndarray, reference: np.ndarray,
                           denominators: np.ndarray,
                           settings: Settings = Settings()) -> List[Interval]:
  """95% intervals of ratio(numerators) - ratio(reference), paired by user."""
  a, b = sample_ratios([numerators, reference], denominators, settings)
  return percentile_intervals(a - b)


def ratios(numerators: np.ndarray, denominators: np.ndarray
           ) -> List[Optional[float]]:
  """The point estimates sum(num) / sum(den) per column (None without events)."""
  num = np.asarray(numerators, np.float64).sum(0)
  den = np.asarray(denominators, np.float64).sum(0)
  return [None if d <= 0 else float(n / d) for n, d in zip(num, den)]


def paired_event_delta(a: np.ndarray, b: np.ndarray, users: Sequence,
                       settings: Settings = Settings()
                       ) -> Tuple[float, Interval]:
  """Mean(a) - mean(b) over events and its paired 95% interval over users.

  The per-event form of `paired_delta_intervals` (one column): the events'
  values of two models on the same events (0/1 hits, AP@K, or values averaged
  over seeds) and the user of each event.
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape != b.shape or a.ndim != 1 or len(a) != len(users):
    raise ValueError(f'a {a.shape}, b {b.shape} and users ({len(users)}) must '
                     'be 1-D of one length')
  if not len(a):
    raise ValueError('paired bootstrap of no events')
  _, user_index = np.unique(np.asarray([str(u) for u in users]),
                            return_inverse=True)
  num_users = int(user_index.max()) + 1
  den = per_user_sums(user_index, np.ones(len(a)), num_users)[:, None]
  (interval,) = paired_delta_intervals(
      per_user_sums(user_index, a, num_users)[:, None],
      per_user_sums(user_index, b, num_users)[:, None], den, settings)
  return float(a.mean() - b.mean()), interval

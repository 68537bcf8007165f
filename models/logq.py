"""Sampling probabilities of the main task's candidates (logQ correction).

The in-batch softmax draws its candidates from the log (the batch's
positives): a draw is item j with probability Q(j), its share of the training
events (smoothed: (count + 1) / (events + items), so an item never seen in
training has Q > 0). The logQ correction (Yi et al., RecSys'19) scores the
candidates s(q, j) - log Q(j); with it the batch softmax estimates the softmax
over all of the model's candidates, whose optimum is
s(q, j) = log P(j | q) + c(q).
"""
import numpy as np


def checked_counts(item_counts: np.ndarray) -> np.ndarray:
  """float64 [num_items] of the items' training counts, or a clear error."""
  counts = np.asarray(item_counts, np.float64)
  if counts.ndim != 1 or not counts.size:
    raise ValueError(f'item_counts must be a non-empty vector, got shape '
                     f'{counts.shape}')
  if (counts < 0).any():
    raise ValueError(f'item_counts must be >= 0, got {counts.min():g} at row '
                     f'{int(np.argmin(counts))}')
  return counts


def candidate_probability(item_counts: np.ndarray) -> np.ndarray:
  """float64 [num_items]: the probability that a draw from the log is each
  corpus row's candidate (the logQ correction's Q).

  item_counts: int [num_items] training events of each corpus row.
  """
  counts = checked_counts(item_counts)
  return (counts + 1.0) / (counts.sum() + counts.size)

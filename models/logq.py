"""Sampling probabilities of the main task's candidates (logQ correction).

The in-batch softmax draws its candidates from the log (the batch's
positives): a draw is item j with probability Q(j), its share of the training
events (smoothed: (count + 1) / (events + items), so an item never seen in
training has Q > 0). The logQ correction (Yi et al., RecSys'19) scores the
candidates s(q, j) - log Q(j); with it the batch softmax estimates the softmax
over all of the model's candidates, whose optimum is
s(q, j) = log P(j | q) + c(q).

The rare-item fallback group (models/fallback.py): the items with fewer than
`min_item_count` training events (cold ones included) share one id embedding,
the id feature's learned default. For the part of the score the id gives, the
model has one candidate G for the whole group, not |G| of them, and a draw
lands in G with probability Q(G) = sum of Q(j) over j in G.

`fallback_logq: item` (the default) corrects each member by its own log Q(j):
the estimate is the item-level softmax, in which the shared id candidate is
counted once per member, so the shared embedding's optimum is log P(j | q) of
a typical member, log |G| below the group's: "rare: score low", which every
cold item inherits. Each rare in-batch negative, its logit raised by
-log Q(j) (an item with 1 event of 80,000: about 10.6), also dominates its
batch's normaliser, so the shared embedding takes the push-down of every rare
negative of every batch.

`fallback_logq: group` gives every member Q(G): G's corrected logit is
s(q, G) - log Q(G) and the shared embedding estimates log P(G | q) + c(q), the
interest in the group as a whole, the one estimate a single shared parameter
can carry as a group-level softmax. Each member then ranks as if it carried
the whole group's probability, log |G| above the item-level optimum (a few
hundred members: several nats, more than the cosine range / temperature).
Measured on ML-100K validation (docs/benchmarks.md, "Rare-item fallback under
logQ"): the fallback items move from the bottom of every ranking to the top
quarter, their recall rises, and overall recall falls far. Members still
differ by their content features; the choice concerns the id part of their
score, which is one.

Mixed negatives (models/negatives.py) also draw M candidates uniformly from
the corpus: a uniform draw lands in G with probability |G| / N, so the group's
uniform share is |G| / N and every other item's 1 / N.
"""
from typing import NamedTuple, Optional

import numpy as np


class CandidateProbability(NamedTuple):
  """Per corpus row (float64 [num_items]): the probability a draw from the
  log is its candidate (`log`), and that a uniform corpus draw is
  (`uniform`); a fallback item's figures are its group's."""
  log: np.ndarray
  uniform: np.ndarray


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


def candidate_probability(item_counts: np.ndarray,
                          fallback_rows: Optional[np.ndarray] = None
                          ) -> CandidateProbability:
  """The logQ correction's probabilities of every corpus row.

  Args:
    item_counts: int [num_items] training events of each corpus row.
    fallback_rows: optional bool [num_items], True for the rows that get the
      fallback group's probability (fallback.rare_rows, fallback_logq group);
      None or all False: every item its own probability.
  """
  counts = checked_counts(item_counts)
  p = (counts + 1.0) / (counts.sum() + counts.size)
  uniform = np.full(counts.size, 1.0 / counts.size)
  if fallback_rows is None:
    return CandidateProbability(p, uniform)
  group = np.asarray(fallback_rows, bool)
  if group.shape != counts.shape:
    raise ValueError(f'fallback_rows {group.shape} and item_counts '
                     f'{counts.shape} must have one length')
  if group.any():
    p = np.where(group, p[group].sum(), p)
    uniform = np.where(group, group.sum() / counts.size, uniform)
  return CandidateProbability(p, uniform)

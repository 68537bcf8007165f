"""Mixed negative sampling for the main task (Yang et al., WWW'20).

The in-batch softmax's negatives are the batch's positives, drawn from the log,
so popular items are negatives far more often than tail items (the model learns
to push the head down) and items missing from the log are never negatives.
Mixed negative sampling adds M items drawn uniformly from the whole corpus to
the candidates of every query: the softmax runs over [B in-batch + M uniform]
candidates, so every item also gets gradient as a negative.

With the logQ correction, every candidate's logit is corrected by the log of
its probability under the mixture the candidates were drawn from,
q(j) = (B p(j) + M u(j)) / (B + M), p = the log's item distribution, u(j) = 1 / N
the uniform one over a corpus of N items (the candidates of a batch are B draws
from p plus M draws from the uniform distribution). A rare-item fallback item's
p and u are its group's (models/logq.py): u = |group| / N.
"""
from typing import Optional

import tensorflow as tf


def mixture_probability(p: tf.Tensor, u, batch_size, num_uniform
                        ) -> tf.Tensor:
  """q(j) = (B p(j) + M u(j)) / (B + M) of candidates with log probability p
  and uniform probability u (1 / N, or a tensor like p).

  The counts may be Python ints or scalar tensors.
  """
  p = tf.convert_to_tensor(p, tf.float32)
  u = tf.cast(u, p.dtype)
  b, m = (tf.cast(x, p.dtype) for x in (batch_size, num_uniform))
  return (b * p + m * u) / (b + m)


class UniformRows(tf.Module):
  """Draws corpus rows uniformly with replacement (its own seeded generator)."""

  def __init__(self, num_items: int, seed: int):
    super().__init__(name='uniform_rows')
    if num_items < 1:
      raise ValueError(f'the item corpus is empty (num_items={num_items})')
    self.num_items = num_items
    self.generator = tf.random.Generator.from_seed(seed)

  def __call__(self, num: int) -> tf.Tensor:
    """int64 [num] rows in [0, num_items)."""
    return self.generator.uniform([num], maxval=self.num_items, dtype=tf.int64)


def mixed_candidates(positives: tf.Tensor, positive_rows: tf.Tensor,
                     negatives: tf.Tensor, negative_rows: tf.Tensor,
                     probability: Optional[tf.Tensor] = None,
                     uniform_probability: Optional[tf.Tensor] = None):
  """Candidates of the mixed softmax: the positives first (so query i's
  positive is candidate i), then the uniform negatives.

  Args:
    positives: [B, d] item embeddings of the batch's positives.
    positive_rows: int64 [B] their corpus rows.
    negatives: [M, d] embeddings of the uniform corpus items.
    negative_rows: int64 [M] their rows.
    probability: optional float [num_items] log item probability p; when
      given, the mixture probability of each candidate is returned too.
    uniform_probability: optional float [num_items] probability u that a
      uniform draw is the item's candidate (models/logq.py); None = 1 / N.

  Returns:
    (embeddings [B + M, d], rows [B + M], q [B + M] or None).
  """
  rows = tf.concat([positive_rows, negative_rows], axis=0)
  embeddings = tf.concat([positives, negatives], axis=0)
  if probability is None:
    return embeddings, rows, None
  u = (1.0 / tf.cast(tf.shape(probability)[0], tf.float32)
       if uniform_probability is None else tf.gather(uniform_probability, rows))
  q = mixture_probability(tf.gather(probability, rows), u,
                          tf.shape(positive_rows)[0], tf.shape(negative_rows)[0])
  return embeddings, rows, q

"""Mixed negative sampling for the main task (Yang et al., WWW'20).

The in-batch softmax's negatives are the batch's positives, drawn from the log,
so popular items are negatives far more often than tail items (the model learns
to push the head down) and items missing from the log are never negatives.
Mixed negative sampling adds M items drawn uniformly from the whole corpus to
the candidates of every query: the softmax runs over [B in-batch + M uniform]
candidates, so every item also gets gradient as a negative.

With the logQ correction, every candidate's logit is corrected by the log of
its probability under the mixture the candidates were drawn from,
q(j) = (B p(j) + M / N) / (B + M), p = the log's item distribution, N = the
corpus size (the candidates of a batch are B draws from p plus M draws from
the uniform distribution).
"""
from typing import Optional

import tensorflow as tf


def mixture_probability(p: tf.Tensor, batch_size, num_uniform,
                        num_items) -> tf.Tensor:
  """q(j) = (B p(j) + M / N) / (B + M) of candidates with log probability p.

  The counts may be Python ints or scalar tensors.
  """
  p = tf.convert_to_tensor(p, tf.float32)
  b, m, n = (tf.cast(x, p.dtype) for x in (batch_size, num_uniform, num_items))
  return (b * p + m / n) / (b + m)


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
                     probability: Optional[tf.Tensor] = None):
  """Candidates of the mixed softmax: the positives first (so query i's
  positive is candidate i), then the uniform negatives.

  Args:
    positives: [B, d] item embeddings of the batch's positives.
    positive_rows: int64 [B] their corpus rows.
    negatives: [M, d] embeddings of the uniform corpus items.
    negative_rows: int64 [M] their rows.
    probability: optional float [num_items] log item probability p; when
      given, the mixture probability of each candidate is returned too.

  Returns:
    (embeddings [B + M, d], rows [B + M], q [B + M] or None).
  """
  rows = tf.concat([positive_rows, negative_rows], axis=0)
  embeddings = tf.concat([positives, negatives], axis=0)
  if probability is None:
    return embeddings, rows, None
  q = mixture_probability(tf.gather(probability, rows),
                          tf.shape(positive_rows)[0], tf.shape(negative_rows)[0],
                          tf.shape(probability)[0])
  return embeddings, rows, q

"""The self-supervised item-tower task: InfoNCE loss and uniform corpus sampling.

Pure TensorFlow, no TFX. The SSL batch is drawn uniformly from the item corpus
(not from the log), both views go through the shared item tower, and
`info_nce` pulls the two views of an item together and pushes the other items of
the batch away (Yao et al., CIKM'21; docs/ssl.md).
"""
from typing import Any, Dict, Iterable, Mapping, Optional

import tensorflow as tf


def info_nce(z1: tf.Tensor, z2: tf.Tensor, temperature: float,
             ids: Optional[tf.Tensor] = None) -> tf.Tensor:
  """InfoNCE with in-batch negatives, cosine similarity / temperature, mean.

  L = -(1/N) sum_i log( exp(s(z1_i, z2_i)/t) / sum_j exp(s(z1_i, z2_j)/t) ),
  s = cosine similarity. Mean over the batch (unlike `tfrs.tasks.Retrieval`,
  whose default sums), so its scale does not depend on the SSL batch size.

  Args:
    z1: float [N, d], view-1 embeddings (normalized here; need not be on input).
    z2: float [N, d], view-2 embeddings of the same N items, same order.
    temperature: t > 0.
    ids: optional [N] item ids. When given, a negative j of row i with
      ids[j] == ids[i] (the same item sampled twice, which happens with uniform
      sampling with replacement) is left out of row i's softmax, like TFRS's
      accidental-hit removal.

  Returns:
    Scalar float loss.
  """
  if temperature <= 0:
    raise ValueError(f'temperature must be > 0, got {temperature}')
  z1 = tf.math.l2_normalize(z1, axis=-1)
  z2 = tf.math.l2_normalize(z2, axis=-1)
  logits = tf.linalg.matmul(z1, z2, transpose_b=True) / temperature  # [N, N]
  n = tf.shape(logits)[0]
  if ids is not None:
    ids = tf.reshape(ids, [-1])
    same = tf.equal(ids[:, tf.newaxis], ids[tf.newaxis, :])
    duplicate = tf.logical_and(same, tf.logical_not(tf.eye(n, dtype=tf.bool)))
    logits = tf.where(duplicate, tf.constant(-1e9, logits.dtype), logits)
  labels = tf.range(n)
  return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=labels, logits=logits))


def uniform_item_sampler(num_items: int, batch_size: int,
                         seed: int) -> tf.data.Dataset:
  """Infinite batches of row indices drawn uniformly with replacement.

  Batch b is `stateless_uniform([batch_size], seed=[seed, b])`, so the stream
  is reproducible and independent of how often items occur in the log.

  Args:
    num_items: corpus size; indices are in [0, num_items).
    batch_size: indices per batch.
    seed: int seed.

  Returns:
    Dataset of int64 [batch_size].
  """
  if num_items < 1:
    raise ValueError(f'the item corpus is empty (num_items={num_items})')
  if batch_size < 1:
    raise ValueError(f'batch_size must be >= 1, got {batch_size}')

  def draw(step):
    return tf.random.stateless_uniform(
        [batch_size], seed=tf.stack([tf.constant(seed, tf.int64), step]),
        maxval=num_items, dtype=tf.int64)

  return tf.data.Dataset.counter(dtype=tf.int64).map(draw)


def gather_items(table: Mapping[str, Any], indices: tf.Tensor) -> Dict[str, Any]:
  """Rows `indices` of a corpus table {name: [num_items] or ragged [num_items, None]}."""
  return {name: tf.gather(column, indices) for name, column in table.items()}


def ssl_item_dataset(table: Mapping[str, Any], batch_size: int,
                     seed: int) -> tf.data.Dataset:
  """Infinite uniform batches of corpus items: (indices [B], features dict).

  Args:
    table: the transformed item corpus held in memory, one entry per feature,
      dense [num_items] or ragged [num_items, None] (see `corpus_table`).
    batch_size: SSL batch size.
    seed: int seed.
  """
  sizes = {name: int(_num_rows(col)) for name, col in table.items()}
  if len(set(sizes.values())) != 1:
    raise ValueError(f'corpus table columns differ in length: {sizes}')
  num_items = next(iter(sizes.values()))
  return uniform_item_sampler(num_items, batch_size, seed).map(
      lambda idx: (idx, gather_items(table, idx)))


def _num_rows(column) -> int:
  if isinstance(column, tf.RaggedTensor):
    return column.nrows()
  return tf.shape(column)[0]


def corpus_table(dataset: Iterable[Mapping[str, Any]]) -> Dict[str, Any]:
  """Concatenates feature-dict batches (a tf.data.Dataset) into one table.

  Dense [b] / [b, 1] columns become [num_items]; ragged and sparse [b, None]
  columns become ragged [num_items, None]. Meant for the item corpus, which
  fits in memory (1M items x 10 features of int64 ids is well under 1 GB).
  """
  parts: Dict[str, list] = {}
  for batch in dataset:
    for name, value in batch.items():
      if isinstance(value, tf.sparse.SparseTensor):
        value = tf.RaggedTensor.from_sparse(value)
      elif not isinstance(value, tf.RaggedTensor):
        value = tf.convert_to_tensor(value)
        if value.shape.rank == 2 and value.shape[1] == 1:
          value = tf.squeeze(value, axis=1)
      parts.setdefault(name, []).append(value)
  if not parts:
    raise ValueError('the item corpus is empty: no rows to sample SSL items from')
  return {name: tf.concat(values, axis=0) for name, values in parts.items()}

"""Rare-item fallback: the id of a rarely seen item is embedded by its default.

An item with fewer than `min_item_count` training events has an id embedding
the main task has barely (or never) trained: noise, which the SSL task, if it
trains that row at all, only makes "distinctive". With the fallback such an
item's id embedding is replaced by the item tower's learned default embedding
of the id feature (the one a masked id gets in the SSL views), so its
embedding comes from its content features. The flags are a non-trainable
table of the item tower indexed by the transformed id, so training, the
exported item tower and the index built from it all embed the item the same
way. The id's out-of-vocabulary row (an id unknown to the vocabulary) always
falls back. Under the logQ correction the fallback items share one candidate
probability, their group's (models/logq.py, which argues why).
"""
import numpy as np


def rare_rows(item_counts: np.ndarray, min_item_count: int) -> np.ndarray:
  """bool [num_items]: the corpus rows with fewer than `min_item_count`
  training events (all False for 0), the items that fall back."""
  return np.asarray(item_counts) < min_item_count


def rare_id_flags(item_counts: np.ndarray, corpus_ids: np.ndarray,
                  num_ids: int, min_item_count: int) -> np.ndarray:
  """Which rows of the item id table fall back to the default embedding.

  Args:
    item_counts: int [num_items] training events of each corpus row.
    corpus_ids: int [num_items] transformed item id (id table row) of each
      corpus row.
    num_ids: rows of the item id table (vocabulary + OOV).
    min_item_count: rows of items with fewer training events fall back.

  Returns:
    bool [num_ids]: True = embedded by the default embedding. Rows that belong
    to no corpus item (the OOV row) are True.
  """
  item_counts = np.asarray(item_counts)
  corpus_ids = np.asarray(corpus_ids, np.int64)
  if item_counts.shape != corpus_ids.shape:
    raise ValueError(f'item_counts {item_counts.shape} and corpus_ids '
                     f'{corpus_ids.shape} must have one length')
  if corpus_ids.size and (corpus_ids.min() < 0 or corpus_ids.max() >= num_ids):
    raise ValueError(f'corpus item ids must be in [0, {num_ids}), got '
                     f'[{corpus_ids.min()}, {corpus_ids.max()}]')
  flags = np.ones(num_ids, bool)
  flags[corpus_ids] = rare_rows(item_counts, min_item_count)
  return flags

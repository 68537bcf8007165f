"""How much each item counts: the `Weighting` choice and the `log` weights.

Pure pyarrow/numpy, no TFX.

  corpus  each item counts once (the default; the SSL task samples items
          uniformly from the corpus, so this is the distribution it sees)
  log     each item counts its number of interactions
"""
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.mutual_information.parsing import id_values
from components.mutual_information.schema_features import DataError
from components.mutual_information.sketches import ValueCounts
from models.options import Choice


class Weighting(Choice):
  CORPUS = 'corpus'
  LOG = 'log'


def check_weighting(weighting, has_interactions: bool,
                    interactions: str = 'input') -> Weighting:
  """`weighting` as a Weighting; ValueError if 'log' lacks the interactions."""
  weighting = Weighting.parse(weighting, 'weighting')
  if weighting is Weighting.LOG and not has_interactions:
    raise ValueError(f"weighting 'log' needs the interactions {interactions}")
  return weighting


def count_ids(record_batch: pa.RecordBatch, name: str) -> ValueCounts:
  """Number of rows per id value in one record batch."""
  if name not in record_batch.schema.names:
    raise DataError(f'interactions have no {name!r} column')
  ids = id_values(record_batch.column(name), name)
  return ValueCounts().add(ids, np.ones(len(ids))).compact()


def lookup_weights(record_batch: pa.RecordBatch, name: str,
                   id_counts: ValueCounts) -> np.ndarray:
  """Weight of each row: the count of its id in `id_counts` (0 if absent)."""
  if name not in record_batch.schema.names:
    raise DataError(f'items have no {name!r} column')
  ids = id_values(record_batch.column(name), name)
  id_counts.compact()
  if id_counts.values is None or not len(ids):
    return np.zeros(len(ids))
  index = pc.index_in(ids, value_set=id_counts.values).fill_null(-1)
  index = index.to_numpy(zero_copy_only=False)
  return np.where(index >= 0, id_counts.mass[np.maximum(index, 0)], 0.0)

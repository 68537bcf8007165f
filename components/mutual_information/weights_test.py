"""Tests of weights.py: the weighting choice and the 'log' weights (no TFX)."""
import numpy as np
import pyarrow as pa
import pytest

from components.mutual_information.schema_features import DataError
from components.mutual_information import weights as weights_lib
from tests.support import mi_tables


def test_log_weights_look_up_interaction_counts():
  interactions = mi_tables.record_batch({'item_id': ['b', 'a', 'b', 'z']})
  counts = weights_lib.count_ids(interactions, 'item_id')
  items = pa.RecordBatch.from_arrays(
      [pa.array([[b'a'], [b'b'], [b'c']], pa.large_list(pa.large_binary()))],
      ['item_id'])
  np.testing.assert_array_equal(
      weights_lib.lookup_weights(items, 'item_id', counts), [1., 2., 0.])
  # Integer ids (a CSV reader may infer them) match their decimal text.
  items = pa.RecordBatch.from_arrays(
      [pa.array([[7]], pa.large_list(pa.int64()))], ['item_id'])
  counts = weights_lib.count_ids(
      mi_tables.record_batch({'item_id': ['7', '7']}), 'item_id')
  np.testing.assert_array_equal(
      weights_lib.lookup_weights(items, 'item_id', counts), [2.])
  with pytest.raises(DataError, match='exactly one value'):
    weights_lib.count_ids(mi_tables.record_batch({'item_id': ['a', None]}),
                          'item_id')


def test_weighting_is_checked_once_with_its_interactions():
  assert weights_lib.check_weighting('log', True) is weights_lib.Weighting.LOG
  assert weights_lib.check_weighting(weights_lib.Weighting.CORPUS, False) is (
      weights_lib.Weighting.CORPUS)
  with pytest.raises(ValueError, match=r"weighting must be one of \['corpus', "
                     r"'log'\], got 'items'"):
    weights_lib.check_weighting('items', True)
  with pytest.raises(ValueError, match="'log' needs the interactions channel"):
    weights_lib.check_weighting('log', False, 'channel')

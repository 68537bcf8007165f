"""Tests of encoders.py: pass-1 statistics and the encoders (pure, no TFX)."""
import numpy as np
import pytest

from components.mutual_information import counting
from components.mutual_information import encoders as encoders_lib
from components.mutual_information import parsing
from components.mutual_information.schema_features import DataError
from tests.support import mi_tables


def test_top_k_oov_and_missing_codes():
  cells = ['a'] * 5 + ['b'] * 3 + ['c'] * 2 + ['d'] + [None] * 2
  feats = [('f', 'categorical')]
  batch = parsing.parse_batch(mi_tables.record_batch({'f': cells}), feats)
  stats = encoders_lib.add_to_stats(encoders_lib.new_stats(feats), batch)
  (encoder,) = encoders_lib.build_encoders(stats, feats, top_k=2,
                                           num_buckets=10)
  assert [v.decode() for v in encoder.vocab.to_pylist()] == ['a', 'b']
  assert encoder.cardinality == 4  # a, b, OOV, MISSING
  (column,) = counting.encode_batch(batch, [encoder]).columns
  assert column.lengths is None
  assert column.codes.tolist() == [0] * 5 + [1] * 3 + [2] * 3 + [3] * 2


def test_top_k_ties_break_by_value_and_weights_rank():
  feats = [('f', 'categorical')]
  rb = mi_tables.record_batch({'f': ['b', 'a', 'c', 'c']})
  batch = parsing.parse_batch(rb, feats, weights=np.array([1., 1., 0., 0.]))
  stats = encoders_lib.add_to_stats(encoders_lib.new_stats(feats), batch)
  (encoder,) = encoders_lib.build_encoders(stats, feats, top_k=5,
                                           num_buckets=10)
  # c has weight 0 (never seen in the log): not in the vocabulary.
  assert [v.decode() for v in encoder.vocab.to_pylist()] == ['a', 'b']


def test_multi_valued_rows_get_missing_code_when_empty():
  feats = [('g', 'multi_valued')]
  batch = parsing.parse_batch(mi_tables.record_batch({'g': ['a|b', '', 'b']}),
                             feats)
  stats = encoders_lib.add_to_stats(encoders_lib.new_stats(feats), batch)
  encoders = encoders_lib.build_encoders(stats, feats, 10, 10)
  (column,) = counting.encode_batch(batch, encoders).columns
  # vocab by mass: b (1.5), a (.5); MISSING = 3.
  assert column.codes.tolist() == [1, 0, 3, 0]
  assert column.lengths.tolist() == [2, 1, 1]


def test_build_encoders_errors():
  feats = [('item_id', 'id'), ('color', 'categorical')]
  with pytest.raises(DataError, match='corpus is empty'):
    encoders_lib.build_encoders(encoders_lib.new_stats(feats), feats, 10, 10)
  batch = parsing.parse_batch(mi_tables.record_batch({'item_id': ['i1']}),
                              feats)
  stats = encoders_lib.add_to_stats(encoders_lib.new_stats(feats), batch)
  with pytest.raises(DataError, match=r"\['color'\] missing from the "
                     'data'):
    encoders_lib.build_encoders(stats, feats, 10, 10)

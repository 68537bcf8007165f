"""Tests of value parsing, pass-1 statistics and encoders (pure, no TFX)."""
import numpy as np
import pyarrow as pa
import pytest

from components.mutual_information import counting
from tests.support import mi_tables
from components.mutual_information import values


def _values(column):
  return [v.decode() if isinstance(v, bytes) else v
          for v in (column.values.to_pylist()
                    if isinstance(column.values, pa.Array)
                    else column.values.tolist())]


def test_multi_valued_splits_on_separator_and_drops_empty_parts():
  col = mi_tables.list_column(['a|b', '', 'c||d|', None, '|', 'Sci Fi | x'],
                             pa.large_binary())
  parsed = values.parse_column(col, 'genres', 'multi_valued')
  assert _values(parsed) == ['a', 'b', 'c', 'd', 'Sci Fi', 'x']
  assert parsed.lengths.tolist() == [2, 0, 2, 0, 0, 2]


def test_text_tokens_as_the_transform():
  col = mi_tables.list_column(['The  Cat\tsat', '   ', 'DOG', "Toy Story (1995)",
                              "it's--ok!"], pa.large_binary())
  parsed = values.parse_column(col, 'title', 'text')
  assert _values(parsed) == ['the', 'cat', 'sat', 'dog', 'toy', 'story', '1995',
                             'it', 's', 'ok']
  assert parsed.lengths.tolist() == [3, 0, 1, 3, 3]


def test_flat_columns_as_read_from_csv():
  # A CSV read as strings: null = empty cell.
  parsed = values.parse_column(pa.array(['1.5', None, '', '2']), 'year',
                               'numeric')
  assert parsed.values.tolist() == [1.5, 2.0]
  assert parsed.lengths.tolist() == [1, 0, 0, 1]
  parsed = values.parse_column(pa.array(['x', None]), 'color', 'categorical')
  assert _values(parsed) == ['x'] and parsed.lengths.tolist() == [1, 0]


def test_numeric_nan_is_missing_and_ints_are_numbers():
  col = pa.array([[1.0], [float('nan')], []], pa.large_list(pa.float32()))
  parsed = values.parse_column(col, 'price', 'numeric')
  assert parsed.values.tolist() == [1.0]
  assert parsed.lengths.tolist() == [1, 0, 0]
  col = pa.array([[3], [4]], pa.large_list(pa.int64()))
  assert values.parse_column(col, 'n', 'numeric').values.dtype == np.float64


def test_non_numeric_value_in_numeric_column_names_the_feature():
  col = mi_tables.list_column(['1990', 'unknown'], pa.large_binary())
  with pytest.raises(values.DataError, match=r"numeric feature 'year'.*"
                     r"unknown"):
    values.parse_column(col, 'year', 'numeric')


def test_two_values_in_a_categorical_row_is_an_error():
  col = pa.array([[b'a'], [b'b', b'c']], pa.large_list(pa.large_binary()))
  with pytest.raises(values.DataError, match=r"'color' has 2 values in row "
                     r"1.*multi_valued"):
    values.parse_column(col, 'color', 'categorical')


def test_null_typed_column_is_all_missing():
  parsed = values.parse_column(pa.nulls(3), 'c', 'categorical')
  assert len(parsed.values) == 0 and parsed.lengths.tolist() == [0, 0, 0]


def test_top_k_oov_and_missing_codes():
  cells = ['a'] * 5 + ['b'] * 3 + ['c'] * 2 + ['d'] + [None] * 2
  feats = [('f', 'categorical')]
  batch = values.parse_batch(mi_tables.record_batch({'f': cells}), feats)
  stats = values.add_to_stats(values.new_stats(feats), batch)
  (encoder,) = values.build_encoders(stats, feats, top_k=2, num_buckets=10)
  assert [v.decode() for v in encoder.vocab.to_pylist()] == ['a', 'b']
  assert encoder.cardinality == 4  # a, b, OOV, MISSING
  (column,) = counting.encode_batch(batch, [encoder]).columns
  assert column.lengths is None
  assert column.codes.tolist() == [0] * 5 + [1] * 3 + [2] * 3 + [3] * 2


def test_top_k_ties_break_by_value_and_weights_rank():
  feats = [('f', 'categorical')]
  rb = mi_tables.record_batch({'f': ['b', 'a', 'c', 'c']})
  batch = values.parse_batch(rb, feats, weights=np.array([1., 1., 0., 0.]))
  stats = values.add_to_stats(values.new_stats(feats), batch)
  (encoder,) = values.build_encoders(stats, feats, top_k=5, num_buckets=10)
  # c has weight 0 (never seen in the log): not in the vocabulary.
  assert [v.decode() for v in encoder.vocab.to_pylist()] == ['a', 'b']


def test_multi_valued_rows_get_missing_code_when_empty():
  feats = [('g', 'multi_valued')]
  batch = values.parse_batch(mi_tables.record_batch({'g': ['a|b', '', 'b']}),
                             feats)
  stats = values.add_to_stats(values.new_stats(feats), batch)
  encoders = values.build_encoders(stats, feats, 10, 10)
  (column,) = counting.encode_batch(batch, encoders).columns
  # vocab by mass: b (1.5), a (.5); MISSING = 3.
  assert column.codes.tolist() == [1, 0, 3, 0]
  assert column.lengths.tolist() == [2, 1, 1]


def test_quantile_boundaries_exact_for_few_values():
  sketch = values.QuantileSketch().add(np.arange(1.0, 11.0), np.ones(10))
  np.testing.assert_array_equal(sketch.boundaries(5), [3., 5., 7., 9.])
  assert not sketch.binned
  # Buckets hold two values each: [1,3) [3,5) [5,7) [7,9) [9,...).
  buckets = np.searchsorted(sketch.boundaries(5), np.arange(1.0, 11.0),
                            side='right')
  assert np.bincount(buckets).tolist() == [2, 2, 2, 2, 2]
  # Heavy values give repeated boundaries: deduplicated, no empty bucket.
  sketch = values.QuantileSketch().add(np.array([1., 2.]), np.array([4., 4.]))
  np.testing.assert_array_equal(sketch.boundaries(4), [2.])


def test_quantile_sketch_bins_beyond_size_with_small_error():
  rng = np.random.default_rng(0)
  data = np.concatenate([-rng.lognormal(size=5_000), np.zeros(1000),
                         rng.lognormal(size=44_000)])
  rng.shuffle(data)
  chunks = np.array_split(data, 25)
  sketch = values.QuantileSketch()
  for chunk in chunks:
    sketch.merge(values.QuantileSketch().add(chunk, np.ones(len(chunk)),
                                             size=512), size=512)
  assert sketch.binned
  assert sketch.weights.sum() == pytest.approx(50_000)
  bounds = sketch.boundaries(10)
  share = np.bincount(np.searchsorted(bounds, data, side='right')) / len(data)
  np.testing.assert_allclose(share, 0.1, atol=0.002)
  # Another split and merge order gives the very same boundaries.
  other = values.QuantileSketch()
  for chunk in reversed(np.array_split(data[::-1], 7)):
    other.merge(values.QuantileSketch().add(chunk, np.ones(len(chunk)),
                                            size=512), size=512)
  np.testing.assert_array_equal(other.boundaries(10), bounds)
  # Few distinct values stay exact.
  small = values.QuantileSketch().add(np.repeat([1., 2., 3.], 1000),
                                      np.ones(3000), size=512)
  assert not small.binned and small.points.tolist() == [1., 2., 3.]


def test_value_counts_keep_the_heaviest_beyond_the_cap():
  counts = values.ValueCounts()
  counts.add(pa.array([b'a', b'b', b'c', b'a'], pa.large_binary()),
             np.ones(4), max_distinct=2)
  assert sorted(counts.values.to_pylist()) == [b'a', b'b']
  assert sorted(counts.mass.tolist()) == [1.0, 2.0]


def test_build_encoders_errors():
  feats = [('item_id', 'id'), ('color', 'categorical')]
  with pytest.raises(values.DataError, match='corpus is empty'):
    values.build_encoders(values.new_stats(feats), feats, 10, 10)
  batch = values.parse_batch(mi_tables.record_batch({'item_id': ['i1']}), feats)
  stats = values.add_to_stats(values.new_stats(feats), batch)
  with pytest.raises(values.DataError, match=r"\['color'\] missing from the "
                     'data'):
    values.build_encoders(stats, feats, 10, 10)


def test_log_weights_look_up_interaction_counts():
  interactions = mi_tables.record_batch({'item_id': ['b', 'a', 'b', 'z']})
  counts = values.count_ids(interactions, 'item_id')
  items = pa.RecordBatch.from_arrays(
      [pa.array([[b'a'], [b'b'], [b'c']], pa.large_list(pa.large_binary()))],
      ['item_id'])
  np.testing.assert_array_equal(
      values.lookup_weights(items, 'item_id', counts), [1., 2., 0.])
  # Integer ids (a CSV reader may infer them) match their decimal text.
  items = pa.RecordBatch.from_arrays(
      [pa.array([[7]], pa.large_list(pa.int64()))], ['item_id'])
  counts = values.count_ids(mi_tables.record_batch({'item_id': ['7', '7']}),
                            'item_id')
  np.testing.assert_array_equal(
      values.lookup_weights(items, 'item_id', counts), [2.])
  with pytest.raises(values.DataError, match='exactly one value'):
    values.count_ids(mi_tables.record_batch({'item_id': ['a', None]}),
                     'item_id')


@pytest.mark.parametrize('kind,lowercase', [('text', True),
                                            ('multi_valued', False)])
def test_tokens_match_the_item_tower_preprocessing(kind, lowercase):
  # The values counted are the ones the item tower embeds (models/
  # preprocessing.py tokenizes in TF); a drift between the two would make
  # the MI describe other features than the ones CFM masks.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from models import preprocessing  # pylint: disable=g-import-not-at-top
  cells = ['Toy Story (1995)', "it's--OK | Sci Fi|", '', ' | ',
           'Ünïcode  Straße|a', 'x|y|x']
  parsed = values.parse_column(
      mi_tables.list_column(cells, pa.large_binary()), 'f', kind)
  # pylint: disable=protected-access
  sparse = preprocessing._split(tf.constant(cells), lowercase_tokens=lowercase)
  expected = tf.RaggedTensor.from_sparse(sparse)
  assert _values(parsed) == [t.decode() for t in
                             expected.flat_values.numpy().tolist()]
  row_lengths = expected.row_lengths().numpy().tolist()
  row_lengths += [0] * (len(cells) - len(row_lengths))
  assert parsed.lengths.tolist() == row_lengths

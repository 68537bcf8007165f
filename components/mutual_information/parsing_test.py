"""Tests of parsing.py: Arrow columns -> item feature values (pure, no TFX)."""
import numpy as np
import pyarrow as pa
import pytest

from components.mutual_information import parsing
from components.mutual_information.schema_features import DataError
from tests.support import mi_tables


def _values(column):
  return [v.decode() if isinstance(v, bytes) else v
          for v in (column.values.to_pylist()
                    if isinstance(column.values, pa.Array)
                    else column.values.tolist())]


def test_multi_valued_splits_on_separator_and_drops_empty_parts():
  col = mi_tables.list_column(['a|b', '', 'c||d|', None, '|', 'Sci Fi | x'],
                             pa.large_binary())
  parsed = parsing.parse_column(col, 'genres', 'multi_valued')
  assert _values(parsed) == ['a', 'b', 'c', 'd', 'Sci Fi', 'x']
  assert parsed.lengths.tolist() == [2, 0, 2, 0, 0, 2]


def test_text_tokens_as_the_transform():
  col = mi_tables.list_column(['The  Cat\tsat', '   ', 'DOG', "Toy Story (1995)",
                              "it's--ok!"], pa.large_binary())
  parsed = parsing.parse_column(col, 'title', 'text')
  assert _values(parsed) == ['the', 'cat', 'sat', 'dog', 'toy', 'story', '1995',
                             'it', 's', 'ok']
  assert parsed.lengths.tolist() == [3, 0, 1, 3, 3]


def test_flat_columns_as_read_from_csv():
  # A CSV read as strings: null = empty cell.
  parsed = parsing.parse_column(pa.array(['1.5', None, '', '2']), 'year',
                               'numeric')
  assert parsed.values.tolist() == [1.5, 2.0]
  assert parsed.lengths.tolist() == [1, 0, 0, 1]
  parsed = parsing.parse_column(pa.array(['x', None]), 'color', 'categorical')
  assert _values(parsed) == ['x'] and parsed.lengths.tolist() == [1, 0]


def test_numeric_nan_is_missing_and_ints_are_numbers():
  col = pa.array([[1.0], [float('nan')], []], pa.large_list(pa.float32()))
  parsed = parsing.parse_column(col, 'price', 'numeric')
  assert parsed.values.tolist() == [1.0]
  assert parsed.lengths.tolist() == [1, 0, 0]
  col = pa.array([[3], [4]], pa.large_list(pa.int64()))
  assert parsing.parse_column(col, 'n', 'numeric').values.dtype == np.float64


def test_non_numeric_value_in_numeric_column_names_the_feature():
  col = mi_tables.list_column(['1990', 'unknown'], pa.large_binary())
  with pytest.raises(DataError, match=r"numeric feature 'year'.*"
                     r"unknown"):
    parsing.parse_column(col, 'year', 'numeric')


def test_two_values_in_a_categorical_row_is_an_error():
  col = pa.array([[b'a'], [b'b', b'c']], pa.large_list(pa.large_binary()))
  with pytest.raises(DataError, match=r"'color' has 2 values in row "
                     r"1.*multi_valued"):
    parsing.parse_column(col, 'color', 'categorical')


def test_null_typed_column_is_all_missing():
  parsed = parsing.parse_column(pa.nulls(3), 'c', 'categorical')
  assert len(parsed.values) == 0 and parsed.lengths.tolist() == [0, 0, 0]


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
  parsed = parsing.parse_column(
      mi_tables.list_column(cells, pa.large_binary()), 'f', kind)
  # pylint: disable=protected-access
  sparse = preprocessing._split(tf.constant(cells), lowercase_tokens=lowercase)
  expected = tf.RaggedTensor.from_sparse(sparse)
  assert _values(parsed) == [t.decode() for t in
                             expected.flat_values.numpy().tolist()]
  row_lengths = expected.row_lengths().numpy().tolist()
  row_lengths += [0] * (len(cells) - len(row_lengths))
  assert parsed.lengths.tolist() == row_lengths

"""Tests of the cell rules read from an annotated schema."""
import os

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

import schemas
from components.csv_example_gen import rules as rules_lib

SCHEMA = '''
feature { name: "item_id" type: BYTES annotation { tag: "sslrec:id" } }
feature { name: "genre" type: BYTES presence { min_fraction: 1.0 }
          annotation { tag: "sslrec:categorical" } }
feature { name: "title" type: BYTES annotation { tag: "sslrec:text" } }
feature { name: "price" type: FLOAT float_domain { min: 0 }
          annotation { tag: "sslrec:numeric" tag: "nan:missing" } }
feature { name: "year" type: INT int_domain { min: 1900 max: 2100 }
          annotation { tag: "sslrec:numeric" } }
'''


def test_rules_from_the_schema():
  rules = rules_lib.column_rules(
      text_format.Parse(SCHEMA, schema_pb2.Schema()))
  assert rules['item_id'] == rules_lib.ColumnRule(required=True,
                                                  single_line=True)
  assert rules['genre'] == rules_lib.ColumnRule(required=True,
                                                single_line=True)
  assert rules['title'] == rules_lib.ColumnRule()  # free text may break lines
  assert rules['price'] == rules_lib.ColumnRule(nan_is_missing=True, minimum=0)
  assert rules['year'] == rules_lib.ColumnRule(minimum=1900, maximum=2100)


def test_nan_tag_only_on_floats():
  schema = text_format.Parse(
      'feature { name: "n" type: INT annotation { tag: "sslrec:numeric" '
      'tag: "nan:missing" } }', schema_pb2.Schema())
  with pytest.raises(ValueError, match="'n': tag 'nan:missing' is only for FLOAT"):
    rules_lib.column_rules(schema)


def test_bundled_schemas_round_trip():
  folder = schemas.resolve('synthetic')
  items = rules_lib.items_rules(os.path.join(folder, 'items.pbtxt'))
  inter = rules_lib.interactions_rules(
      os.path.join(folder, 'interactions.pbtxt'), '/d/items', '*.csv')
  assert items.unique == ('item_id',)
  assert inter.references.columns == ('item_id', 'history')
  assert inter.references.list_columns == ('history',)
  assert inter.rule('timestamp').minimum == 0
  for rules in (items, inter):
    assert rules_lib.Rules.from_dict(rules.to_dict()) == rules


REFS = rules_lib.References(columns=('item_id', 'history'),
                            list_columns=('history',), input_base='/d',
                            pattern='*.csv', id_column='item_id')


def test_named_ids_split_list_columns_only():
  row = {'item_id': [b'a|b'], 'history': [b'c||d|'], 'user_id': [b'u']}
  assert list(REFS.named_ids(row)) == ['a|b', 'c', 'd']
  assert list(REFS.named_ids({'item_id': [], 'history': []})) == []


def test_unknown_ids_once_each_in_order():
  row = {'item_id': [b'x'], 'history': [b'a|y|x|b|y']}
  assert REFS.unknown_ids(row, {'a', 'b'}) == ['x', 'y']
  assert REFS.unknown_ids(row, {'a', 'b', 'x', 'y'}) == []
  assert REFS.unknown_ids(row, set()) == ['x', 'a', 'y', 'b']

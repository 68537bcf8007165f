"""Tests of the feature declaration read from annotated schemas."""
import json

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

import schemas
from models import features as F

ITEMS = '''
feature { name: "item_id" type: BYTES annotation { tag: "sslrec:id" } }
feature { name: "genres" type: BYTES annotation { tag: "sslrec:multi_valued" } }
feature { name: "year" type: FLOAT annotation { tag: "sslrec:numeric" } }
feature { name: "notes" type: BYTES annotation { tag: "sslrec:ignore" } }
'''
INTERACTIONS = '''
feature { name: "item_id" type: BYTES }
feature { name: "timestamp" type: INT }
feature { name: "history" type: BYTES annotation { tag: "sslrec:history" } }
feature { name: "user_id" type: BYTES annotation { tag: "sslrec:id" } }
'''


def _schema(text):
  return text_format.Parse(text, schema_pb2.Schema())


def test_roles_kinds_and_order():
  config = F.from_schemas(_schema(ITEMS), _schema(INTERACTIONS))
  assert config.item_feature_names == ['item_id', 'genres', 'year']
  assert [f.kind for f in config.item_features] == ['id', 'multi_valued', 'numeric']
  # The id comes first even when declared later; fixed columns are not features.
  assert config.query_feature_names == ['user_id', 'history']
  assert ('notes', 'string') in config.item_columns
  assert ('timestamp', 'int') in config.interaction_columns
  assert config.item_feature('genres').is_list


def test_round_trips_through_json():
  config = F.from_schemas(_schema(ITEMS), _schema(INTERACTIONS))
  assert F.FeatureConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize('items,interactions,message', [
    (ITEMS.replace('sslrec:multi_valued', 'sslrec:bogus'), INTERACTIONS,
     "'genres' needs exactly one annotation tag"),
    (ITEMS.replace('name: "item_id"', 'name: "id"'), INTERACTIONS,
     "must declare the column 'item_id'"),
    (ITEMS.replace('type: FLOAT', 'type: BYTES'), INTERACTIONS,
     "numeric feature 'year' must have type INT or FLOAT"),
    (ITEMS, INTERACTIONS.replace('name: "timestamp" type: INT',
                                 'name: "timestamp" type: BYTES'),
     "'timestamp' must have type int"),
    (ITEMS, INTERACTIONS.replace('"sslrec:history"', '"sslrec:id"'),
     "only 'user_id' may be tagged sslrec:id"),
])
def test_bad_declarations_name_the_feature(items, interactions, message):
  with pytest.raises(ValueError, match=message):
    F.from_schemas(_schema(items), _schema(interactions))


@pytest.mark.parametrize('name', ['movielens-100k', 'synthetic'])
def test_bundled_schemas_load(name):
  config = F.load_feature_config(schemas.resolve(name))
  assert config.item_features[0].name == F.ITEM_ID
  assert config.query_features[0].name == F.USER_ID


def test_unknown_schema_folder_lists_the_bundled_ones():
  with pytest.raises(ValueError, match='movielens-100k'):
    schemas.resolve('no-such-dataset')


def test_unparsable_schema_names_the_file(tmp_path):
  (tmp_path / 'items.pbtxt').write_text('feature { name: ')
  (tmp_path / 'interactions.pbtxt').write_text(INTERACTIONS)
  with pytest.raises(ValueError, match='items.pbtxt'):
    F.load_feature_config(str(tmp_path))

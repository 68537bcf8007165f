"""Tests of schema_features.py: the item features MI counts, from the schema."""
import os

import schemas
from components.mutual_information import schema_features
from models import features as features_lib


def test_item_features_are_the_models_item_features_id_first():
  schema_dir = schemas.resolve('synthetic')
  schema = features_lib.load_schema(
      os.path.join(schema_dir, features_lib.ITEMS_SCHEMA_FILE))
  got = schema_features.item_features(schema)
  expected = features_lib.load_feature_config(schema_dir).item_features
  assert got == [(f.name, f.kind) for f in expected]
  assert got[0] == (features_lib.ITEM_ID, features_lib.ID)
  assert all(kind in schema_features.COUNTED_KINDS
             for _, kind in got[1:])

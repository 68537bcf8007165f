"""Tests for pipeline/data/schema_gen.py: the text parses into the roles."""
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from models import features
from pipeline.data import schema_gen

C = schema_gen.Column


def _parse(text):
  return text_format.Parse(text, schema_pb2.Schema())


def test_render_declares_kinds_types_and_presence():
  items = schema_gen.render(
      [C('item_id', 'id', 'string', True), C('title', 'text', 'string', True,
                                            'a "quoted" comment'),
       C('price', 'numeric', 'float', False), C('vec', 'ignore', 'string',
                                                False)],
      'Two lines\nof header')
  assert items.startswith('# Two lines\n# of header\nfeature {\n')
  schema = _parse(items)
  title = schema.feature[1]
  assert (title.presence.min_fraction, title.shape.dim[0].size) == (1.0, 1)
  assert list(title.annotation.tag) == ['sslrec:text']
  assert title.annotation.comment == ['a "quoted" comment']
  price = schema.feature[2]
  assert price.type == schema_pb2.FLOAT and price.value_count.max == 1
  assert not price.HasField('presence')
  interactions = schema_gen.render(schema_gen.interaction_columns(
      [C('city', 'categorical', 'string', True)]), 'events')
  config = features.from_schemas(schema, _parse(interactions))
  assert [(f.name, f.kind, f.dtype) for f in config.item_features] == [
      ('item_id', 'id', 'string'), ('title', 'text', 'string'),
      ('price', 'numeric', 'float')]
  assert config.query_feature_names == ['user_id', 'city', 'history']
  assert [c for c, _ in config.interaction_columns] == [
      'user_id', 'item_id', 'timestamp', 'city', 'history']
  timestamp = _parse(interactions).feature[2]
  assert timestamp.type == schema_pb2.INT and timestamp.int_domain.min == 0

"""Feature keys and roles, read from the annotated schemas under `schemas/`.

The two TFMD schemas of a dataset (`items.pbtxt`, `interactions.pbtxt`) are the
one place where a user declares their columns. Every feature carries one
annotation tag `sslrec:<kind>`:

  id            the entity key (`item_id` in items, `user_id` in interactions)
  categorical   one string value, embedded through a vocabulary
  multi_valued  several values joined by `|`, embedded and mean-pooled
  text          free text, tokenized, embedded and mean-pooled
  numeric       a number, bucketized by quantiles (missing = its own bucket)
  history       interactions only: previous item ids, most recent first, `|`-joined
  ignore        kept in the data, not used by the model

Roles follow the file: every used feature of `items.pbtxt` feeds the item tower,
every used feature of `interactions.pbtxt` feeds the query tower, except the
fixed contract columns `item_id` (the positive item) and `timestamp`.
"""
import dataclasses
import os
from typing import Any, Dict, List, Optional, Tuple

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from pipeline.errors import UserError
from pipeline.errors import MissingInputError

ITEM_ID = 'item_id'
USER_ID = 'user_id'
TIMESTAMP = 'timestamp'
HISTORY = 'history'
SEPARATOR = '|'

ITEMS_SCHEMA_FILE = 'items.pbtxt'
INTERACTIONS_SCHEMA_FILE = 'interactions.pbtxt'

TAG_PREFIX = 'sslrec:'
ID, CATEGORICAL, MULTI_VALUED, TEXT, NUMERIC, IGNORE = (
    'id', 'categorical', 'multi_valued', 'text', 'numeric', 'ignore')
KINDS = (ID, CATEGORICAL, MULTI_VALUED, TEXT, NUMERIC, HISTORY, IGNORE)
# Kinds whose transformed value is a variable-length list of ids.
LIST_KINDS = (MULTI_VALUED, TEXT, HISTORY)

_DTYPES = {schema_pb2.BYTES: 'string', schema_pb2.INT: 'int',
           schema_pb2.FLOAT: 'float'}


@dataclasses.dataclass(frozen=True)
class Feature:
  """One model feature: its column name, kind and raw dtype."""
  name: str
  kind: str
  dtype: str  # 'string' | 'int' | 'float'

  @property
  def is_list(self) -> bool:
    return self.kind in LIST_KINDS


@dataclasses.dataclass(frozen=True)
class FeatureConfig:
  """Which column feeds which tower, and how.

  `item_features` starts with the `item_id` feature; `query_features` starts
  with `user_id` and may contain one `history` feature. `columns` holds the raw
  dtype of every column of each input (used ones and ignored ones), so readers
  can type the CSV files and serving signatures from the same declaration.
  """
  item_features: Tuple[Feature, ...]
  query_features: Tuple[Feature, ...]
  item_columns: Tuple[Tuple[str, str], ...] = ()
  interaction_columns: Tuple[Tuple[str, str], ...] = ()

  @property
  def item_feature_names(self) -> List[str]:
    return [f.name for f in self.item_features]

  @property
  def query_feature_names(self) -> List[str]:
    return [f.name for f in self.query_features]

  @property
  def history_column(self) -> str:
    """The query feature tagged `history` ('' if none): the index and the
    evaluator exclude its items."""
    return next((f.name for f in self.query_features if f.kind == HISTORY), '')

  def item_feature(self, name: str) -> Feature:
    for f in self.item_features:
      if f.name == name:
        return f
    raise KeyError(f'{name!r} is not an item feature; item features: '
                   f'{self.item_feature_names}')

  def to_dict(self) -> Dict[str, Any]:
    return {
        'item_features': [dataclasses.asdict(f) for f in self.item_features],
        'query_features': [dataclasses.asdict(f) for f in self.query_features],
        'item_columns': [list(c) for c in self.item_columns],
        'interaction_columns': [list(c) for c in self.interaction_columns],
    }

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> 'FeatureConfig':
    return cls(
        item_features=tuple(Feature(**f) for f in d['item_features']),
        query_features=tuple(Feature(**f) for f in d['query_features']),
        item_columns=tuple(tuple(c) for c in d.get('item_columns', ())),
        interaction_columns=tuple(
            tuple(c) for c in d.get('interaction_columns', ())))


def _kind(feature: schema_pb2.Feature, source: str) -> Optional[str]:
  tags = [t[len(TAG_PREFIX):] for t in feature.annotation.tag
          if t.startswith(TAG_PREFIX)]
  if len(tags) != 1 or tags[0] not in KINDS:
    raise UserError(
        f'{source}: feature {feature.name!r} needs exactly one annotation tag '
        f'of {[TAG_PREFIX + k for k in KINDS]}, has {list(feature.annotation.tag)}')
  return tags[0]


def _dtype(feature: schema_pb2.Feature, source: str) -> str:
  if feature.type not in _DTYPES:
    raise UserError(f'{source}: feature {feature.name!r} has unsupported type '
                     f'{schema_pb2.FeatureType.Name(feature.type)}; use BYTES, '
                     'INT or FLOAT')
  return _DTYPES[feature.type]


def _read_features(schema: schema_pb2.Schema, source: str, id_name: str,
                   fixed: Dict[str, str]) -> Tuple[List[Feature], List[Tuple[str, str]]]:
  """Returns (used features with the id first, all columns with dtypes)."""
  used, columns = [], []
  names = [f.name for f in schema.feature]
  if id_name not in names:
    raise UserError(f'{source}: the schema must declare the column {id_name!r}')
  for name, dtype in fixed.items():
    if name not in names:
      raise UserError(f'{source}: the schema must declare the column {name!r}')
  for feature in schema.feature:
    dtype = _dtype(feature, source)
    columns.append((feature.name, dtype))
    if feature.name in fixed:
      if dtype != fixed[feature.name]:
        raise UserError(f'{source}: column {feature.name!r} must have type '
                         f'{fixed[feature.name]}, has {dtype}')
      continue
    kind = _kind(feature, source)
    if feature.name == id_name and kind != ID:
      raise UserError(f'{source}: {id_name!r} must be tagged {TAG_PREFIX}{ID}')
    if kind == ID and feature.name != id_name:
      raise UserError(f'{source}: only {id_name!r} may be tagged '
                       f'{TAG_PREFIX}{ID}, not {feature.name!r}')
    if kind == IGNORE:
      continue
    if kind == NUMERIC and dtype == 'string':
      raise UserError(f'{source}: numeric feature {feature.name!r} must have '
                       'type INT or FLOAT')
    if kind in (ID, MULTI_VALUED, TEXT, HISTORY) and dtype != 'string':
      raise UserError(f'{source}: {kind} feature {feature.name!r} must have '
                       'type BYTES')
    used.append(Feature(feature.name, kind, dtype))
  used.sort(key=lambda f: f.kind != ID)  # the id first, declaration order after
  return used, columns


def item_features(items_schema: schema_pb2.Schema,
                  source: str = ITEMS_SCHEMA_FILE) -> List[Feature]:
  """The used item features of one items schema, `item_id` first."""
  used, _ = _read_features(items_schema, source, ITEM_ID, {})
  return used


def from_schemas(items_schema: schema_pb2.Schema,
                 interactions_schema: schema_pb2.Schema,
                 items_source: str = ITEMS_SCHEMA_FILE,
                 interactions_source: str = INTERACTIONS_SCHEMA_FILE
                 ) -> FeatureConfig:
  """Builds the FeatureConfig from the two annotated schemas."""
  items, item_columns = _read_features(items_schema, items_source, ITEM_ID, {})
  if any(f.kind == HISTORY for f in items):
    raise UserError(f'{items_source}: {TAG_PREFIX}{HISTORY} belongs to the '
                     'interactions schema')
  query, interaction_columns = _read_features(
      interactions_schema, interactions_source, USER_ID,
      {ITEM_ID: 'string', TIMESTAMP: 'int'})
  if sum(f.kind == HISTORY for f in query) > 1:
    raise UserError(f'{interactions_source}: at most one feature may be '
                     f'tagged {TAG_PREFIX}{HISTORY}')
  return FeatureConfig(tuple(items), tuple(query), tuple(item_columns),
                       tuple(interaction_columns))


def load_schema(path: str) -> schema_pb2.Schema:
  """Reads a text-format TFMD schema, naming the file on a parse error."""
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  if not fileio.exists(path):
    raise MissingInputError(f'schema file not found: {path}')
  with fileio.open(path, 'r') as f:
    text = f.read()
  try:
    return text_format.Parse(text, schema_pb2.Schema())
  except text_format.ParseError as e:
    raise UserError(f'{path}: not a valid text-format schema: {e}') from e


def load_feature_config(schema_dir: str) -> FeatureConfig:
  """Reads `items.pbtxt` and `interactions.pbtxt` from `schema_dir`."""
  items_path = os.path.join(schema_dir, ITEMS_SCHEMA_FILE)
  interactions_path = os.path.join(schema_dir, INTERACTIONS_SCHEMA_FILE)
  return from_schemas(load_schema(items_path), load_schema(interactions_path),
                      items_path, interactions_path)

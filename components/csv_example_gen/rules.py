"""Per-column cell rules read from an annotated schema (pure: no TFX, no TF).

The ExampleGen applies them to every row, so bad cells stop the run in its
first seconds with the file, line and column, long before TFDV, Transform or
the Trainer would notice (or silently train on them):

  required       an empty cell is an error: the contract ids (`item_id`,
                 `user_id`), features tagged `sslrec:id`, and features whose
                 schema presence has `min_fraction: 1`.
  single_line    no line break (\\n or \\r) in the value: every id and every
                 value that goes into a TF Transform vocabulary (kinds id,
                 categorical, multi_valued, history). TFT writes a vocabulary
                 one value per line, so such a value would silently become
                 out-of-vocabulary.
  nan_is_missing a FLOAT cell spelled `nan` (any case) is read as a missing
                 value. Only for features that declare it with the extra
                 annotation tag `nan:missing`; otherwise NaN is an error.
                 Infinity (`inf`, `Infinity`, `1e400`, beyond float32) is
                 always an error.
  minimum/maximum the schema's int_domain / float_domain bounds.

Data-level checks, for the whole input of an ExampleGen: `unique` names the
column whose values must not repeat (the items' `item_id`), and `references`
the columns whose values must name an item of the items CSV (`item_id` and
`history` of the interactions).
"""
import dataclasses
from typing import AbstractSet, Any, Dict, Iterator, List, Optional, Tuple

from tensorflow_metadata.proto.v0 import schema_pb2

from models import features as F
from pipeline.errors import UserError

NAN_IS_MISSING_TAG = 'nan:missing'

# Kinds whose values are looked up in a TFT vocabulary (one value per line).
_VOCABULARY_KINDS = (F.ID, F.CATEGORICAL, F.MULTI_VALUED, F.HISTORY)
_CONTRACT_IDS = (F.ITEM_ID, F.USER_ID)


@dataclasses.dataclass(frozen=True)
class ColumnRule:
  """What a cell of one column may hold beyond its dtype."""
  required: bool = False
  single_line: bool = False
  nan_is_missing: bool = False
  minimum: Optional[float] = None
  maximum: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class References:
  """Values of `columns` (split at `separator` for list columns) must be ids
  of the `id_column` of the CSV files `pattern` under `input_base`."""
  columns: Tuple[str, ...]
  list_columns: Tuple[str, ...]
  input_base: str
  pattern: str
  id_column: str
  separator: str = F.SEPARATOR

  def named_ids(self, row: Dict[str, List[Any]]) -> Iterator[str]:
    """Every id a typed row names in `columns` (a list column's cells split
    at `separator`); empty cells and empty parts name none."""
    for column in self.columns:
      for value in row[column]:
        text = value.decode('utf-8')
        for part in (text.split(self.separator)
                     if column in self.list_columns else (text,)):
          if part:
            yield part

  def unknown_ids(self, row: Dict[str, List[Any]], known: AbstractSet[str]
                  ) -> List[str]:
    """The ids the row names that are not in `known`, each once, in order."""
    return list(dict.fromkeys(i for i in self.named_ids(row)
                              if i not in known))


@dataclasses.dataclass(frozen=True)
class Rules:
  """Everything the ExampleGen checks beyond the column dtypes."""
  columns: Dict[str, ColumnRule] = dataclasses.field(default_factory=dict)
  unique: Tuple[str, ...] = ()
  references: Optional[References] = None

  def rule(self, column: str) -> ColumnRule:
    return self.columns.get(column, _NO_RULE)

  def to_dict(self) -> Dict[str, Any]:
    out: Dict[str, Any] = {
        'columns': {name: {k: v for k, v in dataclasses.asdict(r).items()
                           if v is not None and v is not False}
                    for name, r in self.columns.items()},
        'unique': list(self.unique)}
    if self.references:
      out['references'] = {
          k: list(v) if isinstance(v, tuple) else v
          for k, v in dataclasses.asdict(self.references).items()}
    return out

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> 'Rules':
    refs = d.get('references')
    return cls(
        columns={name: ColumnRule(**r)
                 for name, r in (d.get('columns') or {}).items()},
        unique=tuple(d.get('unique') or ()),
        references=References(
            columns=tuple(refs['columns']),
            list_columns=tuple(refs['list_columns']),
            input_base=refs['input_base'], pattern=refs['pattern'],
            id_column=refs['id_column'], separator=refs['separator'])
        if refs else None)


_NO_RULE = ColumnRule()


def _kind(feature: schema_pb2.Feature) -> Optional[str]:
  tags = [t[len(F.TAG_PREFIX):] for t in feature.annotation.tag
          if t.startswith(F.TAG_PREFIX)]
  return tags[0] if len(tags) == 1 else None


def _bounds(feature: schema_pb2.Feature
            ) -> Tuple[Optional[float], Optional[float]]:
  domain = feature.WhichOneof('domain_info')
  if domain not in ('int_domain', 'float_domain'):
    return None, None
  d = getattr(feature, domain)
  return (d.min if d.HasField('min') else None,
          d.max if d.HasField('max') else None)


def column_rules(schema: schema_pb2.Schema) -> Dict[str, ColumnRule]:
  """One ColumnRule per feature of an annotated schema."""
  out = {}
  for feature in schema.feature:
    kind = _kind(feature)
    is_id = kind == F.ID or feature.name in _CONTRACT_IDS
    is_bytes = feature.type == schema_pb2.BYTES
    tags = set(feature.annotation.tag)
    if NAN_IS_MISSING_TAG in tags and feature.type != schema_pb2.FLOAT:
      raise UserError(f'feature {feature.name!r}: tag {NAN_IS_MISSING_TAG!r} '
                       'is only for FLOAT features')
    minimum, maximum = _bounds(feature)
    out[feature.name] = ColumnRule(
        required=is_id or (feature.HasField('presence') and
                           feature.presence.min_fraction >= 1.0),
        single_line=is_bytes and (is_id or kind in _VOCABULARY_KINDS),
        nan_is_missing=NAN_IS_MISSING_TAG in tags,
        minimum=minimum, maximum=maximum)
  return out


def load_schema(path: str) -> schema_pb2.Schema:
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  with open(path, encoding='utf-8') as f:
    return text_format.Parse(f.read(), schema_pb2.Schema())


def history_columns(schema: schema_pb2.Schema) -> Tuple[str, ...]:
  return tuple(f.name for f in schema.feature if _kind(f) == F.HISTORY)


def items_rules(schema_file: str) -> Rules:
  """The rules of the items CSV: its schema's cells, unique item ids."""
  return Rules(columns=column_rules(load_schema(schema_file)),
               unique=(F.ITEM_ID,))


def interactions_rules(schema_file: str, items_base: str, items_pattern: str
                       ) -> Rules:
  """The rules of the interactions CSVs: cells, and every item id they name
  (item_id and the history lists) must be in the items CSV."""
  schema = load_schema(schema_file)
  history = history_columns(schema)
  return Rules(columns=column_rules(schema),
               references=References(
                   columns=(F.ITEM_ID,) + history, list_columns=history,
                   input_base=items_base, pattern=items_pattern,
                   id_column=F.ITEM_ID))

"""Any dataset in RecBole's atomic format -> contract files + schema folder.

Reads `NAME.inter` (user_id, item_id, timestamp; other fields such as rating
are dropped: every event is an implicit positive), `NAME.item` (item_id and
item features), `NAME.user` (optional: user_id and user features) and, with
`kg`, `NAME.link` + `NAME.kg` (pipeline/data/kg.py), from a folder or a
wheel/zip (pipeline/data/atomic.py). `read` gives the raw tables; `build`
writes the contract and a generated annotated schema folder
(`<out>/schema/`), each field declared by its RecBole type:

  token      -> sslrec:categorical (BYTES)
  token_seq  -> sslrec:text when its tokens rarely repeat (distinct tokens
                over all tokens > infer.TEXT_TOKEN_RATIO, e.g. titles), else
                sslrec:multi_valued (values joined by |, e.g. genres);
                `text_fields` / `multi_valued_fields` override the guess
  float      -> sslrec:numeric (FLOAT)
  float_seq  -> sslrec:ignore (kept as text, not used by the model)
  item_id / user_id -> sslrec:id; KG columns -> sslrec:multi_valued

Edit the generated tags as you like; a text column keeps RecBole's spaces, so
turning it into multi_valued needs a rebuild with `multi_valued_fields`.
"""
import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from models import features
from pipeline.data import atomic
from pipeline.data import contract
from pipeline.data import infer
from pipeline.data import kg as kg_lib
from pipeline.data import schema_gen
from pipeline.data import split as split_lib
from pipeline.data.events import Event, parse_timestamp
from pipeline.errors import UserError
from pipeline.errors import MissingInputError

INTER_FIELDS = (features.USER_ID, features.ITEM_ID, features.TIMESTAMP)
_RESERVED_USER_FIELDS = (features.ITEM_ID, features.TIMESTAMP,
                         features.HISTORY)


@dataclasses.dataclass
class Dataset:
  """The raw tables of one RecBole dataset (cells as in the files)."""
  items: List[Dict[str, str]]            # item_id + every .item field (+ KG)
  users: Dict[str, Dict[str, str]]       # user_id -> every other .user field
  events: List[Event]
  item_fields: List[atomic.Field]        # .item fields but item_id
  user_fields: List[atomic.Field]        # .user fields but user_id
  origins: Dict[Tuple[str, str], str]    # ('item'|'user', id) -> file line
  files: Dict[str, str]                  # ext -> the file as errors name it
  kg_columns: Dict[str, str] = dataclasses.field(default_factory=dict)
  inter_dropped: List[str] = dataclasses.field(default_factory=list)


def _keyed(table: atomic.Table, key: str, what: str, origins
           ) -> List[Tuple[str, Dict[str, str]]]:
  table.require([key])
  rows, first = [], {}
  for where, row in table.records():
    value = row[key].strip()
    if not value:
      raise UserError(f'{where}: field {key!r} is empty')
    if value in first:
      raise UserError(f'{where}: field {key} {value!r} appears twice (first '
                       f'at {first[value]})')
    first[value] = where
    origins[(what, value)] = where
    rows.append((value, dict(row, **{key: value})))
  return rows


def read(source: str, dataset: str, kg: bool = False,
         max_kg_values: int = kg_lib.DEFAULT_MAX_VALUES,
         required: Optional[Mapping[str, Sequence[str]]] = None) -> Dataset:
  """Reads the atomic files of `dataset` from the folder or zip `source`.

  `required` maps an extension ('item', 'user') to fields its file must have
  (the file itself is then required too).
  """
  contract.check_name(dataset)
  required = required or {}
  with atomic.Source(source, dataset) as files:
    wanted = [atomic.INTER, atomic.ITEM] + (
        [atomic.USER] if files.has(atomic.USER) or atomic.USER in required
        else [])
    if kg:
      for ext in (atomic.KG, atomic.LINK):
        if not files.has(ext):
          raise MissingInputError(f'{files.describe(ext)} not found: --kg '
                                  f'needs {dataset}.kg and {dataset}.link')
      wanted += [atomic.KG, atomic.LINK]
    tables = {ext: files.read(ext) for ext in wanted}
  for ext, names in required.items():
    tables[ext].require(names)
  origins: Dict[Tuple[str, str], str] = {}
  item_table, inter = tables[atomic.ITEM], tables[atomic.INTER]
  items = [row for _, row in _keyed(item_table, features.ITEM_ID, 'item',
                                    origins)]
  users, user_fields = {}, []
  if atomic.USER in tables:
    user_table = tables[atomic.USER]
    for user_id, row in _keyed(user_table, features.USER_ID, 'user', origins):
      users[user_id] = {k: v for k, v in row.items()
                        if k != features.USER_ID}
    user_fields = [f for f in user_table.fields
                   if f.name != features.USER_ID]
    for f in user_fields:
      if f.name in _RESERVED_USER_FIELDS:
        raise UserError(f'{user_table.path} line 1: field {f.name!r} '
                         'clashes with a contract column of the interactions')
  inter.require(INTER_FIELDS)
  events = [Event(row[features.USER_ID].strip(), row[features.ITEM_ID].strip(),
                  parse_timestamp(where, row[features.TIMESTAMP]), where)
            for where, row in inter.records()]
  if atomic.USER not in tables:
    users = {e.user_id: {} for e in events}
  data = Dataset(
      items=items, users=users, events=events,
      item_fields=[f for f in item_table.fields
                   if f.name != features.ITEM_ID],
      user_fields=user_fields, origins=origins,
      files={ext: t.path for ext, t in tables.items()},
      inter_dropped=[n for n in inter.names if n not in INTER_FIELDS])
  if kg:
    _add_kg(data, tables[atomic.KG], tables[atomic.LINK], max_kg_values)
  return data


def _add_kg(data: Dataset, kg: atomic.Table, link: atomic.Table,
            max_values: int) -> None:
  item_ids = {row[features.ITEM_ID] for row in data.items}
  entities = kg_lib.read_links(link, item_ids, data.files[atomic.ITEM])
  columns, values = kg_lib.item_features(kg, entities, max_values)
  clash = sorted(set(columns) & {f.name for f in data.item_fields})
  if clash:
    raise UserError(f'{data.files[atomic.ITEM]}: fields {clash} clash with '
                     'the KG columns of the same name')
  for row in data.items:
    found = values.get(row[features.ITEM_ID], {})
    row.update({c: found.get(c, '') for c in columns})
  data.kg_columns = columns


# ------------------------------------------------------------ build


def _kind(field: atomic.Field, cells: Sequence[str], text: Sequence[str],
          multi: Sequence[str]) -> Tuple[str, str]:
  """(kind, dtype) of a RecBole field."""
  if field.type == atomic.TOKEN:
    return features.CATEGORICAL, 'string'
  if field.type == atomic.FLOAT:
    return features.NUMERIC, 'float'
  if field.type == atomic.FLOAT_SEQ:
    return features.IGNORE, 'string'
  if field.name in text:
    return features.TEXT, 'string'
  if field.name in multi:
    return features.MULTI_VALUED, 'string'
  return (features.TEXT if infer.is_text(cells) else features.MULTI_VALUED,
          'string')


def _cell(kind: str, cell: str, where: str, name: str) -> str:
  if kind != features.MULTI_VALUED:
    return cell.strip()
  tokens = cell.split()
  if any(features.SEPARATOR in t for t in tokens):
    raise UserError(f'{where}: field {name!r} has a value holding '
                     f'{features.SEPARATOR!r}, the multi-value separator')
  return features.SEPARATOR.join(tokens)


def _convert(rows: Dict[str, Dict[str, str]], fields: Sequence[atomic.Field],
             what: str, file: str, data: Dataset, text, multi
             ) -> List[schema_gen.Column]:
  """Rewrites `rows` (id -> cells) in place; returns the declared columns."""
  columns = []
  for field in fields:
    cells = [row[field.name] for row in rows.values()]
    kind, dtype = _kind(field, cells, text, multi)
    for key, row in rows.items():
      row[field.name] = _cell(kind, row[field.name],
                              data.origins.get((what, key), file), field.name)
    columns.append(schema_gen.Column(
        field.name, kind, dtype, all(row[field.name] for row in rows.values()),
        f'{file.rsplit("/", 1)[-1]} {field.name}:{field.type}'))
  return columns


def _check_overrides(data: Dataset, text, multi) -> None:
  seq = {f.name for f in data.item_fields + data.user_fields
         if f.type == atomic.TOKEN_SEQ}
  for flag, names in (('--text', text), ('--multi-valued', multi)):
    for name in names:
      if name not in seq:
        raise UserError(f'{flag} {name}: not a token_seq field of the .item '
                         f'or .user file (token_seq fields: {sorted(seq)})')
  both = sorted(set(text) & set(multi))
  if both:
    raise UserError(f'fields {both} are given as both --text and '
                     '--multi-valued')


def schema_files(data: Dataset, name: str, text: Sequence[str] = (),
                 multi_valued: Sequence[str] = ()) -> Dict[str, str]:
  """Converts `data`'s cells to contract cells; returns the schema texts."""
  _check_overrides(data, text, multi_valued)
  items = {row[features.ITEM_ID]: row for row in data.items}
  item_columns = [schema_gen.Column(features.ITEM_ID, features.ID, 'string',
                                    True)] + _convert(
      items, data.item_fields, 'item', data.files[atomic.ITEM], data, text,
      multi_valued)
  for column, relation in data.kg_columns.items():
    item_columns.append(schema_gen.Column(
        column, features.MULTI_VALUED, 'string',
        all(row[column] for row in items.values()),
        f'KG relation {relation} (tail entity ids joined by |)'))
  user_columns = _convert(data.users, data.user_fields, 'user',
                          data.files.get(atomic.USER, ''), data, text,
                          multi_valued)
  dropped = ', '.join(data.inter_dropped) or 'none'
  return {
      features.ITEMS_SCHEMA_FILE: schema_gen.render(
          item_columns, f'Item corpus of {name}, generated by `sslrec data '
          f'recbole` from {data.files[atomic.ITEM]}.\nOne row per item; edit '
          'the sslrec:<kind> tags as you like (docs/data.md).'),
      features.INTERACTIONS_SCHEMA_FILE: schema_gen.render(
          schema_gen.interaction_columns(user_columns),
          f'Events of {name}, generated by `sslrec data recbole` from '
          f'{data.files[atomic.INTER]}\n(fields not kept: {dropped}) and the '
          'user features of the .user file.'),
  }


def build(out_dir: str, source: str, dataset: str, *, kg: bool = False,
          max_kg_values: int = kg_lib.DEFAULT_MAX_VALUES,
          text_fields: Sequence[str] = (),
          multi_valued_fields: Sequence[str] = (),
          split: split_lib.SplitProtocol = split_lib.DEFAULT_SPLIT,
          eval_fraction: Optional[float] = None,
          history_length: int = split_lib.DEFAULT_HISTORY_LENGTH,
          force: bool = False) -> Dict[str, Any]:
  """Writes the contract files and `<out_dir>/schema/` of a RecBole dataset.

  Returns:
    The dataset.json content, plus 'source' (what was read).
  """
  contract.check_name(dataset)
  split_lib.check_args(split, eval_fraction, history_length)
  contract.check_out_dir(out_dir, force, sources=[source])
  data = read(source, dataset, kg=kg, max_kg_values=max_kg_values)
  files = schema_files(data, dataset, text_fields, multi_valued_fields)
  extra = {'format': 'recbole'}
  if kg:
    extra.update(kg_relations=data.kg_columns, kg_max_values=max_kg_values)
  info = contract.write_dataset(
      out_dir, name=dataset, schema_files=files, items=data.items,
      users=data.users, events=data.events, split=split,
      eval_fraction=eval_fraction, history_length=history_length,
      force=force, extra_info=extra)
  return dict(info, source=source)

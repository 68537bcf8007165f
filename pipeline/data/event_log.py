"""Any event log (CSV or Parquet) -> contract files + a generated schema folder.

Inputs (pipeline/data/tables.py reads them):

  events  one row per interaction: the user, item and time columns (named by
          `user_col`, `item_col`, `time_col`) plus any query feature columns
          of the event itself (device, page, ...)
  items   one row per item: the item column plus item feature columns
  users   optional, one row per user: the user column plus user feature
          columns, joined onto every event of that user

The time is epoch seconds or an ISO 8601 date-time (UTC unless it says
otherwise). Every column but the keys is declared with the kind
pipeline/data/infer.py guesses from its cells (or `tags` gives); multi-valued
cells are rewritten with the contract's `|`. The contract itself (split,
history, atomic write) is contract.write_dataset, as for every adapter.

Memory: the events are held as compact `Event`s (ids and short cells shared)
and written one at a time, so a million events take a few hundred MB
(bench/import_scale.py prints the figure).
"""
import dataclasses
import datetime
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from models import features
from pipeline.data import contract
from pipeline.data import infer
from pipeline.data import schema_gen
from pipeline.data import split as split_lib
from pipeline.data import tables
from pipeline.data.events import Event, parse_timestamp
from pipeline.errors import UserError

FORMAT = 'event-log'
_RESERVED = (features.USER_ID, features.ITEM_ID, features.TIMESTAMP,
             features.HISTORY)
_INTERN_MAX_CHARS = 64


@dataclasses.dataclass(frozen=True)
class DeclaredColumn:
  """One generated declaration, for the table the import prints."""
  table: str      # 'items' | 'users' | 'events'
  column: schema_gen.Column
  distinct: str
  empty_fraction: float
  example: str


def parse_time(where: str, text: str) -> int:
  """Epoch seconds from whole seconds or an ISO 8601 date-time."""
  try:
    return parse_timestamp(where, text)
  except ValueError:
    pass
  try:
    moment = datetime.datetime.fromisoformat(text.strip().replace('Z',
                                                                  '+00:00'))
  except ValueError:
    moment = None
  if moment is None:
    raise UserError(f'{where}: {text!r} is neither whole epoch seconds nor '
                     'an ISO 8601 date-time')
  if moment.tzinfo is None:
    moment = moment.replace(tzinfo=datetime.timezone.utc)
  seconds = int(moment.timestamp() // 1)
  if seconds < 0:
    raise UserError(f'{where}: {text!r} is before 1970')
  return seconds


def _share(cell: str) -> str:
  return sys.intern(cell) if len(cell) <= _INTERN_MAX_CHARS else cell


def _keyed_table(table: tables.Table, key: str, flag: str, what: str
                 ) -> Tuple[Dict[str, List[str]], Dict[str, int]]:
  """id -> cells of the other columns, and id -> line, of an items/users file."""
  table.require([key], [flag])
  index = table.columns.index(key)
  rows, lines = {}, {}
  for line, cells in table.rows():
    value = cells[index].strip()
    if not value:
      raise UserError(f'{table.where(line, key)}: empty {what} id')
    if value in lines:
      raise UserError(f'{table.where(line, key)}: {what} id {value!r} '
                       f'appears twice (first at line {lines[value]})')
    lines[value] = line
    rows[value] = cells[:index] + cells[index + 1:]
  return rows, lines


def _check_names(table: tables.Table, names: Sequence[str],
                 taken: Mapping[str, str]) -> None:
  for name in names:
    if name in _RESERVED:
      raise UserError(f'{table.where(1, name)}: {name!r} is a contract '
                       'column the import writes itself; rename the column')
    if name in taken:
      raise UserError(f'{table.where(1, name)}: column {name!r} is also in '
                       f'{taken[name]}; rename one of them')


def _convert_cell(kind: str, cell: str, separator: str) -> str:
  if kind == features.NUMERIC:
    return cell.strip()
  if kind != features.MULTI_VALUED:
    return cell
  return features.SEPARATOR.join(
      v for v in (v.strip() for v in cell.split(separator)) if v)


class _Columns:
  """The feature columns of one input table, profiled then declared."""

  def __init__(self, table: tables.Table, what: str, names: Sequence[str],
               separator: str):
    self.table, self.what, self.names = table, what, list(names)
    self.separator = separator
    self.profiles = [infer.Profile(n, separator) for n in names]
    self.kinds: List[Tuple[str, str]] = []
    # column -> first line holding the contract's '|' when the input's
    # separator is another one (an error if the column is multi-valued).
    self.first_pipe: Dict[str, int] = {}

  def add(self, cells: Sequence[str], line: int) -> None:
    for profile, cell in zip(self.profiles, cells):
      profile.add(cell)
      if (self.separator != features.SEPARATOR and features.SEPARATOR in cell
          and profile.name not in self.first_pipe):
        self.first_pipe[profile.name] = line

  def declare(self, tags: Mapping[str, str]) -> List[DeclaredColumn]:
    self.kinds = [infer.chosen_kind(p, tags.get(p.name))
                  for p in self.profiles]
    for name, (kind, _) in zip(self.names, self.kinds):
      if kind == features.MULTI_VALUED and name in self.first_pipe:
        raise UserError(
            f'{self.table.where(self.first_pipe[name], name)}: a value holds '
            f'{features.SEPARATOR!r}, the multi-value separator of the '
            f'contract, in a multi-valued column split by {self.separator!r}')
    base = os.path.basename(self.table.path)
    return [DeclaredColumn(
        self.what, schema_gen.Column(
            p.name, kind, dtype, p.required,
            f'{base} {p.name}: ' + ('set by --tag' if p.name in tags
                                    else 'inferred from its values')),
        p.distinct_text, p.empty / p.cells if p.cells else 0.0, p.example)
            for p, (kind, dtype) in zip(self.profiles, self.kinds)]

  def convert(self, cells: Sequence[str]) -> List[str]:
    return [_convert_cell(kind, cell, self.separator)
            for (kind, _), cell in zip(self.kinds, cells)]


@dataclasses.dataclass
class _Keyed:
  """An items or users table: id -> the other cells, and their columns."""
  table: tables.Table
  rows: Dict[str, List[str]]
  lines: Dict[str, int]
  columns: _Columns

  def profile(self, wanted: Optional[set] = None) -> None:
    for key, cells in self.rows.items():
      if wanted is None or key in wanted:
        self.columns.add(cells, self.lines[key])

  def dicts(self, wanted: Optional[set] = None) -> Dict[str, Dict[str, str]]:
    return {key: dict(zip(self.columns.names, self.columns.convert(cells)))
            for key, cells in self.rows.items()
            if wanted is None or key in wanted}


def _read_keyed(path: str, key: str, flag: str, what: str, separator: str
                ) -> _Keyed:
  table = tables.Table(path, separator)
  rows, lines = _keyed_table(table, key, flag, what)
  names = [c for c in table.columns if c != key]
  _check_names(table, names, {})
  return _Keyed(table, rows, lines,
                _Columns(table, f'{what}s', names, separator))


def _read_events(path: str, keys: Tuple[str, str, str], items: _Keyed,
                 users: Optional[_Keyed], separator: str
                 ) -> Tuple[List[Event], _Columns]:
  """The events (ids shared, times parsed), their own columns profiled."""
  table = tables.Table(path, separator)
  table.require(keys, ('--user-col', '--item-col', '--time-col'))
  user_col, item_col, time_col = keys
  user_at, item_at, time_at = (table.columns.index(k) for k in keys)
  extra_at = [i for i, c in enumerate(table.columns) if c not in keys]
  columns = _Columns(table, 'events', [table.columns[i] for i in extra_at],
                     separator)
  _check_names(table, columns.names,
               {n: users.table.path for n in users.columns.names}
               if users else {})
  ids: Dict[str, str] = {}
  log: List[Event] = []
  for line, cells in table.rows():
    user, item = cells[user_at].strip(), cells[item_at].strip()
    if not user:
      raise UserError(f'{table.where(line, user_col)}: empty user id')
    if item not in items.rows:
      raise UserError(f'{table.where(line, item_col)}: item {item!r} has no '
                       f'row in {items.table.path}')
    if users and user not in users.rows:
      raise UserError(f'{table.where(line, user_col)}: user {user!r} has no '
                       f'row in {users.table.path}')
    extra = tuple(_share(cells[i]) for i in extra_at)
    columns.add(extra, line)
    time = cells[time_at]
    seconds = int(time) if time.isdigit() else parse_time(
        table.where(line, time_col), time)
    log.append(Event(ids.setdefault(user, user), ids.setdefault(item, item),
                     seconds, extra=extra))
  if not log:
    raise UserError(f'{path}: no events after the header')
  return log, columns


def build(out_dir: str, events: str, items: str,
          users: Optional[str] = None, *,
          user_col: str = features.USER_ID, item_col: str = features.ITEM_ID,
          time_col: str = features.TIMESTAMP,
          separator: str = features.SEPARATOR,
          tags: Optional[Mapping[str, str]] = None,
          name: Optional[str] = None,
          split: split_lib.SplitProtocol = split_lib.DEFAULT_SPLIT,
          eval_fraction: Optional[float] = None,
          history_length: int = split_lib.DEFAULT_HISTORY_LENGTH,
          force: bool = False) -> Tuple[Dict[str, Any], List[DeclaredColumn]]:
  """Writes the contract files and `<out_dir>/schema/` of an event log.

  Args:
    out_dir: the dataset folder to create.
    events, items, users: CSV or Parquet files (users optional).
    user_col, item_col, time_col: key columns; `user_col` also names the id
      column of `users`, `item_col` that of `items`.
    separator: the multi-value separator of the input cells.
    tags: column -> kind, instead of the guessed kind (infer.USER_KINDS).
    name: the dataset name (default: the base name of `out_dir`).
    split, eval_fraction, history_length, force: as contract.write_dataset.

  Returns:
    (dataset.json content, the declared columns in schema order).
  """
  split_lib.check_args(split, eval_fraction, history_length)
  contract.check_out_dir(out_dir, force)
  if not separator or separator.isspace():
    raise UserError(f'--separator {separator!r}: give a visible character')
  tags = dict(tags or {})
  name = name or os.path.basename(os.path.abspath(out_dir))

  item_table = _read_keyed(items, item_col, '--item-col', 'item', separator)
  user_table = (_read_keyed(users, user_col, '--user-col', 'user', separator)
                if users else None)
  log, event_columns = _read_events(events, (user_col, item_col, time_col),
                                    item_table, user_table, separator)
  known = item_table.columns.names + event_columns.names + (
      user_table.columns.names if user_table else [])
  unknown = sorted(set(tags) - set(known))
  if unknown:
    raise UserError(f'--tag {unknown[0]}: no such feature column in '
                     f'{items}, {events}' + (f' or {users}' if users else ''))

  seen = {e.user_id for e in log}
  item_table.profile()
  declared = item_table.columns.declare(tags) + event_columns.declare(tags)
  if user_table:
    user_table.profile(seen)
    declared += user_table.columns.declare(tags)
  item_dicts = [dict(cells, **{features.ITEM_ID: i})
                for i, cells in item_table.dicts().items()]
  user_dicts = user_table.dicts(seen) if user_table else {u: {} for u in seen}
  if any(kind in (features.MULTI_VALUED, features.NUMERIC)
         for kind, _ in event_columns.kinds):
    for n, event in enumerate(log):
      log[n] = dataclasses.replace(
          event, extra=tuple(_share(c)
                             for c in event_columns.convert(event.extra)))

  files = _schema_files(name, declared, items, events, users)
  info = contract.write_dataset(
      out_dir, name=name, schema_files=files, items=item_dicts,
      users=user_dicts, events=log, split=split, eval_fraction=eval_fraction,
      history_length=history_length, force=force,
      event_columns=event_columns.names,
      extra_info={'format': FORMAT, 'source': {
          'events': events, 'items': items,
          **({'users': users} if users else {})}})
  return info, declared


def _schema_files(name: str, declared: Sequence[DeclaredColumn], items: str,
                  events: str, users: Optional[str]) -> Dict[str, str]:
  item_columns = [schema_gen.Column(features.ITEM_ID, features.ID, 'string',
                                    True)]
  item_columns += [d.column for d in declared if d.table == 'items']
  query = [d.column for d in declared if d.table != 'items']
  edit = ('edit the sslrec:<kind> tags as you like (docs/data.md, '
          '"Bring your own event log").')
  return {
      features.ITEMS_SCHEMA_FILE: schema_gen.render(
          item_columns, f'Item corpus of {name}, generated by `sslrec data '
          f'import` from {items}.\nOne row per item; {edit}'),
      features.INTERACTIONS_SCHEMA_FILE: schema_gen.render(
          schema_gen.interaction_columns(query),
          f'Events of {name}, generated by `sslrec data import` from '
          f'{events}' + (f'\nand the user table {users}' if users else '')
          + f'.\n{edit}'),
  }


def table_text(declared: Sequence[DeclaredColumn]) -> str:
  """The declared columns as a fixed-width table for the terminal."""
  header = ('column', 'from', 'tag', 'type', 'empty', 'distinct', 'example')
  rows = [header] + [
      (d.column.name, d.table, d.column.kind, d.column.dtype,
       f'{d.empty_fraction:.0%}', d.distinct,
       d.example if len(d.example) <= 30 else d.example[:27] + '...')
      for d in declared]
  widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
  return '\n'.join('  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                   for r in rows)

"""RecBole atomic files: find them in a folder or a zip, parse them typed.

A RecBole dataset NAME is a set of files `NAME.inter`, `NAME.item`,
`NAME.user` (optional `NAME.kg`, `NAME.link`): UTF-8, tab-separated, one
header line of `field:type` (types token, token_seq, float, float_seq), then
one row per line. `Source` finds the files (in a folder, or anywhere inside a
wheel/zip, all in the directory holding `NAME.inter`); `Table` holds one file
with every row's line number, so errors name file, line and field.
"""
import dataclasses
import os
import posixpath
import zipfile
from typing import Dict, Iterator, List, Sequence, Tuple
from pipeline.errors import UserError
from pipeline.errors import MissingInputError

TOKEN, TOKEN_SEQ, FLOAT, FLOAT_SEQ = 'token', 'token_seq', 'float', 'float_seq'
TYPES = (TOKEN, TOKEN_SEQ, FLOAT, FLOAT_SEQ)
INTER, ITEM, USER, KG, LINK = 'inter', 'item', 'user', 'kg', 'link'
SEQ_SEPARATOR = ' '  # RecBole separates the values of *_seq fields by spaces


@dataclasses.dataclass(frozen=True)
class Field:
  name: str
  type: str


@dataclasses.dataclass
class Table:
  """One atomic file: `path` names it in errors; rows are (line, cells)."""
  path: str
  fields: List[Field]
  rows: List[Tuple[int, List[str]]]

  @property
  def names(self) -> List[str]:
    return [f.name for f in self.fields]

  def field(self, name: str) -> Field:
    return self.fields[self.names.index(name)]

  def require(self, names: Sequence[str]) -> None:
    missing = [n for n in names if n not in self.names]
    if missing:
      raise UserError(f'{self.path}: header lacks columns {missing} (line 1 '
                       f'has fields {self.names})')

  def records(self) -> Iterator[Tuple[str, Dict[str, str]]]:
    """('<path> line N', {field: cell}) for every row."""
    for number, cells in self.rows:
      yield f'{self.path} line {number}', dict(zip(self.names, cells))


def _check_cell(where: str, field: Field, cell: str) -> None:
  if field.type not in (FLOAT, FLOAT_SEQ) or not cell.strip():
    return
  values = cell.split() if field.type == FLOAT_SEQ else [cell]
  for value in values:
    try:
      float(value)
    except ValueError:
      raise UserError(f'{where}: field {field.name!r} ({field.type}) has '
                       f'{value!r}, not a number') from None


def parse(text: str, path: str) -> Table:
  """Parses the text of one atomic file; `path` names it in errors."""
  lines = ((n, line) for n, line in enumerate(text.splitlines(), start=1)
           if line.strip())
  try:
    header_number, header = next(lines)
  except StopIteration:
    raise UserError(f'{path}: empty file') from None
  fields = []
  for spec in header.split('\t'):
    name, sep, kind = spec.strip().partition(':')
    where = f'{path} line {header_number}'
    if not sep or not name:
      raise UserError(f'{where}: header field {spec!r} is not name:type')
    if kind not in TYPES:
      raise UserError(f'{where}: field {name!r} has unknown type {kind!r}; '
                       f'RecBole types are {", ".join(TYPES)}')
    if name in [f.name for f in fields]:
      raise UserError(f'{where}: field {name!r} appears twice')
    fields.append(Field(name, kind))
  rows = []
  for number, line in lines:
    where = f'{path} line {number}'
    cells = line.split('\t')
    if len(cells) != len(fields):
      raise UserError(f'{where}: expected {len(fields)} tab-separated '
                       f'fields, found {len(cells)}: {line[:80]!r}')
    for field, cell in zip(fields, cells):
      _check_cell(where, field, cell)
    rows.append((number, cells))
  return Table(path, fields, rows)


class Source:
  """The atomic files of dataset `dataset` in a folder or a wheel/zip."""

  def __init__(self, path: str, dataset: str):
    self.path, self.dataset = path, dataset
    self._zip = None
    if os.path.isdir(path):
      self._dir = path
      if not os.path.isfile(os.path.join(path, self._name(INTER))):
        raise MissingInputError(
            f'{path}: has no {self._name(INTER)} (RecBole atomic files '
            f'{dataset}.inter, .item, .user, optional .kg and .link)')
      return
    if not os.path.isfile(path):
      raise MissingInputError(f'{path}: no such folder or zip file')
    try:
      self._zip = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
      raise UserError(f'{path}: not a folder nor a readable zip/wheel: '
                       f'{e}') from e
    found = sorted(posixpath.dirname(m) for m in self._zip.namelist()
                   if posixpath.basename(m) == self._name(INTER))
    if len(found) != 1:
      self._zip.close()
      what = 'has no' if not found else f'has {len(found)} copies of'
      raise UserError(f'{path}: {what} {self._name(INTER)}'
                       + (f' (in {found})' if found else ''))
    self._dir = found[0]

  def _name(self, ext: str) -> str:
    return f'{self.dataset}.{ext}'

  def _member(self, ext: str) -> str:
    return posixpath.join(self._dir, self._name(ext))

  def describe(self, ext: str) -> str:
    """How errors name the file of `ext`."""
    if self._zip is None:
      return os.path.join(self._dir, self._name(ext))
    return f'{self.path}:{self._member(ext)}'

  def has(self, ext: str) -> bool:
    if self._zip is None:
      return os.path.isfile(os.path.join(self._dir, self._name(ext)))
    return self._member(ext) in self._zip.namelist()

  def read(self, ext: str) -> Table:
    """Parses `<dataset>.<ext>`; a missing file is an error naming it."""
    where = self.describe(ext)
    if not self.has(ext):
      raise MissingInputError(f'{where} not found')
    if self._zip is None:
      with open(where, 'rb') as f:
        data = f.read()
    else:
      data = self._zip.read(self._member(ext))
    try:
      text = data.decode('utf-8')
    except UnicodeDecodeError as e:
      raise UserError(f'{where}: not UTF-8 text: {e}') from e
    return parse(text, where)

  def close(self) -> None:
    if self._zip is not None:
      self._zip.close()

  def __enter__(self) -> 'Source':
    return self

  def __exit__(self, *exc) -> None:
    self.close()

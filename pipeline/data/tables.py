"""Reads a user's CSV or Parquet table one row at a time, as text cells.

  CSV      UTF-8, a header line, comma-separated, quoted as by Excel/pandas;
           rows are numbered by file line (a quoted line break counts)
  Parquet  any column types; rows are numbered from 1. A list cell becomes
           its values joined by the multi-value separator, a null '', a
           date-time its ISO 8601 text

Every error names the file, the line (row) and, where it applies, the column:
`events.csv line 7, column 'timestamp': ...`.
"""
import csv
import datetime
import math
import os
from typing import Any, Iterator, List, Sequence, Tuple

from pipeline.errors import UserError

PARQUET_SUFFIXES = ('.parquet', '.pq')
_BATCH_ROWS = 65_536


def _text(value: Any, separator: str) -> str:
  if value is None:
    return ''
  if isinstance(value, str):
    return value
  if isinstance(value, bytes):
    return value.decode('utf-8')
  if isinstance(value, bool):
    return 'true' if value else 'false'
  if isinstance(value, float):
    return '' if math.isnan(value) else repr(value)
  if isinstance(value, (list, tuple)):
    return separator.join(_text(v, separator) for v in value if v is not None)
  if isinstance(value, (datetime.datetime, datetime.date)):
    return value.isoformat()
  return str(value)


class Table:
  """One input file: its header and its rows as (line, cells)."""

  def __init__(self, path: str, separator: str = '|'):
    if not os.path.isfile(path):
      raise FileNotFoundError(f'{path}: no such file')
    self.path = path
    self.separator = separator
    self.is_parquet = path.lower().endswith(PARQUET_SUFFIXES)
    self.columns = self._header()
    seen = set()
    for name in self.columns:
      if name in seen:
        raise UserError(f'{self.where(1)}: column {name!r} appears twice in '
                         'the header')
      seen.add(name)

  def where(self, line: int, column: str = '') -> str:
    unit = 'row' if self.is_parquet else 'line'
    at = f', column {column!r}' if column else ''
    return f'{self.path} {unit} {line}{at}'

  def require(self, names: Sequence[str], flags: Sequence[str]) -> None:
    """Fails when a column named by `flags` (same order) is missing."""
    for name, flag in zip(names, flags):
      if name not in self.columns:
        raise UserError(f'{self.where(1)}: no column {name!r} ({flag}); the '
                         f'header has {self.columns}')

  def _header(self) -> List[str]:
    if self.is_parquet:
      import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
      try:
        return list(pq.ParquetFile(self.path).schema_arrow.names)
      except Exception as e:  # pyarrow raises several types on a bad file
        raise UserError(f'{self.path}: not a readable Parquet file: '
                         f'{e}') from e
    with open(self.path, encoding='utf-8', errors='surrogateescape',
              newline='') as f:
      try:
        header = next(csv.reader(f), None)
      except csv.Error as e:
        raise UserError(f'{self.path} line 1: {e}') from e
    if not header:
      raise UserError(f'{self.path} line 1: empty file, expected a header')
    self._check_utf8(1, header)
    return [name.strip() for name in header]

  def _check_utf8(self, line: int, cells: List[str]) -> None:
    # Undecodable bytes arrive as lone surrogates (errors='surrogateescape'),
    # so the error can name their line.
    text = ''.join(cells)
    if not text.isascii():
      try:
        text.encode('utf-8')
      except UnicodeEncodeError:
        raise UserError(f'{self.where(line)}: not UTF-8 text') from None

  def rows(self) -> Iterator[Tuple[int, List[str]]]:
    """(line or row number, cells), the header excluded."""
    if self.is_parquet:
      yield from self._parquet_rows()
    else:
      yield from self._csv_rows()

  def _csv_rows(self) -> Iterator[Tuple[int, List[str]]]:
    width = len(self.columns)
    with open(self.path, encoding='utf-8', errors='surrogateescape',
              newline='') as f:
      reader = csv.reader(f)
      try:
        next(reader)
        for cells in reader:
          line = reader.line_num
          if not cells:
            continue
          if len(cells) != width:
            raise UserError(f'{self.where(line)}: {len(cells)} fields, the '
                             f'header has {width}')
          self._check_utf8(line, cells)
          yield line, cells
      except csv.Error as e:
        raise UserError(f'{self.where(reader.line_num)}: {e}') from e

  def _parquet_rows(self) -> Iterator[Tuple[int, List[str]]]:
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    row = 0
    for batch in pq.ParquetFile(self.path).iter_batches(
        batch_size=_BATCH_ROWS):
      columns = [batch.column(i).to_pylist()
                 for i in range(batch.num_columns)]
      for values in zip(*columns):
        row += 1
        yield row, [_text(v, self.separator) for v in values]

"""Reads CSV rows typed by declared column dtypes (no TFX, no TensorFlow).

Columns are declared as `[(name, dtype), ...]` with dtype in 'string' | 'int' |
'float' (FeatureConfig.item_columns / interaction_columns). Every file of every
split is typed from that declaration, never inferred from its cells, so a
column such as a zip prefix is a string everywhere even when one split only
holds digits. The header must hold exactly the declared columns (any order).
An empty cell is a missing value: the column is present with no values.

Numbers are read the way a CSV user writes them, nothing else: an int is
`[+-]digits` and a float `[+-]digits[.digits][e[+-]digits]` (ASCII digits
only), with surrounding spaces or tabs ignored (' 37 ' is 37). Rejected, with
file, line and column: Python literal syntax ('1_600_000_000'), non-ASCII
digits (Arabic-Indic '٣٧'), thousands separators ('1,600'), ints outside
int64, and every non-finite float ('inf', 'Infinity', '1e400' and values
beyond float32, which TensorFlow stores them as). 'nan' (any case) is an error
unless the column's rule reads it as missing (rules.py). A cell may hold up
to MAX_CELL_CHARS characters.
"""
import csv
import math
import re
from typing import (Dict, Iterable, Iterator, List, Optional, Sequence, Tuple,
                    Union)

from components.csv_example_gen import rules as rules_lib
from pipeline.errors import UserError

STRING, INT, FLOAT = 'string', 'int', 'float'
DTYPES = (STRING, INT, FLOAT)

Columns = Tuple[Tuple[str, str], ...]
Value = Union[bytes, int, float]
Row = Dict[str, List[Value]]

_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1
_FLOAT32_MAX = 3.4028234663852886e38
_INT_RE = re.compile(r'[+-]?[0-9]+', re.ASCII)
_FLOAT_RE = re.compile(
    r'[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?', re.ASCII)
_NAN_RE = re.compile(r'[+-]?nan', re.ASCII | re.IGNORECASE)
_INF_RE = re.compile(r'[+-]?inf(inity)?', re.ASCII | re.IGNORECASE)
_SPACE = ' \t'

# Python's csv module stops at 131,072 characters per cell; long text
# features (descriptions) need more. Beyond this, a row is rejected naming it.
MAX_CELL_CHARS = 16 * 1024 * 1024


def check_columns(columns: Iterable[Sequence[str]]) -> Columns:
  """Validates `[[name, dtype], ...]`; returns it as a tuple of pairs."""
  result = []
  for column in columns:
    if len(column) != 2:
      raise UserError(f'a column is declared as [name, dtype], got {column!r}')
    name, dtype = column
    if not isinstance(name, str) or not name:
      raise UserError(f'column names must be non-empty strings, got {name!r}')
    if dtype not in DTYPES:
      raise UserError(f'column {name!r}: dtype must be one of {DTYPES}, got '
                       f'{dtype!r}')
    result.append((name, dtype))
  names = [n for n, _ in result]
  if not names:
    raise UserError('no columns declared')
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise UserError(f'columns declared twice: {duplicates}')
  return tuple(result)


def check_header(header: Sequence[str], columns: Columns, source: str) -> None:
  """Fails unless `header` holds each declared column exactly once."""
  declared = [n for n, _ in columns]
  missing = [n for n in declared if n not in header]
  undeclared = [h for h in header if h not in declared]
  repeated = sorted({h for h in header if header.count(h) > 1})
  if missing or undeclared or repeated:
    problems = []
    if missing:
      problems.append(f'lacks declared columns {missing}')
    if undeclared:
      problems.append(f'has undeclared columns {undeclared}')
    if repeated:
      problems.append(f'repeats columns {repeated}')
    raise UserError(f'{source}: the header {list(header)} '
                     f'{" and ".join(problems)}; the schema declares '
                     f'{declared}')


def parse_cell(text: str, dtype: str, nan_is_missing: bool = False
               ) -> List[Value]:
  """'' -> []; otherwise one value of `dtype` (ValueError saying why not)."""
  if text == '':
    return []
  if dtype == STRING:
    return [text.encode('utf-8')]
  number = text.strip(_SPACE)
  if dtype == INT:
    if not _INT_RE.fullmatch(number):
      raise UserError('an int is [+-] and ASCII digits only')
    value = int(number)
    if not _INT64_MIN <= value <= _INT64_MAX:
      raise UserError('out of the int64 range')
    return [value]
  if _NAN_RE.fullmatch(number):
    if nan_is_missing:
      return []
    raise UserError('NaN is not allowed (tag the feature '
                     f'{rules_lib.NAN_IS_MISSING_TAG!r} in the schema to read '
                     'NaN as missing)')
  if _INF_RE.fullmatch(number):
    raise UserError('infinity is not allowed')
  if not _FLOAT_RE.fullmatch(number):
    raise UserError('a float is [+-]digits[.digits][e[+-]digits], ASCII only')
  value = float(number)
  if math.isinf(value) or abs(value) > _FLOAT32_MAX:
    raise UserError('beyond the float32 range (would be infinity)')
  return [value]


def _decoded(lines: Iterable[bytes], source: str) -> Iterator[str]:
  """Decodes a file's byte lines as UTF-8, naming the first bad line."""
  for number, line in enumerate(lines, start=1):
    try:
      yield line.decode('utf-8')
    except UnicodeDecodeError as e:
      raise UserError(f'{source} line {number}: not UTF-8 text: {e}') from None


def _header(reader, source: str) -> List[str]:
  """The first non-blank record of `reader`, without a byte-order mark."""
  for record in reader:
    if record:
      if record[0].startswith('\ufeff'):
        record[0] = record[0][1:]
      return record
  raise UserError(f'{source}: empty file, a header line is required')


def read_header(lines: Iterable[bytes], source: str) -> List[str]:
  """The column names on the first line of a CSV file's byte lines."""
  try:
    return _header(csv.reader(_decoded(lines, source), strict=True), source)
  except csv.Error as e:
    raise UserError(f'{source}: unreadable header: {e}') from None


def read_rows(lines: Iterable[bytes], columns: Columns, source: str,
              rules: Optional[rules_lib.Rules] = None) -> Iterator[Row]:
  """Yields one {column: values} dict per data row of a UTF-8 CSV file.

  Args:
    lines: the file's byte lines, line endings kept (a file opened in binary
      mode); quoted cells may span lines.
    columns: the declared (name, dtype) pairs.
    source: the file name used in error messages.
    rules: per-column rules (required, single line, NaN, bounds).

  Yields:
    {name: []} for an empty cell, {name: [bytes | int | float]} otherwise;
    every declared column is present. Blank lines are skipped.

  Raises:
    ValueError: naming the file, the line and the column of the first bad
      header, row length, value or encoding.
  """
  for _, row in read_numbered_rows(lines, columns, source, rules):
    yield row


def read_column(lines: Iterable[bytes], column: str, source: str
                ) -> Iterator[str]:
  """The non-empty cells of one column of a CSV file (e.g. the item ids)."""
  csv.field_size_limit(MAX_CELL_CHARS)
  reader = csv.reader(_decoded(lines, source), strict=True)
  try:
    header = _header(reader, source)
    if column not in header:
      raise UserError(f'{source}: the header {header} lacks column {column!r}')
    index = header.index(column)
    for record in reader:
      if len(record) > index and record[index]:
        yield record[index]
  except csv.Error as e:
    raise UserError(f'{source} line {reader.line_num}: malformed CSV: {e}'
                     ) from None


def read_numbered_rows(lines: Iterable[bytes], columns: Columns, source: str,
                       rules: Optional[rules_lib.Rules] = None
                       ) -> Iterator[Tuple[int, Row]]:
  """read_rows, yielding (line number where the row starts, row)."""
  dtypes = dict(columns)
  rules = rules or rules_lib.Rules()
  csv.field_size_limit(MAX_CELL_CHARS)
  reader = csv.reader(_decoded(lines, source), strict=True)
  line = 1
  try:
    header = _header(reader, source)
    check_header(header, columns, source)
    line = reader.line_num + 1
    for record in reader:
      if record:
        yield line, _typed(record, header, dtypes, rules, source, line)
      line = reader.line_num + 1
  except csv.Error as e:
    if 'field larger than field limit' in str(e):
      raise UserError(f'{source} line {line}: a cell is longer than the '
                       f'limit of {MAX_CELL_CHARS:,} characters') from None
    raise UserError(f'{source} line {line}: malformed CSV: {e}') from None


def _typed(record: List[str], header: List[str], dtypes: Dict[str, str],
           rules: rules_lib.Rules, source: str, line: int) -> Row:
  if len(record) != len(header):
    raise UserError(f'{source} line {line}: {len(record)} cells, the header '
                     f'has {len(header)} columns')
  row = {}
  for name, text in zip(header, record):
    rule = rules.rule(name)
    try:
      row[name] = values = parse_cell(text, dtypes[name], rule.nan_is_missing)
    except ValueError as e:
      raise UserError(
          f'{source} line {line}, column {name!r}: {text!r} is not a valid '
          f'{dtypes[name]}: {e}') from None
    problem = _broken_rule(values, text, rule)
    if problem:
      raise UserError(f'{source} line {line}, column {name!r}: {problem}')
  return row


def _broken_rule(values: List[Value], text: str, rule: rules_lib.ColumnRule
                 ) -> Optional[str]:
  if not values:
    return 'empty, a value is required' if rule.required else None
  value = values[0]
  if rule.single_line and ('\n' in text or '\r' in text):
    return (f'{text!r} holds a line break, which a vocabulary (one value per '
            'line) cannot hold')
  if rule.minimum is not None and value < rule.minimum:
    return f'{text!r} is below the schema minimum {rule.minimum:g}'
  if rule.maximum is not None and value > rule.maximum:
    return f'{text!r} is above the schema maximum {rule.maximum:g}'
  return None

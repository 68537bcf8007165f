"""Reads CSV rows typed by declared column dtypes (no TFX, no TensorFlow).

Columns are declared as `[(name, dtype), ...]` with dtype in 'string' | 'int' |
'float' (FeatureConfig.item_columns / interaction_columns). Every file of every
split is typed from that declaration, never inferred from its cells, so a
column such as a zip prefix is a string everywhere even when one split only
holds digits. The header must hold exactly the declared columns (any order).
An empty cell is a missing value: the column is present with no values.
"""
import csv
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple, Union

STRING, INT, FLOAT = 'string', 'int', 'float'
DTYPES = (STRING, INT, FLOAT)

Columns = Tuple[Tuple[str, str], ...]
Value = Union[bytes, int, float]
Row = Dict[str, List[Value]]

_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1


def check_columns(columns: Iterable[Sequence[str]]) -> Columns:
  """Validates `[[name, dtype], ...]`; returns it as a tuple of pairs."""
  result = []
  for column in columns:
    if len(column) != 2:
      raise ValueError(f'a column is declared as [name, dtype], got {column!r}')
    name, dtype = column
    if not isinstance(name, str) or not name:
      raise ValueError(f'column names must be non-empty strings, got {name!r}')
    if dtype not in DTYPES:
      raise ValueError(f'column {name!r}: dtype must be one of {DTYPES}, got '
                       f'{dtype!r}')
    result.append((name, dtype))
  names = [n for n, _ in result]
  if not names:
    raise ValueError('no columns declared')
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ValueError(f'columns declared twice: {duplicates}')
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
    raise ValueError(f'{source}: the header {list(header)} '
                     f'{" and ".join(problems)}; the schema declares '
                     f'{declared}')


def parse_cell(text: str, dtype: str) -> List[Value]:
  """'' -> []; otherwise one value of `dtype` (ValueError if not parseable)."""
  if text == '':
    return []
  if dtype == STRING:
    return [text.encode('utf-8')]
  if dtype == INT:
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX:
      raise ValueError(f'{text!r} is out of the int64 range')
    return [value]
  return [float(text)]


def _decoded(lines: Iterable[bytes], source: str) -> Iterator[str]:
  """Decodes a file's byte lines as UTF-8, naming the first bad line."""
  for number, line in enumerate(lines, start=1):
    try:
      yield line.decode('utf-8')
    except UnicodeDecodeError as e:
      raise ValueError(f'{source} line {number}: not UTF-8 text: {e}') from None


def _header(reader, source: str) -> List[str]:
  """The first non-blank record of `reader`, without a byte-order mark."""
  for record in reader:
    if record:
      if record[0].startswith('\ufeff'):
        record[0] = record[0][1:]
      return record
  raise ValueError(f'{source}: empty file, a header line is required')


def read_header(lines: Iterable[bytes], source: str) -> List[str]:
  """The column names on the first line of a CSV file's byte lines."""
  try:
    return _header(csv.reader(_decoded(lines, source), strict=True), source)
  except csv.Error as e:
    raise ValueError(f'{source}: unreadable header: {e}') from None


def read_rows(lines: Iterable[bytes], columns: Columns, source: str
              ) -> Iterator[Row]:
  """Yields one {column: values} dict per data row of a UTF-8 CSV file.

  Args:
    lines: the file's byte lines, line endings kept (a file opened in binary
      mode); quoted cells may span lines.
    columns: the declared (name, dtype) pairs.
    source: the file name used in error messages.

  Yields:
    {name: []} for an empty cell, {name: [bytes | int | float]} otherwise;
    every declared column is present. Blank lines are skipped.

  Raises:
    ValueError: naming the file, the line and the column of the first bad
      header, row length, value or encoding.
  """
  dtypes = dict(columns)
  reader = csv.reader(_decoded(lines, source), strict=True)
  line = 1
  try:
    header = _header(reader, source)
    check_header(header, columns, source)
    line = reader.line_num + 1
    for record in reader:
      if record:
        yield _typed(record, header, dtypes, source, line)
      line = reader.line_num + 1
  except csv.Error as e:
    raise ValueError(f'{source} line {line}: malformed CSV: {e}') from None


def _typed(record: List[str], header: List[str], dtypes: Dict[str, str],
           source: str, line: int) -> Row:
  if len(record) != len(header):
    raise ValueError(f'{source} line {line}: {len(record)} cells, the header '
                     f'has {len(header)} columns')
  row = {}
  for name, text in zip(header, record):
    try:
      row[name] = parse_cell(text, dtypes[name])
    except ValueError:
      raise ValueError(
          f'{source} line {line}, column {name!r}: {text!r} is not a valid '
          f'{dtypes[name]}') from None
  return row

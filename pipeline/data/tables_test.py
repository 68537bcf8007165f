"""Tests for pipeline/data/tables.py on real CSV and Parquet files."""
import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.data import tables


def _csv(path, text):
  path.write_text(text, encoding='utf-8')
  return str(path)


def test_csv_rows_are_numbered_by_file_line(tmp_path):
  path = _csv(tmp_path / 'e.csv',
              'a,b\n1,"two\nlines"\n\n3,"x, y"\n')
  table = tables.Table(path)
  assert table.columns == ['a', 'b']
  assert list(table.rows()) == [(3, ['1', 'two\nlines']), (5, ['3', 'x, y'])]
  assert table.where(5, 'b') == f"{path} line 5, column 'b'"


@pytest.mark.parametrize('text, message', [
    ('', 'line 1: empty file'),
    ('a,a\n1,2\n', "line 1: column 'a' appears twice"),
])
def test_bad_headers(tmp_path, text, message):
  with pytest.raises(ValueError, match=message):
    tables.Table(_csv(tmp_path / 'e.csv', text))


def test_bad_rows_name_the_line(tmp_path):
  table = tables.Table(_csv(tmp_path / 'e.csv', 'a,b\n1,2\n3\n'))
  with pytest.raises(ValueError, match=r'e.csv line 3: 1 fields, the header '
                     'has 2'):
    list(table.rows())
  (tmp_path / 'l.csv').write_bytes(b'a,b\n1,2\n\xe9,3\n')
  with pytest.raises(ValueError, match=r'l.csv line 3: not UTF-8 text'):
    list(tables.Table(str(tmp_path / 'l.csv')).rows())


def test_missing_file_and_column(tmp_path):
  with pytest.raises(FileNotFoundError, match='nope.csv: no such file'):
    tables.Table(str(tmp_path / 'nope.csv'))
  table = tables.Table(_csv(tmp_path / 'e.csv', 'a,b\n'))
  with pytest.raises(ValueError, match=r"line 1: no column 'uid' "
                     r"\(--user-col\); the header has \['a', 'b'\]"):
    table.require(['a', 'uid'], ['--x', '--user-col'])


def test_parquet_cells_become_text(tmp_path):
  path = str(tmp_path / 'e.parquet')
  pq.write_table(pa.table({
      'user': ['u1', None],
      'n': [3, 4],
      'x': [1.5, float('nan')],
      'tags': [['a', 'b'], []],
      'flag': [True, False],
      'at': [datetime.datetime(2024, 1, 2, 3, 4, 5), None],
  }), path)
  table = tables.Table(path, separator=';')
  assert table.columns == ['user', 'n', 'x', 'tags', 'flag', 'at']
  assert list(table.rows()) == [
      (1, ['u1', '3', '1.5', 'a;b', 'true', '2024-01-02T03:04:05']),
      (2, ['', '4', '', '', 'false', ''])]
  assert table.where(2, 'x') == f"{path} row 2, column 'x'"


def test_unreadable_parquet(tmp_path):
  path = _csv(tmp_path / 'e.parquet', 'a,b\n')
  with pytest.raises(ValueError, match='not a readable Parquet file'):
    tables.Table(path)

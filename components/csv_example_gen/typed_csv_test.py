"""Tests for components/csv_example_gen/typed_csv.py (pure CSV typing)."""
import io

import pytest

from components.csv_example_gen import rules as rules_lib
from components.csv_example_gen import typed_csv

COLUMNS = (('user_id', 'string'), ('timestamp', 'int'), ('age', 'float'),
           ('zip_prefix', 'string'), ('history', 'string'))


def _read(text, columns=COLUMNS):
  return list(typed_csv.read_rows(io.BytesIO(text.encode('utf-8')), columns,
                                  'f.csv'))


def test_types_every_column_from_the_declaration():
  rows = _read('user_id,timestamp,age,zip_prefix,history\n'
               '7,100,24,857,1|2\n'
               'u8,-3,24.5,T8H,\n')
  assert rows == [
      {'user_id': [b'7'], 'timestamp': [100], 'age': [24.0],
       'zip_prefix': [b'857'], 'history': [b'1|2']},
      {'user_id': [b'u8'], 'timestamp': [-3], 'age': [24.5],
       'zip_prefix': [b'T8H'], 'history': []}]
  assert isinstance(rows[0]['timestamp'][0], int)
  assert isinstance(rows[0]['age'][0], float)


def test_header_order_is_free_and_empty_cells_are_missing():
  rows = _read('history,age,zip_prefix,timestamp,user_id\n'
               ',,,,x\n')
  assert rows == [{'user_id': [b'x'], 'timestamp': [], 'age': [],
                   'zip_prefix': [], 'history': []}]


def test_quoted_cells_commas_quotes_newlines_utf8_and_bom():
  text = ('\ufeffuser_id,timestamp,age,zip_prefix,history\n'
          '"a, ""b""",1,2,"x\r\ny",Mis\u00e9rables\n'
          '\n'
          'c,2,3,z,\n')
  rows = _read(text)
  assert [r['user_id'] for r in rows] == [[b'a, "b"'], [b'c']]
  assert rows[0]['zip_prefix'] == [b'x\r\ny']
  assert rows[0]['history'] == ['Misérables'.encode('utf-8')]


@pytest.mark.parametrize('header, message', [
    ('user_id,timestamp,age,history',
     r"f\.csv: the header .* lacks declared columns \['zip_prefix'\]"),
    ('user_id,timestamp,age,zip_prefix,history,rating',
     r"has undeclared columns \['rating'\]"),
    ('user_id,timestamp,age,zip,history',
     r"lacks declared columns \['zip_prefix'\] and has undeclared columns "
     r"\['zip'\]"),
    ('user_id,timestamp,age,zip_prefix,history,age',
     r"repeats columns \['age'\]"),
])
def test_header_errors_name_file_and_columns(header, message):
  with pytest.raises(ValueError, match=message):
    _read(header + '\n1,2,3,4,5\n')


@pytest.mark.parametrize('body, message', [
    ('1,2,3,4,5\n1,x,3,4,5\n',
     r"f\.csv line 3, column 'timestamp': 'x' is not a valid int"),
    ('1,2.0,3,4,5\n', r"line 2, column 'timestamp': '2.0' is not a valid int"),
    ('1,2,old,4,5\n', r"line 2, column 'age': 'old' is not a valid float"),
    ('1,99999999999999999999,3,4,5\n', r"line 2, column 'timestamp'"),
    ('"a\nb",2,3,4,5\n1,2,3\n', r'f\.csv line 4: 3 cells, the header has 5'),
    ('1,2,3,4,"5\n', r'f\.csv line 2: malformed CSV'),
])
def test_value_errors_name_file_line_and_column(body, message):
  with pytest.raises(ValueError, match=message):
    _read('user_id,timestamp,age,zip_prefix,history\n' + body)


def test_empty_file_and_bad_encoding():
  with pytest.raises(ValueError, match='f.csv: empty file'):
    _read('\n\n')
  latin1 = io.BytesIO(b'user_id,timestamp,age,zip_prefix,history\n'
                      b'a,1,2,3,4\n\xe9,1,2,3,4\n')
  with pytest.raises(ValueError, match='f.csv line 3: not UTF-8'):
    list(typed_csv.read_rows(latin1, COLUMNS, 'f.csv'))


def test_read_header():
  text = '\n\ufeffa,"b,c"\n1,2\n'.encode('utf-8')
  assert typed_csv.read_header(io.BytesIO(text), 'f') == ['a', 'b,c']
  with pytest.raises(ValueError, match='f: empty file'):
    typed_csv.read_header(io.BytesIO(b''), 'f')


@pytest.mark.parametrize('columns, message', [
    ([['a', 'text']], "column 'a': dtype must be one of"),
    ([['a', 'int'], ['a', 'float']], r"declared twice: \['a'\]"),
    ([], 'no columns'),
    ([['a']], r'\[name, dtype\]'),
])
def test_check_columns(columns, message):
  with pytest.raises(ValueError, match=message):
    typed_csv.check_columns(columns)


def test_check_columns_accepts_feature_config_columns():
  assert typed_csv.check_columns([['a', 'int'], ('b', 'string')]) == (
      ('a', 'int'), ('b', 'string'))


@pytest.mark.parametrize('text, dtype, value', [
    (' 37 ', 'int', 37), ('\t-5', 'int', -5), ('+7', 'int', 7),
    ('1e3', 'float', 1000.0), (' .5 ', 'float', 0.5), ('-2.', 'float', -2.0),
    ('3.4e38', 'float', 3.4e38),
])
def test_numbers_a_csv_user_means(text, dtype, value):
  assert typed_csv.parse_cell(text, dtype) == [value]


@pytest.mark.parametrize('text, dtype, reason', [
    ('1_600_000_000', 'int', 'ASCII digits only'),
    ('\u0663\u0667', 'int', 'ASCII digits only'),  # Arabic-Indic 37
    ('1,600', 'int', 'ASCII digits only'),
    ('0x1f', 'int', 'ASCII digits only'),
    ('1_000.5', 'float', 'ASCII only'),
    ('\u0663.5', 'float', 'ASCII only'),
    ('nan', 'float', "NaN is not allowed .*'nan:missing'"),
    ('-NaN', 'float', 'NaN is not allowed'),
    ('inf', 'float', 'infinity'), ('Infinity', 'float', 'infinity'),
    ('-INF', 'float', 'infinity'),
    ('1e400', 'float', 'float32 range'), ('-1e39', 'float', 'float32 range'),
])
def test_numbers_rejected_with_the_reason(text, dtype, reason):
  with pytest.raises(ValueError, match=reason):
    typed_csv.parse_cell(text, dtype)


def test_nan_is_missing_only_when_declared():
  assert typed_csv.parse_cell('NaN', 'float', nan_is_missing=True) == []
  with pytest.raises(ValueError, match='infinity'):
    typed_csv.parse_cell('inf', 'float', nan_is_missing=True)


def _rules(**columns):
  return rules_lib.Rules(columns={
      name: rules_lib.ColumnRule(**rule) for name, rule in columns.items()})


@pytest.mark.parametrize('row, rules, message', [
    (',1,2,3,', _rules(user_id={'required': True}),
     "line 2, column 'user_id': empty, a value is required"),
    ('"a\nb",1,2,3,', _rules(user_id={'single_line': True}),
     r"line 2, column 'user_id': 'a\\nb' holds a line break"),
    ('"a\rb",1,2,3,', _rules(user_id={'single_line': True}), 'line break'),
    ('a,-1,2,3,', _rules(timestamp={'minimum': 0}),
     "column 'timestamp': '-1' is below the schema minimum 0"),
    ('a,1,200.5,3,', _rules(age={'maximum': 120}),
     "column 'age': '200.5' is above the schema maximum 120"),
    ('a,1,nan,3,', _rules(), "column 'age': 'nan' is not a valid float"),
])
def test_column_rules_name_line_and_column(row, rules, message):
  with pytest.raises(ValueError, match=message):
    list(typed_csv.read_rows(
        io.BytesIO(('user_id,timestamp,age,zip_prefix,history\n' + row +
                    '\n').encode()), COLUMNS, 'f.csv', rules))


def test_declared_nan_reads_as_missing():
  rows = list(typed_csv.read_rows(
      io.BytesIO(b'user_id,timestamp,age,zip_prefix,history\na,1,NaN,3,\n'),
      COLUMNS, 'f.csv', _rules(age={'nan_is_missing': True})))
  assert rows[0]['age'] == []


def test_cell_limit_is_stated(monkeypatch):
  monkeypatch.setattr(typed_csv, 'MAX_CELL_CHARS', 1000)
  text = 'user_id,timestamp,age,zip_prefix,history\n' + 'x' * 1001 + ',1,2,3,\n'
  with pytest.raises(ValueError,
                     match='line 2: a cell is longer than the limit of 1,000'):
    _read(text)
  monkeypatch.undo()
  assert _read(text)[0]['user_id'] == [b'x' * 1001]
  assert typed_csv.MAX_CELL_CHARS == 16 * 1024 * 1024


def test_read_column():
  text = b'a,b\n1,"x\ny"\n2,\n'
  assert list(typed_csv.read_column(io.BytesIO(text), 'b', 'f')) == ['x\ny']

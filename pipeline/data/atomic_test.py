"""Tests for pipeline/data/atomic.py on hand-made atomic files."""
import os
import zipfile

import pytest

from pipeline.data import atomic

ITEM = ('item_id:token\ttitle:token_seq\tprice:float\tvec:float_seq\n'
        'a\tThe Big One\t1.5\t0.1 0.2\n'
        '\n'
        'b\tSmall\t\t\n')


def test_parse_types_rows_and_line_numbers():
  table = atomic.parse(ITEM, 'toy.item')
  assert table.fields == [atomic.Field('item_id', 'token'),
                          atomic.Field('title', 'token_seq'),
                          atomic.Field('price', 'float'),
                          atomic.Field('vec', 'float_seq')]
  # The blank line 3 is skipped; line numbers are the file's.
  assert list(table.records()) == [
      ('toy.item line 2', {'item_id': 'a', 'title': 'The Big One',
                           'price': '1.5', 'vec': '0.1 0.2'}),
      ('toy.item line 4', {'item_id': 'b', 'title': 'Small', 'price': '',
                           'vec': ''})]


@pytest.mark.parametrize('text, message', [
    ('', r'toy\.item: empty file'),
    ('item_id:token\tprice:money\n', r"toy\.item line 1: field 'price' has "
     r"unknown type 'money'; RecBole types are token, token_seq, float, "
     'float_seq'),
    ('item_id\n', r"toy\.item line 1: header field 'item_id' is not name:type"),
    ('item_id:token\titem_id:float\n', r"line 1: field 'item_id' appears "
     'twice'),
    ('item_id:token\tprice:float\na\n', r'toy\.item line 2: expected 2 '
     'tab-separated fields, found 1'),
    ('item_id:token\tprice:float\na\tcheap\n', r"toy\.item line 2: field "
     r"'price' \(float\) has 'cheap', not a number"),
    ('item_id:token\tv:float_seq\na\t1 x\n', r"line 2: field 'v' "
     r"\(float_seq\) has 'x'"),
])
def test_parse_errors_name_file_line_and_field(text, message):
  with pytest.raises(ValueError, match=message):
    atomic.parse(text, 'toy.item')


def test_require_names_the_missing_fields():
  table = atomic.parse(ITEM, 'toy.item')
  table.require(['item_id', 'price'])
  with pytest.raises(ValueError, match=r"toy\.item: header lacks columns "
                     r"\['timestamp'\] \(line 1 has fields"):
    table.require(['item_id', 'timestamp'])


def _write(folder, files):
  os.makedirs(folder, exist_ok=True)
  for name, text in files.items():
    with open(os.path.join(folder, name), 'w', encoding='utf-8') as f:
      f.write(text)
  return str(folder)


def test_source_reads_a_folder(tmp_path):
  folder = _write(tmp_path / 'toy', {'toy.inter': 'user_id:token\n',
                                     'toy.item': ITEM})
  with atomic.Source(folder, 'toy') as source:
    assert source.has('item') and not source.has('user')
    assert source.read('item').names == ['item_id', 'title', 'price', 'vec']
    with pytest.raises(FileNotFoundError, match=r'toy\.user not found'):
      source.read('user')
  with pytest.raises(FileNotFoundError, match=r'has no other\.inter'):
    atomic.Source(folder, 'other')
  with pytest.raises(FileNotFoundError, match='no such folder or zip'):
    atomic.Source(str(tmp_path / 'nowhere'), 'toy')


def test_source_finds_the_files_anywhere_in_a_zip(tmp_path):
  path = tmp_path / 'd.zip'
  with zipfile.ZipFile(path, 'w') as z:
    z.writestr('pkg/data/toy/toy.inter', 'user_id:token\n')
    z.writestr('pkg/data/toy/toy.item', ITEM.encode('utf-8'))
    z.writestr('elsewhere/toy.user', 'user_id:token\n')  # not beside .inter
  with atomic.Source(str(path), 'toy') as source:
    assert source.describe('item') == f'{path}:pkg/data/toy/toy.item'
    assert len(source.read('item').rows) == 2
    assert not source.has('user')
  with pytest.raises(ValueError, match=r'has no nope\.inter'):
    atomic.Source(str(path), 'nope')
  (tmp_path / 'bad.zip').write_text('not a zip')
  with pytest.raises(ValueError, match='not a folder nor a readable zip'):
    atomic.Source(str(tmp_path / 'bad.zip'), 'toy')


def test_source_rejects_two_copies_and_non_utf8(tmp_path):
  path = tmp_path / 'two.zip'
  with zipfile.ZipFile(path, 'w') as z:
    z.writestr('a/toy.inter', 'user_id:token\n')
    z.writestr('b/toy.inter', 'user_id:token\n')
  with pytest.raises(ValueError, match=r'has 2 copies of toy\.inter'):
    atomic.Source(str(path), 'toy')
  folder = tmp_path / 'latin'
  _write(folder, {'toy.inter': 'user_id:token\n'})
  (folder / 'toy.item').write_bytes('item_id:token\n\xe9\n'.encode('latin-1'))
  with atomic.Source(str(folder), 'toy') as source:
    with pytest.raises(ValueError, match=r'toy\.item: not UTF-8'):
      source.read('item')

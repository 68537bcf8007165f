"""Tests of models/options.py."""
import dataclasses
import json

import pytest

from models.options import Choice, help_of, option


class Color(Choice):
  RED = 'red'
  BLUE = 'blue'


def test_parse_accepts_values_and_members():
  assert Color.parse('red', 'color') is Color.RED
  assert Color.parse(Color.BLUE, 'color') is Color.BLUE


def test_parse_names_the_key_and_every_choice():
  with pytest.raises(ValueError, match=r"^color must be one of \['red', 'blue'\], "
                     r"got 'green'$"):
    Color.parse('green', 'color')


def test_members_are_their_strings():
  assert Color.RED == 'red' and str(Color.RED) == 'red'
  assert f'{Color.BLUE}' == 'blue'
  assert json.dumps({'c': Color.RED}) == '{"c": "red"}'
  assert Color.values() == ('red', 'blue')


def test_option_carries_its_help():
  @dataclasses.dataclass(frozen=True)
  class Section:
    size: int = option(3, 'how many')
    plain: int = 1

  size, plain = dataclasses.fields(Section)
  assert Section().size == 3
  assert help_of(size) == 'how many' and help_of(plain) == ''

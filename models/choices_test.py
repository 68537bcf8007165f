"""Tests of models/choices.py."""
import json

import pytest

from models.choices import Choice


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

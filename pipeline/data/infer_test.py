"""Tests for pipeline/data/infer.py (the guessed kind of a column)."""
import pytest

from models import features
from pipeline.data import infer


def _kind(cells, separator='|'):
  profile = infer.Profile('c', separator)
  for cell in cells:
    profile.add(cell)
  return profile.kind()


@pytest.mark.parametrize('cells, kind, dtype', [
    (['', ' '], features.IGNORE, 'string'),
    (['1', '2.5', '', '-3e2'], features.NUMERIC, 'float'),
    # A leading zero makes a code (zip, postcode), not a number.
    (['02139', '10001'], features.CATEGORICAL, 'string'),
    (['0', '0.5'], features.NUMERIC, 'float'),
    (['nan', '1'], features.CATEGORICAL, 'string'),
    # Titles: several words per cell that rarely repeat (6 of 6 distinct).
    (['Toy Story', 'Big Night Out', 'Heat'], features.TEXT, 'string'),
    (['Action|Comedy', 'Drama', 'Comedy'], features.MULTI_VALUED, 'string'),
    # Tags with spaces repeat: 3 distinct of 6 tokens is not text.
    (['sci fi|space', 'sci fi', 'space|sci fi'], features.MULTI_VALUED,
     'string'),
    (['red', 'blue', 'red'], features.CATEGORICAL, 'string'),
    # One word per cell is never text, even when all distinct.
    (['sku1', 'sku2', 'sku3'], features.CATEGORICAL, 'string'),
])
def test_kind(cells, kind, dtype):
  assert _kind(cells) == (kind, dtype)


def test_other_separator():
  assert _kind(['a;b', 'c'], ';')[0] == features.MULTI_VALUED
  assert _kind(['a|b', 'c'], ';')[0] == features.CATEGORICAL


def test_profile_counts_and_caps_distinct_values():
  profile = infer.Profile('c')
  for i in range(infer.MAX_DISTINCT + 5):
    profile.add(f'v{i}')
  profile.add('')
  assert profile.distinct_text == f'>{infer.MAX_DISTINCT}'
  assert profile.distinct == 0  # the values are dropped once over the cap
  assert (profile.cells, profile.empty, profile.required) == (
      infer.MAX_DISTINCT + 6, 1, False)
  assert profile.example == 'v0'


def test_is_text_is_the_recbole_rule():
  assert infer.is_text(['Toy Story', 'Heat'])
  assert not infer.is_text(['Comedy Drama', 'Drama Comedy'])
  assert not infer.is_text([])


def test_tags_override_the_guess_and_are_checked():
  assert infer.parse_tags(['a=text', 'b=ignore']) == {'a': 'text',
                                                       'b': 'ignore'}
  for bad in ('a', 'a=id', '=text', 'a=history'):
    with pytest.raises(ValueError, match='COLUMN=KIND'):
      infer.parse_tags([bad])
  profile = infer.Profile('year')
  for cell in ('1995', '1996'):
    profile.add(cell)
  assert infer.chosen_kind(profile, None) == (features.NUMERIC, 'float')
  assert infer.chosen_kind(profile, 'categorical') == (features.CATEGORICAL,
                                                       'string')
  profile.add('n/a')
  with pytest.raises(ValueError, match=r"--tag year=numeric: .*'1995'"):
    infer.chosen_kind(profile, 'numeric')

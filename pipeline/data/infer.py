"""Guesses each column's `sslrec:<kind>` tag from its cells.

A `Profile` sees a column's cells one at a time in bounded memory (counts, the
first TOKEN_SAMPLE_CELLS cells' tokens, at most MAX_DISTINCT distinct values);
`Profile.kind()` then decides, in this order:

  ignore        every cell is empty
  numeric       every non-empty cell is a finite number, none with a leading
                zero ('02139' is a code, not a number)       -> FLOAT
  text          cells hold several words that rarely repeat (is_text: titles,
                descriptions)
  multi_valued  some cell holds the separator ('Action|Comedy')
  categorical   anything else (one value per cell)

The guess is a starting point: the import prints it as a table and writes it
as an annotated schema whose tags the user may edit.
"""
import dataclasses
import math
from typing import Dict, Optional, Sequence, Set, Tuple

from models import features
from pipeline.errors import UserError

# A token_seq / free-text column is text when distinct tokens / all tokens
# exceed this (titles), else multi-valued (genres repeat).
TEXT_TOKEN_RATIO = 0.5
# ... and its cells hold at least this many words (whitespace-separated) on
# average; the ratio counts tokens split by whitespace and the separator.
TEXT_MIN_MEAN_WORDS = 1.5
TOKEN_SAMPLE_CELLS = 20_000
MAX_DISTINCT = 1_000
# Kinds a user may give a column (`--tag COL=KIND`); ids and history are the
# contract's own.
USER_KINDS = (features.CATEGORICAL, features.MULTI_VALUED, features.TEXT,
              features.NUMERIC, features.IGNORE)


def is_text(cells: Sequence[str]) -> bool:
  """True when the cells' whitespace tokens rarely repeat (free text)."""
  tokens = [t for cell in cells for t in cell.split()]
  return bool(tokens) and len(set(tokens)) / len(tokens) > TEXT_TOKEN_RATIO


def _is_number(cell: str) -> bool:
  text = cell.strip()
  try:
    value = float(text)
  except ValueError:
    return False
  digits = text.lstrip('+-')
  leading_zero = len(digits) > 1 and digits[0] == '0' and digits[1].isdigit()
  return math.isfinite(value) and not leading_zero


@dataclasses.dataclass
class Profile:
  """What the inference needs to know about one column's cells."""
  name: str
  separator: str = features.SEPARATOR
  cells: int = 0
  empty: int = 0
  numeric: bool = True
  with_separator: int = 0
  example: str = ''
  many_distinct: bool = False
  # value -> (words, tokens, holds the separator), for at most MAX_DISTINCT
  # values: a repeated value costs one look-up.
  _counts: Dict[str, Tuple[int, int, bool]] = dataclasses.field(
      default_factory=dict)
  _sample_words: int = 0
  _sample_tokens: int = 0
  _sample_cells: int = 0
  _sample_distinct: Set[str] = dataclasses.field(default_factory=set)

  def add(self, cell: str) -> None:
    self.cells += 1
    seen = self._counts.get(cell)
    if seen is not None:  # a value seen before: only its counts change
      if seen[2]:
        self.with_separator += 1
      self._sample(*seen[:2])
      return
    if not cell.strip():
      self.empty += 1
      return
    if not self.example:
      self.example = cell
    if self.numeric and not _is_number(cell):
      self.numeric = False
    words = cell.split()
    tokens = [t for w in words for t in w.split(self.separator) if t]
    has_separator = self.separator in cell
    self.with_separator += has_separator
    if self._sample(len(words), len(tokens)):
      self._sample_distinct.update(tokens)
    if not self.many_distinct:
      self._counts[cell] = (len(words), len(tokens), has_separator)
      if len(self._counts) > MAX_DISTINCT:
        self.many_distinct, self._counts = True, {}

  def _sample(self, words: int, tokens: int) -> bool:
    if self._sample_cells >= TOKEN_SAMPLE_CELLS:
      return False
    self._sample_cells += 1
    self._sample_words += words
    self._sample_tokens += tokens
    return True

  @property
  def distinct(self) -> int:
    """Distinct non-empty values (while at most MAX_DISTINCT)."""
    return len(self._counts)

  @property
  def required(self) -> bool:
    return self.cells > 0 and self.empty == 0

  @property
  def distinct_text(self) -> str:
    return f'>{MAX_DISTINCT}' if self.many_distinct else str(self.distinct)

  def kind(self) -> Tuple[str, str]:
    """(kind, dtype) guessed from the cells seen."""
    if self.cells == self.empty:
      return features.IGNORE, 'string'
    if self.numeric:
      return features.NUMERIC, 'float'
    if self._sample_tokens and (
        self._sample_words / self._sample_cells >= TEXT_MIN_MEAN_WORDS and
        len(self._sample_distinct) / self._sample_tokens > TEXT_TOKEN_RATIO):
      return features.TEXT, 'string'
    if self.with_separator:
      return features.MULTI_VALUED, 'string'
    return features.CATEGORICAL, 'string'


def chosen_kind(profile: Profile, tag: Optional[str]) -> Tuple[str, str]:
  """(kind, dtype): the user's `tag` when given, else the guess."""
  if tag is None:
    return profile.kind()
  if tag == features.NUMERIC and not profile.numeric:
    raise UserError(f'--tag {profile.name}={tag}: the column has a '
                     f'non-numeric value (e.g. {profile.example!r})')
  return tag, 'float' if tag == features.NUMERIC else 'string'


def parse_tags(values: Sequence[str]) -> dict:
  """['genre=multi_valued', ...] -> {'genre': 'multi_valued', ...}."""
  tags = {}
  for value in values:
    column, sep, kind = value.partition('=')
    if not sep or not column or kind not in USER_KINDS:
      raise UserError(f'--tag {value!r}: expected COLUMN=KIND with KIND one '
                       f'of {list(USER_KINDS)}')
    tags[column] = kind
  return tags

"""`Choice`: the base of every string-valued option (SSL variant, index kind, ...).

A `Choice` is a `str` enum: its members compare equal to their values, JSON
encodes them as the plain string, and `parse` is the one place a user's string
becomes a member (or a one-line error naming the key and every choice).
"""
import enum
from typing import Tuple, Type, TypeVar

C = TypeVar('C', bound='Choice')


class Choice(str, enum.Enum):
  """A string option with a closed set of values."""

  def __str__(self) -> str:
    return self.value

  @classmethod
  def values(cls) -> Tuple[str, ...]:
    return tuple(member.value for member in cls)

  @classmethod
  def parse(cls: Type[C], value, key: str) -> C:
    """`value` (a member or its string) as a member; ValueError naming `key`."""
    try:
      return cls(value)
    except ValueError:
      raise ValueError(f'{key} must be one of {list(cls.values())}, got '
                       f'{value!r}') from None

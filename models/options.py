"""How a config option is declared: `option(default, help)` and `Choice`.

`option` makes a dataclass field that carries its help text, the one home of
what the option means (`sslrec run --help` reads it; see help_of).

A `Choice` is the base of every string-valued option with a closed set of
values (SSL variant, index kind, ...): a `str` enum, so its members compare
equal to their values and JSON encodes them as the plain string; `parse` is
the one place a user's string becomes a member (or a one-line error naming
the key and every choice).
"""
import dataclasses
import enum
from typing import Any, Tuple, Type, TypeVar
from pipeline.errors import UserError

HELP = 'help'  # the field metadata key of an option's help


def option(default: Any, help_text: str) -> Any:
  """A dataclass field with a default and its help."""
  return dataclasses.field(default=default, metadata={HELP: help_text})


def help_of(field: dataclasses.Field) -> str:
  """The help of a field made by `option` ('' for a plain field)."""
  return field.metadata.get(HELP, '')

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
      raise UserError(f'{key} must be one of {list(cls.values())}, got '
                       f'{value!r}') from None

"""The interaction event of every adapter and the contract's event order."""
import dataclasses
import math
from typing import Any, Tuple
from pipeline.errors import UserError


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
  """One interaction; `origin` names its source (file and line) for errors.

  `extra` holds the event's own query feature cells (an event log's context
  columns), in the order the writer is told (contract.write_dataset's
  `event_columns`); the user table gives the rest.
  """
  user_id: str
  item_id: str
  timestamp: int
  origin: str = ''
  extra: Tuple[str, ...] = ()


def id_key(value: str) -> Tuple[int, Any]:
  """Sort key for ids: numeric ids by value, before other ids in text order."""
  return (0, int(value), value) if value.isdigit() else (1, value)


def event_key_memo():
  """The sort key of events: (timestamp, user_id, item_id), ids as id_key.

  One id_key is shared per distinct id (a long event log holds a million
  events but a few thousand ids).
  """
  keys = {}

  def key(value: str):
    found = keys.get(value)
    if found is None:
      found = keys[value] = id_key(value)
    return found

  return lambda event: (event.timestamp, key(event.user_id),
                        key(event.item_id))


def parse_timestamp(where: str, text: str) -> int:
  """Epoch seconds from `text` ('881250949', '8.8e8'); `where` names the cell."""
  try:
    value = float(text)
  except ValueError:
    value = None
  if (value is None or not math.isfinite(value) or value != int(value)
      or value < 0):
    raise UserError(f'{where}: timestamp {text!r} is not a whole number of '
                     'seconds')
  return int(value)

"""The interaction event of every adapter and the contract's event order."""
import dataclasses
from typing import Any, Tuple


@dataclasses.dataclass(frozen=True)
class Event:
  """One interaction; `origin` names its source (file and line) for errors."""
  user_id: str
  item_id: str
  timestamp: int
  origin: str = ''


def id_key(value: str) -> Tuple[int, Any]:
  """Sort key for ids: numeric ids by value, before other ids in text order."""
  return (0, int(value), value) if value.isdigit() else (1, value)


def event_key(event: Event) -> Tuple[Any, ...]:
  """Events are ordered by (timestamp, user_id, item_id), ids as id_key."""
  return (event.timestamp, id_key(event.user_id), id_key(event.item_id))

"""Split protocols: which events form `eval`, and every event's history.

Both protocols order all events by (timestamp, user_id, item_id) and give each
event the same `history`: the user's earlier item ids in that order (in either
split), most recent first, capped at `history_length`, joined by `|`. So an
eval event sees only earlier events, whatever the protocol.

  temporal        the last `eval_fraction` of all events (the default; what a
                  production retrain sees: train on the past, serve the future)
  leave-last-out  each user with at least LEAVE_LAST_OUT_MIN_EVENTS events
                  gives their last event to eval; everything else is train (the
                  protocol of the sequential-recommendation literature)
"""
import collections
import dataclasses
import enum
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

from models import features
from pipeline.data.events import Event, event_key_memo
from pipeline.errors import UserError


class SplitProtocol(str, enum.Enum):
  TEMPORAL = 'temporal'
  LEAVE_LAST_OUT = 'leave-last-out'


DEFAULT_SPLIT = SplitProtocol.TEMPORAL
NAMES = tuple(p.value for p in SplitProtocol)
DEFAULT_EVAL_FRACTION = 0.1
DEFAULT_HISTORY_LENGTH = 50
LEAVE_LAST_OUT_MIN_EVENTS = 3

Split = List[Tuple[Event, str]]  # (event, history) in time order


def protocol(value) -> SplitProtocol:
  """The protocol named by `value` (a SplitProtocol or its text)."""
  try:
    return SplitProtocol(value)
  except ValueError:
    raise UserError(f'split must be one of {list(NAMES)}, got '
                     f'{value!r}') from None


def check_args(split, eval_fraction: Optional[float],
               history_length: int) -> Tuple[SplitProtocol, Optional[float]]:
  """Validates the split settings once; returns (protocol, eval_fraction).

  `eval_fraction` None means the default for `temporal`; `leave-last-out`
  takes no fraction (its eval split is one event per user).
  """
  split = protocol(split)
  if history_length < 0:
    raise UserError(f'history_length must be >= 0, got {history_length}')
  if split == SplitProtocol.LEAVE_LAST_OUT:
    if eval_fraction is not None:
      raise UserError('eval_fraction applies to the temporal split only; '
                       'leave-last-out takes each user\'s last event')
    return split, None
  if eval_fraction is None:
    eval_fraction = DEFAULT_EVAL_FRACTION
  if not 0.0 < eval_fraction < 1.0:
    raise UserError(f'eval_fraction must be in (0, 1), got {eval_fraction}')
  return split, eval_fraction


def _eval_test(ordered: Sequence[Event], split: SplitProtocol,
               eval_fraction: Optional[float]) -> Tuple[Callable[[int], bool],
                                                        int]:
  """(is position i of `ordered` an eval event?, number of eval events)."""
  if split == SplitProtocol.TEMPORAL:
    first_eval = len(ordered) - int(round(len(ordered) * eval_fraction))
    return (lambda i: i >= first_eval), len(ordered) - first_eval
  last: Dict[str, int] = {}
  counts: Dict[str, int] = {}
  for i, event in enumerate(ordered):
    last[event.user_id] = i
    counts[event.user_id] = counts.get(event.user_id, 0) + 1
  chosen = {i for u, i in last.items()
            if counts[u] >= LEAVE_LAST_OUT_MIN_EVENTS}
  return chosen.__contains__, len(chosen)


@dataclasses.dataclass
class Plan:
  """All events in contract order and which of them form `eval`."""
  ordered: List[Event]
  is_eval: Callable[[int], bool]
  num_eval: int
  history_length: int

  @property
  def num_train(self) -> int:
    return len(self.ordered) - self.num_eval

  def rows(self) -> Iterator[Tuple[Event, str, bool]]:
    """(event, history, is_eval) in time order, one at a time.

    Memory beyond the events: the last `history_length` item ids per user.
    """
    recent: Dict[str, collections.deque] = {}
    for i, event in enumerate(self.ordered):
      previous = recent.get(event.user_id)
      if previous is None:
        previous = recent[event.user_id] = collections.deque(
            maxlen=self.history_length)
      yield (event, features.SEPARATOR.join(reversed(previous)),
             self.is_eval(i))
      previous.append(event.item_id)


def plan(events: Iterable[Event], split=DEFAULT_SPLIT,
         eval_fraction: Optional[float] = None,
         history_length: int = DEFAULT_HISTORY_LENGTH) -> Plan:
  """Orders `events` by time and decides the split by protocol `split`."""
  split, eval_fraction = check_args(split, eval_fraction, history_length)
  ordered = sorted(events, key=event_key_memo())
  is_eval, num_eval = _eval_test(ordered, split, eval_fraction)
  if ordered and not 0 < num_eval < len(ordered):
    detail = (f'eval_fraction {eval_fraction} of {len(ordered)} events'
              if split == SplitProtocol.TEMPORAL else
              f'{split.value} (users with >= {LEAVE_LAST_OUT_MIN_EVENTS} '
              f'events) over {len(ordered)} events')
    raise UserError(f'{detail} leaves {num_eval} eval and '
                     f'{len(ordered) - num_eval} train events; both splits '
                     'need at least one event')
  return Plan(ordered, is_eval, num_eval, history_length)


def split_events(events: Sequence[Event], split=DEFAULT_SPLIT,
                 eval_fraction: Optional[float] = None,
                 history_length: int = DEFAULT_HISTORY_LENGTH
                 ) -> Tuple[Split, Split]:
  """Orders `events` by time and splits them by protocol `split`.

  Returns:
    (train, eval): lists of (event, history) in time order.
  """
  train, evaluation = [], []
  for event, history, is_eval in plan(events, split, eval_fraction,
                                      history_length).rows():
    (evaluation if is_eval else train).append((event, history))
  return train, evaluation


def info(split, eval_fraction: Optional[float]) -> Dict[str, object]:
  """The split entries of dataset.json."""
  split, eval_fraction = check_args(split, eval_fraction, 0)
  if split == SplitProtocol.TEMPORAL:
    return {'split': split.value, 'eval_fraction': eval_fraction}
  return {'split': split.value,
          'min_user_events': LEAVE_LAST_OUT_MIN_EVENTS}

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
import enum
from typing import Dict, List, Optional, Sequence, Tuple

from models import features
from pipeline.data.events import Event, event_key
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


def _with_history(ordered: Sequence[Event], history_length: int) -> Split:
  seen: Dict[str, List[str]] = {}
  rows = []
  for event in ordered:
    previous = seen.setdefault(event.user_id, [])
    recent = previous[::-1][:history_length] if history_length else []
    rows.append((event, features.SEPARATOR.join(recent)))
    previous.append(event.item_id)
  return rows


def split_events(events: Sequence[Event], split=DEFAULT_SPLIT,
                 eval_fraction: Optional[float] = None,
                 history_length: int = DEFAULT_HISTORY_LENGTH
                 ) -> Tuple[Split, Split]:
  """Orders `events` by time and splits them by protocol `split`.

  Returns:
    (train, eval): lists of (event, history) in time order.
  """
  split, eval_fraction = check_args(split, eval_fraction, history_length)
  ordered = sorted(events, key=event_key)
  rows = _with_history(ordered, history_length)
  if split == SplitProtocol.TEMPORAL:
    num_eval = int(round(len(ordered) * eval_fraction))
    is_eval = [i >= len(ordered) - num_eval for i in range(len(ordered))]
  else:
    last: Dict[str, int] = {}
    counts: Dict[str, int] = {}
    for i, event in enumerate(ordered):
      last[event.user_id] = i
      counts[event.user_id] = counts.get(event.user_id, 0) + 1
    chosen = {i for u, i in last.items()
              if counts[u] >= LEAVE_LAST_OUT_MIN_EVENTS}
    is_eval = [i in chosen for i in range(len(ordered))]
  train = [r for r, e in zip(rows, is_eval) if not e]
  evaluation = [r for r, e in zip(rows, is_eval) if e]
  if ordered and not (train and evaluation):
    detail = (f'eval_fraction {eval_fraction} of {len(ordered)} events'
              if split == SplitProtocol.TEMPORAL else
              f'{split.value} (users with >= {LEAVE_LAST_OUT_MIN_EVENTS} '
              f'events) over {len(ordered)} events')
    raise UserError(f'{detail} leaves {len(evaluation)} eval and '
                     f'{len(train)} train events; both splits need at least '
                     'one event')
  return train, evaluation


def info(split, eval_fraction: Optional[float]) -> Dict[str, object]:
  """The split entries of dataset.json."""
  split, eval_fraction = check_args(split, eval_fraction, 0)
  if split == SplitProtocol.TEMPORAL:
    return {'split': split.value, 'eval_fraction': eval_fraction}
  return {'split': split.value,
          'min_user_events': LEAVE_LAST_OUT_MIN_EVENTS}

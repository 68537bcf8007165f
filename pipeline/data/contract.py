"""The data contract shared by every adapter: temporal split, history, files.

A dataset folder holds

  items/items.csv                       one row per item
  interactions/train/interactions.csv   the earlier events
  interactions/eval/interactions.csv    the last `eval_fraction` of events
  dataset.json                          name, schema folder and counts

with the columns (and column order) of the dataset's annotated schemas. Events
are ordered by (timestamp, user_id, item_id); the `history` of an event is the
same user's previous item ids in that order, most recent first, capped at
`history_length` and joined by `|`. Adapters build `Event`s and row dicts and
call `write_dataset`, which writes everything to a temporary folder and renames
it into place.
"""
import collections
import csv
import dataclasses
import json
import os
import re
import shutil
import tempfile
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from models import features
import schemas

ITEMS_CSV = os.path.join('items', 'items.csv')
TRAIN_CSV = os.path.join('interactions', 'train', 'interactions.csv')
EVAL_CSV = os.path.join('interactions', 'eval', 'interactions.csv')
DATASET_JSON = 'dataset.json'

DEFAULT_EVAL_FRACTION = 0.1
DEFAULT_HISTORY_LENGTH = 50


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
  return (event.timestamp, id_key(event.user_id), id_key(event.item_id))


def split_title_year(full_title: str) -> Tuple[str, str]:
  """'Heat (1995)' -> ('Heat', '1995'); a year-less title keeps year ''.

  The year is the last `(dddd)` group that only other bracketed groups follow
  ('Land Before Time III (1995) (V)' -> ('Land Before Time III (V)', '1995')).
  """
  match = re.match(r'^(.*?)\s*\((\d{4})\)((?:\s*\([^()]*\))*)\s*$',
                   full_title.strip())
  if not match:
    return full_title.strip(), ''
  return (match.group(1) + match.group(3)).strip(), match.group(2)


def check_split_args(eval_fraction: float, history_length: int) -> None:
  if not 0.0 < eval_fraction < 1.0:
    raise ValueError(f'eval_fraction must be in (0, 1), got {eval_fraction}')
  if history_length < 0:
    raise ValueError(f'history_length must be >= 0, got {history_length}')


def temporal_split(
    events: Sequence[Event], eval_fraction: float, history_length: int
) -> Tuple[List[Tuple[Event, str]], List[Tuple[Event, str]]]:
  """Orders events by time and splits off the last `eval_fraction` of them.

  Returns:
    (train, eval): lists of (event, history) in time order; `history` is the
    user's earlier item ids (across both splits), most recent first, at most
    `history_length` of them, joined by `|` ('' for a first event).
  """
  check_split_args(eval_fraction, history_length)
  ordered = sorted(events, key=event_key)
  num_eval = int(round(len(ordered) * eval_fraction))
  if ordered and not 0 < num_eval < len(ordered):
    raise ValueError(
        f'eval_fraction {eval_fraction} of {len(ordered)} events leaves '
        f'{num_eval} eval events; both splits need at least one event')
  seen: Dict[str, List[str]] = {}
  rows = []
  for event in ordered:
    previous = seen.setdefault(event.user_id, [])
    recent = previous[::-1][:history_length] if history_length else []
    rows.append((event, features.SEPARATOR.join(recent)))
    previous.append(event.item_id)
  cut = len(ordered) - num_eval
  return rows[:cut], rows[cut:]


def check_out_dir(out_dir: str, force: bool) -> None:
  """Fails early when `out_dir` would be overwritten without `force`."""
  if os.path.isfile(out_dir):
    raise ValueError(f'--out {out_dir} is a file, not a folder')
  if os.path.isdir(out_dir) and os.listdir(out_dir) and not force:
    raise ValueError(f'--out {out_dir} exists and is not empty; pass --force '
                     'to replace it')


def _write_csv(path: str, columns: Sequence[str],
               rows: Sequence[Mapping[str, str]], what: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(columns)
    for row in rows:
      if set(row) != set(columns):
        raise ValueError(
            f'{what} row has columns {sorted(row)}, the schema declares '
            f'{sorted(columns)}')
      writer.writerow([row[c] for c in columns])


def _interaction_rows(split: Sequence[Tuple[Event, str]],
                      users: Mapping[str, Mapping[str, str]],
                      item_ids: set) -> List[Dict[str, str]]:
  rows = []
  for event, history in split:
    where = f'{event.origin}: ' if event.origin else ''
    if event.user_id not in users:
      raise ValueError(f'{where}user_id {event.user_id!r} has no user row')
    if event.item_id not in item_ids:
      raise ValueError(f'{where}item_id {event.item_id!r} has no item row')
    row = {features.USER_ID: event.user_id, features.ITEM_ID: event.item_id,
           features.TIMESTAMP: str(event.timestamp), features.HISTORY: history}
    row.update(users[event.user_id])
    rows.append(row)
  return rows


def write_dataset(out_dir: str, *, name: str, schemas_name: str,
                  items: Sequence[Mapping[str, str]],
                  users: Mapping[str, Mapping[str, str]],
                  events: Sequence[Event],
                  eval_fraction: float = DEFAULT_EVAL_FRACTION,
                  history_length: int = DEFAULT_HISTORY_LENGTH,
                  force: bool = False,
                  extra_info: Optional[Mapping[str, Any]] = None
                  ) -> Dict[str, Any]:
  """Writes the contract files of one dataset atomically.

  Args:
    out_dir: the dataset folder to create (replaced only when `force`).
    name: dataset name recorded in dataset.json.
    schemas_name: bundled schema folder (schemas/<schemas_name>/); its column
      declarations fix the CSV headers and their order.
    items: one dict per item, column -> cell text (all item columns).
    users: user_id -> {query feature column -> cell text} (every interaction
      column except user_id, item_id, timestamp and history).
    events: the interactions, in any order.
    eval_fraction: the last fraction of events (by time) that forms `eval`.
    history_length: cap on the number of previous items in `history`.
    force: replace a non-empty `out_dir`.
    extra_info: more entries for dataset.json.

  Returns:
    The dataset.json content.
  """
  check_out_dir(out_dir, force)
  config = features.load_feature_config(schemas.resolve(schemas_name))
  item_columns = [c for c, _ in config.item_columns]
  interaction_columns = [c for c, _ in config.interaction_columns]
  if not events:
    raise ValueError(f'{name}: no interaction events')
  counts = collections.Counter(row.get(features.ITEM_ID, '') for row in items)
  duplicates = sorted(i for i, n in counts.items() if n > 1)
  if duplicates:
    raise ValueError(f'{name}: duplicate item_id values {duplicates[:5]}')
  train, evaluation = temporal_split(events, eval_fraction, history_length)
  item_set = set(counts)
  train_rows = _interaction_rows(train, users, item_set)
  eval_rows = _interaction_rows(evaluation, users, item_set)
  info = {
      'name': name,
      'schemas': schemas_name,
      'num_items': len(items),
      'num_users': len({e.user_id for e in events}),
      'num_train_events': len(train_rows),
      'num_eval_events': len(eval_rows),
      'eval_fraction': eval_fraction,
      'history_length': history_length,
  }
  info.update(extra_info or {})

  out_dir = os.path.abspath(out_dir)
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(out_dir)}.tmp-',
                         dir=parent)
  try:
    items_sorted = sorted(items, key=lambda r: id_key(r[features.ITEM_ID]))
    _write_csv(os.path.join(tmp, ITEMS_CSV), item_columns, items_sorted,
               'item')
    _write_csv(os.path.join(tmp, TRAIN_CSV), interaction_columns, train_rows,
               'interaction')
    _write_csv(os.path.join(tmp, EVAL_CSV), interaction_columns, eval_rows,
               'interaction')
    with open(os.path.join(tmp, DATASET_JSON), 'w', encoding='utf-8') as f:
      json.dump(info, f, indent=2)
      f.write('\n')
    _replace_dir(tmp, out_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return info


def _replace_dir(tmp: str, out_dir: str) -> None:
  """Renames `tmp` to `out_dir`, moving an existing `out_dir` out of the way."""
  if not os.path.exists(out_dir):
    os.rename(tmp, out_dir)
    return
  old = tmp + '.old'
  os.rename(out_dir, old)
  os.rename(tmp, out_dir)
  shutil.rmtree(old, ignore_errors=True)

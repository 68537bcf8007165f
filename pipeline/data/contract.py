"""The data contract shared by every adapter: files, columns, atomic writes.

A dataset folder holds

  items/items.csv                       one row per item
  interactions/train/interactions.csv   the train events
  interactions/eval/interactions.csv    the eval events (split.py: protocols)
  dataset.json                          name, schema folder, counts, split
  schema/                               only for a generated schema folder

with the columns (and column order) of the dataset's annotated schemas. The
split and the `history` of each event follow pipeline/data/split.py. Adapters
build `Event`s and row dicts and call `write_dataset`, which writes everything
to a temporary folder (the interactions one event at a time) and renames it
into place.
"""
import collections
import csv
import glob
import json
import os
import re
import shutil
import tempfile
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from models import features
from pipeline.data import split as split_lib
from pipeline.data.events import Event, id_key
import schemas
from pipeline.errors import UserError

ITEMS_CSV = os.path.join('items', 'items.csv')
TRAIN_CSV = os.path.join('interactions', 'train', 'interactions.csv')
EVAL_CSV = os.path.join('interactions', 'eval', 'interactions.csv')
DATASET_JSON = 'dataset.json'
# A generated schema folder lives in the dataset folder under this name, and
# dataset.json names it (pipeline/config.py resolves it against the folder).
GENERATED_SCHEMAS = 'schema'
# Written into every dataset folder: --force replaces only folders holding it.
MARKER = '.sslrec-dataset'
_WRITTEN = {os.path.dirname(ITEMS_CSV), 'interactions', GENERATED_SCHEMAS,
            DATASET_JSON, MARKER}


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


def train_events(data_dir: str) -> Optional[int]:
  """Events of the train split: dataset.json's count, else the data rows of
  interactions/train/*.csv (None for a remote or missing folder)."""
  if '://' in data_dir or not os.path.isdir(data_dir):
    return None
  try:
    with open(os.path.join(data_dir, DATASET_JSON), encoding='utf-8') as f:
      count = json.load(f).get('num_train_events')
    if isinstance(count, int):
      return count
  except (OSError, ValueError, AttributeError):
    pass
  rows = 0
  for path in glob.glob(os.path.join(data_dir, os.path.dirname(TRAIN_CSV),
                                     '*.csv')):
    with open(path, 'rb') as f:
      rows += max(sum(1 for line in f if line.strip()) - 1, 0)
  return rows


def check_name(name: str, flag: str = '--dataset') -> str:
  """A dataset name is a name: no separator, not '.' or '..', not absolute
  (it becomes `<source>/<name>.inter` and `data/<name>`)."""
  separators = {'/', '\\', os.sep} | ({os.altsep} if os.altsep else set())
  if (not name or name in ('.', '..') or any(c in name for c in separators)
      or os.path.isabs(name) or '\0' in name):
    raise UserError(f'{flag} {name!r}: a dataset name is a plain file name '
                    '(no / or \\, not . or .., not an absolute path)')
  return name


def _written_by_sslrec(out_dir: str) -> bool:
  """Whether `out_dir` is a dataset folder sslrec wrote (its marker file;
  folders of older releases: dataset.json and nothing but what it writes)."""
  names = set(os.listdir(out_dir))
  return MARKER in names or (DATASET_JSON in names and names <= _WRITTEN)


def check_out_dir(out_dir: str, force: bool, sources: Sequence[str] = ()
                  ) -> None:
  """Fails early when `out_dir` would be overwritten without `force`, is not
  a dataset folder sslrec wrote (`force` replaces only those), or is, holds or
  sits inside one of the `sources` being read."""
  if os.path.isfile(out_dir):
    raise UserError(f'--out {out_dir} is a file, not a folder')
  out = os.path.realpath(out_dir)
  for source in sources:
    src = os.path.realpath(source)
    if out == src or out.startswith(src + os.sep) or src.startswith(
        out + os.sep):
      raise UserError(f'--out {out_dir} is, contains or sits inside the source '
                      f'{source}; write the dataset to another folder')
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    if not force:
      raise UserError(f'--out {out_dir} exists and is not empty; pass --force '
                      'to replace it')
    if not _written_by_sslrec(out_dir):
      raise UserError(f'--out {out_dir} holds files sslrec did not write (no '
                      f'{MARKER}); --force replaces only a dataset folder '
                      'sslrec wrote: remove it yourself or choose another '
                      '--out')


def _write_csv(path: str, columns: Sequence[str],
               rows: Sequence[Mapping[str, str]], what: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(columns)
    for row in rows:
      if set(row) != set(columns):
        raise UserError(
            f'{what} row has columns {sorted(row)}, the schema declares '
            f'{sorted(columns)}')
      writer.writerow([row[c] for c in columns])


def _write_interactions(folder: str, columns: Sequence[str],
                        plan: split_lib.Plan,
                        users: Mapping[str, Mapping[str, str]],
                        item_ids: set, event_columns: Sequence[str]) -> None:
  """Streams the train and eval CSVs, one event at a time."""
  paths = [os.path.join(folder, TRAIN_CSV), os.path.join(folder, EVAL_CSV)]
  for path in paths:
    os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(paths[0], 'w', encoding='utf-8', newline='') as train_file, \
      open(paths[1], 'w', encoding='utf-8', newline='') as eval_file:
    writers = [csv.writer(f, lineterminator='\n')
               for f in (train_file, eval_file)]
    for writer in writers:
      writer.writerow(columns)
    expected = set(columns)
    checked = set()  # user feature key sets already matched to `columns`
    for event, history, is_eval in plan.rows():
      where = f'{event.origin}: ' if event.origin else ''
      user = users.get(event.user_id)
      if user is None:
        raise UserError(f'{where}user_id {event.user_id!r} has no user row')
      if event.item_id not in item_ids:
        raise UserError(f'{where}item_id {event.item_id!r} has no item row')
      row = {features.USER_ID: event.user_id, features.ITEM_ID: event.item_id,
             features.TIMESTAMP: str(event.timestamp),
             features.HISTORY: history}
      row.update(user)
      row.update(zip(event_columns, event.extra))
      shape = tuple(row)
      if shape not in checked:
        if set(row) != expected or len(event.extra) != len(event_columns):
          raise UserError(
              f'{where}interaction row has columns {sorted(row)}, the schema '
              f'declares {sorted(columns)}')
        checked.add(shape)
      writers[is_eval].writerow([row[c] for c in columns])


def _feature_config(schemas_name: Optional[str],
                    schema_files: Optional[Mapping[str, str]]
                    ) -> features.FeatureConfig:
  if (schemas_name is None) == (schema_files is None):
    raise UserError('give either schemas_name or schema_files')
  if schema_files is None:
    return features.load_feature_config(schemas.resolve(schemas_name))
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_metadata.proto.v0 import schema_pb2  # pylint: disable=g-import-not-at-top
  names = (features.ITEMS_SCHEMA_FILE, features.INTERACTIONS_SCHEMA_FILE)
  if sorted(schema_files) != sorted(names):
    raise UserError(f'schema_files must be {list(names)}, got '
                     f'{sorted(schema_files)}')
  parsed = [text_format.Parse(schema_files[n], schema_pb2.Schema())
            for n in names]
  return features.from_schemas(*parsed, *names)


def write_dataset(out_dir: str, *, name: str,
                  items: Sequence[Mapping[str, str]],
                  users: Mapping[str, Mapping[str, str]],
                  events: Iterable[Event],
                  schemas_name: Optional[str] = None,
                  schema_files: Optional[Mapping[str, str]] = None,
                  split: split_lib.SplitProtocol = split_lib.DEFAULT_SPLIT,
                  eval_fraction: Optional[float] = None,
                  history_length: int = split_lib.DEFAULT_HISTORY_LENGTH,
                  force: bool = False,
                  event_columns: Sequence[str] = (),
                  extra_info: Optional[Mapping[str, Any]] = None
                  ) -> Dict[str, Any]:
  """Writes the contract files of one dataset atomically.

  Args:
    out_dir: the dataset folder to create (replaced only when `force`).
    name: dataset name recorded in dataset.json.
    items: one dict per item, column -> cell text (all item columns).
    users: user_id -> {query feature column -> cell text} (every interaction
      column except user_id, item_id, timestamp and history).
    events: the interactions, in any order.
    schemas_name: bundled schema folder (schemas/<schemas_name>/) or a folder
      path; its column declarations fix the CSV headers and their order.
    schema_files: instead of `schemas_name`, a generated schema folder:
      {'items.pbtxt': text, 'interactions.pbtxt': text}, written to
      `<out_dir>/schema/` and named by dataset.json.
    split: the split protocol (pipeline/data/split.py).
    eval_fraction: temporal split: the last fraction of events forming
      `eval` (None = the default).
    history_length: cap on the number of previous items in `history`.
    force: replace a non-empty `out_dir`.
    event_columns: the interaction columns each event carries itself
      (`Event.extra`, in this order), e.g. an event log's context columns.
    extra_info: more entries for dataset.json.

  Returns:
    The dataset.json content.
  """
  split, eval_fraction = split_lib.check_args(split, eval_fraction,
                                              history_length)
  check_out_dir(out_dir, force)
  config = _feature_config(schemas_name, schema_files)
  item_columns = [c for c, _ in config.item_columns]
  interaction_columns = [c for c, _ in config.interaction_columns]
  counts = collections.Counter(row.get(features.ITEM_ID, '') for row in items)
  duplicates = sorted(i for i, n in counts.items() if n > 1)
  if duplicates:
    raise UserError(f'{name}: duplicate item_id values {duplicates[:5]}')
  plan = split_lib.plan(events, split, eval_fraction, history_length)
  if not plan.ordered:
    raise UserError(f'{name}: no interaction events')
  info = {
      'name': name,
      'schemas': GENERATED_SCHEMAS if schema_files else schemas_name,
      'num_items': len(items),
      'num_users': len({e.user_id for e in plan.ordered}),
      'num_train_events': plan.num_train,
      'num_eval_events': plan.num_eval,
      **split_lib.info(split, eval_fraction),
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
    _write_interactions(tmp, interaction_columns, plan, users, set(counts),
                        event_columns)
    for file_name, text in (schema_files or {}).items():
      os.makedirs(os.path.join(tmp, GENERATED_SCHEMAS), exist_ok=True)
      with open(os.path.join(tmp, GENERATED_SCHEMAS, file_name), 'w',
                encoding='utf-8') as f:
        f.write(text)
    with open(os.path.join(tmp, DATASET_JSON), 'w', encoding='utf-8') as f:
      json.dump(info, f, indent=2)
      f.write('\n')
    with open(os.path.join(tmp, MARKER), 'w', encoding='utf-8') as f:
      f.write('A dataset folder written by `sslrec data`; `--force` may '
              'replace it.\n')
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

"""Derived data folders of the quality benchmark (pure Python, CSV only).

Both derivations keep the data contract valid (docs/data.md): the same
columns in the same order, the items file unchanged, every CSV cell copied as
is (the `history` column too: it still lists the user's earlier item ids, all of
which are corpus items), and a dataset.json with the new counts.

- `subsample_train`: a random `fraction` of the TRAIN events (fixed seed, file
  order kept), the same eval events, the same items. Models the paper's
  "10% of the training data" setting.
- `validation_split`: the train events only; the last `fraction` of them by
  time become `eval` (the validation split used for tuning), the rest `train`.
  The real eval events are not in this folder, so tuning cannot see them.

Each folder is written to a temporary folder beside `out_dir` and renamed into
place, so a failure leaves nothing half-written.
"""
import csv
import json
import os
import random
import shutil
import tempfile
from typing import Any, Dict, List, Sequence, Tuple

ITEMS_CSV = os.path.join('items', 'items.csv')
TRAIN_CSV = os.path.join('interactions', 'train', 'interactions.csv')
EVAL_CSV = os.path.join('interactions', 'eval', 'interactions.csv')
DATASET_JSON = 'dataset.json'
USER_ID, ITEM_ID, TIMESTAMP = 'user_id', 'item_id', 'timestamp'

Table = Tuple[List[str], List[List[str]]]  # (header, rows)


def read_table(path: str) -> Table:
  """Reads a contract CSV: (header, rows of cell strings)."""
  with open(path, encoding='utf-8', newline='') as f:
    reader = csv.reader(f)
    try:
      header = next(reader)
    except StopIteration:
      raise ValueError(f'{path}: empty file, expected a header line') from None
    rows = []
    for line, row in enumerate(reader, start=2):
      if len(row) != len(header):
        raise ValueError(f'{path} line {line}: {len(row)} cells, the header '
                         f'has {len(header)}')
      rows.append(row)
  return header, rows


def _write_table(path: str, table: Table) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', encoding='utf-8', newline='') as f:
    writer = csv.writer(f, lineterminator='\n')
    writer.writerow(table[0])
    writer.writerows(table[1])


def _column(table: Table, name: str, path: str) -> int:
  if name not in table[0]:
    raise ValueError(f'{path}: no {name!r} column (header {table[0]})')
  return table[0].index(name)


def _id_key(value: str):
  """Ids that are all digits compare as numbers (the contract's event order)."""
  return (0, int(value), '') if value.isdigit() else (1, 0, value)


def _read_source(src: str):
  paths = {name: os.path.join(src, rel) for name, rel in
           (('items', ITEMS_CSV), ('train', TRAIN_CSV), ('eval', EVAL_CSV),
            ('info', DATASET_JSON))}
  for path in paths.values():
    if not os.path.isfile(path):
      raise FileNotFoundError(f'{src}: not a data folder (missing {path})')
  with open(paths['info'], encoding='utf-8') as f:
    info = json.load(f)
  train = read_table(paths['train'])
  evaluation = read_table(paths['eval'])
  if train[0] != evaluation[0]:
    raise ValueError(f'{src}: train and eval CSVs have different headers')
  return paths, info, train, evaluation


def _num_users(header: Sequence[str], *row_lists) -> int:
  user = list(header).index(USER_ID)
  return len({row[user] for rows in row_lists for row in rows})


def _write_folder(out_dir: str, items_path: str, train: Table, evaluation: Table,
                  info: Dict[str, Any]) -> None:
  out_dir = os.path.abspath(out_dir)
  if os.path.exists(out_dir):
    raise ValueError(f'{out_dir} exists; remove it first')
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(out_dir)}.tmp-', dir=parent)
  try:
    os.makedirs(os.path.join(tmp, 'items'))
    shutil.copyfile(items_path, os.path.join(tmp, ITEMS_CSV))
    _write_table(os.path.join(tmp, TRAIN_CSV), train)
    _write_table(os.path.join(tmp, EVAL_CSV), evaluation)
    with open(os.path.join(tmp, DATASET_JSON), 'w', encoding='utf-8') as f:
      json.dump(info, f, indent=2)
      f.write('\n')
    os.rename(tmp, out_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def subsample_train(src: str, out_dir: str, fraction: float,
                    seed: int) -> Dict[str, Any]:
  """Writes a copy of `src` keeping a random `fraction` of its train events.

  Args:
    src: a data folder.
    out_dir: the folder to create (must not exist).
    fraction: in (0, 1]; round(fraction * num_train) events are kept (>= 1).
    seed: seed of the choice (random.Random(seed).sample).

  Returns:
    The new dataset.json content.
  """
  if not 0 < fraction <= 1:
    raise ValueError(f'fraction must be in (0, 1], got {fraction}')
  paths, info, train, evaluation = _read_source(src)
  header, rows = train
  keep = max(1, round(fraction * len(rows)))
  chosen = sorted(random.Random(seed).sample(range(len(rows)), keep))
  kept = [rows[i] for i in chosen]
  info = dict(info, num_train_events=len(kept),
              num_users=_num_users(header, kept, evaluation[1]),
              derived_from=os.path.abspath(src), train_fraction=fraction,
              subsample_seed=seed)
  _write_folder(out_dir, paths['items'], (header, kept), evaluation, info)
  return info


def validation_split(src: str, out_dir: str, fraction: float) -> Dict[str, Any]:
  """Writes a tuning folder: train = earlier train events, eval = the last ones.

  Events are ordered like the contract (timestamp, user_id, item_id); the last
  round(fraction * num_train) train events become the validation (`eval`)
  split. `src`'s eval events are left out.
  """
  if not 0 < fraction < 1:
    raise ValueError(f'fraction must be in (0, 1), got {fraction}')
  paths, info, train, _ = _read_source(src)
  header, rows = train
  user = _column(train, USER_ID, paths['train'])
  item = _column(train, ITEM_ID, paths['train'])
  stamp = _column(train, TIMESTAMP, paths['train'])
  ordered = sorted(rows, key=lambda r: (int(r[stamp]), _id_key(r[user]),
                                        _id_key(r[item])))
  n_valid = round(fraction * len(ordered))
  if not 0 < n_valid < len(ordered):
    raise ValueError(f'{src}: {len(ordered)} train events are too few for a '
                     f'validation fraction of {fraction}')
  fit, valid = ordered[:-n_valid], ordered[-n_valid:]
  info = dict(info, num_train_events=len(fit), num_eval_events=len(valid),
              num_users=_num_users(header, fit, valid),
              derived_from=os.path.abspath(src), validation_fraction=fraction,
              eval_is='last validation_fraction of the source train events')
  _write_folder(out_dir, paths['items'], (header, fit), (header, valid), info)
  return info

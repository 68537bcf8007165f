"""MovieLens-100K adapter: GroupLens folder or RecBole wheel -> contract files.

Two sources give byte-identical contract files:

* an extracted GroupLens `ml-100k` folder: u.data (user, item, rating,
  timestamp; tab-separated), u.item (latin-1, `|`-separated: id, title with
  '(year)', release date, video date, url, one 0/1 flag per genre), u.user
  (id, age, gender, occupation, zip; `|`-separated), u.genre (name|index);
* the PyPI wheel `recbole==1.2.1`, fetched with `pip download --no-deps` into a
  cache folder; its `recbole/dataset_example/ml-100k/ml-100k.{inter,item,user}`
  are RecBole atomic files, read by the RecBole importer (recbole.py): the title
  without its year, the year in its own column ('unkonwn' when unknown) and
  space-separated genres. This module only renames and reshapes the fields.

Items: item_id, title (year removed), year ('' when unknown), genres (names in
sorted order joined by `|`). Interactions: every rating is an implicit positive;
user_id, item_id, timestamp, age, gender, occupation, zip_prefix (first three
characters of the zip code) and history (see split.py).

With `kg` (wheel only), the items also carry one multi-valued column per
forward KG relation of ml-100k.{kg,link} (`kg_actor`, `kg_directed_by`, ...;
pipeline/data/kg.py) and use schemas/movielens-100k-kg/.
"""
import glob
import os
import subprocess
import sys
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from pipeline.data import contract
from pipeline.data import kg as kg_lib
from pipeline.data import recbole
from pipeline.data import split as split_lib
from pipeline.data.events import parse_timestamp
from pipeline.errors import UserError
from pipeline.errors import MissingInputError

NAME = 'movielens-100k'
SCHEMAS = 'movielens-100k'
KG_NAME = SCHEMAS_KG = 'movielens-100k-kg'
RECBOLE_VERSION = '1.2.1'
RECBOLE_DATASET = 'ml-100k'
RECBOLE_DIR = 'recbole/dataset_example/ml-100k/'  # where the wheel holds it
_RECBOLE_ITEM_FIELDS = ('movie_title', 'release_year', 'class')
_RECBOLE_USER_FIELDS = ('age', 'gender', 'occupation', 'zip_code')
DEFAULT_CACHE = 'cache'
# RecBole fills unknown titles and years with this (misspelt) token; GroupLens
# gives the title 'unknown' and no year.
_RECBOLE_UNKNOWN = 'unkonwn'

Lines = Iterator[Tuple[int, str]]


def _lines(text: str) -> Lines:
  """(line number, line) of the non-blank lines of `text`."""
  for number, line in enumerate(text.splitlines(), start=1):
    if line.strip():
      yield number, line


def _fields(where: str, line: str, sep: str, count: int) -> List[str]:
  fields = line.split(sep)
  if len(fields) != count:
    raise UserError(f'{where}: expected {count} {sep!r}-separated fields, '
                     f'found {len(fields)}: {line[:80]!r}')
  return fields


def _user_row(where: str, age: str, gender: str, occupation: str,
              zip_code: str) -> Dict[str, str]:
  try:
    float(age)
  except ValueError:
    raise UserError(f'{where}: age {age!r} is not a number') from None
  return {'age': age.strip(), 'gender': gender.strip(),
          'occupation': occupation.strip(), 'zip_prefix': zip_code.strip()[:3]}


def _item_row(item_id: str, full_title: str, genres: Sequence[str]
              ) -> Dict[str, str]:
  title, year = contract.split_title_year(full_title)
  return {'item_id': item_id, 'title': title, 'year': year,
          'genres': '|'.join(sorted(g for g in genres if g))}


class _Tables:
  """The three parsed MovieLens tables of one source."""

  def __init__(self):
    self.items: List[Dict[str, str]] = []
    self.users: Dict[str, Dict[str, str]] = {}
    self.events: List[contract.Event] = []
    self.kg_columns: Dict[str, str] = {}  # KG column -> relation

  def add_user(self, where: str, user_id: str, row: Dict[str, str]) -> None:
    if user_id in self.users:
      raise UserError(f'{where}: user_id {user_id!r} appears twice')
    self.users[user_id] = row


# ---------------------------------------------------------------- GroupLens


def _read_text(path: str, encoding: str) -> str:
  if not os.path.isfile(path):
    raise MissingInputError(f'{path} not found: --source must be an extracted '
                            'GroupLens ml-100k folder (u.data, u.item, u.user, '
                            'u.genre)')
  with open(path, encoding=encoding) as f:
    return f.read()


def read_grouplens(source: str) -> _Tables:
  """Reads u.genre, u.item, u.user and u.data of an ml-100k folder."""
  if not os.path.isdir(source):
    raise MissingInputError(f'--source {source} is not a folder; give an '
                            'extracted GroupLens ml-100k folder')
  genre_file, item_file, user_file, data_file = (
      os.path.join(source, n) for n in ('u.genre', 'u.item', 'u.user',
                                        'u.data'))
  genres = {}
  for number, line in _lines(_read_text(genre_file, 'latin-1')):
    where = f'{genre_file} line {number}'
    name, index = _fields(where, line, '|', 2)
    if not index.strip().isdigit():
      raise UserError(f'{where}: genre index {index!r} is not a number')
    genres[int(index)] = name
  if not genres or sorted(genres) != list(range(len(genres))):
    raise UserError(f'{genre_file}: genre indices must be 0..n-1, got '
                     f'{sorted(genres)}')
  names = [genres[i] for i in range(len(genres))]

  tables = _Tables()
  for number, line in _lines(_read_text(item_file, 'latin-1')):
    where = f'{item_file} line {number}'
    fields = _fields(where, line, '|', 5 + len(names))
    flags = fields[5:]
    if any(f not in ('0', '1') for f in flags):
      raise UserError(f'{where}: genre flags must be 0 or 1, got {flags}')
    tables.items.append(_item_row(
        fields[0].strip(), fields[1],
        [n for n, f in zip(names, flags) if f == '1']))

  for number, line in _lines(_read_text(user_file, 'latin-1')):
    where = f'{user_file} line {number}'
    user_id, age, gender, occupation, zip_code = _fields(where, line, '|', 5)
    tables.add_user(where, user_id.strip(),
                    _user_row(where, age, gender, occupation, zip_code))

  for number, line in _lines(_read_text(data_file, 'latin-1')):
    where = f'{data_file} line {number}'
    user_id, item_id, _, timestamp = _fields(where, line, '\t', 4)
    tables.events.append(contract.Event(
        user_id.strip(), item_id.strip(), parse_timestamp(where, timestamp), where))
  return tables


# ------------------------------------------------------------------ RecBole


def read_recbole(wheel: str, kg: bool = False,
                 max_kg_values: int = kg_lib.DEFAULT_MAX_VALUES) -> _Tables:
  """Reads ml-100k out of the RecBole wheel `wheel` with the RecBole importer.

  With `kg`, the items also get the KG columns of ml-100k.{link,kg}
  (pipeline/data/kg.py).
  """
  data = recbole.read(wheel, RECBOLE_DATASET, kg=kg,
                      max_kg_values=max_kg_values,
                      required={'item': _RECBOLE_ITEM_FIELDS,
                                'user': _RECBOLE_USER_FIELDS})
  tables = _Tables()
  for row in data.items:
    title, year = row['movie_title'], row['release_year'].strip()
    if title == _RECBOLE_UNKNOWN:
      title = 'unknown'
    if year and year != _RECBOLE_UNKNOWN:
      title = f'{title} ({year})'
    item = _item_row(row['item_id'], title, row['class'].split(' '))
    item.update({c: row[c] for c in data.kg_columns})
    tables.items.append(item)
  for user_id, row in data.users.items():
    where = data.origins[('user', user_id)]
    tables.add_user(where, user_id, _user_row(
        where, row['age'], row['gender'], row['occupation'], row['zip_code']))
  tables.events = data.events
  tables.kg_columns = data.kg_columns
  return tables


def fetch_recbole_wheel(
    cache_dir: str = DEFAULT_CACHE,
    run: Optional[Callable[..., subprocess.CompletedProcess]] = None) -> str:
  """Returns the cached RecBole wheel, downloading it with pip when missing.

  `run` executes the pip command (default `subprocess.run`).
  """
  run = run or subprocess.run
  pattern = os.path.join(cache_dir, f'recbole-{RECBOLE_VERSION}-*.whl')
  found = sorted(glob.glob(pattern))
  if found:
    return found[0]
  os.makedirs(cache_dir, exist_ok=True)
  command = [sys.executable, '-m', 'pip', 'download', '--no-deps',
             f'recbole=={RECBOLE_VERSION}', '-d', cache_dir]
  result = run(command, capture_output=True, text=True, check=False)
  found = sorted(glob.glob(pattern))
  if result.returncode != 0 or not found:
    tail = (result.stderr or result.stdout or '').strip()[-600:]
    raise UserError(f'could not download recbole=={RECBOLE_VERSION} with '
                     f'`{" ".join(command)}` (exit {result.returncode}): '
                     f'{tail}\nDownload an ml-100k folder from GroupLens and '
                     'pass it with --source instead.')
  return found[0]


# ------------------------------------------------------------------- build


def build(out_dir: str, source: Optional[str] = None,
          cache_dir: str = DEFAULT_CACHE, *, kg: bool = False,
          max_kg_values: int = kg_lib.DEFAULT_MAX_VALUES,
          split: split_lib.SplitProtocol = split_lib.DEFAULT_SPLIT,
          eval_fraction: Optional[float] = None,
          history_length: int = split_lib.DEFAULT_HISTORY_LENGTH,
          force: bool = False) -> Dict[str, object]:
  """Writes the MovieLens-100K contract files to `out_dir`.

  Args:
    out_dir: dataset folder to create.
    source: an extracted GroupLens ml-100k folder; None = the RecBole wheel.
    cache_dir: where the RecBole wheel is downloaded (when `source` is None).
    kg: add the knowledge-graph item columns of the wheel's ml-100k.kg and
      ml-100k.link (schemas/movielens-100k-kg/); needs the wheel.
    max_kg_values: cap on the values of one KG cell (the most shared ones).
    split: the split protocol (pipeline/data/split.py).
    eval_fraction: temporal split: the last fraction of events forming the
      eval split (None = the default).
    history_length: cap on the number of previous items in `history`.
    force: replace a non-empty `out_dir`.

  Returns:
    The dataset.json content, plus 'source' (the folder or wheel read).
  """
  split_lib.check_args(split, eval_fraction, history_length)
  contract.check_out_dir(out_dir, force, sources=[source] if source else [])
  if kg and source:
    raise UserError('--kg reads ml-100k.kg and ml-100k.link from the RecBole '
                     'wheel, which a GroupLens --source lacks; drop --source')
  if source:
    tables, origin = read_grouplens(source), os.path.abspath(source)
  else:
    wheel = fetch_recbole_wheel(cache_dir)
    tables = read_recbole(wheel, kg=kg, max_kg_values=max_kg_values)
    origin = os.path.abspath(wheel)
  extra = ({'kg_relations': tables.kg_columns, 'kg_max_values': max_kg_values}
           if kg else None)
  info = contract.write_dataset(
      out_dir, name=KG_NAME if kg else NAME,
      schemas_name=SCHEMAS_KG if kg else SCHEMAS, items=tables.items,
      users=tables.users, events=tables.events, split=split,
      eval_fraction=eval_fraction, history_length=history_length, force=force,
      extra_info=extra)
  return dict(info, source=origin)

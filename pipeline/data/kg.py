"""Knowledge-graph item features from RecBole `.link` + `.kg` files.

`.link` maps item_id -> entity_id; `.kg` holds (head_id, relation_id,
tail_id) triples. An item's features are the tails of the triples whose head
is its entity (forward direction only). Which relations become columns:

* Freebase-style relation names `domain.type.property` carry their head type
  (`film.film.actor`: head type `film.film`). The item type is the head type of
  most triples with an item head; relations of that type are kept, one column
  each. Relations of other types (`film.producer.film`, `film.actor.film`) are
  the reverse direction of kept ones (the item is their tail) and are dropped.
* Relation names without a dot all have the same (empty) head type, so every
  relation with an item head is kept.

Column names are `kg_<last part of the relation>` (`kg_actor`), or
`kg_<whole relation, dots as _>` when two kept relations share a last part.
A cell holds at most `max_values` tails, the ones that most items share
(corpus frequency, ties by id), in that order, joined by `|`; '' when the item
has none.
"""
import collections
from typing import Dict, List, Mapping, Set, Tuple

from models import features
from pipeline.data import atomic
from pipeline.errors import UserError

LINK_FIELDS = ('item_id', 'entity_id')
KG_FIELDS = ('head_id', 'relation_id', 'tail_id')
COLUMN_PREFIX = 'kg_'
DEFAULT_MAX_VALUES = 10


def read_links(link: atomic.Table, item_ids: Set[str], item_file: str
               ) -> Dict[str, List[str]]:
  """entity_id -> item ids linked to it; unknown or repeated items fail."""
  link.require(LINK_FIELDS)
  entities: Dict[str, List[str]] = collections.defaultdict(list)
  linked: Set[str] = set()
  for where, row in link.records():
    item_id, entity = row['item_id'].strip(), row['entity_id'].strip()
    if item_id not in item_ids:
      raise UserError(f'{where}: field item_id {item_id!r} is not in '
                       f'{item_file}')
    if item_id in linked:
      raise UserError(f'{where}: field item_id {item_id!r} is linked twice')
    linked.add(item_id)
    entities[entity].append(item_id)
  return entities


def _head_type(relation: str) -> str:
  return relation.rsplit('.', 1)[0] if '.' in relation else ''


def _column_names(relations: List[str]) -> Dict[str, str]:
  last = collections.Counter(r.rsplit('.', 1)[-1] for r in relations)
  names = {}
  for r in relations:
    short = r.rsplit('.', 1)[-1]
    names[r] = COLUMN_PREFIX + (short if last[short] == 1 else r).replace(
        '.', '_')
  return names


def item_features(kg: atomic.Table, entities: Mapping[str, List[str]],
                  max_values: int = DEFAULT_MAX_VALUES
                  ) -> Tuple[Dict[str, str], Dict[str, Dict[str, str]]]:
  """The KG feature columns of the linked items.

  Args:
    kg: the parsed `.kg` file.
    entities: entity_id -> item ids (`read_links`).
    max_values: cap on the values of one cell (>= 1).

  Returns:
    (columns, values): columns is {column name: relation}, sorted by name;
    values is {item_id: {column: cell}} for the items with any value.
  """
  if max_values < 1:
    raise UserError(f'max KG values per cell must be >= 1, got {max_values}')
  kg.require(KG_FIELDS)
  tails: Dict[str, Dict[str, Set[str]]] = collections.defaultdict(
      lambda: collections.defaultdict(set))
  for where, row in kg.records():
    head, relation, tail = (row[f].strip() for f in KG_FIELDS)
    if head not in entities:
      continue
    if features.SEPARATOR in tail:
      raise UserError(f'{where}: field tail_id {tail!r} holds '
                       f'{features.SEPARATOR!r}, the multi-value separator')
    tails[relation][head].add(tail)
  if not tails:
    return {}, {}
  per_type = collections.Counter()
  for relation, heads in tails.items():
    per_type[_head_type(relation)] += sum(len(t) for t in heads.values())
  item_type = min(per_type, key=lambda t: (-per_type[t], t))
  kept = sorted(r for r in tails if _head_type(r) == item_type)
  names = _column_names(kept)
  values: Dict[str, Dict[str, str]] = collections.defaultdict(dict)
  for relation in kept:
    frequency = collections.Counter(
        t for head, ts in tails[relation].items() for t in ts
        for _ in entities[head])
    for head, ts in tails[relation].items():
      best = sorted(ts, key=lambda t: (-frequency[t], t))[:max_values]
      for item_id in entities[head]:
        values[item_id][names[relation]] = features.SEPARATOR.join(best)
  columns = {names[r]: r for r in sorted(kept, key=names.get)}
  return dict(sorted(columns.items())), dict(values)

"""Which items each eval event's ranking leaves out (pure numpy, no TensorFlow).

  serving  the items the index leaves out of a request
           (components/index_builder): the event's `history` (`|`-joined item ids, the column the query
           tower reads), plus the user's items in the train split, so the
           reported metrics are what a client gets. The event's own item is
           never removed (with repeat consumption a client that excludes it
           would never get it; the evaluation measures whether it would rank).
  none     nothing excluded: the whole corpus is ranked, as RecBole ranks its
           sequential models in the leave-last-out literature.

Ids not in the corpus are ignored, as the index ignores them.
"""
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from components.retrieval_evaluator import metrics
from models import features as F
from models.options import Choice

HISTORY_COLUMN = F.HISTORY  # the default; the pipeline passes the schema's


class Exclusion(Choice):
  SERVING = 'serving'
  NONE = 'none'


def _text(value: Union[str, bytes]) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else value


def event_exclusions(rule: Exclusion, histories: Optional[Sequence],
                     users: Sequence[str], targets: np.ndarray,
                     index_of: Mapping[str, int],
                     seen_by_user: Mapping[str, np.ndarray]
                     ) -> Optional[metrics.Exclusions]:
  """The (event, item) pairs a rule removes from the events' rankings.

  Args:
    rule: an Exclusion (or its string).
    histories: [num_events] `|`-joined item ids (str or bytes), or None when
      the events have no history column.
    users: [num_events] user id of each event.
    targets: int [num_events] corpus index of each event's item.
    index_of: item id -> corpus index.
    seen_by_user: user id -> corpus indices of the user's train items.

  Returns:
    metrics.Exclusions without duplicate pairs, or None for `none`.
  """
  rule = Exclusion.parse(rule, 'exclusion')
  if rule is Exclusion.NONE:
    return None
  targets = np.asarray(targets, np.int64)
  empty = np.zeros([0], np.int64)
  rows, items = [empty], [empty]
  for row, (user, target) in enumerate(zip(users, targets)):
    named = empty
    if histories is not None and histories[row]:
      named = np.array([index_of[i] for i in
                        _text(histories[row]).split(F.SEPARATOR)
                        if i in index_of], np.int64)
    union = np.union1d(named, seen_by_user.get(user, empty))
    union = union[union != target]
    rows.append(np.full([len(union)], row, np.int64))
    items.append(union)
  return metrics.Exclusions(np.concatenate(rows), np.concatenate(items))

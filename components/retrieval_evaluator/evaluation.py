"""Evaluates a (query tower, item tower) pair on the eval split over the whole corpus.

Reads the raw Examples (items `corpus` split, interactions `train` and `eval`
splits), embeds with the towers' serving signatures and computes the metrics of
`metrics.py` and `summary.py` (slices, intervals, the metrics.json layout).
Which items each ranking leaves out: `exclusion.py` (by default the index's
rule: the event's history and the user's train items). Memory: the corpus ids,
the eval query embeddings [num_eval_events, d], the item embeddings
[num_items, d] and one (event, item) pair per excluded item; ranks are
counted (count_ranks.py), as on the Beam path.
"""
import collections
import dataclasses
import logging
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from components import tower_io
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import count_ranks
from components.retrieval_evaluator import exclusion as exclusion_lib
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import rank_histograms
from components.retrieval_evaluator import summary

ITEM_ID = 'item_id'
USER_ID = 'user_id'
TRAIN_SPLIT, EVAL_SPLIT, CORPUS_SPLIT = 'train', 'eval', 'corpus'


@dataclasses.dataclass
class Corpus:
  """The item corpus order and the train-split facts derived from it."""
  items_uri: str
  item_ids: np.ndarray  # [num_items] str, corpus order
  index_of: Dict[str, int]
  popularity: metrics.Popularity
  seen_by_user: Dict[str, np.ndarray]  # user -> corpus indices in train
  train_counts: np.ndarray  # int64 [num_items] train events of each item
  train_events_by_user: Dict[str, int]  # user -> train events (any item)


def load_corpus(items_uri: str, examples_uri: str,
                batch_size: int = 4096) -> Corpus:
  """Reads the corpus ids and the train split's item counts and user histories."""
  item_ids = tower_io.read_column(items_uri, CORPUS_SPLIT, ITEM_ID, batch_size)
  if not len(item_ids):
    raise ValueError(f'{items_uri}: split {CORPUS_SPLIT!r} has no items')
  index_of: Dict[str, int] = {}
  for i, item in enumerate(item_ids):
    if item in index_of:
      raise ValueError(f'{items_uri} split {CORPUS_SPLIT!r}: item_id {item!r} '
                       f'occurs twice (rows {index_of[item]} and {i})')
    if not item:
      raise ValueError(f'{items_uri} split {CORPUS_SPLIT!r} row {i}: empty '
                       f'{ITEM_ID}')
    index_of[item] = i
  counts = np.zeros(len(item_ids), np.int64)
  seen = collections.defaultdict(set)
  events_by_user: Dict[str, int] = collections.Counter()
  unknown = 0
  for batch in tower_io.read_split(examples_uri, TRAIN_SPLIT,
                                   {USER_ID: tf.string, ITEM_ID: tf.string},
                                   batch_size):
    for user, item in zip(batch[USER_ID], batch[ITEM_ID]):
      events_by_user[user.decode('utf-8')] += 1
      index = index_of.get(item.decode('utf-8'))
      if index is None:
        unknown += 1
        continue
      counts[index] += 1
      seen[user.decode('utf-8')].add(index)
  if unknown:
    logging.warning('%d train events have an item_id that is not in the '
                    'corpus; they count for no item popularity.', unknown)
  return Corpus(items_uri, item_ids, index_of, metrics.popularity(counts),
                {u: np.array(sorted(s), np.int64) for u, s in seen.items()},
                counts, dict(events_by_user))


def item_embeddings(tower: tower_io.Tower, corpus: Corpus,
                     batch_size: int) -> Iterator[np.ndarray]:
  row = 0
  columns = dict(tower.columns, **{ITEM_ID: tf.string})
  for batch in tower_io.read_split(corpus.items_uri, CORPUS_SPLIT, columns,
                                   batch_size):
    ids = batch[ITEM_ID]
    expected = corpus.item_ids[row:row + len(ids)]
    if [i.decode('utf-8') for i in ids] != list(expected):
      raise RuntimeError(f'{corpus.items_uri}: the corpus changed while read')
    row += len(ids)
    yield tower.embed(batch)


@dataclasses.dataclass
class EvalQueries:
  embeddings: np.ndarray  # float32 [num_events, d] or [num_events, K, d]
  targets: np.ndarray  # int64 [num_events] corpus index
  users: List[str]
  histories: Optional[np.ndarray]  # [num_events] bytes, or None


def eval_columns(columns: Dict[str, tf.DType],
                 history_column: Optional[str]) -> Dict[str, tf.DType]:
  """A tower's columns, and the history column when there is one."""
  return dict(columns, **({history_column: tf.string} if history_column
                          else {}))


def eval_blocks(columns: Dict[str, tf.DType], examples_uri: str,
                corpus: Corpus, batch_size: int
                ) -> Iterator[Tuple[Dict[str, np.ndarray], np.ndarray,
                                    List[str]]]:
  """Yields the eval split in blocks: (raw columns, targets, users).

  `targets` is int64 [block] the corpus index of each event's item; an item
  not in the corpus is an error naming the row.
  """
  columns = dict(columns, **{USER_ID: tf.string, ITEM_ID: tf.string})
  row = 0
  for batch in tower_io.read_split(examples_uri, EVAL_SPLIT, columns,
                                   batch_size):
    targets = []
    for item in batch[ITEM_ID]:
      index = corpus.index_of.get(item.decode('utf-8'))
      if index is None:
        raise ValueError(
            f'{examples_uri} split {EVAL_SPLIT!r} row {row}: item_id '
            f'{item.decode("utf-8")!r} is not in the item corpus '
            f'({corpus.items_uri}); every eval item must be a corpus item')
      targets.append(index)
      row += 1
    yield (batch, np.array(targets, np.int64),
           [u.decode('utf-8') for u in batch[USER_ID]])


def embed_eval_queries(tower: tower_io.Tower, examples_uri: str,
                       corpus: Corpus, batch_size: int,
                       history_column: Optional[str] = None) -> EvalQueries:
  """Embeds every eval event's query; maps its item to a corpus index."""
  embeddings = []  # [block, d] or [block, K, d] (a query tower with intentions)
  targets, users, histories = [], [], []
  for batch, block_targets, block_users in eval_blocks(
      eval_columns(tower.columns, history_column), examples_uri, corpus,
      batch_size):
    targets.append(block_targets)
    users.extend(block_users)
    if history_column:
      histories.append(batch[history_column])
    embeddings.append(tower.query_vectors(
        {c: batch[c] for c in tower.columns}))
  if not users:
    raise ValueError(f'{examples_uri}: split {EVAL_SPLIT!r} has no events')
  return EvalQueries(np.concatenate(embeddings), np.concatenate(targets),
                     users, np.concatenate(histories) if histories else None)


@dataclasses.dataclass
class Ranking:
  """One model's ranks of the eval events."""
  ranks: np.ndarray  # int64 [num_events], 0 = beyond the ranked depth
  targets: np.ndarray  # int64 [num_events] corpus index
  users: List[str]  # [num_events]
  exclusions: Optional[metrics.Exclusions]


def rank_events(query_tower: tower_io.Tower, item_tower: tower_io.Tower,
                examples_uri: str, corpus: Corpus, ks: Sequence[int],
                exclusion: exclusion_lib.Exclusion =
                exclusion_lib.Exclusion.SERVING,
                history_column: Optional[str] = exclusion_lib.HISTORY_COLUMN,
                query_batch_size: int = 1024,
                corpus_batch_size: int = 4096) -> Ranking:
  """Ranks every eval event's item over the whole corpus with two towers.

  `exclusion` and `history_column` (the eval split's `|`-joined history
  column; None or '' = none): exclusion.py.
  """
  ks = metrics.check_ks(ks)
  if query_tower.dim != item_tower.dim:
    raise ValueError(f'query tower ({query_tower.model_dir}) embeds in '
                     f'{query_tower.dim} dims, item tower '
                     f'({item_tower.model_dir}) in {item_tower.dim}')
  queries = embed_eval_queries(query_tower, examples_uri, corpus,
                               query_batch_size, history_column)
  exclusions = exclusion_lib.event_exclusions(
      exclusion, queries.histories, queries.users, queries.targets,
      corpus.index_of, corpus.seen_by_user)
  items = np.concatenate(list(item_embeddings(item_tower, corpus,
                                              corpus_batch_size)))
  ranks = count_ranks.rank_targets(
      queries.embeddings, items, queries.targets,
      depth=max(max(ks), metrics.DECILE_K, metrics.LITERATURE_K),
      exclusions=exclusions, query_block=query_batch_size,
      corpus_batch_size=corpus_batch_size)
  logging.info('Ranked %d eval events over %d corpus items (%d excluded '
               '(event, item) pairs).', len(ranks), len(corpus.item_ids),
               len(exclusions) if exclusions is not None else 0)
  return Ranking(ranks, queries.targets, queries.users, exclusions)


def popularity_ranking(corpus: Corpus, like: Ranking) -> Ranking:
  """The most-popular-items baseline on the events (and exclusions) of `like`."""
  return Ranking(metrics.popularity_ranks(corpus.train_counts, like.targets,
                                          like.exclusions),
                 like.targets, like.users, like.exclusions)


def event_slices(corpus: Corpus, ranking: Ranking) -> summary.EventSlices:
  return summary.event_slices(ranking.targets, ranking.users,
                              corpus.popularity, corpus.train_events_by_user)


def user_totals(corpus: Corpus, ranking: Ranking,
                ks: Sequence[int]) -> summary.UserTotals:
  """Per-user aggregates, summed as the Beam evaluator sums them
  (rank_histograms.py), so both give identical metrics."""
  return rank_histograms.ranking_totals(
      ranking.users, ranking.targets, ranking.ranks, corpus.popularity,
      corpus.train_events_by_user, ks)


def evaluate(query_tower: tower_io.Tower, item_tower: tower_io.Tower,
             examples_uri: str, corpus: Corpus, ks: Sequence[int],
             bootstrap_settings: Optional[bootstrap.Settings] = None,
             **kwargs) -> Dict[str, object]:
  """One pair of towers' metrics dict (summary.metrics_dict).

  kwargs: as rank_events. With `bootstrap_settings`, the dict has `ci95`.
  """
  ranking = rank_events(query_tower, item_tower, examples_uri, corpus, ks,
                        **kwargs)
  totals = user_totals(corpus, ranking, ks)
  samples = None
  if bootstrap_settings is not None:
    (samples,) = bootstrap.sample_ratios([totals.values], totals.events,
                                         bootstrap_settings)
  return summary.metrics_dict(totals, samples)


def rank_models(query_model_uri: str, item_model_uri: str, examples_uri: str,
                corpus: Corpus, ks: Sequence[int], **kwargs) -> Ranking:
  """`rank_events` on the towers of two Model artifact URIs."""
  return rank_events(tower_io.load_tower(query_model_uri),
                     tower_io.load_tower(item_model_uri), examples_uri, corpus,
                     ks, **kwargs)


def evaluate_models(query_model_uri: str, item_model_uri: str,
                    examples_uri: str, corpus: Corpus, ks: Sequence[int],
                    **kwargs) -> Dict[str, object]:
  """`evaluate` on the towers of two Model artifact URIs."""
  return evaluate(tower_io.load_tower(query_model_uri),
                  tower_io.load_tower(item_model_uri), examples_uri, corpus,
                  ks, **kwargs)


def metrics_json(corpus: Corpus, candidate: Ranking,
                 baseline: Optional[Ranking], ks: Sequence[int],
                 settings: bootstrap.Settings) -> Dict[str, object]:
  """metrics.json of a candidate, its baseline (or None) and popularity."""
  if baseline is not None and (
      baseline.users != candidate.users
      or not np.array_equal(baseline.targets, candidate.targets)):
    raise RuntimeError('the baseline was ranked on other eval events than the '
                       'candidate')

  def totals(ranking: Ranking) -> summary.UserTotals:
    return user_totals(corpus, ranking, ks)

  return summary.metrics_json(
      totals(candidate), totals(baseline) if baseline is not None else None,
      totals(popularity_ranking(corpus, candidate)), settings)

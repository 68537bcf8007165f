"""The evaluator's ranking as a Beam job: eval queries sharded across workers.

`rank_events` (evaluation.py) ranks every eval event in one process. Here the
same exact ranking runs as a Beam pipeline, so it scales out with the
pipeline's `--beam-args` (DirectRunner multi-processing, Dataflow, Flink,
Spark) like every other Beam component:

  driver: item embeddings, computed once -> side input [num_items, d]
  eval events, in blocks of `query_batch_size` (with their corpus targets)
    | Reshuffle                      (blocks spread over the workers)
    | RankBlock                      (the query tower embeds the block; exact
                                      top-k over the side input; seen-item
                                      exclusions of the block's users)
    | CombineGlobally(MergeRanks)    (block ranks -> event ranks, in order)

Every block is ranked by `metrics.rank_targets`, as in memory, so the ranks
(and so every metric and interval computed from them) are identical to
`evaluation.rank_events`. Memory per worker: the item embeddings, one block's
scores [query_batch_size, corpus_batch_size] and its top-k
[query_batch_size, depth]; nothing of size corpus x queries.
"""
import os
import tempfile
import uuid
from typing import (Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

import apache_beam as beam
import numpy as np

from components import tower_io
from components.retrieval_evaluator import evaluation
from components.retrieval_evaluator import metrics

Block = Tuple[int, Dict[str, np.ndarray], np.ndarray, List[str]]


class _RankBlock(beam.DoFn):
  """(block index, raw columns, targets, users) -> (block index, ranks)."""

  def __init__(self, query_model_dir: str, depth: int, exclude_seen: bool,
               corpus_batch_size: int):
    super().__init__()
    self._query_model_dir = query_model_dir
    self._depth = depth
    self._exclude_seen = exclude_seen
    self._corpus_batch_size = corpus_batch_size
    self._tower = None

  def setup(self):
    self._tower = tower_io.Tower(self._query_model_dir)  # once per worker

  def process(self, block: Block, item_embeddings: np.ndarray,
              seen_by_user: Dict[str, np.ndarray]
              ) -> Iterator[Tuple[int, np.ndarray]]:
    index, columns, targets, users = block
    queries = self._tower.query_vectors(columns)  # [block, d] or [block, K, d]
    exclusions = (metrics.Exclusions.from_seen(users, seen_by_user, targets)
                  if self._exclude_seen else None)
    batches = (item_embeddings[i:i + self._corpus_batch_size]
               for i in range(0, len(item_embeddings), self._corpus_batch_size))
    yield index, metrics.rank_targets(queries, batches, targets, self._depth,
                                      exclusions, query_block=len(targets))


class MergeRanks(beam.CombineFn):
  """Block ranks -> the ranks of every event, blocks in index order."""

  def create_accumulator(self) -> List[Tuple[int, np.ndarray]]:
    return []

  def add_input(self, accumulator, block_ranks):
    accumulator.append(block_ranks)
    return accumulator

  def merge_accumulators(self, accumulators):
    return [block for accumulator in accumulators for block in accumulator]

  def extract_output(self, accumulator) -> np.ndarray:
    blocks = sorted(accumulator, key=lambda b: b[0])
    if [b[0] for b in blocks] != list(range(len(blocks))):
      raise RuntimeError('the Beam ranking lost or repeated eval blocks')
    return (np.concatenate([b[1] for b in blocks]).astype(np.int64)
            if blocks else np.zeros([0], np.int64))


def _write_ranks(ranks: np.ndarray, path: str) -> None:
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  with fileio.open(path, 'wb') as f:
    np.save(f, ranks)


def _blocks(tower: tower_io.Tower, examples_uri: str,
            corpus: evaluation.Corpus, batch_size: int) -> Iterable[Block]:
  for i, (columns, targets, users) in enumerate(evaluation.eval_blocks(
      tower.columns, examples_uri, corpus, batch_size)):
    yield i, {name: columns[name] for name in tower.columns}, targets, users


def rank_events(query_model_dir: str, item_tower: tower_io.Tower,
                examples_uri: str, corpus: evaluation.Corpus,
                ks: Sequence[int], make_pipeline: Callable[[], beam.Pipeline],
                exclude_seen: bool = True, query_batch_size: int = 1024,
                corpus_batch_size: int = 4096,
                work_dir: Optional[str] = None) -> evaluation.Ranking:
  """`evaluation.rank_events`, with the ranking run by a Beam pipeline.

  Args:
    query_model_dir: the query tower's SavedModel folder (each worker loads it).
    item_tower: the item tower (the driver embeds the corpus once).
    examples_uri, corpus, ks, exclude_seen, query_batch_size,
      corpus_batch_size: as evaluation.rank_events.
    make_pipeline: creates the Beam pipeline (a Beam executor's
      `_make_beam_pipeline`, or `beam.Pipeline` with options).
    work_dir: where the merged ranks are written for the driver (a folder
      every worker can write, e.g. under the evaluation artifact on a remote
      runner); default a local temporary folder.
  """
  ks = metrics.check_ks(ks)
  query_tower = tower_io.Tower(query_model_dir)
  if query_tower.dim != item_tower.dim:
    raise ValueError(f'query tower ({query_model_dir}) embeds in '
                     f'{query_tower.dim} dims, item tower '
                     f'({item_tower.model_dir}) in {item_tower.dim}')
  item_embeddings = np.concatenate(list(evaluation.item_embeddings(
      item_tower, corpus, corpus_batch_size)))
  blocks = list(_blocks(query_tower, examples_uri, corpus, query_batch_size))
  if not blocks:
    raise ValueError(f'{examples_uri}: split {evaluation.EVAL_SPLIT!r} has no '
                     'events')
  depth = max(max(ks), metrics.DECILE_K)
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  if work_dir:
    fileio.makedirs(work_dir)
  with tempfile.TemporaryDirectory(prefix='sslrec-ranks-') as tmp:
    path = os.path.join(work_dir or tmp, f'.ranks-{uuid.uuid4().hex}.npy')
    with make_pipeline() as p:
      items = p | 'ItemEmbeddings' >> beam.Create([item_embeddings])
      seen = p | 'SeenItems' >> beam.Create([corpus.seen_by_user])
      _ = (p
           | 'EvalBlocks' >> beam.Create(blocks)
           | 'Spread' >> beam.Reshuffle()
           | 'RankBlock' >> beam.ParDo(
               _RankBlock(query_model_dir, depth, exclude_seen,
                          corpus_batch_size),
               item_embeddings=beam.pvalue.AsSingleton(items),
               seen_by_user=beam.pvalue.AsSingleton(seen))
           | 'MergeRanks' >> beam.CombineGlobally(MergeRanks())
           | 'WriteRanks' >> beam.Map(_write_ranks, path))
    with fileio.open(path, 'rb') as f:
      ranks = np.load(f)
    if work_dir:
      fileio.remove(path)
  targets = np.concatenate([b[2] for b in blocks])
  users = [u for b in blocks for u in b[3]]
  exclusions = (metrics.Exclusions.from_seen(users, corpus.seen_by_user,
                                             targets)
                if exclude_seen else None)
  return evaluation.Ranking(ranks, targets, users, exclusions)

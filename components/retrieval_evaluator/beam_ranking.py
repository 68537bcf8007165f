"""The evaluator as a Beam job: eval blocks ranked on the workers, metrics merged by a CombineFn.

`evaluation.rank_events` ranks every eval event in one process. Here the same
exact ranking runs as a Beam pipeline, so it scales out with the pipeline's
`--beam-args` (DirectRunner multi-processing, Dataflow, Flink, Spark) like
every other Beam component, and the driver receives per-user accumulators,
never ranks or top-k lists:

  driver: item embeddings of each model, computed once, item kinds (slice,
          decile), train counts, seen items, the corpus ids -> one corpus
          file, loaded once
          per worker (a side input file)
          eval events, in blocks of `query_batch_size`, spilled one file per
          block under `work_dir` (the driver holds one block at a time)
  block files
    | Reshuffle                         (blocks spread over the workers)
    | RankBlock                         (each model's query tower embeds the
                                         block; exact ranks over its item
                                         embeddings, the exclusion rule's
                                         items left out (exclusion.py)
                                         (count_ranks.py: the top-k's ranks,
                                         ~5x cheaper); the popularity
                                         baseline's ranks; each -> a rank
                                         histogram of the block)
    | CombineGlobally(MergeHistograms)  (exact merge, any order)
    | Map(totals)                       (per-user aggregates of every (metric,
                                         slice); user slices from the users'
                                         train counts, a side input)
  driver: reads the per-user aggregates [users, columns] of each model and
          computes metrics.json with the paired bootstrap (summary.py).

Every block is ranked with the same query blocks and corpus batches, and so
the same scores, as in memory; `count_ranks` gives exactly the ranks of
`metrics.rank_targets`; and histograms sum the metrics in one canonical order
(rank_histograms.py), so metrics.json is identical to
`evaluation.metrics_json`. Memory per worker: the item embeddings, one
block's scores [query_batch_size, corpus_batch_size], and the histograms
(about one entry per user); nothing of size corpus x queries or events x k.
"""
import dataclasses
import os
import pickle
import tempfile
import uuid
from typing import (Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

import apache_beam as beam
import numpy as np

from components import tower_io
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import count_ranks
from components.retrieval_evaluator import evaluation
from components.retrieval_evaluator import exclusion as exclusion_lib
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import rank_histograms
from components.retrieval_evaluator import summary

CANDIDATE, BASELINE = 'candidate', metrics.BASELINE_KEY
POPULARITY = summary.POPULARITY_KEY
# Block histograms an accumulator holds before it compacts them.
_COMPACT_EVERY = 64

Histograms = Dict[str, rank_histograms.Histogram]


@dataclasses.dataclass(frozen=True)
class Model:
  """A pair of towers to rank with: the query tower's SavedModel folder (each
  worker loads it) and the item tower (the driver embeds the corpus once)."""
  query_model_dir: str
  item_tower: tower_io.Tower


def _read_pickle(path: str):
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  with fileio.open(path, 'rb') as f:
    return pickle.load(f)


def _write_pickle(value, path: str) -> None:
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  # dumps, not dump: protocol 5 hands large arrays to write() as PickleBuffer
  # objects, which a GFile (remote filesystems) does not take.
  data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
  with fileio.open(path, 'wb') as f:
    f.write(data)


class _RankBlock(beam.DoFn):
  """A block file -> {model name: the block's rank histogram}.

  The corpus-sized inputs (each model's item embeddings, the item kinds and
  train counts, the users' seen items) are one file written by the driver and
  loaded once per worker in `setup`. As a Beam side input they were decoded
  again for every bundle by the local runner, one more copy of the
  embeddings per block (measured: the evaluator's RSS grew block by block)."""

  def __init__(self, query_model_dirs: Mapping[str, str], corpus_file: str,
               depth: int, exclusion: exclusion_lib.Exclusion,
               history_column: Optional[str], corpus_batch_size: int):
    super().__init__()
    self._dirs = dict(query_model_dirs)
    self._corpus_file = corpus_file
    self._depth = depth
    self._exclusion = exclusion_lib.Exclusion.parse(exclusion, 'exclusion')
    self._history_column = history_column
    self._corpus_batch_size = corpus_batch_size
    self._towers = None
    self._corpus = None

  def setup(self):
    self._towers = {name: tower_io.Tower(d)  # once per worker
                    for name, d in self._dirs.items()}
    self._corpus = _read_pickle(self._corpus_file)

  def process(self, path: str) -> Iterator[Histograms]:
    item_embeddings = self._corpus['item_embeddings']
    seen_by_user = self._corpus['seen_by_user']
    item_kinds = self._corpus['item_kinds']
    train_counts = self._corpus['train_counts']
    start, columns, targets, users = _read_pickle(path)
    positions = start + np.arange(len(targets))
    exclusions = exclusion_lib.event_exclusions(
        self._exclusion,
        columns[self._history_column] if self._history_column else None,
        users, targets, self._corpus['index_of'], seen_by_user)

    def histogram(ranks: np.ndarray) -> rank_histograms.Histogram:
      return rank_histograms.Histogram.of_events(
          users, positions, item_kinds[targets], ranks, self._depth)

    out = {POPULARITY: histogram(metrics.popularity_ranks(
        train_counts, targets, exclusions))}
    for name, tower in self._towers.items():
      out[name] = histogram(count_ranks.rank_targets(
          tower.query_vectors({c: columns[c] for c in tower.columns}),
          item_embeddings[name], targets, self._depth, exclusions,
          query_block=len(targets),
          corpus_batch_size=self._corpus_batch_size))
    yield out


class MergeHistograms(beam.CombineFn):
  """Block histograms -> each model's histogram of all eval events."""

  def create_accumulator(self) -> Dict[str, List[rank_histograms.Histogram]]:
    return {}

  def add_input(self, accumulator, block: Histograms):
    for name, hist in block.items():
      parts = accumulator.setdefault(name, [])
      parts.append(hist)
      if len(parts) >= _COMPACT_EVERY:
        parts[:] = [rank_histograms.Histogram.merge(parts)]
    return accumulator

  def merge_accumulators(self, accumulators):
    out: Dict[str, List[rank_histograms.Histogram]] = {}
    for accumulator in accumulators:
      for name, parts in accumulator.items():
        out.setdefault(name, []).extend(parts)
    return {name: [rank_histograms.Histogram.merge(parts)]
            for name, parts in out.items()}

  def compact(self, accumulator):
    return {name: [rank_histograms.Histogram.merge(parts)]
            for name, parts in accumulator.items()}

  def extract_output(self, accumulator) -> Histograms:
    return {name: rank_histograms.Histogram.merge(parts)
            for name, parts in accumulator.items()}


def _totals(histograms: Histograms, train_events_by_user: Mapping[str, int],
            ks: Sequence[int], num_events: int
            ) -> Dict[str, summary.UserTotals]:
  got = {name: h.num_events for name, h in histograms.items()}
  if set(got.values()) != {num_events}:
    raise RuntimeError(f'the Beam evaluation lost or repeated eval events: '
                       f'{num_events} expected, got {got}')
  return {name: rank_histograms.user_totals(h, train_events_by_user, ks)
          for name, h in histograms.items()}


def _spill_blocks(columns, examples_uri: str, corpus: evaluation.Corpus,
                  batch_size: int, folder: str) -> Tuple[List[str], int]:
  """Writes the eval blocks, one file each; returns (paths, events)."""
  paths, start = [], 0
  for i, (batch, targets, users) in enumerate(evaluation.eval_blocks(
      columns, examples_uri, corpus, batch_size)):
    path = os.path.join(folder, f'block-{i:06d}.pkl')
    _write_pickle((start, {c: batch[c] for c in columns}, targets, users),
                  path)
    paths.append(path)
    start += len(targets)
  if not paths:
    raise ValueError(f'{examples_uri}: split {evaluation.EVAL_SPLIT!r} has no '
                     'events')
  return paths, start


def evaluate(models: Mapping[str, Model], examples_uri: str,
             corpus: evaluation.Corpus, ks: Sequence[int],
             make_pipeline: Callable[[], beam.Pipeline],
             exclusion: exclusion_lib.Exclusion =
             exclusion_lib.Exclusion.SERVING,
             history_column: Optional[str] = exclusion_lib.HISTORY_COLUMN,
             query_batch_size: int = 1024, corpus_batch_size: int = 4096,
             work_dir: Optional[str] = None) -> Dict[str, summary.UserTotals]:
  """Each model's (and the popularity baseline's) per-user aggregates.

  Args:
    models: name -> towers; every model ranks the same eval events, in one
      Beam job.
    examples_uri, corpus, ks, exclusion, history_column, query_batch_size,
      corpus_batch_size: as evaluation.rank_events.
    make_pipeline: creates the Beam pipeline (a Beam executor's
      `_make_beam_pipeline`, or `beam.Pipeline` with options).
    work_dir: a folder every worker can read and write (e.g. the evaluation
      artifact on a remote runner) for the block files and the result; default
      a local temporary folder. What is written there is removed.

  Returns:
    {name: summary.UserTotals} for every model and POPULARITY, on the same
    users and events.
  """
  ks = metrics.check_ks(ks)
  if POPULARITY in models:
    raise ValueError(f'{POPULARITY!r} is the popularity baseline\'s name')
  columns = {}
  for name, model in models.items():
    query_tower = tower_io.Tower(model.query_model_dir)
    if query_tower.dim != model.item_tower.dim:
      raise ValueError(f'{name}: query tower ({model.query_model_dir}) embeds '
                       f'in {query_tower.dim} dims, item tower '
                       f'({model.item_tower.model_dir}) in '
                       f'{model.item_tower.dim}')
    columns.update(query_tower.columns)
  columns = evaluation.eval_columns(columns, history_column)
  item_embeddings = {name: np.concatenate(list(evaluation.item_embeddings(
      model.item_tower, corpus, corpus_batch_size)))
                     for name, model in models.items()}
  depth = rank_histograms.depth(ks)
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory(prefix='sslrec-eval-') as tmp:
    folder = os.path.join(work_dir or tmp, f'.beam-eval-{uuid.uuid4().hex}')
    fileio.makedirs(folder)
    try:
      paths, num_events = _spill_blocks(columns, examples_uri, corpus,
                                        query_batch_size, folder)
      result = os.path.join(folder, 'totals.pkl')
      corpus_file = os.path.join(folder, 'corpus.pkl')
      _write_pickle({'item_embeddings': item_embeddings,
                     'seen_by_user': corpus.seen_by_user,
                     'index_of': corpus.index_of,
                     'item_kinds': rank_histograms.item_kinds(
                         corpus.popularity),
                     'train_counts': corpus.train_counts}, corpus_file)
      del item_embeddings  # the workers read the file
      with make_pipeline() as p:
        train_events = beam.pvalue.AsSingleton(
            p | 'TrainEventsByUser' >> beam.Create(
                [corpus.train_events_by_user]))
        _ = (p
             | 'EvalBlocks' >> beam.Create(paths)
             | 'Spread' >> beam.Reshuffle()
             | 'RankBlock' >> beam.ParDo(_RankBlock(
                 {n: m.query_model_dir for n, m in models.items()},
                 corpus_file, depth, exclusion, history_column,
                 corpus_batch_size))
             | 'MergeHistograms' >> beam.CombineGlobally(MergeHistograms())
             | 'UserTotals' >> beam.Map(_totals, train_events, ks,
                                        num_events)
             | 'WriteTotals' >> beam.Map(_write_pickle, result))
      return _read_pickle(result)
    finally:
      fileio.rmtree(folder)


def metrics_json(candidate: Model, baseline: Optional[Model],
                 examples_uri: str, corpus: evaluation.Corpus,
                 ks: Sequence[int], settings: bootstrap.Settings,
                 make_pipeline: Callable[[], beam.Pipeline],
                 **kwargs) -> Dict[str, object]:
  """metrics.json of a candidate, its baseline (or None) and popularity.

  One Beam job ranks the eval events with both models (`evaluate`, kwargs);
  equal to `evaluation.metrics_json` on the in-memory rankings.
  """
  models = {CANDIDATE: candidate}
  if baseline is not None:
    models[BASELINE] = baseline
  totals = evaluate(models, examples_uri, corpus, ks, make_pipeline, **kwargs)
  return summary.metrics_json(totals[CANDIDATE], totals.get(BASELINE),
                              totals[POPULARITY], settings)

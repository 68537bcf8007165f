"""Pass 1 of the MI computation: value statistics per feature, then encoders.

Pure pyarrow/numpy, no TFX. `Stats` gathers (mergeably) the mass per value of
the vocabulary kinds and a quantile sketch of the numeric ones; `Encoder`
maps a feature's values to dense codes (top-k vocabulary + OOV + MISSING, or
quantile buckets + MISSING) for counting.py.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.mutual_information import fixed_point
from components.mutual_information.parsing import Column
from components.mutual_information.parsing import ParsedBatch
from components.mutual_information.parsing import value_mass
from components.mutual_information.schema_features import DataError
from components.mutual_information.schema_features import VOCAB_KINDS
from components.mutual_information.sketches import DEFAULT_MAX_DISTINCT
from components.mutual_information.sketches import DEFAULT_SKETCH_SIZE
from components.mutual_information.sketches import QuantileSketch
from components.mutual_information.sketches import ValueCounts
from models import features as features_lib

@dataclasses.dataclass
class FeatureStats:
  """Pass-1 statistics of one feature over all batches seen so far."""
  seen: bool = False
  counts: Optional[ValueCounts] = None
  sketch: Optional[QuantileSketch] = None


@dataclasses.dataclass
class Stats:
  """Pass-1 statistics of the corpus (mergeable, exact: see sketches.py)."""
  num_items: int = 0
  weight_ticks: int = 0  # total item weight in 2**-SCALAR_BITS (exact)
  features: Dict[str, FeatureStats] = dataclasses.field(default_factory=dict)

  @property
  def total_weight(self) -> float:
    return fixed_point.to_float(self.weight_ticks)


def new_stats(features: Sequence[Tuple[str, str]]) -> Stats:
  stats = Stats()
  for name, kind in features:
    stats.features[name] = FeatureStats(
        counts=ValueCounts() if kind in VOCAB_KINDS else None,
        sketch=QuantileSketch() if kind == features_lib.NUMERIC else None)
  return stats


def add_to_stats(stats: Stats, batch: ParsedBatch,
                 max_distinct: int = DEFAULT_MAX_DISTINCT,
                 sketch_size: int = DEFAULT_SKETCH_SIZE) -> Stats:
  """Adds one parsed batch's value masses to `stats` (in place).

  Raises DataError when a feature has more than `max_distinct` values.
  """
  stats.num_items += batch.num_rows
  stats.weight_ticks += (batch.num_rows << fixed_point.SCALAR_BITS
                         if batch.weights is None
                         else fixed_point.exact_sum(batch.weights))
  for name, column in batch.columns.items():
    fs = stats.features[name]
    fs.seen = True
    if column is None:
      continue
    mass = value_mass(column, batch.weights)
    if fs.counts is not None:
      fs.counts.add(column.values, mass)
      check_distinct(name, fs.counts, max_distinct)
    if fs.sketch is not None:
      fs.sketch.add(column.values, mass, sketch_size)
  return stats


def check_distinct(name: str, counts: ValueCounts,
                   max_distinct: int = DEFAULT_MAX_DISTINCT) -> None:
  """Raises DataError when `name` has more distinct values than counted."""
  if counts.num_distinct > max_distinct:
    raise DataError(
        f'feature {name!r} has more than {max_distinct} distinct values '
        f'({counts.num_distinct} counted so far): too many to count exactly; '
        'declare it text or multi_valued if it holds several values, or '
        'ignore it (an item-unique value tells nothing the item id does not)')


def compact_stats(stats: Stats,
                  max_distinct: int = DEFAULT_MAX_DISTINCT) -> Stats:
  """Folds every feature's pending values in (before Beam ships `stats`)."""
  for name, fs in stats.features.items():
    if fs.counts is not None:
      check_distinct(name, fs.counts.compact(), max_distinct)
  return stats


def merge_stats(stats: Sequence[Stats],
                max_distinct: int = DEFAULT_MAX_DISTINCT,
                sketch_size: int = DEFAULT_SKETCH_SIZE) -> Stats:
  first, rest = stats[0], stats[1:]
  for other in rest:
    first.num_items += other.num_items
    first.weight_ticks += other.weight_ticks
    for name, fs in other.features.items():
      mine = first.features[name]
      mine.seen = mine.seen or fs.seen
      if mine.counts is not None:
        mine.counts.merge(fs.counts)
        check_distinct(name, mine.counts, max_distinct)
      if mine.sketch is not None:
        mine.sketch.merge(fs.sketch, sketch_size)
  return first


@dataclasses.dataclass(frozen=True)
class Encoder:
  """Maps a feature's values to dense codes in [0, cardinality).

  Categorical kinds: codes 0..V-1 = the top-k values (vocab), V = OOV,
  V + 1 = MISSING. Numeric: codes 0..B-1 = buckets, B = MISSING.
  """
  name: str
  kind: str
  vocab: Optional[pa.Array] = None
  boundaries: Optional[np.ndarray] = None

  @property
  def missing(self) -> int:
    if self.vocab is not None:
      return len(self.vocab) + 1
    return len(self.boundaries) + 1

  @property
  def cardinality(self) -> int:
    return self.missing + 1

  def encode(self, column: Column) -> np.ndarray:
    """Codes of the present values, [num_values] int64."""
    if self.vocab is not None:
      values = column.values
      if not len(values):
        return np.zeros(0, np.int64)
      if values.type != self.vocab.type:
        raise DataError(f'feature {self.name!r}: values of type {values.type}'
                        f' after values of type {self.vocab.type}')
      codes = pc.index_in(values, value_set=self.vocab)
      return codes.fill_null(len(self.vocab)).to_numpy(
          zero_copy_only=False).astype(np.int64)
    return np.searchsorted(self.boundaries, column.values,
                           side='right').astype(np.int64)


def build_encoders(stats: Stats, features: Sequence[Tuple[str, str]],
                   top_k: int, num_buckets: int,
                   max_distinct: int = DEFAULT_MAX_DISTINCT) -> List[Encoder]:
  """Encoders of the counted features (not the id) from pass-1 statistics.

  A vocabulary is the top_k values by exact mass, ties by value (a total
  order), so it depends on the data alone. Raises DataError for an empty
  corpus, a feature absent from every record batch, a corpus whose weights
  are all 0, or a feature with more than `max_distinct` values.
  """
  if stats.num_items == 0:
    raise DataError('the item corpus is empty: no items to compute mutual '
                    'information on')
  missing = [name for name, _ in features if not stats.features[name].seen]
  if missing:
    raise DataError(f'declared item feature(s) {missing} missing from the '
                    'data: no such column in any item')
  compact_stats(stats, max_distinct)
  if stats.weight_ticks <= 0:
    raise DataError('all items have weight 0 (no interactions of any corpus '
                    'item): nothing to count')
  encoders = []
  for name, kind in features:
    fs = stats.features[name]
    if kind == features_lib.ID:
      continue
    if fs.sketch is not None:
      encoders.append(Encoder(name, kind,
                              boundaries=fs.sketch.boundaries(num_buckets)))
    else:
      vocab, ticks = fs.counts.top(top_k)
      encoders.append(Encoder(name, kind, vocab=vocab.filter(
          pa.array(ticks > 0))))
  return encoders

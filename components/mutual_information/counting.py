"""Joint value counts of item feature pairs and the mutual information math.

Pure numpy, no TFX. A batch of encoded features (dense codes per value, see
encoders.Encoder) is counted into one dense table per feature pair with
`np.bincount` over combined codes `code_i * cardinality_j + code_j`; tables of
different batches add up. MI and entropies come out of the summed tables.

Mass model (see parsing.py): an item of weight w with values A of feature i and
B of feature j adds w / (|A| |B|) to every pair (a, b) in A x B, so each item's
mass stays w whatever the number of values; the marginals of a pair table are
the features' own value distributions, which keeps 0 <= MI <= min(H_i, H_j).

Exactness: every mass is rounded to a multiple of 2**-mass_bits before it is
counted (fixed_point.py), so all sums are exact and the tables, hence the
matrix, do not depend on the batching or the merge order, to the last bit.
"""
import dataclasses
import itertools
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from components.mutual_information import encoders as encoders_lib
from components.mutual_information import fixed_point
from components.mutual_information import parsing
from components.mutual_information import sketches
from models import features as features_lib

# The file `result` is written to (the MutualInformation artifact's one file).
FILE_NAME = 'mutual_information.json'

# Pending pair codes counted at once (about 16 bytes each while waiting).
FLUSH_SIZE = 1 << 22
# A pair with at least this many codes per table cell is counted at once.
DIRECT_FACTOR = 2
# Cells of all pair tables together (8 bytes each): 2**27 is 1 GiB.
MAX_TABLE_CELLS = 1 << 27


@dataclasses.dataclass
class EncodedColumn:
  """Codes of one feature in one batch; every row has at least one value.

  codes: int64 [num_values] in [0, cardinality); an empty row has one MISSING.
  lengths: int64 [num_rows] values per row (>= 1), or None when every row has
    exactly one value (then codes[n] is row n's value).
  """
  codes: np.ndarray
  lengths: Optional[np.ndarray]
  cardinality: int


@dataclasses.dataclass
class EncodedBatch:
  num_rows: int
  columns: List[EncodedColumn]  # feature order
  weights: Optional[np.ndarray]  # float64 [num_rows], None = all 1
  mass_bits: int = fixed_point.MAX_TABLE_BITS  # masses count in 2**-bits


def encode_batch(batch: parsing.ParsedBatch,
                 encoders: Sequence[encoders_lib.Encoder],
                 mass_bits: int = fixed_point.MAX_TABLE_BITS) -> EncodedBatch:
  """Encodes every feature of a parsed batch (absent column = all missing).

  `mass_bits`: the tables' resolution, fixed_point.table_bits of the total
  weight (the same for every batch of a corpus).
  """
  columns = []
  n = batch.num_rows
  for encoder in encoders:
    column = batch.columns.get(encoder.name)
    if column is None:
      columns.append(EncodedColumn(np.full(n, encoder.missing, np.int64),
                                   None, encoder.cardinality))
      continue
    present = encoder.encode(column)
    lengths = column.lengths
    if len(present) == n and (n == 0 or lengths.min() == 1):
      columns.append(EncodedColumn(present, None, encoder.cardinality))
      continue
    filled = np.maximum(lengths, 1)
    codes = np.full(int(filled.sum()), encoder.missing, np.int64)
    # Position of each present value in the filled layout: its row's start
    # plus its rank within the row.
    rank = np.arange(len(present)) - np.repeat(np.cumsum(lengths) - lengths,
                                               lengths)
    codes[np.repeat(np.cumsum(filled) - filled, lengths) + rank] = present
    columns.append(EncodedColumn(
        codes, None if filled.max(initial=1) == 1 else filled,
        encoder.cardinality))
  return EncodedBatch(n, columns, batch.weights, mass_bits)


@dataclasses.dataclass
class Counts:
  """Summed tables over batches (mergeable by exact addition).

  joint: float64, the tables of all pairs (i < j, itertools.combinations
    order) flattened and concatenated; table (i, j) is [card_i, card_j].
  marginal: float64, each feature's value mass, concatenated.
  Both hold multiples of 2**-mass_bits below 2**52 of them: exact sums.
  cond_entropy_ticks: per feature, the sum over items of weight x entropy
    of the item's own values (H(feature | item) x total weight; 0 if
    single-valued), in 2**-mass_bits (Python ints, exact); so are
    weight_ticks (total weight) and w_log_w_ticks (sum of w log w).
  """
  cardinalities: Tuple[int, ...]
  joint: np.ndarray
  marginal: np.ndarray
  cond_entropy_ticks: List[int]
  mass_bits: int = fixed_point.MAX_TABLE_BITS
  num_items: int = 0
  weight_ticks: int = 0
  w_log_w_ticks: int = 0
  # Pair codes not yet counted: (table offset in `joint`, codes, mass or
  # None for 1 each, table size). Counting waits for FLUSH_SIZE codes, so the
  # cost of the dense tables does not depend on the record batch size.
  pending: List[Tuple[int, np.ndarray, Optional[np.ndarray], int]] = (
      dataclasses.field(default_factory=list))
  pending_size: int = 0

  @property
  def total_weight(self) -> float:
    return fixed_point.to_float(self.weight_ticks, self.mass_bits)

  @property
  def sum_w_log_w(self) -> float:
    return fixed_point.to_float(self.w_log_w_ticks, self.mass_bits)

  @property
  def cond_entropy(self) -> np.ndarray:
    return np.array([fixed_point.to_float(t, self.mass_bits)
                     for t in self.cond_entropy_ticks])

  @property
  def pairs(self) -> List[Tuple[int, int]]:
    return list(itertools.combinations(range(len(self.cardinalities)), 2))

  def pair_offsets(self) -> List[int]:
    sizes = [self.cardinalities[i] * self.cardinalities[j]
             for i, j in self.pairs]
    return list(np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]))

  def marginal_offsets(self) -> List[int]:
    return list(np.concatenate([[0], np.cumsum(self.cardinalities,
                                               dtype=np.int64)]))

  def flush(self) -> 'Counts':
    """Counts the pending codes into `joint` (one bincount per mass kind)."""
    if not self.pending:
      return self
    lo = min(offset for offset, _, _, _ in self.pending)
    hi = max(offset + size for offset, _, _, size in self.pending)
    for weighted in (False, True):
      part = [(offset, codes, mass) for offset, codes, mass, _ in self.pending
              if (mass is not None) == weighted]
      if not part:
        continue
      shifted = [c if o == lo else c + (o - lo) for o, c, _ in part]
      codes = shifted[0] if len(shifted) == 1 else np.concatenate(shifted)
      mass = None
      if weighted:
        mass = (part[0][2] if len(part) == 1 else
                np.concatenate([m for _, _, m in part]))
      self.joint[lo:hi] += np.bincount(codes, weights=mass,
                                       minlength=hi - lo)
    self.pending, self.pending_size = [], 0
    return self

  def add_pending(self, offset: int, codes: np.ndarray,
                  mass: Optional[np.ndarray], size: int) -> None:
    """Counts the codes of one pair table (at `offset`, `size` cells).

    Many codes for the table size: counted now; few: queued (see `pending`).
    """
    if len(codes) >= DIRECT_FACTOR * size:
      self.joint[offset:offset + size] += np.bincount(
          codes, weights=mass, minlength=size)
      return
    self.pending.append((int(offset), codes, mass, int(size)))
    self.pending_size += len(codes)
    if self.pending_size >= FLUSH_SIZE:
      self.flush()

  def pair_table(self, i: int, j: int) -> np.ndarray:
    self.flush()
    k = self.pairs.index((i, j))
    offsets = self.pair_offsets()
    return self.joint[offsets[k]:offsets[k + 1]].reshape(
        self.cardinalities[i], self.cardinalities[j])

  def marginal_table(self, i: int) -> np.ndarray:
    offsets = self.marginal_offsets()
    return self.marginal[offsets[i]:offsets[i + 1]]


def table_cells(cardinalities: Sequence[int]) -> int:
  return sum(a * b for a, b in itertools.combinations(cardinalities, 2))


def check_table_size(encoders: Sequence[encoders_lib.Encoder],
                     max_cells: int = MAX_TABLE_CELLS) -> None:
  """Raises ValueError when the dense pair tables would not fit."""
  cells = table_cells([e.cardinality for e in encoders])
  if cells > max_cells:
    largest = sorted(encoders, key=lambda e: -e.cardinality)[:3]
    names = ', '.join(f'{e.name} {e.cardinality} values' for e in largest)
    gib, limit = cells * 8 / 2**30, max_cells * 8 / 2**30
    raise ValueError(
        f'the pair count tables would hold {cells} cells ({gib:.1f} GiB, limit '
        f'{limit:.1f} GiB); lower top_k or num_buckets, or count fewer '
        f'features (largest: {names})')


def new_counts(cardinalities: Sequence[int],
               mass_bits: int = fixed_point.MAX_TABLE_BITS) -> Counts:
  cards = tuple(int(c) for c in cardinalities)
  size = table_cells(cards)
  return Counts(cards, np.zeros(size), np.zeros(sum(cards)),
                [0] * len(cards), mass_bits)


class _Expanded:
  """Per-value row index and mass of one column (computed once per batch).

  `mass`: w / (values in the row) per value, rounded to 2**-bits (None = 1
  each); rounded per row, before repeating.
  """

  def __init__(self, column: EncodedColumn, weights: Optional[np.ndarray],
               num_rows: int, bits: int):
    self.codes = column.codes
    self.lengths = column.lengths
    self.single = column.lengths is None
    self.weights, self.bits = weights, bits
    if self.single:
      self.mass = None if weights is None else fixed_point.rounded(weights,
                                                                   bits)
      return
    self.starts = np.cumsum(self.lengths) - self.lengths
    self.parent = np.repeat(np.arange(num_rows), self.lengths)
    w = 1.0 if weights is None else weights
    self.mass = np.repeat(fixed_point.rounded(w / self.lengths, bits),
                          self.lengths)


def _pair_codes(a: _Expanded, b: _Expanded, card_b: int):
  """Combined codes a * card_b + b of every value pair, and their mass.

  [num_pairs] int64 codes and float64 mass (None = 1 each), rounded to
  2**-bits. Rows repeat to line up with the other side's values (np.repeat,
  no per-row loop).
  """
  if a.single and b.single:
    return a.codes * card_b + b.codes, a.mass
  if a.single:
    return np.repeat(a.codes * card_b, b.lengths) + b.codes, b.mass
  if b.single:
    return a.codes * card_b + np.repeat(b.codes, a.lengths), a.mass
  # Both multi-valued: each a-value of row n repeats len_b[n] times and meets
  # the row's b-values in order; each pair weighs w / (len_a len_b).
  times = b.lengths[a.parent]  # [num a-values]
  block_starts = np.cumsum(times) - times
  codes = np.repeat(a.codes * card_b, times)
  b_index = np.repeat(b.starts[a.parent] - block_starts, times)
  b_index += np.arange(len(b_index))
  codes += b.codes[b_index]
  # Row n's |A| |B| pairs are contiguous and weigh w / (|A| |B|) each.
  pairs = a.lengths * b.lengths
  w = 1.0 if a.weights is None else a.weights
  return codes, np.repeat(fixed_point.rounded(w / pairs, a.bits), pairs)


def _bincount(codes: np.ndarray, mass: Optional[np.ndarray],
              size: int) -> np.ndarray:
  return np.bincount(codes, weights=mass, minlength=size)


def _row_entropy_ticks(col: _Expanded, cardinality: int,
                       weights: Optional[np.ndarray], num_rows: int) -> int:
  """Sum over rows of weight x entropy of the row's values, in ticks.

  Each row's term depends on the row alone, and the terms are rounded to
  2**-col.bits before they are added (fixed_point.exact_sum): the same sum
  for any batching.
  """
  if col.single:
    return 0
  keys, repeats = np.unique(col.parent * cardinality + col.codes,
                            return_counts=True)
  row = keys // cardinality
  p = repeats / col.lengths[row]
  per_row = np.bincount(row, weights=-p * np.log(p), minlength=num_rows)
  return fixed_point.exact_sum(per_row if weights is None
                               else weights * per_row, col.bits)


def add_batch(counts: Optional[Counts], batch: EncodedBatch) -> Counts:
  """Adds one encoded batch to `counts` (in place; allocates when None)."""
  cards = [c.cardinality for c in batch.columns]
  bits = batch.mass_bits
  if counts is None:
    counts = new_counts(cards, bits)
  elif tuple(cards) != counts.cardinalities:
    raise ValueError(f'batch cardinalities {cards} differ from the table '
                     f'{counts.cardinalities}')
  elif bits != counts.mass_bits:
    raise ValueError(f'batch mass resolution 2**-{bits} differs from the '
                     f'table 2**-{counts.mass_bits}')
  n, weights = batch.num_rows, batch.weights
  counts.num_items += n
  if weights is None:
    counts.weight_ticks += n << bits
  else:
    counts.weight_ticks += fixed_point.exact_sum(weights, bits)
    positive = weights[weights > 0]
    counts.w_log_w_ticks += fixed_point.exact_sum(
        positive * np.log(positive), bits)
  cols = [_Expanded(c, weights, n, bits) for c in batch.columns]
  m_off = counts.marginal_offsets()
  for i, col in enumerate(cols):
    counts.marginal[m_off[i]:m_off[i + 1]] += _bincount(col.codes, col.mass,
                                                        cards[i])
    counts.cond_entropy_ticks[i] += _row_entropy_ticks(col, cards[i],
                                                       weights, n)
  p_off = counts.pair_offsets()
  for k, (i, j) in enumerate(counts.pairs):
    codes, mass = _pair_codes(cols[i], cols[j], cards[j])
    counts.add_pending(p_off[k], codes, mass, cards[i] * cards[j])
  return counts


def merge_counts(accumulators: Sequence[Optional[Counts]]) -> Optional[Counts]:
  """Sums tables into the first non-empty accumulator."""
  present = [a for a in accumulators if a is not None]
  if not present:
    return None
  first = present[0].flush()
  for other in present[1:]:
    other.flush()
    if (other.cardinalities != first.cardinalities or
        other.mass_bits != first.mass_bits):
      raise ValueError('cannot merge tables of different cardinalities or '
                       'mass resolutions')
    first.joint += other.joint
    first.marginal += other.marginal
    first.cond_entropy_ticks = [a + b for a, b in zip(
        first.cond_entropy_ticks, other.cond_entropy_ticks)]
    first.num_items += other.num_items
    first.weight_ticks += other.weight_ticks
    first.w_log_w_ticks += other.w_log_w_ticks
  return first


# ---------------------------------------------------------------------------
# Information theory on the summed tables (natural log, nats).


def entropy(mass: np.ndarray) -> float:
  """H of the distribution proportional to `mass` (any shape)."""
  total = mass.sum()
  if total <= 0:
    return 0.0
  p = mass[mass > 0] / total
  return float(max(-np.dot(p, np.log(p)), 0.0))


def mutual_information(table: np.ndarray) -> float:
  """MI of the joint distribution proportional to a [a, b] mass table."""
  total = table.sum()
  if total <= 0:
    return 0.0
  rows = table.sum(axis=1)
  cols = table.sum(axis=0)
  i, j = np.nonzero(table)
  p = table[i, j]
  mi = np.dot(p, np.log(p) - np.log(rows[i]) - np.log(cols[j])) / total
  mi += math.log(total)
  return float(min(max(mi, 0.0), entropy(rows), entropy(cols)))


def normalize(mi: np.ndarray, entropies: np.ndarray) -> np.ndarray:
  """MI / sqrt(H_i H_j); 0 where an entropy is 0 (diagonal 1 if H > 0)."""
  denom = np.sqrt(np.outer(entropies, entropies))
  with np.errstate(divide='ignore', invalid='ignore'):
    out = np.where(denom > 0, mi / np.where(denom > 0, denom, 1.0), 0.0)
  return np.clip(out, 0.0, 1.0)


def result(counts: Counts, names: Sequence[str], id_name: Optional[str] = None,
           params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """The mutual_information.json content.

  `names` label the counted features (table order). With `id_name`, the item
  id comes first: it identifies the item, so MI(id, f) = H(f) - H(f | item)
  (= H(f) for single-valued f) and H(id) is the entropy of the item weights
  (log N under corpus weighting); no table is counted for it.
  """
  counts.flush()
  k = len(names)
  h = np.array([entropy(counts.marginal_table(i)) for i in range(k)])
  mi = np.diag(h)
  for i, j in counts.pairs:
    mi[i, j] = mi[j, i] = min(mutual_information(counts.pair_table(i, j)),
                              h[i], h[j])
  out_names = list(names)
  if id_name is not None:
    w = counts.total_weight
    h_id = max(math.log(w) - counts.sum_w_log_w / w, 0.0) if w > 0 else 0.0
    with_id = np.zeros((k + 1, k + 1))
    with_id[1:, 1:] = mi
    with_id[0, 0] = h_id
    given_item = counts.cond_entropy / w if w > 0 else np.zeros(k)
    with_id[0, 1:] = with_id[1:, 0] = np.clip(h - given_item, 0.0, h)
    mi, h = with_id, np.concatenate([[h_id], h])
    out_names = [id_name] + out_names
  return {
      'features': out_names,
      'mi': mi.tolist(),
      'normalized_mi': normalize(mi, h).tolist(),
      'entropy': h.tolist(),
      'num_items': int(counts.num_items),
      'params': dict(params or {}),
  }


def compute_local(record_batches, features: Sequence[Tuple[str, str]],
                  top_k: int = 100, num_buckets: int = 10,
                  weights: Optional[Sequence[np.ndarray]] = None,
                  params: Optional[Dict[str, Any]] = None,
                  max_distinct: int = sketches.DEFAULT_MAX_DISTINCT,
                  sketch_size: int = sketches.DEFAULT_SKETCH_SIZE
                  ) -> Dict[str, Any]:
  """In one process, what beam_transforms.ComputeMutualInformation computes.

  The same tables to the last bit (exact sums), so the same matrix.

  Args:
    record_batches: list of pa.RecordBatch of items.
    features: (name, kind), output order; an 'id' kind is the item id.
    top_k, num_buckets, max_distinct, sketch_size: as in the Beam transform.
    weights: one float64 [rows] array per record batch, or None (corpus).
    params: the output's "params".
  """
  parsed = [parsing.parse_batch(rb, features,
                                   None if weights is None else weights[i])
            for i, rb in enumerate(record_batches)]
  stats = encoders_lib.new_stats(features)
  for batch in parsed:
    encoders_lib.add_to_stats(stats, batch, max_distinct, sketch_size)
  encoders = encoders_lib.build_encoders(stats, features, top_k, num_buckets,
                                         max_distinct)
  check_table_size(encoders)
  bits = fixed_point.table_bits(stats.total_weight)
  counts = None
  for batch in parsed:
    counts = add_batch(counts, encode_batch(batch, encoders, bits))
  ids = [n for n, k in features if k == features_lib.ID]
  return result(counts, [e.name for e in encoders], ids[0] if ids else None,
                params)

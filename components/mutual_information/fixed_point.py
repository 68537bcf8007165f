"""Order-free sums of masses: fixed-point rounding before adding (pure numpy).

Float addition is not associative: the same masses summed in another order
(another batching of the data, another merge order of Beam accumulators) can
differ in the last bits, and so can the artifact. Every mass is therefore
rounded to a multiple of 2**-bits ("ticks") *before* it is added. Sums of
ticks are exact: in int64 or Python ints always, in float64 while they stay
below 2**53 ticks. Exact sums do not depend on the order of the terms, so the
counts, and the matrix computed from them, are a function of the data alone.

The rounding is the only approximation: at most half a tick per term, e.g.
2**-33 (1.2e-10) of one item's mass per term at 1M items (table_bits).
"""
import math

import numpy as np

# Resolution of the total item weight of pass 1 (Python int): 2**-32.
SCALAR_BITS = 32
# Resolution of the mass per distinct value (int64 ticks): 2**-24; exact
# while a feature's total mass stays below 2**39 (5.5e11 items or
# interactions).
VALUE_BITS = 24
# Finest resolution of the pair tables: 2**-48.
MAX_TABLE_BITS = 48
# float64 holds every integer up to 2**53; tables stay below 2**52 ticks.
_TABLE_RANGE_BITS = 52


def rounded(x: np.ndarray, bits: int) -> np.ndarray:
  """x rounded to the nearest multiple of 2**-bits (ties to even), float64."""
  return np.ldexp(np.rint(np.ldexp(np.asarray(x, np.float64), bits)), -bits)


def ticks(x: np.ndarray, bits: int) -> np.ndarray:
  """x in units of 2**-bits, rounded to the nearest integer, int64."""
  return np.rint(np.ldexp(np.asarray(x, np.float64), bits)).astype(np.int64)


def exact_sum(x: np.ndarray, bits: int = SCALAR_BITS) -> int:
  """The sum of x rounded to 2**-bits, in ticks (a Python int, no overflow).

  Each term must stay below 2**63 ticks (int64); the sum has no bound.
  """
  t = ticks(x, bits)
  # Two 32-bit halves, each summed without int64 overflow.
  high, low = t >> 32, t & 0xFFFFFFFF
  return (int(high.sum()) << 32) + int(low.sum())


def to_float(total_ticks: int, bits: int = SCALAR_BITS) -> float:
  return math.ldexp(total_ticks, -bits) if total_ticks else 0.0


def table_bits(total_weight: float) -> int:
  """The resolution of the pair tables for a corpus of this total weight.

  Every cell and every partial sum of a table is at most the total weight
  (plus the rounding), so with `total_weight * 2**bits <= 2**52` float64
  sums of ticks are exact: 2**-32 at 1M items, 2**-22 at 1G interactions.
  The per-item sums of pass 2 (w H(values of the item), w log w) use the
  same resolution: each term stays below 2**58 ticks, safe in int64.
  Raises ValueError beyond 2**51 (no exact resolution left).
  """
  exponent = math.frexp(max(float(total_weight), 1.0))[1]  # weight < 2**e
  bits = min(MAX_TABLE_BITS, _TABLE_RANGE_BITS - exponent)
  if bits < 1:
    raise ValueError(f'total item weight {total_weight:g} is too large to '
                     'count exactly in float64 tables (limit 2**51)')
  return bits

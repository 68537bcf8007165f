"""Tests of fixed_point.py: rounded masses add up the same in any order."""
import math

import numpy as np
import pytest

from components.mutual_information import fixed_point


def test_rounded_masses_sum_exactly_in_any_order():
  rng = np.random.default_rng(0)
  mass = 1.0 / rng.choice([1, 3, 5, 6, 7, 12], 100_000)
  shuffled = rng.permutation(mass)
  # Plain float sums of these masses depend on the order ...
  assert float(np.cumsum(mass)[-1]) != float(np.cumsum(shuffled)[-1])
  # ... sums of the rounded masses do not, in float64 or in ticks.
  bits = fixed_point.table_bits(len(mass))
  a, b = fixed_point.rounded(mass, bits), fixed_point.rounded(shuffled, bits)
  assert float(np.cumsum(a)[-1]) == float(np.cumsum(b)[-1])
  assert fixed_point.exact_sum(mass, bits) == fixed_point.exact_sum(
      shuffled, bits)
  # The rounding is at most half a tick per term.
  assert np.abs(a - mass).max() <= 2.0**-(bits + 1)
  assert fixed_point.to_float(fixed_point.exact_sum(mass, bits), bits) == (
      pytest.approx(math.fsum(mass), abs=len(mass) * 2.0**-(bits + 1)))


def test_exact_sum_beyond_int64_and_float64_precision():
  big = np.full(4096, 2.0**40 + 0.25)  # ticks 2**61 + 2**19 each
  assert fixed_point.exact_sum(big, 21) == 4096 * (2**61 + 2**19)
  assert fixed_point.ticks(np.array([0.5, 1.5, 2**-33]), 32).tolist() == [
      2**31, 3 * 2**31, 0]


def test_table_bits_keep_the_tables_below_2_to_52_ticks():
  assert fixed_point.table_bits(0) == fixed_point.MAX_TABLE_BITS
  assert fixed_point.table_bits(1_000_000) == 32  # 1M < 2**20
  assert fixed_point.table_bits(2**20) == 31
  assert fixed_point.table_bits(1e9) == 22
  for weight in (3.0, 1e6, 7.5e8, 2.0**40):
    assert weight * 2.0**fixed_point.table_bits(weight) <= 2.0**52
  with pytest.raises(ValueError, match='too large'):
    fixed_point.table_bits(2.0**52)

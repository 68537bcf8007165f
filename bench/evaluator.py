"""The evaluator's ranking against its floor: time, FLOPs and this machine's matmul rate.

Usage: python bench/evaluator.py [--items 1000000] [--events 10000]
                                 [--intentions 4 1] [--dim 64]

Ranks `--events` eval events over `--items` corpus items with the evaluator's
ranker (count_ranks.rank_targets, what the in-memory and the Beam evaluator
both call, at their default query block 1024 and corpus batch 4096), on
seeded random unit embeddings with 30 excluded items per event, and prints
per number of intentions K: wall and CPU seconds, the FLOP count
2 x events x K x items x d, the matmul rate measured on the same machine in
the same run (float32 BLAS, the ranker's own block shapes), the floor
(FLOPs / rate) and wall / floor.
"""
import argparse
import os
import resource
import time

import numpy as np

from components.retrieval_evaluator import count_ranks
from components.retrieval_evaluator import metrics

QUERY_BLOCK, CORPUS_BATCH = 1024, 4096
EXCLUDED_PER_EVENT = 30


def _unit(rng: np.random.Generator, shape) -> np.ndarray:
  x = rng.standard_normal(shape, dtype=np.float32)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def matmul_rate(dim: int, seconds: float = 5.0) -> float:
  """float32 FLOP/s of [QUERY_BLOCK, d] x [d, CORPUS_BATCH] products."""
  rng = np.random.default_rng(1)
  queries = _unit(rng, [QUERY_BLOCK, dim])
  items = _unit(rng, [CORPUS_BATCH, dim])
  out = np.empty([QUERY_BLOCK, CORPUS_BATCH], np.float32)
  np.matmul(queries, items.T, out=out)
  count, start = 0, time.perf_counter()
  while time.perf_counter() - start < seconds:
    np.matmul(queries, items.T, out=out)
    count += 1
  return count * 2 * QUERY_BLOCK * CORPUS_BATCH * dim / (
      time.perf_counter() - start)


def _cpu_seconds() -> float:
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--items', type=int, default=1_000_000)
  parser.add_argument('--events', type=int, default=10_000)
  parser.add_argument('--intentions', type=int, nargs='+', default=[4, 1])
  parser.add_argument('--dim', type=int, default=64)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  items = _unit(rng, [args.items, args.dim])
  targets = rng.integers(0, args.items, args.events)
  rows = np.repeat(np.arange(args.events), EXCLUDED_PER_EVENT)
  excluded = rng.integers(0, args.items, len(rows))
  keep = excluded != targets[rows]
  exclusions = metrics.Exclusions(rows[keep], excluded[keep])
  rate = matmul_rate(args.dim)
  print(f'{args.events} events x {args.items} items, d={args.dim}, '
        f'{os.cpu_count()} cores; matmul {rate / 1e9:.1f} GFLOP/s', flush=True)
  print('K  wall_s  cpu_s  TFLOP  floor_s  wall/floor  ranked', flush=True)
  for k in args.intentions:
    queries = _unit(rng, [args.events, k, args.dim] if k > 1
                    else [args.events, args.dim])
    cpu, start = _cpu_seconds(), time.perf_counter()
    ranks = count_ranks.rank_targets(queries, items, targets, 100,
                                     exclusions, QUERY_BLOCK, CORPUS_BATCH)
    wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    flops = 2.0 * args.events * k * args.items * args.dim
    floor = flops / rate
    print(f'{k}  {wall:6.1f}  {cpu:5.1f}  {flops / 1e12:5.2f}  {floor:7.1f}  '
          f'{wall / floor:10.2f}  {int((ranks > 0).sum())}', flush=True)


if __name__ == '__main__':
  main()

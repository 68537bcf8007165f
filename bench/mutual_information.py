"""Throughput of the mutual information computation: Beam vs plain numpy.

For each corpus size and feature count, synthetic items (correlated pairs,
Zipf-distributed categorical values beyond top-k, numeric with missing
values, `|`-joined multi-valued and free-text columns) are written once as
Arrow IPC shards of record batches shaped like TFXIO's BeamSource output, then
the same mutual information matrix is computed by:

  numpy           counting.compute_local on the whole table in one process
                  (vectorized numpy/pyarrow, one batch): the reference.
  beam_in_memory  the component's Beam transform (ComputeMutualInformation),
                  DirectRunner, direct_running_mode=in_memory.
  beam_mp2        the same, direct_running_mode=multi_processing, 2 workers.

Times include reading the shards and writing mutual_information.json. The
outputs of all modes must be identical (the artifact is a deterministic
function of the data: exact sums, see components/mutual_information/
fixed_point.py): each run prints `check=identical` or `check=DIFFERENT` with
the largest difference, and the script exits 1 if any run differs. Prints one
line per run, the scaling of time with items, and last
`mi_beam_vs_numpy_ratio=<float>`: items/s of beam_in_memory over numpy for the
largest case run (1M items x 20 features with the default arguments).

  .venv/bin/python bench/mutual_information.py                 # full run
  .venv/bin/python bench/mutual_information.py --items 20000 --features 10
"""
import argparse
import json
import os
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.mutual_information import beam_transforms
from components.mutual_information import counting
from components.mutual_information import fixed_point

BATCH_ROWS = 16384  # rows per record batch (the executor's TFXIO batch size)
SHARD_BATCHES = 2  # record batches per IPC file (the unit of parallelism)
MODES = ('numpy', 'beam_in_memory', 'beam_mp2')
# Output entries that must be identical across modes.
_COMPARED = ('features', 'mi', 'normalized_mi', 'entropy', 'num_items')


def _strings(prefix: str, codes: np.ndarray, cardinality: int) -> pa.Array:
  vocab = pa.array([f'{prefix}{i}' for i in range(cardinality)], pa.string())
  return vocab.take(pa.array(codes))


def _single(values: pa.Array, present: np.ndarray = None) -> pa.Array:
  """One value per row (none where not `present`), as a large_list column."""
  if present is None:
    offsets = np.arange(len(values) + 1, dtype=np.int64)
  else:
    offsets = np.concatenate([[0], np.cumsum(present)]).astype(np.int64)
    values = values.filter(pa.array(present))
  if pa.types.is_string(values.type):
    values = values.cast(pa.large_binary())
  return pa.LargeListArray.from_arrays(pa.array(offsets), values)


def _joined(rng, n, cardinality, low, high, zipf, prefix, sep) -> pa.Array:
  """Rows of low..high values from a Zipf vocabulary joined by `sep`."""
  lengths = rng.integers(low, high + 1, n)
  codes = (rng.zipf(zipf, int(lengths.sum())) - 1) % cardinality
  lists = pa.ListArray.from_arrays(
      pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)),
      _strings(prefix, codes, cardinality))
  return pc.binary_join(lists, sep)


def _zipf(rng, n, cardinality, a=1.3):
  return (rng.zipf(a, n) - 1) % cardinality


def _block(rng, n: int, b: int) -> Dict[str, Tuple[str, pa.Array]]:
  """Ten features: name -> (kind, column)."""
  c0 = _zipf(rng, n, 50, 1.2)
  c1 = np.where(rng.random(n) < 0.9, c0 % 12, rng.integers(0, 12, n))
  c2 = _zipf(rng, n, 5000, 1.1)
  c3 = np.where(rng.random(n) < 0.8, c2 // 50, rng.integers(0, 100, n))
  price = rng.lognormal(3.0, 1.0, n) * (1 + c0 % 3)
  cols = {
      f'country_{b}': ('categorical', _strings('c', c0, 50)),
      f'language_{b}': ('categorical', _strings('l', c1, 12)),
      f'brand_{b}': ('categorical', _strings('b', c2, 5000)),
      f'maker_{b}': ('categorical', _strings('m', c3, 100)),
      f'color_{b}': ('categorical', _strings('k', rng.integers(0, 8, n), 8)),
      f'shop_{b}': ('categorical', _strings('s', _zipf(rng, n, 300), 300)),
      f'price_{b}': ('numeric', pa.array(price.astype(np.float32))),
      f'weight_{b}': ('numeric', pa.array(
          rng.normal(size=n).astype(np.float32))),
      f'tags_{b}': ('multi_valued', _joined(rng, n, 30, 1, 4, 1.5, 't', '|')),
      f'title_{b}': ('text', _joined(rng, n, 2000, 2, 8, 1.3, 'w', ' ')),
  }
  out = {}
  for name, (kind, values) in cols.items():
    present = None
    if kind == 'numeric':
      present = rng.random(n) >= 0.03  # 3% missing
    out[name] = (kind, _single(values, present))
  return out


def make_items(n: int, num_features: int, seed: int = 0):
  """(features [(name, kind)], pa.Table) with item_id first."""
  rng = np.random.default_rng(seed)
  ids = pc.binary_join_element_wise(
      'i', pa.array(np.arange(n)).cast(pa.string()), '')
  columns = {'item_id': ('id', _single(ids))}
  for b in range(num_features // 10):
    columns.update(_block(rng, n, b))
  features = [(name, kind) for name, (kind, _) in columns.items()]
  table = pa.table({name: col for name, (_, col) in columns.items()})
  return features, table


def write_shards(table: pa.Table, folder: str) -> List[str]:
  os.makedirs(folder, exist_ok=True)
  paths, rows = [], BATCH_ROWS * SHARD_BATCHES
  for s, start in enumerate(range(0, table.num_rows, rows)):
    path = os.path.join(folder, f'items-{s:05d}.arrow')
    part = table.slice(start, rows).combine_chunks()
    with pa.OSFile(path, 'wb') as sink, pa.ipc.new_file(
        sink, part.schema) as writer:
      for batch in part.to_batches(max_chunksize=BATCH_ROWS):
        writer.write_batch(batch)
    paths.append(path)
  return paths


def read_shard(path: str):
  with pa.memory_map(path) as source:
    reader = pa.ipc.open_file(source)
    for i in range(reader.num_record_batches):
      yield reader.get_batch(i)


def run_numpy(paths, features, out):
  batches = [b for p in paths for b in read_shard(p)]
  whole = pa.Table.from_batches(batches).combine_chunks().to_batches()
  result = counting.compute_local(whole, features)
  with open(out, 'w') as f:
    json.dump(result, f)
  return result


def run_beam(paths, features, out, mode: str):
  args = ['--direct_running_mode=in_memory', '--direct_num_workers=1']
  if mode == 'beam_mp2':
    args = ['--direct_running_mode=multi_processing',
            '--direct_num_workers=2']
  with beam.Pipeline(options=PipelineOptions(args)) as p:
    _ = (p | 'Shards' >> beam.Create(paths)
         | 'Read' >> beam.FlatMap(read_shard)
         | 'MI' >> beam_transforms.ComputeMutualInformation(features)
         | 'Write' >> beam.Map(beam_transforms.write_json, out))
  with open(out) as f:
    return json.load(f)


def main(argv: Sequence[str] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--items', type=int, nargs='+',
                      default=[100_000, 1_000_000])
  parser.add_argument('--features', type=int, nargs='+', default=[10, 20],
                      choices=[10, 20, 30, 40])
  parser.add_argument('--modes', nargs='+', default=list(MODES),
                      choices=MODES)
  parser.add_argument('--workdir', help='where shards go (default: a '
                      'temporary folder, removed)')
  args = parser.parse_args(argv)
  if 'numpy' not in args.modes:
    parser.error('--modes must include numpy (the reference)')
  speed, different = {}, 0
  with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
    for num_features in args.features:
      for n in sorted(args.items):
        features, table = make_items(n, num_features)
        bits = fixed_point.table_bits(n)  # corpus weighting: weight n
        print(f'mi items={n} features={num_features}+id: approximate by '
              f'design only in rounding each mass to 2**-{bits} before the '
              f'exact sums (at most {2.0**-(bits + 1):.2g} of an item per '
              'term; numeric features beyond 4096 values in 0.1% bins)',
              flush=True)
        paths = write_shards(table, os.path.join(tmp, f'{n}x{num_features}'))
        del table
        reference = None
        for mode in args.modes:
          out = os.path.join(tmp, f'{mode}-{n}x{num_features}.json')
          start = time.perf_counter()
          result = (run_numpy(paths, features, out) if mode == 'numpy'
                    else run_beam(paths, features, out, mode))
          seconds = time.perf_counter() - start
          check = ''
          if reference is None:
            reference = result
          else:
            same = all(result[k] == reference[k] for k in _COMPARED)
            diff = float(np.abs(np.subtract(result['mi'],
                                            reference['mi'])).max())
            check = (' check=identical' if same else
                     f' check=DIFFERENT max_abs_diff_nats={diff:.3g} '
                     f'num_items={result["num_items"]}')
            different += not same
          speed[(mode, n, num_features)] = n / seconds
          print(f'mi items={n} features={num_features}+id mode={mode} '
                f'seconds={seconds:.2f} items_per_s={n / seconds:.0f}{check}',
                flush=True)
  small, large = min(args.items), max(args.items)
  for num_features in args.features:
    for mode in args.modes:
      if small != large:
        growth = speed[(mode, small, num_features)] / speed[
            (mode, large, num_features)] * large / small
        print(f'scaling mode={mode} features={num_features}+id '
              f'time({large})/time({small})={growth:.2f} (linear: '
              f'{large / small:.2f})')
  nf = max(args.features)
  for mode in args.modes[1:]:
    ratio = speed[(mode, large, nf)] / speed[('numpy', large, nf)]
    print(f'# {mode} vs numpy at {large} items x {nf} features (+ item_id)')
    print(f'mi_{mode}_vs_numpy_ratio={ratio:.3f}')
  if 'beam_in_memory' in args.modes:
    ratio = (speed[('beam_in_memory', large, nf)] /
             speed[('numpy', large, nf)])
    print(f'mi_beam_vs_numpy_ratio={ratio:.3f}')
  if different:
    print(f'{different} run(s) differ from the numpy reference', flush=True)
  return 1 if different else 0


if __name__ == '__main__':
  sys.exit(main())

"""Beam DirectRunner modes on the real pipeline: wall time per component.

Runs the whole pipeline (runner.run, fresh output folder, no cache) on one
synthetic dataset once per mode and repeat, alternating modes, and prints each
component's execution time as recorded in ML Metadata, the sum over the
Beam-powered components (ExampleGen, StatisticsGen, Transform,
MutualInformationGen) and the run's wall time. The machine's load average is
printed beside each run: on a shared machine, compare runs of similar load.

  .venv/bin/python bench/beam_modes.py                      # tiny data, 1 repeat
  .venv/bin/python bench/beam_modes.py --items 5000 --users 2000 \\
      --events 300000 --modes in_memory mp2 mp0 --repeats 2
"""
import argparse
import os
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
from models.config import TrainingConfig
from pipeline import inspection
from pipeline import runner
from pipeline.config import RunConfig
from pipeline.data import synthetic

MODES = {
    'in_memory': ('--direct_running_mode=in_memory', '--direct_num_workers=1'),
    'mp2': ('--direct_running_mode=multi_processing', '--direct_num_workers=2'),
    'mp0': ('--direct_running_mode=multi_processing',  # 0 = one per core
            '--direct_num_workers=0'),
    'threads2': ('--direct_running_mode=multi_threading',
                 '--direct_num_workers=2'),
}
BEAM_NODES = ('ExampleGen', 'StatisticsGen', 'Transform', 'MutualInformationGen')


def component_seconds(metadata_path: str) -> Dict[str, float]:
  """Component id -> seconds of its (single) execution in the store."""
  store = inspection.open_store(metadata_path)
  out = {}
  for context in store.get_contexts_by_type('node'):
    for e in store.get_executions_by_context(context.id):
      node = context.name.rpartition('.')[2]
      out[node] = (e.last_update_time_since_epoch
                   - e.create_time_since_epoch) / 1000
  return out


def run_once(data: str, mode: str, training: TrainingConfig) -> Dict[str, float]:
  with tempfile.TemporaryDirectory(prefix=f'beam_{mode}_') as out:
    config = RunConfig(data=data, output=out, beam_args=MODES[mode],
                       enable_cache=False, training=training
                       ).replace({'evaluation': {'min_recall': 0.0}})
    load = os.getloadavg()[0]
    start = time.monotonic()
    runner.run(config)
    seconds = component_seconds(config.metadata_path)
    seconds['_total'] = time.monotonic() - start
    seconds['_load'] = (load + os.getloadavg()[0]) / 2
  return seconds


def main(argv: List[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--items', type=int, default=80)
  parser.add_argument('--users', type=int, default=40)
  parser.add_argument('--events', type=int, default=1500)
  parser.add_argument('--modes', nargs='+', default=['in_memory', 'mp2'],
                      choices=sorted(MODES))
  parser.add_argument('--repeats', type=int, default=1)
  args = parser.parse_args(argv)
  training = TrainingConfig(epochs=1, batch_size=64, feature_embedding_dim=8,
                            tower_layers=(16, 8), ssl='cfm', ssl_batch_size=64)
  with tempfile.TemporaryDirectory(prefix='beam_data_') as root:
    data = os.path.join(root, 'data')
    synthetic.generate(data, num_items=args.items, num_users=args.users,
                       num_events=args.events, seed=0)
    print(f'data: {args.items} items, {args.users} users, {args.events} '
          f'events; cores: {os.cpu_count()}')
    results = []
    for repeat in range(args.repeats):
      for mode in args.modes:
        seconds = run_once(data, mode, training)
        beam = sum(v for k, v in seconds.items()
                   if any(k.endswith(n) for n in BEAM_NODES))
        results.append((mode, beam, seconds['_total']))
        detail = ' '.join(f'{k}={v:.0f}' for k, v in sorted(seconds.items())
                          if not k.startswith('_'))
        print(f'repeat={repeat} mode={mode} load={seconds["_load"]:.1f} '
              f'beam_components_s={beam:.1f} run_s={seconds["_total"]:.1f} '
              f'| {detail}', flush=True)
  for mode in args.modes:
    beams = [b for m, b, _ in results if m == mode]
    totals = [t for m, _, t in results if m == mode]
    print(f'{mode}: beam_components_s={min(beams):.1f} (best of '
          f'{len(beams)}) run_s={min(totals):.1f}')


if __name__ == '__main__':
  main(sys.argv[1:])

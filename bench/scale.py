"""Scale on one machine: a synthetic catalog through the whole pipeline, then 1 vs 2 training workers.

1. Generates a synthetic dataset (default 1M items, 5M events, the last 0.2%
   of them, ~10K, the eval split; reused when the arguments match), runs the
   whole pipeline (`sslrec run`, in a child process) and prints, per
   component, the wall time recorded in ML Metadata and the CPU seconds and
   peak RSS of the run's process tree while that component ran (sampled every
   0.5 s into <root>/samples.jsonl), and the evaluator's time scaled to 10K
   eval events x 1M items. A run whose RSS passes --max-rss-gb is stopped;
   `--part table` prints the table of a run, finished or not.
2. `--part evaluator`: the Beam evaluator alone on that run's towers, in a
   child (wall, CPU, peak RSS, per 10K events x 1M items).
3. Trains on the run's Transform outputs with `run_fn` for a fixed number of
   steps, once in one process and once as two real workers
   (MultiWorkerMirroredStrategy over loopback, TF_CONFIG), alternating
   1 / 2 workers for --train-rounds rounds (appended to <root>/train.jsonl,
   done ones skipped), and prints the mean examples/s of each (including
   corpus load and export) and their ratio. The workers get a long
   coordination heartbeat timeout (--heartbeat-timeout, via
   SSLREC_HEARTBEAT_TIMEOUT_SECONDS): at nice 15 on a loaded machine they are
   starved past TensorFlow's 10 s. On a 2-core machine the two workers share
   the cores, so the ratio measures the synchronisation overhead, not a
   speed-up.

  .venv/bin/python bench/scale.py                         # 1M items, 5M events
  .venv/bin/python bench/scale.py --items 1000000 --users 20000 --events 500000 --eval-fraction 0.02
  .venv/bin/python bench/scale.py --part evaluator | train | table --root output/scale
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from components.ports import free_ports  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF_CONFIG = 'TF_CONFIG'


def _tree_usage(pid: int) -> Tuple[int, float]:
  """(RSS bytes, CPU seconds) of a process and its descendants.

  CPU seconds include the reaped children (Beam worker processes that
  ended)."""
  import psutil  # pylint: disable=g-import-not-at-top
  try:
    root = psutil.Process(pid)
    processes = [root] + root.children(recursive=True)
    t = root.cpu_times()
    cpu = t.children_user + t.children_system
  except psutil.NoSuchProcess:
    return 0, 0.0
  rss = 0
  for p in processes:
    try:
      rss += p.memory_info().rss
      t = p.cpu_times()
      cpu += t.user + t.system
    except psutil.NoSuchProcess:
      pass
  return rss, cpu


def _watch(child: subprocess.Popen, what: str) -> Tuple[int, float, float]:
  """Waits for `child`, sampling its process tree every 0.5 s: (peak RSS
  bytes, CPU seconds, mean load average); exits naming `what` if it failed."""
  peak, cpu, loads = 0, 0.0, []
  while child.poll() is None:
    rss, cpu_now = _tree_usage(child.pid)
    peak, cpu = max(peak, rss), max(cpu, cpu_now)
    loads.append(os.getloadavg()[0])
    time.sleep(0.5)
  if child.returncode:
    raise SystemExit(f'{what} failed ({child.returncode})')
  return peak, cpu, sum(loads) / max(len(loads), 1)


def run_pipeline(argv: List[str], samples_file: str,
                 max_rss_gb: float) -> bool:
  """Runs `sslrec run argv` in a child, appending (time, rss, cpu, load)
  samples to `samples_file` every 0.5 s; returns whether it completed.

  A run whose process tree exceeds `max_rss_gb` is stopped (this machine is
  shared), and the table shows how far it got."""
  env = dict(os.environ, PYTHONPATH=REPO)
  child = subprocess.Popen([sys.executable, '-m', 'pipeline.cli', 'run',
                            *argv], env=env)
  over = []

  def sample():
    with open(samples_file, 'a') as f:
      while child.poll() is None:
        rss, cpu = _tree_usage(child.pid)
        f.write(json.dumps([time.time(), rss, cpu, os.getloadavg()[0]])
                + '\n')
        f.flush()
        if rss > max_rss_gb * 2**30 and not over:
          over.append(rss)
          child.kill()
        time.sleep(0.5)

  sampler = threading.Thread(target=sample, daemon=True)
  sampler.start()
  code = child.wait()
  sampler.join()
  if over:
    print(f'STOPPED: the run reached {over[0] / 2**30:.1f} GB RSS, over '
          f'--max-rss-gb {max_rss_gb}', flush=True)
    return False
  if code not in (0, 3):  # 3: completed, not blessed
    raise SystemExit(f'sslrec run failed with exit code {code}')
  return True


def read_jsonl(path: str) -> List[Any]:
  """The JSON lines of `path` ([] if missing); a line cut by a stop is
  skipped."""
  if not os.path.exists(path):
    return []
  out = []
  with open(path) as f:
    for line in f:
      try:
        out.append(json.loads(line))
      except json.JSONDecodeError:
        pass
  return out


def read_samples(samples_file: str) -> List[Tuple[float, int, float, float]]:
  return [tuple(sample) for sample in read_jsonl(samples_file)]


_DONE_STATES = (3,)  # mlmd Execution.COMPLETE


def component_windows(metadata_path: str
                      ) -> Dict[str, Tuple[float, Optional[float]]]:
  """Component id -> (start, end or None while running), epoch seconds."""
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  store = inspection.open_store(metadata_path)
  out = {}
  for context in store.get_contexts_by_type('node'):
    for e in store.get_executions_by_context(context.id):
      done = e.last_known_state in _DONE_STATES
      out[context.name.rpartition('.')[2]] = (
          e.create_time_since_epoch / 1000,
          e.last_update_time_since_epoch / 1000 if done else None)
  return out


def print_table(root: str, items: int) -> None:
  """The per-component table of the run under `root` (complete or not)."""
  output = os.path.join(root, 'output')
  samples = read_samples(os.path.join(root, 'samples.jsonl'))
  metadata = os.path.join(output, 'metadata.sqlite')
  if not samples or not os.path.exists(metadata):
    print('no pipeline run recorded under', root)
    return
  windows = component_windows(metadata)
  now = samples[-1][0]

  def usage(t0, t1):
    inside = [s for s in samples if t0 - 0.5 <= s[0] <= t1 + 0.5]
    if not inside:
      return 0.0, 0.0, 0.0
    return (max(s[1] for s in inside) / 2**30, inside[-1][2] - inside[0][2],
            sum(s[3] for s in inside) / len(inside))

  print(f'\n{"component":28s} {"wall s":>8s} {"CPU s":>8s} '
        f'{"peak RSS GB":>11s} {"load":>5s}')
  for node, (t0, t1) in sorted(windows.items(), key=lambda kv: kv[1][0]):
    rss, cpu, load = usage(t0, t1 or now)
    note = '' if t1 else '  (running, not finished)'
    print(f'{node:28s} {(t1 or now) - t0:8.0f} {cpu:8.0f} {rss:11.2f} '
          f'{load:5.1f}{note}')
  rss, cpu, load = usage(samples[0][0], now)
  print(f'{"whole run so far":28s} {now - samples[0][0]:8.0f} {cpu:8.0f} '
        f'{rss:11.2f} {load:5.1f}')
  with open(os.path.join(root, 'data', 'dataset.json')) as f:
    num_eval = json.load(f).get('num_eval_events') or 0
  t0, t1 = windows.get('RetrievalEvaluator', (None, None))
  if t1 and num_eval:
    _, cpu, _ = usage(t0, t1)
    scale = (10_000 / num_eval) * (1_000_000 / items)
    print(f'evaluator: {t1 - t0:.0f} s wall, {cpu:.0f} CPU s for {num_eval} '
          f'events x {items} items = {(t1 - t0) * scale:.0f} s wall, '
          f'{cpu * scale:.0f} CPU s per 10K events x 1M items (2 models when '
          'a baseline exists)')


def train_workers(fn_args_file: str, num_workers: int,
                  heartbeat_seconds: float) -> float:
  """Runs run_fn in `num_workers` real processes; returns the slowest's seconds."""
  from models import distribute  # pylint: disable=g-import-not-at-top
  addresses = [f'127.0.0.1:{p}' for p in free_ports(num_workers)]
  procs = []
  for index in range(num_workers):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop(TF_CONFIG, None)
    if num_workers > 1:
      env[TF_CONFIG] = json.dumps({'cluster': {'worker': addresses},
                                   'task': {'type': 'worker', 'index': index}})
      env[distribute.HEARTBEAT_ENV] = str(heartbeat_seconds)
    procs.append(subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), '--worker', fn_args_file,
         '--worker-index', str(index)], env=env, stdout=subprocess.PIPE,
        text=True))
  seconds = []
  for p in procs:
    out, _ = p.communicate()
    if p.returncode:
      raise SystemExit(f'training worker failed ({p.returncode})')
    seconds.append(float(out.strip().splitlines()[-1]))
  return max(seconds)


def worker(fn_args_file: str, index: int) -> None:
  """One training process: run_fn on the fn_args in the file; prints seconds."""
  import types  # pylint: disable=g-import-not-at-top
  from models import model as model_lib  # pylint: disable=g-import-not-at-top
  with open(fn_args_file) as f:
    fields = json.load(f)
  out = fields.pop('out')
  fields.update(serving_model_dir=os.path.join(out, f'w{index}', 'query'),
                item_serving_model_dir=os.path.join(out, f'w{index}', 'item'),
                model_run_dir=os.path.join(out, f'w{index}', 'logs'))
  start = time.monotonic()
  model_lib.run_fn(types.SimpleNamespace(**fields))
  print(time.monotonic() - start)


def _same_data(data: str, args: argparse.Namespace) -> bool:
  """Whether `data` already holds the dataset these arguments generate."""
  try:
    with open(os.path.join(data, 'dataset.json')) as f:
      info = json.load(f)
  except (OSError, ValueError):
    return False
  events = info.get('num_train_events', 0) + info.get('num_eval_events', 0)
  return (info.get('num_items') == args.items and events == args.events
          and info.get('num_users') == args.users and info.get('seed') == 0
          and info.get('eval_fraction') == args.eval_fraction)


def evaluator_child(root: str) -> None:
  """In a child process: the Beam evaluator (in memory) on the run's towers
  and Examples, as the RetrievalEvaluator runs it (no baseline)."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  sys.path.insert(0, os.path.join(REPO, 'bench'))
  import quality_prep  # pylint: disable=g-import-not-at-top
  from components import tower_io  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import beam_ranking  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import bootstrap  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import metrics  # pylint: disable=g-import-not-at-top
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  store = inspection.open_store(os.path.join(root, 'output',
                                             'metadata.sqlite'))
  trained = quality_prep._latest_outputs(store, 'TwoTowerTrainer')  # pylint: disable=protected-access
  prepared = quality_prep.read_uris(
      os.path.join(root, 'output', 'metadata.sqlite'),
      os.path.join(root, 'data'))
  corpus = evaluation.load_corpus(prepared.items_examples,
                                  prepared.interactions_examples)
  content = beam_ranking.metrics_json(
      beam_ranking.Model(tower_io.serving_dir(trained['query_model']),
                         tower_io.load_tower(trained['item_model'])),
      None, prepared.interactions_examples, corpus, metrics.DEFAULT_KS,
      bootstrap.Settings(), lambda: beam.Pipeline(argv=[
          '--direct_running_mode=in_memory']))
  print(f'recall@10={content["recall@10"]["overall"]:.4f} over '
        f'{content[metrics.NUM_EVENTS_KEY]} events')


def example_gen_child(data: str, num_events: int, out: str) -> None:
  """In a child process: the interactions ExampleGen's executor alone (as
  the pipeline configures it, DirectRunner in memory) on the first
  `num_events` train events of `data` and its whole eval split."""
  from tfx.dsl.components.base import base_beam_executor  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_component_specs as specs  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
  import schemas  # pylint: disable=g-import-not-at-top
  from components.csv_example_gen import executor  # pylint: disable=g-import-not-at-top
  from components.csv_example_gen import rules as csv_rules  # pylint: disable=g-import-not-at-top
  from models import features as F  # pylint: disable=g-import-not-at-top
  from pipeline import config as pipeline_config  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  base = os.path.join(out, 'in')
  for split in ('train', 'eval'):
    os.makedirs(os.path.join(base, split), exist_ok=True)
    with open(os.path.join(data, pipeline_lib.INTERACTIONS_DIR, split,
                           'interactions.csv')) as f, \
        open(os.path.join(base, split, 'interactions.csv'), 'w') as g:
      for i, line in enumerate(f):
        if split == 'train' and i > num_events:  # line 0: the header
          break
        g.write(line)
  schema_dir = schemas.resolve('synthetic')
  rules = csv_rules.interactions_rules(
      os.path.join(schema_dir, F.INTERACTIONS_SCHEMA_FILE),
      os.path.join(data, pipeline_lib.ITEMS_DIR), '*.csv')
  examples = standard_artifacts.Examples()
  examples.uri = os.path.join(out, 'out')
  splits = example_gen_pb2.Input(splits=[
      example_gen_pb2.Input.Split(name=s, pattern=f'{s}/*.csv')
      for s in ('train', 'eval')])
  properties = {
      specs.INPUT_BASE_KEY: base,
      specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(splits),
      specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
          example_gen_pb2.Output()),
      specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(
          executor.encode_columns(
              F.load_feature_config(schema_dir).interaction_columns, rules)),
  }
  context = base_beam_executor.BaseBeamExecutor.Context(
      beam_pipeline_args=runner.with_runner(
          pipeline_config.DEFAULT_BEAM_ARGS), tmp_dir=os.path.join(out, 'tmp'))
  executor.Executor(context).Do({}, {specs.EXAMPLES_KEY: [examples]},
                                properties)


def measure_example_gen(root: str, sizes: List[int]) -> None:
  """The interactions ExampleGen alone at each number of train events (a
  child each): wall, CPU, peak RSS, and the RSS growth per event."""
  data = os.path.join(root, 'data')
  peaks = []
  for num_events in sizes:
    out = os.path.join(root, f'example-gen-{num_events}')
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=REPO)
    start = time.time()
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), '--example-gen-child',
         data, str(num_events), out], env=env)
    peak, cpu, load = _watch(child, 'the ExampleGen')
    shutil.rmtree(out, ignore_errors=True)
    peaks.append((num_events, peak))
    print(f'interactions ExampleGen alone, {num_events} train events: '
          f'{time.time() - start:.0f} s wall, {cpu:.0f} CPU s, peak RSS '
          f'{peak / 2**30:.2f} GB (load {load:.1f})', flush=True)
  if len(peaks) > 1:
    (n0, r0), (n1, r1) = peaks[0], peaks[-1]
    print(f'peak RSS growth {(r1 - r0) / (n1 - n0) / 1024:.2f} KB per event '
          f'({n0} -> {n1} events)')


def measure_evaluator(root: str, items: int) -> None:
  """Runs `evaluator_child` in a child; prints its wall, CPU and peak RSS."""
  env = dict(os.environ, PYTHONPATH=REPO)
  start = time.time()
  child = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                            '--evaluator-child', root], env=env)
  peak, cpu, load = _watch(child, 'the evaluator')
  wall = time.time() - start
  with open(os.path.join(root, 'data', 'dataset.json')) as f:
    num_eval = json.load(f)['num_eval_events']
  scale = (10_000 / num_eval) * (1_000_000 / items)
  print(f'evaluator alone (Beam, in memory, incl. start-up and corpus load): '
        f'{wall:.0f} s wall, {cpu:.0f} CPU s, peak RSS {peak / 2**30:.2f} GB '
        f'for {num_eval} events x {items} items = {wall * scale:.0f} s wall, '
        f'{cpu * scale:.0f} CPU s per 10K events x 1M items (load '
        f'{load:.1f})', flush=True)


def main(argv: List[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--items', type=int, default=1_000_000)
  parser.add_argument('--users', type=int, default=200_000)
  parser.add_argument('--events', type=int, default=5_000_000)
  parser.add_argument('--epochs', type=int, default=1)
  parser.add_argument('--eval-fraction', type=float, default=0.002,
                      help='the last fraction of events forming the eval '
                      'split (temporal); the default keeps ~10K eval events '
                      'of 5M so the exact evaluator fits a session')
  parser.add_argument('--train-steps', type=int, default=1000,
                      help='steps of each worker in the 1-vs-2-worker part')
  parser.add_argument('--batch-size', type=int, default=256)
  parser.add_argument('--train-rounds', type=int, default=2,
                      help='alternating 1-worker / 2-worker trainings each '
                      '(appended to <root>/train.jsonl; done ones skipped)')
  parser.add_argument('--heartbeat-timeout', type=float, default=600.0,
                      help='seconds a training worker may miss its '
                      'coordination heartbeats (starved at nice 15 on a '
                      'loaded machine; TF default 10)')
  parser.add_argument('--max-rss-gb', type=float, default=12.0,
                      help='stop the pipeline run when its processes hold '
                      'more (the machine is shared)')
  parser.add_argument('--root', default=os.path.join(REPO, 'output', 'scale'))
  parser.add_argument('--part', choices=('all', 'pipeline', 'train', 'table',
                                         'evaluator', 'example-gen'),
                      default='all', help='pipeline: data + the whole run; '
                      'train: 1 vs 2 workers on the Transform outputs of the '
                      'run under --root; table: print the per-component '
                      'table of the (possibly unfinished) run under --root; evaluator: the Beam '
                      'evaluator alone on the towers of the run under --root; example-gen: the '
                      'interactions ExampleGen alone on the first '
                      '--example-gen-events train events of the data under '
                      '--root (peak RSS per event)')
  parser.add_argument('--worker', help=argparse.SUPPRESS)
  parser.add_argument('--evaluator-child', help=argparse.SUPPRESS)
  parser.add_argument('--example-gen-child', nargs=3, help=argparse.SUPPRESS)
  parser.add_argument('--example-gen-events', type=int, nargs='+',
                      default=[100_000, 400_000],
                      help='--part example-gen: numbers of train events')
  parser.add_argument('--worker-index', type=int, default=0,
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.worker:
    worker(args.worker, args.worker_index)
    return
  if args.evaluator_child:
    evaluator_child(args.evaluator_child)
    return
  if args.example_gen_child:
    data, num_events, out = args.example_gen_child
    example_gen_child(data, int(num_events), out)
    return
  if args.part == 'example-gen':
    measure_example_gen(args.root, args.example_gen_events)
    return
  if args.part == 'evaluator':
    measure_evaluator(args.root, args.items)
    return

  if args.part == 'table':
    print_table(args.root, args.items)
    return
  sys.path.insert(0, os.path.join(REPO, 'bench'))
  import quality_prep  # pylint: disable=g-import-not-at-top
  data = os.path.join(args.root, 'data')
  output = os.path.join(args.root, 'output')
  if args.part in ('all', 'pipeline'):
    from pipeline.data import synthetic  # pylint: disable=g-import-not-at-top
    if _same_data(data, args):
      print(f'data: reusing {data}', flush=True)
    else:
      start = time.monotonic()
      synthetic.generate(data, args.items, args.users, args.events, seed=0,
                         eval_fraction=args.eval_fraction, force=True)
      print(f'data: {args.items} items, {args.events} events '
            f'({time.monotonic() - start:.0f} s to generate)', flush=True)
    if os.path.exists(output):
      shutil.rmtree(output)  # a fresh store: the table reads its executions
    samples_file = os.path.join(args.root, 'samples.jsonl')
    for stale in (samples_file, os.path.join(args.root, 'train.jsonl')):
      if os.path.exists(stale):
        os.remove(stale)
    completed = run_pipeline(
        ['--data', data, '--output', output, '--no-cache', '--epochs',
         str(args.epochs), '--batch-size', str(args.batch_size),
         '--min-recall', '0'], samples_file, args.max_rss_gb)
    print_table(args.root, args.items)
    if not completed:
      return
  if args.part not in ('all', 'train'):
    return

  from models.config import TrainingConfig  # pylint: disable=g-import-not-at-top
  prepared = quality_prep.read_uris(os.path.join(output, 'metadata.sqlite'),
                                    data)
  training = TrainingConfig(batch_size=args.batch_size,
                            train_steps=args.train_steps, epochs=1)
  from models import features as F  # pylint: disable=g-import-not-at-top
  import schemas  # pylint: disable=g-import-not-at-top
  fn_args = {
      'custom_config': {
          'features': F.load_feature_config(
              schemas.resolve('synthetic')).to_dict(),
          'training': training.to_dict()},
      'train_files': quality_prep.split_files(
          prepared.interactions_transformed, 'train'),
      'eval_files': quality_prep.split_files(
          prepared.interactions_transformed, 'eval'),
      'transform_output': prepared.interactions_transform_graph,
      'item_transform_output': prepared.items_transform_graph,
      'item_files': quality_prep.split_files(prepared.items_transformed,
                                             'corpus'),
      'mutual_information_path': prepared.mutual_information,
      'out': os.path.join(args.root, 'train')}
  fn_args_file = os.path.join(args.root, 'fn_args.json')
  with open(fn_args_file, 'w') as f:
    json.dump(fn_args, f)
  train_log = os.path.join(args.root, 'train.jsonl')
  done = [r for r in read_train_log(train_log)
          if (r['steps'], r['batch_size']) == (args.train_steps,
                                               args.batch_size)]
  for round_index in range(args.train_rounds):
    for workers in (1, 2):  # alternating, so the load hits both alike
      if any(r['round'] == round_index and r['workers'] == workers
             for r in done):
        continue
      load = os.getloadavg()[0]
      secs = train_workers(fn_args_file, workers, args.heartbeat_timeout)
      record = {'round': round_index, 'workers': workers, 'seconds': secs,
                'steps': args.train_steps, 'batch_size': args.batch_size,
                'load': (load + os.getloadavg()[0]) / 2}
      with open(train_log, 'a') as f:
        f.write(json.dumps(record) + '\n')
      done.append(record)
      print(f'training round {round_index}, {workers} worker(s): '
            f'{examples_per_second(record):,.0f} examples/s '
            f'({args.train_steps} steps x {args.batch_size} per worker, '
            f'{secs:.0f} s incl. corpus load and export, load '
            f'{record["load"]:.1f})', flush=True)
  print_train_ratio(done)


def read_train_log(path: str) -> List[Dict]:
  """The finished trainings of the 1-vs-2-worker part (a cut line skipped)."""
  return read_jsonl(path)


def examples_per_second(record: Dict) -> float:
  return (record['steps'] * record['batch_size'] * record['workers']
          / record['seconds'])


def print_train_ratio(records: List[Dict]) -> None:
  """Mean examples/s of 1 and 2 workers over the rounds, and their ratio."""
  rates = {w: [examples_per_second(r) for r in records if r['workers'] == w]
           for w in (1, 2)}
  if not rates[1] or not rates[2]:
    print('training: not both 1 and 2 workers measured yet')
    return
  mean = {w: sum(v) / len(v) for w, v in rates.items()}
  loads = [r['load'] for r in records]
  print(f'training examples/s, mean over {len(rates[1])} / {len(rates[2])} '
        f'alternating round(s): 1 worker {mean[1]:,.0f}, 2 workers '
        f'{mean[2]:,.0f}')
  print(f'two_worker_vs_one_examples_per_second_ratio={mean[2] / mean[1]:.3f}'
        f' (load {sum(loads) / len(loads):.1f}; 2 cores shared: overhead, '
        'not speed-up)')

if __name__ == '__main__':
  main(sys.argv[1:])

"""Session-scoped fixtures shared by test modules (a pytest plugin, see conftest.py).

Each fixture does one real, slow thing once per test session; test modules
take what they need from it and write only under their own folders.
"""
import pytest

from models.config import TrainingConfig
from models.config import TransformConfig

# A training config that trains in seconds on the tiny synthetic data.
TINY_TRAINING = TrainingConfig(epochs=1, batch_size=64, feature_embedding_dim=8,
                               tower_layers=(16, 8), ssl='cfm',
                               ssl_batch_size=64)
# The tiny TF Transform output of tests/support/tft.py, with 4 numeric buckets.
TINY_NUMERIC_BUCKETS = 4


@pytest.fixture(scope='session')
def tiny_transformed(tmp_path_factory):
  """tft.prepare(...) of the tiny rows: one pair of TFT jobs for every models/ test.

  Built once per test run, also under pytest-xdist (tests/support/shared.py).
  Read-only: a test module copies the dict and writes under its own `root`
  (`dict(tiny_transformed, root=tmp_path_factory.mktemp(...))`).
  """
  from tests.support import shared  # pylint: disable=g-import-not-at-top
  from tests.support import tft as test_tft  # pylint: disable=g-import-not-at-top
  folder = shared.build_once(
      tmp_path_factory, 'tiny_transformed', lambda root: test_tft.prepare(
          root, TransformConfig(numeric_buckets=TINY_NUMERIC_BUCKETS)))
  return test_tft.load(folder)


@pytest.fixture(scope='session')
def gate_runs(tmp_path_factory):
  """Three runs of tests/gate_pipeline.py into one output folder.

  Run 1 (seed 1, any recall) is blessed and pushes; run 2 (seed 2, recall 1.0
  needed) is not blessed and pushes nothing; run 3 repeats run 1. Returns a
  dict: out, paths (gate_pipeline.run), versions_after_run1 ({serving folder:
  versions}), run_ids (oldest first) and metadata_after_run2 (a copy of the
  store as run 2 left it, for tests of a two-run history).
  """
  from tests.support import shared  # pylint: disable=g-import-not-at-top
  return shared.result_once(tmp_path_factory, 'gate_runs', _gate_runs)


def _gate_runs(folder):
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from tests import gate_pipeline  # pylint: disable=g-import-not-at-top
  out = str(folder)
  paths = gate_pipeline.run(out, seed=1, min_recall=0.0)
  versions = {name: sorted(os.listdir(os.path.join(paths['serving'], name)))
              for name in pipeline_lib.PUSHES.values()}
  gate_pipeline.run(out, seed=2, min_recall=1.0)
  after_run2 = os.path.join(out, 'metadata_after_run2.sqlite')
  shutil.copy(paths['metadata'], after_run2)
  gate_pipeline.run(out, seed=1, min_recall=0.0)
  runs = inspection.inspector(paths['metadata']).runs(live=False)
  return dict(out=out, paths=paths, versions_after_run1=versions,
              run_ids=[r['run_id'] for r in reversed(runs)],
              metadata_after_run2=after_run2)


# `sslrec run` flags of TINY_TRAINING, with a gate any model passes.
TINY_FLAGS = ('--epochs', '1', '--batch-size', '64',
              '--feature-embedding-dim', '8', '--tower-layers', '16', '8',
              '--ssl', 'cfm', '--ssl-batch-size', '64', '--min-recall', '0',
              '--max-overall-drop', '1', '--max-tail-drop', '1')
# Beam args for the pipeline_runs fixture (default: DirectRunner in memory),
# e.g. '--direct_running_mode=multi_processing --direct_num_workers=2'.
BEAM_ARGS_ENV = 'SSLREC_TEST_BEAM_ARGS'
# The serving folders of a pipeline output (serving/<folder>/<version>/).
SERVED = ('query_tower', 'item_tower', 'index')


def _served_versions(output):
  """{serving folder: sorted int versions}."""
  import os  # pylint: disable=g-import-not-at-top
  return {m: sorted(int(v) for v in os.listdir(os.path.join(output, 'serving',
                                                            m)) if v.isdigit())
          for m in SERVED}


def _report_text(output):
  """The run report's HTML as it is now (None before the first report)."""
  import os  # pylint: disable=g-import-not-at-top
  path = os.path.join(output, 'report', 'index.html')
  if not os.path.isfile(path):
    return None
  with open(path, encoding='utf-8') as f:
    return f.read()


def _cli(*argv):
  """cli.main(argv) in this process: {code, out, err, last (stderr's last line)}."""
  import contextlib  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top
  from pipeline import cli  # pylint: disable=g-import-not-at-top
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = cli.main(list(argv))
  lines = err.getvalue().strip().splitlines()
  return dict(code=code, out=out.getvalue(), err=err.getvalue(),
              last=lines[-1] if lines else '')


@pytest.fixture(scope='session')
def pipeline_runs(tmp_path_factory):
  """One history of the real pipeline (`sslrec run`, in this process) on tiny data.

  Beam runs in memory, or with the args in $SSLREC_TEST_BEAM_ARGS.

  Shared by tests/pipeline_e2e_test.py, tests/operations_e2e_test.py and
  pipeline/commands/inspect_test.py; built once per test run, also under
  pytest-xdist (tests/support/shared.py):

    run 1 (seed 1)            trains and pushes version V1
    run 2 (seed 1)            unchanged: served from the cache, nothing new
                              pushed; the store and serving folder as run 2
                              left them are copied (view_after_run2)
    run 3 (seed 2)            a training-only change: re-trains, pushes V2
    run 4 (seed 2, recall 1)  not blessed, nothing pushed (exit 3); the store
                              as run 4 left it is copied (after_run4)
    rollback                  V3 = V1's models
    run 5 (seed 1)            cached towers; nothing new to push

  Returns a dict: config (RunConfig of the runs), training, first
  ({executions, query_versions, item_versions, index_versions} after run 1),
  second (executions after run 2), second_versions, fourth_versions (the
  same {name}_versions after runs 2 and 4), view_after_run2 (a RunConfig
  whose output holds the copies), after_run4 (a folder with the store's
  copy), and steps: {run1, run2, run3, run4, rollback, run5: the command's
  code, out, err, last line, the served versions and the report's HTML
  after it,
  pushed_after_run4 / pushed_after_rollback: `inspect pushed --json` output}.
  """
  from tests.support import shared  # pylint: disable=g-import-not-at-top
  return shared.result_once(tmp_path_factory, 'pipeline_runs', _pipeline_runs)


def _pipeline_runs(root):
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  from components.pusher import versions as versions_lib  # pylint: disable=g-import-not-at-top
  from pipeline.config import EvaluationConfig  # pylint: disable=g-import-not-at-top
  from pipeline.config import RunConfig  # pylint: disable=g-import-not-at-top
  from pipeline.data import synthetic  # pylint: disable=g-import-not-at-top
  from tests.support import mlmd as test_mlmd  # pylint: disable=g-import-not-at-top
  data = str(root / 'data')
  synthetic.generate(data, num_items=200, num_users=60, num_events=2500, seed=3)
  training = TINY_TRAINING
  config = RunConfig(data=data, output=str(root / 'output'), training=training,
                     evaluation=EvaluationConfig(min_recall=0.0,
                                                 max_overall_drop=1.0,
                                                 max_tail_drop=1.0))
  out = config.output
  run = ('run', '--data', data, '--output', out) + TINY_FLAGS
  if os.environ.get(BEAM_ARGS_ENV):  # e.g. Beam's multi-processing mode
    run += (f'--beam-args={os.environ[BEAM_ARGS_ENV]}',)
  steps = {}

  def step(name, *argv):
    steps[name] = dict(_cli(*argv), versions=_served_versions(out)
                       if os.path.isdir(os.path.join(out, 'serving')) else None,
                       report=_report_text(out))
    return steps[name]

  def pushed_versions():
    return {f'{name}_versions': test_mlmd.versions(out, folder)
            for name, folder in (('query', 'query_tower'),
                                 ('item', 'item_tower'), ('index', 'index'))}

  step('run1', *run, '--seed', '1')
  first = dict(executions=test_mlmd.executions_by_node(out), **pushed_versions())
  step('run2', *run, '--seed', '1')
  second = test_mlmd.executions_by_node(out)
  second_versions = pushed_versions()
  view = RunConfig(data=data, output=str(root / 'after_run2'),
                   training=training)
  os.makedirs(view.output)
  shutil.copy(config.metadata_path, view.metadata_path)
  shutil.copytree(config.serving_root, view.serving_root)
  step('run3', *run, '--seed', '2')
  step('run4', *run, '--seed', '2', '--min-recall', '1')
  fourth_versions = pushed_versions()
  after_run4 = str(root / 'after_run4')
  os.makedirs(after_run4)
  shutil.copy(config.metadata_path, os.path.join(after_run4, 'metadata.sqlite'))
  step('pushed_after_run4', 'inspect', 'pushed', '--output', out, '--json')
  step('rollback', 'rollback', '--output', out)
  # Later runs add records of their own (same version) to versions.json.
  steps['rollback']['versions_json'] = versions_lib.load(config.serving_root)
  step('pushed_after_rollback', 'inspect', 'pushed', '--output', out, '--json')
  step('run5', *run, '--seed', '1')
  return dict(config=config, training=training, first=first, second=second,
              second_versions=second_versions,
              fourth_versions=fourth_versions, view_after_run2=view,
              after_run4=after_run4, steps=steps)

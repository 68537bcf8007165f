"""Session-scoped fixtures shared by test modules (a pytest plugin, see conftest.py).

Each fixture does one real, slow thing once per test session; test modules
take what they need from it and write only under their own folders.
"""
import pytest

from models.config import TrainingConfig
from models.config import TransformConfig

# A training config that trains in seconds on the tiny synthetic data (the
# pooled encoder: the pipeline tests check the index against one embedding
# per query; models/training_sequence_test.py tests the sequence encoder's).
TINY_TRAINING = TrainingConfig(epochs=1, batch_size=64, feature_embedding_dim=8,
                               tower_layers=(16, 8), ssl='cfm',
                               ssl_batch_size=64, query_encoder='pooled')
# The tiny TF Transform output of tests/support/tft.py: 4 numeric buckets.
TINY_TRANSFORM = TransformConfig(numeric_buckets=4)


@pytest.fixture(scope='session')
def transform_runs(tmp_path_factory):
  """The folder of one Beam pipeline holding every models/ test's TFT jobs.

  tiny/: tft.prepare(...) of the tiny rows (TINY_TRANSFORM); hand/:
  the hand-made rows of models/preprocessing_test.py (tft.HAND_ITEMS,
  HAND_EVENTS; HAND_NUMERIC_BUCKETS), each with items/ and interactions/.
  One pipeline for both saves a pipeline's fixed cost (~10 s). Built once per
  test run, also under pytest-xdist (tests/support/shared.py). Read-only.
  """
  from tests.support import shared  # pylint: disable=g-import-not-at-top
  return shared.build_once(tmp_path_factory, 'transform_runs',
                           _transform_runs)


def _transform_runs(root):
  from tests.support import tft as test_tft  # pylint: disable=g-import-not-at-top
  test_tft.prepare(
      root / 'tiny', TINY_TRANSFORM,
      also=test_tft.dataset_jobs(
          test_tft.HAND_ITEMS, test_tft.HAND_EVENTS,
          TransformConfig(numeric_buckets=test_tft.HAND_NUMERIC_BUCKETS),
          root / 'hand'))


@pytest.fixture(scope='session')
def tiny_transformed(transform_runs):
  """tft.load(...) of the tiny rows' TFT output: the data of the models/ tests.

  Read-only: a test module copies the dict and writes under its own `root`
  (`dict(tiny_transformed, root=tmp_path_factory.mktemp(...))`).
  """
  from tests.support import tft as test_tft  # pylint: disable=g-import-not-at-top
  return test_tft.load(transform_runs / 'tiny')


@pytest.fixture(scope='session')
def hand_transformed(transform_runs):
  """The hand-made rows' TFT output folder (items/, interactions/); read-only."""
  return transform_runs / 'hand'


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
              '--ssl', 'cfm', '--ssl-batch-size', '64',
              '--query-encoder', 'pooled', '--min-recall', '0',
              '--max-overall-drop', '1', '--max-tail-drop', '1',
              '--min-eval-events', '0', '--min-eval-users', '0')
# Beam args for the history fixtures (default: DirectRunner in memory),
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


# The session fixtures below each build a history of real runs (minutes);
# under pytest-xdist, each worker first builds its share of the slow shared
# fixtures this run's tests use (`_shared_builds_side_by_side`), so that they
# are built at once, and a worker's first tests are not queued behind them.
# The TFT jobs (under a minute, needed by many models/ files) come first.
SIDE_BY_SIDE = ('transform_runs', 'release_runs', 'cache_runs')


@pytest.fixture(scope='session', autouse=True)
def _shared_builds_side_by_side(request):
  """Worker i of n builds SIDE_BY_SIDE[i::n] (those the tests use) first.

  The other fixtures find them built (tests/support/shared.py); without
  xdist, or when a worker gets no test, each is built when a test first
  needs it.
  """
  import os  # pylint: disable=g-import-not-at-top
  worker = os.environ.get('PYTEST_XDIST_WORKER')
  if not worker:
    return
  used = [name for name in SIDE_BY_SIDE
          if any(name in item.fixturenames for item in request.session.items)]
  index = int(worker.lstrip('gw'))
  count = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
  for name in used[index::count]:
    request.getfixturevalue(name)


@pytest.fixture(scope='session')
def release_runs(tmp_path_factory):
  """A history of the real pipeline (`sslrec run`, in this process) on tiny
  data: new versions, a rollback, and the run after it.

  Beam runs in memory, or with the args in $SSLREC_TEST_BEAM_ARGS. Read by
  tests/pipeline_e2e_test.py and tests/operations_e2e_test.py; built once per
  test run, also under pytest-xdist (tests/support/shared.py):

    first (seed 1)            trains and pushes version V1
    retrained (seed 2)        a training-only change: re-trains, pushes V2
    rollback                  V3 = V1's models
    after_rollback (seed 1)   cached towers; nothing new to push

  Returns a dict: config (RunConfig of the runs), steps: {first, retrained,
  rollback, after_rollback: the command's code, out, err, last line, the
  served versions and the report's HTML after it; rollback also
  versions_json, versions.json as it left it; pushed_after_rollback:
  `inspect pushed --json` output}.
  """
  from tests.support import shared  # pylint: disable=g-import-not-at-top
  return shared.result_once(tmp_path_factory, 'release_runs', _release_runs)


@pytest.fixture(scope='session')
def cache_runs(tmp_path_factory):
  """A history of the real pipeline (as `release_runs`, on its own data):
  a cached re-run and an unblessed run.

  Read by tests/pipeline_e2e_test.py, tests/operations_e2e_test.py and
  pipeline/commands/inspect_test.py:

    first (seed 1)              trains and pushes version V1
    unchanged (seed 1)          served from the cache, nothing new pushed;
                                the store and serving folder as it left
                                them are copied (view_after_unchanged)
    unblessed (seed 1, recall 1)  not blessed, nothing pushed (exit 3)

  Returns a dict: config, first ({executions, query_versions,
  item_versions, index_versions} after the first run), second (executions
  after the unchanged run), second_versions, unblessed_versions (the same
  {name}_versions after those runs), view_after_unchanged (a RunConfig whose
  output holds the copies), and steps as `release_runs` (first, unchanged,
  unblessed, pushed_after_unblessed).
  """
  from tests.support import shared  # pylint: disable=g-import-not-at-top
  return shared.result_once(tmp_path_factory, 'cache_runs', _cache_runs)


class _History:
  """`sslrec run` and other commands on one tiny dataset and output folder."""

  def __init__(self, root):
    import os  # pylint: disable=g-import-not-at-top
    from pipeline.config import EvaluationConfig  # pylint: disable=g-import-not-at-top
    from pipeline.config import RunConfig  # pylint: disable=g-import-not-at-top
    from pipeline.data import synthetic  # pylint: disable=g-import-not-at-top
    data = str(root / 'data')
    synthetic.generate(data, num_items=200, num_users=60, num_events=2500,
                       seed=3)
    self.config = RunConfig(
        data=data, output=str(root / 'output'), training=TINY_TRAINING,
        evaluation=EvaluationConfig(min_recall=0.0, max_overall_drop=1.0,
                                    max_tail_drop=1.0, min_eval_events=0,
                                    min_eval_users=0))
    self.run_args = ('run', '--data', data, '--output',
                     self.config.output) + TINY_FLAGS
    if os.environ.get(BEAM_ARGS_ENV):  # e.g. Beam's multi-processing mode
      self.run_args += (f'--beam-args={os.environ[BEAM_ARGS_ENV]}',)
    self.steps = {}

  def step(self, name, *argv):
    """Runs `sslrec argv`; records its result, the served versions and report."""
    import os  # pylint: disable=g-import-not-at-top
    out = self.config.output
    self.steps[name] = dict(
        _cli(*argv), report=_report_text(out),
        versions=_served_versions(out)
        if os.path.isdir(os.path.join(out, 'serving')) else None)
    return self.steps[name]

  def run(self, name, *flags):
    return self.step(name, *self.run_args, *flags)

  def pushed(self, name):
    return self.step(name, 'inspect', 'pushed', '--output', self.config.output,
                     '--json')

  def pushed_versions(self):
    from tests.support import mlmd as test_mlmd  # pylint: disable=g-import-not-at-top
    return {f'{name}_versions': test_mlmd.versions(self.config.output, folder)
            for name, folder in (('query', 'query_tower'),
                                 ('item', 'item_tower'), ('index', 'index'))}


def _release_runs(root):
  from components.pusher import versions as versions_lib  # pylint: disable=g-import-not-at-top
  history = _History(root)
  history.run('first', '--seed', '1')
  history.run('retrained', '--seed', '2')
  history.step('rollback', 'rollback', '--output', history.config.output)
  # Later runs add records of their own (same version) to versions.json.
  history.steps['rollback']['versions_json'] = versions_lib.load(
      history.config.serving_root)
  history.pushed('pushed_after_rollback')
  history.run('after_rollback', '--seed', '1')
  return dict(config=history.config, steps=history.steps)


def _cache_runs(root):
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  from pipeline.config import RunConfig  # pylint: disable=g-import-not-at-top
  from tests.support import mlmd as test_mlmd  # pylint: disable=g-import-not-at-top
  history = _History(root)
  config = history.config
  history.run('first', '--seed', '1')
  first = dict(executions=test_mlmd.executions_by_node(config.output),
               **history.pushed_versions())
  history.run('unchanged', '--seed', '1')
  second = test_mlmd.executions_by_node(config.output)
  second_versions = history.pushed_versions()
  view = RunConfig(data=config.data, output=str(root / 'after_unchanged'),
                   training=config.training)
  os.makedirs(view.output)
  shutil.copy(config.metadata_path, view.metadata_path)
  shutil.copytree(config.serving_root, view.serving_root)
  history.run('unblessed', '--seed', '1', '--min-recall', '1')
  history.pushed('pushed_after_unblessed')
  return dict(config=config, first=first,
              second=second, second_versions=second_versions,
              unblessed_versions=history.pushed_versions(),
              view_after_unchanged=view, steps=history.steps)


# Test files in the order they are handed out to pytest-xdist workers (the
# Makefile passes --no-loadscope-reorder, which keeps this order): first the
# files that need none of the shared builds, then those that read the TFT
# jobs, then those that read a history of real runs. So while one worker
# builds its shared fixtures first (`_shared_builds_side_by_side`), the other
# has files to run that do not wait for them.
WAITS_FOR = (('transform_runs',), ('gate_runs', 'release_runs', 'cache_runs'))


def file_rank(fixturenames) -> int:
  """0 for a test that needs no shared build, else 1 + the WAITS_FOR group of
  the last one it needs."""
  return max([1 + i for i, group in enumerate(WAITS_FOR)
              if any(name in fixturenames for name in group)], default=0)


def pytest_collection_modifyitems(items):
  """Orders the test files by `file_rank` of their tests (stable: a file's
  tests stay together, in their order)."""
  rank = {}
  for item in items:
    rank[item.path] = max(rank.get(item.path, 0), file_rank(item.fixturenames))
  items.sort(key=lambda item: rank[item.path])

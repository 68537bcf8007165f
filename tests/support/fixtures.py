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
# Beam's DirectRunner scaled out (the pipeline_runs fixture).
MULTI_PROCESSING = ('--direct_running_mode=multi_processing',
                    '--direct_num_workers=2')


@pytest.fixture(scope='session')
def tiny_transformed(tmp_path_factory):
  """tft.prepare(...) of the tiny rows: one pair of TFT jobs for every models/ test.

  Read-only: a test module copies the dict and writes under its own `root`
  (`dict(tiny_transformed, root=tmp_path_factory.mktemp(...))`).
  """
  from tests.support import tft as test_tft  # pylint: disable=g-import-not-at-top
  return test_tft.prepare(tmp_path_factory.mktemp('tiny_transformed'),
                          TransformConfig(numeric_buckets=TINY_NUMERIC_BUCKETS))


@pytest.fixture(scope='session')
def gate_runs(tmp_path_factory):
  """Three runs of tests/gate_pipeline.py into one output folder.

  Run 1 (seed 1, any recall) is blessed and pushes; run 2 (seed 2, recall 1.0
  needed) is not blessed and pushes nothing; run 3 repeats run 1. Returns a
  dict: out, paths (gate_pipeline.run), versions_after_run1 ({serving folder:
  versions}), run_ids (oldest first) and metadata_after_run2 (a copy of the
  store as run 2 left it, for tests of a two-run history).
  """
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  from pipeline import pipeline as pipeline_lib  # pylint: disable=g-import-not-at-top
  from tests import gate_pipeline  # pylint: disable=g-import-not-at-top
  out = str(tmp_path_factory.mktemp('gate'))
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


@pytest.fixture(scope='session')
def pipeline_runs(tmp_path_factory):
  """Three runs of the real pipeline (runner.run) on tiny synthetic data.

  Beam's DirectRunner in multi-processing mode on 2 workers, so one real run
  covers the Beam components' scale-out path. Run 1 trains and pushes; run 2
  is unchanged (every component up to the towers a cache hit); run 3 changes
  a training-only setting (the seed) and needs an impossible recall (nothing
  pushed). Returns a dict: config (RunConfig of runs 1 and 2), training,
  first ({executions, query_versions, item_versions, index_versions} after
  run 1), second (executions after run 2) and view_after_run2 (a RunConfig
  whose output holds a copy of the store as run 2 left it, and the serving
  folder, for tests of a two-run history).
  """
  import dataclasses  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import shutil  # pylint: disable=g-import-not-at-top
  from pipeline import runner  # pylint: disable=g-import-not-at-top
  from pipeline.config import EvaluationConfig  # pylint: disable=g-import-not-at-top
  from pipeline.config import RunConfig  # pylint: disable=g-import-not-at-top
  from pipeline.data import synthetic  # pylint: disable=g-import-not-at-top
  from tests.support import mlmd as test_mlmd  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('pipeline_runs')
  data = str(root / 'data')
  synthetic.generate(data, num_items=200, num_users=60, num_events=2500, seed=3)
  training = TINY_TRAINING
  config = RunConfig(data=data, output=str(root / 'output'),
                     beam_args=MULTI_PROCESSING, training=training)
  runner.run(config)
  first = dict(executions=test_mlmd.executions_by_node(config.output),
               **{f'{name}_versions': test_mlmd.versions(config.output, folder)
                  for name, folder in (('query', 'query_tower'),
                                       ('item', 'item_tower'),
                                       ('index', 'index'))})
  runner.run(config)
  second = test_mlmd.executions_by_node(config.output)
  view = RunConfig(data=data, output=str(root / 'after_run2'),
                   training=training)
  os.makedirs(view.output)
  shutil.copy(config.metadata_path, view.metadata_path)
  os.symlink(os.path.abspath(config.serving_root), view.serving_root)
  runner.run(dataclasses.replace(
      config, training=training.replace(seed=training.seed + 1),
      evaluation=EvaluationConfig(min_recall=1.0)))
  return dict(config=config, training=training, first=first, second=second,
              view_after_run2=view)

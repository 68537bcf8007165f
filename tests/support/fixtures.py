"""Session-scoped fixtures shared by test modules (a pytest plugin, see conftest.py).

Each fixture does one real, slow thing once per test session; test modules
take what they need from it and write only under their own folders.
"""
import pytest

# The tiny TF Transform output of tests/support/tft.py, with 4 numeric buckets.
TINY_NUMERIC_BUCKETS = 4


@pytest.fixture(scope='session')
def tiny_transformed(tmp_path_factory):
  """tft.prepare(...) of the tiny rows: one pair of TFT jobs for every models/ test.

  Read-only: a test module copies the dict and writes under its own `root`
  (`dict(tiny_transformed, root=tmp_path_factory.mktemp(...))`).
  """
  from models.config import TransformConfig  # pylint: disable=g-import-not-at-top
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

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

"""Test-wide settings: Keras 2 for TFRS, quiet TensorFlow, pytest-xdist groups."""
import os

import pytest

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# Session-scoped fixtures (one real run serves several test modules).
pytest_plugins = ['tests.support.fixtures']

# Session fixtures that are real pipeline runs (tests/support/fixtures.py):
# under `--dist loadgroup` every test that reads one runs on the same worker,
# so each is built once.
SHARED_RUNS = ('pipeline_runs', 'gate_runs')


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
  """Puts each test in an xdist_group (`make test`: -n 2 --dist loadgroup).

  The group is the shared run fixture the test reads, else its module (its
  module-scoped fixtures are then built once), unless the module is marked
  `spread` (independent tests: each may run on either worker). Runs before
  xdist's own hook, which reads the groups.
  """
  if config.getoption('dist', 'no') != 'loadgroup':
    return
  for item in items:
    if item.get_closest_marker('xdist_group'):
      continue
    shared = [name for name in SHARED_RUNS if name in item.fixturenames]
    if shared:
      item.add_marker(pytest.mark.xdist_group(shared[0]))
    elif not item.get_closest_marker('spread'):
      item.add_marker(pytest.mark.xdist_group(item.nodeid.split('::')[0]))

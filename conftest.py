"""Test-wide settings: Keras 2 for TFRS, quiet TensorFlow."""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# Session-scoped fixtures (one real run serves several test modules; built
# once per run, also under pytest-xdist: tests/support/shared.py).
pytest_plugins = ['tests.support.fixtures']


def pytest_configure(config):
  """AutoGraph skips tf_keras in every test, as in the Trainer and IndexBuilder
  (models/keras_autograph.py), also for tests that fit a plain Keras model.

  Not in a pytest-xdist controller, which runs no test: importing TensorFlow
  there would take seconds of CPU from the workers as they start.
  """
  if getattr(config.option, 'numprocesses', None) and not hasattr(
      config, 'workerinput'):
    return
  from models import keras_autograph  # pylint: disable=g-import-not-at-top
  keras_autograph.install()

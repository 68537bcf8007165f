"""Test-wide settings: Keras 2 for TFRS, quiet TensorFlow."""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# Session-scoped fixtures (one real run serves several test modules; built
# once per run, also under pytest-xdist: tests/support/shared.py).
pytest_plugins = ['tests.support.fixtures']

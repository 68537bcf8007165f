"""AutoGraph leaves Keras's own code alone, as TensorFlow means it to.

AutoGraph converts the Python control flow of every function a tf.function
calls, except in the libraries TensorFlow lists as graph-ready (its
CONVERSION_RULES), Keras among them as the package `keras`. Under
TF_USE_LEGACY_KERAS (TFRS needs Keras 2) Keras is the package `tf_keras`,
which that list misses, so each trace converts some thousands of Keras
functions again: about half the time of a small training (train step,
validation step and exported signatures). `install()` lists `tf_keras` as
`keras` is listed; the project's layers and TFRS are still converted, and the
traced graphs compute the same (Keras is written to trace without AutoGraph).
"""
from tensorflow.python.autograph.core import config as _autograph_config

KERAS_PACKAGE = 'tf_keras'


def _listed() -> bool:
  return any(isinstance(rule, _autograph_config.DoNotConvert) and
             rule.matches(KERAS_PACKAGE + '.engine')
             for rule in _autograph_config.CONVERSION_RULES)


def install() -> None:
  """Adds `tf_keras` to AutoGraph's do-not-convert list (idempotent)."""
  if not _listed():
    _autograph_config.CONVERSION_RULES = (
        _autograph_config.DoNotConvert(KERAS_PACKAGE),
    ) + tuple(_autograph_config.CONVERSION_RULES)

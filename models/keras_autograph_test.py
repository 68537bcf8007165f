"""AutoGraph skips tf_keras (as it skips `keras`) and the trained numbers stay the same."""
import numpy as np
import tensorflow as tf
import tf_keras
from tensorflow.python.autograph.core import config as autograph_config
from tensorflow.python.autograph.impl import conversion

from models import keras_autograph
from models import towers


def test_keras_is_left_alone_and_the_project_is_converted():
  keras_autograph.install()
  assert conversion.is_allowlisted(tf_keras.layers.Dense.call)
  assert conversion.is_allowlisted(tf_keras.Model.train_step)
  assert not conversion.is_allowlisted(towers.pooled_lookup)


def test_install_is_idempotent():
  keras_autograph.install()
  before = autograph_config.CONVERSION_RULES
  keras_autograph.install()
  assert autograph_config.CONVERSION_RULES == before


def _keras_functions(seed=3):
  """Keras functions with Python branches (on arguments), in a tf.function.

  (Functions, not a layer: converting a layer's Keras code, its __call__,
  alone takes ~8 s.)
  """
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(16, 4)).astype(np.float32)
  y = (rng.random(size=(16, 4)) < 0.5).astype(np.float32)

  @tf.function
  def call(x, y):
    return (tf_keras.losses.binary_crossentropy(y, x, from_logits=True),
            tf_keras.losses.categorical_crossentropy(
                y, tf.nn.softmax(x), label_smoothing=0.1),
            tf_keras.activations.relu(x, alpha=0.1, max_value=1.0))

  return [t.numpy() for t in call(x, y)]


def test_keras_code_computes_the_same_with_and_without(monkeypatch):
  keras_autograph.install()
  skipped = _keras_functions()
  monkeypatch.setattr(autograph_config, 'CONVERSION_RULES', tuple(
      rule for rule in autograph_config.CONVERSION_RULES
      if not rule.matches(keras_autograph.KERAS_PACKAGE + '.engine')))
  assert not conversion.is_allowlisted(tf_keras.losses.binary_crossentropy)
  converted = _keras_functions()
  for a, b in zip(skipped, converted):
    np.testing.assert_array_equal(a, b)

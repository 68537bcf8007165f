"""SavedModel export of the towers with a raw-feature serving signature.

`serving_default` takes the contract's raw columns as 1-D [batch] tensors
(tf.string for string columns, `|`-joined when multi-valued, '' = missing;
tf.float32 for float columns, NaN = missing; tf.int64 for int columns) and
returns {'embedding': float32 [batch, d]}; a sequence query tower
(models/sequence.py) also returns 'intentions' float32 [batch, K, d], the
vectors the index and the evaluator score with (max over K). The TF
Transform graph travels inside, so serving applies exactly the training
preprocessing.
"""
from typing import Dict, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft

from models import features as F
from models import sequence
from models import towers

_TF_DTYPES = {'string': tf.string, 'float': tf.float32, 'int': tf.int64}


def input_signature(columns: Sequence[Tuple[str, str]]) -> Dict[str, tf.TensorSpec]:
  return {name: tf.TensorSpec([None], _TF_DTYPES[dtype], name=name)
          for name, dtype in columns}


def _missing(x: tf.Tensor) -> tf.Tensor:
  if x.dtype == tf.string:
    return tf.equal(x, '')
  if x.dtype.is_floating:
    return tf.math.is_nan(x)
  return tf.zeros_like(x, tf.bool)


def to_tft_inputs(raw: Dict[str, tf.Tensor],
                  raw_feature_spec: Dict[str, object]) -> Dict[str, tf.Tensor]:
  """Dense [batch] raw tensors -> the representation the TFT graph parses to.

  FixedLenFeature([1]) -> [batch, 1]; VarLenFeature -> SparseTensor [batch, 1]
  holding only the present values. Raw features the signature does not take
  are left out (TFT supplies them and prunes what depends on them).
  """
  out = {}
  for name, x in raw.items():
    spec = raw_feature_spec[name]
    if isinstance(spec, tf.io.VarLenFeature):
      present = tf.logical_not(_missing(x))
      rows = tf.where(present)[:, 0]
      out[name] = tf.SparseTensor(
          indices=tf.stack([rows, tf.zeros_like(rows)], axis=1),
          values=tf.cast(tf.gather(x, rows), spec.dtype),
          dense_shape=tf.stack([tf.shape(x, out_type=tf.int64)[0],
                                tf.constant(1, tf.int64)]))
    else:
      out[name] = tf.reshape(tf.cast(x, spec.dtype), [-1, 1])
  return out


class _Serving(tf.Module):
  """Tracks the tower and the TFT layer, and serves raw features."""

  def __init__(self, tower, tft_output: tft.TFTransformOutput,
               features: Sequence[F.Feature], columns):
    super().__init__()
    self.tower = tower
    self.tft_layer = tft_output.transform_features_layer()
    self._raw_spec = tft_output.raw_feature_spec()
    self._features = list(features)
    self.serve = tf.function(self._serve, input_signature=[input_signature(columns)])

  def _serve(self, raw):
    transformed = self.tft_layer(to_tft_inputs(raw, self._raw_spec))
    inputs = towers.model_inputs(transformed, self._features)
    return sequence.serving_outputs(self.tower(inputs))


def _columns(features: Sequence[F.Feature]):
  return [(f.name, f.dtype) for f in features]


def _save(path: str, module: _Serving) -> None:
  tf.saved_model.save(module, path,
                      signatures={'serving_default': module.serve.get_concrete_function()})


def export_query_tower(path: str, query_tower, tft_output: tft.TFTransformOutput,
                       feature_config: F.FeatureConfig) -> None:
  features = feature_config.query_features
  _save(path, _Serving(query_tower, tft_output, features, _columns(features)))


def export_item_tower(path: str, item_tower, tft_output: tft.TFTransformOutput,
                      feature_config: F.FeatureConfig) -> None:
  features = feature_config.item_features
  _save(path, _Serving(item_tower, tft_output, features, _columns(features)))

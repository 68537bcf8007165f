"""TF Transform preprocessing of the item corpus and of the interaction log.

Two entry points, one per Transform component:
  items_preprocessing_fn         raw items        -> item tower inputs + ITEM_KEY
  interactions_preprocessing_fn  raw interactions -> query tower inputs + ITEM_KEY

Both take `custom_config = {'features': FeatureConfig.to_dict(),
'transform': TransformConfig.to_dict()}` and nothing else, so a training-only
change keeps the Transforms' cache key. Vocabularies and bucket boundaries
come from TFT analyzers; nothing is hard-coded. Every output's id range is in
the transformed schema (`num_ids`), so the Trainer sizes its embedding tables
from the Transform output alone. Outputs per feature kind:
  id, categorical   int64 [batch]         vocabulary index (1 OOV bucket)
  numeric           int64 [batch]         quantile bucket; missing = `numeric_buckets`
  multi_valued,text int64 sparse [batch, None] vocabulary indices
  history           string sparse [batch, None] raw item ids, most recent first
  ITEM_KEY          string [batch]        the raw item id
"""
from typing import Any, Callable, Dict, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform import schema_inference as tft_schema_inference

from models import features as F
from models.config import TransformConfig

ITEM_KEY = 'item_key'
_TOKEN_PATTERN = r'[^a-z0-9]+'


def vocabulary_name(feature_name: str) -> str:
  """Name of the TFT vocabulary file of a feature (size via tft_output)."""
  return feature_name


def num_ids(feature: F.Feature, tft_output: tft.TFTransformOutput) -> int:
  """Number of distinct transformed ids of a feature (embedding table rows)."""
  if feature.kind == F.NUMERIC:
    # The buckets + the missing-value bucket: the int domain `_numeric` sets.
    schema = tft_output.transformed_metadata.schema
    [domain] = [f.int_domain for f in schema.feature if f.name == feature.name]
    return domain.max + 1
  # vocabulary + 1 OOV bucket
  return tft_output.vocabulary_size_by_name(vocabulary_name(feature.name)) + 1


def _configs(custom_config: Dict[str, Any]
             ) -> Tuple[F.FeatureConfig, TransformConfig]:
  return (F.FeatureConfig.from_dict(custom_config['features']),
          TransformConfig.from_dict(custom_config['transform']))


def _dense(x, default) -> tf.Tensor:
  """A raw single-valued feature as a dense [batch] tensor, `default` if missing."""
  if isinstance(x, tf.SparseTensor):
    x = tf.sparse.to_dense(
        tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
  return tf.reshape(x, [-1])


def _as_string(x) -> tf.Tensor:
  return x if x.dtype == tf.string else tf.strings.as_string(x)


def _split(x: tf.Tensor, lowercase_tokens: bool = False) -> tf.SparseTensor:
  """[batch] strings -> sparse [batch, None] non-empty values."""
  if lowercase_tokens:
    x = tf.strings.regex_replace(tf.strings.lower(x), _TOKEN_PATTERN, ' ')
    parts = tf.strings.split(x)
  else:
    parts = tf.strings.split(x, sep=F.SEPARATOR)
    parts = tf.strings.strip(parts)
  parts = tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)
  return parts.to_sparse()


def _numeric(x, num_buckets: int) -> tf.Tensor:
  """Quantile bucket of a number; missing (or NaN) values get `num_buckets`."""
  dense = _dense(tf.cast(x, tf.float32), float('nan'))
  present = tf.math.is_finite(dense)
  boundaries = tft.quantiles(tf.boolean_mask(dense, present), num_buckets,
                             epsilon=0.01)
  buckets = tft.apply_buckets(tf.where(present, dense, 0.0), boundaries)
  # Duplicated boundaries can leave fewer buckets; indices stay < num_buckets.
  buckets = tf.minimum(buckets, num_buckets - 1)
  out = tf.where(present, buckets, tf.cast(num_buckets, tf.int64))
  # Recorded in the transformed schema as the int domain [0, num_buckets].
  tft_schema_inference.set_tensor_schema_override(
      out, tf.constant(0, tf.int64), tf.constant(num_buckets, tf.int64))
  return out


def _vocab(x, name: str, top_k: int):
  return tft.compute_and_apply_vocabulary(
      x, top_k=top_k or None, num_oov_buckets=1, frequency_threshold=None,
      vocab_filename=vocabulary_name(name))


def _transform_feature(x, feature: F.Feature, config: TransformConfig):
  if feature.kind == F.NUMERIC:
    return _numeric(x, config.numeric_buckets)
  text = _as_string(_dense(x, '' if x.dtype == tf.string else 0))
  if feature.kind == F.ID:
    return _vocab(text, feature.name, 0)
  if feature.kind == F.CATEGORICAL:
    return _vocab(text, feature.name, config.vocab_top_k)
  if feature.kind == F.MULTI_VALUED:
    return _vocab(_split(text), feature.name, config.vocab_top_k)
  if feature.kind == F.TEXT:
    return _vocab(_split(text, lowercase_tokens=True), feature.name,
                  config.text_top_k)
  if feature.kind == F.HISTORY:
    return _split(text)
  raise ValueError(f'feature {feature.name!r}: unknown kind {feature.kind!r}')


def _tower_inputs(inputs: Dict[str, Any], custom_config: Dict[str, Any],
                  tower_features: Callable[[F.FeatureConfig],
                                           Sequence[F.Feature]]
                  ) -> Dict[str, Any]:
  """ITEM_KEY + the transformed features `tower_features` picks."""
  feature_config, config = _configs(custom_config)
  features = tower_features(feature_config)
  outputs = {ITEM_KEY: _as_string(_dense(inputs[F.ITEM_ID], ''))}
  for feature in features:
    outputs[feature.name] = _transform_feature(inputs[feature.name], feature,
                                               config)
  return outputs


def items_preprocessing_fn(inputs: Dict[str, Any],
                           custom_config: Dict[str, Any]) -> Dict[str, Any]:
  """Raw item corpus rows -> item tower inputs (see the module docstring)."""
  return _tower_inputs(inputs, custom_config, lambda fc: fc.item_features)


def interactions_preprocessing_fn(inputs: Dict[str, Any],
                                  custom_config: Dict[str, Any]
                                  ) -> Dict[str, Any]:
  """Raw interaction rows -> query tower inputs + the positive item's key."""
  return _tower_inputs(inputs, custom_config, lambda fc: fc.query_features)

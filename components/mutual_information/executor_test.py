"""Executor on real TFRecord examples and a real schema artifact (Beam)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from sklearn import metrics
from tfx.types import artifact_utils
from tfx.types import standard_artifacts

from components.mutual_information import artifact
from components.mutual_information import executor
from tests.support import mi_tables
from components.mutual_information.schema_features import DataError

_FLOATS = ('price',)


def _example(row):
  """A tf.Example as the CSV ExampleGen writes it (empty cell = no value)."""
  ex = tf.train.Example()
  for name, cell in row.items():
    feature = ex.features.feature[name]
    if name in _FLOATS:
      feature.float_list.value.extend([] if cell is None else [cell])
    else:
      feature.bytes_list.value.extend([cell.encode()] if cell else [])
  return ex.SerializeToString()


def _examples(root, splits):
  """An Examples artifact with gzipped TFRecord splits {name: columns}."""
  examples = standard_artifacts.Examples()
  examples.uri = str(root)
  examples.split_names = artifact_utils.encode_split_names(list(splits))
  for split, columns in splits.items():
    os.makedirs(root / f'Split-{split}')
    n = len(next(iter(columns.values())))
    path = str(root / f'Split-{split}' / 'data_tfrecord-00000-of-00001.gz')
    with tf.io.TFRecordWriter(path, options='GZIP') as writer:
      for i in range(n):
        writer.write(_example({k: v[i] for k, v in columns.items()}))
  return examples


def _schema_artifact(root, schema):
  art = standard_artifacts.Schema()
  art.uri = str(root)
  os.makedirs(root)
  with open(root / 'schema.pbtxt', 'w') as f:
    f.write(text_format.MessageToString(schema))
  return art


def _inputs(tmp_path, num_items=300, extra_kinds=None):
  columns = mi_tables.correlated_items(num_items, seed=1)
  schema = mi_tables.items_schema(list(mi_tables.FEATURES) +
                                 list((extra_kinds or {}).items()))
  return {
      executor.EXAMPLES_KEY: [_examples(tmp_path / 'items',
                                        {'corpus': columns})],
      executor.SCHEMA_KEY: [_schema_artifact(tmp_path / 'schema',
                                             schema)],
  }, columns


def _output(tmp_path):
  out = artifact.MutualInformation()
  out.uri = str(tmp_path / 'mi')
  os.makedirs(out.uri)
  return out


def _exec_properties(**overrides):
  props = {
      executor.INCLUDE_ITEM_ID_KEY: True, executor.TOP_K_KEY: 100,
      executor.NUM_BUCKETS_KEY: 5, executor.WEIGHTING_KEY: 'corpus',
      executor.SPLITS_KEY: json.dumps(['corpus']),
      executor.INTERACTIONS_SPLITS_KEY: json.dumps(['train']),
  }
  props.update(overrides)
  return props


def test_executor_writes_the_artifact(tmp_path):
  inputs, columns = _inputs(tmp_path)
  out = _output(tmp_path)
  executor.Executor().Do(inputs, {executor.OUTPUT_KEY: [out]},
                         _exec_properties())
  assert os.listdir(out.uri) == [artifact.FILE_NAME]
  result = artifact.load(out.uri)
  names = result['features']
  assert names == [n for n, _ in mi_tables.FEATURES]  # schema order, id first
  assert result['num_items'] == 300
  assert out.get_int_custom_property('num_items') == 300
  assert out.get_int_custom_property('num_features') == len(names)
  mi = np.array(result['mi'])
  i, j = names.index('country'), names.index('language')
  assert mi[i, j] == pytest.approx(metrics.mutual_info_score(
      columns['country'], columns['language']), rel=1e-9)
  np.testing.assert_allclose(np.diag(mi), result['entropy'])
  assert result['params']['splits'] == ['corpus']
  assert result['params']['num_buckets'] == 5


def test_executor_feature_subset_without_id_and_log_weighting(tmp_path):
  inputs, columns = _inputs(tmp_path, num_items=50)
  log = {'item_id': ['i3', 'i3', 'i7', 'unknown']}
  inputs[executor.INTERACTIONS_KEY] = [
      _examples(tmp_path / 'log', {'train': log, 'eval': {'item_id': ['i9']}})]
  out = _output(tmp_path)
  executor.Executor().Do(inputs, {executor.OUTPUT_KEY: [out]}, _exec_properties(
      **{executor.FEATURE_NAMES_KEY: json.dumps(['color', 'country']),
         executor.INCLUDE_ITEM_ID_KEY: False,
         executor.WEIGHTING_KEY: 'log'}))
  result = artifact.load(out.uri)
  assert result['features'] == ['country', 'color']  # schema order
  assert result['params']['total_weight'] == 3.0  # i3 twice, i7 once
  assert result['params']['interactions_splits'] == ['train']
  # Two items of weight 2 and 1: H(country) as in the weighted corpus.
  c3, c7 = columns['country'][3], columns['country'][7]
  p = np.array([2, 1]) / 3 if c3 != c7 else np.array([1.0])
  assert result['entropy'][0] == pytest.approx(-(p * np.log(p)).sum())


def test_missing_feature_fails_and_writes_nothing(tmp_path):
  # The schema declares 'author'; no example has it.
  inputs, _ = _inputs(tmp_path, num_items=20,
                      extra_kinds={'author': 'categorical'})
  out = _output(tmp_path)
  with pytest.raises(DataError, match=r"\['author'\] missing"):
    executor.Executor().Do(inputs, {executor.OUTPUT_KEY: [out]},
                           _exec_properties())
  assert not os.listdir(out.uri)


def test_bad_properties(tmp_path):
  inputs, _ = _inputs(tmp_path, num_items=10)
  out = _output(tmp_path)
  with pytest.raises(ValueError, match=r"splits \['train'\] not in"):
    executor.Executor().Do(inputs, {executor.OUTPUT_KEY: [out]},
                           _exec_properties(**{executor.SPLITS_KEY:
                                               json.dumps(['train'])}))
  with pytest.raises(ValueError, match="'title'.* not item features"):
    executor.Executor().Do(inputs, {executor.OUTPUT_KEY: [out]},
                           _exec_properties(**{executor.FEATURE_NAMES_KEY:
                                               json.dumps(['title'])}))
  with pytest.raises(ValueError, match='needs the interactions'):
    executor.Executor().Do(inputs, {executor.OUTPUT_KEY: [out]},
                           _exec_properties(**{executor.WEIGHTING_KEY: 'log'}))
  assert not os.listdir(out.uri)

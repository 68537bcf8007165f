"""Warmup requests and the fresh-process check, on a real tower SavedModel."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from components.pusher import push
from components.pusher import serving
from components.pusher import versions
from components.pusher import warmup
from tests.support import towers as test_towers


@pytest.fixture(scope='module')
def tower_dir(tmp_path_factory):
  return test_towers.save_tower(str(tmp_path_factory.mktemp('tower')),
                                test_towers.ITEM_COLUMNS)


def test_warmup_requests_parse_and_replay(tmp_path, tower_dir):
  model = str(tmp_path / 'model')
  shutil.copytree(tower_dir, model)
  path = warmup.write(model, 'item_tower')
  assert path == os.path.join(model, 'assets.extra', 'tf_serving_warmup_requests')
  records = list(tf.data.TFRecordDataset(path))
  assert len(records) == warmup.NUM_REQUESTS
  log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
  request = log.predict_log.request
  assert request.model_spec.name == 'item_tower'
  assert request.model_spec.signature_name == 'serving_default'
  assert set(request.inputs) == set(test_towers.ITEM_COLUMNS)
  year = tf.make_ndarray(request.inputs['year'])
  assert year.shape == (warmup.BATCH_SIZE,) and np.isnan(year).all()
  assert warmup.replay(model) == warmup.NUM_REQUESTS


def test_prepare_validates_in_a_fresh_process(tmp_path, tower_dir, caplog,
                                              monkeypatch):
  model = str(tmp_path / 'model')
  shutil.copytree(tower_dir, model)
  monkeypatch.setenv('SSLREC_MODEL_SERVER', 'none')  # says which validator ran
  with caplog.at_level('INFO'):
    serving.prepare(model, 'item_tower')
  assert os.path.isfile(warmup.warmup_path(model))
  assert ('Validated item_tower in a fresh Python process with TensorFlow '
          '($SSLREC_MODEL_SERVER=none; no model server check): 2 warmup '
          'requests through serving_default.') in caplog.text
  broken = str(tmp_path / 'broken')
  shutil.copytree(tower_dir, broken)
  shutil.rmtree(os.path.join(broken, 'variables'))
  os.makedirs(os.path.join(broken, 'variables'))
  with pytest.raises(Exception, match='item_tower'):
    serving.prepare(broken, 'item_tower')


def test_a_model_failing_validation_is_not_pushed(tmp_path, tower_dir):
  broken = str(tmp_path / 'broken')
  shutil.copytree(tower_dir, broken)
  shutil.rmtree(os.path.join(broken, 'variables'))
  os.makedirs(os.path.join(broken, 'variables'))
  serving_root = str(tmp_path / 'serving')
  with pytest.raises(RuntimeError, match='failed to load or to answer'):
    versions.push_model(broken, serving_root, 'item_tower', 'blessing-1',
                        prepare=serving.prepare)
  assert os.listdir(os.path.join(serving_root, 'item_tower')) == []


def test_pushed_copy_has_warmup_and_still_counts_as_the_same_model(
    tmp_path, tower_dir):
  serving_root = str(tmp_path / 'serving')
  first = versions.push_model(tower_dir, serving_root, 'item_tower', 'b-1',
                              prepare=serving.prepare)
  assert os.path.isfile(warmup.warmup_path(first.destination))
  assert not os.path.exists(warmup.warmup_path(tower_dir))  # source untouched
  again = versions.push_model(tower_dir, serving_root, 'item_tower', 'b-2',
                              prepare=serving.prepare)
  assert (again.version, again.new) == (first.version, False)
  assert push.same_tree(tower_dir, first.destination)


def test_models_config_lists_the_three_models(tmp_path):
  root = str(tmp_path / 'serving')
  os.makedirs(root)
  path = versions.write_models_config(root, ['index', 'item_tower',
                                             'query_tower'])
  from google.protobuf import text_format
  from tensorflow_serving.config import model_server_config_pb2
  with open(path) as f:
    config = text_format.Parse(f.read(),
                               model_server_config_pb2.ModelServerConfig())
  models = {c.name: c for c in config.model_config_list.config}
  assert set(models) == {'index', 'item_tower', 'query_tower'}
  assert models['index'].base_path == os.path.join(root, 'index')
  assert models['index'].model_platform == 'tensorflow'

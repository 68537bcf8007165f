"""Atomic pushes on the local filesystem, with a real SavedModel."""
import filecmp
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.dsl.io import filesystem as fileio_errors
from tfx.types import channel_utils
from tfx.types import standard_artifacts

from components import tower_io
from tests.support import towers as test_towers
from components.pusher import component
from components.pusher import executor
from components.pusher import push


@pytest.fixture(scope='module')
def model_uri(tmp_path_factory):
  uri = str(tmp_path_factory.mktemp('model'))
  test_towers.save_tower(uri, test_towers.ITEM_COLUMNS)
  return uri


@pytest.fixture(scope='module')
def other_model_uri(tmp_path_factory):
  uri = str(tmp_path_factory.mktemp('other_model'))
  test_towers.save_tower(uri, test_towers.ITEM_COLUMNS, seed=5)
  return uri


def _same_tree(a, b):
  cmp = filecmp.dircmp(a, b)
  return (not cmp.left_only and not cmp.right_only and not cmp.diff_files
          and all(_same_tree(os.path.join(a, d), os.path.join(b, d))
                  for d in cmp.common_dirs))


def test_push_creates_increasing_versions_and_keeps_earlier_ones(
    tmp_path, model_uri, other_model_uri):
  src_a = tower_io.serving_dir(model_uri)
  src_b = tower_io.serving_dir(other_model_uri)
  base = str(tmp_path / 'serving' / 'item')
  first = push.push(src_a, base, now=1000)
  second = push.push(src_b, base, now=1000)  # same second: next version
  third = push.push(src_a, base, now=900)  # clock went back: still higher
  assert [(r.version, r.new) for r in (first, second, third)] == [
      (1000, True), (1001, True), (1002, True)]
  assert first.destination == os.path.join(base, '1000')
  assert sorted(os.listdir(base)) == ['1000', '1001', '1002']  # no temp left
  assert _same_tree(src_a, first.destination)
  assert _same_tree(src_b, second.destination)
  assert _same_tree(src_a, third.destination)
  loaded = tf.saved_model.load(third.destination).signatures['serving_default']
  out = loaded(item_id=tf.constant(['i1']), genres=tf.constant(['g1']),
               year=tf.constant([1990.0]))
  assert out['embedding'].shape == (1, 8)


def test_the_same_model_is_not_pushed_twice_in_a_row(tmp_path, model_uri):
  src = tower_io.serving_dir(model_uri)
  base = str(tmp_path / 'serving')
  first = push.push(src, base, now=10)
  again = push.push(src, base, now=20)
  assert again == (first.destination, 10, False)
  assert os.listdir(base) == ['10']


def test_versions_ignore_non_numeric_entries(tmp_path):
  for name in ('17', '5', '.tmp-99-abc', 'notes'):
    (tmp_path / name).mkdir()
  assert push.existing_versions(str(tmp_path)) == [5, 17]
  assert push.next_version(str(tmp_path), now=3) == 18
  assert push.next_version(str(tmp_path), now=50) == 50
  assert push.existing_versions(str(tmp_path / 'absent')) == []


def test_a_failed_copy_leaves_no_version_and_no_temp_dir(tmp_path, model_uri):
  src = tmp_path / 'broken'
  src.mkdir()
  (src / 'saved_model.pb').write_bytes(b'x')
  os.symlink(str(tmp_path / 'missing'), str(src / 'dangling'))
  base = tmp_path / 'serving'
  push.push(tower_io.serving_dir(model_uri), str(base), now=10)
  with pytest.raises(fileio_errors.NotFoundError):  # copying 'dangling'
    push.push(str(src), str(base), now=10)
  assert sorted(os.listdir(base)) == ['10']  # earlier version intact only


def test_push_without_saved_model_fails_clearly(tmp_path):
  with pytest.raises(FileNotFoundError, match='saved_model.pb not found'):
    push.push(str(tmp_path), str(tmp_path / 'serving'))


def _artifact(cls, uri):
  a = cls()
  a.uri = uri
  return a


def _run_executor(model_uri, base, blessed):
  blessing = _artifact(standard_artifacts.ModelBlessing, '/unused')
  blessing.set_int_custom_property('blessed', blessed)
  blessing.set_string_custom_property('blessing_message',
                                      'NOT blessed: recall too low')
  pushed = _artifact(standard_artifacts.PushedModel, '/unused')
  executor.Executor().Do(
      {'model': [_artifact(standard_artifacts.Model, model_uri)],
       'model_blessing': [blessing]},
      {'pushed_model': [pushed]}, {'base_directory': base})
  return pushed


def test_executor_refuses_an_unblessed_model(tmp_path, model_uri):
  base = str(tmp_path / 'serving')
  pushed = _run_executor(model_uri, base, blessed=0)
  assert pushed.get_int_custom_property('pushed') == 0
  assert not os.path.exists(base)


def test_executor_pushes_a_blessed_model(tmp_path, model_uri):
  base = str(tmp_path / 'serving')
  pushed = _run_executor(model_uri, base, blessed=1)
  assert pushed.get_int_custom_property('pushed') == 1
  assert pushed.get_int_custom_property('new_version') == 1
  version = pushed.get_string_custom_property('pushed_version')
  assert version.isdigit()
  destination = pushed.get_string_custom_property('pushed_destination')
  assert destination == os.path.join(base, version)
  assert os.listdir(base) == [version]
  # Ready for TF Serving: warmup requests in the pushed copy, and one config
  # for every model folder of the serving root.
  assert os.path.isfile(os.path.join(destination, 'assets.extra',
                                     'tf_serving_warmup_requests'))
  with open(tmp_path / 'models.config') as f:
    assert f'base_path: "{base}"' in f.read()
  emb = tower_io.Tower(destination).embed(
      {'item_id': np.array([b'i1'], object), 'genres': np.array([b''], object),
       'year': np.array([np.nan], np.float32)})
  assert emb.shape == (1, 8)


def test_component_spec():
  c = component.AtomicPusher(
      model=channel_utils.as_channel([standard_artifacts.Model()]),
      model_blessing=channel_utils.as_channel(
          [standard_artifacts.ModelBlessing()]),
      base_directory='/serving/query')
  assert c.outputs['pushed_model'].type is standard_artifacts.PushedModel
  assert c.exec_properties['base_directory'] == '/serving/query'
  with pytest.raises(ValueError, match='base_directory'):
    component.AtomicPusher(
        model=channel_utils.as_channel([standard_artifacts.Model()]),
        base_directory='')

"""Tests of tower_io on real TFRecords and a real SavedModel."""
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from components import tower_io
from tests.support import towers as test_towers


def test_read_split_fills_missing_values_and_batches(tmp_path):
  columns = {'item_id': tf.string, 'year': tf.float32, 'n': tf.int64}
  rows = [{'item_id': 'a', 'year': 1990.0, 'n': 3},
          {'item_id': 'b', 'year': None, 'n': None},
          {'item_id': 'c|d', 'year': 2001.5, 'n': 7}]
  test_towers.write_examples(str(tmp_path), 'corpus', rows, columns)
  batches = list(tower_io.read_split(str(tmp_path), 'corpus', columns,
                                     batch_size=2))
  assert [len(b['item_id']) for b in batches] == [2, 1]
  ids = np.concatenate([b['item_id'] for b in batches])
  years = np.concatenate([b['year'] for b in batches])
  ns = np.concatenate([b['n'] for b in batches])
  assert list(ids) == [b'a', b'b', b'c|d']
  assert years[0] == 1990.0 and math.isnan(years[1]) and years[2] == 2001.5
  assert list(ns) == [3, 0, 7]
  assert years.dtype == np.float32 and ns.dtype == np.int64
  assert list(tower_io.read_column(str(tmp_path), 'corpus', 'item_id')) == [
      'a', 'b', 'c|d']


def test_read_split_rejects_a_multi_valued_feature(tmp_path):
  split_dir = tmp_path / 'Split-train'
  split_dir.mkdir()
  example = tf.train.Example(features=tf.train.Features(feature={
      'item_id': tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[b'x', b'y']))}))
  with tf.io.TFRecordWriter(str(split_dir / 'part.gz'), options='GZIP') as w:
    w.write(example.SerializeToString())
  with pytest.raises(ValueError, match=r"row 0: column 'item_id' holds more"):
    list(tower_io.read_split(str(tmp_path), 'train', {'item_id': tf.string}))


def test_missing_split_names_the_folder(tmp_path):
  with pytest.raises(FileNotFoundError, match='Split-eval'):
    tower_io.split_files(str(tmp_path), 'eval')


def test_tower_reads_its_columns_from_the_signature_and_embeds(tmp_path):
  columns = {'item_id': tf.string, 'genres': tf.string, 'year': tf.float32}
  test_towers.save_tower(str(tmp_path), columns, dim=6)
  tower = tower_io.load_tower(str(tmp_path))
  assert tower.columns == columns
  assert tower.dim == 6
  emb = tower.embed({'item_id': np.array([b'a', b'b'], dtype=object),
                     'genres': np.array([b'x|y', b''], dtype=object),
                     'year': np.array([1990.0, np.nan], dtype=np.float32),
                     'unused': np.array([1, 2])})
  assert emb.shape == (2, 6) and emb.dtype == np.float32
  np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
  with pytest.raises(ValueError, match="needs column 'year'"):
    tower.embed({'item_id': np.array([b'a'], dtype=object),
                 'genres': np.array([b''], dtype=object)})


def test_load_tower_without_saved_model_fails_clearly(tmp_path):
  os.makedirs(tower_io.serving_dir(str(tmp_path)))
  with pytest.raises(FileNotFoundError, match='saved_model.pb'):
    tower_io.load_tower(str(tmp_path))


class _TwoIntentions(tf.Module):
  """A query tower returning `embedding` and 2 `intentions`: [x, 0] and [0, x]."""

  @tf.function(input_signature=[{'x': tf.TensorSpec([None], tf.float32,
                                                    name='x')}])
  def serve(self, features):
    x = features['x'][:, None]
    zero = tf.zeros_like(x)
    intentions = tf.stack([tf.concat([x, zero], 1), tf.concat([zero, x], 1)], 1)
    return {'embedding': tf.reduce_mean(intentions, 1),
            'intentions': intentions}


def test_query_vectors_are_the_intentions_when_the_tower_has_them(tmp_path):
  module = _TwoIntentions()
  tf.saved_model.save(module, str(tmp_path / 'q'), signatures={
      'serving_default': module.serve.get_concrete_function()})
  tower = tower_io.Tower(str(tmp_path / 'q'))
  assert tower.has_intentions and tower.dim == 2
  vectors = tower.query_vectors({'x': np.array([1.0, 2.0], np.float32)})
  np.testing.assert_allclose(vectors, [[[1, 0], [0, 1]], [[2, 0], [0, 2]]])
  np.testing.assert_allclose(tower.embed({'x': np.array([1.0], np.float32)}),
                             [[0.5, 0.5]])


def test_query_vectors_of_a_single_vector_tower_are_its_embedding(tmp_path):
  path = test_towers.save_tower(str(tmp_path / 'm'), {'user_id': tf.string})
  tower = tower_io.Tower(path)
  columns = {'user_id': np.array([b'u1', b'u2'], object)}
  assert not tower.has_intentions
  np.testing.assert_array_equal(tower.query_vectors(columns),
                                tower.embed(columns))

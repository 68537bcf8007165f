"""Tests of the towers on tiny constant inputs."""
import numpy as np
import tensorflow as tf

from models import towers


def test_pooled_lookup_means_rows_and_empty_row_is_zero():
  table = tf.constant([[1., 0.], [0., 2.], [4., 4.]])
  ids = tf.ragged.constant([[0, 1], [], [2]], dtype=tf.int64)
  # Row 0: mean of [1, 0] and [0, 2] = [0.5, 1]; row 1: empty -> 0; row 2: [4, 4].
  np.testing.assert_allclose(towers.pooled_lookup(table, ids).numpy(),
                             [[0.5, 1.], [0., 0.], [4., 4.]])
  np.testing.assert_allclose(
      towers.pooled_lookup(table, tf.constant([2, 0], tf.int64)).numpy(),
      [[4., 4.], [1., 0.]])


def _item_tower():
  return towers.ItemTower(['id', 'tags'], {'id': 4, 'tags': 3},
                          embedding_dim=3, layer_widths=[5, 2])


FEATURES = {'id': tf.constant([0, 3], tf.int64),
            'tags': tf.ragged.constant([[1, 2], []], dtype=tf.int64)}


def test_item_tower_output_is_l2_normalized():
  out = _item_tower()(FEATURES).numpy()
  assert out.shape == (2, 2)
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)


def test_masked_feature_uses_its_default_embedding():
  tower = _item_tower()
  parts = tower.embed_features(FEATURES, mask=tf.constant([False, True]))
  np.testing.assert_allclose(parts[1].numpy(),
                             np.tile(tower.default_embeddings[1].numpy(), (2, 1)))
  unmasked = tower.embed_features(FEATURES)
  np.testing.assert_allclose(parts[0].numpy(), unmasked[0].numpy())


def test_tables_start_different():
  tower = _item_tower()
  assert not np.allclose(tower.tables[0].numpy()[:3], tower.tables[1].numpy())


def test_query_tower_maps_history_keys_and_oov():
  tower = towers.QueryTower(['user', 'hist'], {'user': 3}, embedding_dim=2,
                            layer_widths=[2], history_feature='hist',
                            item_keys=['a', 'b'])
  history = tf.ragged.constant([['b', 'zz'], []])
  assert tower.history_lookup(history.values).numpy().tolist() == [2, 0]
  out = tower({'user': tf.constant([0, 1], tf.int64), 'hist': history}).numpy()
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)

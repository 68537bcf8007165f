"""Tests of the towers on tiny constant inputs."""
import numpy as np
import pytest
import tensorflow as tf

from models import towers


@pytest.fixture(autouse=True)
def _seeded():
  """Seeded initial weights: an unseeded tiny ReLU MLP can output a zero row."""
  tf.keras.utils.set_random_seed(0)


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


def _shared_table():
  """An item id table of 3 rows (row 2 = OOV) and the history index into it:
  lookup id 0 (unknown key) -> 2, 'a' (1) -> 1, 'b' (2) -> 0."""
  table = tf.Variable([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
  return table, tf.constant([2, 1, 0], tf.int64)


def test_query_tower_maps_history_keys_and_oov():
  tower = towers.QueryTower(['user', 'hist'], {'user': 3}, embedding_dim=2,
                            layer_widths=[2], history_feature='hist',
                            item_keys=['a', 'b'],
                            shared_history=_shared_table())
  history = tf.ragged.constant([['b', 'zz'], []])
  assert tower.history_lookup(history.values).numpy().tolist() == [2, 0]
  out = tower({'user': tf.constant([0, 1], tf.int64), 'hist': history}).numpy()
  np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
  # The history pools the shared table's rows: 'b' -> row 0, 'zz' -> OOV row 2.
  parts = tower._embed({'user': tf.constant([0, 1], tf.int64),  # pylint: disable=protected-access
                        'hist': tf.ragged.constant([[2, 0], []], tf.int64)})
  np.testing.assert_allclose(parts[1].numpy(), [[0.75, 0.25], [0.0, 0.0]])


def test_a_pooled_history_needs_the_shared_table():
  with pytest.raises(ValueError, match="pooling the history 'hist' needs "
                     'shared_history'):
    towers.QueryTower(['user', 'hist'], {'user': 3}, embedding_dim=2,
                      layer_widths=[2], history_feature='hist',
                      item_keys=['a', 'b'])


@pytest.mark.parametrize('masks', [
    (None, None), ([True, False, True], [False, True, False]),
    ([True, False, False], [True, True, False])])
@pytest.mark.parametrize('view2_tags', [False, True])
@pytest.mark.parametrize('with_others', [False, True])
def test_embed_views_equals_the_tower_on_every_row(masks, view2_tags,
                                                   with_others):
  tower = towers.ItemTower(['id', 'tags', 'year'],
                           {'id': 5, 'tags': 4, 'year': 3}, embedding_dim=3,
                           layer_widths=[6, 4, 2])
  items = {'id': tf.constant([0, 1, 4], tf.int64),
           'tags': tf.ragged.constant([[1, 2], [], [3]], dtype=tf.int64),
           'year': tf.constant([2, 0, 1], tf.int64)}
  others = {'id': tf.constant([3, 1], tf.int64),
            'tags': tf.ragged.constant([[0], [2, 3]], dtype=tf.int64),
            'year': tf.constant([1, 1], tf.int64)}
  view2 = dict(items)
  if view2_tags:  # value dropout gave view 2 other tag values
    view2['tags'] = tf.ragged.constant([[2], [1], []], dtype=tf.int64)
  mask1, mask2 = [None if m is None else tf.constant(m) for m in masks]
  got = tower.embed_views(items, mask1, mask2,
                          {'tags': view2['tags']} if view2_tags else None,
                          others if with_others else None).numpy()
  expected = [tower(items, mask=mask1).numpy(),
              tower(view2, mask=mask2).numpy()]
  if with_others:
    expected.insert(0, tower(others).numpy())
  # Unit vectors; float32 rounding of a concatenated vs a split MLP pass.
  np.testing.assert_allclose(got, np.concatenate(expected), atol=1e-5)


def test_embed_views_builds_the_tower_and_keeps_the_id_shared():
  tower = _item_tower()
  got = tower.embed_views(FEATURES, None, tf.constant([False, True]))
  assert got.shape == (4, 2)  # built by the call, as the plain call would be
  np.testing.assert_allclose(got[:2].numpy(), tower(FEATURES).numpy(),
                             atol=1e-6)
  with pytest.raises(ValueError, match="the id feature 'id' is shared"):
    tower.embed_views(FEATURES, None, None, {'id': FEATURES['id']})

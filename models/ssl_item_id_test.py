"""ssl_item_id='masked': the item id masked in both SSL views, the split over the content features."""
import numpy as np
import pytest
import tensorflow as tf

from models import augmentation
from models import config as config_lib
from models import features as features_lib
from models import ssl

F = features_lib.Feature
CONFIG = features_lib.FeatureConfig(item_features=(
    F('item_id', 'id', 'string'), F('title', 'text', 'string'),
    F('year', 'numeric', 'float'), F('genres', 'multi_valued', 'string')),
    query_features=(F('user_id', 'id', 'string'),))
# Normalized MI in tower order (item_id, title, year, genres) is
# [[1, .65, .5, .4], [.65, 1, .05, .6], [.5, .05, 1, .1], [.4, .6, .1, 1]].
MI_JSON = {'features': ['genres', 'year', 'title', 'item_id'],
           'mi': [[1.0, 0.2, 0.3, 1.0], [0.2, 2.0, 0.4, 2.0],
                  [0.3, 0.4, 3.0, 3.0], [1.0, 2.0, 3.0, 7.0]],
           'normalized_mi': [[1.0, 0.1, 0.6, 0.4], [0.1, 1.0, 0.05, 0.5],
                             [0.6, 0.05, 1.0, 0.65], [0.4, 0.5, 0.65, 1.0]]}


def _items():
  return {'item_id': tf.constant([0, 1], tf.int64),
          'title': tf.ragged.constant([[1, 2], [3]], dtype=tf.int64),
          'year': tf.constant([1, 2], tf.int64),
          'genres': tf.ragged.constant([[1], [2, 3]], dtype=tf.int64)}


def test_id_apart_prepends_the_id_masked_in_both_views():
  m1, m2 = augmentation.id_apart(tf.constant([True, False, False]),
                                 tf.constant([False, True, True]))
  np.testing.assert_array_equal(m1.numpy(), [True, True, False, False])
  np.testing.assert_array_equal(m2.numpy(), [True, False, True, True])


def test_cfm_partners_are_chosen_among_the_content_features():
  task = ssl.ItemContrastiveTask.from_config(
      CONFIG, config_lib.TrainingConfig(ssl='cfm', ssl_item_id='masked'),
      MI_JSON)
  # Content features title, year, genres: k = 3, one partner. Normalized MI
  # title~genres .6, title~year .05, year~genres .1: title -> genres,
  # year -> genres, genres -> title (the id, .65 with title, is not a candidate).
  np.testing.assert_array_equal(task.cfm_table, [[True, False, True],
                                                 [False, True, True],
                                                 [True, False, True]])


@pytest.mark.parametrize('variant', ['rfm', 'cfm', 'dropout'])
def test_every_view_masks_the_id_and_the_content_split_is_complementary(variant):
  task = ssl.ItemContrastiveTask.from_config(
      CONFIG, config_lib.TrainingConfig(ssl=variant, ssl_item_id='masked'),
      MI_JSON)
  for _ in range(20):
    v1, v2 = augmentation.two_views(_items(), CONFIG, variant, 0.0,
                                    task.generator, task.cfm_table,
                                    item_id_masked=True)
    m1, m2 = v1.mask.numpy(), v2.mask.numpy()
    assert m1[0] and m2[0]
    if variant == 'dropout':
      np.testing.assert_array_equal(m1, [True, False, False, False])
    else:
      np.testing.assert_array_equal(m1[1:], ~m2[1:])
      assert m1[1:].any() and m2[1:].any()


def test_cfm_table_over_all_features_is_rejected_when_the_id_is_apart():
  with pytest.raises(ValueError, match='without the item id'):
    augmentation.two_views(_items(), CONFIG, 'cfm', 0.0, [1, 2],
                           np.eye(4, dtype=bool), item_id_masked=True)

"""preprocessing_fns on real TF Transform runs over a few hand-made rows."""
import collections

import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features as F
from models import preprocessing
from tests.support import tft as test_tft
from models.config import TransformConfig

# The hand-made rows are tests/support/tft.py's HAND_ITEMS (a-d) and
# HAND_EVENTS (3 events), transformed with HAND_NUMERIC_BUCKETS in the
# session's one Beam pipeline of TFT jobs (the fixture `hand_transformed`,
# tests/support/fixtures.py).
TRANSFORM = TransformConfig(numeric_buckets=test_tft.HAND_NUMERIC_BUCKETS)


def _rows(out_dir, tft_output):
  spec = tft_output.transformed_feature_spec()
  ds = tf.data.TFRecordDataset(tf.io.gfile.glob(
      test_tft.transformed_files(out_dir)[0]), compression_type='GZIP')
  return [tf.io.parse_single_example(x, spec) for x in ds]


@pytest.fixture(scope='module')
def transformed(hand_transformed):
  items_dir = str(hand_transformed / 'items')
  events_dir = str(hand_transformed / 'interactions')
  items_tft = tft.TFTransformOutput(items_dir)
  events_tft = tft.TFTransformOutput(events_dir)
  return (items_tft, _rows(items_dir, items_tft),
          events_tft, _rows(events_dir, events_tft))


def _vocab(tft_output, name):
  return [v.decode() for v in tft_output.vocabulary_by_name(name)]


def test_item_key_passes_through(transformed):
  _, items, _, events = transformed
  assert [r[preprocessing.ITEM_KEY].numpy().decode() for r in items] == list('abcd')
  assert [r[preprocessing.ITEM_KEY].numpy().decode() for r in events] == list('abc')


def test_text_is_lower_cased_word_tokens(transformed):
  items_tft, items, _, _ = transformed
  vocab = _vocab(items_tft, 'title')
  assert sorted(vocab) == ['heat', 'soldiers', 'story', 'toy']
  tokens = [vocab[i] for i in tf.sparse.to_dense(items[1]['title']).numpy()]
  assert tokens == ['toy', 'soldiers']


def test_multi_valued_split_and_missing_is_empty(transformed):
  items_tft, items, _, _ = transformed
  vocab = _vocab(items_tft, 'genres')
  assert sorted(vocab) == ['Action', 'Animation', 'Comedy']
  assert [vocab[i] for i in items[3]['genres'].values.numpy()] == ['Comedy', 'Action']
  assert items[2]['genres'].values.numpy().size == 0


def test_numeric_buckets_and_missing_bucket(transformed):
  items_tft, items, _, _ = transformed
  buckets = [int(tf.reshape(r['year'], [-1])[0]) for r in items]
  # 2 quantile buckets over {1995, 1991, 1960}: the oldest is below the median.
  assert buckets[2] == TRANSFORM.numeric_buckets  # missing year
  assert buckets[3] == 0 and buckets[0] == 1
  # 2 buckets + the missing-value bucket, read from the transformed schema.
  assert preprocessing.num_ids(F.Feature('year', 'numeric', 'float'),
                               items_tft) == 3


def test_id_vocabulary_covers_every_item_plus_oov(transformed):
  items_tft, items, _, _ = transformed
  ids = sorted(int(tf.reshape(r['item_id'], [-1])[0]) for r in items)
  assert ids == [0, 1, 2, 3]
  assert preprocessing.num_ids(F.Feature('item_id', 'id', 'string'),
                               items_tft) == 5


def test_every_value_is_in_the_vocabulary_even_of_one_item(tiny_transformed):
  items_tft = tiny_transformed['item_tft']
  items_per_word = collections.Counter(
      word for row in tiny_transformed['items']
      for word in set(row['title'].lower().split()))
  assert min(items_per_word.values()) == 1  # "Movie <i>": each i on one item
  assert sorted(_vocab(items_tft, 'title')) == sorted(items_per_word)
  # Every item id too (+ the OOV bucket).
  assert preprocessing.num_ids(F.Feature('item_id', 'id', 'string'),
                               items_tft) == len(tiny_transformed['items']) + 1


def test_history_keeps_raw_item_ids_in_order(transformed):
  _, _, _, events = transformed
  history = [[v.decode() for v in r['history'].values.numpy()] for r in events]
  assert history == [[], ['a'], ['b', 'a']]

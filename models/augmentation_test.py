"""Tests for models/augmentation.py (masking and value dropout)."""
import collections
import itertools

import numpy as np
import pytest
import tensorflow as tf

from models import augmentation
from models import features as features_lib

F = features_lib.Feature
CONFIG = features_lib.FeatureConfig(item_features=(
    F('item_id', 'id', 'string'), F('title', 'text', 'string'),
    F('year', 'numeric', 'float'), F('genres', 'multi_valued', 'string')),
    query_features=(F('user_id', 'id', 'string'),))


# ----------------------------------------------------------------- RFM


@pytest.mark.parametrize('k', [2, 3, 4, 7])
def test_rfm_masks_are_complementary_halves(k):
  for step in range(20):
    m1, m2 = augmentation.complementary_masks_rfm(k, [3, step])
    m1, m2 = m1.numpy(), m2.numpy()
    assert m1.shape == m2.shape == (k,)
    assert m1.dtype == bool
    np.testing.assert_array_equal(m1 ^ m2, np.ones(k, bool))  # exactly one view
    assert m1.sum() == k // 2


def test_rfm_draws_every_split_about_equally_often():
  # k = 4: C(4, 2) = 6 possible view-1 sets; 1200 draws, 200 expected each.
  counts = collections.Counter(
      tuple(augmentation.complementary_masks_rfm(4, [7, s])[0].numpy())
      for s in range(1200))
  assert len(counts) == 6
  chi2 = sum((c - 200) ** 2 / 200 for c in counts.values())
  assert chi2 < 20.5  # chi-square, 5 dof, p = 0.001


def test_rfm_with_generator_inside_tf_function_varies_per_call():
  gen = tf.random.Generator.from_seed(1)

  @tf.function
  def draw():
    return augmentation.complementary_masks_rfm(6, gen)

  masks = {tuple(draw()[0].numpy()) for _ in range(30)}
  assert len(masks) > 5


def test_rfm_rejects_too_few_features():
  with pytest.raises(ValueError, match='at least 2 item features'):
    augmentation.complementary_masks_rfm(1, [0, 0])
  with pytest.raises(ValueError, match='num_masked'):
    augmentation.complementary_masks_rfm(4, [0, 0], num_masked=4)


# ----------------------------------------------------------------- CFM

# Hand-made MI over 6 features: {0, 1, 2} are one correlated group, {3, 4} a
# second, 5 is independent of everything. Feature 0 has a tie: 1 and 2 both 0.5.
MI6 = np.array([
    [9.0, 0.5, 0.5, 0.1, 0.0, 0.0],
    [0.5, 9.0, 0.8, 0.0, 0.2, 0.0],
    [0.5, 0.8, 9.0, 0.0, 0.0, 0.3],
    [0.1, 0.0, 0.0, 9.0, 0.7, 0.0],
    [0.0, 0.2, 0.0, 0.7, 9.0, 0.0],
    [0.0, 0.0, 0.3, 0.0, 0.0, 9.0],
])


@pytest.mark.parametrize('seed_feature,expected', [
    (0, {0, 1, 2}),   # partners 1, 2 (0.5 each), then 3 (0.1)
    (1, {1, 2, 0}),   # 2 (0.8), 0 (0.5)
    (2, {2, 1, 0}),   # 1 (0.8), 0 (0.5)
    (3, {3, 4, 0}),   # 4 (0.7), 0 (0.1)
    (4, {4, 3, 1}),   # 3 (0.7), 1 (0.2)
    (5, {5, 2, 0}),   # 2 (0.3), then a 5-way tie at 0 -> lowest index 0
])
def test_cfm_mask_is_seed_plus_top_half_by_mi(seed_feature, expected):
  # k = 6: the seed and its floor(6/2) = 3 top partners, 4 features masked in
  # view 1; `expected` lists the seed and the partners whose rank is certain.
  mask = augmentation.cfm_mask(MI6, seed_feature)
  partners = sorted(
      (j for j in range(6) if j != seed_feature),
      key=lambda j: (-MI6[seed_feature, j], j))[:3]
  assert set(np.flatnonzero(mask)) == {seed_feature, *partners}
  assert expected <= set(np.flatnonzero(mask))
  assert mask.sum() == 4


def test_cfm_tie_break_is_by_feature_order():
  # Seed 0 with all partners tied: the earliest features win.
  mi = np.ones((5, 5))
  np.testing.assert_array_equal(
      augmentation.cfm_mask(mi, 3), [True, True, False, True, False])


def test_cfm_mask_accepts_tensors_and_ignores_diagonal_and_nan():
  mi = np.array([[100.0, 0.1, 0.9, np.nan],
                 [0.1, 100.0, 0.2, 0.3],
                 [0.9, 0.2, 100.0, 0.4],
                 [np.nan, 0.3, 0.4, 100.0]])
  # k = 4: seed 0 + 2 partners: 2 (0.9), 1 (0.1); NaN for 3 counts as 0.
  np.testing.assert_array_equal(
      augmentation.cfm_mask(tf.constant(mi), 0), [True, True, True, False])


def test_cfm_with_two_features_masks_one_per_view():
  # floor(2/2) = 1 partner would mask both features in view 1 and none in
  # view 2; capped so that each view masks one.
  np.testing.assert_array_equal(
      augmentation.cfm_mask(np.eye(2), 1), [False, True])


def test_cfm_rejects_bad_input():
  with pytest.raises(ValueError, match='square'):
    augmentation.cfm_mask(np.ones((3, 4)), 0)
  with pytest.raises(ValueError, match='seed_feature'):
    augmentation.cfm_mask(np.ones((3, 3)), 3)
  with pytest.raises(ValueError, match='at least 2'):
    augmentation.cfm_mask(np.ones((1, 1)), 0)


def test_sample_cfm_masks_draws_seed_uniformly_in_tf_function():
  table = augmentation.cfm_mask_table(MI6)
  for s in range(6):
    np.testing.assert_array_equal(table[s], augmentation.cfm_mask(MI6, s))

  @tf.function
  def draw(step):
    return augmentation.sample_cfm_masks(table, tf.stack([tf.constant(5, tf.int64), step]))

  rows = {tuple(r): s for s, r in enumerate(table)}
  counts = collections.Counter()
  for step in range(1200):
    m1, m2 = draw(tf.constant(step, tf.int64))
    m1, m2 = tuple(m1.numpy()), m2.numpy()
    np.testing.assert_array_equal(np.array(m1) ^ m2, np.ones(6, bool))
    counts[rows[m1]] += 1  # every draw is one of the table's rows
  # Seeds 1 and 2 give the same set {0, 1, 2, 3}: count the 5 distinct rows.
  expected = collections.Counter()
  for s in range(6):
    expected[rows[tuple(table[s])]] += 200
  chi2 = sum((counts[r] - e) ** 2 / e for r, e in expected.items())
  assert chi2 < 18.5  # chi-square, 4 dof, p = 0.001


def test_mi_matrix_reorders_and_zero_fills_missing_features():
  mi_json = {'features': ['genres', 'year', 'title'],
             'mi': [[1.0, 0.2, 0.3], [0.2, 2.0, 0.4], [0.3, 0.4, 3.0]],
             'normalized_mi': [[1.0, 0.1, 0.15], [0.1, 1.0, 0.05],
                               [0.15, 0.05, 1.0]]}
  got = augmentation.mi_matrix(mi_json, CONFIG.item_feature_names)
  # FeatureConfig order: item_id (absent -> 0), title, year, genres; the
  # normalized matrix, not the raw one.
  np.testing.assert_allclose(got, [[0, 0, 0, 0], [0, 1.0, 0.05, 0.15],
                                   [0, 0.05, 1.0, 0.1], [0, 0.15, 0.1, 1.0]])
  with pytest.raises(ValueError, match="'normalized_mi'"):
    augmentation.mi_matrix({'features': ['a'], 'mi': [[0]]}, ['a'])
  with pytest.raises(ValueError, match='shape'):
    augmentation.mi_matrix({'features': ['a', 'b'], 'normalized_mi': [[0]]},
                           ['a', 'b'])


# ----------------------------------------------------------------- dropout


def _ragged(rows):
  return tf.ragged.constant(rows, dtype=tf.int64, row_splits_dtype=tf.int64)


def test_drop_values_keeps_structure_and_order():
  rt = _ragged([[1, 2, 3, 4, 5], [], [6], [7, 8]])
  out = augmentation.drop_values(rt, 0.5, [1, 2])
  assert isinstance(out, tf.RaggedTensor)
  assert out.dtype == tf.int64 and out.row_splits.dtype == tf.int64
  assert out.nrows() == 4
  for before, after in zip(rt.to_list(), out.to_list()):
    it = iter(before)
    assert all(v in it for v in after)  # a subsequence: kept values, in order
    assert bool(after) == bool(before)  # keep_one: non-empty stays non-empty


def test_drop_values_keeps_one_minus_rate_over_many_draws():
  # Without keep_one every value is an independent Bernoulli(1 - rate) keep.
  rate, n = 0.3, (5 * 8 + 10 * 2 + 10) * 500
  rt = _ragged([[1, 2, 3, 4, 5, 6, 7, 8]] * 5 + [[9, 10]] * 10 + [[11]] * 10)
  # One traced function for the 500 seeds (graph and eager draws are equal).
  size = tf.function(lambda s: tf.size(augmentation.drop_values(
      rt, rate, tf.stack([tf.constant(0, tf.int64), s]),
      keep_one=False).flat_values))
  kept = sum(int(size(tf.constant(s, tf.int64))) for s in range(500))
  sd = np.sqrt(n * rate * (1 - rate))
  assert abs(kept - n * (1 - rate)) < 5 * sd


def test_drop_values_keep_one_matches_expected_count():
  # keep_one: a row of length L keeps L(1-r) + r^L values on average (one value
  # rescued exactly when all L would be dropped, probability r^L).
  rate, draws = 0.5, 2000
  rt = _ragged([[1], [2, 3], [4, 5, 6]])
  lengths = np.zeros((draws, 3))
  row_lengths = tf.function(lambda s: augmentation.drop_values(
      rt, rate, tf.stack([tf.constant(9, tf.int64), s])).row_lengths())
  for s in range(draws):
    lengths[s] = row_lengths(tf.constant(s, tf.int64)).numpy()
  assert lengths.min() >= 1
  for i, length in enumerate((1, 2, 3)):
    expected = length * (1 - rate) + rate ** length
    assert abs(lengths[:, i].mean() - expected) < 5 * lengths[:, i].std() / np.sqrt(draws) + 1e-9


def test_drop_values_equals_ragged_boolean_mask_of_its_draws():
  # Same keep decisions as the draws, computed the plain way.
  rt = _ragged([[1, 2, 3], [], [4], [5, 6, 7, 8], []])
  seed = tf.constant([5, 6], tf.int64)
  draws = tf.random.stateless_uniform([8], seed=seed)
  keep = (draws >= 0.4).numpy()
  expected = tf.ragged.boolean_mask(rt, rt.with_flat_values(keep)).to_list()
  got = augmentation.drop_values(rt, 0.4, seed, keep_one=False)
  assert got.to_list() == expected
  assert got.nrows() == 5


def test_drop_values_rate_zero_and_bad_rate():
  rt = _ragged([[1, 2], []])
  assert augmentation.drop_values(rt, 0.0, [0, 0]) is rt
  with pytest.raises(ValueError, match='rate'):
    augmentation.drop_values(rt, 1.0, [0, 0])


def test_drop_values_in_tf_function_with_generator():
  gen = tf.random.Generator.from_seed(3)
  rt = _ragged([[1, 2, 3, 4, 5, 6]] * 4)

  @tf.function
  def drop(x):
    return augmentation.drop_values(x, 0.5, gen)

  a, b = drop(rt), drop(rt)
  assert a.to_list() != b.to_list()  # the generator advances between calls


# ----------------------------------------------------------------- views


def _batch():
  return {'item_id': tf.constant([0, 1, 2], tf.int64),
          'title': _ragged([[1, 2, 3, 4, 5, 6, 7, 8]] * 3),
          'year': tf.constant([3, 4, 5], tf.int64),
          'genres': _ragged([[1, 2, 3, 4, 5, 6], [7], []])}


def test_augment_drops_only_list_features_and_passes_mask():
  batch = _batch()
  mask = tf.constant([True, False, False, True])
  view = augmentation.augment(batch, CONFIG, mask, 0.5, [4, 4])
  assert view.mask is mask
  assert view.features['item_id'] is batch['item_id']
  assert view.features['year'] is batch['year']
  assert view.features['title'].to_list() != batch['title'].to_list()
  assert view.features['genres'].row_lengths().numpy()[1:].tolist() == [1, 0]
  same = augmentation.augment(batch, CONFIG, None, 0.0, [4, 4])
  assert same.features['title'] is batch['title']


def test_augment_rejects_dense_list_feature():
  batch = dict(_batch(), genres=tf.constant([1, 2, 3], tf.int64))
  with pytest.raises(ValueError, match="'genres' is multi_valued"):
    augmentation.augment(batch, CONFIG, None, 0.3, [0, 0])


def test_dropout_targets_are_the_list_features_and_must_be_ragged():
  batch = _batch()
  assert augmentation.dropout_targets(batch, CONFIG, 0.3) == ['title',
                                                              'genres']
  # A feature the batch does not hold is no target; rate 0 has none.
  assert augmentation.dropout_targets(
      {'item_id': batch['item_id'], 'genres': batch['genres']}, CONFIG,
      0.3) == ['genres']
  dense = dict(batch, genres=tf.constant([1, 2, 3], tf.int64))
  assert augmentation.dropout_targets(dense, CONFIG, 0.0) == []
  with pytest.raises(ValueError, match=r"^item feature 'genres' is "
                     r'multi_valued: expected a tf.RaggedTensor, got '):
    augmentation.dropout_targets(dense, CONFIG, 0.3)


@pytest.mark.parametrize('ssl', ['dropout', 'rfm', 'cfm'])
def test_two_views(ssl):
  table = augmentation.cfm_mask_table(MI6[:4, :4])
  v1, v2 = augmentation.two_views(_batch(), CONFIG, ssl, 0.5, [1, 1], table)
  # Dropout is drawn independently for the two views.
  assert v1.features['title'].to_list() != v2.features['title'].to_list()
  if ssl == 'dropout':
    assert v1.mask is None and v2.mask is None
  else:
    m1, m2 = v1.mask.numpy(), v2.mask.numpy()
    np.testing.assert_array_equal(m1 ^ m2, np.ones(4, bool))
    if ssl == 'cfm':
      assert any((m1 == row).all() for row in table)


def test_two_views_errors():
  with pytest.raises(ValueError, match='CFM mask table'):
    augmentation.two_views(_batch(), CONFIG, 'cfm', 0.3, [0, 0])
  with pytest.raises(ValueError, match='shape'):
    augmentation.two_views(_batch(), CONFIG, 'cfm', 0.3, [0, 0],
                           augmentation.cfm_mask_table(MI6))
  with pytest.raises(ValueError, match="got 'none'"):
    augmentation.two_views(_batch(), CONFIG, 'none', 0.3, [0, 0])


def test_every_feature_masked_in_exactly_one_view_over_many_batches():
  table = augmentation.cfm_mask_table(MI6)
  config6 = features_lib.FeatureConfig(
      item_features=tuple(F(f'f{i}', 'categorical', 'string') for i in range(6)),
      query_features=())
  batch = {f'f{i}': tf.constant([0, 1], tf.int64) for i in range(6)}
  for ssl, step in itertools.product(['rfm', 'cfm'], range(25)):
    v1, v2 = augmentation.two_views(batch, config6, ssl, 0.3, [2, step], table)
    total = v1.mask.numpy().astype(int) + v2.mask.numpy().astype(int)
    np.testing.assert_array_equal(total, np.ones(6, int))

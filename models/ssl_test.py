"""Tests for models/ssl.py: InfoNCE, corpus sampling, shared gradients."""
import numpy as np
import pytest
import tensorflow as tf

from models import augmentation
from models import config as config_lib
from models import data
from models import features as features_lib
from models import ssl
from models import towers

F = features_lib.Feature
CONFIG = features_lib.FeatureConfig(item_features=(
    F('item_id', 'id', 'string'), F('title', 'text', 'string'),
    F('year', 'numeric', 'float'), F('genres', 'multi_valued', 'string')),
    query_features=(F('user_id', 'id', 'string'),))


# ----------------------------------------------------------------- InfoNCE


def test_info_nce_hand_computed():
  # z1 = [[1, 0], [0, 1]], z2 = [[1, 0], [1, 1]] -> normalized z2_1 = [a, a],
  # a = 1/sqrt(2) = 0.707107. temperature 1, cosine logits:
  #   row 0: [1, a]      -log(e^1 / (e^1 + e^a)) = log(1 + e^(a-1))
  #                      = log(1 + e^-0.292893) = log(1.746116) = 0.557386
  #   row 1: [0, a]      -log(e^a / (e^0 + e^a)) = log(1 + e^-a)
  #                      = log(1 + 0.493069) = 0.400834
  #   mean = (0.557386 + 0.400834) / 2 = 0.479110
  z1 = tf.constant([[1.0, 0.0], [0.0, 1.0]])
  z2 = tf.constant([[1.0, 0.0], [1.0, 1.0]])
  assert float(ssl.info_nce(z1, z2, 1.0)) == pytest.approx(0.479110, abs=1e-5)
  # Cosine: scaling the embeddings changes nothing.
  assert float(ssl.info_nce(3 * z1, 0.5 * z2, 1.0)) == pytest.approx(
      0.479110, abs=1e-5)
  # Temperature 0.5 doubles every logit:
  #   row 0: log(1 + e^(2a-2)) = log(1 + e^-0.585786) = log(1.556660) = 0.442540
  #   row 1: log(1 + e^-2a)    = log(1 + e^-1.414214) = log(1.243117) = 0.217624
  #   mean = 0.330082
  assert float(ssl.info_nce(z1, z2, 0.5)) == pytest.approx(0.330082, abs=1e-5)


def test_info_nce_is_a_mean_not_a_sum():
  # z1 = z2 = I_2, t = 1: logits [[1, 0], [0, 1]], each row
  # log(1 + e^-1) = 0.313262; the mean is 0.313262 (a sum would be 0.626523).
  z = tf.constant([[1.0, 0.0], [0.0, 1.0]])
  assert float(ssl.info_nce(z, z, 1.0)) == pytest.approx(0.313262, abs=1e-5)


def test_info_nce_removes_duplicate_items_from_negatives():
  # Items [5, 5, 7], both views z = [[1, 0], [1, 0], [0, 1]], t = 1.
  # Without ids, row 0 sees its own duplicate as a negative: logits [1, 1, 0],
  #   loss log((e + e + 1) / e) = log(2 + e^-1) = 0.861995.
  # With ids, row 0 and row 1 drop each other: logits [1, 0] -> log(1 + e^-1)
  #   = 0.313262 each; row 2: logits [0, 0, 1] -> log(1 + 2 e^-1) = 0.551445.
  #   mean = (2 * 0.313262 + 0.551445) / 3 = 0.392656
  z = tf.constant([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
  ids = tf.constant([5, 5, 7], tf.int64)
  assert float(ssl.info_nce(z, z, 1.0, ids)) == pytest.approx(0.392656, abs=1e-5)
  no_ids = float(ssl.info_nce(z, z, 1.0))
  # row 2 is unchanged, rows 0 and 1 each 0.861995.
  assert no_ids == pytest.approx((2 * 0.861995 + 0.551445) / 3, abs=1e-5)


def test_info_nce_of_unit_vectors_needs_no_normalization():
  # normalized=True skips the normalization (the towers' outputs are unit
  # vectors): the loss and the gradients reaching the vectors before their
  # normalization (the tower's parameters) stay those of normalized=False.
  rng = np.random.default_rng(4)
  x1 = tf.constant(rng.normal(size=(6, 3)), tf.float32)
  x2 = tf.constant(rng.normal(size=(6, 3)), tf.float32)
  ids = tf.constant([0, 1, 1, 2, 3, 4], tf.int64)
  results = []
  for normalized in (False, True):
    with tf.GradientTape() as tape:
      tape.watch([x1, x2])
      loss = ssl.info_nce(tf.math.l2_normalize(x1, axis=1),
                          tf.math.l2_normalize(x2, axis=1), 0.2, ids,
                          normalized=normalized)
    results.append([loss] + tape.gradient(loss, [x1, x2]))
  for got, want in zip(results[1], results[0]):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_info_nce_rejects_bad_temperature():
  with pytest.raises(ValueError, match='temperature'):
    ssl.info_nce(tf.ones([2, 2]), tf.ones([2, 2]), 0.0)


# ----------------------------------------------------------------- sampling


def test_uniform_item_sampler_shapes_range_and_reproducibility():
  ds = ssl.uniform_item_sampler(7, 5, seed=3)
  batches = [b.numpy() for b in ds.take(4)]
  assert all(b.shape == (5,) and b.dtype == np.int64 for b in batches)
  assert all(((b >= 0) & (b < 7)).all() for b in batches)
  again = [b.numpy() for b in ssl.uniform_item_sampler(7, 5, seed=3).take(4)]
  np.testing.assert_array_equal(batches, again)
  other = [b.numpy() for b in ssl.uniform_item_sampler(7, 5, seed=4).take(4)]
  assert not np.array_equal(batches, other)
  with pytest.raises(ValueError, match='empty'):
    ssl.uniform_item_sampler(0, 5, seed=0)


def _chi_square_uniform(counts):
  expected = counts.sum() / len(counts)
  return float(((counts - expected) ** 2 / expected).sum())


def test_ssl_items_are_uniform_even_when_the_log_is_skewed():
  num_items, batch, steps = 50, 64, 200
  rng = np.random.default_rng(0)
  # A Zipf-like log: item i is drawn with probability proportional to 1/(i+1)^1.5.
  p = 1.0 / np.arange(1, num_items + 1) ** 1.5
  log_items = rng.choice(num_items, size=batch * steps, p=p / p.sum())
  main = tf.data.Dataset.from_tensor_slices(
      {'item_id': log_items.astype(np.int64)}).batch(batch)
  # The Trainer's in-memory corpus: row r has id r+100.
  corpus = data.ItemCorpus(np.array([f'i{r}' for r in range(num_items)]), {
      'item_id': tf.range(100, 100 + num_items, dtype=tf.int64),
      'genres': tf.ragged.constant([[r % 3] * (r % 4) for r in range(num_items)],
                                   dtype=tf.int64),
  })
  zipped = tf.data.Dataset.zip(
      (main, ssl.uniform_item_sampler(num_items, batch, 1)))

  main_counts = np.zeros(num_items)
  ssl_counts = np.zeros(num_items)
  for main_batch, idx in zipped:
    items = corpus.gather(idx)
    np.add.at(main_counts, main_batch['item_id'].numpy(), 1)
    np.testing.assert_array_equal(items['item_id'].numpy(), idx.numpy() + 100)
    assert items['genres'].row_lengths().numpy().tolist() == [
        i % 4 for i in idx.numpy()]
    np.add.at(ssl_counts, items['item_id'].numpy() - 100, 1)
  assert ssl_counts.sum() == batch * steps
  # chi-square with 49 dof: 85.35 is the p = 0.001 critical value.
  assert _chi_square_uniform(ssl_counts) < 85.35
  # The same bound rejects the log itself, so the check can tell them apart.
  assert _chi_square_uniform(main_counts) > 85.35 * 10


# ------------------------------------------------- the real item tower


def _tower():
  sizes = {'item_id': 8, 'title': 10, 'year': 5, 'genres': 6}
  return towers.ItemTower(CONFIG.item_feature_names, sizes, embedding_dim=4,
                          layer_widths=(8, 3))


def _items():
  return {'item_id': tf.constant([0, 1, 2, 3], tf.int64),
          'title': tf.ragged.constant([[1, 2, 3], [4], [5, 6], []], dtype=tf.int64),
          'year': tf.constant([1, 2, 3, 1], tf.int64),
          'genres': tf.ragged.constant([[1, 2], [3], [], [1]], dtype=tf.int64)}


def test_masked_feature_yields_exactly_its_default_embedding():
  tower = _tower()
  mask = tf.constant([True, False, True, False])
  masked = tower.embed_features(_items(), mask)
  plain = tower.embed_features(_items())
  for i in range(4):
    if mask[i]:
      np.testing.assert_array_equal(
          masked[i].numpy(),
          np.tile(tower.default_embeddings[i].numpy(), (4, 1)))
    else:
      np.testing.assert_array_equal(masked[i].numpy(), plain[i].numpy())


def test_per_row_masks_equal_one_mask_per_call():
  tower = _tower()
  mask1 = tf.constant([True, False, True, False])
  mask2 = tf.logical_not(mask1)
  rows = tf.concat([tf.tile(mask1[None], [4, 1]), tf.tile(mask2[None], [4, 1])],
                   axis=0)
  items = _items()
  doubled = {n: tf.concat([v, v], axis=0) for n, v in items.items()}
  np.testing.assert_allclose(
      tower(doubled, mask=rows).numpy(),
      np.concatenate([tower(items, mask=mask1).numpy(),
                      tower(items, mask=mask2).numpy()]), atol=1e-6)


@pytest.mark.parametrize('variant', ['dropout', 'rfm', 'cfm'])
def test_one_batched_tower_call_gives_the_two_calls_loss(variant):
  tower = _tower()
  items = _items()
  mi = np.array([[1.0, 0.1, 0.2, 0.3], [0.1, 1.0, 0.4, 0.5],
                 [0.2, 0.4, 1.0, 0.6], [0.3, 0.5, 0.6, 1.0]])
  table = augmentation.cfm_mask_table(mi)
  task = ssl.ItemContrastiveTask(CONFIG, variant, 0.1, 0.3, table, seed=7)
  fused = float(task(tower, items))
  # The same draws (a generator of the same seed), one tower call per view.
  v1, v2 = augmentation.two_views(items, CONFIG, variant, 0.3,
                                  tf.random.Generator.from_seed(7), table)
  separate = float(ssl.info_nce(tower(v1.features, mask=v1.mask),
                                tower(v2.features, mask=v2.mask), 0.1))
  assert fused == pytest.approx(separate, rel=1e-5)


@pytest.mark.parametrize('variant', ['dropout', 'rfm', 'cfm'])
@pytest.mark.parametrize('item_id_masked', [False, True])
def test_the_fused_views_give_the_unfused_loss_and_item_embeddings(
    variant, item_id_masked):
  tower = _tower()
  items = _items()
  others = {'item_id': tf.constant([5, 1], tf.int64),
            'title': tf.ragged.constant([[7], []], dtype=tf.int64),
            'year': tf.constant([0, 4], tf.int64),
            'genres': tf.ragged.constant([[4, 5], [2]], dtype=tf.int64)}
  mi = np.array([[1.0, 0.1, 0.2, 0.3], [0.1, 1.0, 0.4, 0.5],
                 [0.2, 0.4, 1.0, 0.6], [0.3, 0.5, 0.6, 1.0]])
  table = augmentation.cfm_mask_table(mi[1:, 1:] if item_id_masked else mi)
  task = ssl.ItemContrastiveTask(CONFIG, variant, 0.1, 0.5, table, seed=3,
                                 item_id_masked=item_id_masked)
  ids = tf.constant([0, 1, 2, 0], tf.int64)
  for _ in range(3):  # new masks and dropout each call
    # The unfused path, from a generator in the same state: each view through
    # the tower on its own.
    generator = tf.random.Generator.from_state(task.generator.state.numpy(),
                                               task.generator.algorithm)
    v1, v2 = augmentation.two_views(items, CONFIG, variant, 0.5, generator,
                                    table, item_id_masked)
    expected = float(ssl.info_nce(tower(v1.features, mask=v1.mask),
                                  tower(v2.features, mask=v2.mask), 0.1, ids))
    loss, embedded = task.loss_and_embed(tower, items, ids, others)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(embedded.numpy(), tower(others).numpy(),
                               atol=1e-6)


def test_a_dense_list_feature_is_named():
  task = ssl.ItemContrastiveTask(CONFIG, 'rfm', 0.1, 0.3)
  items = dict(_items(), genres=tf.constant([1, 2, 3, 1], tf.int64))
  with pytest.raises(ValueError, match="'genres' is multi_valued"):
    task(_tower(), items)


def _nonzero_grads(tape, loss, variables):
  grads = tape.gradient(loss, variables)
  return {v.name for v, g in zip(variables, grads)
          if g is not None and float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0}


@pytest.mark.parametrize('variant', ['rfm', 'cfm'])
def test_ssl_loss_reaches_the_variables_the_main_loss_uses(variant):
  tower = _tower()
  query = tf.keras.layers.Embedding(8, 3)
  items = _items()
  users = tf.constant([0, 1, 2, 3], tf.int64)
  tower(items)
  query(users)
  variables = tower.trainable_variables

  with tf.GradientTape(persistent=True) as tape:
    main_loss = ssl.info_nce(query(users), tower(items), 0.1)  # in-batch softmax
    mi = np.array([[1.0, 0.1, 0.2, 0.3], [0.1, 1.0, 0.4, 0.5],
                   [0.2, 0.4, 1.0, 0.6], [0.3, 0.5, 0.6, 1.0]])
    v1, v2 = augmentation.two_views(items, CONFIG, variant, 0.3, [0, 1],
                                    augmentation.cfm_mask_table(mi))
    ssl_loss = ssl.info_nce(tower(v1.features, v1.mask),
                            tower(v2.features, v2.mask), 0.1)
  main_vars = _nonzero_grads(tape, main_loss, variables)
  ssl_vars = _nonzero_grads(tape, ssl_loss, variables)
  # The main task uses every embedding table and the MLP, not the defaults.
  assert main_vars == {v.name for v in variables if 'default' not in v.name}
  # Complementary masks: each table is unmasked in one view, so the SSL loss
  # reaches every table, the MLP kernel and bias, and the default embeddings.
  assert main_vars <= ssl_vars
  assert any('default' in name for name in ssl_vars)
  assert any('kernel' in name for name in ssl_vars)
  assert len(main_vars) == 4 + 2 * 2  # 4 tables, 2 Dense layers x (kernel, bias)


MI_JSON = {'features': ['genres', 'year', 'title', 'item_id'],
           'mi': [[1.0, 0.2, 0.3, 1.0], [0.2, 2.0, 0.4, 2.0],
                  [0.3, 0.4, 3.0, 3.0], [1.0, 2.0, 3.0, 7.0]],
           'normalized_mi': [[1.0, 0.1, 0.6, 0.4], [0.1, 1.0, 0.05, 0.5],
                             [0.6, 0.05, 1.0, 0.65], [0.4, 0.5, 0.65, 1.0]]}


def test_task_from_config_builds_the_cfm_table_from_normalized_mi():
  table = ssl.ItemContrastiveTask.from_config(
      CONFIG, config_lib.TrainingConfig(ssl='cfm'), MI_JSON).cfm_table
  # Tower order: item_id, title, year, genres. Seed year (row 2), 2 partners.
  # Normalized MI: item_id (0.5), genres (0.1) ahead of title (0.05); raw MI
  # would have picked item_id (2.0, = H(year)) and title (0.4).
  np.testing.assert_array_equal(table[2], [True, False, True, True])
  assert ssl.ItemContrastiveTask.from_config(
      CONFIG, config_lib.TrainingConfig(ssl='none')) is None
  with pytest.raises(ValueError, match='MutualInformation artifact'):
    ssl.ItemContrastiveTask.from_config(
        CONFIG, config_lib.TrainingConfig(ssl='cfm'))


@pytest.mark.parametrize('variant', ['dropout', 'rfm', 'cfm'])
def test_task_trains_the_tower_inside_tf_function(variant):
  # Seeded: from some random initializations of this 4-item tower the loss
  # stays at chance for 60 steps (seen before and after the batched call).
  tf.keras.utils.set_random_seed(0)
  tower = _tower()
  task = ssl.ItemContrastiveTask.from_config(
      CONFIG, config_lib.TrainingConfig(ssl=variant, ssl_temperature=0.2),
      MI_JSON)
  items = _items()
  tower(items)
  opt = tf.keras.optimizers.Adagrad(0.5)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      loss = task(tower, items, tf.constant([0, 1, 2, 3], tf.int64))
    grads = tape.gradient(loss, tower.trainable_variables)
    opt.apply_gradients(zip(grads, tower.trainable_variables))
    return loss

  losses = [float(step()) for _ in range(60)]
  assert all(np.isfinite(losses))
  # 4 items, in-batch softmax: chance level is log(4) = 1.386; training on a
  # fixed batch must push the loss well below where it started.
  assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:5])

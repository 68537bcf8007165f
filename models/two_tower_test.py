"""The two-tower model's losses, their mix and its train step
(models/two_tower.py), on real TF Transform output of tiny data."""
import numpy as np
import pytest
import tensorflow as tf

from models import assembly
from models import data
from models import two_tower
from models.config import TrainingConfig

CONFIG = TrainingConfig(epochs=3, batch_size=16, feature_embedding_dim=8,
                        tower_layers=(16, 8), learning_rate=0.2,
                        seed=1, ssl='none', temperature=0.1,
                        query_encoder='pooled')
SSL_CONFIG = CONFIG.replace(ssl='cfm', ssl_weight=0.5, ssl_batch_size=12,
                            # build_model below gets no item counts.
                            logq_correction=False)
# Hand-made MI over the item features (the artifact may leave item_id out).
MI = {'features': ['title', 'year', 'genres'],
      'mi': [[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]],
      'normalized_mi': [[1.0, 0.2, 0.05], [0.2, 1.0, 0.15], [0.05, 0.15, 1.0]]}


@pytest.fixture(scope='module')
def setup(tiny_transformed):
  return tiny_transformed  # read-only


def test_logq_needs_counts():
  with pytest.raises(ValueError, match='logq'):
    two_tower.RetrievalModel(None, None, None,
                              CONFIG.replace(logq_correction=True))


def test_a_regularized_layers_loss_reaches_the_total(setup):
  fc = setup['fc']
  counts = data.count_items(setup['files'], setup['query_tft'],
                            setup['corpus'], 'train')  # logQ needs them
  model = assembly.build_model(fc, CONFIG, setup['query_tft'],
                               setup['item_tft'], setup['corpus'], counts)
  model.compile(optimizer=tf.keras.optimizers.SGD(0.1))
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], fc.query_features, setup['corpus'],
      batch_size=8, shuffle=False)))
  inputs = (batch, tf.zeros([0], tf.int64))
  plain = float(model.test_step(inputs)['total_loss'])
  # A layer the losses never call: its L2 penalty is its only path to the
  # total. kernel 2 x 1 of ones, l2(0.5): penalty = 0.5 * (1 + 1) = 1.0.
  model.regularized = tf.keras.layers.Dense(
      1, use_bias=False, kernel_initializer='ones',
      kernel_regularizer=tf.keras.regularizers.l2(0.5))
  model.regularized.build([None, 2])
  model.reset_metrics()
  assert float(model.test_step(inputs)['total_loss']) == pytest.approx(
      plain + 1.0, rel=1e-5)
  # And it is trained: SGD moves the kernel by lr * d(penalty)/dw = 0.1 * 1.0.
  model.train_step(inputs)
  np.testing.assert_allclose(model.regularized.kernel.numpy(), [[0.9], [0.9]],
                             rtol=1e-5)


def test_ssl_loss_gradients_reach_the_item_tower_the_main_loss_uses(setup):
  model = assembly.build_model(setup['fc'], SSL_CONFIG, setup['query_tft'],
                               setup['item_tft'], setup['corpus'],
                               mutual_information=MI)
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], setup['fc'].query_features,
      setup['corpus'], 16, shuffle=False)))
  rows = tf.constant([0, 3, 5, 7, 11, 13], tf.int64)
  with tf.GradientTape(persistent=True) as tape:
    losses = model.losses_for((batch, rows))
  variables = model.item_tower.trainable_variables

  def reached(loss):
    grads = tape.gradient(loss, variables)
    return {v.name for v, g in zip(variables, grads) if g is not None and
            float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(g)))) > 0}

  main_vars, ssl_vars = reached(losses['main_loss']), reached(losses['ssl_loss'])
  assert len(main_vars) == len(variables) - 1  # all but the default embeddings
  assert main_vars <= ssl_vars

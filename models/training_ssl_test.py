"""The SSL task in training: joint steps, the pretraining schedule, the SSL
row stream (models/training.py), on real TF Transform output of tiny data."""
import os

import numpy as np
import pytest
import tensorflow as tf

from models import data
from models import assembly
from models import training
from models import two_tower
from models import ssl as ssl_lib
from models.config import TrainingConfig

CONFIG = TrainingConfig(epochs=2, batch_size=16, feature_embedding_dim=8,
                        tower_layers=(16, 8), learning_rate=0.2,
                        seed=1, ssl='cfm', ssl_weight=0.5,
                        ssl_batch_size=12, train_steps=6,
                        # build_model below gets no item counts.
                        logq_correction=False, query_encoder='pooled')
# Hand-made MI over the item features (the artifact may leave item_id out).
MI = {'features': ['title', 'year', 'genres'],
      'mi': [[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]],
      'normalized_mi': [[1.0, 0.2, 0.05], [0.2, 1.0, 0.15], [0.05, 0.15, 1.0]]}


@pytest.fixture(scope='module')
def setup(tiny_transformed, tmp_path_factory):
  return dict(tiny_transformed, root=tmp_path_factory.mktemp('model_ssl'))


def _train(setup, config, log_dir, mi=MI):
  return training.train(setup['fc'], config, setup['query_tft'],
                         setup['item_tft'], setup['corpus'], setup['files'],
                         setup['files'], log_dir=str(log_dir),
                         mutual_information=mi)


def _scalar_tags(log_dir):
  tags = set()
  for path in tf.io.gfile.glob(os.path.join(log_dir, 'events*')):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  return tags


def test_joint_cfm_reports_three_losses_and_writes_them(setup):
  log_dir = setup['root'] / 'joint_logs'
  model = _train(setup, CONFIG, log_dir)
  history = model.history.history
  for epoch in range(CONFIG.epochs):
    main, ssl, total = (history[k][epoch]
                        for k in ('main_loss', 'ssl_loss', 'total_loss'))
    assert ssl > 0
    # Per-epoch means of a linear combination: total = main + w * ssl.
    assert total == pytest.approx(main + CONFIG.ssl_weight * ssl, rel=1e-5)
  assert history['val_ssl_loss'][-1] > 0
  for split in ('train', 'validation'):
    assert set(two_tower.LOSS_NAMES) <= _scalar_tags(str(log_dir / split))
  assert model.ssl_task.cfm_table.shape == (4, 4)
  assert int(model.optimizer.iterations) == CONFIG.train_steps


def test_pretrain_moves_only_the_item_tower_then_trains_jointly(setup):
  config = CONFIG.replace(mode='pretrain', pretrain_steps=4, ssl='rfm')
  model = assembly.build_model(setup['fc'], config, setup['query_tft'],
                               setup['item_tft'], setup['corpus'])
  model.compile(optimizer=tf.keras.optimizers.Adagrad(config.learning_rate))
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], setup['fc'].query_features,
      setup['corpus'], 16, shuffle=False)))
  training._pretrain(model, config, batch, str(setup['root'] / 'pre_logs'))  # pylint: disable=protected-access
  assert int(model.optimizer.iterations) == 4
  assert set(model.history.history) == {'ssl_loss', 'total_loss'}
  assert 'main_loss' not in _scalar_tags(
      str(setup['root'] / 'pre_logs' / 'pretrain' / 'train'))
  query_before = [v.numpy().copy() for v in model.query_tower.trainable_variables]
  item_before = [v.numpy().copy() for v in model.item_tower.trainable_variables]

  # Joint steps after pretraining update both towers (the optimizer has
  # slots for the query tower, which pretraining never touched).
  model.fit(tf.data.Dataset.from_tensors((batch, tf.constant([1, 2, 3], tf.int64)))
            .repeat(), steps_per_epoch=2, epochs=1, verbose=0)
  assert int(model.optimizer.iterations) == 6
  assert set(model.history.history) == set(two_tower.LOSS_NAMES)
  assert any(not np.array_equal(a, v.numpy()) for a, v in
             zip(query_before, model.query_tower.trainable_variables))
  assert any(not np.array_equal(a, v.numpy()) for a, v in
             zip(item_before, model.item_tower.trainable_variables))


def test_pretrain_leaves_the_query_tower_alone(setup):
  config = CONFIG.replace(mode='pretrain', pretrain_steps=3, ssl='dropout')
  model = assembly.build_model(setup['fc'], config, setup['query_tft'],
                               setup['item_tft'], setup['corpus'])
  model.compile(optimizer=tf.keras.optimizers.Adam(0.05))
  batch = next(iter(data.interaction_dataset(
      setup['files'], setup['query_tft'], setup['fc'].query_features,
      setup['corpus'], 16, shuffle=False)))
  model.losses_for((batch, tf.constant([0, 1], tf.int64)))  # build variables
  # The query tower's own variables (the pooled history shares the item
  # tower's id table, which pretraining does move).
  item_refs = {v.ref() for v in model.item_tower.trainable_variables}
  query_own = [v for v in model.query_tower.trainable_variables
               if v.ref() not in item_refs]
  query_before = [v.numpy().copy() for v in query_own]
  item_before = [v.numpy().copy() for v in model.item_tower.trainable_variables]
  training._pretrain(model, config, batch, None)  # pylint: disable=protected-access
  for a, v in zip(query_before, query_own):
    np.testing.assert_array_equal(a, v.numpy())
  assert any(not np.array_equal(a, v.numpy()) for a, v in
             zip(item_before, model.item_tower.trainable_variables))


def test_full_train_with_pretrain_counts_both_phases(setup):
  config = CONFIG.replace(mode='pretrain', pretrain_steps=5)
  model = _train(setup, config, setup['root'] / 'full_pre')
  assert int(model.optimizer.iterations) == 5 + config.train_steps
  assert set(two_tower.LOSS_NAMES) <= set(model.history.history)


def test_configuration_errors(setup):
  with pytest.raises(ValueError, match='MutualInformation artifact'):
    _train(setup, CONFIG, setup['root'] / 'err', mi=None)
  with pytest.raises(ValueError, match="mode 'pretrain' needs an SSL variant"):
    _train(setup, CONFIG.replace(ssl='none', mode='pretrain', pretrain_steps=2),
           setup['root'] / 'err2')


def test_ssl_rows_are_the_seeded_uniform_stream(setup):
  main = tf.data.Dataset.range(5).map(lambda i: {'step': i})
  config = CONFIG.replace(ssl_batch_size=64)
  rows = [r.numpy() for _, r in training._with_ssl_rows(  # pylint: disable=protected-access
      main, config, len(setup['corpus']), 5)]
  uniform = [r.numpy() for r in ssl_lib.uniform_item_sampler(
      len(setup['corpus']), 64, 5).take(5)]
  np.testing.assert_array_equal(rows, uniform)
  none = [r.numpy() for _, r in training._with_ssl_rows(  # pylint: disable=protected-access
      main, config.replace(ssl='none'), len(setup['corpus']), 5)]
  assert [r.shape for r in none] == [(0,)] * 5

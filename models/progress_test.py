"""Tests of the training progress callback (a fake clock, a real tiny fit)."""
import logging

import numpy as np
import tensorflow as tf

from models import progress


class _Clock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_lines_within_an_epoch_at_most_every_interval(caplog):
  clock = _Clock()
  callback = progress.Progress(steps_per_epoch=100, batch_size=32, epochs=2,
                               interval=10, clock=clock)
  with caplog.at_level(logging.INFO, logger=progress.__name__):
    callback.on_epoch_begin(0)
    for step in range(100):
      clock.now += 0.5  # 50 s per epoch: a line at 10 s, 20 s, 30 s, 40 s, 50 s
      callback.on_train_batch_end(step, {'loss': 2.0})
    callback.on_epoch_end(0, {'loss': 1.5})
  lines = [r.getMessage() for r in caplog.records]
  assert len(lines) == 6
  # After 20 steps of 0.5 s: 640 examples in 10 s; 80 steps (40 s) left in
  # this epoch, 100 more (50 s) in the next.
  assert lines[0] == ('epoch 1/2 step 20/100 (20%): 64 examples/s, loss '
                      '2.0000; epoch ETA 40 s, total ETA 1 min 30 s')
  assert lines[-1] == 'epoch 1/2 done in 50 s, loss 1.5000'


def test_unknown_steps_no_eta():
  callback = progress.Progress(None, 10, 1, clock=lambda: 5.0)
  callback.on_epoch_begin(0)
  assert callback.line(50, 10.0) == 'epoch 1/1 step 50: 100 examples/s'


def test_hooked_into_a_real_fit(caplog):
  model = tf.keras.Sequential([tf.keras.layers.Dense(1)])
  model.compile(optimizer='sgd', loss='mse')
  x = np.ones((64, 2), np.float32)
  with caplog.at_level(logging.INFO, logger=progress.__name__):
    model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0,
              callbacks=[progress.Progress(8, 8, 2, interval=0)])
  lines = [r.getMessage() for r in caplog.records]
  assert lines[0].startswith('epoch 1/2 step 1/8 (12%): ')
  assert lines[-1].startswith('epoch 2/2 done in ')
  assert sum('done in' in line for line in lines) == 2

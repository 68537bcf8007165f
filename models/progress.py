"""Training progress in the log: steps, examples/s and ETA, every few seconds.

Keras' own progress bar is off in the Trainer (verbose=0: it would flood the
pipeline log), so a long epoch would be silent. `Progress` logs at most every
`interval` seconds within an epoch (and at each epoch's end):

  epoch 2/10 step 120/391 (31%): 1873 examples/s, loss 4.1022; epoch ETA 37 s, total ETA 6 min 12 s
"""
import logging
import time
from typing import Callable, Optional

import tensorflow as tf

DEFAULT_INTERVAL_S = 10.0


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  if seconds < 60:
    return f'{seconds} s'
  minutes, seconds = divmod(seconds, 60)
  if minutes < 60:
    return f'{minutes} min {seconds} s'
  hours, minutes = divmod(minutes, 60)
  return f'{hours} h {minutes} min'


class Progress(tf.keras.callbacks.Callback):
  """Logs steps, examples/s and an ETA at most every `interval` seconds.

  Args:
    steps_per_epoch: steps of one epoch (0 or None: unknown, no ETA).
    batch_size: examples per step.
    epochs: number of epochs.
    interval: seconds between two lines within an epoch.
    clock: time source (tests).
  """

  def __init__(self, steps_per_epoch: Optional[int], batch_size: int,
               epochs: int, interval: float = DEFAULT_INTERVAL_S,
               clock: Callable[[], float] = time.monotonic,
               logger: logging.Logger = logging.getLogger(__name__)):
    super().__init__()
    self._steps = steps_per_epoch or 0
    self._batch = batch_size
    self._epochs = epochs
    self._interval = interval
    self._clock = clock
    self._logger = logger
    self._epoch = 0
    self._epoch_start = self._last = 0.0

  def on_epoch_begin(self, epoch, logs=None):
    self._epoch = epoch
    self._epoch_start = self._last = self._clock()

  def on_train_batch_end(self, batch, logs=None):
    now = self._clock()
    if now - self._last >= self._interval:
      self._last = now
      self._logger.info('%s', self.line(batch + 1, now, logs))

  def on_epoch_end(self, epoch, logs=None):
    steps = self._steps or None
    self._logger.info('%s', self.line(steps, self._clock(), logs,
                                      done=True))

  def line(self, step: Optional[int], now: float, logs=None,
           done: bool = False) -> str:
    """One progress line after `step` steps of the current epoch."""
    elapsed = max(now - self._epoch_start, 1e-9)
    epoch = f'epoch {self._epoch + 1}/{self._epochs}'
    loss = (logs or {}).get('loss')
    loss_text = f', loss {float(loss):.4f}' if loss is not None else ''
    if done:
      return f'{epoch} done in {_duration(elapsed)}{loss_text}'
    rate = step * self._batch / elapsed
    if not self._steps:
      return f'{epoch} step {step}: {rate:.0f} examples/s{loss_text}'
    per_step = elapsed / step
    left = max(self._steps - step, 0) * per_step
    total = left + (self._epochs - self._epoch - 1) * self._steps * per_step
    return (f'{epoch} step {step}/{self._steps} ({100 * step // self._steps}%)'
            f': {rate:.0f} examples/s{loss_text}; epoch ETA {_duration(left)}'
            f', total ETA {_duration(total)}')

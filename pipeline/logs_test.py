"""Tests of the CLI's log filter: TFX progress kept, cache hits and skips said."""
import logging

from pipeline import logs


def _record(message, name='absl', level=logging.INFO):
  return logging.LogRecord(name, level, __file__, 1, message, (), None)


def test_cache_hits_and_skipped_pushers_say_so():
  f = logs._TfxInfoFilter()  # pylint: disable=protected-access
  kept = []
  for message in ('Component ItemsTransform is running.',
                  'A cached execution 12 is used.',
                  'Component ItemsTransform is finished.',
                  'Skipping execution for PushIndex',
                  'Some proto dump of an execution'):
    record = _record(message)
    if f.filter(record):
      kept.append(record.getMessage())
  assert kept == [
      'Component ItemsTransform is running.',
      'Component ItemsTransform: cache hit (inputs and settings unchanged), '
      'outputs of execution 12 reused, not re-run.',
      'Component ItemsTransform is finished.',
      'Component PushIndex skipped: its inputs or condition are not met (a '
      'pusher: the model is not blessed).']


def test_our_lines_and_warnings_pass():
  f = logs._TfxInfoFilter()  # pylint: disable=protected-access
  assert f.filter(_record('epoch 1/2 step 3/9', name='components.trainer'))
  assert f.filter(_record('disk full', level=logging.WARNING))
  assert not f.filter(_record('Tables initialized inside a tf.function x',
                              level=logging.WARNING))

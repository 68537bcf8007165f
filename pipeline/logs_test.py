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


def _failing_record(name='apache_beam.runners.common'):
  try:
    raise ValueError("items.csv line 3, column 'price': 'nan'")
  except ValueError:
    import sys  # pylint: disable=g-import-not-at-top
    return logging.LogRecord(name, logging.ERROR, __file__, 1, '%s',
                             ("items.csv line 3, column 'price': 'nan'",),
                             sys.exc_info())


def test_console_lines_leave_tracebacks_to_the_log_file(tmp_path, capsys):
  logs.setup()
  logging.getLogger('apache_beam.runners.common').handle(_failing_record())
  logging.getLogger('x').error('worker said: %s',
                               'boom\nTraceback (most recent call last):\n  x')
  err = capsys.readouterr().err
  assert 'Traceback' not in err, err
  first, second = err.strip().splitlines()
  assert first.endswith("ERROR apache_beam.runners.common: items.csv line 3, "
                        "column 'price': 'nan' (traceback: sslrec --verbose)")
  assert second.endswith('worker said: boom (traceback: sslrec --verbose)')

  log = logs.to_file(str(tmp_path / 'logs' / 'run.log'))
  logging.getLogger('apache_beam.runners.common').handle(_failing_record())
  logging.getLogger('absl').info('Component ItemsTransform is running.')
  logging.getLogger('absl').info('A cached execution 12 is used.')
  logging.getLogger('absl').info('Some proto dump of an execution')
  err = capsys.readouterr().err
  assert 'Traceback' not in err and f'(traceback in {log})' in err
  for handler in logging.getLogger().handlers:
    handler.flush()
  text = open(log, encoding='utf-8').read()
  assert 'Traceback (most recent call last)' in text
  assert 'raise ValueError' in text
  assert 'Component ItemsTransform: cache hit' in text  # reworded once, kept
  assert 'proto dump' not in text
  logs.setup()  # closes the file handler


def test_verbose_keeps_tracebacks(capsys):
  logs.setup(verbose=True)
  logging.getLogger('apache_beam.runners.common').handle(_failing_record())
  assert 'Traceback (most recent call last)' in capsys.readouterr().err
  logs.setup()


def test_beams_default_runner_line_is_dropped():
  f = logs._TfxInfoFilter()  # pylint: disable=protected-access
  assert not f.filter(_record('Missing pipeline option (runner). Executing '
                              'pipeline using the default runner: %s.',
                              name='root'))
  assert f.filter(_record('Missing shards', name='root'))

"""Logging for the CLI: which component runs, training progress, warnings.

TFX logs every execution's full protos at INFO through absl; the CLI keeps
the lines an operator reads (component started / finished / cached, training
epochs, our own modules) and every warning and error.
"""
import logging
import os
import re
import warnings
from typing import Optional

_KEPT_ABSL_INFO = re.compile(
    r'^(Component \S+ is (running|finished)|Running pipeline|'
    r'.*[Cc]ached (results|outputs)|Training|Pipeline)')
_RUNNING = re.compile(r'^Component (\S+) is running')
_CACHED = re.compile(r'^A cached execution (\d+) is used')
# Beam's line for a local run given no Beam args (`runner.with_runner`).
_DEFAULT_RUNNER = re.compile(r'^Missing pipeline option \(runner\)')
_SKIPPED = re.compile(r'^Skipping (?:execution for|component) (\S+?)\.?$')


# Harmless warnings printed many times per run by TFX 1.16 / TFT 1.16.
_DROPPED_WARNINGS = re.compile(
    r'^(ArtifactQuery.property_predicate is not supported|'
    r'Tables initialized inside a tf.function|'
    r'From .*tf_record_iterator)')


class _TfxInfoFilter(logging.Filter):
  """Drops absl INFO records but the ones naming components' progress.

  TFX's own lines for a cache hit ("A cached execution 12 is used.") and a
  node whose condition is false ("Skipping execution for PushIndex") are
  kept and reworded to say which component and why.
  """

  def __init__(self):
    super().__init__()
    self._component = '?'

  def filter(self, record: logging.LogRecord) -> bool:
    if record.name not in ('absl', 'tensorflow'):
      return not _DEFAULT_RUNNER.match(record.getMessage())
    if getattr(record, _REWORDED, False):  # by another handler's filter
      return True
    message = record.getMessage()
    if record.levelno >= logging.WARNING:
      return not _DROPPED_WARNINGS.match(message)
    running = _RUNNING.match(message)
    if running:
      self._component = running.group(1)
    cached = _CACHED.match(message)
    skipped = _SKIPPED.match(message)
    if cached:
      _reword(record, f'Component {self._component}: cache hit (inputs and '
              f'settings unchanged), outputs of execution {cached.group(1)} '
              'reused, not re-run.')
    elif skipped:
      _reword(record, f'Component {skipped.group(1)} skipped: its inputs or '
              'condition are not met (a pusher: the model is not blessed).')
    return bool(cached or skipped or _KEPT_ABSL_INFO.match(message))


_REWORDED = 'sslrec_reworded'


def _reword(record: logging.LogRecord, message: str) -> None:
  record.msg, record.args = message, ()
  setattr(record, _REWORDED, True)


def quiet_import_warnings() -> None:
  """Hides the FutureWarnings google-cloud packages print on import."""
  warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\..*')


_FORMAT, _DATE_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s', '%H:%M:%S'
_TRACEBACK = 'Traceback (most recent call last)'


class OneLineFormatter(logging.Formatter):
  """The console's format: records without their tracebacks.

  Beam logs a failing DoFn's exception with its traceback before the CLI
  prints its one-line `sslrec run: error: ...`; on the console the record
  keeps its message and says where the traceback is (`log_file`, set by
  `to_file`, or --verbose). A traceback inside the message (multi-processing
  workers send it as text) is cut too.
  """

  def __init__(self):
    super().__init__(_FORMAT, _DATE_FORMAT)
    self.log_file: Optional[str] = None

  def format(self, record: logging.LogRecord) -> str:
    saved = record.exc_info, record.exc_text, record.stack_info
    record.exc_info = record.exc_text = record.stack_info = None
    try:
      text = super().format(record)
    finally:
      record.exc_info, record.exc_text, record.stack_info = saved
    cut = text.find(_TRACEBACK)
    if cut >= 0:
      text = text[:cut].rstrip()
    exc_info, exc_text, stack_info = saved
    if cut >= 0 or (exc_info and exc_info[0]) or exc_text or stack_info:
      text += (f' (traceback in {self.log_file})' if self.log_file
               else ' (traceback: sslrec --verbose)')
    return text


def to_file(path: str) -> str:
  """Also logs to `path` (created; full records, tracebacks included).

  The console handler's tracebacks then point at it. Removed by the next
  `setup`.
  """
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  handler = logging.FileHandler(path, encoding='utf-8')
  handler.setFormatter(logging.Formatter(_FORMAT, '%Y-%m-%d %H:%M:%S'))
  root = logging.getLogger()
  for existing in root.handlers:
    if isinstance(existing.formatter, OneLineFormatter):
      existing.formatter.log_file = path
  if any(isinstance(f, _TfxInfoFilter) for h in root.handlers
         for f in h.filters):
    handler.addFilter(_TfxInfoFilter())  # the console's records, in full
  root.addHandler(handler)
  return path


def setup(verbose: bool = False) -> None:
  """Console logging; --verbose: debug level, every record, tracebacks."""
  handler = logging.StreamHandler()
  if verbose:
    handler.setFormatter(logging.Formatter(_FORMAT, _DATE_FORMAT))
  else:
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(_TfxInfoFilter())
  logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                      handlers=[handler], force=True)
  # absl resets its logger to WARNING when a library parses absl flags
  # (during Transform); a verbosity flag value survives that.
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.DEBUG if verbose else absl_logging.INFO)
  logging.getLogger('absl').propagate = True
  for noisy in ('apache_beam', 'tensorflow', 'root.tfx'):
    logging.getLogger(noisy).setLevel(logging.WARNING)


def log_file() -> Optional[str]:
  """The file `to_file` logs to now, or None."""
  for handler in logging.getLogger().handlers:
    if isinstance(handler, logging.FileHandler):
      return handler.baseFilename
  return None


def write_to_file(text: str) -> None:
  """Appends `text` to the log file only (not the console)."""
  for handler in logging.getLogger().handlers:
    if isinstance(handler, logging.FileHandler):
      handler.acquire()
      try:
        handler.stream.write(text if text.endswith('\n') else text + '\n')
        handler.flush()
      finally:
        handler.release()

"""Logging for the CLI: which component runs, training progress, warnings.

TFX logs every execution's full protos at INFO through absl; the CLI keeps
the lines an operator reads (component started / finished / cached, training
epochs, our own modules) and every warning and error.
"""
import logging
import re
import warnings

_KEPT_ABSL_INFO = re.compile(
    r'^(Component \S+ is (running|finished)|Running pipeline|'
    r'.*[Cc]ached (results|outputs)|Training|Pipeline)')
_RUNNING = re.compile(r'^Component (\S+) is running')
_CACHED = re.compile(r'^A cached execution (\d+) is used')
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


def _reword(record: logging.LogRecord, message: str) -> None:
  record.msg, record.args = message, ()


def quiet_import_warnings() -> None:
  """Hides the FutureWarnings google-cloud packages print on import."""
  warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\..*')


def setup(verbose: bool = False) -> None:
  handler = logging.StreamHandler()
  handler.setFormatter(logging.Formatter(
      '%(asctime)s %(levelname)s %(name)s: %(message)s', '%H:%M:%S'))
  if not verbose:
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

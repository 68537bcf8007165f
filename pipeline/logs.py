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


class _TfxInfoFilter(logging.Filter):
  """Drops absl INFO records but the ones naming components' progress."""

  def filter(self, record: logging.LogRecord) -> bool:
    if record.name != 'absl' or record.levelno >= logging.WARNING:
      return True
    return bool(_KEPT_ABSL_INFO.match(record.getMessage()))


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
  # absl's own handler would print everything a second time.
  logging.getLogger('absl').propagate = True
  for noisy in ('apache_beam', 'tensorflow', 'root.tfx'):
    logging.getLogger(noisy).setLevel(logging.WARNING)

"""Ready for TF Serving: warmup requests and validation before a push.

Before a version folder appears (push.py renames a complete temp folder),
`prepare` writes the warmup requests into the copy (warmup.py) and validates
it (InfraValidator-style: a model that cannot load or answer is never pushed):

  1. always: a fresh Python process loads the copy with TensorFlow and replays
     the warmup requests through `serving_default` (outputs of the batch size,
     finite floats), saving the outputs;
  2. when a `tensorflow_model_server` is found (model_server.binary: the
     $SSLREC_MODEL_SERVER path, else PATH; `SSLREC_MODEL_SERVER=none` skips
     it): that server serves the copy on a loopback port, and its answers to
     the same requests must equal step 1's (model_server.validate).

The log line says which validators ran. versions.py publishes the version
and writes `<serving>/models.config`.
"""
import logging
import os
import subprocess
import sys
import tempfile

from components.pusher import model_server
from components.pusher import warmup

VALIDATION_TIMEOUT_S = 600
IN_PROCESS = 'in a fresh Python process with TensorFlow'


def _fresh_process_outputs(saved_model_dir: str, model_name: str):
  """Step 1: (outputs of every warmup request, the check's summary)."""
  with tempfile.TemporaryDirectory(prefix='sslrec-warmup-') as work:
    path = os.path.join(work, 'outputs.npz')
    result = subprocess.run(
        [sys.executable, '-m', 'components.pusher.warmup', saved_model_dir,
         path], capture_output=True, text=True, timeout=VALIDATION_TIMEOUT_S,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), check=False)
    lines = result.stdout.strip().splitlines()
    last = lines[-1] if lines else result.stderr.strip()[-2000:]
    if result.returncode != 0 or not last.startswith('OK'):
      raise RuntimeError(f'{model_name}: the SavedModel failed to load or to '
                         f'answer its warmup requests {IN_PROCESS}: {last}')
    return warmup.load_outputs(path), last[4:]


def prepare(saved_model_dir: str, model_name: str) -> None:
  """Writes the warmup requests, then validates the copy (module doc)."""
  try:
    warmup.write(saved_model_dir, model_name)
  except Exception as e:  # pylint: disable=broad-except  # any load failure
    raise RuntimeError(f'{model_name}: the SavedModel failed to load or to '
                       f'answer its warmup requests: {e}') from e
  server = model_server.binary()
  outputs, summary = _fresh_process_outputs(saved_model_dir, model_name)
  if server is None:
    why = (f'${model_server.ENV}={model_server.OFF}'
           if os.environ.get(model_server.ENV, '').strip().lower()
           == model_server.OFF else f'{model_server.BINARY} is not on PATH')
    logging.info('Validated %s %s (%s; no model server check): %s.',
                 model_name, IN_PROCESS, why, summary)
    return
  try:
    served = model_server.validate(server, saved_model_dir, model_name,
                                   warmup.read(saved_model_dir), outputs)
  except (RuntimeError, ValueError, TimeoutError) as e:
    raise RuntimeError(f'{model_name}: failed validation with {server}: '
                       f'{e}') from e
  logging.info('Validated %s with %s: %s; and %s: %s.', model_name,
               model_server.BINARY, served, IN_PROCESS, summary)

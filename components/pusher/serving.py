"""Ready for TF Serving: warmup requests, a fresh-process check, models.config.

Before a version folder appears (push.py renames a complete temp folder),
`prepare` writes the warmup requests into the copy (warmup.py) and loads it in
a fresh Python process that replays them through `serving_default`
(InfraValidator-style: a model that cannot load or answer is never pushed).
It uses TensorFlow in that process: a `tensorflow_model_server` binary is not
driven, even when one is on PATH (the log line says which was found).

`write_models_config` writes `<serving>/models.config`, the TF Serving model
config listing every model folder under the serving root, so one server
serves the three models:

  tensorflow_model_server --model_config_file=<serving>/models.config
"""
import logging
import os
import shutil
import subprocess
import sys
import uuid

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2
from tfx.dsl.io import fileio

from components.pusher import warmup

MODELS_CONFIG = 'models.config'
VALIDATION_TIMEOUT_S = 600


def prepare(saved_model_dir: str, model_name: str) -> None:
  """Writes the warmup requests, then checks the model in a fresh process."""
  try:
    warmup.write(saved_model_dir, model_name)
  except Exception as e:  # pylint: disable=broad-except  # any load failure
    raise RuntimeError(f'{model_name}: the SavedModel failed to load or to '
                       f'answer its warmup requests: {e}') from e
  server = shutil.which('tensorflow_model_server')
  how = ('in a fresh Python process with TensorFlow (tensorflow_model_server '
         f'{"is on PATH at " + server + " but is not driven" if server else "is not on PATH"})')
  result = subprocess.run(
      [sys.executable, '-m', 'components.pusher.warmup', saved_model_dir],
      capture_output=True, text=True, timeout=VALIDATION_TIMEOUT_S,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'), check=False)
  lines = result.stdout.strip().splitlines()
  last = lines[-1] if lines else result.stderr.strip()[-2000:]
  if result.returncode != 0 or not last.startswith('OK'):
    raise RuntimeError(f'{model_name}: the SavedModel failed to load or to '
                       f'answer its warmup requests {how}: {last}')
  logging.info('Validated %s %s: %s.', model_name, how, last[4:])


def models_config(serving_root: str, names) -> str:
  config = model_server_config_pb2.ModelServerConfig()
  for name in names:
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = os.path.join(serving_root, name)
    model.model_platform = 'tensorflow'
  return text_format.MessageToString(config)


def write_models_config(serving_root: str, names) -> str:
  """Writes <serving_root>/models.config atomically; returns its path."""
  path = os.path.join(serving_root, MODELS_CONFIG)
  tmp = os.path.join(serving_root, f'.{MODELS_CONFIG}.{uuid.uuid4().hex[:8]}')
  with fileio.open(tmp, 'w') as f:
    f.write(models_config(os.path.abspath(serving_root)
                          if '://' not in serving_root else serving_root,
                          names))
  fileio.rename(tmp, path, overwrite=True)
  return path

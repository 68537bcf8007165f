"""Pre-push validation with a real `tensorflow_model_server`, when there is one.

`binary()` finds the server: `$SSLREC_MODEL_SERVER` (a path; `none` turns the
check off), else `tensorflow_model_server` on PATH. `validate` then, for one
staged SavedModel:

  1. writes a model config naming it (`server_config`, in a temp folder; the
     staged copy is `<base>/.tmp-.../<version>/`, so its parent is a valid
     base path, else a symlink makes one);
  2. starts the server on a free loopback port (`command`: gRPC only, REST
     off, the file system polled once);
  3. waits until the model version is AVAILABLE (`wait_until_available`, gRPC
     ModelService.GetModelStatus, with a timeout and a one-line error);
  4. sends each warmup request (`requests_for`: the PredictRequests of
     assets.extra/tf_serving_warmup_requests, pinned to that version) through
     gRPC PredictionService.Predict and compares the answers with the outputs
     TensorFlow gave in a fresh process (`compare`: floats within a tolerance,
     other dtypes equal);
  5. stops the server.

Any failure is one RuntimeError line naming the model, the step and the
server's last log line; the model is then not pushed.
"""
import os
import shutil
import subprocess
import tempfile
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components import ports
from pipeline.errors import MissingInputError
from pipeline.errors import UserError

BINARY = 'tensorflow_model_server'
ENV = 'SSLREC_MODEL_SERVER'  # a path to the binary, or 'none'
OFF = 'none'
LOAD_TIMEOUT_S = 300.0
PREDICT_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
AVAILABLE = 'AVAILABLE'
END = 'END'
# Outputs of the same graph on another build of TensorFlow may differ in the
# last bits (other kernels); an embedding is compared within this.
RTOL, ATOL = 1e-4, 1e-5


def binary(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
  """The model server to drive, or None (then only TensorFlow checks).

  Raises:
    FileNotFoundError: $SSLREC_MODEL_SERVER names no executable file.
  """
  environ = os.environ if environ is None else environ
  value = environ.get(ENV, '').strip()
  if value.lower() == OFF:
    return None
  if value:
    found = shutil.which(value)
    if not found:
      raise MissingInputError(f'${ENV}={value}: not an executable file (unset '
                              f'it to use {BINARY} from PATH, or set it to '
                              f'{OFF!r} to validate with TensorFlow only)')
    return found
  return shutil.which(BINARY, path=environ.get('PATH'))


def check_runs(server: Optional[str], timeout_s: float = 60.0) -> None:
  """Fails in one line when the model server found by `binary` cannot even
  print its version (a broken install fails at the start of a run, not at
  its push)."""
  if server is None:
    return
  where = f'${ENV}' if os.environ.get(ENV, '').strip() else 'PATH'
  try:
    result = subprocess.run([server, '--version'], capture_output=True,
                            text=True, timeout=timeout_s, check=False)
    reason = (None if result.returncode == 0 else
              f'exit code {result.returncode}: ' + _last_line_of(
                  result.stderr or result.stdout))
  except (OSError, subprocess.TimeoutExpired) as e:
    reason = str(e)
  if reason:
    raise UserError(f'{server} (the {BINARY} from {where}) does not run '
                    f'(`--version`: {reason}); fix it, or set {ENV}={OFF} to '
                    'validate with TensorFlow only')


def _last_line_of(text: str) -> str:
  lines = [line for line in (text or '').strip().splitlines() if line.strip()]
  return lines[-1][:300] if lines else 'no output'


def server_config(base_paths: Mapping[str, str]) -> str:
  """A ModelServerConfig (text format) serving {model name: base path}."""
  config = model_server_config_pb2.ModelServerConfig()
  for name, base_path in base_paths.items():
    model = config.model_config_list.config.add()
    model.name = name
    model.base_path = base_path
    model.model_platform = 'tensorflow'
  return text_format.MessageToString(config)


def base_path_of(saved_model_dir: str, work_dir: str) -> Tuple[str, int]:
  """(base path, version) under which the server finds saved_model_dir.

  A folder named by a number already is a version of its parent; any other
  gets a symlink `<work_dir>/model/1`.
  """
  saved_model_dir = saved_model_dir.rstrip('/')
  if '://' not in saved_model_dir:
    saved_model_dir = os.path.abspath(saved_model_dir)
  name = os.path.basename(saved_model_dir)
  if name.isdigit():
    return os.path.dirname(saved_model_dir), int(name)
  base = os.path.join(work_dir, 'model')
  os.makedirs(base, exist_ok=True)
  os.symlink(saved_model_dir, os.path.join(base, '1'))
  return base, 1


def command(server: str, grpc_port: int, config_path: str) -> List[str]:
  """The server's argv: gRPC on grpc_port, no REST, the models read once."""
  return [server, f'--port={grpc_port}', '--rest_api_port=0',
          f'--model_config_file={config_path}',
          '--file_system_poll_wait_seconds=0', '--enable_model_warmup=true']


def wait_until_available(
    state: Callable[[], Tuple[str, str]], what: str, timeout_s: float,
    exited: Callable[[], Optional[str]] = lambda: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    interval_s: float = 0.5) -> float:
  """Polls `state()` -> (state name, error) until AVAILABLE; returns seconds.

  `exited()` returns None while the server runs, else what it said last.
  Raises RuntimeError (the server exited, or the model ended with an error)
  or TimeoutError, each one line naming `what`.
  """
  start = clock()
  last = 'no answer yet'
  while True:
    gone = exited()
    if gone is not None:
      raise RuntimeError(f'{BINARY} exited before {what} was {AVAILABLE}: '
                         f'{gone}')
    try:
      name, error = state()
    except Exception as e:  # pylint: disable=broad-except  # not up yet
      name, error = '', _one_line(e)
    if name == AVAILABLE:
      return clock() - start
    if name == END:
      raise RuntimeError(f'{BINARY} could not load {what}: '
                         f'{error or "state END"}')
    if name:
      last = name
    elif error:
      last = f'no answer ({error})'
    if clock() - start >= timeout_s:
      raise TimeoutError(f'{what} was not {AVAILABLE} on {BINARY} within '
                         f'{timeout_s:.0f} s (last: {last})')
    sleep(interval_s)


def requests_for(logs, model_name: str, version: int) -> list:
  """The warmup PredictionLogs' PredictRequests, for `model_name` at `version`."""
  out = []
  for log in logs:
    request = type(log.predict_log.request)()
    request.CopyFrom(log.predict_log.request)
    request.model_spec.name = model_name
    request.model_spec.version.value = version
    out.append(request)
  return out


def outputs_of(response) -> Dict[str, np.ndarray]:
  """A PredictResponse's outputs as numpy arrays."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  return {name: tf.make_ndarray(proto)
          for name, proto in response.outputs.items()}


def compare(expected: Sequence[Mapping[str, np.ndarray]],
            got: Sequence[Mapping[str, np.ndarray]], what: str) -> None:
  """Raises ValueError naming the request and output where the server's
  answers differ from TensorFlow's: names, shapes, values (floats within
  RTOL/ATOL, NaN equal to NaN; other dtypes exactly)."""
  if len(expected) != len(got):
    raise ValueError(f'{what}: {len(got)} answers for {len(expected)} '
                     'warmup requests')
  for number, (want, have) in enumerate(zip(expected, got), start=1):
    where = f'{what}, warmup request {number}'
    if set(want) != set(have):
      raise ValueError(f'{where}: outputs {sorted(have)}, expected '
                       f'{sorted(want)}')
    for name in sorted(want):
      a, b = np.asarray(want[name]), np.asarray(have[name])
      if a.shape != b.shape:
        raise ValueError(f'{where}: output {name!r} has shape {b.shape}, '
                         f'expected {a.shape}')
      if a.dtype.kind == 'f' or b.dtype.kind == 'f':
        same = np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
        gap = (f'largest difference '
               f'{np.nanmax(np.abs(a.astype(float) - b.astype(float))):.3g}')
      else:
        kind = bytes if a.dtype.kind in 'OSU' else None
        same = np.array_equal(a.astype(kind) if kind else a,
                              b.astype(kind) if kind else b)
        gap = f'{int(np.sum(a != b))} of {a.size} values differ'
      if not same:
        raise ValueError(f'{where}: output {name!r} differs from '
                         f'TensorFlow\'s ({gap})')


def _one_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  return f'{type(e).__name__}: {text[0] if text else ""}'.rstrip(': ')


def _last_line(path: str) -> str:
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      lines = [l.strip() for l in f if l.strip()]
  except OSError:
    return ''
  return lines[-1][-500:] if lines else '(no output)'


def _state(stub, model_name: str, version: int) -> Tuple[str, str]:
  from tensorflow_serving.apis import get_model_status_pb2  # pylint: disable=g-import-not-at-top
  request = get_model_status_pb2.GetModelStatusRequest()
  request.model_spec.name = model_name
  request.model_spec.version.value = version
  response = stub.GetModelStatus(request, timeout=5)
  for status in response.model_version_status:
    if status.version == version:
      name = get_model_status_pb2.ModelVersionStatus.State.Name(status.state)
      return name, status.status.error_message
  return '', f'version {version} not listed'


def check(target: str, model_name: str, version: int, requests: list,
          expected: Sequence[Mapping[str, np.ndarray]], timeout_s: float,
          exited: Callable[[], Optional[str]] = lambda: None) -> float:
  """Against a server at `target` (host:port): waits for the model, replays
  `requests`, compares with `expected`; returns the seconds to AVAILABLE."""
  import grpc  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import model_service_pb2_grpc  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_service_pb2_grpc  # pylint: disable=g-import-not-at-top
  what = f'{model_name} version {version}'
  with grpc.insecure_channel(target) as channel:
    status = model_service_pb2_grpc.ModelServiceStub(channel)
    seconds = wait_until_available(
        lambda: _state(status, model_name, version), what, timeout_s, exited)
    predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    answers = []
    for number, request in enumerate(requests, start=1):
      try:
        answers.append(outputs_of(predict.Predict(
            request, timeout=PREDICT_TIMEOUT_S)))
      except grpc.RpcError as e:
        raise RuntimeError(f'{what}: warmup request {number} failed on '
                           f'{BINARY}: {e.code().name}: {e.details()}') from e
  compare(expected, answers, what)
  return seconds


def validate(server: str, saved_model_dir: str, model_name: str, logs,
             expected: Sequence[Mapping[str, np.ndarray]],
             timeout_s: float = LOAD_TIMEOUT_S) -> str:
  """Serves saved_model_dir with `server`, replays the warmup requests
  (`logs`) and compares with `expected`; returns a one-line summary.

  Raises RuntimeError / ValueError / TimeoutError (one line) on any failure.
  """
  with tempfile.TemporaryDirectory(prefix='sslrec-model-server-') as work:
    base_path, version = base_path_of(saved_model_dir, work)
    config_path = os.path.join(work, 'models.config')
    with open(config_path, 'w', encoding='utf-8') as f:
      f.write(server_config({model_name: base_path}))
    [port] = ports.free_ports(1)
    log_path = os.path.join(work, 'server.log')
    with open(log_path, 'wb') as log:
      process = subprocess.Popen(command(server, port, config_path),
                                 stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
    try:
      def exited():
        code = process.poll()
        return None if code is None else (
            f'exit code {code}: {_last_line(log_path)}')
      try:
        seconds = check(f'127.0.0.1:{port}', model_name, version,
                        requests_for(logs, model_name, version), expected,
                        timeout_s, exited)
      except (RuntimeError, ValueError, TimeoutError) as e:
        raise type(e)(f'{e} (server log: {_last_line(log_path)})') from e
    finally:
      _stop(process)
  return (f'{len(expected)} warmup requests answered by {server} (AVAILABLE '
          f'after {seconds:.1f} s) as TensorFlow answers them')


def _stop(process: subprocess.Popen) -> None:
  if process.poll() is not None:
    return
  process.terminate()
  try:
    process.wait(timeout=STOP_TIMEOUT_S)
  except subprocess.TimeoutExpired:
    process.kill()
    process.wait()

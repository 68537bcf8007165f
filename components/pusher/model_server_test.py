"""The model-server check: its pure parts, a gRPC round trip, the real binary.

No PyPI or Debian package ships `tensorflow_model_server`, so the test that
drives the real binary runs only where one is installed (PATH or
$SSLREC_MODEL_SERVER). The client side (status polling, Predict, comparison)
runs here against a real gRPC server in this process that answers
ModelService and PredictionService from the SavedModel with TensorFlow, and
the process handling against a real executable that exits at once.
"""
import os
import shutil
import stat
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from components import ports
from components.pusher import model_server
from components.pusher import serving
from components.pusher import warmup
from tests.support import towers as test_towers


def _executable(path, script='#!/bin/sh\nexit 0\n'):
  with open(path, 'w') as f:
    f.write(script)
  os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
  return str(path)


def test_binary_from_the_environment_or_path(tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  assert model_server.binary({'PATH': str(empty)}) is None
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  found = _executable(bin_dir / 'tensorflow_model_server')
  assert model_server.binary({'PATH': str(bin_dir)}) == found
  assert model_server.binary({'PATH': str(bin_dir),
                              'SSLREC_MODEL_SERVER': 'none'}) is None
  other = _executable(tmp_path / 'tfms-2.16')
  assert model_server.binary({'PATH': str(empty),
                              'SSLREC_MODEL_SERVER': other}) == other
  (tmp_path / 'plain').write_text('not executable')
  with pytest.raises(FileNotFoundError,
                     match=r'^\$SSLREC_MODEL_SERVER=.*plain: not an '
                     'executable file'):
    model_server.binary({'SSLREC_MODEL_SERVER': str(tmp_path / 'plain')})


def test_config_names_each_model_and_the_staged_version(tmp_path):
  text = model_server.server_config({'index': '/s/index/.tmp-7-ab'})
  config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
  [model] = config.model_config_list.config
  assert (model.name, model.base_path, model.model_platform) == (
      'index', '/s/index/.tmp-7-ab', 'tensorflow')
  staged = tmp_path / '.tmp-7-ab' / '7'
  staged.mkdir(parents=True)
  assert model_server.base_path_of(str(staged), str(tmp_path / 'w')) == (
      str(tmp_path / '.tmp-7-ab'), 7)
  plain = tmp_path / 'model'
  plain.mkdir()
  base, version = model_server.base_path_of(str(plain), str(tmp_path / 'w'))
  assert version == 1 and os.path.realpath(os.path.join(base, '1')) == str(
      plain)
  argv = model_server.command('/x/tensorflow_model_server', 8123, '/c/m.config')
  assert argv[0] == '/x/tensorflow_model_server'
  assert {'--port=8123', '--rest_api_port=0',
          '--model_config_file=/c/m.config',
          '--file_system_poll_wait_seconds=0'} <= set(argv)


class _Clock:

  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now

  def sleep(self, seconds):
    self.now += seconds


def test_readiness_polling_waits_and_times_out_in_one_line():
  clock = _Clock()
  answers = iter([ConnectionError('connection refused'), ('START', ''),
                  ('LOADING', ''), ('AVAILABLE', '')])

  def state():
    answer = next(answers)
    if isinstance(answer, Exception):
      raise answer
    return answer
  assert model_server.wait_until_available(
      state, 'index version 7', 10, clock=clock, sleep=clock.sleep,
      interval_s=1) == 3

  clock = _Clock()
  with pytest.raises(TimeoutError) as e:
    model_server.wait_until_available(
        lambda: ('LOADING', ''), 'index version 7', 3, clock=clock,
        sleep=clock.sleep, interval_s=1)
  assert str(e.value) == ('index version 7 was not AVAILABLE on '
                          'tensorflow_model_server within 3 s (last: LOADING)')
  with pytest.raises(RuntimeError, match='^tensorflow_model_server could not '
                     'load index version 7: Could not find SavedModel$'):
    model_server.wait_until_available(
        lambda: ('END', 'Could not find SavedModel'), 'index version 7', 3,
        clock=clock, sleep=clock.sleep)
  with pytest.raises(RuntimeError, match='^tensorflow_model_server exited '
                     'before index version 7 was AVAILABLE: exit code 1'):
    model_server.wait_until_available(
        lambda: ('LOADING', ''), 'index version 7', 3,
        exited=lambda: 'exit code 1', clock=clock, sleep=clock.sleep)


def _log(**inputs):
  request = predict_pb2.PredictRequest()
  request.model_spec.name = 'warmup-name'
  request.model_spec.signature_name = 'serving_default'
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
  return prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))


def test_requests_are_the_warmup_requests_pinned_to_the_version():
  logs = [_log(year=np.array([np.nan, np.nan], np.float32)),
          _log(item_id=np.array([b'', b''], object))]
  requests = model_server.requests_for(logs, 'item_tower', 7)
  assert [r.model_spec.name for r in requests] == ['item_tower'] * 2
  assert [r.model_spec.version.value for r in requests] == [7, 7]
  assert requests[0].model_spec.signature_name == 'serving_default'
  assert np.isnan(tf.make_ndarray(requests[0].inputs['year'])).all()
  assert logs[0].predict_log.request.model_spec.name == 'warmup-name'  # copies
  response = predict_pb2.PredictResponse()
  response.outputs['item_ids'].CopyFrom(tf.make_tensor_proto(
      np.array([[b'a', b'b']], object)))
  response.outputs['scores'].CopyFrom(tf.make_tensor_proto(
      np.array([[0.5, 0.25]], np.float32)))
  out = model_server.outputs_of(response)
  assert out['item_ids'].tolist() == [[b'a', b'b']]
  assert out['scores'].tolist() == [[0.5, 0.25]]


def test_compare_names_the_request_and_output_that_differ():
  want = [{'scores': np.array([[0.5, np.nan]], np.float32),
           'item_ids': np.array([[b'a', b'b']], 'S')}]
  same = [{'scores': np.array([[0.5 + 1e-7, np.nan]], np.float32),
           'item_ids': np.array([[b'a', b'b']], object)}]
  model_server.compare(want, same, 'index version 7')
  far = [dict(same[0], scores=np.array([[0.6, np.nan]], np.float32))]
  with pytest.raises(ValueError, match=r"^index version 7, warmup request 1: "
                     r"output 'scores' differs from TensorFlow's \(largest "
                     r'difference 0.1\)$'):
    model_server.compare(want, far, 'index version 7')
  swapped = [dict(same[0], item_ids=np.array([[b'b', b'a']], object))]
  with pytest.raises(ValueError, match="output 'item_ids' differs .*2 of 2"):
    model_server.compare(want, swapped, 'index version 7')
  with pytest.raises(ValueError, match=r"output 'scores' has shape \(2,\)"):
    model_server.compare(want, [dict(same[0], scores=np.zeros(2))], 'x')
  with pytest.raises(ValueError, match=r"outputs \['scores'\], expected"):
    model_server.compare(want, [{'scores': same[0]['scores']}], 'x')
  with pytest.raises(ValueError, match='0 answers for 1 warmup requests'):
    model_server.compare(want, [], 'x')


@pytest.fixture(scope='module')
def tower(tmp_path_factory):
  """A real item tower SavedModel with its warmup requests."""
  path = test_towers.save_tower(str(tmp_path_factory.mktemp('tower')),
                                test_towers.ITEM_COLUMNS)
  warmup.write(path, 'item_tower')
  return path


class _Servicer(model_service_pb2_grpc.ModelServiceServicer,
                prediction_service_pb2_grpc.PredictionServiceServicer):
  """ModelService + PredictionService over one SavedModel, with TensorFlow:
  the protocol tensorflow_model_server speaks, for the client's round trip."""

  def __init__(self, saved_model_dir, name, version, loading_polls=2,
               shift=0.0):
    self._signature = tf.saved_model.load(saved_model_dir).signatures[
        'serving_default']
    self._name, self._version = name, version
    self._loading_polls, self._shift = loading_polls, shift
    self.polls = 0

  def GetModelStatus(self, request, context):
    self.polls += 1
    response = get_model_status_pb2.GetModelStatusResponse()
    status = response.model_version_status.add()
    status.version = self._version
    status.state = (get_model_status_pb2.ModelVersionStatus.LOADING
                    if self.polls <= self._loading_polls else
                    get_model_status_pb2.ModelVersionStatus.AVAILABLE)
    return response

  def Predict(self, request, context):
    assert (request.model_spec.name, request.model_spec.version.value) == (
        self._name, self._version)
    inputs = {k: tf.constant(tf.make_ndarray(v))
              for k, v in request.inputs.items()}
    response = predict_pb2.PredictResponse()
    for k, v in self._signature(**inputs).items():
      value = v.numpy()
      response.outputs[k].CopyFrom(tf.make_tensor_proto(
          value + self._shift if value.dtype.kind == 'f' else value))
    return response


def _serve(servicer):
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
  model_service_pb2_grpc.add_ModelServiceServicer_to_server(servicer, server)
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      servicer, server)
  [port] = ports.free_ports(1)
  server.add_insecure_port(f'127.0.0.1:{port}')
  server.start()
  return server, f'127.0.0.1:{port}'


def test_check_polls_until_available_then_compares_the_answers(tower):
  expected = warmup.replay_outputs(tower)
  requests = model_server.requests_for(warmup.read(tower), 'item_tower', 3)
  servicer = _Servicer(tower, 'item_tower', 3, loading_polls=2)
  server, target = _serve(servicer)
  try:
    seconds = model_server.check(target, 'item_tower', 3, requests, expected,
                                 timeout_s=30)
    assert seconds >= 0 and servicer.polls == 3
  finally:
    server.stop(0)
  server, target = _serve(_Servicer(tower, 'item_tower', 3, loading_polls=0,
                                    shift=0.01))
  try:
    with pytest.raises(ValueError, match="item_tower version 3, warmup "
                       "request 1: output 'embedding' differs"):
      model_server.check(target, 'item_tower', 3, requests, expected,
                         timeout_s=30)
  finally:
    server.stop(0)


def test_a_server_that_exits_fails_validation_in_one_line(tmp_path, tower,
                                                          monkeypatch):
  broken = _executable(tmp_path / 'tensorflow_model_server',
                       '#!/bin/sh\necho "unknown flag: --port"\nexit 3\n')
  monkeypatch.setenv('SSLREC_MODEL_SERVER', broken)
  staged = str(tmp_path / '.tmp-5-ab' / '5')
  shutil.copytree(tower, staged)
  with pytest.raises(RuntimeError) as e:
    serving.prepare(staged, 'item_tower')
  message = str(e.value)
  assert '\n' not in message
  assert message.startswith(
      f'item_tower: failed validation with {broken}: tensorflow_model_server '
      'exited before item_tower version 5 was AVAILABLE: exit code 3: '
      'unknown flag: --port'), message
  assert sorted(os.listdir(tmp_path / '.tmp-5-ab')) == ['5']  # no leftovers


@pytest.mark.skipif(
    model_server.binary() is None,
    reason='no tensorflow_model_server: it is not on PATH and '
    '$SSLREC_MODEL_SERVER is unset (no PyPI or Debian package ships the '
    'binary; install TF Serving and put it on PATH to run this test)')
def test_the_real_model_server_answers_as_tensorflow_does(tmp_path, tower,
                                                          caplog):
  staged = str(tmp_path / '.tmp-9-ab' / '9')
  shutil.copytree(tower, staged)
  with caplog.at_level('INFO'):
    serving.prepare(staged, 'item_tower')
  assert 'Validated item_tower with tensorflow_model_server: 2 warmup ' in (
      caplog.text)
  assert 'as TensorFlow answers them' in caplog.text

"""TF Serving warmup requests, and replaying them through a SavedModel.

TF Serving replays `assets.extra/tf_serving_warmup_requests` (a TFRecord file
of tensorflow.serving.PredictionLog) when it loads a version, so the first
real request does not pay for tracing and table initialization. The requests
are built from the model's `serving_default` signature: one batch of
`BATCH_SIZE` rows per request, every input a 1-D tensor of its dtype filled
with a neutral value (empty string, 0, NaN for floats: the contract's missing
value).

`replay_outputs` loads a SavedModel and runs every warmup request through
`serving_default`, checking each output's batch size and that float outputs
are finite; `python -m components.pusher.warmup DIR [OUTPUTS.npz]` does it in
a fresh process and saves the outputs (what the pusher calls before pushing,
InfraValidator-style; model_server.py compares a model server's answers with
them).
"""
import os
import sys
from typing import Dict, List

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

WARMUP_DIR = 'assets.extra'
WARMUP_FILE = 'tf_serving_warmup_requests'
SIGNATURE = 'serving_default'
BATCH_SIZE = 2
NUM_REQUESTS = 2
_NEUTRAL = {tf.string: b'', tf.int64: 0, tf.int32: 0,
            tf.float32: np.nan, tf.float64: np.nan}


def warmup_path(saved_model_dir: str) -> str:
  return os.path.join(saved_model_dir, WARMUP_DIR, WARMUP_FILE)


def _inputs(saved_model_dir: str) -> Dict[str, tf.TensorSpec]:
  loaded = tf.saved_model.load(saved_model_dir)
  if SIGNATURE not in loaded.signatures:
    raise ValueError(f'{saved_model_dir}: no {SIGNATURE} signature')
  _, kwargs = loaded.signatures[SIGNATURE].structured_input_signature
  return kwargs


def requests(saved_model_dir: str, model_name: str
             ) -> List[prediction_log_pb2.PredictionLog]:
  """PredictionLogs for the model's serving_default inputs."""
  logs = []
  for _ in range(NUM_REQUESTS):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SIGNATURE
    for name, spec in sorted(_inputs(saved_model_dir).items()):
      if spec.dtype not in _NEUTRAL:
        raise ValueError(f'{saved_model_dir}: input {name!r} has dtype '
                         f'{spec.dtype.name}, no warmup value for it')
      shape = [BATCH_SIZE] + [d or 1 for d in spec.shape.as_list()[1:]]
      value = np.full(shape, _NEUTRAL[spec.dtype],
                      dtype=object if spec.dtype == tf.string
                      else spec.dtype.as_numpy_dtype)
      request.inputs[name].CopyFrom(tf.make_tensor_proto(value, spec.dtype))
    logs.append(prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)))
  return logs


def write(saved_model_dir: str, model_name: str) -> str:
  """Writes the warmup file into a SavedModel folder; returns its path."""
  path = warmup_path(saved_model_dir)
  tf.io.gfile.makedirs(os.path.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for log in requests(saved_model_dir, model_name):
      writer.write(log.SerializeToString())
  return path


def read(saved_model_dir: str) -> List[prediction_log_pb2.PredictionLog]:
  return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(warmup_path(saved_model_dir))]


def replay_outputs(saved_model_dir: str) -> List[Dict[str, np.ndarray]]:
  """Runs every warmup request through serving_default; returns the outputs.

  Raises ValueError naming the request and output that failed (a batch size
  other than BATCH_SIZE, a float that is not finite).
  """
  signature = tf.saved_model.load(saved_model_dir).signatures[SIGNATURE]
  logs = read(saved_model_dir)
  if not logs:
    raise ValueError(f'{warmup_path(saved_model_dir)}: no warmup requests')
  results = []
  for number, log in enumerate(logs, start=1):
    request = log.predict_log.request
    inputs = {name: tf.constant(tf.make_ndarray(proto))
              for name, proto in request.inputs.items()}
    outputs = {name: tensor.numpy()
               for name, tensor in signature(**inputs).items()}
    for name, value in outputs.items():
      if value.shape[:1] != (BATCH_SIZE,):
        raise ValueError(f'warmup request {number}: output {name!r} has shape '
                         f'{value.shape}, expected batch {BATCH_SIZE}')
      if value.dtype.kind == 'f' and not np.isfinite(value).all():
        raise ValueError(f'warmup request {number}: output {name!r} is not '
                         'finite')
    results.append(outputs)
  return results


def replay(saved_model_dir: str) -> int:
  """Runs every warmup request through serving_default; returns how many."""
  return len(replay_outputs(saved_model_dir))


def save_outputs(outputs: List[Dict[str, np.ndarray]], path: str) -> None:
  """Writes replay_outputs to an .npz file (strings as bytes arrays)."""
  arrays = {}
  for number, by_name in enumerate(outputs):
    for name, value in by_name.items():
      arrays[f'{number}/{name}'] = (value.astype(bytes)
                                    if value.dtype == object else value)
  np.savez(path, **arrays)


def load_outputs(path: str) -> List[Dict[str, np.ndarray]]:
  with np.load(path, allow_pickle=False) as data:
    out: Dict[int, Dict[str, np.ndarray]] = {}
    for key in data.files:
      number, name = key.split('/', 1)
      out.setdefault(int(number), {})[name] = data[key]
  return [out[n] for n in sorted(out)]


def main(argv: List[str]) -> int:
  """`python -m components.pusher.warmup DIR [OUTPUTS.npz]`."""
  try:
    outputs = replay_outputs(argv[1])
    if len(argv) > 2:
      save_outputs(outputs, argv[2])
  except Exception as e:  # pylint: disable=broad-except  # reported to the parent
    print(f'FAILED: {type(e).__name__}: {e}', flush=True)
    return 1
  print(f'OK: {len(outputs)} warmup requests through {SIGNATURE}', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))

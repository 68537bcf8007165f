"""Strategy choice from TF_CONFIG, and a real two-worker training run."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from models import distribute
from models.config import TrainingConfig
from tests.support.ports import free_ports

CONFIG = TrainingConfig(epochs=4, batch_size=16, feature_embedding_dim=8,
                        tower_layers=(16, 8), learning_rate=0.2, seed=3,
                        ssl='rfm', ssl_batch_size=16, temperature=0.1,
                        query_encoder='pooled')


def _tf_config(task_type, index, workers=('a:1', 'b:2'), chief=()):
  cluster = {'worker': list(workers)}
  if chief:
    cluster['chief'] = list(chief)
  return {distribute.TF_CONFIG: json.dumps(
      {'cluster': cluster, 'task': {'type': task_type, 'index': index}})}


def test_one_worker_without_tf_config():
  w = distribute.workers({})
  assert (w.num_workers, w.index, w.is_chief) == (1, 0, True)
  assert w.seed(7) == 7 and w.export_dir('/m/query') == '/m/query'
  ds = tf.data.Dataset.range(5)
  assert list(w.shard(ds).as_numpy_iterator()) == [0, 1, 2, 3, 4]
  assert isinstance(distribute.strategy({}),
                    type(tf.distribute.get_strategy()))


def test_workers_from_tf_config():
  first = distribute.workers(_tf_config('worker', 0))
  second = distribute.workers(_tf_config('worker', 1))
  assert (first.num_workers, first.index, first.is_chief) == (2, 0, True)
  assert (second.num_workers, second.index, second.is_chief) == (2, 1, False)
  ds = tf.data.Dataset.range(5)
  # Disjoint shares that cover every element.
  assert list(first.shard(ds).as_numpy_iterator()) == [0, 2, 4]
  assert list(second.shard(ds).as_numpy_iterator()) == [1, 3]
  assert first.seed(7) != second.seed(7)
  assert second.export_dir('/m/query') == '/m/.worker-1-query'
  chief = distribute.workers(_tf_config('chief', 0, chief=('c:0',)))
  worker = distribute.workers(_tf_config('worker', 0, chief=('c:0',)))
  assert (chief.num_workers, chief.is_chief) == (3, True)
  assert (worker.index, worker.is_chief) == (1, False)


@pytest.mark.parametrize('value, message', [
    ('{', 'TF_CONFIG: not valid JSON'),
    ('[1]', 'TF_CONFIG: expected a JSON object'),
])
def test_bad_tf_config(value, message):
  with pytest.raises(ValueError, match=message):
    distribute.workers({distribute.TF_CONFIG: value})
  with pytest.raises(ValueError, match='is not in the cluster'):
    distribute.workers(_tf_config('worker', 5))


def _losses(log_dir):
  values = []
  for name in sorted(os.listdir(log_dir)):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(log_dir, name)):
      for value in event.summary.value:
        if value.tag == 'total_loss':
          values.append(float(tf.make_ndarray(value.tensor)))
  return values


@pytest.mark.e2e
def test_two_real_workers_train_and_the_chief_exports(tiny_transformed,
                                                     tmp_path):
  setup = tiny_transformed
  with open(tmp_path / 'config.json', 'w') as f:
    json.dump({'features': setup['fc'].to_dict(),
               'training': CONFIG.to_dict()}, f)
  addresses = [f'127.0.0.1:{p}' for p in free_ports(2)]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [os.getcwd()] + os.environ.get('PYTHONPATH', '').split(os.pathsep)),
             TF_USE_LEGACY_KERAS='1', TF_CPP_MIN_LOG_LEVEL='2')
  procs = []
  for index in range(2):
    env[distribute.TF_CONFIG] = json.dumps({
        'cluster': {'worker': addresses},
        'task': {'type': 'worker', 'index': index}})
    procs.append(subprocess.Popen(
        [sys.executable, '-m', 'tests.support.distributed_worker',
         str(setup['root']), str(tmp_path)], env=dict(env), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True))
  outputs = []
  for p in procs:
    try:
      out, _ = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
      for q in procs:
        q.kill()
      raise
    outputs.append(out)
  for p, out in zip(procs, outputs):
    assert p.returncode == 0, out[-3000:]
  # tf.distribute.MultiWorkerMirroredStrategy is CollectiveAllReduceStrategy.
  assert 'CollectiveAllReduceStrategy, 2 replica(s), worker 0 of 2 (chief)' \
      in outputs[0]
  assert 'CollectiveAllReduceStrategy, 2 replica(s), worker 1 of 2' \
      in outputs[1]
  export = tmp_path / 'export'
  # Only the chief's towers remain; the other worker's scratch copies are gone.
  assert sorted(os.listdir(export)) == ['item', 'logs', 'query']
  item = tf.saved_model.load(str(export / 'item')).signatures['serving_default']
  query = tf.saved_model.load(str(export / 'query')).signatures[
      'serving_default']
  items = setup['items'][:5]
  item_inputs = {name: tf.constant(
      ['' if r[name] is None else r[name] for r in items]
      if spec.dtype == tf.string else
      [np.nan if r[name] is None else r[name] for r in items], spec.dtype)
      for name, spec in item.structured_input_signature[1].items()}
  embeddings = item(**item_inputs)['embedding'].numpy()
  assert embeddings.shape == (5, CONFIG.tower_layers[-1])
  np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)
  assert set(query.structured_outputs) >= {'embedding'}
  losses = _losses(str(export / 'logs' / 'train'))
  assert len(losses) == CONFIG.epochs
  assert losses[-1] < losses[0], losses


def test_heartbeat_timeout_from_the_environment():
  two = _tf_config('worker', 1)
  assert distribute.coordination_settings(two) is None  # TF's default
  env = dict(two, **{distribute.HEARTBEAT_ENV: '90'})
  assert distribute.heartbeat_timeout_ms(env) == 90_000
  assert distribute.coordination_settings(env) == {
      'service_type': 'standalone',
      'service_leader': '/job:worker/replica:0/task:0',
      'heartbeat_timeout_in_ms': 90_000,
      'coordinated_jobs': [('worker', 2)]}
  chief = {distribute.HEARTBEAT_ENV: '2.5', distribute.TF_CONFIG: json.dumps({
      'cluster': {'chief': ['a:1'], 'worker': ['b:1', 'c:1']},
      'task': {'type': 'worker', 'index': 1}})}
  settings = distribute.coordination_settings(chief)
  assert settings['service_leader'] == '/job:chief/replica:0/task:0'
  assert settings['heartbeat_timeout_in_ms'] == 2500
  assert settings['coordinated_jobs'] == [('chief', 1), ('worker', 2)]
  # One worker: no coordination service to configure.
  assert distribute.coordination_settings({distribute.HEARTBEAT_ENV: '90'}) \
      is None


@pytest.mark.parametrize('value', ['soon', '0', '-5', 'nan', 'inf'])
def test_bad_heartbeat_timeout(value):
  with pytest.raises(ValueError, match=(
      f'{distribute.HEARTBEAT_ENV}: expected seconds > 0, got {value!r}')):
    distribute.heartbeat_timeout_ms({distribute.HEARTBEAT_ENV: value})

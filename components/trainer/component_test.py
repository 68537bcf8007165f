"""Tests of the TwoTowerTrainer component spec and its FnArgs."""
import json

import pytest

from tfx.types import channel_utils
from tfx.types import standard_artifacts

from components.mutual_information.artifact import MutualInformation
from components.trainer import component
from components.trainer import executor


def _channel(artifact_type):
  return channel_utils.as_channel([artifact_type()])


def test_typed_inputs_outputs_and_properties():
  trainer = component.TwoTowerTrainer(
      examples=_channel(standard_artifacts.Examples),
      transform_graph=_channel(standard_artifacts.TransformGraph),
      item_examples=_channel(standard_artifacts.Examples),
      item_transform_graph=_channel(standard_artifacts.TransformGraph),
      mutual_information=_channel(MutualInformation),
      features={'item_features': []}, training_config={'ssl': 'cfm'})
  assert trainer.inputs['mutual_information'].type == MutualInformation
  assert trainer.outputs['query_model'].type == standard_artifacts.Model
  assert trainer.outputs['item_model'].type == standard_artifacts.Model
  assert trainer.outputs['model_run'].type == standard_artifacts.ModelRun
  assert json.loads(trainer.exec_properties['training_config']) == {'ssl': 'cfm'}
  assert trainer.exec_properties['run_fn'] == 'models.model.run_fn'


def test_fn_args_carry_both_transforms_corpus_and_mi(tmp_path):
  def artifact(artifact_type, name, splits=None):
    a = artifact_type()
    a.uri = str(tmp_path / name)
    if splits:
      a.split_names = json.dumps(splits)
    return a

  inputs = {
      'examples': [artifact(standard_artifacts.Examples, 'ex', ['train', 'eval'])],
      'transform_graph': [artifact(standard_artifacts.TransformGraph, 'tg')],
      'item_examples': [artifact(standard_artifacts.Examples, 'it', ['corpus'])],
      'item_transform_graph': [artifact(standard_artifacts.TransformGraph, 'itg')],
      'mutual_information': [artifact(MutualInformation, 'mi')],
  }
  outputs = {
      'query_model': [artifact(standard_artifacts.Model, 'qm')],
      'item_model': [artifact(standard_artifacts.Model, 'im')],
      'model_run': [artifact(standard_artifacts.ModelRun, 'run')],
  }
  fn_args = executor.make_fn_args(inputs, outputs, {
      'features': '{"a": 1}', 'training_config': '{"ssl": "rfm"}'})
  assert fn_args.train_files == [str(tmp_path / 'ex' / 'Split-train' / '*')]
  assert fn_args.eval_files == [str(tmp_path / 'ex' / 'Split-eval' / '*')]
  assert fn_args.item_files == [str(tmp_path / 'it' / 'Split-corpus' / '*')]
  assert fn_args.transform_output == str(tmp_path / 'tg')
  assert fn_args.item_transform_output == str(tmp_path / 'itg')
  assert fn_args.serving_model_dir == str(tmp_path / 'qm' / 'Format-Serving')
  assert fn_args.item_serving_model_dir == str(tmp_path / 'im' / 'Format-Serving')
  assert fn_args.mutual_information_path == str(
      tmp_path / 'mi' / 'mutual_information.json')
  assert fn_args.custom_config == {'features': {'a': 1},
                                   'training': {'ssl': 'rfm'}}


@pytest.fixture(name='vertex')
def _vertex():
  """components/trainer/vertex.py, imported by the tests that use it only: it
  loads TFX's Google Cloud extension, seconds every test process would pay
  at collection."""
  from components.trainer import vertex  # pylint: disable=g-import-not-at-top
  return vertex


def test_vertex_job_runs_the_project_executor_on_vertex_worker_pools(vertex):
  job = vertex.VertexJob(project='p', region='europe-west4', image='img:1',
                         workers=3, machine_type='n1-highmem-8',
                         accelerator_type='NVIDIA_TESLA_T4',
                         accelerator_count=1)
  trainer = component.TwoTowerTrainer(
      examples=_channel(standard_artifacts.Examples),
      transform_graph=_channel(standard_artifacts.TransformGraph),
      item_examples=_channel(standard_artifacts.Examples),
      item_transform_graph=_channel(standard_artifacts.TransformGraph),
      features={}, training_config={}, vertex_job=job)
  assert trainer.executor_spec.executor_class is vertex.VertexExecutor
  assert vertex.VertexExecutor()._GetExecutorClass() is executor.Executor
  config = json.loads(trainer.exec_properties['custom_config'])
  assert config[vertex.ENABLE_VERTEX_KEY] is True
  assert config[vertex.VERTEX_REGION_KEY] == 'europe-west4'
  args = config[vertex.TRAINING_ARGS_KEY]
  assert args['project'] == 'p'
  chief, workers = args['job_spec']['worker_pool_specs']
  assert (chief['replica_count'], workers['replica_count']) == (1, 2)
  for pool in (chief, workers):
    assert pool['container_spec'] == {'image_uri': 'img:1'}
    assert pool['machine_spec'] == {'machine_type': 'n1-highmem-8',
                                    'accelerator_type': 'NVIDIA_TESLA_T4',
                                    'accelerator_count': 1}


def test_local_trainer_has_no_custom_config():
  trainer = component.TwoTowerTrainer(
      examples=_channel(standard_artifacts.Examples),
      transform_graph=_channel(standard_artifacts.TransformGraph),
      item_examples=_channel(standard_artifacts.Examples),
      item_transform_graph=_channel(standard_artifacts.TransformGraph),
      features={}, training_config={})
  assert 'custom_config' not in trainer.exec_properties or \
      trainer.exec_properties['custom_config'] is None
  assert trainer.executor_spec.executor_class is executor.Executor


def test_vertex_job_checks_its_fields(vertex):
  with pytest.raises(ValueError, match='workers must be >= 1'):
    vertex.VertexJob(project='p', region='r', image='i', workers=0)
  with pytest.raises(ValueError, match='project is required'):
    vertex.VertexJob(project='', region='r', image='i')
  with pytest.raises(ValueError, match='accelerator type and a count'):
    vertex.VertexJob(project='p', region='r', image='i',
                     accelerator_type='NVIDIA_TESLA_T4')
  one = vertex.VertexJob(project='p', region='r', image='i')
  assert len(one.worker_pool_specs()) == 1

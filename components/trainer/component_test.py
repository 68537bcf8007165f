"""Tests of the TwoTowerTrainer component spec and its FnArgs."""
import json

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

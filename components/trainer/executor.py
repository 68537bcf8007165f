"""Executor of TwoTowerTrainer: builds FnArgs from the typed inputs, calls run_fn."""
import json
import logging
from typing import Any, Dict, List

from tfx import types
from tfx.components.trainer import fn_args_utils
from tfx.components.util import udf_utils
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils
from tfx.utils import path_utils

from components import tower_io
from components.mutual_information import artifact as mi_artifact

TRAIN_SPLIT = 'train'
EVAL_SPLIT = 'eval'
CORPUS_SPLIT = 'corpus'


def _split_files(artifacts: List[types.Artifact], split: str) -> List[str]:
  return [io_utils.all_files_pattern(uri)
          for uri in artifact_utils.get_split_uris(artifacts, split)]


def make_fn_args(input_dict: Dict[str, List[types.Artifact]],
                 output_dict: Dict[str, List[types.Artifact]],
                 exec_properties: Dict[str, Any]) -> fn_args_utils.FnArgs:
  """FnArgs of the stock Trainer plus the two-tower extras.

  Extras: item_files (transformed corpus), item_transform_output,
  item_serving_model_dir, mutual_information_path (or None).
  """
  query_model = artifact_utils.get_single_instance(output_dict['query_model'])
  item_model = artifact_utils.get_single_instance(output_dict['item_model'])
  fn_args = fn_args_utils.FnArgs(
      working_dir=None,
      train_files=_split_files(input_dict['examples'], TRAIN_SPLIT),
      eval_files=_split_files(input_dict['examples'], EVAL_SPLIT),
      transform_output=artifact_utils.get_single_uri(input_dict['transform_graph']),
      transform_graph_path=artifact_utils.get_single_uri(
          input_dict['transform_graph']),
      serving_model_dir=path_utils.serving_model_dir(query_model.uri),
      model_run_dir=artifact_utils.get_single_uri(output_dict['model_run']),
      custom_config={
          'features': json.loads(exec_properties['features']),
          'training': json.loads(exec_properties['training_config']),
      })
  fn_args.item_files = _split_files(input_dict['item_examples'], CORPUS_SPLIT)
  fn_args.item_transform_output = artifact_utils.get_single_uri(
      input_dict['item_transform_graph'])
  fn_args.item_serving_model_dir = path_utils.serving_model_dir(item_model.uri)
  mi = input_dict.get('mutual_information')
  fn_args.mutual_information_path = (
      mi_artifact.file_path(artifact_utils.get_single_uri(mi))
      if mi else None)
  return fn_args


class Executor(base_executor.BaseExecutor):
  """Runs the user's run_fn and checks that both towers were exported."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    fn_args = make_fn_args(input_dict, output_dict, exec_properties)
    run_fn = udf_utils.get_fn(exec_properties, 'run_fn')
    logging.info('Training the two towers with %s', exec_properties['run_fn'])
    run_fn(fn_args)
    for path in (fn_args.serving_model_dir, fn_args.item_serving_model_dir):
      if not fileio.exists(path):
        raise RuntimeError(f'run_fn did not export a SavedModel to {path}')
    item_model = artifact_utils.get_single_instance(output_dict['item_model'])
    query_model = artifact_utils.get_single_instance(output_dict['query_model'])
    query_model.set_string_custom_property(tower_io.ITEM_MODEL_URI_PROPERTY,
                                           item_model.uri)
    logging.info('Query tower: %s; item tower: %s', fn_args.serving_model_dir,
                 fn_args.item_serving_model_dir)

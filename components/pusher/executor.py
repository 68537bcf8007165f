"""AtomicPusher executor: pushes a blessed Model's Format-Serving SavedModel."""
import logging
import os
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components import tower_io
from components.pusher import serving
from components.pusher import versions

MODEL_KEY = 'model'
MODEL_BLESSING_KEY = 'model_blessing'
PUSHED_MODEL_KEY = 'pushed_model'
BASE_DIRECTORY_KEY = 'base_directory'
# Comma-separated sibling model folders published together as one version
# (default: this model alone).
VERSION_MODELS_KEY = 'version_models'
# PushedModel custom properties, named as the stock Pusher names them.
PUSHED_PROPERTY = 'pushed'
PUSHED_DESTINATION_PROPERTY = 'pushed_destination'
PUSHED_VERSION_PROPERTY = 'pushed_version'
# 0 when the latest version already held the same bytes (nothing copied).
NEW_VERSION_PROPERTY = 'new_version'
# The journal key of the version (versions.py): a pusher that ran before the
# version was published records the version it expected, which the last
# pusher may move (another model changed); the journal has the final one.
VERSION_KEY_PROPERTY = 'version_key'


class Executor(base_executor.BaseExecutor):
  """Refuses an unblessed model (pushed=0); else pushes atomically (pushed=1)."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    model = artifact_utils.get_single_instance(input_dict[MODEL_KEY])
    pushed = artifact_utils.get_single_instance(output_dict[PUSHED_MODEL_KEY])
    blessings = input_dict.get(MODEL_BLESSING_KEY) or []
    if blessings:
      blessing = blessings[0]
      if blessing.get_int_custom_property('blessed') != 1:
        message = blessing.get_string_custom_property('blessing_message')
        logging.warning('Not pushing %s: the model is not blessed (%s).',
                        model.uri, message or blessing.uri)
        pushed.set_int_custom_property(PUSHED_PROPERTY, 0)
        return
      key = f'blessing-{blessing.id}'  # shared by the run's three pushers
    else:
      logging.warning('Pushing %s without a ModelBlessing input.', model.uri)
      key = f'model-{model.id}'
    base_directory = exec_properties[BASE_DIRECTORY_KEY].rstrip('/')
    serving_root, name = os.path.split(base_directory)
    names = [n for n in (exec_properties.get(VERSION_MODELS_KEY) or ''
                         ).split(',') if n] or [name]
    for line in versions.repair(serving_root, keep_key=key):
      logging.warning('%s: %s', serving_root, line)
    result = versions.push_model(
        tower_io.serving_dir(model.uri), serving_root, name, key,
        prepare=serving.prepare, names=names)
    pushed.set_int_custom_property(PUSHED_PROPERTY, 1)
    pushed.set_string_custom_property(PUSHED_DESTINATION_PROPERTY,
                                      result.destination)
    pushed.set_string_custom_property(PUSHED_VERSION_PROPERTY,
                                      str(result.version))
    pushed.set_int_custom_property(NEW_VERSION_PROPERTY, int(result.new))
    pushed.set_string_custom_property(VERSION_KEY_PROPERTY, key)
    logging.info('%s %s to %s.', 'Pushed' if result.new else 'Already pushed',
                 model.uri, result.destination)

"""AtomicPusher: one Model artifact's SavedModel to `<base_directory>/<version>/`."""
from typing import Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from components.pusher import executor


class AtomicPusherSpec(types.ComponentSpec):
  """Inputs, outputs and parameters of AtomicPusher."""
  PARAMETERS = {
      executor.BASE_DIRECTORY_KEY: ExecutionParameter(type=str),
      executor.VERSION_MODELS_KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {
      executor.MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.MODEL_BLESSING_KEY: ChannelParameter(
          type=standard_artifacts.ModelBlessing, optional=True),
  }
  OUTPUTS = {
      executor.PUSHED_MODEL_KEY: ChannelParameter(
          type=standard_artifacts.PushedModel),
  }


class AtomicPusher(base_component.BaseComponent):
  """Pushes a Model artifact's Format-Serving SavedModel atomically.

  Output `pushed_model`: PushedModel with int `pushed` (1, or 0 when the
  blessing says not blessed), string `pushed_destination` and
  `pushed_version`, as the stock Pusher sets them. Use one AtomicPusher per
  Model artifact (`.with_id(...)`), each with its own base_directory.
  """
  SPEC_CLASS = AtomicPusherSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, model: types.BaseChannel, base_directory: str,
               model_blessing: Optional[types.BaseChannel] = None,
               version_models: Sequence[str] = ()):
    """Constructs the component.

    Args:
      model: Model channel whose `<uri>/Format-Serving` holds one SavedModel.
      base_directory: serving directory; versions go to `<it>/<version>/`.
      model_blessing: optional ModelBlessing; an unblessed model is not pushed.
      version_models: the sibling model folders (of base_directory's parent)
        whose pushers together make one version; it is published when the
        last of them has pushed (components/pusher/versions.py). Default:
        this model alone.
    """
    if not base_directory:
      raise ValueError('base_directory must be a non-empty path')
    super().__init__(spec=AtomicPusherSpec(
        model=model, model_blessing=model_blessing,
        base_directory=base_directory,
        version_models=','.join(version_models) or None,
        pushed_model=types.Channel(type=standard_artifacts.PushedModel)))

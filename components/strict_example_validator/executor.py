"""ExampleValidator executor that fails the run when it finds anomalies."""
from typing import Any, Dict, List

from tfx import types
from tfx.components.example_validator import executor as validator_executor
from tfx.components.example_validator import labels
from tfx.types import artifact_utils

from components.strict_example_validator import anomalies as anomalies_lib
from pipeline.errors import UserError


class AnomaliesFoundError(UserError):
  """Raised after the anomalies artifact is written: one line naming the
  features and the data (a ValueError: bad input, exit code 2)."""


class Executor(validator_executor.Executor):
  """Writes the anomalies like the stock executor, then raises if any."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]):
    self._found = {}
    result = super().Do(input_dict, output_dict, exec_properties)
    if self._found:
      anomalies_uri = artifact_utils.get_single_uri(output_dict['anomalies'])
      source = exec_properties.get('source') or artifact_utils.get_single_uri(
          input_dict['statistics'])
      raise AnomaliesFoundError(
          anomalies_lib.error_message(source, self._found, anomalies_uri))
    return result

  def _Validate(self, inputs, outputs):
    anomalies = super()._Validate(inputs, outputs)
    lines = anomalies_lib.describe(anomalies)
    if lines:
      split = outputs[labels.SCHEMA_DIFF_PATH].rstrip('/').rsplit('Split-', 1)[-1]
      self._found[split] = lines
    return anomalies

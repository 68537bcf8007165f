"""StrictExampleValidator: ExampleValidator whose run fails on anomalies.

The stock ExampleValidator records anomalies but lets the pipeline go on; here
data that breaks the declared schema stops the run (Transform and Trainer are
placed downstream of it) with a one-line error naming the features and the
data folder (`source`); the full anomalies stay in the `anomalies` artifact.
"""
from typing import Optional

from tfx import types
from tfx.components.example_validator import component as validator_component
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types import component_spec
from tfx.types import standard_component_specs

from components.strict_example_validator import executor

SOURCE_KEY = 'source'


class StrictExampleValidatorSpec(standard_component_specs.ExampleValidatorSpec):
  PARAMETERS = dict(
      standard_component_specs.ExampleValidatorSpec.PARAMETERS,
      **{SOURCE_KEY: component_spec.ExecutionParameter(type=str,
                                                        optional=True)})


class StrictExampleValidator(validator_component.ExampleValidator):
  """ExampleValidator failing the run; `source` names the CSVs in errors."""
  SPEC_CLASS = StrictExampleValidatorSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self, statistics, schema, source: Optional[str] = None):
    spec = StrictExampleValidatorSpec(
        statistics=statistics, schema=schema, source=source,
        anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies))
    base_component.BaseComponent.__init__(self, spec=spec)

"""StrictExampleValidator: ExampleValidator whose run fails on anomalies.

The stock ExampleValidator records anomalies but lets the pipeline go on; here
data that breaks the declared schema stops the run (Transform and Trainer are
placed downstream of it) with an error naming each anomaly.
"""
from tfx.components.example_validator import component as validator_component
from tfx.dsl.components.base import executor_spec

from components.strict_example_validator import executor


class StrictExampleValidator(validator_component.ExampleValidator):
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

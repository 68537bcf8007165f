"""Component test: the validator's spec carries the data source for errors."""
from tfx.types import channel_utils
from tfx.types import standard_artifacts

from components.strict_example_validator.component import StrictExampleValidator


def test_source_is_an_exec_property_and_anomalies_an_output():
  validator = StrictExampleValidator(
      statistics=channel_utils.as_channel([standard_artifacts.ExampleStatistics()]),
      schema=channel_utils.as_channel([standard_artifacts.Schema()]),
      source='/data/items')
  assert validator.exec_properties['source'] == '/data/items'
  assert (validator.outputs['anomalies'].type ==
          standard_artifacts.ExampleAnomalies)

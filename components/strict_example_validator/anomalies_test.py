"""Tests of the anomaly summaries that stop a run."""
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.strict_example_validator import anomalies


def test_describe_names_each_feature_and_reason():
  proto = text_format.Parse('''
    anomaly_info {
      key: "gender"
      value {
        reason { short_description: "Unexpected string values"
                 description: "Examples contain values missing from the schema: X (~1%)." }
      }
    }
    anomaly_info {
      key: "age"
      value {
        reason { short_description: "Out-of-range values" description: "min -5 < 0" }
      }
    }''', anomalies_pb2.Anomalies())
  lines = anomalies.describe(proto)
  assert lines == [
      'age: Out-of-range values (min -5 < 0)',
      'gender: Unexpected string values (Examples contain values missing from '
      'the schema: X (~1%).)']
  message = anomalies.error_message('data/interactions', {'train': lines},
                                    '/out/anomalies/7')
  assert '\n' not in message
  assert message.startswith('data/interactions: data breaks the declared '
                            'schema: [train] age: Out-of-range values (min -5 < 0) | '
                            '[train] gender: Unexpected string values')
  assert message.endswith('; all anomalies in /out/anomalies/7')


def test_no_anomalies_no_lines():
  assert anomalies.describe(anomalies_pb2.Anomalies()) == []

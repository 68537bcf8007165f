"""Readable summaries of TFDV anomalies (pure: no TFX imports)."""
from typing import Dict, List

from tensorflow_metadata.proto.v0 import anomalies_pb2


def describe(anomalies: anomalies_pb2.Anomalies) -> List[str]:
  """One line per anomaly: `feature: short description (description)`."""
  lines = []
  for feature, info in sorted(anomalies.anomaly_info.items()):
    reasons = '; '.join(
        f'{r.short_description} ({r.description})' for r in info.reason) or (
            f'{info.short_description} ({info.description})')
    lines.append(f'{feature}: {reasons}')
  if anomalies.HasField('dataset_anomaly_info'):
    info = anomalies.dataset_anomaly_info
    reasons = '; '.join(f'{r.short_description} ({r.description})'
                        for r in info.reason)
    lines.append(f'<dataset>: {reasons}')
  return lines


def error_message(source: str, per_split: Dict[str, List[str]],
                  anomalies_uri: str = '') -> str:
  """The one-line error raised when any split has anomalies.

  Names the data folder, each split and feature with its first reason; the
  full anomalies stay in the ExampleAnomalies artifact at `anomalies_uri`.
  """
  parts = []
  for split, lines in sorted(per_split.items()):
    parts.extend(f'[{split}] {line}' for line in lines)
  where = f'; all anomalies in {anomalies_uri}' if anomalies_uri else ''
  return (f'{source}: data breaks the declared schema: '
          f'{" | ".join(p.replace(chr(10), " ") for p in parts)}{where}')

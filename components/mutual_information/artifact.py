"""The `MutualInformation` artifact type and how to read it.

The artifact's URI holds one file, `mutual_information.json`:
  {"features": [names], "mi": [[...]], "normalized_mi": [[...]],
   "entropy": [...], "num_items": N, "params": {...}}
`mi` is symmetric, in nats, with each feature's entropy on the diagonal;
`normalized_mi` = MI / sqrt(H_i H_j). The executor also records `num_items`
and `num_features` as custom properties, so they show in ML Metadata.
"""
import json
import os
from typing import Any, Dict

from tfx.dsl.io import fileio
from tfx.types import artifact

from components.mutual_information.counting import FILE_NAME


class MutualInformation(artifact.Artifact):
  """Pairwise mutual information between item features."""
  # '<namespace>.<Name>': the form Kubeflow V2 / Vertex require of custom types.
  TYPE_NAME = 'sslrec.MutualInformation'


def file_path(uri: str) -> str:
  return os.path.join(uri, FILE_NAME)


def load(uri: str) -> Dict[str, Any]:
  """The parsed mutual_information.json of an artifact URI."""
  path = file_path(uri)
  if not fileio.exists(path):
    raise FileNotFoundError(f'no {FILE_NAME} in MutualInformation artifact '
                            f'{uri}')
  with fileio.open(path, 'r') as f:
    return json.loads(f.read())

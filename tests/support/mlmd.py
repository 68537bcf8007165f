"""Reading a pipeline output's ML Metadata store and serving folder, for tests."""
import glob
import os
from typing import Dict, List

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2


def store(output: str) -> metadata_store.MetadataStore:
  """The read-only MLMD store of a pipeline output folder."""
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(output, 'metadata.sqlite')
  config.sqlite.connection_mode = 1  # READONLY
  return metadata_store.MetadataStore(config)


def executions_by_node(output: str) -> Dict[str, List[int]]:
  """{component id: [execution states, oldest first]} over every run."""
  s = store(output)
  out = {}
  for context in s.get_contexts_by_type('node'):
    node = context.name.split('.', 1)[1]
    executions = sorted(s.get_executions_by_context(context.id),
                        key=lambda e: e.id)
    out[node] = [e.last_known_state for e in executions]
  return out


def versions(output: str, folder: str) -> List[str]:
  """The pushed version folders under <output>/serving/<folder>."""
  return sorted(glob.glob(os.path.join(output, 'serving', folder, '*')))

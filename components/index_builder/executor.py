"""IndexBuilder executor: embeds the corpus with the item tower, exports the index."""
import json
import logging
import os
import uuid
from typing import Any, Dict, List, Tuple

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components import tower_io
from components.index_builder import index

QUERY_MODEL_KEY = 'query_model'
ITEM_MODEL_KEY = 'item_model'
ITEMS_KEY = 'items'
INDEX_KEY = 'index'
K_KEY = 'k'
KIND_KEY = 'kind'
SCANN_OPTIONS_KEY = 'scann_options'
BATCH_SIZE_KEY = 'batch_size'
HISTORY_COLUMN_KEY = 'history_column'

ITEM_ID = 'item_id'
CORPUS_SPLIT = 'corpus'


def embed_corpus(item_model_uri: str, items_uri: str, batch_size: int = 4096
                 ) -> Tuple[np.ndarray, np.ndarray]:
  """Returns (item ids [num_items] str, embeddings float32 [num_items, d])."""
  tower = tower_io.load_tower(item_model_uri)
  columns = dict(tower.columns, **{ITEM_ID: tf.string})
  ids, embeddings = [], [np.zeros([0, tower.dim], np.float32)]
  for batch in tower_io.read_split(items_uri, CORPUS_SPLIT, columns,
                                   batch_size):
    ids.extend(i.decode('utf-8') for i in batch[ITEM_ID])
    embeddings.append(tower.embed(batch))
  if len(set(ids)) != len(ids):
    raise ValueError(f'{items_uri}: split {CORPUS_SPLIT!r} has duplicate '
                     f'item ids')
  return np.array(ids, dtype=object), np.concatenate(embeddings)


class Executor(base_executor.BaseExecutor):
  """Builds `<index uri>/Format-Serving` (written to a temp dir, then renamed)."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    query_model = artifact_utils.get_single_instance(
        input_dict[QUERY_MODEL_KEY])
    item_model = artifact_utils.get_single_instance(input_dict[ITEM_MODEL_KEY])
    items = artifact_utils.get_single_instance(input_dict[ITEMS_KEY])
    output = artifact_utils.get_single_instance(output_dict[INDEX_KEY])
    kind = exec_properties[KIND_KEY]
    scann_options = json.loads(exec_properties.get(SCANN_OPTIONS_KEY) or '{}')

    item_ids, embeddings = embed_corpus(
        item_model.uri, items.uri, int(exec_properties[BATCH_SIZE_KEY]))
    retrieval = index.RetrievalIndex(
        tower_io.serving_dir(query_model.uri), embeddings, item_ids,
        k=int(exec_properties[K_KEY]), kind=kind, scann_options=scann_options,
        history_column=exec_properties.get(HISTORY_COLUMN_KEY,
                                           index.HISTORY_COLUMN))
    final_dir = tower_io.serving_dir(output.uri)
    tmp_dir = os.path.join(output.uri, f'.tmp-{uuid.uuid4().hex}')
    retrieval.save(tmp_dir)
    fileio.rename(tmp_dir, final_dir)
    output.set_string_custom_property('index_kind', kind)
    output.set_int_custom_property('k', retrieval.k)
    output.set_int_custom_property('num_items', len(item_ids))
    output.set_string_custom_property('history_column',
                                      retrieval.history_column or '')
    output.set_string_custom_property('query_model_uri', query_model.uri)
    output.set_string_custom_property(tower_io.ITEM_MODEL_URI_PROPERTY,
                                      item_model.uri)
    logging.info('%s index over %d items (k=%d) written to %s.', kind,
                 len(item_ids), retrieval.k, final_dir)

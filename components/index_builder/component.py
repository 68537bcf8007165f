"""IndexBuilder: a retrieval-index SavedModel from the two towers and the item corpus."""
import json
from typing import Any, Mapping, Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from components.index_builder import executor
from components.index_builder import index
from components.index_builder.kinds import IndexKind


class IndexBuilderSpec(types.ComponentSpec):
  """Inputs, outputs and parameters of IndexBuilder."""
  PARAMETERS = {
      executor.K_KEY: ExecutionParameter(type=int),
      executor.KIND_KEY: ExecutionParameter(type=str),
      executor.SCANN_OPTIONS_KEY: ExecutionParameter(type=str, optional=True),
      executor.BATCH_SIZE_KEY: ExecutionParameter(type=int),
      executor.HISTORY_COLUMN_KEY: ExecutionParameter(type=str, optional=True),
  }
  INPUTS = {
      executor.QUERY_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.ITEM_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.ITEMS_KEY: ChannelParameter(type=standard_artifacts.Examples),
  }
  OUTPUTS = {
      executor.INDEX_KEY: ChannelParameter(type=standard_artifacts.Model),
  }


class IndexBuilder(base_component.BaseComponent):
  """Exports `serving_default(raw query features) -> {item_ids, scores}`
  (and `with_exclusions(raw query features, exclude_item_ids)`).

  Output `index`: a Model artifact whose Format-Serving holds the SavedModel
  (query tower + top-k over the item tower's embeddings of the whole corpus),
  with custom properties index_kind, k, num_items, query_model_uri,
  item_model_uri.
  """
  SPEC_CLASS = IndexBuilderSpec
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

  def __init__(self,
               query_model: types.BaseChannel,
               item_model: types.BaseChannel,
               items: types.BaseChannel,
               k: int = index.DEFAULT_K,
               kind: IndexKind = IndexKind.BRUTE_FORCE,
               scann_options: Optional[Mapping[str, Any]] = None,
               batch_size: int = 4096,
               history_column: str = index.HISTORY_COLUMN):
    """Constructs the component.

    Args:
      query_model: Model channel of the query tower.
      item_model: Model channel of the item tower.
      items: raw items Examples with split `corpus`.
      k: results per query (capped at the corpus size).
      kind: an IndexKind (or its string): BRUTE_FORCE (exact, TFRS
        BruteForce) or SCANN (approximate, needs the [scann] extra).
      scann_options: overrides of index.default_scann_options (num_leaves,
        num_leaves_to_search, num_reordering_candidates, dimensions_per_block,
        training_iterations).
      batch_size: corpus items embedded at a time.
      history_column: the query tower input (`|`-joined item ids) whose items
        the index leaves out of each request's results; '' = none.
    """
    kind = IndexKind.parse(kind, 'kind')
    if k < 1 or batch_size < 1:
      raise ValueError(f'k and batch_size must be >= 1, got {k}, {batch_size}')
    super().__init__(spec=IndexBuilderSpec(
        query_model=query_model, item_model=item_model, items=items, k=k,
        kind=kind.value, scann_options=json.dumps(dict(scann_options or {})),
        batch_size=batch_size, history_column=history_column,
        index=types.Channel(type=standard_artifacts.Model)))

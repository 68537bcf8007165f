"""RetrievalEvaluator: Recall@K / MAP@K by slice with 95% intervals, vs popularity and the baseline, and the blessing gate."""
from typing import List, Optional

from tfx import types
from tfx.dsl.components.base import base_beam_component
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter
from tfx.types.component_spec import ExecutionParameter

from components.retrieval_evaluator import blessing
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import exclusion as exclusion_lib
from components.retrieval_evaluator import executor
from components.retrieval_evaluator import metrics


class RetrievalEvaluatorSpec(types.ComponentSpec):
  """Inputs, outputs and parameters of RetrievalEvaluator."""
  PARAMETERS = {
      executor.KS_KEY: ExecutionParameter(type=List[int]),
      executor.BLESSING_K_KEY: ExecutionParameter(type=int),
      executor.MIN_RECALL_KEY: ExecutionParameter(type=float),
      executor.MIN_EVAL_EVENTS_KEY: ExecutionParameter(type=int, optional=True),
      executor.MIN_EVAL_USERS_KEY: ExecutionParameter(type=int, optional=True),
      executor.MAX_OVERALL_DROP_KEY: ExecutionParameter(type=float),
      executor.MAX_TAIL_DROP_KEY: ExecutionParameter(type=float),
      executor.EXCLUSION_KEY: ExecutionParameter(type=str),
      executor.HISTORY_COLUMN_KEY: ExecutionParameter(type=str, optional=True),
      executor.QUERY_BATCH_SIZE_KEY: ExecutionParameter(type=int),
      executor.CORPUS_BATCH_SIZE_KEY: ExecutionParameter(type=int),
      executor.BOOTSTRAP_SAMPLES_KEY: ExecutionParameter(type=int),
      executor.BOOTSTRAP_SEED_KEY: ExecutionParameter(type=int),
  }
  INPUTS = {
      executor.QUERY_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.ITEM_MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
      executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
      executor.ITEMS_KEY: ChannelParameter(type=standard_artifacts.Examples),
      executor.BASELINE_MODEL_KEY: ChannelParameter(
          type=standard_artifacts.Model, optional=True),
  }
  OUTPUTS = {
      executor.EVALUATION_KEY: ChannelParameter(
          type=standard_artifacts.ModelEvaluation),
      executor.BLESSING_KEY: ChannelParameter(
          type=standard_artifacts.ModelBlessing),
  }


class RetrievalEvaluator(base_beam_component.BaseBeamComponent):
  """Evaluates two towers over the whole corpus and blesses the query model.

  The ranking is a Beam job (beam_ranking.py): it runs with the pipeline's
  Beam arguments, in memory locally and sharded over workers on a runner.

  Outputs:
    evaluation: ModelEvaluation holding `metrics.json`.
    blessing: ModelBlessing with int `blessed`, string `blessing_message`,
      `current_model` / `current_model_id` (the query model, as the stock
      Evaluator sets them, so LatestBlessedModelStrategy resolves it) and
      `baseline_model` / `baseline_model_id` when a baseline was given.
  """
  SPEC_CLASS = RetrievalEvaluatorSpec
  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

  def __init__(self,
               query_model: types.BaseChannel,
               item_model: types.BaseChannel,
               examples: types.BaseChannel,
               items: types.BaseChannel,
               baseline_model: Optional[types.BaseChannel] = None,
               ks: Optional[List[int]] = None,
               blessing_k: int = blessing.BlessingConfig.k,
               min_recall: float = blessing.BlessingConfig.min_recall,
               max_overall_drop: float = blessing.BlessingConfig.max_overall_drop,
               max_tail_drop: float = blessing.BlessingConfig.max_tail_drop,
               exclusion: exclusion_lib.Exclusion =
               exclusion_lib.Exclusion.SERVING,
               history_column: str = exclusion_lib.HISTORY_COLUMN,
               query_batch_size: int = 1024,
               corpus_batch_size: int = 4096,
               bootstrap_samples: int = bootstrap.DEFAULT_SAMPLES,
               bootstrap_seed: int = bootstrap.DEFAULT_SEED,
               min_eval_events: int = blessing.BlessingConfig.min_eval_events,
               min_eval_users: int = blessing.BlessingConfig.min_eval_users):
    """Constructs the component.

    Args:
      query_model: Model channel of the query tower (Format-Serving SavedModel
        with a string custom property `item_model_uri`).
      item_model: Model channel of the item tower.
      examples: raw interactions Examples with splits `train` (popularity,
        seen items) and `eval` (the evaluated events).
      items: raw items Examples with split `corpus` (the whole item corpus).
      baseline_model: optional Model channel of the last blessed query model
        (a LatestBlessedModelStrategy Resolver output); its item tower is found
        through its `item_model_uri` property.
      ks: cutoffs K of Recall@K and MAP@K; default [10, 50, 100].
      blessing_k: the K of the blessing rule; must be one of `ks`.
      min_recall: overall Recall@blessing_k needed for a blessing.
      max_overall_drop: largest allowed drop of overall Recall@blessing_k
        below the baseline's (absolute).
      max_tail_drop: same for the tail slice.
      exclusion: which items each event's ranking leaves out (exclusion.py):
        SERVING (the index's rule: the event's history and the user's
        train-split items, never the event's own item) or NONE (the whole
        corpus, the literature's leave-last-out rule).
      history_column: the eval split's `|`-joined history column (the one
        the index excludes); '' = none.
      query_batch_size: eval events embedded and scored at a time.
      corpus_batch_size: corpus items embedded and scored at a time.
      bootstrap_samples: bootstrap samples over users of every 95% interval.
      bootstrap_seed: seed of the bootstrap weights (same seed, same
        intervals and blessing).
      min_eval_events: fewest eval events a blessing needs (blessing.py).
      min_eval_users: fewest eval users a blessing needs.
    """
    ks = metrics.check_ks(list(ks) if ks is not None else metrics.DEFAULT_KS)
    if blessing_k not in ks:
      raise ValueError(f'blessing_k={blessing_k} must be one of ks={ks}')
    blessing.BlessingConfig(blessing_k, min_recall, max_overall_drop,
                            max_tail_drop, min_eval_events, min_eval_users)
    for name, value in ((executor.QUERY_BATCH_SIZE_KEY, query_batch_size),
                        (executor.CORPUS_BATCH_SIZE_KEY, corpus_batch_size)):
      if value < 1:
        raise ValueError(f'{name} must be >= 1, got {value}')
    bootstrap.Settings(bootstrap_samples, bootstrap_seed)
    spec = RetrievalEvaluatorSpec(
        query_model=query_model,
        item_model=item_model,
        examples=examples,
        items=items,
        baseline_model=baseline_model,
        ks=ks,
        blessing_k=blessing_k,
        min_recall=float(min_recall),
        max_overall_drop=float(max_overall_drop),
        max_tail_drop=float(max_tail_drop),
        exclusion=exclusion_lib.Exclusion.parse(exclusion, 'exclusion').value,
        history_column=history_column,
        query_batch_size=query_batch_size,
        corpus_batch_size=corpus_batch_size,
        bootstrap_samples=bootstrap_samples,
        bootstrap_seed=bootstrap_seed,
        min_eval_events=min_eval_events,
        min_eval_users=min_eval_users,
        evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
        blessing=types.Channel(type=standard_artifacts.ModelBlessing))
    super().__init__(spec=spec)

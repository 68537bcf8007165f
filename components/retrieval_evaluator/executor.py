"""RetrievalEvaluator executor: evaluates, writes metrics.json (also as a TFMA
EvalResult, tfma_result.py) and the blessing."""
import json
import logging
import os
import uuid
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils

from components import tower_io
from components.retrieval_evaluator import beam_ranking
from components.retrieval_evaluator import blessing
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import evaluation
from components.retrieval_evaluator import exclusion as exclusion_lib
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import outputs
from components.retrieval_evaluator import summary
from components.retrieval_evaluator import tfma_result

QUERY_MODEL_KEY = 'query_model'
ITEM_MODEL_KEY = 'item_model'
EXAMPLES_KEY = 'examples'
ITEMS_KEY = 'items'
BASELINE_MODEL_KEY = 'baseline_model'
EVALUATION_KEY = 'evaluation'
BLESSING_KEY = 'blessing'
KS_KEY = 'ks'
BLESSING_K_KEY = 'blessing_k'
MIN_RECALL_KEY = 'min_recall'
# Absent (a pipeline compiled before they existed): no minimum.
MIN_EVAL_EVENTS_KEY = 'min_eval_events'
MIN_EVAL_USERS_KEY = 'min_eval_users'
MAX_OVERALL_DROP_KEY = 'max_overall_drop'
MAX_TAIL_DROP_KEY = 'max_tail_drop'
EXCLUSION_KEY = 'exclusion'
HISTORY_COLUMN_KEY = 'history_column'
QUERY_BATCH_SIZE_KEY = 'query_batch_size'
CORPUS_BATCH_SIZE_KEY = 'corpus_batch_size'
BOOTSTRAP_SAMPLES_KEY = 'bootstrap_samples'
BOOTSTRAP_SEED_KEY = 'bootstrap_seed'

METRICS_FILE = outputs.METRICS_FILE
# ModelBlessing custom properties, named as the stock Evaluator names them.
BLESSED_PROPERTY = 'blessed'
MESSAGE_PROPERTY = 'blessing_message'
CURRENT_MODEL_PROPERTY = 'current_model'
CURRENT_MODEL_ID_PROPERTY = 'current_model_id'
BASELINE_MODEL_PROPERTY = 'baseline_model'
BASELINE_MODEL_ID_PROPERTY = 'baseline_model_id'
BLESSED_FILE, NOT_BLESSED_FILE = 'BLESSED', 'NOT_BLESSED'


def write_text_atomically(path: str, text: str) -> None:
  """Writes a file through a temp file beside it and a rename."""
  fileio.makedirs(os.path.dirname(path))
  tmp = os.path.join(os.path.dirname(path),
                     f'.{os.path.basename(path)}.{uuid.uuid4().hex}.tmp')
  with fileio.open(tmp, 'w') as f:
    f.write(text)
  fileio.rename(tmp, path, overwrite=True)


def baseline_item_model_uri(baseline: types.Artifact) -> str:
  uri = baseline.get_string_custom_property(tower_io.ITEM_MODEL_URI_PROPERTY)
  if not uri:
    raise ValueError(
        f'baseline query model {baseline.uri} (artifact id {baseline.id}) has '
        f'no {tower_io.ITEM_MODEL_URI_PROPERTY!r} custom property: cannot find '
        'its item tower')
  return uri


def _ks(value: Any) -> List[int]:
  # A List[int] exec property reaches the executor as JSON text in pipelines.
  return metrics.check_ks(json.loads(value) if isinstance(value, str)
                          else list(value))


def _set_properties(evaluation_artifact: types.Artifact, content: Dict,
                    ks: List[int]) -> None:
  """Overall values as float properties: `recall@K`, `map@K`, their
  `..._ci95_low` / `..._ci95_high`, and `popularity_recall@K` etc."""
  for k in ks:
    for key in (metrics.recall_key(k), metrics.map_key(k)):
      for prefix, source in (('', content),
                             (f'{summary.POPULARITY_KEY}_',
                              content[summary.POPULARITY_KEY])):
        value = source[key][metrics.OVERALL]
        if value is None:
          continue
        evaluation_artifact.set_float_custom_property(prefix + key, value)
        interval = source.get(summary.CI_KEY, {}).get(key, {}).get(
            metrics.OVERALL)
        if interval is not None:
          evaluation_artifact.set_float_custom_property(
              f'{prefix}{key}_ci95_low', interval[0])
          evaluation_artifact.set_float_custom_property(
              f'{prefix}{key}_ci95_high', interval[1])


class Executor(base_beam_executor.BaseBeamExecutor):
  """Computes the metrics of the candidate (and baseline) and decides.

  The ranking and the per-user metric aggregates of both models are one Beam
  job (beam_ranking.py).
  """

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    self._log_startup(input_dict, output_dict, exec_properties)
    query_model = artifact_utils.get_single_instance(
        input_dict[QUERY_MODEL_KEY])
    item_model = artifact_utils.get_single_instance(input_dict[ITEM_MODEL_KEY])
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    items = artifact_utils.get_single_instance(input_dict[ITEMS_KEY])
    baselines = input_dict.get(BASELINE_MODEL_KEY) or []
    evaluation_artifact = artifact_utils.get_single_instance(
        output_dict[EVALUATION_KEY])
    blessing_artifact = artifact_utils.get_single_instance(
        output_dict[BLESSING_KEY])

    ks = _ks(exec_properties[KS_KEY])
    config = blessing.BlessingConfig(
        k=int(exec_properties[BLESSING_K_KEY]),
        min_recall=float(exec_properties[MIN_RECALL_KEY]),
        max_overall_drop=float(exec_properties[MAX_OVERALL_DROP_KEY]),
        max_tail_drop=float(exec_properties[MAX_TAIL_DROP_KEY]),
        min_eval_events=int(exec_properties.get(MIN_EVAL_EVENTS_KEY) or 0),
        min_eval_users=int(exec_properties.get(MIN_EVAL_USERS_KEY) or 0))
    rule = exclusion_lib.Exclusion.parse(exec_properties[EXCLUSION_KEY],
                                         EXCLUSION_KEY)
    options = dict(
        exclusion=rule,
        history_column=exec_properties.get(HISTORY_COLUMN_KEY,
                                           exclusion_lib.HISTORY_COLUMN),
        query_batch_size=int(exec_properties[QUERY_BATCH_SIZE_KEY]),
        corpus_batch_size=int(exec_properties[CORPUS_BATCH_SIZE_KEY]))

    settings = bootstrap.Settings(
        samples=int(exec_properties.get(BOOTSTRAP_SAMPLES_KEY,
                                        bootstrap.DEFAULT_SAMPLES)),
        seed=int(exec_properties.get(BOOTSTRAP_SEED_KEY,
                                     bootstrap.DEFAULT_SEED)))

    corpus = evaluation.load_corpus(items.uri, examples.uri)

    def model(query_uri: str, item_uri: str) -> beam_ranking.Model:
      return beam_ranking.Model(tower_io.serving_dir(query_uri),
                                tower_io.load_tower(item_uri))

    baseline = None
    if baselines:
      logging.info('Evaluating the baseline (last blessed) query model %s too.',
                   baselines[0].uri)
      baseline = model(baselines[0].uri, baseline_item_model_uri(baselines[0]))
    logging.info('Ranking the eval events over %d corpus items (Beam).',
                 len(corpus.item_ids))
    content = beam_ranking.metrics_json(
        model(query_model.uri, item_model.uri), baseline, examples.uri,
        corpus, ks, settings, self._make_beam_pipeline,
        work_dir=evaluation_artifact.uri, **options)
    content[outputs.SETTINGS_KEY] = {
        outputs.EXCLUSION_SETTING: rule.value,
        HISTORY_COLUMN_KEY: options[HISTORY_COLUMN_KEY] or '', KS_KEY: ks,
        outputs.BLESSING_K_SETTING: config.k}
    write_text_atomically(os.path.join(evaluation_artifact.uri, METRICS_FILE),
                          json.dumps(content, indent=2) + '\n')
    # The same metrics as a TFMA EvalResult (tfma.load_eval_result(uri)).
    tfma_result.write(evaluation_artifact.uri, content, query_model.uri,
                      examples.uri)
    _set_properties(evaluation_artifact, content, ks)

    blessed, reason = blessing.decide(content, content[metrics.BASELINE_KEY],
                                      config)
    blessing_artifact.set_int_custom_property(BLESSED_PROPERTY, int(blessed))
    blessing_artifact.set_string_custom_property(MESSAGE_PROPERTY, reason)
    blessing_artifact.set_string_custom_property(CURRENT_MODEL_PROPERTY,
                                                 query_model.uri)
    blessing_artifact.set_int_custom_property(CURRENT_MODEL_ID_PROPERTY,
                                              query_model.id)
    if baselines:
      blessing_artifact.set_string_custom_property(BASELINE_MODEL_PROPERTY,
                                                   baselines[0].uri)
      blessing_artifact.set_int_custom_property(BASELINE_MODEL_ID_PROPERTY,
                                                baselines[0].id)
    write_text_atomically(
        os.path.join(blessing_artifact.uri,
                     BLESSED_FILE if blessed else NOT_BLESSED_FILE), reason)
    if blessed:
      logging.info('Query model %s %s', query_model.uri, reason)
    else:
      logging.warning('Query model %s %s; nothing will be pushed.',
                      query_model.uri, reason)

"""metrics.json as a TFMA EvalResult, so `tfma.load_eval_result(uri)` reads it.

The ModelEvaluation artifact then holds, beside metrics.json, what TFMA's own
Evaluator writes there:

  eval_config.json                        an EvalRun (TFMA version, slicing
                                          specs, model and data locations)
  metrics-00000-of-00001.tfrecord         one MetricsForSlice per slice

Mapping (every value is the one in metrics.json):

  slices        overall = the empty slice key; `item_popularity` = head, tail,
                cold; `user_history` = new_users, returning_users,
                light_users, heavy_users; `item_popularity_decile` = 0..9
                (recall@50 only); any other slice name of metrics.json
                `slice` = its name. A slice without eval events is left out.
  metrics       one model (name ''), so `load_eval_result(uri)` and
                `tfma.view.render_slicing_metrics` need no model name:
                recall@K, map@K, hr@10, ndcg@10 of the evaluated model with
                their bootstrap interval as the key's `confidence_interval`
                (load_eval_result shows it as a bounded_value with
                lower_bound / upper_bound); `example_count` (eval events) and
                `num_users` of the slice; `popularity/<metric>` the
                most-popular-items baseline and `delta_vs_popularity/<metric>`
                the paired change against it; with a last blessed model,
                `baseline/<metric>` its values and `<metric>_diff` (TFMA's
                is_diff key) the paired change against it. Each with its
                interval.
"""
import os
import uuid
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import summary

EVAL_CONFIG_FILE = 'eval_config.json'
METRICS_TFRECORD = 'metrics-00000-of-00001.tfrecord'
ITEM_SLICE_COLUMN = 'item_popularity'
USER_SLICE_COLUMN = 'user_history'
DECILE_COLUMN = 'item_popularity_decile'
OTHER_SLICE_COLUMN = 'slice'
POPULARITY_PREFIX, BASELINE_PREFIX = 'popularity/', 'baseline/'
EXAMPLE_COUNT, NUM_USERS = 'example_count', 'num_users'
POPULARITY_DELTA_PREFIX = 'delta_vs_popularity/'

SliceKey = Tuple[Tuple[str, Any], ...]


def slice_key(name: str) -> SliceKey:
  """The TFMA slice key of a metrics.json slice name."""
  if name == metrics.OVERALL:
    return ()
  if name in summary.ITEM_SLICES:
    return ((ITEM_SLICE_COLUMN, name),)
  if name in summary.USER_SLICES:
    return ((USER_SLICE_COLUMN, name),)
  return ((OTHER_SLICE_COLUMN, name),)  # a slice added to metrics.json later


def _metric_keys(content: Mapping[str, Any]) -> List[str]:
  """The per-slice metrics of a metrics dict ('recall@10', ...), in order."""
  return [k for k, v in content.items()
          if '@' in k and k != metrics.DECILE_KEY and isinstance(v, dict)]


# (metric name, is_diff) -> (point, [low, high] or None).
Values = Dict[Tuple[str, bool], Tuple[float, Optional[Sequence[float]]]]


def _model_values(content: Mapping[str, Any], prefix: str,
                  out: Dict[SliceKey, Values]) -> None:
  intervals = content.get(summary.CI_KEY) or {}
  for key in _metric_keys(content):
    for name, value in content[key].items():
      if value is not None:
        interval = (intervals.get(key) or {}).get(name)
        out.setdefault(slice_key(name), {})[(prefix + key, False)] = (
            value, interval)
  deciles = content.get(metrics.DECILE_KEY) or []
  decile_intervals = intervals.get(metrics.DECILE_KEY) or [None] * len(deciles)
  for decile, (value, interval) in enumerate(zip(deciles, decile_intervals)):
    if value is not None:
      out.setdefault(((DECILE_COLUMN, decile),), {})[
          (prefix + metrics.recall_key(metrics.DECILE_K), False)] = (
              value, interval)


def _delta_values(deltas: Mapping[str, Any], out: Dict[SliceKey, Values],
                  name_prefix: str, is_diff: bool) -> None:
  for key, by_slice in deltas.items():
    if key == metrics.DECILE_KEY:
      items = [(((DECILE_COLUMN, d),), v) for d, v in enumerate(by_slice)]
    else:
      items = [(slice_key(s), v) for s, v in by_slice.items()]
    metric = (metrics.recall_key(metrics.DECILE_K)
              if key == metrics.DECILE_KEY else key)
    for key_of_slice, value in items:
      if value is not None:
        out.setdefault(key_of_slice, {})[(name_prefix + metric, is_diff)] = (
            value[summary.DELTA_VALUE], value[summary.DELTA_CI])


def slice_values(content: Mapping[str, Any]) -> Dict[SliceKey, Values]:
  """{slice key: {(metric name, is_diff): (value, interval)}}."""
  out: Dict[SliceKey, Values] = {}
  _model_values(content, '', out)
  _model_values(content[summary.POPULARITY_KEY], POPULARITY_PREFIX, out)
  if content.get(metrics.BASELINE_KEY):
    _model_values(content[metrics.BASELINE_KEY], BASELINE_PREFIX, out)
  deltas = content.get(summary.DELTA_KEY) or {}
  if deltas.get(summary.POPULARITY_KEY):
    _delta_values(deltas[summary.POPULARITY_KEY], out,
                  POPULARITY_DELTA_PREFIX, False)
  if deltas.get(metrics.BASELINE_KEY):
    _delta_values(deltas[metrics.BASELINE_KEY], out, '', True)
  for name, count in content[summary.N_EVENTS_KEY].items():
    if count:
      values = out.setdefault(slice_key(name), {})
      values[(EXAMPLE_COUNT, False)] = (count, None)
      values[(NUM_USERS, False)] = (
          content[summary.N_USERS_KEY][name], None)
  return out


def _metrics_protos(content: Mapping[str, Any]) -> Iterator[bytes]:
  from tensorflow_model_analysis.proto import metrics_for_slice_pb2 as pb  # pylint: disable=g-import-not-at-top

  def value_proto(value: float):
    proto = pb.MetricValue()
    proto.double_value.value = float(value)
    return proto

  for key, values in slice_values(content).items():
    result = pb.MetricsForSlice()
    for column, value in key:
      single = result.slice_key.single_slice_keys.add(column=column)
      if isinstance(value, int):
        single.int64_value = value
      else:
        single.bytes_value = value.encode('utf-8')
    for (name, is_diff), (value, interval) in sorted(values.items()):
      entry = result.metric_keys_and_values.add()
      entry.key.name = name
      entry.key.is_diff = is_diff
      entry.value.CopyFrom(value_proto(value))
      if interval is not None:
        entry.confidence_interval.lower_bound.CopyFrom(value_proto(interval[0]))
        entry.confidence_interval.upper_bound.CopyFrom(value_proto(interval[1]))
    yield result.SerializeToString()


def _eval_run_json(model_location: str, data_location: str) -> str:
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis import version  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis.proto import config_pb2  # pylint: disable=g-import-not-at-top
  run = config_pb2.EvalRun(version=version.VERSION,
                           data_location=data_location,
                           file_format='tfrecord',
                           model_locations={'': model_location})
  run.eval_config.model_specs.add()
  run.eval_config.slicing_specs.add()  # overall
  for column in (ITEM_SLICE_COLUMN, USER_SLICE_COLUMN, DECILE_COLUMN):
    run.eval_config.slicing_specs.add(feature_keys=[column])
  return json_format.MessageToJson(run)


def write(output_dir: str, content: Mapping[str, Any], model_location: str,
          data_location: str = '') -> None:
  """Writes the EvalResult files of metrics.json `content` to `output_dir`.

  Each file goes through a hidden temp file and a rename, so a reader never
  sees half of one.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfx.dsl.io import fileio  # pylint: disable=g-import-not-at-top
  fileio.makedirs(output_dir)
  tmp = os.path.join(output_dir, f'.{uuid.uuid4().hex}.tmp')
  with tf.io.TFRecordWriter(tmp) as writer:
    for record in _metrics_protos(content):
      writer.write(record)
  fileio.rename(tmp, os.path.join(output_dir, METRICS_TFRECORD),
                overwrite=True)
  with fileio.open(tmp, 'w') as f:
    f.write(_eval_run_json(model_location, data_location))
  fileio.rename(tmp, os.path.join(output_dir, EVAL_CONFIG_FILE),
                overwrite=True)

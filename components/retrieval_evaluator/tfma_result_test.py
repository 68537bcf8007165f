"""tfma_result.py: the EvalResult files, loaded back with TFMA itself."""
import json
import os

import numpy as np
import pytest
import tensorflow_model_analysis as tfma

from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import summary
from components.retrieval_evaluator import tfma_result

# Corpus of 5 items by train count: i0 head, i1 cold, i2-i4 tail.
POP = metrics.popularity(np.array([10, 0, 3, 3, 1]))
TARGETS = np.array([2, 4, 4, 2, 0, 1, 3, 2])
USERS = ['a', 'b', 'a', 'c', 'd', 'e', 'a', 'b']
TRAIN_EVENTS = {'a': 5, 'b': 1, 'c': 2, 'e': 9}
SETTINGS = bootstrap.Settings(samples=200, seed=0)


def _content(with_baseline):
  """A metrics.json content, through its JSON text as readers see it."""
  slices = summary.event_slices(TARGETS, USERS, POP, TRAIN_EVENTS)
  candidate = summary.user_totals(np.array([3, 5, 1, 1, 2, 0, 0, 60]),
                                  slices, [1, 3])
  baseline = summary.user_totals(np.array([1, 9, 2, 4, 1, 0, 7, 40]), slices,
                                 [1, 3])
  popularity = summary.user_totals(np.array([2, 3, 3, 2, 1, 0, 4, 2]), slices,
                                   [1, 3])
  content = summary.metrics_json(candidate,
                                 baseline if with_baseline else None,
                                 popularity, SETTINGS)
  return json.loads(json.dumps(content))


def _loaded(tmp_path, content):
  tfma_result.write(str(tmp_path), content, model_location='/models/q/1',
                    data_location='/examples/eval')
  result = tfma.load_eval_result(str(tmp_path))
  return result, {key: by_output[''][''] for key, by_output in
                  result.slicing_metrics}


def _expect(loaded, slice_key, name, value, interval):
  got = loaded[slice_key][name]
  if interval is None:
    assert got == {'doubleValue': pytest.approx(value)}, (key, name)
  else:
    assert got == {'boundedValue': {
        'value': pytest.approx(value),
        'lowerBound': pytest.approx(interval[0]),
        'upperBound': pytest.approx(interval[1])}}, (key, name)


@pytest.mark.parametrize('with_baseline', [False, True])
def test_load_eval_result_gives_the_values_of_metrics_json(tmp_path,
                                                           with_baseline):
  content = _content(with_baseline)
  result, loaded = _loaded(tmp_path, content)
  assert result.model_location == '/models/q/1'
  assert result.data_location == '/examples/eval'
  assert result.file_format == 'tfrecord'
  # Every slice with events is there, and nothing else. The 8 events' items
  # cover deciles 0, 2, 5, 7 (the cold item has none).
  expected_slices = {tfma_result.slice_key(n)
                     for n, c in content['n_events'].items() if c}
  expected_slices |= {(('item_popularity_decile', d),) for d in (0, 2, 5, 7)}
  assert set(loaded) == expected_slices
  assert ((('item_popularity', 'cold'),) in loaded
          and (('user_history', 'new_users'),) in loaded)
  checked = 0
  models = [('', content), ('popularity/', content['popularity'])]
  if with_baseline:
    models.append(('baseline/', content['baseline']))
  for prefix, model in models:
    for key in ('recall@1', 'map@1', 'recall@3', 'map@3', 'hr@10',
                'ndcg@10'):
      for name, value in model[key].items():
        if value is not None:
          _expect(loaded, tfma_result.slice_key(name), prefix + key, value,
                  model['ci95'][key][name])
          checked += 1
    for decile, value in enumerate(model[metrics.DECILE_KEY]):
      if value is not None:
        _expect(loaded, (('item_popularity_decile', decile),),
                prefix + 'recall@50', value,
                model['ci95'][metrics.DECILE_KEY][decile])
        checked += 1
  deltas = [('delta_vs_popularity/', '', content['delta_ci95']['popularity'])]
  if with_baseline:
    deltas.append(('', '_diff', content['delta_ci95']['baseline']))
  for prefix, suffix, by_key in deltas:
    for key in ('recall@3', 'ndcg@10'):
      for name, cell in by_key[key].items():
        if cell is not None:
          _expect(loaded, tfma_result.slice_key(name), prefix + key + suffix,
                  cell['delta'], cell['ci95'])
          checked += 1
  for name, count in content['n_events'].items():
    if count:
      _expect(loaded, tfma_result.slice_key(name), 'example_count', count,
              None)
      _expect(loaded, tfma_result.slice_key(name), 'num_users',
              content['n_users'][name], None)
  assert checked > 100
  assert ('recall@3_diff' in loaded[()]) == with_baseline


def test_files_beside_metrics_json_and_rewritten_whole(tmp_path):
  content = _content(False)
  (tmp_path / 'metrics.json').write_text(json.dumps(content))
  _loaded(tmp_path, content)
  _loaded(tmp_path, _content(True))
  assert sorted(os.listdir(tmp_path)) == [
      'eval_config.json', 'metrics-00000-of-00001.tfrecord', 'metrics.json']
  config = tfma.load_eval_result(str(tmp_path)).config
  assert [list(s.feature_keys) for s in config.slicing_specs] == [
      [], ['item_popularity'], ['user_history'], ['item_popularity_decile']]


def test_slice_keys():
  assert tfma_result.slice_key('overall') == ()
  assert tfma_result.slice_key('tail') == (('item_popularity', 'tail'),)
  assert tfma_result.slice_key('heavy_users') == (('user_history',
                                                   'heavy_users'),)
  # A slice metrics.json gains later still has a place.
  assert tfma_result.slice_key('vip') == (('slice', 'vip'),)

"""RetrievalEvaluator executor on real SavedModels and TFRecords, and the component spec."""
import json
import os

import pytest
from tfx.types import channel_utils
from tfx.types import standard_artifacts

from tests.support import towers as test_towers
from tests.support.towers import artifact
from components.retrieval_evaluator import component
from components.retrieval_evaluator import executor


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('evaluator'))
  data = test_towers.make_dataset(root)
  cand = test_towers.save_towers(os.path.join(root, 'cand'), seed=1)
  base = test_towers.save_towers(os.path.join(root, 'base'), seed=2)
  return root, data, cand, base


def _run(root, data, towers, name, baseline=None, **params):
  exec_properties = {
      'ks': json.dumps([10, 50]), 'blessing_k': 10, 'min_recall': 0.0,
      'max_overall_drop': 0.01, 'max_tail_drop': 0.01, 'exclusion': 'serving',
      'query_batch_size': 7, 'corpus_batch_size': 9}
  exec_properties.update(params)
  query = artifact(standard_artifacts.Model, towers['query_model'], 11)
  query.set_string_custom_property('item_model_uri', towers['item_model'])
  inputs = {
      'query_model': [query],
      'item_model': [artifact(standard_artifacts.Model, towers['item_model'],
                               12)],
      'examples': [artifact(standard_artifacts.Examples,
                             data['interactions'], 1)],
      'items': [artifact(standard_artifacts.Examples, data['items'], 2)],
  }
  if baseline is not None:
    inputs['baseline_model'] = [baseline]
  evaluation = artifact(standard_artifacts.ModelEvaluation,
                         os.path.join(root, name, 'evaluation'), 21)
  blessing = artifact(standard_artifacts.ModelBlessing,
                       os.path.join(root, name, 'blessing'), 22)
  executor.Executor().Do(inputs, {'evaluation': [evaluation],
                                  'blessing': [blessing]}, exec_properties)
  with open(os.path.join(evaluation.uri, 'metrics.json')) as f:
    return json.load(f), evaluation, blessing


@pytest.fixture(scope='module')
def default_runs(setup):
  """{'cand', 'base': _run(...) of that tower pair with the default properties}.

  One real run each, read by every test that needs that run as it is; a test
  that checks a re-run (reproducibility) runs the executor again.
  """
  root, data, cand, base = setup
  return {name: _run(root, data, towers, f'default_{name}')
          for name, towers in (('cand', cand), ('base', base))}


def test_first_run_writes_metrics_json_and_blesses(setup, default_runs):
  _, data, cand, _ = setup
  content, evaluation, blessing = default_runs['cand']
  assert list(content) == [
      'recall@10', 'map@10', 'recall@50', 'map@50', 'hr@10', 'ndcg@10',
      'recall@50_by_decile',
      'num_eval_events', 'num_eval_events_by_slice', 'n_events', 'n_users',
      'ci95', 'baseline', 'popularity', 'delta_ci95', 'bootstrap',
      'settings']
  assert content['settings'] == {'exclusion': 'serving',
                                 'history_column': 'history', 'ks': [10, 50],
                                 'blessing_k': 10}
  assert set(content['recall@50']) == {
      'overall', 'head', 'tail', 'cold', 'new_users', 'returning_users',
      'light_users', 'heavy_users'}
  assert set(content['ci95']['recall@50']) == set(content['recall@50'])
  low, high = content['ci95']['recall@10']['overall']
  assert low <= content['recall@10']['overall'] <= high
  assert evaluation.get_float_custom_property(
      'recall@10_ci95_low') == pytest.approx(low)
  assert evaluation.get_float_custom_property(
      'popularity_recall@10') == pytest.approx(
          content['popularity']['recall@10']['overall'])
  assert content['delta_ci95']['baseline'] is None
  assert len(content['recall@50_by_decile']) == 10
  assert content['num_eval_events'] == len(
      test_towers.all_rows(data['interactions'], 'eval')['item_id'])
  assert content['baseline'] is None
  assert evaluation.get_float_custom_property('recall@10') == pytest.approx(
      content['recall@10']['overall'])
  assert blessing.get_int_custom_property('blessed') == 1
  assert blessing.get_int_custom_property('current_model_id') == 11
  assert blessing.get_string_custom_property('current_model') == cand[
      'query_model']
  assert 'no blessed baseline yet' in blessing.get_string_custom_property(
      'blessing_message')
  assert os.path.exists(os.path.join(blessing.uri, 'BLESSED'))
  assert not any(n.startswith('.') for n in os.listdir(evaluation.uri))


def _brute_force_popularity(data, k):
  """Recall@k of ranking every corpus item by train count (ties: corpus
  order), the user's other train items removed, per event and per user."""
  items = [i.decode() for i in test_towers.all_rows(data['items'],
                                                     'corpus')['item_id']]
  train = test_towers.all_rows(data['interactions'], 'train')
  ev = test_towers.all_rows(data['interactions'], 'eval')
  counts = {i: 0 for i in items}
  seen = {}
  for user, item in zip(train['user_id'], train['item_id']):
    counts[item.decode()] += 1
    seen.setdefault(user, set()).add(item.decode())
  hits = []
  for user, target in zip(ev['user_id'], ev['item_id']):
    target = target.decode()
    ranking = sorted((i for i in items if i == target or
                      i not in seen.get(user, set())),
                     key=lambda i: (-counts[i], items.index(i)))
    hits.append(ranking.index(target) < k)
  return sum(hits) / len(hits)


def test_popularity_baseline_matches_a_brute_force_and_is_reproducible(
    setup, default_runs):
  root, data, cand, _ = setup
  content = default_runs['cand'][0]
  for k in (10, 50):
    assert content['popularity'][f'recall@{k}']['overall'] == pytest.approx(
        _brute_force_popularity(data, k))
  delta = content['delta_ci95']['popularity']['recall@10']['overall']
  assert delta['delta'] == pytest.approx(
      content['recall@10']['overall'] -
      content['popularity']['recall@10']['overall'])
  assert delta['ci95'][0] <= delta['delta'] <= delta['ci95'][1]
  again, _, _ = _run(root, data, cand, 'popularity_again')
  assert again == content  # same bootstrap seed, same file
  other, _, _ = _run(root, data, cand, 'other_seed', bootstrap_seed=7)
  assert other['recall@10'] == content['recall@10']
  assert other['ci95'] != content['ci95']


def test_impossible_threshold_is_not_blessed_and_says_why(setup):
  root, data, cand, _ = setup
  _, _, blessing = _run(root, data, cand, 'strict', min_recall=1.01)
  assert blessing.get_int_custom_property('blessed') == 0
  message = blessing.get_string_custom_property('blessing_message')
  assert message.startswith('NOT blessed: overall recall@10')
  assert 'below the threshold 1.01' in message
  assert os.path.exists(os.path.join(blessing.uri, 'NOT_BLESSED'))


def test_baseline_is_evaluated_through_its_item_model_uri(setup, default_runs):
  root, data, cand, base = setup
  baseline = artifact(standard_artifacts.Model, base['query_model'], 5)
  baseline.set_string_custom_property('item_model_uri', base['item_model'])
  content, _, blessing = _run(root, data, cand, 'with_baseline',
                              baseline=baseline, max_overall_drop=1.0,
                              max_tail_drop=1.0)
  base_alone = dict(default_runs['base'][0])
  for key in ('baseline', 'popularity', 'delta_ci95', 'bootstrap',
              'settings'):
    base_alone.pop(key)
  assert content['baseline'] == base_alone  # same events, same weights
  delta = content['delta_ci95']['baseline']['recall@50']['overall']
  assert delta['delta'] == pytest.approx(
      content['recall@50']['overall'] - base_alone['recall@50']['overall'])
  assert blessing.get_int_custom_property('baseline_model_id') == 5
  assert blessing.get_int_custom_property('blessed') == 1
  assert 'vs baseline' in blessing.get_string_custom_property(
      'blessing_message')


def test_regression_against_the_baseline_is_not_blessed(setup, default_runs):
  root, data, cand, base = setup
  recall = {name: default_runs[name][0]['recall@10']['overall']
            for name in ('cand', 'base')}
  assert recall['cand'] != recall['base']
  worse, better = ((cand, base) if recall['cand'] < recall['base']
                   else (base, cand))
  baseline = artifact(standard_artifacts.Model, better['query_model'], 5)
  baseline.set_string_custom_property('item_model_uri', better['item_model'])
  content, _, blessing = _run(root, data, worse, 'regressed',
                              baseline=baseline, max_overall_drop=0.0,
                              max_tail_drop=1.0)
  message = blessing.get_string_custom_property('blessing_message')
  assert 'overall recall@10' in message and 'dropped by' in message
  # The drop blocks the blessing exactly when its paired interval is below 0.
  cell = content['delta_ci95']['baseline']['recall@10']['overall']
  low, high = cell['ci95']
  assert cell['delta'] < 0 and low <= cell['delta'] <= high
  real = high < 0
  assert blessing.get_int_custom_property('blessed') == int(not real)
  assert ('below 0' if real else 'not a real drop') in message


def test_baseline_without_item_model_uri_fails_clearly(setup):
  root, data, cand, base = setup
  baseline = artifact(standard_artifacts.Model, base['query_model'], 5)
  with pytest.raises(ValueError, match="no 'item_model_uri' custom property"):
    _run(root, data, cand, 'bad_baseline', baseline=baseline)


def _channel(artifact_type):
  return channel_utils.as_channel([artifact_type()])


def test_component_spec_and_defaults():
  c = component.RetrievalEvaluator(
      query_model=_channel(standard_artifacts.Model),
      item_model=_channel(standard_artifacts.Model),
      examples=_channel(standard_artifacts.Examples),
      items=_channel(standard_artifacts.Examples))
  assert c.outputs['evaluation'].type is standard_artifacts.ModelEvaluation
  assert c.outputs['blessing'].type is standard_artifacts.ModelBlessing
  assert c.exec_properties['ks'] == [10, 50, 100]
  assert c.exec_properties['blessing_k'] == 50
  assert c.exec_properties['min_recall'] == 0.05
  assert c.exec_properties['exclusion'] == 'serving'
  assert c.exec_properties['history_column'] == 'history'
  assert c.exec_properties['bootstrap_samples'] == 1000
  assert c.exec_properties['bootstrap_seed'] == 0
  with pytest.raises(ValueError, match='blessing_k=20 must be one of ks'):
    component.RetrievalEvaluator(
        query_model=_channel(standard_artifacts.Model),
        item_model=_channel(standard_artifacts.Model),
        examples=_channel(standard_artifacts.Examples),
        items=_channel(standard_artifacts.Examples), blessing_k=20)


def test_the_evaluation_loads_with_tfma(default_runs):
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top
  content, evaluation, _ = default_runs['cand']
  result = tfma.load_eval_result(evaluation.uri)
  loaded = {key: by_output[''][''] for key, by_output in result.slicing_metrics}
  low, high = content['ci95']['recall@10']['overall']
  assert loaded[()]['recall@10'] == {'boundedValue': {
      'value': pytest.approx(content['recall@10']['overall']),
      'lowerBound': pytest.approx(low), 'upperBound': pytest.approx(high)}}
  assert loaded[(('item_popularity', 'tail'),)]['popularity/hr@10'][
      'boundedValue']['value'] == pytest.approx(
          content['popularity']['hr@10']['tail'])
  assert loaded[()]['example_count'] == {
      'doubleValue': content['num_eval_events']}

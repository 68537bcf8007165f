"""The Beam evaluator gives the in-memory metrics.json, on real towers and TFRecords."""
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from components import tower_io
from components.retrieval_evaluator import beam_ranking
from components.retrieval_evaluator import bootstrap
from components.retrieval_evaluator import evaluation
from components.retrieval_evaluator import rank_histograms
from tests.support import towers as test_towers

KS = [5, 10]
SETTINGS = bootstrap.Settings(samples=200, seed=3)
SIZES = dict(query_batch_size=7, corpus_batch_size=11)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp('beam_ranking')
  data = test_towers.make_dataset(str(root))
  candidate = test_towers.save_towers(str(root / 'candidate'), seed=0)
  baseline = test_towers.save_towers(str(root / 'baseline'), seed=1)
  corpus = evaluation.load_corpus(data['items'], data['interactions'])
  return data, candidate, baseline, corpus


def _pipeline(*args):
  return lambda: beam.Pipeline(options=PipelineOptions(list(args)))


def _model(towers) -> beam_ranking.Model:
  return beam_ranking.Model(tower_io.serving_dir(towers['query_model']),
                            tower_io.load_tower(towers['item_model']))


def _in_memory_json(data, corpus, candidate, baseline, exclusion='serving'):
  def rank(towers):
    return evaluation.rank_models(
        towers['query_model'], towers['item_model'], data['interactions'],
        corpus, KS, exclusion=exclusion, **SIZES)
  return evaluation.metrics_json(corpus, rank(candidate),
                                 rank(baseline) if baseline else None, KS,
                                 SETTINGS)


@pytest.mark.parametrize('exclusion', ['serving', 'none'])
def test_beam_metrics_json_is_the_in_memory_one(setup, exclusion,
                                                tmp_path):
  data, candidate, baseline, corpus = setup
  expected = _in_memory_json(data, corpus, candidate, baseline, exclusion)
  got = beam_ranking.metrics_json(
      _model(candidate), _model(baseline), data['interactions'], corpus, KS,
      SETTINGS, _pipeline('--direct_running_mode=in_memory'),
      exclusion=exclusion, work_dir=str(tmp_path), **SIZES)
  assert json.dumps(got, sort_keys=True) == json.dumps(expected,
                                                       sort_keys=True)
  assert got['recall@10']['overall'] > 0  # a real, non-trivial result
  assert got['baseline']['recall@10'] != got['recall@10']  # two real models
  assert list(tmp_path.iterdir()) == []  # block files and result removed


def test_without_baseline_and_other_block_sizes(setup):
  data, candidate, _, corpus = setup
  expected = _in_memory_json(data, corpus, candidate, None)
  got = beam_ranking.metrics_json(
      _model(candidate), None, data['interactions'], corpus, KS, SETTINGS,
      _pipeline('--direct_running_mode=in_memory'), **SIZES)
  assert got == expected
  assert got['baseline'] is None


def test_totals_have_every_eval_user_once_in_first_event_order(setup):
  data, candidate, _, corpus = setup
  totals = beam_ranking.evaluate(
      {'m': _model(candidate)}, data['interactions'], corpus, KS,
      _pipeline('--direct_running_mode=in_memory'), query_batch_size=4)
  rows = test_towers.all_rows(data['interactions'], 'eval')
  users = list(dict.fromkeys(u.decode() for u in rows['user_id']))
  assert set(totals) == {'m', beam_ranking.POPULARITY}
  for t in totals.values():
    assert t.users == users
    overall = t.column(('recall@5', 'overall'))
    assert t.events[:, overall].sum() == len(rows['user_id'])


@pytest.mark.e2e
def test_two_worker_processes_give_the_same_metrics_json(setup):
  data, candidate, baseline, corpus = setup
  expected = _in_memory_json(data, corpus, candidate, baseline)
  got = beam_ranking.metrics_json(
      _model(candidate), _model(baseline), data['interactions'], corpus, KS,
      SETTINGS, _pipeline('--direct_running_mode=multi_processing',
                          '--direct_num_workers=2'), **SIZES)
  assert json.dumps(got, sort_keys=True) == json.dumps(expected,
                                                       sort_keys=True)


def test_merge_histograms_in_any_order_and_checks_the_events():
  def block(users, positions, ranks):
    return {'m': rank_histograms.Histogram.of_events(
        users, np.array(positions), np.zeros(len(users), np.int64),
        np.array(ranks), 50)}
  combine = beam_ranking.MergeHistograms()
  a = combine.add_input(combine.create_accumulator(),
                        block(['x', 'y'], [2, 3], [1, 60]))
  b = combine.add_input(combine.create_accumulator(),
                        block(['y', 'x'], [0, 1], [2, 1]))
  merged = combine.extract_output(combine.merge_accumulators([a, b]))['m']
  assert list(merged.users) == ['y', 'x']  # by first event
  assert merged.num_events == 4
  with pytest.raises(RuntimeError, match='lost or repeated'):
    beam_ranking._totals({'m': merged}, {}, [10], num_events=5)  # pylint: disable=protected-access


def test_large_arrays_round_trip_through_the_work_files(tmp_path):
  value = {'a': np.arange(1 << 20, dtype=np.float32), 'b': ['x']}
  path = str(tmp_path / 'v.pkl')
  beam_ranking._write_pickle(value, path)  # pylint: disable=protected-access
  got = beam_ranking._read_pickle(path)  # pylint: disable=protected-access
  np.testing.assert_array_equal(got['a'], value['a'])
  assert got['b'] == ['x']

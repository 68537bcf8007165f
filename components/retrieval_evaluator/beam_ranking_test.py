"""The Beam ranking equals the in-memory ranking on real towers and TFRecords."""
import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from components import tower_io
from components.retrieval_evaluator import beam_ranking
from components.retrieval_evaluator import evaluation
from tests.support import towers as test_towers

KS = (5, 10)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('beam_ranking'))
  data = test_towers.make_dataset(root)
  towers = test_towers.save_towers(root)
  corpus = evaluation.load_corpus(data['items'], data['interactions'])
  return data, towers, corpus


def _pipeline(*args):
  return lambda: beam.Pipeline(options=PipelineOptions(list(args)))


@pytest.mark.parametrize('exclude_seen', [True, False])
def test_in_memory_beam_ranking_is_the_exact_ranking(setup, exclude_seen,
                                                     tmp_path):
  data, towers, corpus = setup
  expected = evaluation.rank_models(
      towers['query_model'], towers['item_model'], data['interactions'],
      corpus, KS, exclude_seen=exclude_seen, query_batch_size=7,
      corpus_batch_size=11)
  got = beam_ranking.rank_events(
      tower_io.serving_dir(towers['query_model']),
      tower_io.load_tower(towers['item_model']), data['interactions'], corpus,
      KS, _pipeline('--direct_running_mode=in_memory'),
      exclude_seen=exclude_seen, query_batch_size=7, corpus_batch_size=11,
      work_dir=str(tmp_path))
  assert (got.ranks > 0).any()  # some targets are ranked within the depth
  np.testing.assert_array_equal(got.ranks, expected.ranks)
  np.testing.assert_array_equal(got.targets, expected.targets)
  assert got.users == expected.users
  assert list(tmp_path.iterdir()) == []  # the ranks file is removed
  if exclude_seen:
    np.testing.assert_array_equal(got.exclusions.rows,
                                  expected.exclusions.rows)
    np.testing.assert_array_equal(got.exclusions.items,
                                  expected.exclusions.items)
  else:
    assert got.exclusions is None


@pytest.mark.e2e
def test_two_worker_processes_give_the_same_ranks(setup):
  data, towers, corpus = setup
  expected = evaluation.rank_models(
      towers['query_model'], towers['item_model'], data['interactions'],
      corpus, KS, query_batch_size=5)
  got = beam_ranking.rank_events(
      tower_io.serving_dir(towers['query_model']),
      tower_io.load_tower(towers['item_model']), data['interactions'], corpus,
      KS, _pipeline('--direct_running_mode=multi_processing',
                    '--direct_num_workers=2'), query_batch_size=5)
  np.testing.assert_array_equal(got.ranks, expected.ranks)


def test_merge_ranks_orders_blocks_and_checks_them():
  combine = beam_ranking.MergeRanks()
  a = combine.add_input(combine.create_accumulator(), (1, np.array([3, 4])))
  b = combine.add_input(combine.create_accumulator(), (0, np.array([1, 2])))
  merged = combine.merge_accumulators([a, b])
  np.testing.assert_array_equal(combine.extract_output(merged), [1, 2, 3, 4])
  with pytest.raises(RuntimeError, match='lost or repeated'):
    combine.extract_output([(1, np.array([1]))])

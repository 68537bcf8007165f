"""The Beam computation on real DirectRunner pipelines (record batches in)."""
import json
import os

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import util as beam_util
import numpy as np
import pyarrow as pa
import pytest

from components.mutual_information import artifact
from components.mutual_information import beam_transforms
from components.mutual_information import counting
from tests.support import mi_tables
from components.mutual_information.schema_features import DataError


def _close_to(expected):
  def check(results):
    assert len(results) == 1
    (got,) = results
    assert got['features'] == expected['features']
    assert got['num_items'] == expected['num_items']
    for key in ('mi', 'normalized_mi', 'entropy'):
      np.testing.assert_allclose(got[key], expected[key], rtol=1e-9,
                                 atol=1e-12)
  return check


def test_beam_equals_local_computation():
  batches = mi_tables.correlated_batches(1200, 150)
  expected = counting.compute_local(batches, mi_tables.FEATURES, top_k=5,
                                    num_buckets=4)
  with beam.Pipeline() as p:
    result = (p | beam.Create(batches)
              | beam_transforms.ComputeMutualInformation(
                  mi_tables.FEATURES, top_k=5, num_buckets=4))
    beam_util.assert_that(result, _close_to(expected))


def test_log_weighting_counts_interactions_per_item():
  batches = mi_tables.correlated_batches(400, 100)
  rng = np.random.default_rng(0)
  log_ids = [f'i{i}' for i in rng.zipf(1.5, 3000) if i < 400]
  log = mi_tables.record_batch({'item_id': log_ids})
  counts = np.bincount([int(i[1:]) for i in log_ids], minlength=400)
  weights = [counts[s:s + 100].astype(np.float64) for s in range(0, 400, 100)]
  expected = counting.compute_local(batches, mi_tables.FEATURES,
                                    weights=weights)
  with beam.Pipeline() as p:
    interactions = p | 'Log' >> beam.Create([log.slice(0, 1000),
                                             log.slice(1000)])
    result = (p | beam.Create(batches)
              | beam_transforms.ComputeMutualInformation(
                  mi_tables.FEATURES, weighting='log',
                  interactions=interactions))
    beam_util.assert_that(result, _close_to(expected))

    def check_params(results):
      assert results[0]['params']['weighting'] == 'log'
      assert results[0]['params']['total_weight'] == len(log_ids)
    beam_util.assert_that(result, check_params, label='Params')


def _run_to_file(batches, features, path, beam_args=(), **kwargs):
  with beam.Pipeline(options=PipelineOptions(list(beam_args))) as p:
    _ = (p | beam.Create(batches, reshuffle=False)
         | beam_transforms.ComputeMutualInformation(features, **kwargs)
         | beam.Map(beam_transforms.write_json, path))


# A categorical feature of ~1000 values, most seen 1-5 times: many ties at
# any top-k cut (and far more values than top_k).
_WIDE = list(mi_tables.FEATURES) + [('maker', 'categorical')]


def _wide_table(num_items):
  rng = np.random.default_rng(7)
  columns = mi_tables.correlated_items(num_items)
  columns['maker'] = [f'm{c}' for c in rng.integers(0, 1000, num_items)]
  return pa.Table.from_batches([mi_tables.record_batch(
      columns, {'price': pa.float32()})])


def test_same_data_gives_the_same_bytes_for_any_bundling(tmp_path):
  table = _wide_table(3000)
  caps = dict(top_k=7, num_buckets=5, sketch_size=64)  # price: > 64 values
  one = str(tmp_path / 'one.json')
  _run_to_file(table.to_batches(max_chunksize=1000), _WIDE, one,
               ['--direct_running_mode=in_memory', '--direct_num_workers=1'],
               **caps)
  # Other record batches, in another order, over two worker processes.
  order = np.random.default_rng(1).permutation(3000)
  shuffled = table.take(pa.array(order)).to_batches(max_chunksize=97)
  other = str(tmp_path / 'other.json')
  _run_to_file(shuffled, _WIDE, other,
               ['--direct_running_mode=multi_processing',
                '--direct_num_workers=2'], **caps)
  with open(one, 'rb') as a, open(other, 'rb') as b:
    first, second = a.read(), b.read()
  assert first == second
  out = json.loads(first)
  assert out['num_items'] == 3000 and out['features'][-1] == 'maker'
  # The same matrix as the one-process computation, to the last bit.
  local = counting.compute_local(shuffled, _WIDE, **caps)
  for key in ('features', 'mi', 'normalized_mi', 'entropy', 'num_items'):
    assert local[key] == out[key], key


def test_too_many_distinct_values_name_the_feature(tmp_path):
  path = str(tmp_path / artifact.FILE_NAME)
  with pytest.raises(DataError, match=r"feature 'maker' has more than 500 "
                     'distinct values'):
    _run_to_file(_wide_table(3000).to_batches(max_chunksize=400), _WIDE,
                 path, max_distinct=500)
  assert not os.listdir(tmp_path)


def test_writes_the_json(tmp_path):
  path = str(tmp_path / 'out' / artifact.FILE_NAME)
  _run_to_file(mi_tables.correlated_batches(300, 300), mi_tables.FEATURES, path)
  with open(path) as f:
    out = json.load(f)
  assert sorted(out) == ['entropy', 'features', 'mi', 'normalized_mi',
                         'num_items', 'params']
  assert out['features'] == [n for n, _ in mi_tables.FEATURES]
  assert out['params']['kinds']['tags'] == 'multi_valued'
  assert os.listdir(tmp_path / 'out') == [artifact.FILE_NAME]


@pytest.mark.parametrize('batches,features,message', [
    ([], mi_tables.FEATURES, 'corpus is empty'),
    (mi_tables.correlated_batches(50, 50),
     list(mi_tables.FEATURES) + [('author', 'categorical')],
     r"\['author'\] missing from the data"),
    ([mi_tables.record_batch({'item_id': ['i1', 'i2'],
                             'year': ['1990', 'n/a']})],
     [('item_id', 'id'), ('year', 'numeric')],
     r"numeric feature 'year' has a non-numeric value.*n/a"),
])
def test_bad_data_names_the_feature_and_writes_nothing(tmp_path, batches,
                                                       features, message):
  path = str(tmp_path / artifact.FILE_NAME)
  with pytest.raises(DataError, match=message):
    _run_to_file(batches, features, path)
  assert not os.listdir(tmp_path)


def test_bad_parameters():
  with pytest.raises(ValueError, match="needs the interactions"):
    beam_transforms.ComputeMutualInformation(mi_tables.FEATURES,
                                             weighting='log')
  with pytest.raises(ValueError, match='weighting must be one of'):
    beam_transforms.ComputeMutualInformation(mi_tables.FEATURES,
                                             weighting='users')
  with pytest.raises(ValueError, match="'history' has kind"):
    beam_transforms.ComputeMutualInformation([('history', 'history')])
  with pytest.raises(ValueError, match='top_k'):
    beam_transforms.ComputeMutualInformation(mi_tables.FEATURES, top_k=0)


def test_ranked_pairs_best_first():
  out = counting.compute_local(mi_tables.correlated_batches(2000, 2000),
                               mi_tables.FEATURES[1:])
  ranked = beam_transforms.ranked_pairs(out)
  assert len(ranked) == 7 * 6 // 2
  assert {ranked[0][:2], ranked[1][:2]} == {('country', 'language'),
                                            ('category', 'subcategory')}
  assert [r[2] for r in ranked] == sorted((r[2] for r in ranked),
                                          reverse=True)

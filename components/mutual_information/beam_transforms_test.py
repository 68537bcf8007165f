"""The Beam computation on real DirectRunner pipelines (record batches in)."""
import json
import os

import apache_beam as beam
from apache_beam.testing import util as beam_util
import numpy as np
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


def _run_to_file(batches, features, path, **kwargs):
  with beam.Pipeline() as p:
    _ = (p | beam.Create(batches, reshuffle=False)
         | beam_transforms.ComputeMutualInformation(features, **kwargs)
         | beam.Map(beam_transforms.write_json, path))


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

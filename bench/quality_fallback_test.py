"""Tests of the fallback diagnosis's pure parts: item groups and mean ranks."""
import numpy as np

from bench import quality_fallback


def test_item_groups_split_by_train_events():
  groups = quality_fallback.item_groups(np.array([0, 1, 4, 5, 9]), 5)
  assert groups['cold'].tolist() == [1, 0, 0, 0, 0]
  assert groups['rare'].tolist() == [0, 1, 1, 0, 0]
  assert groups['seen'].tolist() == [0, 0, 0, 1, 1]


def test_mean_rank_percentile_written_out():
  # Query 0 ranks items 2, 0, 1; query 1 ranks 1, 0 with item 2 excluded.
  scores = np.array([[0.5, 0.1, 0.9], [0.5, 0.8, 0.9]])
  excluded = np.array([[False, False, False], [False, False, True]])
  pct = quality_fallback.mean_rank_percentile(scores, excluded)
  # Item 0: 1/2 and 1/1; item 1: 2/2 and 0/1; item 2: 0/2 (excluded once).
  np.testing.assert_allclose(pct, [0.75, 0.5, 0.0])


def test_summary_row_reads_groups_and_recall():
  record = {'train_counts': [0, 2, 10, 10], 'mean_score': [-1, -0.5, 0.5, 1],
            'mean_rank_percentile': [1.0, 0.5, 0.2, 0.0],
            'ranks': [0, 3, 60], 'targets': [0, 2, 3]}
  row = quality_fallback.summary_row(record)
  assert row['cold mean score'] == -1 and row['cold mean rank %'] == 100
  assert row['seen mean score'] == 0.75 and row['seen events'] == 2
  assert row['seen recall@50'] == 0.5 and row['cold recall@50'] == 0.0
  assert row['rare recall@50'] is None


def _record(label, seed=0, **config):
  return {'label': label, 'seed': seed, 'config': dict(config, seed=seed)}


def test_reference_label_is_the_same_run_without_the_fallback():
  records = [_record('fb', ssl='none', min_item_count=5),
             _record('fb', 1, ssl='none', min_item_count=5),
             _record('cfm fb', ssl='cfm', min_item_count=5),
             _record('fb group', ssl='none', min_item_count=5,
                     fallback_logq='group'),
             _record('plain', 1, ssl='none', min_item_count=0),
             _record('cfm plain', ssl='cfm', min_item_count=0)]
  assert quality_fallback.reference_label(records, 'fb') == 'plain'
  assert quality_fallback.reference_label(records, 'cfm fb') == 'cfm plain'
  assert quality_fallback.reference_label(records, 'fb group') == 'plain'
  assert quality_fallback.reference_label(records, 'plain') is None
  assert quality_fallback.reference_label(records[:3], 'fb') is None


def test_event_slices_of_the_targets():
  record = {'targets': [0, 1, 2, 2], 'train_counts': [0, 3, 9]}
  masks = quality_fallback.event_slices(
      record, np.array(['cold', 'tail', 'head']))
  assert masks['overall'].all()
  assert masks['cold'].tolist() == [True, False, False, False]
  assert masks['tail'].tolist() == [False, True, False, False]
  assert masks['fallback'].tolist() == [True, True, False, False]

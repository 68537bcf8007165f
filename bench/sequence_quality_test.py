"""bench/sequence_quality.py: configs of the variants, the paired report."""
import numpy as np
import pytest

from bench import sequence_quality as sq
from components.retrieval_evaluator import summary

SETTINGS = {'none': {'learning_rate': 0.05, 'epochs': 3},
            'cfm': {'learning_rate': 0.2, 'epochs': 3}}


def test_each_variant_takes_the_settings_of_its_item_side_task():
  pooled = sq.config_for('pooled', 1, SETTINGS, {'seq_ssl_weight': 0.3})
  assert (pooled.ssl.value, pooled.learning_rate, pooled.seed) == ('none', 0.05, 1)
  assert pooled.query_encoder.value == 'pooled'  # --set is for sequence only
  cfm = sq.config_for('sequence+seq-ssl+cfm', 0, SETTINGS, {'seq_ssl_weight': 0.3})
  assert (cfm.ssl.value, cfm.learning_rate, cfm.seq_ssl_weight) == ('cfm', 0.2, 0.3)
  assert sq.label('sequence', {'num_intentions': 2}) == 'sequence num_intentions=2'
  assert sq.label('pooled', {'num_intentions': 2}) == 'pooled'


def _record(name, seed, hits):
  """A record of 4 users with 2 events each; hits [4] per user, same slices."""
  cols = sq.COLUMNS
  values = np.repeat(np.asarray(hits, float)[:, None], len(cols), axis=1)
  events = np.full([4, len(cols)], 2.0)
  totals = summary.UserTotals(cols, ['u0', 'u1', 'u2', 'u3'], values, events)
  return {'mode': 'valid', 'variant': name, 'label': name, 'seed': seed,
          'user_totals': totals.to_dict()}


def test_paired_difference_averages_the_shared_seeds():
  records = [_record('pooled', 0, [0, 1, 1, 0]), _record('pooled', 1, [1, 1, 1, 0]),
             _record('sequence', 0, [2, 1, 1, 0]), _record('sequence', 2, [2, 2, 2, 2])]
  d = sq.paired(records, 'sequence', 'pooled')
  diff, rel, ci, seeds = d['overall']
  assert seeds == [0]  # seed 1 and 2 are not shared
  # 2 of 8 events vs 4 of 8.
  assert diff == pytest.approx(0.25) and rel == pytest.approx(1.0)
  assert ci[0] <= diff <= ci[1]
  # Against itself: exactly 0.
  assert sq.paired(records, 'pooled', 'pooled')['overall'][2] == (0.0, 0.0)


def test_report_marks_only_intervals_excluding_zero():
  same = [1, 1, 1, 1]
  records = [_record('pooled', s, [0, 0, 0, 0]) for s in (0, 1)] + [
      _record('sequence', s, same) for s in (0, 1)]
  lines = sq.report_lines(records, 'pooled')
  row = [l for l in lines if l.startswith('| sequence vs pooled')][0]
  assert '+0.5000' in row and row.count('*') == len(summary.SLICES)
  table = [l for l in lines if l.startswith('| sequence |')][0]
  assert '0.5000' in table and '| 2 |' in table


def test_latest_records_keep_the_code_version_of_the_last_training():
  records = [dict(_record('pooled', 0, [0] * 4), code_version='a'),
             dict(_record('popularity', 0, [0] * 4), code_version='b'),
             dict(_record('pooled', 0, [1] * 4), code_version='b'),
             dict(_record('pooled', 1, [1] * 4), code_version='c', mode='eval')]
  got = sq.latest_records(records, 'valid')
  assert [(r['variant'], r['code_version']) for r in got] == [
      ('popularity', 'b'), ('pooled', 'b')]

"""Tests of the quality benchmark's pure parts: folders, variants, settings."""
import json

import pytest

from bench import quality


def test_every_benchmark_folder_has_a_validation_folder_carved_from_it():
  for data in quality.DATA:
    assert quality.FOLDERS[quality.VALID[data]] == ('valid', data)
  assert quality.FOLDERS['kg_p10'] == ('p10', 'kg_full')
  assert quality.FOLDERS['kg_full'] == ('root', ('--kg',))


def test_leave_last_out_folders_add_hr_and_ndcg():
  assert quality.report_metrics('llo_full') == ('recall@50', 'hr@10',
                                                'ndcg@10')
  assert quality.report_metrics('llo_full_valid') == quality.report_metrics(
      'llo_full')
  assert quality.report_metrics('kg_p10') == ('recall@50',)


def test_variants_train_their_ssl_and_the_default_keeps_the_default():
  assert quality.config_of('rfm', 3, {'learning_rate': 0.01}).ssl == 'rfm'
  assert quality.config_of('none@cfm', 0, {}).ssl == 'none'
  default = quality.config_of('default', 1, {})
  assert default == quality.TrainingConfig().replace(seed=1)


def test_settings_fall_back_to_cfm_and_to_the_full_folder():
  settings = {'kg_full': {'none': {'temperature': 0.1},
                          'cfm': {'ssl_item_id': 'masked'}}}
  assert quality.settings_for(settings, 'kg_full', 'rfm') == {
      'ssl_item_id': 'masked'}
  assert quality.settings_for(settings, 'kg_p10', 'none') == {
      'temperature': 0.1}
  assert quality.settings_for(settings, 'llo_full', 'cfm') == {}
  assert quality.settings_for(settings, 'kg_full', 'default') == {}


def test_trial_overrides_are_the_changes_to_the_defaults():
  config = quality.config_of('cfm', 0, quality.PAPER).to_dict()
  # Adagrad is the default optimizer already: not a change.
  assert quality.trial_overrides({'config': config}) == {
      k: v for k, v in quality.PAPER.items() if k != 'optimizer'}
  assert quality.trial_overrides(
      {'config': quality.config_of('none', 4, {}).to_dict()}) == {}


def test_stage2_changes_the_best_stage1_point():
  points = quality.stage2_points('cfm', {'learning_rate': 0.05})
  assert points[0] == {'learning_rate': 0.05, 'ssl_item_id': 'masked'}
  assert len(points) == len(quality.STAGE2['none'])


def test_an_unknown_folder_is_one_clear_error(tmp_path):
  with pytest.raises(ValueError, match="unknown data folder 'nope'"):
    quality.make_folder(str(tmp_path), 'nope', str(tmp_path))


def test_report_has_means_differences_and_goals_per_folder():
  from bench import quality_stats_test as st  # pylint: disable=g-import-not-at-top
  results = [st._record('popular', 0, [1, 2, 4, 3, 1, 2, 5], 'kg_full'),  # pylint: disable=protected-access
             st._record('none', 0, [0, 0, 1, 1, 2, 0, 0], 'kg_full'),  # pylint: disable=protected-access
             st._record('cfm', 0, [3, 5, 1, 1, 2, 0, 0], 'kg_full')]  # pylint: disable=protected-access
  for r in results:
    r.update(train_seconds=1.0, examples_per_second=1.0,
             ssl_loss=2.5 if r['variant'] == 'cfm' else None)
  text = quality.report_text(results, ['none', 'cfm'], ['kg_full'], None)
  assert '**`kg_full`** (seeds: none [0], cfm [0]; final SSL loss: cfm 2.50)' in text
  assert '| cfm − none | +0.2857 [' in text
  assert '| none − popular |' in text and '| cfm − popular |' in text
  assert '| popular | 1.0000 ± 0.0000' in text  # every event within 50
  assert '- kg_full recall@50 overall: cfm vs none: +66.7%' in text
  assert 'kg_full recall@50 returning_users: cfm vs popular' in text


# Query encoder variants.

ENCODER_SETTINGS = {'full': {'none': {'learning_rate': 0.05, 'epochs': 3},
                             'cfm': {'learning_rate': 0.2, 'epochs': 3}}}


def _encoder_config(variant, seed, extra):
  return quality.config_of(variant, seed, quality.overrides_with(
      ENCODER_SETTINGS, 'full', variant, extra))


def test_each_encoder_variant_takes_the_settings_of_its_item_side_task():
  pooled = _encoder_config('pooled', 1, {'seq_ssl_weight': 0.3})
  assert (pooled.ssl.value, pooled.learning_rate, pooled.seed) == ('none', 0.05, 1)
  assert pooled.query_encoder.value == 'pooled'  # --set is for sequence only
  cfm = _encoder_config('sequence+seq-ssl+cfm', 0, {'seq_ssl_weight': 0.3})
  assert (cfm.ssl.value, cfm.learning_rate, cfm.seq_ssl_weight) == ('cfm', 0.2, 0.3)
  assert _encoder_config('sequence+seq-ssl', 0, {}).seq_ssl_weight == (
      quality.SEQ_SSL_WEIGHT)
  sequence_cfm = _encoder_config('sequence+cfm', 2, {})
  assert (sequence_cfm.ssl.value, sequence_cfm.query_encoder.value,
          sequence_cfm.seq_ssl_weight) == ('cfm', 'sequence', 0.0)
  sequence_rfm = _encoder_config('sequence+rfm', 0, {})
  assert (sequence_rfm.ssl.value, sequence_rfm.query_encoder.value) == (
      'rfm', 'sequence')
  assert sequence_rfm.learning_rate == cfm.learning_rate  # cfm's settings
  assert quality.label('sequence', {'num_intentions': 2}) == (
      'sequence num_intentions=2')
  assert quality.label('pooled', {'num_intentions': 2}) == 'pooled'


def test_encoder_variants_pin_the_encoder_whatever_the_default():
  for variant, (ssl, encoder) in quality.ENCODER_VARIANTS.items():
    config = quality.config_of(variant, 0, {})
    assert config.query_encoder.value == encoder['query_encoder'], variant
    assert config.ssl.value == ssl


def test_set_values_are_json_and_a_bad_item_is_one_clear_error():
  assert quality.parse_set(['num_intentions=2', 'sequence_attention=true']) == {
      'num_intentions': 2, 'sequence_attention': True}
  with pytest.raises(ValueError, match="--set 'beta': expected KEY=VALUE"):
    quality.parse_set(['beta'])


def _encoder_record(variant, seed, hits, version='v'):
  """7 events (quality_stats_test's users and slices): 1 = a hit at rank 1."""
  from bench import quality_stats_test as st  # pylint: disable=g-import-not-at-top
  record = st._record(variant, seed, list(hits), 'full')  # pylint: disable=protected-access
  record.update(code_version=version, train_seconds=10.0)
  return record


def test_encoder_differences_use_the_seeds_both_variants_have():
  from bench import quality_stats  # pylint: disable=g-import-not-at-top
  records = [_encoder_record('pooled', 0, [1, 1, 0, 0, 0, 0, 0]),
             _encoder_record('pooled', 1, [1] * 7),
             _encoder_record('sequence', 0, [1, 1, 1, 1, 0, 0, 0]),
             _encoder_record('sequence', 2, [1] * 7)]
  assert quality_stats.shared_seeds(records, 'full', 'sequence', 'pooled') == [0]
  deltas = quality_stats.pair_delta(records, 'full', 'sequence', 'pooled',
                                    shared=True)
  diff, ci = deltas[('recall@50', 'overall')]
  assert diff == pytest.approx(2 / 7)  # 4 of 7 hits vs 2 of 7, seed 0 only
  assert ci[0] <= diff <= ci[1]
  row = [l for l in quality.encoder_lines(records, 'full')
         if l.startswith('| sequence − pooled')][0]
  seeds, overall = row.split(' | ')[1:3]
  assert seeds == '1' and overall.startswith('+0.2857 (+100.0%) [')
  # Against itself: exactly 0.
  assert quality_stats.pair_delta(records, 'full', 'pooled', 'pooled',
                                  shared=True)[('recall@50', 'overall')] == (
                                      0.0, (0.0, 0.0))


def test_encoder_report_marks_only_intervals_excluding_zero():
  records = [_encoder_record('pooled', s, [0] * 7) for s in (0, 1)] + [
      _encoder_record('sequence', s, [1] * 7) for s in (0, 1)] + [
          _encoder_record('sequence num_intentions=2', 0, [0] * 7),
          _encoder_record('popular', 0, [1, 0, 0, 0, 0, 0, 0])]
  lines = quality.encoder_lines(records, 'full')
  row = [l for l in lines if l.startswith('| sequence − pooled |')][0]
  cells = row.split(' | ')[2:]
  assert all(c.startswith('+1.0000') and c.rstrip(' |').endswith('*')
             for c in cells if c.strip(' |') != '–')
  events = [l for l in lines if l.startswith('| events |')][0]
  assert events.startswith('| events | – | – | 7 |')  # overall: 7 events
  table = [l for l in lines if l.startswith('| sequence |')][0]
  assert table.startswith('| sequence | 2 | 10 | 1.0000 +-0.000 |')
  # A grid point is compared with its variant and that variant's reference;
  # every row with the popularity list, on the trained variant's seeds.
  names = [l.split(' | ')[0] for l in lines if ' − ' in l]
  assert '| sequence num_intentions=2 − sequence' in names
  assert '| sequence num_intentions=2 − pooled' in names
  popular = [l for l in lines if l.startswith('| sequence − popular |')][0]
  assert popular.split(' | ')[1] == '2'


def test_latest_records_keep_the_code_version_of_the_last_training():
  records = [_encoder_record('pooled', 0, [0] * 7, 'a'),
             _encoder_record('popular', 0, [0] * 7, 'b'),
             _encoder_record('pooled', 0, [1] * 7, 'b'),
             _encoder_record('popular', 0, [0] * 7, 'a')]
  got = quality.latest_records(records)
  assert [(r['variant'], r['code_version']) for r in got] == [
      ('popular', 'b'), ('pooled', 'b')]


def test_an_eval_grid_point_is_reported_against_its_reference(tmp_path):
  point = 'sequence+seq-ssl seq_ssl_weight=0.5'
  assert quality.label('sequence+seq-ssl', {'seq_ssl_weight': 0.5}) == point
  version = quality.code_version()
  records = [_encoder_record('sequence', 0, [1, 1, 0, 0, 0, 0, 0], version),
             _encoder_record(point, 0, [1, 1, 1, 0, 0, 0, 0], version)]
  records[0]['config'] = quality.config_of('sequence', 0, {}).to_dict()
  records[1]['config'] = quality.config_of(
      'sequence+seq-ssl', 0, {'seq_ssl_weight': 0.5}).to_dict()
  with open(tmp_path / 'results.jsonl', 'w') as f:
    f.write(''.join(json.dumps(r) + '\n' for r in records))
  text = quality.encoder_report(str(tmp_path), ['full'], None)
  assert f'| {point} − sequence | 1 | +0.1429' in text
  # The `report` step's results leave grid points out.
  assert [r['variant'] for r in quality.current_results(str(tmp_path), {})
          ] == ['sequence']

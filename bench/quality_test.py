"""Tests of the quality benchmark's pure parts: folders, variants, settings."""
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

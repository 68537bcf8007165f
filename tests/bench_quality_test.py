"""Tests of the quality benchmark's pure parts (no training): statistics,
tables, the 10% subsample and the validation split of a data folder."""
import csv
import json
import math
import os

import pytest

from bench import quality
from bench import quality_data
from bench import quality_stats as qs
from models import features
from pipeline.data import contract
import schemas

E = contract.Event
ITEMS = [{'item_id': str(i), 'title': f'Movie {i}', 'year': '1995',
          'genres': 'Comedy|Drama'} for i in range(1, 6)]
USERS = {u: {'age': '30', 'gender': 'F', 'occupation': 'writer',
             'zip_prefix': '123'} for u in ('1', '2', '3', '4')}
# 40 events, user u watches item (t % 5) + 1 at time t.
EVENTS = [E(str(t % 4 + 1), str(t % 5 + 1), 1000 + t) for t in range(40)]


def _read(path):
  with open(path, encoding='utf-8', newline='') as f:
    return list(csv.reader(f))


@pytest.fixture(name='src')
def _src(tmp_path):
  out = tmp_path / 'full'
  contract.write_dataset(str(out), name='toy', schemas_name='movielens-100k',
                         items=ITEMS, users=USERS, events=EVENTS,
                         eval_fraction=0.2)
  return str(out)


def _header_is_the_schema(folder):
  config = features.load_feature_config(schemas.resolve('movielens-100k'))
  for rel in (contract.TRAIN_CSV, contract.EVAL_CSV):
    assert _read(os.path.join(folder, rel))[0] == [
        c for c, _ in config.interaction_columns]
  assert _read(os.path.join(folder, contract.ITEMS_CSV))[0] == [
      c for c, _ in config.item_columns]


def test_mean_std_is_the_sample_std():
  # mean 2; squared deviations 1 + 0 + 1 = 2; / (3 - 1) = 1 -> std 1.
  assert qs.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
  assert qs.mean_std([0.5]) == (0.5, 0.0)
  with pytest.raises(ValueError):
    qs.mean_std([])


def test_relative_change():
  assert qs.relative_change(0.12, 0.10) == pytest.approx(0.2)
  assert qs.relative_change(0.05, 0.10) == pytest.approx(-0.5)
  assert qs.relative_change(0.1, 0.0) is None


def _result(variant, seed, recall50, tail=None, hits=None):
  """A result; `hits` = recall@50 overall hits of users u0..u9 (2 events each)."""
  r = {'data': 'full', 'variant': variant, 'seed': seed,
       'metrics': {'recall@50': {'overall': recall50, 'head': 0.5,
                                 'tail': tail, 'cold': None},
                   'num_eval_events': 10}}
  if hits is not None:
    r['user_totals'] = {'columns': [['recall@50', 'overall']],
                        'users': [f'u{i}' for i in range(10)],
                        'values': [[h] for h in hits],
                        'events': [[2.0]] * 10}
  return r


def test_summarize_groups_over_seeds_and_skips_empty_slices():
  summary = qs.summarize([_result('none', 0, 0.1), _result('none', 1, 0.3),
                          _result('cfm', 0, 0.4, tail=0.2)])
  mean, std, n = summary[('full', 'none', 'recall@50', 'overall')]
  assert (mean, n) == (pytest.approx(0.2), 2)
  assert std == pytest.approx(math.sqrt(0.02))  # (0.01 + 0.01) / 1
  assert ('full', 'none', 'recall@50', 'cold') not in summary
  assert ('full', 'none', 'recall@50', 'tail') not in summary
  assert summary[('full', 'cfm', 'recall@50', 'tail')] == (0.2, 0.0, 1)


BASE_HITS = [1, 0, 2, 1, 0, 1, 1, 0, 2, 1]  # 9 hits of 20 events


def test_paired_deltas_pool_the_seeds_and_resample_users():
  # cfm seed 0 = none + 1 hit for u1 and u4; seed 1 = none + 1 hit for u7:
  # pooled per-user hits = none + [0, .5, 0, 0, .5, 0, 0, .5, 0, 0].
  seed0 = [h + (i in (1, 4)) for i, h in enumerate(BASE_HITS)]
  seed1 = [h + (i == 7) for i, h in enumerate(BASE_HITS)]
  results = [_result('none', 0, 0.45, hits=BASE_HITS),
             _result('none', 1, 0.45, hits=BASE_HITS),
             _result('cfm', 0, 0.55, hits=seed0),
             _result('cfm', 1, 0.5, hits=seed1),
             _result('same', 0, 0.45, hits=BASE_HITS)]
  deltas = qs.paired_deltas(results, ['none', 'cfm', 'same'])
  delta, (low, high) = deltas[('full', 'cfm', 'recall@50', 'overall')]
  assert delta == pytest.approx(1.5 / 20)
  assert 0 <= low <= delta <= high  # never worse for any user
  assert deltas[('full', 'same', 'recall@50', 'overall')] == (0.0, (0.0, 0.0))
  assert not qs.is_real(deltas[('full', 'same', 'recall@50', 'overall')])
  assert qs.paired_deltas(results, ['cfm']) == {
      k: v for k, v in deltas.items() if k[1] == 'cfm'}  # same seed


def test_a_difference_is_real_only_when_its_interval_excludes_zero():
  assert qs.is_real((0.02, (0.001, 0.04)))
  assert qs.is_real((-0.02, (-0.04, -0.001)))
  assert not qs.is_real((0.02, (-0.001, 0.04)))
  assert not qs.is_real((0.02, None)) and not qs.is_real(None)
  # Every user gains a hit: the interval lies above 0.
  better = [h + 1 for h in BASE_HITS]
  results = [_result('none', 0, 0.45, hits=BASE_HITS),
             _result('cfm', 0, 0.95, hits=better)]
  deltas = qs.paired_deltas(results, ['cfm'])
  assert deltas[('full', 'cfm', 'recall@50', 'overall')] == (
      pytest.approx(0.5), (pytest.approx(0.5), pytest.approx(0.5)))
  # Results without per-user aggregates get no interval.
  assert qs.paired_deltas([_result('none', 0, 0.1), _result('cfm', 0, 0.2)],
                          ['cfm']) == {}


def test_markdown_table_marks_only_real_differences():
  summary = {('full', 'none', 'recall@50', 'overall'): (0.10, 0.01, 3),
             ('full', 'cfm', 'recall@50', 'overall'): (0.125, 0.002, 3),
             ('full', 'cfm', 'recall@50', 'tail'): (0.05, 0.01, 3)}
  deltas = {('full', 'cfm', 'recall@50', 'overall'): (0.025, (0.01, 0.04))}
  table = qs.markdown_table(summary, 'full', 'recall@50', ['none', 'cfm'],
                            slices=('overall', 'tail'), deltas=deltas)
  assert table.split('\n') == [
      '| variant | overall | tail |',
      '|---|---|---|',
      '| none | 0.1000 ± 0.0100 | – |',
      # +25%, interval above 0 -> '*'; no baseline tail -> no change.
      '| cfm | 0.1250 ± 0.0020 (+25.0%*) | 0.0500 ± 0.0100 |',
  ]
  deltas[('full', 'cfm', 'recall@50', 'overall')] = (0.025, (-0.01, 0.04))
  assert '(+25.0%) |' in qs.markdown_table(summary, 'full', 'recall@50',
                                           ['none', 'cfm'], deltas=deltas)
  assert '(+25.0%) |' in qs.markdown_table(summary, 'full', 'recall@50',
                                           ['none', 'cfm'])


def test_goal_lines_need_the_goal_and_a_real_difference():
  summary = {('full', 'none', 'recall@50', 'overall'): (0.10, 0.01, 3),
             ('full', 'cfm', 'recall@50', 'overall'): (0.115, 0.01, 3),
             ('full', 'none', 'recall@50', 'tail'): (0.02, 0.001, 3),
             ('full', 'cfm', 'recall@50', 'tail'): (0.04, 0.001, 3)}
  deltas = {('full', 'cfm', 'recall@50', 'overall'): (0.015, (0.005, 0.03)),
            ('full', 'cfm', 'recall@50', 'tail'): (0.02, (-0.001, 0.04))}
  goals = [('full', 'recall@50', 'overall', 0.10),
           ('full', 'recall@50', 'tail', 0.50),
           ('p10', 'recall@50', 'overall', 0.25)]
  lines = qs.goal_lines(summary, goals, deltas=deltas)
  assert lines[0].endswith('[+0.0050, +0.0300]: reached')  # +15%, above 0
  assert '+100.0%' in lines[1] and lines[1].endswith(': NOT reached')
  assert lines[2].endswith('not measured')
  assert qs.goal_lines(summary, goals)[0].endswith(
      '(no per-user results: no paired interval): NOT reached')


def test_subsample_keeps_a_seeded_fraction_of_train_and_the_rest(src, tmp_path):
  out = str(tmp_path / 'p25')
  info = quality_data.subsample_train(src, out, 0.25, seed=3)
  train = _read(os.path.join(src, contract.TRAIN_CSV))
  kept = _read(os.path.join(out, contract.TRAIN_CSV))
  assert len(train) - 1 == 32 and len(kept) - 1 == 8  # round(0.25 * 32)
  # A subsequence of the original rows, in file (time) order, cells as is.
  it = iter(train[1:])
  assert all(row in it for row in kept[1:])
  for rel in (contract.ITEMS_CSV, contract.EVAL_CSV):
    with open(os.path.join(src, rel), 'rb') as a, \
        open(os.path.join(out, rel), 'rb') as b:
      assert a.read() == b.read()
  _header_is_the_schema(out)
  assert json.loads(open(os.path.join(out, 'dataset.json')).read()) == info
  assert info['num_train_events'] == 8 and info['num_eval_events'] == 8
  users = {r[0] for r in kept[1:]} | {
      r[0] for r in _read(os.path.join(out, contract.EVAL_CSV))[1:]}
  assert info['num_users'] == len(users)
  # Same seed, same rows; another seed, other rows.
  again = str(tmp_path / 'again')
  quality_data.subsample_train(src, again, 0.25, seed=3)
  assert _read(os.path.join(again, contract.TRAIN_CSV)) == kept
  other = str(tmp_path / 'other')
  quality_data.subsample_train(src, other, 0.25, seed=4)
  assert _read(os.path.join(other, contract.TRAIN_CSV)) != kept


def test_subsample_refuses_bad_input_and_leaves_nothing(src, tmp_path):
  with pytest.raises(ValueError, match='fraction'):
    quality_data.subsample_train(src, str(tmp_path / 'x'), 0.0, 0)
  with pytest.raises(FileNotFoundError, match='not a data folder'):
    quality_data.subsample_train(str(tmp_path / 'nope'), str(tmp_path / 'y'),
                                 0.1, 0)
  with pytest.raises(ValueError, match='exists'):
    quality_data.subsample_train(src, src, 0.1, 0)
  assert sorted(os.listdir(tmp_path)) == ['full']


def test_validation_split_is_the_end_of_train_only(src, tmp_path):
  out = str(tmp_path / 'valid')
  info = quality_data.validation_split(src, out, 0.25)
  train = _read(os.path.join(src, contract.TRAIN_CSV))
  fit = _read(os.path.join(out, contract.TRAIN_CSV))
  valid = _read(os.path.join(out, contract.EVAL_CSV))
  # 32 train events -> 24 + the last 8 by time; the real eval is not there.
  assert fit[1:] == train[1:25] and valid[1:] == train[25:]
  assert max(int(r[2]) for r in fit[1:]) <= min(int(r[2]) for r in valid[1:])
  assert (info['num_train_events'], info['num_eval_events']) == (24, 8)
  _header_is_the_schema(out)


def test_tuning_points_give_none_and_cfm_the_same_budget():
  points = quality.stage1_points()
  assert len(points) == len({json.dumps(p, sort_keys=True) for p in points})
  assert len(quality.STAGE2['none']) == len(quality.STAGE2['cfm'])
  best = dict(quality.PAPER)
  for variant in ('none', 'cfm'):
    second = quality.stage2_points(variant, best)
    assert len(second) == len({json.dumps(p, sort_keys=True) for p in second})
    for p in second:  # stage 2 starts from the best point, changes a few keys
      assert p['learning_rate'] == best['learning_rate']
      assert p != best
      quality.TrainingConfig().replace(**p)  # every point is a valid config
  for p in points:
    quality.TrainingConfig().replace(**p)


def test_settings_merge_per_data_and_ablations_use_cfm(tmp_path):
  path = str(tmp_path / 'settings.json')
  quality.update_settings('full', {'none': {'epochs': 5}}, path)
  quality.update_settings('full', {'cfm': {'epochs': 15}}, path)
  quality.update_settings('p10', {'none': {'epochs': 3}}, path)
  settings = quality.read_settings(path)
  assert settings == {'full': {'none': {'epochs': 5}, 'cfm': {'epochs': 15}},
                      'p10': {'none': {'epochs': 3}}}
  assert quality.settings_for(settings, 'full', 'rfm') == {'epochs': 15}
  assert quality.settings_for(settings, 'full', 'none') == {'epochs': 5}
  assert quality.settings_for(settings, 'p10', 'cfm') == {}


def test_the_control_trains_ssl_none_with_cfm_settings():
  settings = {'full': {'none': {'epochs': 5}, 'cfm': {'epochs': 15}}}
  assert quality.ssl_of(quality.CONTROL) == 'none'
  assert quality.ssl_of('rfm') == 'rfm'
  assert quality.settings_for(settings, 'full', quality.CONTROL) == {
      'epochs': 15}


def test_report_uses_only_results_of_the_current_settings_and_code(tmp_path):
  settings = {'full': {'none': {'epochs': 5}, 'cfm': {'epochs': 15}}}
  version = quality.code_version()
  assert version == quality.code_version() and len(version) == 12

  def record(variant, epochs, code):
    config = quality.TrainingConfig().replace(
        epochs=epochs, ssl=quality.ssl_of(variant), seed=0).to_dict()
    return {'data': 'full', 'variant': variant, 'seed': 0, 'config': config,
            'code_version': code}

  lines = [record('none', 5, version), record('none', 7, version),
           record('cfm', 15, version), record('cfm', 15, 'older-code'),
           record(quality.CONTROL, 15, version)]
  with open(tmp_path / 'results.jsonl', 'w') as f:
    f.write(''.join(json.dumps(r) + '\n' for r in lines))
  kept = quality.current_results(str(tmp_path), settings)
  assert kept == [lines[0], lines[2], lines[4]]

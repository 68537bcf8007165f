"""Blessing logic: threshold, regression against the baseline, first run."""
import pytest

from components.retrieval_evaluator import blessing


def _metrics(overall, tail, k=50):
  return {f'recall@{k}': {'overall': overall, 'head': 0.5, 'tail': tail,
                          'cold': 0.0}}


CONFIG = blessing.BlessingConfig(k=50, min_recall=0.1, max_overall_drop=0.02,
                                 max_tail_drop=0.01)


def test_first_run_is_judged_on_the_threshold_alone():
  ok, reason = blessing.decide(_metrics(0.10, 0.0), None, CONFIG)
  assert ok
  assert reason.startswith('blessed: ')
  assert 'no blessed baseline yet' in reason
  ok, reason = blessing.decide(_metrics(0.0999, 0.3), None, CONFIG)
  assert not ok
  assert 'overall recall@50 0.0999 is below the threshold 0.1' in reason


def test_regression_within_tolerance_is_blessed():
  ok, reason = blessing.decide(_metrics(0.28, 0.05), _metrics(0.30, 0.06),
                               CONFIG)
  assert ok, reason
  assert 'tail recall@50 0.0500 vs baseline 0.0600' in reason


def test_overall_regression_beyond_tolerance_is_not_blessed():
  ok, reason = blessing.decide(_metrics(0.27, 0.06), _metrics(0.30, 0.06),
                               CONFIG)
  assert not ok
  assert 'overall recall@50 0.2700 dropped by 0.0300' in reason


def test_tail_regression_is_not_blessed_even_when_overall_improves():
  ok, reason = blessing.decide(_metrics(0.40, 0.04), _metrics(0.30, 0.06),
                               CONFIG)
  assert not ok
  assert reason.startswith('NOT blessed: tail recall@50 0.0400 dropped')


def test_missing_tail_slice_is_reported_not_compared():
  ok, reason = blessing.decide(_metrics(0.30, None), _metrics(0.30, 0.06),
                               CONFIG)
  assert ok
  assert 'tail recall@50 not compared' in reason


def test_blessing_k_must_be_evaluated():
  with pytest.raises(ValueError, match="no 'recall@20'"):
    blessing.decide(_metrics(0.3, 0.1), None,
                    blessing.BlessingConfig(k=20))


@pytest.mark.parametrize('kwargs', [{'k': 0}, {'min_recall': -0.1},
                                    {'max_tail_drop': float('nan')}])
def test_bad_config_is_rejected(kwargs):
  with pytest.raises(ValueError):
    blessing.BlessingConfig(**kwargs)


def test_defaults_are_the_documented_ones():
  config = blessing.BlessingConfig()
  assert (config.k, config.min_recall, config.max_overall_drop,
          config.max_tail_drop) == (50, 0.05, 0.01, 0.01)


def _with_delta(metrics, overall_ci, tail_ci, k=50):
  return dict(metrics, delta_ci95={'baseline': {f'recall@{k}': {
      'overall': {'delta': 0.0, 'ci95': overall_ci},
      'tail': {'delta': 0.0, 'ci95': tail_ci}}}})


def test_a_drop_whose_paired_interval_includes_zero_is_not_real():
  # Overall drops by 0.03 (> 0.02), but the interval reaches above 0.
  cand = _with_delta(_metrics(0.27, 0.06), [-0.06, 0.002], [-0.01, 0.01])
  ok, reason = blessing.decide(cand, _metrics(0.30, 0.06), CONFIG)
  assert ok, reason
  assert 'overall recall@50 0.2700 dropped by 0.0300' in reason
  assert 'includes 0: not a real drop' in reason


def test_a_drop_whose_paired_interval_is_below_zero_blocks():
  cand = _with_delta(_metrics(0.27, 0.06), [-0.05, -0.01], [-0.01, 0.01])
  ok, reason = blessing.decide(cand, _metrics(0.30, 0.06), CONFIG)
  assert not ok
  assert reason.startswith('NOT blessed: overall recall@50 0.2700 dropped by '
                           '0.0300')
  assert 'interval of the difference [-0.0500, -0.0100] below 0' in reason


def test_a_real_drop_within_the_tolerance_is_blessed():
  # A drop of 0.005 < 0.01 passes even when its interval is below 0.
  cand = _with_delta(_metrics(0.30, 0.055), [-0.01, 0.01], [-0.008, -0.001])
  ok, reason = blessing.decide(cand, _metrics(0.30, 0.06), CONFIG)
  assert ok, reason


def _with_evidence(m, events, users, interval=(0.05, 0.15), k=50):
  return dict(m, n_events={'overall': events}, n_users={'overall': users},
              ci95={f'recall@{k}': {'overall': list(interval)}})


@pytest.mark.parametrize('events, users, interval, reason', [
    (1, 1, (0.0, 1.0), 'too little evidence: 1 eval events of 1 users '
     '(minimum 1000 events and 50 users'),
    (5000, 49, (0.05, 0.15), 'too little evidence: 5000 eval events of 49 '
     'users'),
    (999, 400, (0.05, 0.15), 'too little evidence: 999 eval events'),
    (5000, 400, (0.1, 0.1), 'degenerate evaluation: the 95% interval of '
     'overall recall@50 [0.1000, 0.1000] has zero width'),
])
def test_no_blessing_without_evidence(events, users, interval, reason):
  config = blessing.BlessingConfig(k=50, min_recall=0.0)
  ok, message = blessing.decide(
      _with_evidence(_metrics(1.0, 1.0), events, users, interval), None,
      config)
  assert not ok and message.startswith('NOT blessed: ' + reason), message
  # MovieLens-100K's size passes; the minimums are configurable.
  assert blessing.decide(_with_evidence(_metrics(1.0, 1.0), 9430, 459),
                         None, config)[0]
  assert blessing.decide(
      _with_evidence(_metrics(1.0, 1.0), events, users, (0.0, 1.0)), None,
      blessing.BlessingConfig(k=50, min_recall=0.0, min_eval_events=0,
                              min_eval_users=0))[0]

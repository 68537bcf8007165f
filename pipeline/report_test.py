"""Report rendering and TensorBoard reading on real event files and real PNGs."""
import os

import pytest
import tensorflow as tf

from pipeline import report
from pipeline import run_records

METRICS = {
    'recall@10': {'overall': 0.25, 'head': 0.5, 'tail': 0.125, 'cold': None},
    'map@10': {'overall': 0.1, 'head': 0.2, 'tail': 0.05, 'cold': None},
    'recall@50_by_decile': [0.9, 0.5, None, 0.3, 0.2, 0.1, 0.1, 0.0, 0.0, 0.0],
    'num_eval_events': 40,
    'num_eval_events_by_slice': {'overall': 40, 'head': 20, 'tail': 20,
                                 'cold': 0},
}
# A metrics.json of today: user slices, n, intervals, popularity, deltas.
FULL = {
    'recall@10': {'overall': 0.25, 'head': 0.5, 'tail': 0.125, 'cold': None,
                  'new_users': 0.2, 'returning_users': 0.26,
                  'light_users': 0.3, 'heavy_users': 0.1},
    'recall@50_by_decile': [0.3, 0.25, None, 0.2, 0.1, 0.1, 0.1, 0.0, 0.0,
                            0.0],
    'num_eval_events': 400,
    'n_events': {'overall': 400, 'head': 200, 'tail': 190, 'cold': 10,
                 'new_users': 40, 'returning_users': 360, 'light_users': 100,
                 'heavy_users': 20},
    'n_users': {'overall': 90, 'head': 80, 'tail': 70, 'cold': 9,
                'new_users': 10, 'returning_users': 80, 'light_users': 40,
                'heavy_users': 8},
    'ci95': {'recall@10': {'overall': [0.2, 0.3], 'tail': [0.1, 0.15]},
             'recall@50_by_decile': [[0.2, 0.4]] + [None] * 9},
}
FULL['baseline'] = dict(FULL, **{'recall@10': dict(FULL['recall@10'],
                                                   tail=0.2, heavy_users=0.4)})
FULL['popularity'] = dict(FULL, **{'recall@10': dict(FULL['recall@10'],
                                                     overall=0.125)})
FULL['delta_ci95'] = {
    'baseline': {'recall@10': {
        'overall': {'delta': 0.0, 'ci95': [0.0, 0.0]},
        'tail': {'delta': -0.075, 'ci95': [-0.1, -0.05]},
        'heavy_users': {'delta': -0.3, 'ci95': [-0.5, -0.1]}}},
    'popularity': {'recall@10': {
        'overall': {'delta': 0.125, 'ci95': [-0.01, 0.2]}}}}


def _write_scalars(logdir, tag_prefix=''):
  writer = tf.summary.create_file_writer(logdir)
  with writer.as_default():
    for epoch, (main, ssl) in enumerate([(3.0, 1.0), (2.0, 0.5)]):
      tf.summary.scalar(f'{tag_prefix}main_loss', main, step=epoch)
      tf.summary.scalar(f'{tag_prefix}ssl_loss', ssl, step=epoch)
      tf.summary.scalar(f'{tag_prefix}total_loss', main + ssl, step=epoch)
      tf.summary.scalar(f'{tag_prefix}learning_rate', 0.1, step=epoch)
  writer.close()


def test_read_curves_finds_event_files_recursively(tmp_path):
  _write_scalars(str(tmp_path / 'logs' / 'train'))
  _write_scalars(str(tmp_path / 'logs' / 'validation'), tag_prefix='epoch_')
  curves = run_records.read_curves(str(tmp_path))
  assert sorted(curves) == ['logs/train', 'logs/validation']
  for series in curves.values():
    assert sorted(series) == ['main_loss', 'ssl_loss', 'total_loss']
    assert series['main_loss'] == [(0, 3.0), (1, 2.0)]
    assert series['total_loss'] == [(0, 4.0), (1, 2.5)]
  assert run_records.read_curves(str(tmp_path / 'absent')) == {}


def _is_png(path):
  with open(path, 'rb') as f:
    return f.read(8) == b'\x89PNG\r\n\x1a\n' and os.path.getsize(path) > 2000


def test_render_writes_html_and_charts_and_replaces_atomically(tmp_path):
  _write_scalars(str(tmp_path / 'run' / 'train'))
  record = run_records.RunRecord(
      run_id='2026-01-01T00:00:00', pipeline_name='sslrec', start_time_ms=0,
      metrics=FULL, blessed=False,
      blessing_message='NOT blessed: tail recall@10 0.1250 dropped <by>',
      curves=run_records.read_curves(str(tmp_path / 'run')))
  dest = str(tmp_path / 'out' / 'report')
  index = report.render(record, dest)
  assert index == os.path.join(dest, 'index.html')
  assert sorted(os.listdir(dest)) == ['deciles.png', 'index.html',
                                      'losses.png']
  assert _is_png(os.path.join(dest, 'deciles.png'))
  assert _is_png(os.path.join(dest, 'losses.png'))
  text = open(index, encoding='utf-8').read()
  assert 'Not blessed' in text and 'dropped &lt;by&gt;' in text
  # Tail recall@10: candidate 0.125 [0.1, 0.15] vs baseline 0.2, a real drop.
  assert ('0.1250 <span class="ci">[0.1000, 0.1500]</span> '
          '<span class="muted">(0.2000)</span> '
          '<span class="down">-0.0750</span> '
          '<span class="ci">[-0.1000, -0.0500]</span>') in text
  # Heavy users: 20 events, greyed out, the drop not painted red.
  assert ('<td class="few" title="20 eval events, 8 users">0.1000 '
          '<span class="muted">(0.4000)</span> '
          '<span class="muted">-0.3000</span>') in text
  assert '<td>eval events</td><td>400</td>' in text
  assert '<td>eval users</td><td>90</td>' in text
  assert '<th>light_users</th>' in text
  assert '<td>recall@10 popularity</td><td title="400 eval events, 90 ' in text
  assert '<span class="muted">+0.1250</span>' in text  # includes 0: grey
  assert 'n_events' not in text
  assert 'Nothing was pushed.' in text
  assert '<h2>Training config</h2>' in text

  record.metrics = None
  record.curves = {}
  report.render(record, dest)  # replaces the folder
  assert sorted(os.listdir(dest)) == ['index.html']
  assert sorted(os.listdir(tmp_path / 'out')) == ['report']  # no temp left
  assert 'No evaluation recorded' in open(index, encoding='utf-8').read()


def test_metrics_table_without_baseline_says_so():
  html = report.metrics_table(dict(METRICS, baseline=None))
  assert 'No baseline' in html
  assert '<td title="40 eval events">0.2500</td>' in html
  assert '>&ndash;</td>' in html  # cold has no events
  assert 'popularity' not in html  # an older metrics.json has none


def test_an_older_metrics_json_colours_deltas_by_sign():
  baseline = dict(METRICS, **{'recall@10': dict(METRICS['recall@10'],
                                                tail=0.2)})
  metrics = dict(METRICS, baseline=baseline,
                 num_eval_events_by_slice={'overall': 40, 'head': 30,
                                           'tail': 30, 'cold': 0})
  html = report.metrics_table(metrics)
  assert ('0.1250 <span class="muted">(0.2000)</span> '
          '<span class="down">-0.0750</span></td>') in html


def test_decile_axis_fits_the_data(tmp_path):
  top = report.plot_deciles(FULL, str(tmp_path / 'd.png'))
  assert top == pytest.approx(0.4 * 1.15)  # highest interval end 0.4
  assert _is_png(str(tmp_path / 'd.png'))


def test_overfitting_is_flagged_with_epochs_from_one():
  curves = {'train': {'main_loss': [(0, 3.0), (1, 2.0), (2, 1.5), (3, 1.2)]},
            'validation': {'main_loss': [(0, 3.1), (1, 2.5), (2, 2.6),
                                         (3, 2.8)]}}
  (warning,) = report.overfitting_warnings(curves)
  assert warning.startswith('validation main_loss rose while train main_loss '
                            'fell at epochs 3, 4 (of 4)')
  curves['validation']['main_loss'] = [(0, 3.1), (1, 2.5), (2, 2.4), (3, 2.3)]
  assert report.overfitting_warnings(curves) == []


def test_loss_chart_numbers_epochs_from_one():
  curves = {'logs/train': {'main_loss': [(0, 3.0), (1, 2.0)],
                           'total_loss': [(0, 4.0), (1, 2.5)]},
            'logs/validation': {'main_loss': [(0, 3.5), (1, 2.9)]}}
  lines = report.loss_lines(curves)
  assert list(lines) == ['main_loss', 'total_loss']
  assert lines['main_loss'] == [('logs/train', [1, 2], [3.0, 2.0]),
                                ('logs/validation', [1, 2], [3.5, 2.9])]
  assert report.loss_lines({}) == {}


def test_run_timings_list_each_component_and_the_sum(tmp_path):
  timings = [run_records.Timing('ItemsExampleGen', 'COMPLETE', 3.0),
             run_records.Timing('ItemsTransform', 'CACHED', 1.5),
             run_records.Timing('PushIndex', 'FAILED', None)]
  html = report.timings_table(timings)
  assert '<tr><td>ItemsExampleGen</td><td>COMPLETE</td><td>3.0</td></tr>' in html
  assert '<tr><td>PushIndex</td><td>FAILED</td><td>&ndash;</td></tr>' in html
  assert '<tr><td>sum</td><td></td><td>4.5</td></tr>' in html
  assert report.timings_table([]) == ''
  record = run_records.RunRecord(run_id='r1', pipeline_name='sslrec',
                                 start_time_ms=0, timings=timings)
  text = open(report.render(record, str(tmp_path / 'report')),
              encoding='utf-8').read()
  assert '<h2>Run timings</h2>' in text and html in text


def test_config_table_marks_the_differences_from_the_baseline():
  html = report.config_table({'ssl': 'cfm', 'epochs': 10, 'seed': 0},
                             {'ssl': 'none', 'epochs': 10, 'seed': 0})
  assert 'Differences from the baseline model&#39;s config: ssl.' in html
  assert ('<tr class="changed"><td>ssl</td><td>&quot;cfm&quot;</td>'
          '<td>&quot;none&quot;</td></tr>') in html
  assert '<tr><td>epochs</td><td>10</td><td>10</td></tr>' in html
  assert 'Same training config' in report.config_table({'a': 1}, {'a': 1})
  assert 'No baseline model' in report.config_table({'a': 1}, None)


def test_report_on_a_foreign_file_is_a_clear_error(tmp_path):
  (tmp_path / 'metadata.sqlite').write_text('not a database')
  with pytest.raises(ValueError, match='not an ML Metadata store'):
    report.generate(str(tmp_path))


def test_the_k_shown_is_the_one_the_run_recorded(tmp_path):
  # A run evaluated with blessing_k 10 (deciles at 10): the report says 10.
  metrics = dict(FULL, settings={'exclusion': 'serving', 'blessing_k': 10,
                                 'ks': [10], 'history_column': 'history'})
  metrics['recall@10_by_decile'] = metrics.pop('recall@50_by_decile')
  record = run_records.RunRecord(
      run_id='r', pipeline_name='sslrec', start_time_ms=0, metrics=metrics,
      blessed=True, blessing_message='blessed', curves={})
  text = open(report.render(record, str(tmp_path / 'ten')),
              encoding='utf-8').read()
  assert 'The blessing reads Recall@10: overall 0.2500.' in text
  assert '<h2>Recall@10 by popularity decile</h2>' in text
  assert "minus the items the index leaves out" in text
  assert 'Recall@50' not in text
  # A metrics.json from before the settings: K = 50, as it was blessed.
  record.metrics = FULL
  text = open(report.render(record, str(tmp_path / 'fifty')),
              encoding='utf-8').read()
  assert 'The blessing reads Recall@50' in text
  assert '<h2>Recall@50 by popularity decile</h2>' in text

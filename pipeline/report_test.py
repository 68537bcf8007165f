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
  baseline = dict(METRICS, **{'recall@10': dict(METRICS['recall@10'],
                                                tail=0.2)})
  record = run_records.RunRecord(
      run_id='2026-01-01T00:00:00', pipeline_name='sslrec', start_time_ms=0,
      metrics=dict(METRICS, baseline=baseline), blessed=False,
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
  # Tail recall@10: candidate 0.125 vs baseline 0.2.
  assert ('0.1250 <span class="muted">(0.2000)</span> '
          '<span class="down">-0.0750</span>') in text
  assert '<td>eval events</td><td>40</td>' in text
  assert 'num_eval_events_by_slice' not in text
  assert 'Nothing was pushed.' in text

  record.metrics = None
  record.curves = {}
  report.render(record, dest)  # replaces the folder
  assert sorted(os.listdir(dest)) == ['index.html']
  assert sorted(os.listdir(tmp_path / 'out')) == ['report']  # no temp left
  assert 'No evaluation recorded' in open(index, encoding='utf-8').read()


def test_metrics_table_without_baseline_says_so():
  html = report.metrics_table(dict(METRICS, baseline=None))
  assert 'No baseline' in html
  assert '<td>0.2500</td>' in html
  assert '<td>&ndash;</td>' in html  # cold has no events


def test_report_on_a_foreign_file_is_a_clear_error(tmp_path):
  (tmp_path / 'metadata.sqlite').write_text('not a database')
  with pytest.raises(ValueError, match='not an ML Metadata store'):
    report.generate(str(tmp_path))

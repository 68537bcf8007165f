"""HTML report of one run: metrics by slice, Recall@50 by popularity decile, loss curves.

`render(record, dest)` is pure (a RunRecord in, files out):
  <dest>/index.html      verdict, pushes, metrics table, charts
  <dest>/deciles.png     Recall@50 per popularity decile, candidate vs baseline
  <dest>/losses.png      main / SSL / total loss per epoch (when logged)
The folder is written beside dest and renamed into place, so a reader never
sees half a report. `generate(output_dir, run_id)` reads the record from
`<output_dir>/metadata.sqlite` and renders it to `<output_dir>/report/`.
"""
import html
import os
import shutil
import tempfile
from typing import List, Optional

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import ticker  # pylint: disable=g-import-not-at-top,wrong-import-position

from pipeline import run_records  # pylint: disable=g-import-not-at-top,wrong-import-position

METADATA_FILE = 'metadata.sqlite'
REPORT_DIR = 'report'
SLICES = ('overall', 'head', 'tail', 'cold')
DECILE_KEY = 'recall@50_by_decile'
DECILES_PNG, LOSSES_PNG = 'deciles.png', 'losses.png'

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 70em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.up { color: #1a7f37; } .down { color: #cf222e; }
.blessed { color: #1a7f37; } .not-blessed { color: #cf222e; }
.muted { color: #777; }
"""


def _metric_keys(metrics: dict) -> List[str]:
  return [k for k, v in metrics.items()
          if k.startswith(('recall@', 'map@')) and isinstance(v, dict)]


def _fmt(value: Optional[float]) -> str:
  return '&ndash;' if value is None else f'{value:.4f}'


def _cell(value: Optional[float], base: Optional[float], has_base: bool) -> str:
  if not has_base:
    return f'<td>{_fmt(value)}</td>'
  if value is None or base is None:
    return f'<td>{_fmt(value)} <span class="muted">({_fmt(base)})</span></td>'
  delta = value - base
  cls = 'up' if delta > 0 else 'down' if delta < 0 else 'muted'
  return (f'<td>{_fmt(value)} <span class="muted">({_fmt(base)})</span> '
          f'<span class="{cls}">{delta:+.4f}</span></td>')


def metrics_table(metrics: dict) -> str:
  """HTML table: one row per metric, one column per slice."""
  baseline = metrics.get('baseline')
  has_base = baseline is not None
  head = ''.join(f'<th>{s}</th>' for s in SLICES)
  rows = []
  counts = metrics.get('num_eval_events_by_slice') or {}
  if counts:
    rows.append('<tr><td>eval events</td>' + ''.join(
        f'<td>{counts.get(s, 0)}</td>' for s in SLICES) + '</tr>')
  for key in _metric_keys(metrics):
    base = baseline.get(key, {}) if has_base else {}
    rows.append(f'<tr><td>{html.escape(key)}</td>' + ''.join(
        _cell(metrics[key].get(s), base.get(s), has_base) for s in SLICES)
                + '</tr>')
  note = ('<p class="muted">Candidate (baseline = last blessed model) '
          'difference.</p>' if has_base else
          '<p class="muted">No baseline: this is the first evaluated model '
          'or no model was blessed before.</p>')
  return (f'<table><tr><th>metric</th>{head}</tr>{"".join(rows)}</table>'
          + note)


def plot_deciles(metrics: dict, path: str) -> None:
  """Grouped bars: Recall@50 per popularity decile (+ cold), vs baseline."""
  labels = [f'D{d + 1}' for d in range(len(metrics.get(DECILE_KEY, [])))]
  labels.append('cold')
  series = [('candidate', metrics)]
  if metrics.get('baseline'):
    series.append(('baseline', metrics['baseline']))
  fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
  width = 0.8 / len(series)
  for i, (name, m) in enumerate(series):
    values = list(m.get(DECILE_KEY, [])) + [
        (m.get('recall@50') or {}).get('cold')]
    xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
    ax.bar([x for x, v in zip(xs, values) if v is not None],
           [v for v in values if v is not None], width, label=name)
    for x, v in zip(xs, values):
      if v is None:  # no eval event in this group
        ax.text(x, 0.01, 'n/a', ha='center', fontsize=7, rotation=90)
  ax.set_xticks(range(len(labels)))
  ax.set_xticklabels(labels)
  ax.set_xlabel('item popularity decile in training (D1 = most popular 10%)')
  ax.set_ylabel('Recall@50')
  ax.set_ylim(0, 1)
  ax.legend()
  ax.grid(axis='y', alpha=0.3)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def plot_losses(curves: run_records.Curves, path: str) -> bool:
  """One panel per loss tag, one line per series; False if nothing to plot."""
  tags = [t for t in run_records.LOSS_TAGS
          if any(t in by_tag for by_tag in curves.values())]
  if not tags:
    return False
  fig, axes = plt.subplots(1, len(tags), figsize=(4 * len(tags), 3.2),
                           dpi=100, squeeze=False)
  for ax, tag in zip(axes[0], tags):
    for series, by_tag in sorted(curves.items()):
      points = by_tag.get(tag)
      if points:
        ax.plot([p[0] for p in points], [p[1] for p in points], marker='o',
                linestyle='--' if 'valid' in series or 'eval' in series
                else '-', label=series or 'run')
    ax.set_title(tag)
    ax.set_xlabel('epoch')
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return True


def _html(record: run_records.RunRecord, has_losses: bool) -> str:
  title = f'sslrec run {record.run_id}'
  parts = [f'<!DOCTYPE html><html><head><meta charset="utf-8">'
           f'<title>{html.escape(title)}</title><style>{_STYLE}</style>'
           f'</head><body><h1>{html.escape(title)}</h1>',
           f'<p>pipeline <b>{html.escape(record.pipeline_name)}</b></p>']
  if record.blessed is None:
    parts.append('<p class="muted">No blessing recorded for this run.</p>')
  else:
    cls = 'blessed' if record.blessed else 'not-blessed'
    parts.append(f'<h2 class="{cls}">{"Blessed" if record.blessed else "Not blessed"}'
                 f'</h2><p>{html.escape(record.blessing_message)}</p>')
  if record.pushes:
    items = ''.join(
        f'<li>{html.escape(p.node_id)}: '
        + (f'pushed version {html.escape(p.version)} to '
           f'<code>{html.escape(p.destination)}</code>' if p.pushed
           else 'not pushed') + '</li>' for p in record.pushes)
    parts.append(f'<h2>Pushes</h2><ul>{items}</ul>')
  elif record.blessed is False:
    parts.append('<p>Nothing was pushed.</p>')
  if record.metrics is not None:
    m = record.metrics
    parts.append(f'<h2>Retrieval metrics</h2><p>{m.get("num_eval_events")} '
                 'eval events ranked over the whole item corpus.</p>')
    parts.append(metrics_table(m))
    parts.append(f'<h2>Recall@50 by popularity decile</h2>'
                 f'<img src="{DECILES_PNG}" alt="Recall@50 by decile">')
  else:
    parts.append('<p class="muted">No evaluation recorded for this run.</p>')
  if has_losses:
    parts.append(f'<h2>Training losses</h2><img src="{LOSSES_PNG}" '
                 'alt="training losses">')
  elif record.model_run_uri:
    parts.append('<p class="muted">No loss scalars found under '
                 f'<code>{html.escape(record.model_run_uri)}</code>.</p>')
  parts.append('</body></html>\n')
  return '\n'.join(parts)


def render(record: run_records.RunRecord, dest: str) -> str:
  """Writes the report folder at dest (replacing it); returns index.html."""
  dest = os.path.abspath(dest)
  parent = os.path.dirname(dest)
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(dest)}-', dir=parent)
  try:
    if record.metrics is not None:
      plot_deciles(record.metrics, os.path.join(tmp, DECILES_PNG))
    has_losses = plot_losses(record.curves, os.path.join(tmp, LOSSES_PNG))
    with open(os.path.join(tmp, 'index.html'), 'w', encoding='utf-8') as f:
      f.write(_html(record, has_losses))
    os.chmod(tmp, 0o755)
    old = None
    if os.path.exists(dest):
      old = tempfile.mkdtemp(prefix=f'.{os.path.basename(dest)}-old-',
                             dir=parent)
      os.rename(dest, os.path.join(old, 'report'))
    os.rename(tmp, dest)
    if old:
      shutil.rmtree(old)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return os.path.join(dest, 'index.html')


def generate(output_dir: str, run_id: Optional[str] = None,
             dest: Optional[str] = None) -> str:
  """Renders the report of a run (default: the latest) from MLMD."""
  store = run_records.open_store(os.path.join(output_dir, METADATA_FILE))
  record = run_records.read_run(store, run_id)
  return render(record, dest or os.path.join(output_dir, REPORT_DIR))

"""HTML report of one run: metrics by slice with intervals, deciles, losses, config, timings.

`render(record, dest)` is pure (a RunRecord in, files out):
  <dest>/index.html      verdict, pushes, metrics table (item and user slices,
                         95% intervals, n, popularity rows, paired differences;
                         cells under MIN_EVENTS events greyed), charts, an
                         over-fitting warning, the training config and its diff
                         against the baseline's, run timings
  <dest>/deciles.png     Recall@K per popularity decile with intervals,
                         candidate vs baseline and popularity (K as in
                         metrics.json's `recall@K_by_decile`)
The K of the headline (the blessing's) is read from metrics.json's settings.
  <dest>/losses.png      main / SSL / total loss per epoch from 1 (when logged)
The folder is written beside dest and renamed into place, so a reader never
sees half a report. `generate(output_dir, run_id)` reads the record from
`<output_dir>/metadata.sqlite` (run_records on the inspection.Inspector) and
renders it to `<output_dir>/report/`.
"""
import html
import json
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import ticker  # pylint: disable=g-import-not-at-top,wrong-import-position

from components.retrieval_evaluator import outputs as evaluator_outputs  # pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline import inspection  # pylint: disable=g-import-not-at-top,wrong-import-position
from pipeline import run_records  # pylint: disable=g-import-not-at-top,wrong-import-position

METADATA_FILE = 'metadata.sqlite'
REPORT_DIR = 'report'
ITEM_SLICES = ('overall', 'head', 'tail', 'cold')
USER_SLICES = ('new_users', 'returning_users', 'light_users', 'heavy_users')
SLICES = ITEM_SLICES + USER_SLICES
DECILES_PNG, LOSSES_PNG = 'deciles.png', 'losses.png'
# A cell with fewer eval events is greyed out: its difference is not judged.
MIN_EVENTS = 30
# Training series whose name says validation (the Trainer logs 'validation').
_VALIDATION_WORDS = ('valid', 'eval')

_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 90em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right;
         vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
.up { color: #1a7f37; } .down { color: #cf222e; }
.blessed { color: #1a7f37; } .not-blessed { color: #cf222e; }
.muted { color: #777; } .ci { color: #777; font-size: 85%; }
td.few, td.few span { color: #aaa; background: #f6f6f6; }
tr.reference td { background: #fafafa; }
.warning { color: #9a6700; }
.changed td { background: #fff8c5; }
"""


def _metric_keys(metrics: dict) -> List[str]:
  return [k for k, v in metrics.items()
          if k.startswith(('recall@', 'map@', 'hr@', 'ndcg@'))
          and isinstance(v, dict)]


def _fmt(value: Optional[float]) -> str:
  return '&ndash;' if value is None else f'{value:.4f}'


def _ci(interval: Optional[Sequence[float]], signed: bool = False) -> str:
  if not interval:
    return ''
  f = '{:+.4f}' if signed else '{:.4f}'
  return (f' <span class="ci">[{f.format(interval[0])}, '
          f'{f.format(interval[1])}]</span>')


def _delta(delta: Optional[float], interval: Optional[Sequence[float]],
           few: bool) -> str:
  """The difference, coloured when real: its paired interval excludes 0
  (by its sign when no interval was recorded); grey when few events."""
  if delta is None:
    return ''
  if few:
    cls = 'muted'
  elif interval:
    cls = 'up' if interval[0] > 0 else 'down' if interval[1] < 0 else 'muted'
  else:
    cls = 'up' if delta > 0 else 'down' if delta < 0 else 'muted'
  return f' <span class="{cls}">{delta:+.4f}</span>' + _ci(interval, True)


def _counts(metrics: dict) -> Tuple[Dict[str, int], Dict[str, int]]:
  events = metrics.get('n_events') or metrics.get(
      'num_eval_events_by_slice') or {}
  return events, metrics.get('n_users') or {}


def _lookup(d: Optional[dict], key: str, name: str):
  return ((d or {}).get(key) or {}).get(name)


def _cell(value: Optional[float], interval, n_events: Optional[int],
          n_users: Optional[int], reference: Optional[float] = None,
          has_reference: bool = False, delta_cell: Optional[dict] = None) -> str:
  few = n_events is not None and n_events < MIN_EVENTS
  title = ''
  if n_events is not None:
    title = (f' title="{n_events} eval events'
             + (f', {n_users} users"' if n_users is not None else '"'))
  cls = ' class="few"' if few else ''
  text = _fmt(value) + _ci(interval)
  if has_reference:
    text += f' <span class="muted">({_fmt(reference)})</span>'
    delta = delta_cell.get('delta') if delta_cell else (
        None if value is None or reference is None else value - reference)
    text += _delta(delta, delta_cell.get('ci95') if delta_cell else None, few)
  return f'<td{cls}{title}>{text}</td>'


def metrics_table(metrics: dict) -> str:
  """HTML table: a column per slice; per metric a row for the candidate
  (value, 95% interval, the baseline in brackets and the paired difference)
  and a row for the popularity baseline (its value and interval, and the
  candidate's difference to it). Cells under MIN_EVENTS events are grey."""
  baseline = metrics.get('baseline')
  popularity = metrics.get('popularity')
  has_base = baseline is not None
  deltas = metrics.get('delta_ci95') or {}
  slices = [s for s in SLICES if any(
      s in (metrics.get(k) or {}) for k in _metric_keys(metrics))]
  head = ''.join(f'<th>{s}</th>' for s in slices)
  events, users = _counts(metrics)
  rows = []
  if events:
    rows.append('<tr><td>eval events</td>' + ''.join(
        f'<td>{events.get(s, 0)}</td>' for s in slices) + '</tr>')
  if users:
    rows.append('<tr><td>eval users</td>' + ''.join(
        f'<td>{users.get(s, 0)}</td>' for s in slices) + '</tr>')
  for key in _metric_keys(metrics):
    rows.append(f'<tr><td>{html.escape(key)}</td>' + ''.join(
        _cell(metrics[key].get(s), _lookup(metrics.get('ci95'), key, s),
              events.get(s), users.get(s), _lookup(baseline, key, s),
              has_base, _lookup(deltas.get('baseline'), key, s))
        for s in slices) + '</tr>')
    if popularity is not None:
      rows.append(f'<tr class="reference"><td>{html.escape(key)} popularity'
                  '</td>' + ''.join(
                      _cell(_lookup(popularity, key, s),
                            _lookup(popularity.get('ci95'), key, s),
                            events.get(s), users.get(s)) for s in slices)
                  + '</tr>')
      rows.append(f'<tr class="reference"><td>{html.escape(key)} candidate '
                  '&minus; popularity</td>' + ''.join(
                      _delta_only(_lookup(deltas.get('popularity'), key, s),
                                  events.get(s)) for s in slices) + '</tr>')
  notes = ['Cells: value [95% interval, bootstrap over users].']
  notes.append('Candidate (baseline = last blessed model) paired difference '
               '[95% interval]; green / red only when the interval excludes 0.'
               if has_base else
               'No baseline: this is the first evaluated model or no model '
               'was blessed before.')
  notes.append(f'Grey cells have fewer than {MIN_EVENTS} eval events: too '
               'few to judge.')
  return (f'<table><tr><th>metric</th>{head}</tr>{"".join(rows)}</table>'
          + ''.join(f'<p class="muted">{n}</p>' for n in notes))


def _delta_only(cell: Optional[dict], n_events: Optional[int]) -> str:
  few = n_events is not None and n_events < MIN_EVENTS
  cls = ' class="few"' if few else ''
  if not cell:
    return f'<td{cls}>&ndash;</td>'
  return (f'<td{cls}>'
          f'{_delta(cell.get("delta"), cell.get("ci95"), few).strip()}</td>')


def _decile_metric(metrics: dict) -> Tuple[Optional[str], str]:
  """('recall@K_by_decile' or None, 'recall@K') of a metrics.json dict."""
  key = evaluator_outputs.decile_key(metrics)
  if key is None:
    return None, f'recall@{evaluator_outputs.blessing_k(metrics)}'
  return key, key[:-len(evaluator_outputs.DECILE_SUFFIX)]


def _title(metric: str) -> str:
  return metric.replace('recall', 'Recall', 1)


def plot_deciles(metrics: dict, path: str) -> float:
  """Grouped bars: Recall@K per popularity decile (+ cold), with the 95%
  intervals, vs the baseline and popularity; the y axis fits the data.
  Returns the top of the y axis."""
  decile_key, recall = _decile_metric(metrics)
  labels = [f'D{d + 1}' for d in range(len(metrics.get(decile_key, [])))]
  labels.append('cold')
  series = [('candidate', metrics)]
  if metrics.get('baseline'):
    series.append(('baseline', metrics['baseline']))
  if metrics.get('popularity'):
    series.append(('popularity', metrics['popularity']))
  fig, ax = plt.subplots(figsize=(8, 3.6), dpi=100)
  width = 0.8 / len(series)
  top = 0.0
  for i, (name, m) in enumerate(series):
    values = list(m.get(decile_key, [])) + [
        (m.get(recall) or {}).get('cold')]
    ci = m.get('ci95') or {}
    intervals = list(ci.get(decile_key) or [None] * (len(values) - 1)) + [
        (ci.get(recall) or {}).get('cold')]
    xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(labels))]
    shown = [(x, v, c) for x, v, c in zip(xs, values, intervals)
             if v is not None]
    errors = [[v - c[0] if c else 0 for _, v, c in shown],
              [c[1] - v if c else 0 for _, v, c in shown]]
    ax.bar([x for x, _, _ in shown], [v for _, v, _ in shown], width,
           label=name, yerr=errors if any(c for _, _, c in shown) else None,
           capsize=2, error_kw={'elinewidth': 0.8})
    top = max([top] + [c[1] if c else v for _, v, c in shown])
    for x, v in zip(xs, values):
      if v is None:  # no eval event in this group
        ax.text(x, 0, 'n/a', ha='center', va='bottom', fontsize=7,
                rotation=90)
  ax.set_xticks(range(len(labels)))
  ax.set_xticklabels(labels)
  ax.set_xlabel('item popularity decile in training (D1 = most popular 10%)')
  ax.set_ylabel(_title(recall))
  top = min(1.0, top * 1.15) if top > 0 else 0.05
  ax.set_ylim(0, top)
  ax.legend()
  ax.grid(axis='y', alpha=0.3)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return top


def _is_validation(series: str) -> bool:
  return any(w in series for w in _VALIDATION_WORDS)


def loss_lines(curves: run_records.Curves
               ) -> Dict[str, List[Tuple[str, List[int], List[float]]]]:
  """{loss tag: [(series, epochs numbered from 1, values)]}, the lines of the
  loss chart (TensorBoard steps count epochs from 0)."""
  lines = {}
  for tag in run_records.LOSS_TAGS:
    for series, by_tag in sorted(curves.items()):
      points = by_tag.get(tag)
      if points:
        lines.setdefault(tag, []).append(
            (series, [p[0] + 1 for p in points], [p[1] for p in points]))
  return lines


def plot_losses(curves: run_records.Curves, path: str) -> bool:
  """One panel per loss tag, one line per series, epochs numbered from 1;
  False if nothing to plot."""
  lines = loss_lines(curves)
  if not lines:
    return False
  fig, axes = plt.subplots(1, len(lines), figsize=(4 * len(lines), 3.2),
                           dpi=100, squeeze=False)
  for ax, (tag, tag_lines) in zip(axes[0], lines.items()):
    for series, epochs, values in tag_lines:
      ax.plot(epochs, values, marker='o',
              linestyle='--' if _is_validation(series) else '-',
              label=series or 'run')
    ax.set_title(tag)
    ax.set_xlabel('epoch')
    ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return True


def overfitting_warnings(curves: run_records.Curves) -> List[str]:
  """One sentence per (validation series, loss) whose value rose from an
  epoch to the next while the matching training loss fell (epochs from 1).

  The training series of `a/validation` is `a/train` (or any series of the
  same folder that is not a validation one).
  """
  out = []
  for series, by_tag in sorted(curves.items()):
    if not _is_validation(series):
      continue
    folder = os.path.dirname(series)
    train = next((s for s in sorted(curves) if not _is_validation(s)
                  and os.path.dirname(s) == folder), None)
    if train is None:
      continue
    for tag in run_records.LOSS_TAGS:
      val = dict(by_tag.get(tag, []))
      fit = dict(curves[train].get(tag, []))
      epochs = [e for e in sorted(val) if e - 1 in val and e in fit
                and e - 1 in fit and val[e] > val[e - 1]
                and fit[e] < fit[e - 1]]
      if epochs:
        numbers = ', '.join(str(e + 1) for e in epochs)
        out.append(f'{series} {tag} rose while {train} {tag} fell at epoch'
                   f'{"s" if len(epochs) > 1 else ""} {numbers} (of '
                   f'{max(val) + 1}): the model may be over-fitting; fewer '
                   'epochs or more regularization may do better.')
  return out


def config_table(config: Optional[dict], baseline: Optional[dict]) -> str:
  """The run's training config beside the baseline model's; changes marked."""
  if not config:
    return ('<p class="muted">No training config recorded for this run.</p>')
  keys = sorted(set(config) | set(baseline or {}))
  changed = [k for k in keys if baseline is not None
             and config.get(k) != baseline.get(k)]
  rows = []
  for k in keys:
    cls = ' class="changed"' if k in changed else ''
    cells = f'<td>{html.escape(json.dumps(config.get(k)))}</td>'
    if baseline is not None:
      cells += f'<td>{html.escape(json.dumps(baseline.get(k)))}</td>'
    rows.append(f'<tr{cls}><td>{html.escape(k)}</td>{cells}</tr>')
  head = '<th>this run</th>' + ('<th>baseline</th>' if baseline is not None
                                else '')
  if baseline is None:
    note = 'No baseline model: nothing to compare with.'
  elif changed:
    note = ('Differences from the baseline model&#39;s config: '
            + ', '.join(html.escape(k) for k in changed) + '.')
  else:
    note = 'Same training config as the baseline model.'
  return (f'<p>{note}</p><table><tr><th>setting</th>{head}</tr>'
          f'{"".join(rows)}</table>')


def timings_table(timings: Sequence[run_records.Timing]) -> str:
  if not timings:
    return ''
  rows = ''.join(
      f'<tr><td>{html.escape(t.node_id)}</td><td>{html.escape(t.state)}</td>'
      f'<td>{"&ndash;" if t.seconds is None else f"{t.seconds:.1f}"}</td></tr>'
      for t in timings)
  total = sum(t.seconds or 0 for t in timings)
  return (f'<table><tr><th>component</th><th>state</th><th>seconds</th></tr>'
          f'{rows}<tr><td>sum</td><td></td><td>{total:.1f}</td></tr></table>')


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
    settings = m.get(evaluator_outputs.SETTINGS_KEY) or {}
    excluded = {'serving': ' minus the items the index leaves out (the '
                           "event's history and the user's training items)",
                'none': ''}.get(settings.get(
                    evaluator_outputs.EXCLUSION_SETTING), '')
    blessing = f'recall@{evaluator_outputs.blessing_k(m)}'
    overall = (m.get(blessing) or {}).get('overall')
    parts.append(f'<h2>Retrieval metrics</h2><p>{m.get("num_eval_events")} '
                 f'eval events ranked over the whole item corpus{excluded}. '
                 f'The blessing reads {_title(blessing)}: overall '
                 f'{_fmt(overall)}.</p>')
    parts.append(metrics_table(m))
    title = _title(_decile_metric(m)[1])
    parts.append(f'<h2>{title} by popularity decile</h2>'
                 f'<img src="{DECILES_PNG}" alt="{title} by decile">')
  else:
    parts.append('<p class="muted">No evaluation recorded for this run.</p>')
  if has_losses:
    parts.append(f'<h2>Training losses</h2><img src="{LOSSES_PNG}" '
                 'alt="training losses">')
    parts.extend(f'<p class="warning">{html.escape(w)}</p>'
                 for w in overfitting_warnings(record.curves))
  elif record.model_run_uri:
    parts.append('<p class="muted">No loss scalars found under '
                 f'<code>{html.escape(record.model_run_uri)}</code>.</p>')
  parts.append('<h2>Training config</h2>')
  parts.append(config_table(record.training_config,
                            record.baseline_training_config))
  if record.timings:
    parts.append('<h2>Run timings</h2>' + timings_table(record.timings))
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
             dest: Optional[str] = None, metadata=None) -> str:
  """Renders the report of a run (default: the latest) from MLMD.

  `metadata`: an MLMD ConnectionConfig (default <output_dir>/metadata.sqlite).
  """
  ins = inspection.inspector(metadata if metadata is not None else
                             os.path.join(output_dir, METADATA_FILE))
  record = run_records.read_run(ins, run_id)
  return render(record, dest or os.path.join(output_dir, REPORT_DIR))

"""Why the rare-item fallback (`min_item_count`) zeroed cold recall: item scores by group.

Trains `ssl=none` with `min_item_count` on and off, each with logQ on and off,
and the shipped SSL default (cfm) with and without it (RUNS), on a validation
folder of bench/quality.py (never the eval split), and for every corpus item records its train count, whether it falls back to the default id
embedding, and its mean score and mean rank over the validation queries (the
user's train items excluded, as in the evaluator). The question: do the
fallback items (rare and cold) all sit at the bottom of every ranking?

  python bench/quality_fallback.py run   --work DIR [--data full_valid] [--seeds 0 1] [--runs LABEL ...]
  python bench/quality_fallback.py table --work DIR [--data full_valid] [--chart docs/fallback_scores.png]

One JSON line per training in <work>/fallback.jsonl (resumable). `table` also
prints Recall@50 overall / tail / cold / fallback items with the paired
difference against the same run without the fallback.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
from bench import quality
from bench import quality_diag
from models.config import TrainingConfig
# pylint: enable=g-import-not-at-top,wrong-import-position

MIN_ITEM_COUNT = 5
# (label, overrides of the defaults): fallback x logQ with ssl=none, and the
# shipped SSL default (cfm) with and without the fallback; with logQ, the
# fallback items' probability is their own (`fallback_logq: item`, the
# default) or their group's total (`group`; models/logq.py). The run of the
# code before `fallback_logq` existed is in the log under its own label.
RUNS = (
    ('fallback, logQ (group p)', {'ssl': 'none',
                                  'min_item_count': MIN_ITEM_COUNT,
                                  'fallback_logq': 'group'}),
    ('fallback, logQ (per-item p)', {'ssl': 'none',
                                     'min_item_count': MIN_ITEM_COUNT}),
    ('no fallback, logQ', {'ssl': 'none'}),
    ('fallback, no logQ', {'ssl': 'none', 'min_item_count': MIN_ITEM_COUNT,
                           'logq_correction': False}),
    ('no fallback, no logQ', {'ssl': 'none', 'logq_correction': False}),
    ('cfm, fallback, logQ (group p)', {'min_item_count': MIN_ITEM_COUNT,
                                       'fallback_logq': 'group'}),
    ('cfm, fallback, logQ (per-item p)', {'min_item_count': MIN_ITEM_COUNT}),
    ('cfm, no fallback, logQ', {}),
)
TRAINING_KEYS = frozenset(TrainingConfig().to_dict())
# Options that act only with the fallback: reset with it (reference_label).
FALLBACK_ONLY = ('min_item_count', 'fallback_logq')
K = 50


def item_groups(counts: np.ndarray, min_item_count: int) -> Dict[str, np.ndarray]:
  """Masks over corpus items: cold (no train event), rare (1 .. min-1),
  seen (>= min)."""
  counts = np.asarray(counts)
  return {'cold': counts == 0,
          'rare': (counts > 0) & (counts < min_item_count),
          'seen': counts >= min_item_count}


def mean_rank_percentile(scores: np.ndarray, excluded: np.ndarray
                         ) -> np.ndarray:
  """Per item: its mean rank among the non-excluded items over the queries,
  as a fraction (0 = always first, 1 = always last).

  Args:
    scores: float [num_queries, num_items].
    excluded: bool [num_queries, num_items] items removed from that ranking.
  """
  scores = np.where(excluded, -np.inf, scores)
  order = np.argsort(-scores, axis=1, kind='stable')
  ranks = np.empty_like(order)
  np.put_along_axis(ranks, order, np.arange(scores.shape[1])[None, :], axis=1)
  kept = (~excluded).sum(axis=1, keepdims=True)
  frac = ranks / np.maximum(kept - 1, 1)
  frac = np.where(excluded, np.nan, frac)
  return np.nanmean(frac, axis=0)


def train_and_score(session: 'quality.Session', config: TrainingConfig
                    ) -> Dict[str, Any]:
  """Trains, exports and scores every validation query against every item."""
  from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
  corpus = session.eval_corpus
  with session.trained_towers(config, 'sslrec_fallback_') as trained:
    queries = evaluation.embed_eval_queries(
        trained.query_tower, session.prepared.interactions_examples,
        corpus, 1024)
    items = quality_diag._item_embeddings(  # pylint: disable=protected-access
        trained.item_tower, corpus)
  train_seconds = trained.train_seconds
  scores = queries.embeddings @ items.T  # [num_queries, num_items]
  excluded = np.zeros(scores.shape, bool)
  for row, (user, target) in enumerate(zip(queries.users, queries.targets)):
    seen = corpus.seen_by_user.get(user)
    if seen is not None and len(seen):
      excluded[row, seen[seen != target]] = True
  ranks = quality_diag.rank_events(queries.embeddings, items, queries.targets,
                                   queries.users, corpus)
  return {'train_seconds': train_seconds,
          'train_counts': corpus.train_counts.tolist(),
          'mean_score': scores.mean(axis=0).tolist(),
          'mean_rank_percentile': mean_rank_percentile(scores,
                                                       excluded).tolist(),
          'ranks': ranks.tolist(), 'targets': queries.targets.tolist(),
          'users': list(queries.users)}


def run(work: str, data: str, seeds: Sequence[int] = (0,),
        labels: Optional[Sequence[str]] = None,
        runs: Sequence = RUNS) -> None:
  """Trains the `runs` (only those of `labels` when given) for each seed."""
  log_path = os.path.join(work, 'fallback.jsonl')
  done = {(r['data'], r['label'], r['seed']) for r in quality.read_log(log_path)}
  known = [label for label, _ in runs]
  unknown = sorted(set(labels or ()) - set(known))
  if unknown:
    raise ValueError(f'unknown run label(s) {unknown}: one of {known}')
  session = None
  for seed, (label, overrides) in [(s, r) for s in seeds for r in runs]:
    if (data, label, seed) in done or (labels and label not in labels):
      continue
    if session is None:
      session = quality.Session(quality.load_prepared(work, data))
    config = TrainingConfig().replace(**dict(overrides, seed=seed))
    record = {'data': data, 'label': label, 'seed': seed,
              'config': config.to_dict(), 'code_version': session.code_version}
    record.update(train_and_score(session, config))
    with open(log_path, 'a') as f:
      f.write(json.dumps(record) + '\n')
    quality._log(f'{data} {label}: {summary_row(record)}')  # pylint: disable=protected-access


def summary_row(record: Mapping[str, Any]) -> Dict[str, Optional[float]]:
  """Mean score / mean rank percentile of each item group, and Recall@K of
  the events of each group."""
  counts = np.asarray(record['train_counts'])
  groups = item_groups(counts, MIN_ITEM_COUNT)
  score = np.asarray(record['mean_score'])
  pct = np.asarray(record['mean_rank_percentile'])
  ranks, targets = np.asarray(record['ranks']), np.asarray(record['targets'])
  hit = (ranks >= 1) & (ranks <= K)
  out: Dict[str, Optional[float]] = {}
  for name, mask in groups.items():
    out[f'{name} items'] = float(mask.sum())
    out[f'{name} mean score'] = float(score[mask].mean()) if mask.any() else None
    out[f'{name} mean rank %'] = (float(np.nanmean(pct[mask])) * 100
                                  if mask.any() else None)
    events = mask[targets]
    out[f'{name} events'] = float(events.sum())
    out[f'{name} recall@{K}'] = float(hit[events].mean()) if events.any() else None
  return out


def reference_label(records: Sequence[Mapping[str, Any]], label: str
                    ) -> Optional[str]:
  """The label of the run trained like `label` but without the fallback
  (its config with min_item_count 0), or None (none, or `label` is it)."""
  def plain(config):  # without the seed and the fallback-only options
    config = TrainingConfig.from_dict(
        {k: v for k, v in config.items() if k in TRAINING_KEYS}).to_dict()
    defaults = TrainingConfig().to_dict()
    config.update({k: defaults[k] for k in FALLBACK_ONLY + ('seed',)})
    return config

  config = next(r['config'] for r in records if r['label'] == label)
  if not config.get('min_item_count'):
    return None
  want = plain(config)
  for r in records:
    if not r['config'].get('min_item_count') and plain(r['config']) == want:
      return r['label']
  return None


def event_slices(record: Mapping[str, Any], item_slice: np.ndarray
                 ) -> Dict[str, np.ndarray]:
  """Event masks: overall, the evaluator's tail and cold (item_slice: its
  head / tail / cold of every corpus item), and `fallback` (targets with
  fewer than MIN_ITEM_COUNT train events)."""
  targets = np.asarray(record['targets'])
  counts = np.asarray(record['train_counts'])
  return {'overall': np.ones(len(targets), bool),
          'tail': item_slice[targets] == 'tail',
          'cold': item_slice[targets] == 'cold',
          'fallback': counts[targets] < MIN_ITEM_COUNT}


RECALL_SLICES = ('overall', 'tail', 'cold', 'fallback')


def recall_table(work: str, data: str, num_boot: int = 1000) -> str:
  """Recall@K by slice (mean over seeds) and the paired difference against
  the same run without the fallback (95% bootstrap over users, seeds averaged
  per event), with the fallback items' mean rank %."""
  from components.retrieval_evaluator import bootstrap  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
  records = [r for r in quality.read_log(os.path.join(work, 'fallback.jsonl'))
             if r['data'] == data]
  prepared = quality.load_prepared(work, data)
  corpus = evaluation.load_corpus(prepared.items_examples,
                                  prepared.interactions_examples)
  users = next(r['users'] for r in records if 'users' in r)
  by_label: Dict[str, List[Mapping[str, Any]]] = {}
  for r in records:
    if r['targets'] != records[0]['targets']:
      raise ValueError(f'{data} {r["label"]}: other eval events than '
                       f'{records[0]["label"]}')
    by_label.setdefault(r['label'], []).append(r)
  masks = event_slices(records[0], corpus.popularity.slice_of_item)
  seed_hits = {n: {r['seed']: quality_diag.hits(r) for r in rs}
               for n, rs in by_label.items()}

  def mean_hits(label, seeds):
    return np.mean([seed_hits[label][seed] for seed in seeds], axis=0)

  lines = [f'Recall@{K} on `{data}` ({len(users)} validation events; mean over '
           'seeds, overall ± its sample std over seeds; Δ = against the same '
           'run without the fallback on the seeds both have, paired bootstrap '
           'over users, 95%, seeds averaged per event; fallback = '
           f'targets with < {MIN_ITEM_COUNT} train events; rank % of the '
           'cold / rare items: 0 = top, 100 = bottom)', '',
           '| run | seeds | ' + ' | '.join(
               f'{s} ({int(masks[s].sum())})' for s in RECALL_SLICES) + ' | ' +
           ' | '.join(f'Δ {s}' for s in RECALL_SLICES) +
           ' | cold rank % | rare rank % |',
           '|' + '---|' * (2 + 2 * len(RECALL_SLICES) + 2)]
  for n, rs in by_label.items():
    seeds = sorted(seed_hits[n])
    h = mean_hits(n, seeds)
    cells = [f'{h[masks[s]].mean():.4f}' if masks[s].any() else '-'
             for s in RECALL_SLICES]
    if len(seeds) > 1:
      cells[0] += ' ± {:.4f}'.format(np.std(
          [seed_hits[n][seed].mean() for seed in seeds], ddof=1))
    ref = reference_label(records, n)
    common = sorted(set(seeds) & set(seed_hits.get(ref, {})))
    for s in RECALL_SLICES:
      if not common or not masks[s].any():
        cells.append('-')
        continue
      delta, (low, high) = bootstrap.paired_event_delta(
          mean_hits(n, common)[masks[s]], mean_hits(ref, common)[masks[s]],
          np.asarray(users)[masks[s]], bootstrap.Settings(samples=num_boot))
      cells.append(f'{delta:+.4f} [{low:+.4f}, {high:+.4f}]')
    rows = [summary_row(r) for r in rs]
    for g in ('cold', 'rare'):
      values = [row[f'{g} mean rank %'] for row in rows
                if row[f'{g} mean rank %'] is not None]
      cells.append(f'{np.mean(values):.1f}' if values else '-')
    lines.append(f'| {n} | {",".join(map(str, seeds))} | ' + ' | '.join(cells)
                 + ' |')
  return '\n'.join(lines)


def table(work: str, data: str, chart: Optional[str] = None) -> str:
  records = [r for r in quality.read_log(os.path.join(work, 'fallback.jsonl'))
             if r['data'] == data]
  if not records:
    raise ValueError(f'no {data} results in {work}/fallback.jsonl: run first')
  rows = [(f"{r['label']}, seed {r['seed']}", summary_row(r)) for r in records]
  names = ('cold', 'rare', 'seen')
  first = rows[0][1]
  lines = [f'Items by train events on `{data}` (cold {first["cold items"]:.0f}, '
           f'rare 1-{MIN_ITEM_COUNT - 1} {first["rare items"]:.0f}, seen '
           f'>= {MIN_ITEM_COUNT} {first["seen items"]:.0f} items); mean rank % = the item\'s mean position in the rankings of '
           'the validation queries (0 = top, 100 = bottom)', '',
           '| run | ' + ' | '.join(f'{n} mean score | {n} mean rank %'
                                   for n in names) +
           ' | ' + ' | '.join(f'{n} recall@{K} (events)' for n in names) + ' |',
           '|---|' + '---|' * (3 * len(names))]
  fmt = lambda v, p='.3f': '–' if v is None else format(v, p)
  for label, row in rows:
    lines.append(f'| {label} | ' + ' | '.join(
        f'{fmt(row[f"{n} mean score"])} | {fmt(row[f"{n} mean rank %"], ".1f")}'
        for n in names) + ' | ' + ' | '.join(
            f'{fmt(row[f"{n} recall@{K}"])} ({row[f"{n} events"]:.0f})'
            for n in names) + ' |')
  text = '\n'.join(lines) + '\n\n' + recall_table(work, data)
  print(text)
  if chart:
    plot(records, chart)
  return text


def plot(records: Sequence[Mapping[str, Any]], path: str) -> None:
  """Mean rank percentile of every item against its train count, per run
  (its lowest seed)."""
  firsts: Dict[str, Mapping[str, Any]] = {}
  for r in sorted(records, key=lambda r: r['seed']):
    firsts.setdefault(r['label'], r)
  records = list(firsts.values())
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  cols = min(3, len(records))
  rows = -(-len(records) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows),
                           sharey=True, squeeze=False)
  for ax in axes.flat[len(records):]:
    ax.set_visible(False)
  for ax, r in zip(axes.flat, records):
    counts = np.asarray(r['train_counts'])
    pct = np.asarray(r['mean_rank_percentile']) * 100
    groups = item_groups(counts, MIN_ITEM_COUNT)
    for name, color in (('seen', 'tab:blue'), ('rare', 'tab:orange'),
                        ('cold', 'tab:red')):
      m = groups[name]
      ax.scatter(counts[m] + 1, pct[m], s=4, c=color, label=name)
    ax.set_xscale('log')
    ax.set_title(f"{r['label']}, seed {r['seed']}", fontsize=8)
    ax.set_xlabel('train events + 1')
  for row in axes:
    row[0].set_ylabel('mean rank % (100 = bottom)')
  axes[0][0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=80)
  plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('step', choices=('run', 'table'))
  parser.add_argument('--work', default=quality.DEFAULT_WORK)
  parser.add_argument('--data', default='full_valid')
  parser.add_argument('--chart', default=None)
  parser.add_argument('--seeds', nargs='+', type=int, default=[0])
  parser.add_argument('--runs', nargs='+', default=None,
                      help='labels of RUNS to train (default: all)')
  args = parser.parse_args(argv)
  if args.step == 'run':
    run(args.work, args.data, args.seeds, args.runs)
  else:
    table(args.work, args.data, args.chart)
  return 0


if __name__ == '__main__':
  sys.exit(main())

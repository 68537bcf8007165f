"""Diagnosis of the retrieval quality: one change at a time against the popularity list.

Reuses bench/quality.py's prepared folders (`bench/quality.py prepare`, or
`bench/quality_prep.py` on a folder) and its in-process training
(`models.model.train` + `models.export`), and scores the exported towers with
the evaluator's own pieces (`components.retrieval_evaluator`), keeping every
eval event's rank so that the slices the evaluator does not report
(returning users: users with train events; per-user bootstrap) can be computed
here. The most-popular list (train frequency, the user's train items excluded,
ties by corpus order) is ranked by the same code on the same events.

  python bench/quality_diag.py run --work DIR --data full_valid \
      --exp base logq t0.05 ... [--seeds 0 1]
  python bench/quality_diag.py table --work DIR --data full_valid [--vs base]

Results: one JSON line per training in <work>/diag.jsonl (with the ranks), a
finished (data, experiment, seed, config) is not trained again.
Paired differences: the evaluator's bootstrap over users
(components/retrieval_evaluator/bootstrap.paired_event_delta).
"""
import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np

from bench import quality
from models.config import TrainingConfig
# pylint: enable=g-import-not-at-top,wrong-import-position

K = 50
POPULAR = 'popular'
# Slices of the paired difference against the `--vs` run.
VS_SLICES = ('overall', 'tail', 'cold', 'returning')
# The reference point of the diagnosis: the shipped defaults of main.
BASE: Dict[str, Any] = {}
# Named experiments: overrides of TrainingConfig (one change at a time from
# `base`, unless the name says otherwise).
EXPERIMENTS: Dict[str, Dict[str, Any]] = {
    'base': {},
    'none': {'ssl': 'none'},
    'logq': {'logq_correction': True},
    'none+logq': {'ssl': 'none', 'logq_correction': True},
    't0.05': {'temperature': 0.05},
    't0.1': {'temperature': 0.1},
    't0.5': {'temperature': 0.5},
    't1.0': {'temperature': 1.0},
    'bs1024': {'batch_size': 1024},
    'bs64': {'batch_size': 64},
    'ep20': {'epochs': 20},
    'ep5': {'epochs': 5},
    'adam': {'optimizer': 'adam', 'learning_rate': 0.001},
    'adam.01': {'optimizer': 'adam', 'learning_rate': 0.01},
    'paper': {'batch_size': 1024, 'temperature': 0.07, 'optimizer': 'adagrad',
              'learning_rate': 0.01, 'tower_layers': [1024, 64]},
    'no_uid': {'query_id_embedding': False},
    'hist_shared': {'history_embedding': 'item_id'},
    'hist10': {'history_max_length': 10},
    'mns256': {'mixed_negatives': 256},
    'mns1024': {'mixed_negatives': 1024},
    'idmask': {'ssl_item_id': 'masked'},
    'fb5': {'min_item_count': 5},
    'fb10': {'min_item_count': 10},
    'dr0.5': {'dropout_rate': 0.5},
    'sslt0.2': {'ssl_temperature': 0.2},
    'w0.3': {'ssl_weight': 0.3},
    'w1': {'ssl_weight': 1.0},
    'rfm': {'ssl': 'rfm'},
    # The defaults shipped before issue 14 (relative to the current defaults).
    'old_default': {'logq_correction': False, 'history_embedding': 'table',
                    'ssl': 'cfm', 'ssl_item_id': 'feature',
                    'min_item_count': 0},
}


def _log(message: str) -> None:
  print(time.strftime('%H:%M:%S'), message, flush=True)


def parse_experiment(name: str) -> Dict[str, Any]:
  """A name of EXPERIMENTS, or several joined by '+' (applied in order)."""
  if name in EXPERIMENTS:
    return dict(EXPERIMENTS[name])
  out: Dict[str, Any] = {}
  for part in name.split('+'):
    if part not in EXPERIMENTS:
      raise ValueError(f'unknown experiment {part!r} in {name!r}; known: '
                       f'{sorted(EXPERIMENTS)}')
    out.update(EXPERIMENTS[part])
  return out


def returning_mask(users: Sequence[str], seen: Mapping[str, Any]) -> np.ndarray:
  """True for the events whose user has train events (a returning user)."""
  return np.array([u in seen and len(seen[u]) > 0 for u in users], bool)


def slice_masks(targets: np.ndarray, users: Sequence[str], corpus
                ) -> Dict[str, np.ndarray]:
  """Event masks of the reported slices: overall, head, tail, cold, returning
  (all items) and returning users' head / tail events."""
  item_slice = corpus.popularity.slice_of_item[targets]
  returning = returning_mask(users, corpus.seen_by_user)
  masks = {'overall': np.ones(len(targets), bool)}
  for s in ('head', 'tail', 'cold'):
    masks[s] = item_slice == s
  masks['returning'] = returning
  masks['ret_head'] = returning & (item_slice == 'head')
  masks['ret_tail'] = returning & (item_slice == 'tail')
  return masks


def popularity_scores(examples_uri: str, corpus) -> np.ndarray:
  """Item 'embeddings' [num_items, 1] whose dot with a query of 1 is the item's
  train count: ranking by them is the most-popular list (ties by corpus order)."""
  from components import tower_io  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  counts = np.zeros(len(corpus.item_ids), np.float32)
  for batch in tower_io.read_split(examples_uri, 'train',
                                   {'item_id': tf.string}, 65536):
    for item in batch['item_id']:
      index = corpus.index_of.get(item.decode('utf-8'))
      if index is not None:
        counts[index] += 1
  return counts[:, None]


def rank_events(query_embeddings: np.ndarray, item_embeddings: np.ndarray,
                targets: np.ndarray, users: Sequence[str], corpus,
                depth: int = 100) -> np.ndarray:
  """Ranks of the targets, the user's train items excluded (evaluator's code)."""
  from components.retrieval_evaluator import metrics  # pylint: disable=g-import-not-at-top
  exclusions = metrics.Exclusions.from_seen(users, corpus.seen_by_user, targets)
  return metrics.rank_targets(query_embeddings, [item_embeddings], targets,
                              depth=depth, exclusions=exclusions)


def _item_embeddings(tower, corpus) -> np.ndarray:
  from components import tower_io  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  columns = dict(tower.columns, item_id=tf.string)
  out, ids = [], []
  for batch in tower_io.read_split(corpus.items_uri, 'corpus', columns, 4096):
    ids += [i.decode('utf-8') for i in batch['item_id']]
    out.append(tower.embed(batch))
  if ids != list(corpus.item_ids):
    raise RuntimeError(f'{corpus.items_uri}: corpus order changed')
  return np.concatenate(out)


def train_and_rank(session: 'quality.Session', config: TrainingConfig
                   ) -> Dict[str, Any]:
  """Trains like the Trainer, exports, returns the ranks of every eval event."""
  from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
  with session.trained_towers(config, 'sslrec_diag_') as trained:
    ssl_loss = quality.final_ssl_loss(trained.model)
    queries = evaluation.embed_eval_queries(
        trained.query_tower, session.prepared.interactions_examples,
        session.eval_corpus, 1024)
    ranks = rank_events(queries.embeddings,
                        _item_embeddings(trained.item_tower, session.eval_corpus),
                        queries.targets, queries.users, session.eval_corpus)
  return {'ranks': ranks.tolist(), 'targets': queries.targets.tolist(),
          'users': queries.users, 'train_seconds': trained.train_seconds,
          'ssl_loss': ssl_loss}


def popular_ranks(session: 'quality.Session') -> Dict[str, Any]:
  """The most-popular list's ranks on the same eval events."""
  from components import tower_io  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  corpus = session.eval_corpus
  targets, users = [], []
  for batch in tower_io.read_split(session.prepared.interactions_examples,
                                   'eval', {'user_id': tf.string,
                                            'item_id': tf.string}, 4096):
    targets += [corpus.index_of[i.decode('utf-8')] for i in batch['item_id']]
    users += [u.decode('utf-8') for u in batch['user_id']]
  targets = np.array(targets, np.int64)
  ranks = rank_events(np.ones([len(targets), 1], np.float32),
                      popularity_scores(session.prepared.interactions_examples, corpus),
                      targets, users, corpus)
  return {'ranks': ranks.tolist(), 'targets': targets.tolist(), 'users': users,
          'train_seconds': 0.0, 'ssl_loss': None}


def _key(r: Mapping[str, Any]):
  return (r['data'], r['exp'], r['seed'], json.dumps(r['config'], sort_keys=True))


def run(work: str, data: str, names: Sequence[str], seeds: Sequence[int],
        base: Mapping[str, Any]) -> None:
  log_path = os.path.join(work, 'diag.jsonl')
  session = None
  for seed in seeds:
    for name in [POPULAR] + list(names):
      if name == POPULAR:
        config = {}
      else:
        config = TrainingConfig().replace(**dict(
            base, **parse_experiment(name), seed=seed)).to_dict()
      label = name if name == POPULAR or not base else (
          f'{name} @{json.dumps(dict(base), sort_keys=True)}')
      record = {'data': data, 'exp': label,
                'seed': 0 if name == POPULAR else seed, 'config': config}
      done = quality.read_log(log_path)
      if _key(record) in {_key(r) for r in done}:
        continue
      same = [r for r in done if (r['data'], r['seed'], r['config']) == (
          data, record['seed'], config)]
      if same:  # trained under another label: copy it, no training
        with open(log_path, 'a') as f:
          f.write(json.dumps(dict(same[0], exp=label)) + '\n')
        continue
      if session is None:
        session = quality.Session(quality.load_prepared(work, data))
      record['code_version'] = session.code_version
      if name == POPULAR:
        record.update(popular_ranks(session))
      else:
        record.update(train_and_rank(session, TrainingConfig.from_dict(config)))
      with open(log_path, 'a') as f:
        f.write(json.dumps(record) + '\n')
      row = summarize_one(record, session.eval_corpus)
      _log(f'{data} {label} seed {record["seed"]}: ' + ' '.join(
          f'{s} {v:.4f}' for s, v in row.items() if v is not None) +
           f' ssl_loss {record["ssl_loss"]} ({record["train_seconds"]:.0f}s)')


def hits(record: Mapping[str, Any]) -> np.ndarray:
  ranks = np.asarray(record['ranks'])
  return ((ranks >= 1) & (ranks <= K)).astype(np.float64)


def summarize_one(record: Mapping[str, Any], corpus) -> Dict[str, Optional[float]]:
  h = hits(record)
  masks = slice_masks(np.asarray(record['targets']), record['users'], corpus)
  return {s: (float(h[m].mean()) if m.any() else None) for s, m in masks.items()}


def table(work: str, data: str, vs: str, names: Optional[Sequence[str]] = None,
          num_boot: int = 1000) -> str:
  """Mean over seeds of Recall@50 per slice, and the paired bootstrap
  difference (95% interval over users, seeds averaged per event) against `vs`
  and against the popularity list."""
  from components.retrieval_evaluator import bootstrap  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import evaluation  # pylint: disable=g-import-not-at-top
  records = [r for r in quality.read_log(os.path.join(work, 'diag.jsonl'))
             if r['data'] == data]
  prepared = quality.load_prepared(work, data)
  corpus = evaluation.load_corpus(prepared.items_examples,
                                  prepared.interactions_examples)
  by_exp: Dict[str, List[Mapping[str, Any]]] = {}
  for r in records:
    by_exp.setdefault(r['exp'], []).append(r)
  order = [POPULAR] + [n for n in (names or sorted(by_exp)) if n != POPULAR]
  first = by_exp[POPULAR][0]
  users = first['users']
  masks = slice_masks(np.asarray(first['targets']), users, corpus)
  mean_hits = {n: np.mean([hits(r) for r in by_exp[n]], axis=0)
               for n in order if n in by_exp}
  slices = ('overall', 'head', 'tail', 'cold', 'returning', 'ret_head',
            'ret_tail')
  counts = {s: int(m.sum()) for s, m in masks.items()}
  lines = [f'Recall@{K} on `{data}` ({len(users)} events; mean over seeds; '
           f'Δ = paired bootstrap over users, 95% interval, seeds averaged)', '',
           '| run | seeds | ' + ' | '.join(f'{s} ({counts[s]})' for s in slices)
           + ' | Δ overall vs popular | Δ returning vs popular | ' +
           ' | '.join(f'Δ {s} vs {vs}' for s in VS_SLICES) + ' | ssl loss |',
           '|' + '---|' * (len(slices) + 5 + len(VS_SLICES))]
  for n in order:
    if n not in mean_hits:
      continue
    h = mean_hits[n]
    cells = [f'{h[masks[s]].mean():.4f}' if masks[s].any() else '-'
             for s in slices]
    diffs = []
    for other, mask in ([(POPULAR, masks['overall']),
                         (POPULAR, masks['returning'])] +
                        [(vs, masks[s]) for s in VS_SLICES]):
      if n == other or other not in mean_hits or not mask.any():
        diffs.append('-')
        continue
      delta, (low, high) = bootstrap.paired_event_delta(
          h[mask], mean_hits[other][mask], np.asarray(users)[mask],
          bootstrap.Settings(samples=num_boot))
      diffs.append(f'{delta:+.4f} [{low:+.4f}, {high:+.4f}]')
    ssl = [r['ssl_loss'] for r in by_exp[n] if r.get('ssl_loss') is not None]
    lines.append(f'| {n} | {len(by_exp[n])} | ' + ' | '.join(cells + diffs) +
                 f' | {np.mean(ssl):.2f} |' if ssl else
                 f'| {n} | {len(by_exp[n])} | ' + ' | '.join(cells + diffs) +
                 ' | - |')
  text = '\n'.join(lines)
  print(text)
  return text


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('step', choices=('run', 'table'))
  parser.add_argument('--work', default=quality.DEFAULT_WORK)
  parser.add_argument('--data', default='full_valid')
  parser.add_argument('--exp', nargs='+', default=['base'])
  parser.add_argument('--seeds', nargs='+', type=int, default=[0])
  parser.add_argument('--base', default='{}',
                      help='JSON overrides every experiment starts from')
  parser.add_argument('--vs', default='base')
  args = parser.parse_args(argv)
  if args.step == 'run':
    run(args.work, args.data, args.exp, args.seeds, json.loads(args.base))
  else:
    table(args.work, args.data, args.vs,
          None if args.exp == ['base'] else args.exp)
  return 0


if __name__ == '__main__':
  sys.exit(main())

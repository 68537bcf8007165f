"""Sequential peers beside sslrec: RecBole's SASRec and GRU4Rec, same folders, one scorer.

  python bench/peer.py run    [--work DIR] [--data llo_full kg_llo_full]
                              [--models sslrec SASRec GRU4Rec] [--seed 0]
                              [--epochs N]   # cap the peers' epochs
  python bench/peer.py report [--work DIR] [--data llo_full] [--seed 0]

`run` trains what is missing and prints the tables (`report` prints them
from the saved scores). Everything heavy runs under the shared lock, e.g.
`flock /tmp/sslrec-heavy.lock python bench/peer.py run`.

- Data: the leave-last-out folders of `sslrec data movielens-100k --split
  leave-last-out` (`llo_full`; `kg_llo_full` with `--kg`: the same events,
  the KG item columns), written under <work>/data, the RecBole wheel cached
  in the repo's ignored cache/.
- Peers: RecBole 1.2.1 in its own virtualenv, bench/.peer-venv, created on
  first use from the lock bench/peer-requirements.txt (CPU PyTorch from PyPI;
  not a product dependency). Each folder's events become RecBole atomic
  benchmark files (`atomic_files`): every train event with a history is a
  training sequence, except each user's last train event, which is the
  validation event early stopping reads (never an eval event); the test file
  is the folder's eval events. A sequence is the event's `history` column
  (what sslrec's query tower sees), oldest first, the last
  MAX_ITEM_LIST_LENGTH items. Hyper-parameters (bench/peer_settings.json):
  RecBole's published ones (max sequence 50, embedding 64, full-softmax CE,
  early stopping on validation NDCG@10). The best validation checkpoint
  scores the whole corpus for every eval event (`full_sort_predict`).
- sslrec: the shipped defaults (TrainingConfig()), trained in-process by the
  Trainer's code and exported like bench/quality.py does; the exported
  towers score the whole corpus for every eval event (max over intentions).
- One scorer for all: the evaluator's code (components/retrieval_evaluator:
  `metrics.batch_top_k` / `target_ranks` with its tie rule, `summary`'s
  slices and per-user aggregates, `bootstrap`'s paired intervals over users)
  on each model's full-corpus scores, under two rules: `all` (nothing
  excluded: RecBole's and the literature's rule) and `serving` (the event's
  history and the user's train items excluded, never the event's item: the
  evaluator's rule). For sslrec the harness also ranks with the evaluator's
  own `rank_events` and records how many events' ranks differ (0 expected).
- Cost: CPU seconds (process time, all threads) and wall seconds of each
  training (RecBole's `fit` with its validation passes; sslrec's training
  and tower export).

Scores are kept in <work>/peer/<data>/<model>-seed<seed>.npz (a model whose
file exists is not trained again; delete it to retrain).
"""
import argparse
import collections
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SETTINGS_FILE = os.path.join(REPO, 'bench', 'peer_settings.json')
LOCK_FILE = os.path.join(REPO, 'bench', 'peer-requirements.txt')
PEER_VENV = os.path.join(REPO, 'bench', '.peer-venv')
DEFAULT_WORK = '/tmp/sslrec_peer'
DATASET = 'movielens-100k'
# Data folder -> `sslrec data movielens-100k` flags.
FOLDERS = {'llo_full': ('--split', 'leave-last-out'),
           'kg_llo_full': ('--kg', '--split', 'leave-last-out')}
SSLREC = 'sslrec'
PEERS = ('SASRec', 'GRU4Rec')
MODELS = (SSLREC,) + PEERS
POPULAR = 'popular'
ALL, SERVING = 'all', 'serving'
RULES = (ALL, SERVING)
KS = (10, 50, 100)
REPORT_METRICS = ('hr@10', 'ndcg@10', 'recall@50')
LABELS = {'hr@10': 'HR@10', 'ndcg@10': 'NDCG@10', 'recall@50': 'Recall@50'}
SLICE_COLUMNS = ('overall', 'head', 'tail', 'cold', 'new_users',
                 'returning_users', 'light_users', 'heavy_users')
# RecBole atomic benchmark files: <name>.<split>.inter, and <name>.item.
ATOMIC_SPLITS = ('train', 'valid', 'test')
USER, ITEM, SEQ = 'user_id', 'item_id', 'item_id_list'
INTER_HEADER = (f'{USER}:token', f'{SEQ}:token_seq', f'{ITEM}:token')
HISTORY, TIMESTAMP = 'history', 'timestamp'


def _log(message: str) -> None:
  print(time.strftime('%H:%M:%S'), message, flush=True)


# ---------------------------------------------------------------------------
# The events of a data folder and their RecBole atomic files (pure).


@dataclasses.dataclass(frozen=True)
class Event:
  user: str
  item: str
  timestamp: int
  history: Tuple[str, ...]  # earlier items, most recent first (the contract)


@dataclasses.dataclass(frozen=True)
class Events:
  """A data folder's corpus (items.csv order) and its train and eval events."""
  items: List[str]
  train: List[Event]
  eval: List[Event]


def _events(table, path: str) -> List[Event]:
  header, rows = table
  for name in (USER, ITEM, TIMESTAMP, HISTORY):
    if name not in header:
      raise ValueError(f'{path}: no {name!r} column (header {header})')
  u, i, t, h = (header.index(n) for n in (USER, ITEM, TIMESTAMP, HISTORY))
  out = []
  for line, row in enumerate(rows, start=2):
    try:
      stamp = int(row[t])
    except ValueError:
      raise ValueError(f'{path} line {line}: timestamp {row[t]!r} is not an '
                       'integer') from None
    out.append(Event(row[u], row[i], stamp,
                     tuple(x for x in row[h].split('|') if x)))
  return out


def read_events(data_dir: str) -> Events:
  """Reads a data folder (docs/data.md) with its `history` column."""
  from bench import quality_data  # pylint: disable=g-import-not-at-top
  items_path = os.path.join(data_dir, quality_data.ITEMS_CSV)
  header, rows = quality_data.read_table(items_path)
  if ITEM not in header:
    raise ValueError(f'{items_path}: no {ITEM!r} column (header {header})')
  items = [row[header.index(ITEM)] for row in rows]
  train_path = os.path.join(data_dir, quality_data.TRAIN_CSV)
  eval_path = os.path.join(data_dir, quality_data.EVAL_CSV)
  return Events(items,
                _events(quality_data.read_table(train_path), train_path),
                _events(quality_data.read_table(eval_path), eval_path))


def _token(value: str, what: str) -> str:
  if not value or any(c in value for c in ' \t\n\r'):
    raise ValueError(f'{what} {value!r} cannot be a RecBole token (empty or '
                     'holds white space)')
  return value


def _sequence(event: Event, max_len: int) -> str:
  """The event's history oldest first, its last `max_len` items."""
  return ' '.join(_token(i, 'history item') for i in
                  reversed(event.history[:max_len]))


def atomic_files(events: Events, max_len: int
                 ) -> Dict[str, List[Tuple[str, str, str]]]:
  """The rows (user, sequence, target) of the atomic benchmark files.

  `valid`: each user's last train event (by timestamp, then item id) that has
  a history; `train`: every other train event with a history (an event
  without one, a user's first, is only ever history); `test`: the eval events
  in file order, each needing a history (a leave-last-out folder's do).
  """
  def order(e: Event):
    return (e.timestamp, (0, int(e.item), '') if e.item.isdigit()
            else (1, 0, e.item))

  last: Dict[str, Event] = {}
  for event in events.train:
    if event.history and (event.user not in last
                          or order(event) >= order(last[event.user])):
      last[event.user] = event
  valid_ids = {id(e) for e in last.values()}
  rows = {split: [] for split in ATOMIC_SPLITS}
  for event in events.train:
    if event.history:
      split = 'valid' if id(event) in valid_ids else 'train'
      rows[split].append((_token(event.user, 'user_id'),
                          _sequence(event, max_len),
                          _token(event.item, 'item_id')))
  for n, event in enumerate(events.eval):
    if not event.history:
      raise ValueError(f'eval event {n} (user {event.user!r}, item '
                       f'{event.item!r}) has no history: a sequential peer '
                       'needs one (use a leave-last-out folder)')
    rows['test'].append((_token(event.user, 'user_id'),
                         _sequence(event, max_len),
                         _token(event.item, 'item_id')))
  if not rows['train'] or not rows['valid']:
    raise ValueError('no train or validation sequence: every train event '
                     'lacks a history')
  return rows


def write_atomic(events: Events, out_dir: str, name: str, max_len: int
                 ) -> None:
  """Writes <out_dir>/<name>.{train,valid,test}.inter and <name>.item."""
  rows = atomic_files(events, max_len)
  os.makedirs(out_dir, exist_ok=True)
  for split in ATOMIC_SPLITS:
    _write_tsv(os.path.join(out_dir, f'{name}.{split}.inter'), INTER_HEADER,
               rows[split])
  _write_tsv(os.path.join(out_dir, f'{name}.item'), (f'{ITEM}:token',),
             [(_token(i, 'corpus item_id'),) for i in events.items])


def _write_tsv(path: str, header: Sequence[str],
               rows: Sequence[Sequence[str]]) -> None:
  tmp = path + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write('\t'.join(header) + '\n')
    for row in rows:
      f.write('\t'.join(row) + '\n')
  os.replace(tmp, path)


def recbole_config(settings: Mapping, model: str, name: str, data_path: str,
                   seed: int, checkpoint_dir: str) -> Dict[str, object]:
  """RecBole's config_dict: the settings file's common and model parts over
  the benchmark-file layout written by `write_atomic`."""
  if model not in settings['models']:
    raise ValueError(f'no settings for model {model!r} in {SETTINGS_FILE} '
                     f'(models {sorted(settings["models"])})')
  config = dict(settings['recbole'], **settings['models'][model])
  config.update({
      'data_path': data_path, 'dataset': name,
      'benchmark_filename': list(ATOMIC_SPLITS),
      'load_col': {'inter': [USER, SEQ, ITEM], 'item': [ITEM]},
      'alias_of_item_id': [SEQ],
      'USER_ID_FIELD': USER, 'ITEM_ID_FIELD': ITEM,
      'eval_args': {'group_by': 'user', 'order': 'TO', 'mode': 'full'},
      'seed': seed, 'reproducibility': True, 'use_gpu': False,
      'checkpoint_dir': checkpoint_dir, 'show_progress': False,
  })
  return config


# ---------------------------------------------------------------------------
# One scorer: the evaluator's ranking, slices and bootstrap on score matrices.


def exclusions(events: Events, rule: str):
  """metrics.Exclusions of `rule` over the eval events (None for `all`).

  `serving`: the event's history and its user's train items, except the
  event's own item. Corpus indices are items.csv order.
  """
  from components.retrieval_evaluator import metrics  # pylint: disable=g-import-not-at-top
  if rule == ALL:
    return None
  if rule != SERVING:
    raise ValueError(f'unknown rule {rule!r}: one of {RULES}')
  index = {item: i for i, item in enumerate(events.items)}
  seen = collections.defaultdict(set)
  for event in events.train:
    if event.item in index:
      seen[event.user].add(index[event.item])
  rows, items = [], []
  for row, event in enumerate(events.eval):
    target = index[event.item]
    out = seen[event.user] | {index[i] for i in event.history if i in index}
    out.discard(target)
    rows += [row] * len(out)
    items += sorted(out)
  return metrics.Exclusions(np.array(rows, np.int64),
                            np.array(items, np.int64))


def rank(scores: np.ndarray, targets: np.ndarray, excluded,
         depth: int) -> np.ndarray:
  """Ranks of the targets in full-corpus score rows, as the evaluator ranks.

  Args:
    scores: float [num_events, num_items], corpus order.
    targets: int [num_events] corpus index of each event's item.
    excluded: metrics.Exclusions or None.
    depth: ranks beyond it are 0 (a miss).
  """
  from components.retrieval_evaluator import metrics  # pylint: disable=g-import-not-at-top
  scores = np.array(scores, np.float32)
  if scores.shape[0] != len(targets):
    raise ValueError(f'{scores.shape[0]} score rows for {len(targets)} events')
  scores[np.isnan(scores)] = -np.inf
  if excluded is not None:
    rows, items = excluded.in_range(0, scores.shape[1])
    scores[rows, items] = -np.inf
  _, indices = metrics.batch_top_k(scores, depth)
  return metrics.target_ranks(indices, targets)


def evaluate(events: Events, scores: Mapping[str, np.ndarray], rule: str,
             seed: int = 0) -> Dict[str, object]:
  """Metrics of every model (and the popularity list) under `rule`.

  Returns {'metrics': {model: metrics dict with ci95}, 'delta': {peer:
  sslrec - peer (summary.delta_dict)}}; one bootstrap weight matrix serves
  every model, so the deltas are paired over users.
  """
  from components.retrieval_evaluator import bootstrap  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import metrics  # pylint: disable=g-import-not-at-top
  from components.retrieval_evaluator import summary  # pylint: disable=g-import-not-at-top
  index = {item: i for i, item in enumerate(events.items)}
  missing = [e.item for e in events.eval if e.item not in index]
  if missing:
    raise ValueError(f'eval items not in the corpus: {missing[:5]}')
  targets = np.array([index[e.item] for e in events.eval], np.int64)
  users = [e.user for e in events.eval]
  counts = np.zeros(len(events.items), np.int64)
  by_user = collections.Counter()
  for event in events.train:
    by_user[event.user] += 1
    if event.item in index:
      counts[index[event.item]] += 1
  excluded = exclusions(events, rule)
  depth = max(max(KS), metrics.DECILE_K, metrics.LITERATURE_K)
  ranks = {name: rank(s, targets, excluded, depth)
           for name, s in scores.items()}
  ranks[POPULAR] = metrics.popularity_ranks(counts, targets, excluded)
  slices = summary.event_slices(targets, users, metrics.popularity(counts),
                                by_user)
  totals = {name: summary.user_totals(r, slices, KS)
            for name, r in ranks.items()}
  names = list(totals)
  samples = dict(zip(names, bootstrap.sample_ratios(
      [totals[n].values for n in names], totals[names[0]].events,
      bootstrap.Settings(seed=seed))))
  out = {'metrics': {n: summary.metrics_dict(totals[n], samples[n])
                     for n in names}, 'delta': {}}
  if SSLREC in totals:
    for peer in names:
      if peer != SSLREC:
        out['delta'][peer] = summary.delta_dict(
            totals[SSLREC], totals[peer], samples[SSLREC], samples[peer])
  return out


def _value(v: Optional[float], ci=None) -> str:
  if v is None:
    return '-'
  return f'{v:.3f}' + (f' [{ci[0]:.3f}, {ci[1]:.3f}]' if ci else '')


def _epochs(cost: Mapping) -> str:
  """'run' epochs, with the best one and the cap when known."""
  if cost.get('epochs') is None:
    return '-'
  extra = [f'{k} {cost[k]}' for k in ('best_epoch', 'epoch_cap')
           if cost.get(k) is not None]
  return str(cost['epochs']) + (f' ({", ".join(extra)})' if extra else '')


def tables(result: Mapping[str, Mapping], costs: Mapping[str, Mapping],
           title: str) -> str:
  """Markdown tables of one data folder: `result` is rule -> `evaluate`."""
  lines = [f'### {title}', '']
  models = list(next(iter(result.values()))['metrics'])
  lines += ['| model | rule | ' + ' | '.join(LABELS[m] for m in REPORT_METRICS)
            + ' | train CPU s | train wall s | epochs run |',
            '|---|---|' + '---|' * (len(REPORT_METRICS) + 3)]
  for model in models:
    for rule, res in result.items():
      m = res['metrics'][model]
      cost = costs.get(model, {})
      lines.append(f'| {model} | {rule} | ' + ' | '.join(
          _value(m[k]['overall'], m['ci95'][k]['overall'])
          for k in REPORT_METRICS) + ' | ' + ' | '.join(
              '-' if cost.get(c) is None else f'{cost[c]:.0f}'
              for c in ('train_cpu_seconds', 'train_wall_seconds'))
                   + f' | {_epochs(cost)} |')
  for rule, res in result.items():
    n = res['metrics'][models[0]]['n_events']
    for key in REPORT_METRICS:
      lines += ['', f'{LABELS[key]} by slice, rule `{rule}` (events: ' +
                ', '.join(f'{s} {n[s]}' for s in SLICE_COLUMNS) + ')', '',
                '| model | ' + ' | '.join(SLICE_COLUMNS) + ' |',
                '|---|' + '---|' * len(SLICE_COLUMNS)]
      for model in models:
        m = res['metrics'][model][key]
        lines.append(f'| {model} | ' + ' | '.join(
            _value(m[s]) for s in SLICE_COLUMNS) + ' |')
      for peer, delta in res['delta'].items():
        d = delta[key]
        lines.append(f'| {SSLREC} - {peer} | ' + ' | '.join(
            '-' if d[s] is None else
            f'{d[s]["delta"]:+.3f} [{d[s]["ci95"][0]:+.3f}, '
            f'{d[s]["ci95"][1]:+.3f}]' for s in SLICE_COLUMNS) + ' |')
  return '\n'.join(lines)


# ---------------------------------------------------------------------------
# Score files (one per model, data folder and seed).


def save_scores(path: str, events: Events, scores: np.ndarray,
                **costs) -> None:
  tmp = path + '.tmp.npz'
  np.savez(tmp, scores=np.asarray(scores, np.float32),
           users=np.array([e.user for e in events.eval]),
           items=np.array([e.item for e in events.eval]),
           corpus=np.array(events.items), costs=json.dumps(costs))
  os.replace(tmp, path)


def load_scores(path: str, events: Events) -> Tuple[np.ndarray, Dict]:
  """A score file's [num_eval, num_items] scores and costs; checks that it
  was written for these eval events and this corpus."""
  with np.load(path) as f:
    if (list(f['users']) != [e.user for e in events.eval]
        or list(f['items']) != [e.item for e in events.eval]
        or list(f['corpus']) != events.items):
      raise ValueError(f'{path}: written for other eval events or another '
                       'corpus; delete it to train again')
    return f['scores'], json.loads(str(f['costs']))


# ---------------------------------------------------------------------------
# The peers (run inside bench/.peer-venv).


def _lock_digest() -> str:
  with open(LOCK_FILE, 'rb') as f:
    return hashlib.sha1(f.read()).hexdigest()


def peer_python(python: str = sys.executable) -> str:
  """bench/.peer-venv's python, created from the lock when missing or stale."""
  venv_python = os.path.join(PEER_VENV, 'bin', 'python')
  marker = os.path.join(PEER_VENV, '.installed')
  if os.path.isfile(marker):
    with open(marker) as f:
      if f.read().strip() == _lock_digest():
        return venv_python
  _log(f'creating {PEER_VENV} from {LOCK_FILE} with {python}')
  subprocess.run([python, '-m', 'venv', PEER_VENV], check=True)
  subprocess.run([venv_python, '-m', 'pip', 'install', '--quiet', '--no-deps',
                  '-r', LOCK_FILE], check=True)
  subprocess.run([venv_python, '-c', 'import torch; torch.ones(2) @ '
                  'torch.ones(2); from recbole.config import Config; '
                  'from recbole.trainer import Trainer'], check=True)
  with open(marker, 'w') as f:
    f.write(_lock_digest() + '\n')
  return venv_python


def train_peer(atomic_root: str, name: str, model_name: str, seed: int,
               out: str, corpus: Sequence[str],
               epochs: Optional[int] = None) -> Dict[str, float]:
  """Trains one RecBole model on the atomic files and returns the full-corpus
  scores of the test events as [num_test, len(corpus)] in `out` (.npy) plus
  the costs. `epochs` caps the settings' epochs (None: the settings').
  Imports torch and RecBole: runs in the peer venv only."""
  # pylint: disable=g-import-not-at-top
  import torch
  from recbole.config import Config
  from recbole.data import create_dataset, data_preparation
  from recbole.utils import get_model, get_trainer, init_logger, init_seed
  # pylint: enable=g-import-not-at-top
  with open(SETTINGS_FILE) as f:
    settings = json.load(f)
  work = os.path.dirname(out)
  if epochs is not None:
    settings['recbole']['epochs'] = epochs
  config = Config(model=model_name, dataset=name, config_dict=recbole_config(
      settings, model_name, name, atomic_root, seed,
      os.path.join(work, 'saved')))
  init_seed(config['seed'], config['reproducibility'])
  init_logger(config)
  dataset = create_dataset(config)
  train_data, valid_data, test_data = data_preparation(config, dataset)
  init_seed(config['seed'] + config['local_rank'], config['reproducibility'])
  model = get_model(config['model'])(config, train_data._dataset).to('cpu')
  trainer = get_trainer(config['MODEL_TYPE'], config['model'])(config, model)
  cpu, wall = time.process_time(), time.perf_counter()
  _, best_valid = trainer.fit(train_data, valid_data, saved=True,
                              show_progress=False)
  cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
  state = torch.load(trainer.saved_model_file, map_location='cpu')
  model.load_state_dict(state['state_dict'])
  model.eval()
  test = test_data._dataset.inter_feat
  token_of = dataset.field2id_token[ITEM]
  item_ids = dataset.field2token_id[ITEM]
  columns = np.array([item_ids[i] for i in corpus], np.int64)
  scores = []
  with torch.no_grad():
    for start in range(0, len(test), 1024):
      batch = test[start:start + 1024]
      scores.append(model.full_sort_predict(batch).reshape(
          len(batch), -1).numpy()[:, columns])
  np.save(out, np.concatenate(scores).astype(np.float32))
  with open(out + '.targets', 'w') as f:
    f.write('\n'.join(token_of[i] for i in test[ITEM].numpy()) + '\n')
  return {'train_cpu_seconds': cpu, 'train_wall_seconds': wall,
          'epochs': len(trainer.train_loss_dict),
          'epoch_cap': config['epochs'],
          'best_epoch': int(state['epoch']) + 1,
          'valid_ndcg@10': float(best_valid['ndcg@10'])}


def run_peer(data_dir: str, work: str, model_name: str, seed: int,
             python: str, epochs: Optional[int]) -> Tuple[np.ndarray, Dict]:
  """Writes the atomic files, trains the peer in the peer venv, returns its
  scores (eval events x corpus) and costs."""
  events = read_events(data_dir)
  with open(SETTINGS_FILE) as f:
    max_len = json.load(f)['recbole']['MAX_ITEM_LIST_LENGTH']
  name = os.path.basename(os.path.normpath(data_dir))
  atomic_root = os.path.join(work, 'atomic')
  write_atomic(events, os.path.join(atomic_root, name), name, max_len)
  corpus_file = os.path.join(work, 'corpus.txt')
  with open(corpus_file, 'w') as f:
    f.write('\n'.join(events.items) + '\n')
  out = os.path.join(work, f'{model_name}-seed{seed}.npy')
  subprocess.run([python, os.path.abspath(__file__), 'train-peer',
                  '--atomic', atomic_root, '--name', name, '--model',
                  model_name, '--seed', str(seed), '--out', out,
                  '--corpus', corpus_file] +
                 ([] if epochs is None else ['--epochs', str(epochs)]),
                 check=True, cwd=work)
  with open(out + '.costs.json') as f:
    costs = json.load(f)
  with open(out + '.targets') as f:
    targets = f.read().split()
  if targets != [e.item for e in events.eval]:
    raise RuntimeError(f'{model_name}: RecBole reordered the test events')
  return np.load(out), costs


# ---------------------------------------------------------------------------
# sslrec (the product venv).


def run_sslrec(data_dir: str, work: str, seed: int) -> Tuple[np.ndarray, Dict]:
  """Trains the shipped defaults like the Trainer, scores the whole corpus
  for every eval event with the exported towers; checks that the scorer
  gives the evaluator's own ranks."""
  # pylint: disable=g-import-not-at-top
  from bench import quality
  from components.retrieval_evaluator import evaluation
  from components.retrieval_evaluator import metrics
  from models.config import TrainingConfig
  # pylint: enable=g-import-not-at-top
  name = os.path.basename(os.path.normpath(data_dir))
  prepared = quality.prepare(work, [name], cache=os.path.join(REPO, 'cache')
                             )[name]
  session = quality.Session(prepared)
  events = read_events(data_dir)
  cpu, wall = time.process_time(), time.perf_counter()
  with session.trained_towers(TrainingConfig().replace(seed=seed),
                              'sslrec_peer_') as trained:
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    corpus = session.eval_corpus
    queries = evaluation.embed_eval_queries(
        trained.query_tower, prepared.interactions_examples, corpus, 1024)
    items = np.concatenate(list(evaluation.item_embeddings(
        trained.item_tower, corpus, 4096)))
    scores = metrics.query_item_scores(queries.embeddings, items)
    own = {rule: evaluation.rank_events(
        trained.query_tower, trained.item_tower,
        prepared.interactions_examples, corpus, KS,
        exclude_seen=rule == SERVING).ranks for rule in RULES}
  # Rows: the Examples' eval order -> the CSV's; columns: corpus -> items.csv.
  row_of = {(u, int(t)): r for r, (u, t) in enumerate(zip(queries.users,
                                                          queries.targets))}
  if len(row_of) != len(queries.users):
    raise ValueError(f'{data_dir}: two eval events share a (user, item)')
  rows = np.array([row_of[(e.user, corpus.index_of[e.item])]
                   for e in events.eval], np.int64)
  columns = np.array([corpus.index_of[i] for i in events.items], np.int64)
  scores = scores[rows][:, columns]
  targets = np.array([events.items.index(e.item) for e in events.eval])
  depth = max(max(KS), metrics.DECILE_K, metrics.LITERATURE_K)
  train_items = collections.defaultdict(set)
  for event in events.train:
    train_items[event.user].add(event.item)
  differ = {}
  for rule in RULES:
    mine = rank(scores, targets, exclusions(events, rule), depth)
    if rule == SERVING and any(set(e.history) - train_items[e.user]
                               for e in events.eval):
      continue  # the evaluator excludes train items only: not comparable
    differ[rule] = int((mine != own[rule][rows]).sum())
  _log(f'{name} sslrec: events whose rank differs from the evaluator\'s '
       f'rank_events: {differ}')
  return scores, {'train_cpu_seconds': cpu, 'train_wall_seconds': wall,
                  'epochs': TrainingConfig().epochs,
                  'ranks_differing_from_evaluator': differ}


# ---------------------------------------------------------------------------
# Commands.


def make_folder(work: str, name: str) -> str:
  """<work>/data/<name>, written by `sslrec data movielens-100k` if missing."""
  out = os.path.join(work, 'data', name)
  if os.path.isdir(out):
    return out
  if name not in FOLDERS:
    raise ValueError(f'unknown data folder {name!r}: one of {sorted(FOLDERS)}')
  from pipeline.cli import main as cli_main  # pylint: disable=g-import-not-at-top
  if cli_main(['data', DATASET, *FOLDERS[name], '--out', out, '--cache',
               os.path.join(REPO, 'cache')]):
    raise RuntimeError(f'sslrec data {DATASET} {" ".join(FOLDERS[name])} '
                       'failed')
  return out


def score_file(work: str, data: str, model: str, seed: int) -> str:
  return os.path.join(work, 'peer', data, f'{model}-seed{seed}.npz')


def run(work: str, data: str, models: Sequence[str], seed: int,
        python: str, epochs: Optional[int] = None) -> None:
  data_dir = make_folder(work, data)
  events = read_events(data_dir)
  os.makedirs(os.path.join(work, 'peer', data), exist_ok=True)
  for model in models:
    path = score_file(work, data, model, seed)
    if os.path.isfile(path):
      continue
    _log(f'{data}: training {model} (seed {seed})')
    if model == SSLREC:
      scores, costs = run_sslrec(data_dir, work, seed)
    else:
      scores, costs = run_peer(data_dir, os.path.join(work, 'peer', data),
                               model, seed, peer_python(python), epochs)
    save_scores(path, events, scores, **costs)
    _log(f'{data} {model}: {json.dumps(costs)}')


def report(work: str, data: str, models: Sequence[str], seed: int) -> str:
  events = read_events(os.path.join(work, 'data', data))
  scores, costs = {}, {}
  for model in models:
    path = score_file(work, data, model, seed)
    if os.path.isfile(path):
      scores[model], costs[model] = load_scores(path, events)
  if not scores:
    raise FileNotFoundError(f'no scores under {os.path.join(work, "peer", data)}'
                            ': run `bench/peer.py run` first')
  result = {rule: evaluate(events, scores, rule) for rule in RULES}
  with open(os.path.join(work, 'peer', data, f'report-seed{seed}.json'),
            'w') as f:
    json.dump({'costs': costs, **result}, f, indent=1)
  return tables(result, costs, f'{data}, seed {seed} ({len(events.eval)} eval '
                f'events, {len(events.items)} items; 95% intervals over users)')


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  sub = parser.add_subparsers(dest='command', required=True)
  for command in ('run', 'report'):
    p = sub.add_parser(command)
    p.add_argument('--work', default=DEFAULT_WORK)
    p.add_argument('--data', nargs='+', default=['llo_full'],
                   choices=sorted(FOLDERS))
    p.add_argument('--models', nargs='+', default=list(MODELS),
                   choices=MODELS)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--python', default=sys.executable,
                   help='the Python 3.10 that creates bench/.peer-venv')
    p.add_argument('--epochs', type=int, default=None,
                   help="cap on the peers' epochs (default: the settings')")
  p = sub.add_parser('train-peer', help='(internal: runs in the peer venv)')
  for flag in ('--atomic', '--name', '--model', '--out', '--corpus'):
    p.add_argument(flag, required=True)
  p.add_argument('--seed', type=int, required=True)
  p.add_argument('--epochs', type=int, default=None)
  args = parser.parse_args(argv)
  if args.command == 'train-peer':
    with open(args.corpus) as f:
      corpus = f.read().split()
    costs = train_peer(args.atomic, args.name, args.model, args.seed,
                       args.out, corpus, args.epochs)
    with open(args.out + '.costs.json', 'w') as f:
      json.dump(costs, f)
    return 0
  for data in args.data:
    if args.command == 'run':
      run(args.work, data, args.models, args.seed, args.python, args.epochs)
    print(report(args.work, data, args.models, args.seed), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())

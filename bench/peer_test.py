"""Tests of the sequential-peer harness's pure parts: RecBole atomic files and the scorer glue."""
import json
import os

import numpy as np
import pytest

from bench import peer
from bench import quality_data
from components.retrieval_evaluator import metrics

E = peer.Event
# User a: x, y, z in train (x has no history), w in eval; user b: one train
# event only (no history, never a sequence), v in eval.
EVENTS = peer.Events(
    items=['x', 'y', 'z', 'w', 'v'],
    train=[E('a', 'x', 1, ()), E('b', 'y', 1, ()), E('a', 'z', 3, ('y', 'x')),
           E('a', 'y', 2, ('x',))],
    eval=[E('a', 'w', 4, ('z', 'y', 'x')), E('b', 'v', 2, ('y',))])


def test_atomic_files_carve_validation_from_train():
  rows = peer.atomic_files(EVENTS, max_len=50)
  # a's last train event by time (z) validates; y trains; x and b's only
  # event have no history.
  assert rows == {'train': [('a', 'x', 'y')],
                  'valid': [('a', 'x y', 'z')],
                  'test': [('a', 'x y z', 'w'), ('b', 'y', 'v')]}


def test_atomic_files_keep_the_last_max_len_items():
  rows = peer.atomic_files(EVENTS, max_len=2)
  assert rows['test'][0] == ('a', 'y z', 'w')


def test_atomic_files_need_an_eval_history():
  events = peer.Events(EVENTS.items, EVENTS.train,
                       [E('c', 'w', 9, ())])
  with pytest.raises(ValueError, match=r"eval event 0 \(user 'c'.*no history"):
    peer.atomic_files(events, 50)


def test_atomic_files_reject_a_token_with_a_space():
  events = peer.Events(EVENTS.items, EVENTS.train + [E('a b', 'x', 5, ('y',))],
                       EVENTS.eval)
  with pytest.raises(ValueError, match="user_id 'a b' cannot be a RecBole"):
    peer.atomic_files(events, 50)


def test_write_atomic_writes_benchmark_files(tmp_path):
  peer.write_atomic(EVENTS, str(tmp_path), 'toy', 50)
  assert sorted(os.listdir(tmp_path)) == [
      'toy.item', 'toy.test.inter', 'toy.train.inter', 'toy.valid.inter']
  with open(tmp_path / 'toy.valid.inter') as f:
    assert f.read() == ('user_id:token\titem_id_list:token_seq\t'
                        'item_id:token\na\tx y\tz\n')
  with open(tmp_path / 'toy.item') as f:
    assert f.read().split('\n')[:3] == ['item_id:token', 'x', 'y']


def test_read_events_reads_a_contract_folder(tmp_path):
  header = ['user_id', 'item_id', 'timestamp', 'history']
  for rel, rows in ((quality_data.TRAIN_CSV, [['a', 'x', '1', ''],
                                              ['a', 'y', '2', 'x']]),
                    (quality_data.EVAL_CSV, [['a', 'z', '3', 'y|x']]),
                    (quality_data.ITEMS_CSV, None)):
    os.makedirs(os.path.dirname(tmp_path / rel), exist_ok=True)
    with open(tmp_path / rel, 'w') as f:
      if rows is None:
        f.write('item_id,title\nx,X\ny,Y\nz,Z\n')
      else:
        f.write(','.join(header) + '\n' +
                ''.join(','.join(r) + '\n' for r in rows))
  events = peer.read_events(str(tmp_path))
  assert events.items == ['x', 'y', 'z']
  assert events.train[1] == E('a', 'y', 2, ('x',))
  assert events.eval == [E('a', 'z', 3, ('y', 'x'))]


def test_read_events_names_a_missing_history_column(tmp_path):
  path = tmp_path / quality_data.TRAIN_CSV
  os.makedirs(os.path.dirname(path))
  with open(path, 'w') as f:
    f.write('user_id,item_id,timestamp\na,x,1\n')
  with pytest.raises(ValueError, match="no 'history' column"):
    peer._events(quality_data.read_table(str(path)), str(path))


def test_recbole_config_merges_settings_over_the_file_layout():
  with open(peer.SETTINGS_FILE) as f:
    settings = json.load(f)
  config = peer.recbole_config(settings, 'SASRec', 'toy', '/d', 3, '/c')
  assert config['loss_type'] == 'CE' and config['train_neg_sample_args'] is None
  assert config['MAX_ITEM_LIST_LENGTH'] == 50 and config['hidden_size'] == 64
  assert config['valid_metric'] == 'NDCG@10'
  assert config['benchmark_filename'] == ['train', 'valid', 'test']
  assert config['alias_of_item_id'] == ['item_id_list']
  assert (config['seed'], config['data_path'], config['dataset']) == (
      3, '/d', 'toy')
  with pytest.raises(ValueError, match="no settings for model 'BERT4Rec'"):
    peer.recbole_config(settings, 'BERT4Rec', 'toy', '/d', 0, '/c')


def test_serving_exclusions_are_history_and_train_items_but_the_target():
  # a: train x, z, y + history z, y, x; b: train y + history y; corpus
  # indices x0 y1 z2 w3 v4.
  ex = peer.exclusions(EVENTS, peer.SERVING)
  pairs = sorted(zip(ex.rows.tolist(), ex.items.tolist()))
  assert pairs == [(0, 0), (0, 1), (0, 2), (1, 1)]
  assert peer.exclusions(EVENTS, peer.ALL) is None
  target_in_history = peer.Events(EVENTS.items, EVENTS.train,
                                  [E('a', 'x', 4, ('z', 'y', 'x'))])
  pairs = peer.exclusions(target_in_history, peer.SERVING)
  assert sorted(pairs.items.tolist()) == [1, 2]  # x, the target, stays


def test_rank_follows_the_evaluator_tie_rule_and_exclusions():
  scores = np.array([[0.5, 0.9, 0.5, np.nan, 0.1],
                     [0.2, 0.3, 0.3, 0.3, 0.0]], np.float32)
  targets = np.array([2, 3])
  # Row 0: 0.9 (y) and the tied 0.5 of x (lower index) are ahead: rank 3.
  # Row 1: y and z tie with w at 0.3 and have lower indices: rank 3.
  assert peer.rank(scores, targets, None, 10).tolist() == [3, 3]
  excluded = metrics.Exclusions(np.array([0, 1]), np.array([1, 2]))
  assert peer.rank(scores, targets, excluded, 10).tolist() == [2, 2]
  assert peer.rank(scores, targets, None, 2).tolist() == [0, 0]


def test_rank_equals_the_evaluator_rank_targets():
  rng = np.random.default_rng(0)
  queries = rng.normal(size=(30, 4)).astype(np.float32)
  items = np.round(rng.normal(size=(50, 4)), 1).astype(np.float32)
  targets = rng.integers(0, 50, 30)
  ex = metrics.Exclusions.from_seen(
      list(range(30)), {u: rng.integers(0, 50, 5) for u in range(30)}, targets)
  expected = metrics.rank_targets(queries, [items[:20], items[20:]], targets,
                                  depth=40, exclusions=ex)
  got = peer.rank(metrics.query_item_scores(queries, items), targets, ex, 40)
  np.testing.assert_array_equal(got, expected)


def test_evaluate_scores_every_model_with_paired_deltas():
  targets = [3, 4]  # w, v
  perfect = np.zeros([2, 5], np.float32)
  perfect[[0, 1], targets] = 1.0
  worst = -perfect
  out = peer.evaluate(EVENTS, {peer.SSLREC: perfect, 'SASRec': worst,
                               'GRU4Rec': perfect}, peer.ALL)
  assert set(out['metrics']) == {peer.SSLREC, 'SASRec', 'GRU4Rec',
                                 peer.POPULAR}
  assert out['metrics'][peer.SSLREC]['hr@10']['overall'] == 1.0
  assert out['metrics'][peer.SSLREC]['ndcg@10']['overall'] == 1.0
  # The worst model ranks the target last of 5: HR@10 still 1, NDCG 1/log2(6).
  assert out['metrics']['SASRec']['ndcg@10']['overall'] == pytest.approx(
      1 / np.log2(6))
  same = out['delta']['GRU4Rec']['ndcg@10']['overall']
  assert same == {'delta': 0.0, 'ci95': [0.0, 0.0]}
  assert out['delta']['SASRec']['ndcg@10']['overall']['delta'] > 0
  # Both eval items are cold (never in train).
  assert out['metrics'][peer.SSLREC]['n_events']['cold'] == 2
  table = peer.tables({peer.ALL: out}, {'SASRec': {
      'train_cpu_seconds': 12.4, 'epochs': 7, 'best_epoch': 5,
      'epoch_cap': 7}}, 'toy')
  assert '| SASRec | all | 1.000' in table
  assert '| 12 | - | 7 (best_epoch 5, epoch_cap 7) |' in table
  assert '| sslrec - SASRec |' in table


def test_score_files_round_trip_and_check_their_events(tmp_path):
  path = str(tmp_path / 'm.npz')
  scores = np.arange(10, dtype=np.float32).reshape(2, 5)
  peer.save_scores(path, EVENTS, scores, train_cpu_seconds=1.5)
  loaded, costs = peer.load_scores(path, EVENTS)
  np.testing.assert_array_equal(loaded, scores)
  assert costs == {'train_cpu_seconds': 1.5}
  other = peer.Events(EVENTS.items, EVENTS.train, EVENTS.eval[::-1])
  with pytest.raises(ValueError, match='written for other eval events'):
    peer.load_scores(path, other)

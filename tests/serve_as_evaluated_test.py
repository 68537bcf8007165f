"""What the index serves is what the evaluator reports.

The eval events are replayed through the built index SavedModel (loaded back,
signature `with_exclusions`, the user's train items as `exclude_item_ids`;
the index itself leaves out the request's history), and the served lists'
ranks give the evaluator's ranks and metrics.json's Recall@K and HR@10, slice
for slice.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import tower_io
from components.index_builder import executor as index_executor
from components.index_builder import index
from components.retrieval_evaluator import evaluation
from components.retrieval_evaluator import executor as eval_executor
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import rank_histograms
from components.retrieval_evaluator import summary
from tests.support import towers as test_towers
from tests.support.towers import artifact

KS = [5, 10, 20]


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('serve_as_evaluated'))
  data = test_towers.make_dataset(root, num_items=60, num_users=30,
                                  events_per_user=9, cold_items=6)
  towers = test_towers.save_towers(root)
  built = artifact(standard_artifacts.Model, os.path.join(root, 'index'))
  index_executor.Executor().Do(
      {'query_model': [artifact(standard_artifacts.Model,
                                towers['query_model'])],
       'item_model': [artifact(standard_artifacts.Model, towers['item_model'])],
       'items': [artifact(standard_artifacts.Examples, data['items'])]},
      {'index': [built]},
      {'k': 100, 'kind': 'brute_force', 'scann_options': '{}',
       'batch_size': 16})
  query = artifact(standard_artifacts.Model, towers['query_model'], 11)
  query.set_string_custom_property('item_model_uri', towers['item_model'])
  evaluated = artifact(standard_artifacts.ModelEvaluation,
                       os.path.join(root, 'evaluation'), 21)
  eval_executor.Executor().Do(
      {'query_model': [query],
       'item_model': [artifact(standard_artifacts.Model,
                               towers['item_model'], 12)],
       'examples': [artifact(standard_artifacts.Examples,
                             data['interactions'], 1)],
       'items': [artifact(standard_artifacts.Examples, data['items'], 2)]},
      {'evaluation': [evaluated],
       'blessing': [artifact(standard_artifacts.ModelBlessing,
                             os.path.join(root, 'blessing'), 22)]},
      {'ks': json.dumps(KS), 'blessing_k': 10, 'min_recall': 0.0,
       'max_overall_drop': 0.01, 'max_tail_drop': 0.01,
       'exclusion': 'serving', 'query_batch_size': 16,
       'corpus_batch_size': 16})
  with open(os.path.join(evaluated.uri, 'metrics.json')) as f:
    content = json.load(f)
  return data, towers, tower_io.serving_dir(built.uri), content


def _served_ranks(data, index_dir):
  """Replays every eval event; the rank of its item in the served list."""
  ev = test_towers.all_rows(data['interactions'], 'eval')
  train = test_towers.all_rows(data['interactions'], 'train')
  seen = {}
  for user, item in zip(train['user_id'], train['item_id']):
    seen.setdefault(user, []).append(item.decode())
  exclude = [seen.get(user, []) for user in ev['user_id']]
  width = max(len(x) for x in exclude)
  padded = np.array([x + [''] * (width - len(x)) for x in exclude], object)
  serve = tf.saved_model.load(index_dir).signatures[index.EXCLUSIONS_SIGNATURE]
  inputs = {name: tf.constant(ev[name], spec.dtype) for name, spec in
            serve.structured_input_signature[1].items()
            if name != index.EXCLUDE_ITEM_IDS}
  out = serve(**inputs, **{index.EXCLUDE_ITEM_IDS: tf.constant(padded)})
  served = out[index.ITEM_IDS].numpy()
  ranks = []
  for row, target in enumerate(ev['item_id']):
    # No repeat events here: the served rule never removes the event's item.
    assert target.decode() not in exclude[row]
    assert target.decode() not in ev['history'][row].decode().split('|')
    hits = np.flatnonzero(served[row] == target)
    ranks.append(hits[0] + 1 if len(hits) else 0)
  return np.array(ranks), served, ev


def test_served_ranks_are_the_evaluators(setup):
  data, towers, index_dir, _ = setup
  ranks, served, ev = _served_ranks(data, index_dir)
  corpus = evaluation.load_corpus(data['items'], data['interactions'])
  ranking = evaluation.rank_models(towers['query_model'], towers['item_model'],
                                   data['interactions'], corpus, KS)
  # The evaluator ranks to a depth (rank_histograms.depth): 0 beyond it.
  depth = rank_histograms.depth(KS)
  assert (ranks > depth).any()
  np.testing.assert_array_equal(np.where(ranks > depth, 0, ranks),
                                ranking.ranks)
  # The history and the train items were really left out: lists are short.
  assert ((served == b'').sum(axis=1) >= 7).all()
  assert len(set(ranks.tolist())) > 5


def test_served_metrics_are_metrics_json_slice_for_slice(setup):
  data, _, index_dir, content = setup
  assert content['settings']['exclusion'] == 'serving'
  ranks, _, ev = _served_ranks(data, index_dir)
  corpus = evaluation.load_corpus(data['items'], data['interactions'])
  targets = np.array([corpus.index_of[i.decode()] for i in ev['item_id']])
  users = [u.decode() for u in ev['user_id']]
  served = summary.metrics_dict(rank_histograms.ranking_totals(
      users, targets, ranks, corpus.popularity, corpus.train_events_by_user,
      KS))
  keys = [metrics.recall_key(k) for k in KS] + [metrics.hr_key(10)]
  for key in keys:
    assert set(served[key]) == set(content[key])
    for name, value in content[key].items():
      if value is None:
        assert served[key][name] is None, (key, name)
      else:
        assert served[key][name] == pytest.approx(value, abs=1e-9), (key, name)
  assert any(0 < content['recall@10'][s] < 1 for s in ('head', 'tail'))

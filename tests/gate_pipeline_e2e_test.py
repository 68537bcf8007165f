"""End to end with LocalDagRunner and real MLMD: blessing gate, pushes, index, report.

The runs are the session fixture `gate_runs` (tests/support/fixtures.py) of
tests/gate_pipeline.py, whose evaluation/gate/push part is the production
wiring (pipeline.evaluate_and_push). Run 1 (normal threshold): blessed; the
query tower, item tower and index are pushed and load; the index agrees with
numpy brute force over the pushed towers. Run 2 (impossible threshold, new
towers): the last blessed model is resolved as the baseline, nothing is
pushed, and MLMD and the log say why. Run 3 repeats run 1: blessed again, and
nothing new is pushed. `sslrec report` then regenerates the runs' reports
from MLMD.
"""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components import tower_io
from tests.support import towers as test_towers
from pipeline import cli
from pipeline import run_records
from pipeline.pipeline import INDEX, ITEM_TOWER, PUSHES, QUERY_TOWER

pytestmark = pytest.mark.e2e


@pytest.fixture(scope='module')
def runs(gate_runs):
  paths = gate_runs['paths']
  store = run_records.open_store(paths['metadata'])
  run_ids = [r.name for r in run_records.list_runs(store)]
  return gate_runs['out'], paths, gate_runs['versions_after_run1'], run_ids


def _serving_dir(paths, name):
  base = os.path.join(paths['serving'], name)
  (version,) = os.listdir(base)
  return os.path.join(base, version)


def _example_gen_output(paths, name):
  # TinyExampleGen ran once (a cache hit in the later runs).
  (uri,) = glob.glob(os.path.join(paths['pipeline_root'], 'TinyExampleGen',
                                  name, '*'))
  return uri


def test_blessed_run_pushes_three_loadable_models_and_a_correct_index(runs):
  _, paths, versions, run_ids = runs
  assert len(run_ids) == 3
  assert all(len(v) == 1 and v[0].isdigit() for v in versions.values())
  items = test_towers.all_rows(_example_gen_output(paths, 'items'), 'corpus')
  queries = test_towers.all_rows(_example_gen_output(paths, 'interactions'),
                                 'eval')
  item_emb = tower_io.Tower(_serving_dir(paths, ITEM_TOWER)).embed(items)
  query_emb = tower_io.Tower(_serving_dir(paths, QUERY_TOWER)).embed(queries)
  scores = query_emb @ item_emb.T
  # The pushed index leaves each request's history items out.
  corpus = [i.decode() for i in items['item_id']]
  for row, history in enumerate(queries['history']):
    scores[row, np.isin(corpus, history.decode().split('|'))] = -np.inf
  assert np.isneginf(scores).any()
  order = np.argsort(-scores, axis=1, kind='stable')[:, :10]
  expected = np.array(corpus)[order]
  index = tf.saved_model.load(_serving_dir(paths, INDEX))
  fn = index.signatures['serving_default']
  out = fn(**{name: tf.constant(queries[name], spec.dtype) for name, spec in
              fn.structured_input_signature[1].items()})
  got = np.array([[i.decode() for i in row] for row in
                  out['item_ids'].numpy()])
  np.testing.assert_array_equal(got, expected)
  np.testing.assert_allclose(out['scores'].numpy(),
                             np.take_along_axis(scores, order, 1), atol=1e-5)


def test_unblessed_run_pushes_nothing_and_says_why(runs):
  _, paths, versions, run_ids = runs
  for name, before in versions.items():
    assert sorted(os.listdir(os.path.join(paths['serving'], name))) == before
  store = run_records.open_store(paths['metadata'])
  record = run_records.read_run(store, run_ids[1])
  assert record.blessed is False
  assert record.blessing_message.startswith('NOT blessed: overall recall@10')
  assert 'below the threshold 1' in record.blessing_message
  assert record.pushes == []
  # The baseline is run 1's blessed query model.
  assert record.metrics['baseline'] is not None
  first = run_records.read_run(store, run_ids[0])
  assert first.metrics['baseline'] is None
  assert record.metrics['baseline']['recall@10'] == first.metrics['recall@10']
  assert sorted(p.node_id for p in first.pushes) == sorted(PUSHES)
  assert all(p.pushed for p in first.pushes)


def test_a_rerun_blesses_the_same_towers_and_pushes_nothing_new(runs):
  _, paths, versions, run_ids = runs
  for name, before in versions.items():
    assert sorted(os.listdir(os.path.join(paths['serving'], name))) == before
  record = run_records.read_run(run_records.open_store(paths['metadata']),
                                run_ids[2])
  assert record.blessed is True
  assert sorted(p.node_id for p in record.pushes) == sorted(PUSHES)
  assert all(p.pushed and p.version == versions[PUSHES[p.node_id]][0]
             for p in record.pushes)


def test_report_is_regenerated_from_mlmd_for_any_run(runs, capsys):
  out, _, _, run_ids = runs
  assert cli.main(['report', '--output', out, '--list']) == 0
  assert capsys.readouterr().out.split() == run_ids
  dest = os.path.join(out, 'first_report')
  assert cli.main(['report', '--output', out, '--run', run_ids[0],
                   '--dest', dest]) == 0
  text = open(os.path.join(dest, 'index.html'), encoding='utf-8').read()
  assert 'Blessed</h2>' in text and 'PushIndex: pushed version' in text
  assert sorted(os.listdir(dest)) == ['deciles.png', 'index.html',
                                      'losses.png']
  assert cli.main(['report', '--output', out, '--run', run_ids[1]]) == 0
  text = open(os.path.join(out, 'report', 'index.html'),
              encoding='utf-8').read()
  assert run_ids[1] in text and 'Not blessed' in text
  assert 'Nothing was pushed.' in text
  assert cli.main(['report', '--output', out, '--run', 'nope']) == 2
  assert "no pipeline run 'nope'" in capsys.readouterr().err


def test_metrics_json_has_the_documented_keys(runs):
  _, paths, _, run_ids = runs
  store = run_records.open_store(paths['metadata'])
  record = run_records.read_run(store, run_ids[0])
  with open(os.path.join(record.evaluation_uri, 'metrics.json')) as f:
    content = json.load(f)
  for k in (10, 50, 100):
    for name in (f'recall@{k}', f'map@{k}'):
      assert set(content[name]) == {
          'overall', 'head', 'tail', 'cold', 'new_users', 'returning_users',
          'light_users', 'heavy_users'}
      assert set(content['ci95'][name]) == set(content[name])
  assert len(content['recall@50_by_decile']) == 10
  assert content['num_eval_events'] > 0
  assert 'baseline' in content
  assert set(content['popularity']['recall@50']) == set(content['recall@50'])
  assert set(content['delta_ci95']) == {'baseline', 'popularity'}

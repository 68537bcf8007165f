"""Tests of the joint counting and MI math (pure numpy, no Beam, no TFX)."""
import math

import numpy as np
import pyarrow as pa
from pyarrow import csv as pa_csv
import pytest
from sklearn import metrics

from components.mutual_information import counting
from tests.support import mi_tables
from components.mutual_information import encoders as encoders_lib
from components.mutual_information import parsing
from models import features as features_lib
from pipeline.data import contract
from pipeline.data import synthetic
import schemas


def _categorical_batches(columns, batch_size):
  n = len(next(iter(columns.values())))
  rb = mi_tables.record_batch(
      dict({'item_id': [f'i{k}' for k in range(n)]},
           **{k: [str(x) for x in v] for k, v in columns.items()}))
  return [rb.slice(s, batch_size) for s in range(0, rb.num_rows, batch_size)]


def _dependent_columns(n, seed):
  rng = np.random.default_rng(seed)
  a = rng.integers(0, 6, n)
  b = np.where(rng.random(n) < 0.7, (a * 3) % 7, rng.integers(0, 7, n))
  c = rng.integers(0, 4, n)  # independent
  d = (a + c) % 5  # depends on both
  return {'a': a, 'b': b, 'c': c, 'd': d}


@pytest.mark.parametrize('seed', [0, 1])
def test_single_valued_mi_equals_sklearn(seed):
  cols = _dependent_columns(3000, seed)
  names = list(cols)
  out = counting.compute_local(_categorical_batches(cols, 700),
                               [(n, 'categorical') for n in names])
  mi = np.array(out['mi'])
  assert out['features'] == names
  for i, x in enumerate(names):
    for j, y in enumerate(names):
      expected = metrics.mutual_info_score(cols[x], cols[y])
      assert mi[i, j] == pytest.approx(expected, rel=1e-9, abs=1e-12), (x, y)
  # Known dependence shows: a-b and a-d clearly above the independent a-c.
  assert mi[0, 1] > 10 * mi[0, 2] and mi[0, 3] > 10 * mi[0, 2]


def test_diagonal_symmetry_and_normalization():
  cols = _dependent_columns(2000, 2)
  names = list(cols)
  out = counting.compute_local(_categorical_batches(cols, 512),
                               [('item_id', 'id')] +
                               [(n, 'categorical') for n in names])
  mi, nmi = np.array(out['mi']), np.array(out['normalized_mi'])
  h = np.array(out['entropy'])
  np.testing.assert_allclose(mi, mi.T, rtol=0, atol=0)
  np.testing.assert_allclose(np.diag(mi), h)
  assert h[0] == pytest.approx(math.log(2000))  # the id: log N
  for i, name in enumerate(names, start=1):
    p = np.unique(cols[name], return_counts=True)[1] / 2000
    assert h[i] == pytest.approx(-(p * np.log(p)).sum(), rel=1e-12)
    assert mi[0, i] == pytest.approx(h[i])  # MI(id, f) = H(f)
  assert (nmi >= 0).all() and (nmi <= 1).all()
  np.testing.assert_allclose(np.diag(nmi), 1.0)
  np.testing.assert_allclose(nmi, mi / np.sqrt(np.outer(h, h)), rtol=1e-12)
  assert out['num_items'] == 2000


def test_multi_valued_mass_spreading_hand_computed():
  # item 1: g = x|y, h = a|b, c = p        item 2: g = x, h = b, c = q
  rb = mi_tables.record_batch({'item_id': ['i1', 'i2'],
                              'g': ['x|y', 'x'], 'h': ['a|b', 'b'],
                              'c': ['p', 'q']})
  out = counting.compute_local(
      [rb], [('item_id', 'id'), ('g', 'multi_valued'), ('h', 'multi_valued'),
             ('c', 'categorical')])
  mi = dict(zip(['id', 'g', 'h', 'c'], np.array(out['mi'])))
  log = math.log
  # Marginals: g x .75 y .25; h a .25 b .75; c p .5 q .5.
  h_g = -(.75 * log(.75) + .25 * log(.25))
  assert mi['g'][1] == pytest.approx(h_g)
  assert mi['h'][2] == pytest.approx(h_g)
  # g x c: item 1 puts .5 on (x,p), (y,p); item 2 puts 1 on (x,q); / 2 items.
  mi_gc = (.25 * log(.25 / (.75 * .5)) + .25 * log(.25 / (.25 * .5)) +
           .5 * log(.5 / (.75 * .5)))
  assert mi['g'][3] == pytest.approx(mi_gc, rel=1e-12)
  # g x h: item 1 puts .25 on each of xa xb ya yb; item 2 puts 1 on xb.
  p = {'xa': .125, 'xb': .625, 'ya': .125, 'yb': .125}
  pg, ph = {'x': .75, 'y': .25}, {'a': .25, 'b': .75}
  mi_gh = sum(v * log(v / (pg[k[0]] * ph[k[1]])) for k, v in p.items())
  assert mi['g'][2] == pytest.approx(mi_gh, rel=1e-12)
  # id x g: H(g) - H(g | item) = H(g) - (log 2 + 0) / 2.
  assert mi['id'][1] == pytest.approx(h_g - log(2) / 2, rel=1e-12)
  assert mi['id'][0] == pytest.approx(log(2))


def test_missing_is_its_own_value_and_repeats_count():
  # Missing c in rows 2 and 3 is one value "MISSING": c is then a function
  # of g (x -> p, y -> MISSING), so MI(g, c) = H(g) = H(c).
  rb = mi_tables.record_batch({'g': ['x', 'y', 'y', 'x'],
                              'c': ['p', None, '', 'p']})
  out = counting.compute_local([rb], [('g', 'categorical'),
                                      ('c', 'categorical')])
  mi = np.array(out['mi'])
  assert mi[0, 1] == pytest.approx(math.log(2))
  assert mi[1, 1] == pytest.approx(math.log(2))
  # Repeated values of a multi-valued feature count twice: t = a|a|b has
  # mass a 2/3, b 1/3.
  rb = mi_tables.record_batch({'item_id': ['i1'], 't': ['a|a|b']})
  out = counting.compute_local([rb], [('item_id', 'id'),
                                      ('t', 'multi_valued')])
  h_t = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
  assert out['entropy'][1] == pytest.approx(h_t)
  assert out['mi'][0][1] == pytest.approx(0.0, abs=1e-12)  # one item


def test_batching_does_not_change_the_result():
  batches = mi_tables.correlated_batches(1500, 1500)
  one = counting.compute_local(batches, mi_tables.FEATURES)
  many = counting.compute_local(mi_tables.correlated_batches(1500, 97),
                                mi_tables.FEATURES)
  np.testing.assert_allclose(many['mi'], one['mi'], rtol=1e-10, atol=1e-14)


def test_flush_threshold_does_not_change_the_result(monkeypatch):
  batches = mi_tables.correlated_batches(800, 100)
  expected = counting.compute_local(batches, mi_tables.FEATURES)
  monkeypatch.setattr(counting, 'FLUSH_SIZE', 10)
  got = counting.compute_local(batches, mi_tables.FEATURES)
  np.testing.assert_allclose(got['mi'], expected['mi'], rtol=1e-12)


def test_log_weights_equal_repeated_items():
  # Weighting an item by its count = repeating its row that many times.
  cols = _dependent_columns(300, 3)
  weights = np.random.default_rng(3).integers(0, 4, 300).astype(np.float64)
  feats = [('item_id', 'id')] + [(n, 'categorical') for n in cols]
  rb = _categorical_batches(cols, 300)[0]
  weighted = counting.compute_local([rb], feats, weights=[weights])
  repeated_rows = np.repeat(np.arange(300), weights.astype(int))
  repeated = counting.compute_local([rb.take(pa.array(repeated_rows))],
                                    feats[1:])
  np.testing.assert_allclose(np.array(weighted['mi'])[1:, 1:],
                             repeated['mi'], rtol=1e-12)
  p = weights[weights > 0] / weights.sum()
  assert weighted['entropy'][0] == pytest.approx(-(p * np.log(p)).sum())


def test_synthetic_top_partner_is_in_its_group(tmp_path):
  # The real synthetic generator's items, kinds from its annotated schema.
  synthetic.generate(str(tmp_path / 'data'), num_items=3000, num_users=20,
                     num_events=100, seed=0)
  config = features_lib.load_feature_config(schemas.resolve('synthetic'))
  feats = [(f.name, f.kind) for f in config.item_features]
  table = pa_csv.read_csv(
      str(tmp_path / 'data' / contract.ITEMS_CSV),
      read_options=pa_csv.ReadOptions(block_size=1 << 16),
      convert_options=pa_csv.ConvertOptions(
          column_types={n: pa.string() for n, _ in feats},
          strings_can_be_null=True))
  out = counting.compute_local(table.to_batches(), feats)
  names, nmi = out['features'], np.array(out['normalized_mi'])
  assert names == config.item_feature_names
  for group in synthetic.CORRELATED_GROUPS:
    for name in group:
      i = names.index(name)
      row = nmi[i].copy()
      row[[0, i]] = -1  # neither itself nor the item id
      assert names[int(np.argmax(row))] in group, (name, dict(zip(names, row)))


def test_table_size_limit_names_the_largest_feature():
  feats = [('a', 'categorical'), ('b', 'categorical')]
  batch = _categorical_batches({'a': np.arange(50), 'b': np.arange(50)}, 50)[0]
  stats = encoders_lib.add_to_stats(encoders_lib.new_stats(feats),
                                    parsing.parse_batch(batch, feats))
  encoders = encoders_lib.build_encoders(stats, feats, 100, 10)
  assert [e.cardinality for e in encoders] == [52, 52]  # 50 + OOV + missing
  counting.check_table_size(encoders, max_cells=52 * 52)
  with pytest.raises(ValueError, match=r'lower top_k.*a 52 values'):
    counting.check_table_size(encoders, max_cells=1000)

"""Non-ASCII ids (accents, CJK, emoji) survive every stage byte for byte.

`sslrec run` trains, evaluates and pushes a tiny synthetic catalog whose item
and user ids are not ASCII (MovieLens-1M has titles like `Misérables, Les
(1995)`); the pushed index SavedModel, loaded back, answers a query with ids
of that catalog, UTF-8 bytes equal to the CSV's. Before that, the same
catalog with the default minimum evidence is not blessed (exit 3, one line).
"""
import csv
import os

import pytest
import tensorflow as tf

from components.pusher import push
from pipeline import cli
from pipeline.data import synthetic
from tests.support import fixtures

pytestmark = pytest.mark.e2e

ITEM_NAME = 'Misérables, Les (1995) 東京 🎬 '
USER_NAME = 'usér 利用者 🙂 '


def _ids(prefix, n):
  name = ITEM_NAME if prefix == 'i' else USER_NAME
  return [f'{name}{i}' for i in range(n)]


def _rows(path):
  with open(path, newline='', encoding='utf-8') as f:
    return list(csv.DictReader(f))


def test_a_catalog_with_non_ascii_ids_is_trained_pushed_and_served(
    tmp_path, monkeypatch, capsys):
  data, output = str(tmp_path / 'data'), str(tmp_path / 'output')
  monkeypatch.setattr(synthetic, '_ids', _ids)
  synthetic.generate(data, num_items=120, num_users=40, num_events=1500,
                     seed=3)
  monkeypatch.undo()
  items = _rows(os.path.join(data, 'items', 'items.csv'))
  catalog = {row['item_id'].encode('utf-8') for row in items}
  assert any(b'\xc3\xa9' in i and '🎬'.encode() in i for i in catalog)
  flags = list(fixtures.TINY_FLAGS)
  evidence = flags.index('--min-eval-events')
  # The default minimum evidence refuses a catalog this small (exit 3).
  code = cli.main(['run', '--data', data, '--output', output,
                   *(flags[:evidence] + flags[evidence + 4:])])
  last = capsys.readouterr().err.strip().splitlines()[-1]
  assert code == 3, last
  assert last.startswith('sslrec run: not blessed, nothing pushed: NOT '
                         'blessed: too little evidence: '), last
  assert not os.path.exists(os.path.join(output, 'serving'))
  # Lowered for the test: the cached towers are blessed and pushed.
  code = cli.main(['run', '--data', data, '--output', output, *flags])
  assert code == 0, capsys.readouterr().err[-3000:]
  index_base = os.path.join(output, 'serving', 'index')
  [version] = push.existing_versions(index_base)
  index_fn = tf.saved_model.load(os.path.join(
      index_base, str(version))).signatures['serving_default']
  events = _rows(os.path.join(data, 'interactions', 'eval',
                              'interactions.csv'))[:3]
  _, specs = index_fn.structured_input_signature
  query = {}
  for name, spec in specs.items():
    values = [row[name] for row in events]
    if spec.dtype == tf.string:
      query[name] = tf.constant(values)
    elif spec.dtype.is_integer:
      query[name] = tf.constant([int(v or 0) for v in values], spec.dtype)
    else:
      query[name] = tf.constant([float(v) if v else float('nan')
                                 for v in values], spec.dtype)
  assert any(USER_NAME in row['user_id'] for row in events)
  result = index_fn(**query)
  # '' pads the places left when the corpus minus the history runs out.
  got = set(result['item_ids'].numpy().ravel().tolist()) - {b''}
  assert got and got <= catalog  # exact UTF-8 bytes of the catalog's ids

"""Tests for the test-file order of tests/support/fixtures.py."""
from tests.support import fixtures


def test_file_rank_puts_shared_builds_later():
  assert fixtures.file_rank(['tmp_path']) == 0
  assert fixtures.file_rank(['tiny_transformed', 'transform_runs']) == 1
  assert fixtures.file_rank(['release_runs']) == 2
  assert fixtures.file_rank(['transform_runs', 'gate_runs']) == 2


def test_collection_order_groups_files_by_rank_and_keeps_their_order():
  class Item:
    def __init__(self, path, *fixturenames):
      self.path, self.fixturenames = path, fixturenames

  items = [Item('e2e', 'cache_runs'), Item('a'), Item('m', 'transform_runs'),
           Item('b'), Item('a', 'release_runs'), Item('a', 'tmp_path')]
  fixtures.pytest_collection_modifyitems(items)
  assert [(i.path, i.fixturenames) for i in items] == [
      ('b', ()), ('m', ('transform_runs',)), ('e2e', ('cache_runs',)),
      ('a', ()), ('a', ('release_runs',)), ('a', ('tmp_path',))]

"""Tests of the vocabulary min-count experiment's pure parts (no training)."""
import numpy as np
import pytest

from bench import quality_stats
from bench import quality_vocab
from components.retrieval_evaluator import metrics
from components.retrieval_evaluator import summary

POP = metrics.popularity(np.array([10, 0, 3, 3, 1]))
TARGETS = np.array([2, 4, 4, 2, 0, 1, 3])
USERS = ['a', 'b', 'a', 'c', 'd', 'e', 'a']
SLICES = summary.event_slices(TARGETS, USERS, POP,
                              {'a': 5, 'b': 1, 'c': 2, 'e': 9})


def _record(data, variant, seed, ranks, ssl_loss=None):
  totals = summary.user_totals(np.array(ranks), SLICES, [10, 50, 100])
  return {'data': data, 'variant': variant, 'seed': seed,
          'ssl_loss': ssl_loss, 'metrics': summary.metrics_dict(totals),
          'user_totals': totals.select(quality_stats.COLUMNS).to_dict()}


def test_folder_names_settings_and_logs():
  assert quality_vocab.min_folder('kg_full_valid') == 'kg_full_valid_min2'
  assert quality_vocab.settings_data('kg_full_valid') == 'kg_full'
  assert quality_vocab.settings_data('full') == 'full'
  assert quality_vocab.log_of('full_valid') == 'valid.jsonl'
  assert quality_vocab.log_of('kg_full') == 'results.jsonl'


def test_pairs_parse_and_bad_ones_name_the_flag():
  assert quality_vocab.parse_pair('sequence@min:sequence') == (
      'sequence@min', 'sequence')
  with pytest.raises(ValueError, match="--pairs 'sequence': expected"):
    quality_vocab.parse_pair('sequence')


def test_min_count_records_pair_with_the_plain_folder():
  records = [_record('d', 's', 0, [0, 0, 1, 1, 2, 0, 0]),
             _record('d_min2', 's', 0, [3, 5, 1, 1, 2, 0, 0], ssl_loss=1.5),
             _record('d_min2', 's', 1, [3, 0, 1, 1, 2, 0, 0], ssl_loss=2.5),
             _record('other', 's', 0, [0, 0, 0, 0, 0, 0, 0])]
  relabelled = quality_vocab.relabel(records, 'd')
  assert [(r['data'], r['variant'], r['seed']) for r in relabelled] == [
      ('d', 's', 0), ('d', 's@min', 0), ('d', 's@min', 1)]
  lines = quality_vocab.table_lines(relabelled, 'd', [('s@min', 's')])
  # Seed 0 only (shared): s@min hits 5 of 7 events, s 3 of 7.
  row = lines[2]
  assert row.startswith(f'| s@min − s | {2 / 7:+.4f} [')
  assert '- `s@min`: overall' in '\n'.join(lines)
  assert 'final SSL loss 2.00 (2 seeds)' in '\n'.join(lines)


def test_commands_check_the_folder_kind():
  with pytest.raises(SystemExit):
    quality_vocab.main(['valid', '--work', '/nonexistent', '--data', 'kg_full'])
  with pytest.raises(SystemExit):
    quality_vocab.main(['run', '--work', '/nonexistent', '--data', 'full_valid'])

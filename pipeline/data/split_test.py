"""Tests for pipeline/data/split.py (protocols, history)."""
import pytest

from pipeline.data import split
from pipeline.data.events import Event as E


def _ids(rows):
  return [(e.user_id, e.item_id, e.timestamp, h) for e, h in rows]


def test_temporal_orders_by_time_then_user_then_item_and_builds_history():
  events = [E('2', 'b', 20), E('1', 'a', 10), E('10', 'c', 20), E('1', 'b', 30),
            E('2', 'a', 20), E('1', 'c', 40), E('2', 'c', 50),
            E('1', 'd', 60), E('1', 'e', 70), E('2', 'd', 80)]
  train, evaluation = split.split_events(events, 'temporal', 0.2,
                                         history_length=2)
  # Ties at t=20 go by user id (numeric: 2 before 10), then item id.
  assert _ids(train) == [
      ('1', 'a', 10, ''), ('2', 'a', 20, ''), ('2', 'b', 20, 'a'),
      ('10', 'c', 20, ''), ('1', 'b', 30, 'a'), ('1', 'c', 40, 'b|a'),
      ('2', 'c', 50, 'b|a'), ('1', 'd', 60, 'c|b')]
  # Eval = last 20% of 10 events; history spans train and is capped at 2.
  assert _ids(evaluation) == [('1', 'e', 70, 'd|c'), ('2', 'd', 80, 'c|b')]


def test_temporal_is_the_default_with_a_tenth_of_events():
  events = [E('1', str(i), i) for i in range(20)]
  assert split.split_events(events) == split.split_events(
      events, split.SplitProtocol.TEMPORAL, 0.1)
  assert len(split.split_events(events)[1]) == 2


def test_history_length_zero_gives_empty_history():
  events = [E('1', str(i), i) for i in range(10)]
  train, evaluation = split.split_events(events, 'temporal', 0.1,
                                         history_length=0)
  assert {h for _, h in train + evaluation} == {''}
  assert len(evaluation) == 1


def test_temporal_rounds_the_eval_count():
  events = [E('1', str(i), i) for i in range(100)]
  _, evaluation = split.split_events(events, 'temporal', 0.29, 5)
  assert len(evaluation) == 29  # 100 * 0.29 = 28.999999999999996


@pytest.mark.parametrize('fraction', [0.0, 1.0, -0.1, 1.5])
def test_temporal_rejects_bad_fraction(fraction):
  with pytest.raises(ValueError, match='eval_fraction'):
    split.split_events([E('1', 'a', 1)], 'temporal', fraction, 5)


def test_each_split_needs_an_event():
  with pytest.raises(ValueError, match='both splits'):
    split.split_events([E('1', 'a', 1), E('1', 'b', 2)], 'temporal', 0.1, 5)
  # Nobody has 3 events: leave-last-out has no eval event.
  with pytest.raises(ValueError, match='both splits'):
    split.split_events([E('1', 'a', 1), E('1', 'b', 2), E('2', 'a', 3)],
                       'leave-last-out')


def test_leave_last_out_takes_each_active_users_last_event():
  events = [E('1', 'a', 10), E('2', 'a', 11), E('1', 'b', 12), E('3', 'x', 13),
            E('2', 'b', 14), E('1', 'c', 15), E('3', 'y', 16), E('2', 'c', 17),
            E('1', 'd', 18), E('2', 'd', 18), E('3', 'z', 90)]
  train, evaluation = split.split_events(events, 'leave-last-out',
                                         history_length=2)
  # Users 1 and 2 have 4 events, user 3 has 3: each gives its last one, in
  # time order; ties at t=18 by user id. History: earlier events only.
  assert _ids(evaluation) == [('1', 'd', 18, 'c|b'), ('2', 'd', 18, 'c|b'),
                              ('3', 'z', 90, 'y|x')]
  assert len(train) == 8
  assert all(e.item_id not in ('d', 'z') for e, _ in train)


def test_leave_last_out_keeps_users_with_fewer_than_three_events_in_train():
  events = [E('1', 'a', 1), E('1', 'b', 2), E('1', 'c', 3),
            E('2', 'a', 4), E('2', 'b', 5), E('3', 'q', 6)]
  train, evaluation = split.split_events(events, 'leave-last-out')
  assert _ids(evaluation) == [('1', 'c', 3, 'b|a')]
  assert [(e.user_id, e.item_id) for e, _ in train] == [
      ('1', 'a'), ('1', 'b'), ('2', 'a'), ('2', 'b'), ('3', 'q')]


def test_leave_last_out_takes_no_fraction():
  with pytest.raises(ValueError, match='temporal split only'):
    split.split_events([E('1', 'a', 1)], 'leave-last-out', 0.1)


def test_protocol_is_a_str_enum_validated_in_one_place():
  assert split.protocol('leave-last-out') is split.SplitProtocol.LEAVE_LAST_OUT
  assert split.protocol(split.SplitProtocol.TEMPORAL) == 'temporal'
  assert split.NAMES == ('temporal', 'leave-last-out')
  with pytest.raises(ValueError, match=r"split must be one of \['temporal', "
                     r"'leave-last-out'\], got 'random'"):
    split.split_events([E('1', 'a', 1)], 'random')


def test_info():
  assert split.info('temporal', None) == {'split': 'temporal',
                                          'eval_fraction': 0.1}
  assert split.info('leave-last-out', None) == {'split': 'leave-last-out',
                                                'min_user_events': 3}


def test_plan_streams_rows_in_time_order_with_the_split_flag():
  events = [E('1', str(i), 10 - i) for i in range(10)]
  plan = split.plan(events, 'temporal', 0.3, history_length=2)
  assert (plan.num_train, plan.num_eval) == (7, 3)
  rows = plan.rows()
  assert next(rows) == (E('1', '9', 1), '', False)  # a generator, lazily
  assert [(e.item_id, h, ev) for e, h, ev in rows][-2:] == [
      ('1', '2|3', True), ('0', '1|2', True)]  # most recent first
  assert split.split_events(events, 'temporal', 0.3, 2) == (
      [(e, h) for e, h, ev in plan.rows() if not ev],
      [(e, h) for e, h, ev in plan.rows() if ev])

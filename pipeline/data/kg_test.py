"""Tests for pipeline/data/kg.py on hand-made .link and .kg tables."""
import pytest

from pipeline.data import atomic
from pipeline.data import kg

LINK = ('item_id:token\tentity_id:token\n'
        '1\tm.a\n'
        '2\tm.b\n'
        '3\tm.c\n')
KG = ('head_id:token\trelation_id:token\ttail_id:token\n'
      'm.a\tfilm.film.actor\tp.x\n'
      'm.a\tfilm.film.actor\tp.y\n'
      'm.a\tfilm.film.actor\tp.z\n'
      'm.b\tfilm.film.actor\tp.y\n'
      'm.c\tfilm.film.actor\tp.z\n'
      'm.c\tfilm.film.actor\tp.y\n'
      'm.a\tfilm.film.actor\tp.x\n'        # a repeated triple counts once
      'p.y\tfilm.actor.film\tm.a\n'        # reverse direction: head not an item
      'm.b\tfilm.actor.film\tm.a\n'        # an item head, but another type
      'm.a\tfilm.film.sequel\tm.b\n'
      'm.b\tfilm.film.prequel\tm.a\n'
      'd.q\tfilm.director.film\tm.c\n'
      'm.c\tfilm.film.directed_by\td.q\n')


def _tables(link=LINK, triples=KG):
  return atomic.parse(link, 't.link'), atomic.parse(triples, 't.kg')


def test_forward_relations_of_the_item_type_become_columns():
  link, triples = _tables()
  entities = kg.read_links(link, {'1', '2', '3', '4'}, 't.item')
  columns, values = kg.item_features(triples, entities, max_values=2)
  # film.actor.film and film.director.film are reverse relations: dropped.
  assert columns == {'kg_actor': 'film.film.actor',
                     'kg_directed_by': 'film.film.directed_by',
                     'kg_prequel': 'film.film.prequel',
                     'kg_sequel': 'film.film.sequel'}
  # Actors by corpus frequency (p.y in 3 movies, p.z in 2, p.x in 1), cap 2.
  assert values == {
      '1': {'kg_actor': 'p.y|p.z', 'kg_sequel': 'm.b'},
      '2': {'kg_actor': 'p.y', 'kg_prequel': 'm.a'},
      '3': {'kg_actor': 'p.y|p.z', 'kg_directed_by': 'd.q'}}
  _, values = kg.item_features(triples, entities, max_values=10)
  assert values['1']['kg_actor'] == 'p.y|p.z|p.x'


def test_an_entity_linked_to_two_items_gives_both_its_values():
  link, triples = _tables(LINK + '4\tm.a\n')
  entities = kg.read_links(link, {'1', '2', '3', '4'}, 't.item')
  _, values = kg.item_features(triples, entities)
  assert values['4'] == values['1']


def test_relations_without_dots_are_all_kept_and_names_stay_unique():
  link, _ = _tables()
  triples = atomic.parse(
      'head_id:token\trelation_id:token\ttail_id:token\n'
      'm.a\tstars\tx\nm.b\ta.name\ty\nm.b\tb.name\tz\n', 't.kg')
  columns, _ = kg.item_features(triples, kg.read_links(link, {'1', '2', '3'},
                                                       't.item'))
  assert columns == {'kg_stars': 'stars'}  # '' is the commonest head type
  triples = atomic.parse(
      'head_id:token\trelation_id:token\ttail_id:token\n'
      'm.a\tx.name\tx\nm.b\tx.name\ty\n', 't.kg')
  columns, _ = kg.item_features(triples, kg.read_links(link, {'1', '2', '3'},
                                                       't.item'))
  assert columns == {'kg_name': 'x.name'}
  assert kg._column_names(['a.b.name', 'a.c.name', 'a.b.x']) == {
      'a.b.name': 'kg_a_b_name', 'a.c.name': 'kg_a_c_name', 'a.b.x': 'kg_x'}


def test_link_errors_name_file_line_and_field():
  link, _ = _tables(LINK + '9\tm.z\n')
  with pytest.raises(ValueError, match=r"t\.link line 5: field item_id '9' is "
                     r"not in t\.item"):
    kg.read_links(link, {'1', '2', '3'}, 't.item')
  link, _ = _tables(LINK + '1\tm.z\n')
  with pytest.raises(ValueError, match=r"t\.link line 5: field item_id '1' is "
                     'linked twice'):
    kg.read_links(link, {'1', '2', '3'}, 't.item')
  link = atomic.parse('item_id:token\tentity:token\n', 't.link')
  with pytest.raises(ValueError, match=r"t\.link: header lacks columns "
                     r"\['entity_id'\]"):
    kg.read_links(link, {'1'}, 't.item')


def test_kg_errors():
  link, triples = _tables(triples=KG + 'm.a\tfilm.film.genre\tx|y\n')
  entities = kg.read_links(link, {'1', '2', '3'}, 't.item')
  with pytest.raises(ValueError, match=r"t\.kg line 15: field tail_id 'x\|y'"):
    kg.item_features(triples, entities)
  with pytest.raises(ValueError, match='must be >= 1'):
    kg.item_features(triples, entities, max_values=0)

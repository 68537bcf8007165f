"""Synthetic retrieval data with known feature correlations and a long tail.

Items carry two groups of strongly dependent features and three independent
ones (`CORRELATED_GROUPS`, `INDEPENDENT_FEATURES`):

  country -> language      the country's language with probability 0.9
  category -> subcategory  one of the category's own 4 subcategories w.p. 0.95
  color, price, tags       independent of everything (tags: 1-3 of 12 values;
                           price: log-normal, missing in `missing_fraction`)

Item popularity follows a Zipf law (weight 1 / rank**zipf_exponent over a
random ranking). Users have a `segment` and an `age`; each user has a favourite
category (drawn mostly from two categories tied to the segment) and a favourite
language (drawn from a distribution that depends on the age band). A user picks
item i with probability proportional to

  popularity_i * exp(CATEGORY_AFFINITY [category_i = favourite category]
                     + LANGUAGE_AFFINITY [language_i = favourite language])

so a query tower that sees segment, age, user id and history can learn whom
an item suits. Timestamps are uniform over `span_days`; the split and the
history follow the shared contract (pipeline/data/split.py). Everything is
a function of `seed`.
"""
from typing import Any, Dict, List, Optional

import numpy as np

from pipeline.data import contract
from pipeline.data import split as split_lib
from pipeline.errors import UserError

NAME = 'synthetic'
SCHEMAS = 'synthetic'

CORRELATED_GROUPS = (('country', 'language'), ('category', 'subcategory'))
INDEPENDENT_FEATURES = ('color', 'price', 'tags')
ITEM_FEATURES = ('country', 'language', 'category', 'subcategory', 'color',
                 'price', 'tags')
USER_FEATURES = ('segment', 'age')

COUNTRY_LANGUAGE = {'us': 'en', 'gb': 'en', 'fr': 'fr', 'de': 'de', 'es': 'es',
                    'mx': 'es', 'jp': 'ja', 'br': 'pt'}
LANGUAGES = ('de', 'en', 'es', 'fr', 'ja', 'pt')
CATEGORIES = ('books', 'games', 'movies', 'music', 'news', 'sports')
SUBCATEGORIES_PER_CATEGORY = 4
COLORS = ('black', 'blue', 'green', 'orange', 'purple', 'red', 'white',
          'yellow')
TAGS = tuple(f'tag{i:02d}' for i in range(12))
SEGMENTS = ('a', 'b', 'c', 'd')

LANGUAGE_KEEP = 0.9  # P(language = the country's language)
SUBCATEGORY_KEEP = 0.95  # P(subcategory within the item's category)
SEGMENT_KEEP = 0.7  # P(favourite category among the segment's two)
CATEGORY_AFFINITY = 2.0
LANGUAGE_AFFINITY = 1.5
START_TIMESTAMP = 1_600_000_000

# Age bands (upper bounds) and the favourite-language weights within each.
_AGE_BANDS = (30, 50, 200)
_BAND_LANGUAGE_WEIGHTS = np.array([
    # de   en   es   fr   ja   pt
    [0.05, 0.45, 0.05, 0.05, 0.35, 0.05],
    [0.25, 0.30, 0.05, 0.30, 0.05, 0.05],
    [0.05, 0.10, 0.40, 0.10, 0.05, 0.30],
])


def _subcategories(category: str) -> List[str]:
  return [f'{category}-{j}' for j in range(SUBCATEGORIES_PER_CATEGORY)]


def _ids(prefix: str, n: int) -> List[str]:
  width = len(str(n - 1))
  return [f'{prefix}{i:0{width}d}' for i in range(n)]


def _check(name: str, value: int, minimum: int) -> None:
  if int(value) != value or value < minimum:
    raise UserError(f'{name} must be an integer >= {minimum}, got {value!r}')


def _items(rng: np.random.Generator, num_items: int, missing_fraction: float
           ) -> Dict[str, List[str]]:
  """Item feature columns, each a list of `num_items` cell texts."""
  countries = list(COUNTRY_LANGUAGE)
  country = rng.choice(countries, num_items)
  keep = rng.random(num_items) < LANGUAGE_KEEP
  language = np.where(keep, [COUNTRY_LANGUAGE[c] for c in country],
                      rng.choice(LANGUAGES, num_items))
  category = rng.choice(CATEGORIES, num_items)
  all_subcategories = [s for c in CATEGORIES for s in _subcategories(c)]
  own = [_subcategories(c)[j] for c, j in
         zip(category, rng.integers(0, SUBCATEGORIES_PER_CATEGORY, num_items))]
  keep = rng.random(num_items) < SUBCATEGORY_KEEP
  subcategory = np.where(keep, own, rng.choice(all_subcategories, num_items))
  color = rng.choice(COLORS, num_items)
  price = np.exp(rng.normal(3.0, 0.8, num_items))
  missing = rng.random(num_items) < missing_fraction
  num_tags = rng.integers(1, 4, num_items)
  shuffled = np.argsort(rng.random((num_items, len(TAGS))), axis=1)
  tags = ['|'.join(sorted(TAGS[t] for t in row[:n]))
          for row, n in zip(shuffled, num_tags)]
  return {
      'country': list(country), 'language': list(language),
      'category': list(category), 'subcategory': list(subcategory),
      'color': list(color),
      'price': ['' if m else f'{p:.2f}' for p, m in zip(price, missing)],
      'tags': tags,
  }


def _favourites(rng: np.random.Generator, segment: np.ndarray, age: np.ndarray
                ) -> np.ndarray:
  """[num_users, 2] int: favourite category index, favourite language index."""
  num_users = len(segment)
  tied = np.stack([segment % len(CATEGORIES),
                   (segment + len(SEGMENTS)) % len(CATEGORIES)], axis=1)
  pick = tied[np.arange(num_users), rng.integers(0, 2, num_users)]
  keep = rng.random(num_users) < SEGMENT_KEEP
  category = np.where(keep, pick, rng.integers(0, len(CATEGORIES), num_users))
  band = np.searchsorted(_AGE_BANDS, age, side='right')
  cumulative = np.cumsum(_BAND_LANGUAGE_WEIGHTS[band], axis=1)
  language = (rng.random((num_users, 1)) > cumulative).sum(axis=1)
  return np.stack([category, np.minimum(language, len(LANGUAGES) - 1)], axis=1)


def generate(out_dir: str, num_items: int, num_users: int, num_events: int,
             seed: int, *,
             split: split_lib.SplitProtocol = split_lib.DEFAULT_SPLIT,
             eval_fraction: Optional[float] = None,
             history_length: int = split_lib.DEFAULT_HISTORY_LENGTH,
             zipf_exponent: float = 1.0, missing_fraction: float = 0.02,
             span_days: int = 90, force: bool = False) -> Dict[str, Any]:
  """Writes a synthetic dataset in the contract layout to `out_dir`.

  Args:
    out_dir: dataset folder to create.
    num_items: corpus size.
    num_users: number of users (users drawing no event are left out).
    num_events: number of interactions.
    seed: random seed; equal arguments give byte-identical files.
    split: the split protocol (pipeline/data/split.py).
    eval_fraction: temporal split: the last fraction of events forming the
      eval split (None = the default).
    history_length: cap on the number of previous items in `history`.
    zipf_exponent: popularity weight of the item of rank r is 1 / r**exponent.
    missing_fraction: fraction of items whose price is missing (empty cell).
    span_days: timestamps are uniform over this many days.
    force: replace a non-empty `out_dir`.

  Returns:
    The dataset.json content.
  """
  _check('num_items', num_items, 1)
  _check('num_users', num_users, 1)
  _check('num_events', num_events, 2)
  _check('span_days', span_days, 1)
  if zipf_exponent < 0:
    raise UserError(f'zipf_exponent must be >= 0, got {zipf_exponent}')
  if not 0.0 <= missing_fraction < 1.0:
    raise UserError(f'missing_fraction must be in [0, 1), got '
                     f'{missing_fraction}')
  split_lib.check_args(split, eval_fraction, history_length)
  contract.check_out_dir(out_dir, force)
  rng = np.random.default_rng(seed)

  item_ids = _ids('i', num_items)
  columns = _items(rng, num_items, missing_fraction)
  items = [dict({'item_id': item_id}, **{f: columns[f][i] for f in columns})
           for i, item_id in enumerate(item_ids)]
  rank = rng.permutation(num_items) + 1
  popularity = 1.0 / rank.astype(np.float64) ** zipf_exponent

  user_ids = _ids('u', num_users)
  segment = rng.integers(0, len(SEGMENTS), num_users)
  age = rng.integers(18, 71, num_users)
  users = {u: {'segment': SEGMENTS[s], 'age': str(a)}
           for u, s, a in zip(user_ids, segment, age)}
  favourite = _favourites(rng, segment, age)

  activity = rng.lognormal(0.0, 0.5, num_users)
  event_user = rng.choice(num_users, num_events, p=activity / activity.sum())
  event_item = np.empty(num_events, dtype=np.int64)
  item_category = np.array([CATEGORIES.index(c) for c in columns['category']])
  item_language = np.array([LANGUAGES.index(l) for l in columns['language']])
  event_favourite = favourite[event_user]
  for fav_category, fav_language in sorted({tuple(f) for f in event_favourite}):
    chosen = np.flatnonzero((event_favourite[:, 0] == fav_category)
                            & (event_favourite[:, 1] == fav_language))
    weight = popularity * np.exp(
        CATEGORY_AFFINITY * (item_category == fav_category)
        + LANGUAGE_AFFINITY * (item_language == fav_language))
    event_item[chosen] = rng.choice(num_items, len(chosen),
                                    p=weight / weight.sum())
  timestamps = START_TIMESTAMP + rng.integers(0, span_days * 86400, num_events)
  events = [contract.Event(user_ids[u], item_ids[i], int(t))
            for u, i, t in zip(event_user, event_item, timestamps)]

  return contract.write_dataset(
      out_dir, name=NAME, schemas_name=SCHEMAS, items=items, users=users,
      events=events, split=split, eval_fraction=eval_fraction,
      history_length=history_length, force=force,
      extra_info={'seed': seed, 'zipf_exponent': zipf_exponent,
                  'correlated_groups': [list(g) for g in CORRELATED_GROUPS]})

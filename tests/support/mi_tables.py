"""Small item tables for the mutual information tests (record batches as TFXIO
yields them: one large_list column per feature, 0 or 1 value per row)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import pyarrow as pa
from tensorflow_metadata.proto.v0 import schema_pb2

# Correlated groups of `correlated_items`, same idea as pipeline/data/synthetic:
# country -> language (kept w.p. 0.9), category -> subcategory (w.p. 0.95);
# color, price and tags independent of everything.
GROUPS = (('country', 'language'), ('category', 'subcategory'))
FEATURES = (('item_id', 'id'), ('country', 'categorical'),
            ('language', 'categorical'), ('category', 'categorical'),
            ('subcategory', 'categorical'), ('color', 'categorical'),
            ('price', 'numeric'), ('tags', 'multi_valued'))


def items_schema(features=FEATURES, float_features=('price',),
                 ignored=()) -> schema_pb2.Schema:
  """An annotated items schema (`sslrec:<kind>` tags) of `features`."""
  schema = schema_pb2.Schema()
  for name, kind in list(features) + [(n, 'ignore') for n in ignored]:
    feature = schema.feature.add(name=name)
    feature.type = (schema_pb2.FLOAT if name in float_features
                    else schema_pb2.BYTES)
    feature.annotation.tag.append(f'sslrec:{kind}')
  return schema


def list_column(cells: Sequence, value_type: pa.DataType) -> pa.Array:
  """A large_list column; None or '' cells are missing (no value)."""
  rows = [[] if c is None or (isinstance(c, (str, bytes)) and not c) else
          [c.encode() if isinstance(c, str) else c] for c in cells]
  return pa.array(rows, pa.large_list(value_type))


def record_batch(columns: Dict[str, Sequence],
                 types: Optional[Dict[str, pa.DataType]] = None
                 ) -> pa.RecordBatch:
  types = types or {}
  arrays, names = [], []
  for name, cells in columns.items():
    names.append(name)
    arrays.append(list_column(cells, types.get(name, pa.large_binary())))
  return pa.RecordBatch.from_arrays(arrays, names)


def correlated_items(num_items: int, seed: int = 0) -> Dict[str, List]:
  """Item columns (cell values, '' = missing) with known dependence."""
  rng = np.random.default_rng(seed)
  countries = ['us', 'gb', 'fr', 'de', 'es', 'mx', 'jp', 'br']
  lang_of = {'us': 'en', 'gb': 'en', 'fr': 'fr', 'de': 'de', 'es': 'es',
             'mx': 'es', 'jp': 'ja', 'br': 'pt'}
  languages = sorted(set(lang_of.values()))
  categories = ['books', 'games', 'movies', 'music', 'news', 'sports']
  country = rng.choice(countries, num_items)
  language = np.where(rng.random(num_items) < 0.9,
                      [lang_of[c] for c in country],
                      rng.choice(languages, num_items))
  category = rng.choice(categories, num_items)
  own = [f'{c}-{j}' for c, j in zip(category, rng.integers(0, 4, num_items))]
  every = [f'{c}-{j}' for c in categories for j in range(4)]
  subcategory = np.where(rng.random(num_items) < 0.95, own,
                         rng.choice(every, num_items))
  tags = ['|'.join(sorted(rng.choice([f't{i}' for i in range(12)], n,
                                     replace=False)))
          for n in rng.integers(1, 4, num_items)]
  price = np.exp(rng.normal(3.0, 0.8, num_items))
  return {
      'item_id': [f'i{i}' for i in range(num_items)],
      'country': list(country), 'language': list(language),
      'category': list(category), 'subcategory': list(subcategory),
      'color': list(rng.choice(['red', 'green', 'blue', 'black'], num_items)),
      'price': [None if m else float(p) for p, m in
                zip(price, rng.random(num_items) < 0.05)],
      'tags': tags,
  }


def correlated_batches(num_items: int, batch_size: int,
                       seed: int = 0) -> List[pa.RecordBatch]:
  rb = record_batch(correlated_items(num_items, seed),
                    {'price': pa.float32()})
  return [rb.slice(s, batch_size) for s in range(0, num_items, batch_size)]

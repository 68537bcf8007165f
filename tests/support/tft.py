"""Real TF Transform runs on tiny in-memory data, for the models' tests.

`tiny_rows` makes raw rows in the MovieLens-100K schema's columns;
`transform` runs the project's preprocessing_fn through tft_beam
(DirectRunner) and writes a TFX-Transform-like output folder: transform_fn/,
transformed_metadata/ and gzip TFRecords of transformed examples;
`transform_all` runs several such jobs in one Beam pipeline (`prepare`'s
`also`), as the session fixture `transform_runs` does for every models/ test.
"""
import functools
import os
import pathlib
import random
import tempfile
from typing import Any, Dict, List, Sequence, Tuple

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata
from tensorflow_transform.tf_metadata import metadata_io
from tensorflow_transform.tf_metadata import schema_utils

import schemas
from models import features as F

GENRES = ('Action', 'Comedy', 'Drama', 'Horror', 'Romance')


def schema_dir() -> str:
  return schemas.resolve('movielens-100k')


def tiny_rows(num_items: int = 30, num_users: int = 10, num_events: int = 300,
              seed: int = 0) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
  """Raw items and interactions (values as the CSV ExampleGen would emit)."""
  rng = random.Random(seed)
  items = []
  for i in range(num_items):
    items.append({
        'item_id': f'i{i}',
        'title': f'Movie {i} the {rng.choice(["big", "small", "red"])}',
        'year': None if i % 7 == 3 else float(1950 + i),
        'genres': None if i % 11 == 5 else '|'.join(
            sorted(rng.sample(GENRES, rng.randint(1, 2)))),
    })
  users = {f'u{u}': (float(rng.randint(18, 60)), rng.choice('MF'),
                     rng.choice(['student', 'engineer', 'artist']),
                     rng.choice(['551', 'T8H', '100'])) for u in range(num_users)}
  history: Dict[str, List[str]] = {}
  interactions = []
  for t in range(num_events):
    user = f'u{rng.randrange(num_users)}'
    item = f'i{min(num_items - 1, int(rng.paretovariate(1.0)) - 1)}'
    age, gender, occupation, zip_prefix = users[user]
    past = history.setdefault(user, [])
    interactions.append({
        'user_id': user, 'item_id': item, 'timestamp': 880000000 + t,
        'age': age, 'gender': gender, 'occupation': occupation,
        'zip_prefix': zip_prefix,
        'history': '|'.join(past[::-1][:20]) or None})
    past.append(item)
  return items, interactions


def _instance(row: Dict[str, Any], spec) -> Dict[str, Any]:
  out = {}
  for name, feature_spec in spec.items():
    value = row.get(name)
    if isinstance(value, str):
      value = value.encode()
    if isinstance(feature_spec, tf.io.FixedLenFeature):
      out[name] = [value]
    else:
      out[name] = [] if value is None else [value]
  return out


def transform(rows: List[Dict[str, Any]], schema_file: str, preprocessing_fn,
              custom_config: Dict[str, Any], out_dir: str
              ) -> tft.TFTransformOutput:
  """Analyzes and transforms `rows`; writes out_dir/transformed/*.gz."""
  return transform_all([(rows, schema_file, preprocessing_fn, custom_config,
                         out_dir)])[0]


def transform_all(jobs: Sequence[Tuple[List[Dict[str, Any]], str, Any,
                                       Dict[str, Any], str]]
                  ) -> List[tft.TFTransformOutput]:
  """`transform(*job)` of each job, all in one Beam pipeline.

  One pipeline for several datasets saves a pipeline's fixed cost (the
  DirectRunner's translation and start) per dataset; each job writes only
  under its own out_dir.
  """
  for job in jobs:
    os.makedirs(job[4], exist_ok=True)
  raw_metadata = []
  with beam.Pipeline() as p:
    for i, job in enumerate(jobs):
      # A temp dir of each job's own: TFT names the vocabulary files it writes
      # there after the feature (title, item_id, ...), so two jobs of one
      # preprocessing_fn in one folder would read each other's vocabularies.
      # TFT reads the Context when a job is added to the pipeline.
      with tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=job[4])):
        raw_metadata.append(_add_transform(p, f'{i}/', *job))
  outputs = []
  for job, metadata in zip(jobs, raw_metadata):
    # TFX Transform also writes the raw metadata beside transform_fn/.
    metadata_io.write_metadata(metadata, os.path.join(job[4], 'metadata'))
    outputs.append(tft.TFTransformOutput(job[4]))
  return outputs


def _add_transform(p, label, rows, schema_file, preprocessing_fn,
                   custom_config, out_dir) -> dataset_metadata.DatasetMetadata:
  """Adds one job's analyze, transform and writes to `p`; its raw metadata."""
  schema = F.load_schema(schema_file)
  spec = schema_utils.schema_as_feature_spec(schema).feature_spec
  raw_metadata = dataset_metadata.DatasetMetadata(schema)
  fn = functools.partial(preprocessing_fn, custom_config=custom_config)
  raw = p | label + 'Rows' >> beam.Create([_instance(r, spec) for r in rows])
  (transformed, metadata), transform_fn = (
      (raw, raw_metadata) | label + 'AnalyzeAndTransform' >>
      tft_beam.AnalyzeAndTransformDataset(fn))
  coder = tft.coders.ExampleProtoCoder(metadata.schema)
  _ = (transformed | label + 'Encode' >> beam.Map(coder.encode)
       | label + 'Write' >> beam.io.WriteToTFRecord(
           os.path.join(out_dir, 'transformed', 'part'),
           file_name_suffix='.gz'))
  _ = transform_fn | label + 'WriteTransformFn' >> tft_beam.WriteTransformFn(
      out_dir)
  return raw_metadata


def transformed_files(out_dir: str) -> List[str]:
  return [os.path.join(out_dir, 'transformed', '*.gz')]


# The hand-made rows of models/preprocessing_test.py (few enough to check
# every transformed value by hand), transformed with 2 numeric buckets in the
# same Beam pipeline as the tiny rows (tests/support/fixtures.py).
HAND_ITEMS = [
    {'item_id': 'a', 'title': 'Toy Story', 'year': 1995.0, 'genres': 'Animation|Comedy'},
    {'item_id': 'b', 'title': 'TOY soldiers!', 'year': 1991.0, 'genres': 'Action'},
    {'item_id': 'c', 'title': 'Heat', 'year': None, 'genres': None},
    {'item_id': 'd', 'title': 'Heat', 'year': 1960.0, 'genres': 'Comedy|Action'},
]
HAND_EVENTS = [
    {'user_id': 'u1', 'item_id': 'a', 'timestamp': 1, 'age': 20.0, 'gender': 'F',
     'occupation': 'artist', 'zip_prefix': '551', 'history': None},
    {'user_id': 'u1', 'item_id': 'b', 'timestamp': 2, 'age': 20.0, 'gender': 'F',
     'occupation': 'artist', 'zip_prefix': '551', 'history': 'a'},
    {'user_id': 'u2', 'item_id': 'c', 'timestamp': 3, 'age': 40.0, 'gender': 'M',
     'occupation': 'writer', 'zip_prefix': 'T8H', 'history': 'b|a'},
]
HAND_NUMERIC_BUCKETS = 2


def dataset_jobs(items: List[Dict[str, Any]],
                 interactions: List[Dict[str, Any]], transform_config,
                 root) -> List[Tuple[List[Dict[str, Any]], str, Any,
                                     Dict[str, Any], str]]:
  """`transform_all` jobs of the project's two preprocessing_fns.

  `items` and `interactions` (raw rows) are transformed with
  `transform_config` (a models.config.TransformConfig) into root/items and
  root/interactions.
  """
  from models import preprocessing  # pylint: disable=g-import-not-at-top
  root = str(root)
  custom_config = {'features': F.load_feature_config(schema_dir()).to_dict(),
                   'transform': transform_config.to_dict()}
  return [
      (items, os.path.join(schema_dir(), F.ITEMS_SCHEMA_FILE),
       preprocessing.items_preprocessing_fn, custom_config,
       os.path.join(root, 'items')),
      (interactions, os.path.join(schema_dir(), F.INTERACTIONS_SCHEMA_FILE),
       preprocessing.interactions_preprocessing_fn, custom_config,
       os.path.join(root, 'interactions'))]


def prepare(root: str, transform_config=None, also=()) -> Dict[str, Any]:
  """Transforms `tiny_rows` under `root` and loads the item corpus.

  `transform_config`: a models.config.TransformConfig (default: the defaults).
  `also`: more `transform_all` jobs, run in the same Beam pipeline (each
  writes under its own folder, outside `root`).

  Returns `load(root)`.
  """
  from models.config import TransformConfig  # pylint: disable=g-import-not-at-top
  items, interactions = tiny_rows()
  transform_all(dataset_jobs(items, interactions,
                             transform_config or TransformConfig(), root)
                + list(also))
  return load(root)


def load(root: str) -> Dict[str, Any]:
  """What `prepare` wrote under `root`, read back (no Beam job).

  Returns a dict: root (pathlib.Path), fc (FeatureConfig), items, interactions
  (raw rows), item_tft, query_tft, corpus (data.ItemCorpus), files
  (transformed interaction files).
  """
  from models import data  # pylint: disable=g-import-not-at-top
  root = str(root)
  feature_config = F.load_feature_config(schema_dir())
  items, interactions = tiny_rows()
  item_tft = tft.TFTransformOutput(os.path.join(root, 'items'))
  query_tft = tft.TFTransformOutput(os.path.join(root, 'interactions'))
  corpus = data.load_corpus(transformed_files(os.path.join(root, 'items')),
                            item_tft, feature_config.item_features)
  return dict(root=pathlib.Path(root), fc=feature_config, items=items,
              interactions=interactions, item_tft=item_tft,
              query_tft=query_tft, corpus=corpus,
              files=transformed_files(os.path.join(root, 'interactions')))


def raw_inputs(rows: List[Dict[str, Any]], features) -> Dict[str, Any]:
  """Raw rows -> a serving signature's [batch] inputs (missing: NaN or '')."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  out = {}
  for f in features:
    values = [r[f.name] for r in rows]
    if f.dtype == 'float':
      out[f.name] = tf.constant([np.nan if v is None else v for v in values],
                                tf.float32)
    else:
      out[f.name] = tf.constant(['' if v is None else v for v in values])
  return out


def train_and_export(tiny: Dict[str, Any], root, config) -> Dict[str, Any]:
  """Trains `config` on `tiny` (the tiny_transformed fixture) under `root`.

  Returns a copy of `tiny` with root, feature_config, model, and both towers
  exported to root/query and root/item (TensorBoard logs in root/logs).
  """
  from models import export  # pylint: disable=g-import-not-at-top
  from models import training  # pylint: disable=g-import-not-at-top
  setup = dict(tiny, root=root, feature_config=tiny['fc'])
  fc = setup['fc']
  setup['model'] = training.train(
      fc, config, setup['query_tft'], setup['item_tft'], setup['corpus'],
      setup['files'], setup['files'], log_dir=str(root / 'logs'))
  export.export_query_tower(str(root / 'query'), setup['model'].query_tower,
                            setup['query_tft'], fc)
  export.export_item_tower(str(root / 'item'), setup['model'].item_tower,
                           setup['item_tft'], fc)
  return setup

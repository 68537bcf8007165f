"""Executor of MutualInformationGen: reads the item corpus with TFXIO, runs the
Beam computation of beam_transforms.py and writes mutual_information.json."""
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from absl import logging
import apache_beam as beam
from tfx import types
from tfx.components.util import tfxio_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.mutual_information import artifact
from components.mutual_information import beam_transforms
from components.mutual_information import schema_features
from components.mutual_information.weights import Weighting
from components.mutual_information.weights import check_weighting
from models import features as features_lib

# Keys of the component spec.
EXAMPLES_KEY = 'examples'
SCHEMA_KEY = 'schema'
INTERACTIONS_KEY = 'interactions'
OUTPUT_KEY = 'mutual_information'
FEATURE_NAMES_KEY = 'feature_names'
INCLUDE_ITEM_ID_KEY = 'include_item_id'
TOP_K_KEY = 'top_k'
NUM_BUCKETS_KEY = 'num_buckets'
WEIGHTING_KEY = 'weighting'
SPLITS_KEY = 'splits'
INTERACTIONS_SPLITS_KEY = 'interactions_splits'

DEFAULT_SPLITS = ('corpus',)
DEFAULT_INTERACTIONS_SPLITS = ('train',)
DEFAULT_TOP_K = 100
DEFAULT_NUM_BUCKETS = 10
# Rows per record batch: large, so per-batch overheads stay small.
BATCH_SIZE = 16384

_TELEMETRY_DESCRIPTORS = ['sslrec', 'MutualInformationGen']


def select_features(available: Sequence[Tuple[str, str]],
                    feature_names: Optional[Sequence[str]],
                    include_item_id: bool) -> List[Tuple[str, str]]:
  """The features to cover, in `available` order (the id first if kept)."""
  kinds = dict(available)
  if feature_names is not None:
    if features_lib.ITEM_ID in feature_names:
      raise ValueError(f'{FEATURE_NAMES_KEY} lists {features_lib.ITEM_ID!r}; '
                       f'use {INCLUDE_ITEM_ID_KEY} for the item id')
    unknown = [n for n in feature_names if n not in kinds]
    if unknown:
      raise ValueError(f'{FEATURE_NAMES_KEY}: {unknown} are not item features'
                       f' of the schema; item features: {list(kinds)}')
  chosen = []
  for name, kind in available:
    if kind == features_lib.ID:
      if include_item_id:
        chosen.append((name, kind))
    elif feature_names is None or name in feature_names:
      chosen.append((name, kind))
  return chosen


def _json_list(exec_properties: Dict[str, Any], key: str,
               default: Optional[Sequence[str]]) -> Optional[List[str]]:
  raw = exec_properties.get(key)
  if raw is None:
    return None if default is None else list(default)
  value = json.loads(raw) if isinstance(raw, str) else raw
  if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
    raise ValueError(f'{key} must be a JSON list of strings, got {raw!r}')
  return value


def _split_names(examples: types.Artifact, splits: Sequence[str],
                 key: str) -> List[str]:
  available = artifact_utils.decode_split_names(examples.split_names)
  missing = [s for s in splits if s not in available]
  if not splits or missing:
    raise ValueError(f'{key}: splits {missing or list(splits)} not in the '
                     f'examples artifact (splits: {available})')
  return list(splits)


def _read(pipeline: beam.Pipeline, examples: types.Artifact,
          splits: Sequence[str], label: str) -> beam.PCollection:
  """Record batches of the given splits, flattened into one PCollection."""
  reads = []
  for split in splits:
    tfxio = tfxio_utils.get_split_tfxio(
        examples=[examples], split=split,
        telemetry_descriptors=_TELEMETRY_DESCRIPTORS)
    reads.append(pipeline | f'Read{label}[{split}]' >> tfxio.BeamSource(
        batch_size=BATCH_SIZE))
  if len(reads) == 1:
    return reads[0]
  return reads | f'Flatten{label}' >> beam.Flatten()


class Executor(base_beam_executor.BaseBeamExecutor):
  """Computes pairwise mutual information between item features."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]],
         output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    """Writes `mutual_information.json` to the output artifact.

    Args:
      input_dict: `examples` (the item corpus), `schema` (the annotated items
        schema), optionally `interactions` (for weighting 'log').
      output_dict: `mutual_information`: one MutualInformation artifact.
      exec_properties: see component.MutualInformationGen.
    """
    self._log_startup(input_dict, output_dict, exec_properties)
    interactions = input_dict.get(INTERACTIONS_KEY) or []
    weighting = check_weighting(
        exec_properties.get(WEIGHTING_KEY) or Weighting.CORPUS,
        bool(interactions))
    top_k = int(exec_properties.get(TOP_K_KEY) or DEFAULT_TOP_K)
    num_buckets = int(exec_properties.get(NUM_BUCKETS_KEY) or
                      DEFAULT_NUM_BUCKETS)
    include_item_id = bool(exec_properties.get(INCLUDE_ITEM_ID_KEY, True))
    feature_names = _json_list(exec_properties, FEATURE_NAMES_KEY, None)
    examples = artifact_utils.get_single_instance(input_dict[EXAMPLES_KEY])
    splits = _split_names(
        examples, _json_list(exec_properties, SPLITS_KEY, DEFAULT_SPLITS),
        SPLITS_KEY)
    interactions_splits = None
    if weighting is Weighting.LOG:
      interactions = artifact_utils.get_single_instance(interactions)
      interactions_splits = _split_names(
          interactions, _json_list(exec_properties, INTERACTIONS_SPLITS_KEY,
                                   DEFAULT_INTERACTIONS_SPLITS),
          INTERACTIONS_SPLITS_KEY)

    schema_uri = artifact_utils.get_single_uri(input_dict[SCHEMA_KEY])
    schema = io_utils.SchemaReader().read(
        io_utils.get_only_uri_in_dir(schema_uri))
    features = select_features(
        schema_features.item_features(schema, schema_uri),
                               feature_names, include_item_id)
    params = {'include_item_id': include_item_id, 'splits': splits}
    if interactions_splits:
      params['interactions_splits'] = interactions_splits
    beam_transforms.check_params(features, top_k, num_buckets, weighting,
                                 bool(interactions_splits))

    output = artifact_utils.get_single_instance(output_dict[OUTPUT_KEY])
    path = artifact.file_path(output.uri)
    try:
      with self._make_beam_pipeline() as p:
        items = _read(p, examples, splits, 'Items')
        log = (_read(p, interactions, interactions_splits, 'Interactions')
               if interactions_splits else None)
        _ = (items
             | 'MutualInformation' >> beam_transforms.ComputeMutualInformation(
                 features, top_k=top_k, num_buckets=num_buckets,
                 weighting=weighting, interactions=log, params=params)
             | 'WriteOutput' >> beam.Map(beam_transforms.write_json, path))
    finally:
      for tmp in fileio.glob(f'{path}.tmp-*'):
        fileio.remove(tmp)
    result = artifact.load(output.uri)
    output.set_int_custom_property('num_items', result['num_items'])
    output.set_int_custom_property('num_features', len(result['features']))
    logging.info('Mutual information of %d features over %d items written to '
                 '%s', len(result['features']), result['num_items'], path)

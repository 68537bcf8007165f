"""The Beam computation of pairwise mutual information (no TFX imports).

Shared by the component's executor, `sslrec mi` and bench/. Input: a
PCollection of Arrow record batches (TFXIO `BeamSource` output or CSV blocks).

  record batches --ParseValues--> parsed batches (values split, weights set)
    pass 1: --CountValues (CombineFn)--> per-feature exact value mass /
            quantile sketch --BuildEncoders--> top-k vocabularies, bucket
            boundaries, the tables' mass resolution
    pass 2: --EncodeValues (encoders as side input)--> dense codes
            --CountPairs (CombineFn over the count tables)--> summed tables
    --ComputeMI--> the mutual_information.json dict (one element)

Every accumulator is a dense numpy array or an Arrow array, merged vectorized.
Sums are exact (fixed_point.py): the output is the same, to the byte, for any
bundling, worker count or merge order.
"""
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple
import uuid

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
import numpy as np
import pyarrow as pa

from components.mutual_information import counting
from components.mutual_information import encoders as encoders_lib
from components.mutual_information import fixed_point
from components.mutual_information import parsing
from components.mutual_information import schema_features
from components.mutual_information import sketches
from components.mutual_information import weights as weights_lib
from components.mutual_information.weights import Weighting
from components.mutual_information.weights import check_weighting
from models import features as features_lib



class _StatsCombineFn(beam.CombineFn):
  """Pass 1: value mass per categorical value, sketches of numeric values."""

  def __init__(self, features: Sequence[Tuple[str, str]], max_distinct: int,
               sketch_size: int):
    self._features = list(features)
    self._max_distinct, self._sketch_size = max_distinct, sketch_size

  def create_accumulator(self) -> encoders_lib.Stats:
    return encoders_lib.new_stats(self._features)

  def add_input(self, stats, batch: parsing.ParsedBatch):
    return encoders_lib.add_to_stats(stats, batch, self._max_distinct,
                                     self._sketch_size)

  def merge_accumulators(self, accumulators):
    return encoders_lib.merge_stats(list(accumulators), self._max_distinct,
                                    self._sketch_size)

  def compact(self, stats):
    return encoders_lib.compact_stats(stats, self._max_distinct)

  def extract_output(self, stats):
    return encoders_lib.compact_stats(stats, self._max_distinct)


class _CountsCombineFn(beam.CombineFn):
  """Pass 2: sums the joint count tables of all feature pairs."""

  def create_accumulator(self) -> Optional[counting.Counts]:
    return None  # sized by the first batch (cardinalities come with it)

  def add_input(self, counts, batch: counting.EncodedBatch):
    return counting.add_batch(counts, batch)

  def merge_accumulators(self, accumulators):
    return counting.merge_counts(list(accumulators))

  def compact(self, counts):
    return counts.flush() if counts is not None else None

  def extract_output(self, counts):
    return counts.flush() if counts is not None else None


class _IdCountsCombineFn(beam.CombineFn):
  """Interactions per item id (for `log` weighting)."""

  def create_accumulator(self) -> sketches.ValueCounts:
    return sketches.ValueCounts()

  def add_input(self, acc, record_batch: pa.RecordBatch):
    return acc.merge(weights_lib.count_ids(record_batch, features_lib.ITEM_ID))

  def merge_accumulators(self, accumulators):
    accumulators = list(accumulators)
    for other in accumulators[1:]:
      accumulators[0].merge(other)
    return accumulators[0]

  def compact(self, acc):
    return acc.compact()

  def extract_output(self, acc):
    return acc.compact()


def _parse_values(record_batch: pa.RecordBatch,
                  features: Sequence[Tuple[str, str]],
                  id_counts: Optional[sketches.ValueCounts] = None
                  ) -> parsing.ParsedBatch:
  weights = None
  if id_counts is not None:
    weights = weights_lib.lookup_weights(record_batch, features_lib.ITEM_ID,
                                         id_counts)
  return parsing.parse_batch(record_batch, features, weights)


def _build_encoders(stats: encoders_lib.Stats,
                    features: Sequence[Tuple[str, str]], top_k: int,
                    num_buckets: int, max_distinct: int
                    ) -> Tuple[List[encoders_lib.Encoder], int]:
  """The encoders and the tables' mass resolution (fixed_point.table_bits)."""
  encoders = encoders_lib.build_encoders(stats, features, top_k, num_buckets,
                                         max_distinct)
  counting.check_table_size(encoders)
  return encoders, fixed_point.table_bits(stats.total_weight)


def _encode_batch(batch: parsing.ParsedBatch,
                  plan: Tuple[List[encoders_lib.Encoder], int]
                  ) -> counting.EncodedBatch:
  encoders, mass_bits = plan
  return counting.encode_batch(batch, encoders, mass_bits)


def _compute_mi(counts: Optional[counting.Counts], names: Sequence[str],
                id_name: Optional[str], params: Dict[str, Any]):
  if counts is None:
    raise schema_features.DataError('the item corpus is empty: no items to '
                               'compute mutual information on')
  params = dict(params)
  if params.get('weighting') == Weighting.LOG.value:
    params['total_weight'] = counts.total_weight
  return counting.result(counts, names, id_name, params)


class ComputeMutualInformation(beam.PTransform):
  """Record batches of items -> one mutual_information.json dict.

  Args:
    features: (name, kind) of the features, in output order; an `id` kind
      feature is the item id (not counted, see counting.result; checked
      present). Kinds: schema_features.COUNTED_KINDS or id.
    top_k: categorical values kept per feature (the rest are one OOV value).
    num_buckets: quantile buckets per numeric feature.
    weighting: a weights.Weighting (or its string): CORPUS (each item counts
      once) or LOG (each item counts its number of rows in `interactions`).
    interactions: record batches of interactions with an `item_id` column;
      required for LOG.
    params: extra entries for the output's "params".
    max_distinct: distinct values per categorical-kind feature counted
      exactly; more stop the pipeline with a DataError naming the feature.
    sketch_size: distinct numeric values kept exactly (beyond: 0.1% bins).
  """

  def __init__(self, features: Sequence[Tuple[str, str]], top_k: int = 100,
               num_buckets: int = 10,
               weighting: Weighting = Weighting.CORPUS,
               interactions: Optional[beam.PCollection] = None,
               params: Optional[Dict[str, Any]] = None,
               max_distinct: int = sketches.DEFAULT_MAX_DISTINCT,
               sketch_size: int = sketches.DEFAULT_SKETCH_SIZE):
    super().__init__()
    for name, value in (('max_distinct', max_distinct),
                        ('sketch_size', sketch_size)):
      if not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be an integer >= 1, got {value!r}')
    self._max_distinct, self._sketch_size = max_distinct, sketch_size
    self._weighting = check_params(features, top_k, num_buckets, weighting,
                                   interactions is not None)
    self._features = [(name, kind) for name, kind in features]
    self._top_k, self._num_buckets = top_k, num_buckets
    self._interactions = interactions
    self._params = {
        'weighting': self._weighting.value, 'top_k': top_k,
        'num_buckets': num_buckets,
        'kinds': {name: kind for name, kind in self._features},
        **(params or {})}

  def expand(self, record_batches):
    ids = [n for n, k in self._features if k == features_lib.ID]
    counted = [(n, k) for n, k in self._features if k != features_lib.ID]
    id_counts = None
    if self._weighting is Weighting.LOG:
      id_counts = beam.pvalue.AsSingleton(
          self._interactions
          | 'CountInteractions' >> beam.CombineGlobally(_IdCountsCombineFn()))
    parsed = record_batches | 'ParseValues' >> beam.Map(
        _parse_values, self._features, id_counts)
    encoders = (
        parsed
        | 'CountValues' >> beam.CombineGlobally(
            _StatsCombineFn(self._features, self._max_distinct,
                            self._sketch_size))
        | 'BuildEncoders' >> beam.Map(_build_encoders, self._features,
                                      self._top_k, self._num_buckets,
                                      self._max_distinct))
    return (
        parsed
        | 'EncodeValues' >> beam.Map(_encode_batch,
                                     beam.pvalue.AsSingleton(encoders))
        | 'CountPairs' >> beam.CombineGlobally(_CountsCombineFn())
        | 'ComputeMI' >> beam.Map(_compute_mi, [n for n, _ in counted],
                                  ids[0] if ids else None, self._params))


def check_params(features: Sequence[Tuple[str, str]], top_k: int,
                 num_buckets: int, weighting,
                 has_interactions: bool) -> Weighting:
  """The Weighting; raises ValueError naming the bad parameter."""
  if not features:
    raise ValueError('no item features to compute mutual information on')
  names = [n for n, _ in features]
  if len(set(names)) != len(names):
    raise ValueError(f'features listed twice: {names}')
  for name, kind in features:
    if kind not in schema_features.COUNTED_KINDS + (features_lib.ID,):
      raise ValueError(f'feature {name!r} has kind {kind!r}; mutual '
                       'information counts '
                       f'{list(schema_features.COUNTED_KINDS)}'
                       f' and the id')
  if sum(k == features_lib.ID for _, k in features) > 1:
    raise ValueError('at most one id feature')
  if not isinstance(top_k, int) or top_k < 1:
    raise ValueError(f'top_k must be an integer >= 1, got {top_k!r}')
  if not isinstance(num_buckets, int) or num_buckets < 2:
    raise ValueError(f'num_buckets must be an integer >= 2, got '
                     f'{num_buckets!r}')
  return check_weighting(weighting, has_interactions)


def write_json(result: Dict[str, Any], path: str) -> str:
  """Writes `result` to a temporary file beside `path`, then renames it."""
  tmp = f'{path}.tmp-{uuid.uuid4().hex}'
  with FileSystems.create(tmp) as f:
    f.write(json.dumps(result, indent=1).encode('utf-8'))
  FileSystems.rename([tmp], [path])
  return path


def ranked_pairs(result: Dict[str, Any]) -> List[Tuple[str, str, float, float]]:
  """(feature a, feature b, normalized MI, MI) of every pair, best first."""
  names = result['features']
  nmi, mi = np.array(result['normalized_mi']), np.array(result['mi'])
  pairs = [(names[i], names[j], float(nmi[i, j]), float(mi[i, j]))
           for i in range(len(names)) for j in range(i + 1, len(names))]
  return sorted(pairs, key=lambda p: (-p[2], -p[3], p[0], p[1]))

"""Two-view augmentation of item features for the self-supervised task.

Pure TensorFlow and numpy, no TFX. Follows Yao et al., CIKM'21 (see
docs/ssl.md): stage 1 masks complementary feature sets, stage 2 drops values of
multi-valued features.

Stage 1, masking. A mask is a bool vector [k] over
`FeatureConfig.item_features` (item id first); True means "the item tower
replaces this feature's embedding by its learned default embedding". One mask
pair is drawn per batch and the two masks are complementary: every feature is
masked in exactly one view.
  * RFM: a random split, `k // 2` features masked in view 1, the rest in view 2.
  * CFM: a seed feature drawn uniformly, masked in view 1 together with its
    `k // 2` partners of highest mutual information; view 2 masks the rest.
Random draws take either a stateless seed (int tensor [2]; the trainer derives
it from the config seed and the step) or a `tf.random.Generator`; both work
inside `tf.function`.

Stage 2, value dropout: every value of a multi-valued / text feature is dropped
independently with probability `rate`, separately in each view.
"""
import collections
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import tensorflow as tf

from models import features as features_lib
from models.config import SslVariant

Seed = Union[tf.Tensor, Sequence[int], tf.random.Generator]
# The MutualInformation JSON matrix CFM ranks partners by: MI / sqrt(H_i H_j)
# (cfm_mask says why not raw MI).
MI_MATRIX = 'normalized_mi'

# Kinds whose values stage-2 dropout thins out (history is query-side only).
DROPOUT_KINDS = (features_lib.MULTI_VALUED, features_lib.TEXT)

View = collections.namedtuple('View', ['features', 'mask'])
View.__doc__ = """One augmented view: transformed features and a bool [k] mask (or None)."""


def _uniform(shape, seed: Seed, maxval=None, dtype=tf.float32) -> tf.Tensor:
  """Uniform draws in [0, 1) (floats) or [0, maxval) (ints) from either seed kind."""
  if isinstance(seed, tf.random.Generator):
    return seed.uniform(shape, maxval=maxval, dtype=dtype)
  return tf.random.stateless_uniform(
      shape, seed=tf.cast(seed, tf.int64), maxval=maxval, dtype=dtype)


def _split_seed(seed: Seed, num: int):
  """`num` independent seeds from one (stateless) seed or generator."""
  if isinstance(seed, tf.random.Generator):
    return [seed] * num  # each call on a generator advances its state
  return tf.unstack(tf.random.experimental.stateless_split(
      tf.cast(seed, tf.int64), num=num))


def _check_num_features(num_features: int):
  if num_features < 2:
    raise ValueError(
        f'complementary masking needs at least 2 item features, got '
        f'{num_features}: with one feature a view would hold nothing')


def complementary_masks_rfm(num_features: int, seed: Seed,
                            num_masked: Optional[int] = None
                            ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Random feature masking: a random complementary split of k features.

  Args:
    num_features: k, the number of item features (>= 2).
    seed: stateless seed, int tensor [2], or a `tf.random.Generator`.
    num_masked: how many features view 1 masks; default k // 2 (view 2 masks
      the other k - k // 2). Must be in [1, k - 1].

  Returns:
    (mask1, mask2): bool [k] each, mask2 == ~mask1.
  """
  _check_num_features(num_features)
  num_masked = num_features // 2 if num_masked is None else num_masked
  if not 1 <= num_masked <= num_features - 1:
    raise ValueError(f'num_masked must be in [1, {num_features - 1}], got '
                     f'{num_masked}')
  # The ranks of iid uniform draws are a uniformly random permutation.
  order = tf.argsort(_uniform([num_features], seed))
  ranks = tf.math.invert_permutation(order)
  mask1 = ranks < num_masked
  return mask1, tf.logical_not(mask1)


def mi_matrix(mi: Mapping[str, Any], feature_names: Sequence[str]
              ) -> np.ndarray:
  """Reorders the MutualInformation JSON's MI_MATRIX into `feature_names` order.

  Args:
    mi: the parsed `mutual_information.json` ({"features": [...], "mi": [[..]],
      "normalized_mi": [[..]], ...}).
    feature_names: the item features in FeatureConfig order.

  Returns:
    float64 [k, k]. A feature the artifact does not cover (for example the item
    id when the MI component left it out) gets MI 0 with every other feature,
    so it is never chosen as a partner before a covered one; NaN counts as 0.
  """
  for key in ('features', MI_MATRIX):
    if key not in mi:
      raise ValueError(f'mutual information JSON has no {key!r} entry; keys: '
                       f'{sorted(mi)}')
  names = list(mi['features'])
  values = np.asarray(mi[MI_MATRIX], dtype=np.float64)
  if values.shape != (len(names), len(names)):
    raise ValueError(f'mutual information JSON: {MI_MATRIX!r} has shape '
                     f'{values.shape}, expected {(len(names), len(names))} '
                     f'for features {names}')
  covered = [n for n in feature_names if n in names]
  if len(covered) < 2:
    raise ValueError(f'mutual information JSON covers features {names}, which '
                     f'share fewer than 2 with the item features '
                     f'{list(feature_names)}')
  k = len(feature_names)
  out = np.zeros((k, k), dtype=np.float64)
  index = {n: i for i, n in enumerate(names)}
  for a, fa in enumerate(feature_names):
    for b, fb in enumerate(feature_names):
      if fa in index and fb in index:
        out[a, b] = values[index[fa], index[fb]]
  return np.nan_to_num(out, nan=0.0)


def _num_partners(k: int) -> int:
  # Paper: seed + floor(k/2) partners. For k == 2 that would mask everything in
  # view 1 and nothing in view 2, so cap it at k - 2 (each view masks >= 1).
  return min(k // 2, k - 2)


def cfm_mask(mi: Union[np.ndarray, tf.Tensor], seed_feature: int) -> np.ndarray:
  """Correlated feature masking: view 1's mask for one seed feature.

  The seed and its `min(k // 2, k - 2)` partners of highest MI with it (itself
  excluded) are masked in view 1; view 2's mask is the complement (~mask1).
  Ties in MI are broken by feature order: the earlier feature wins.

  Which matrix: MI_MATRIX, normalized MI, MI / sqrt(H_i H_j). Raw MI is bounded by the smaller entropy,
  MI(i, j) <= min(H_i, H_j), so it ranks partners by how many values they have
  as much as by how dependent they are: a near-unique feature (item id, title
  tokens) has MI(seed, id) = H(seed), the largest value possible, and would be
  every seed's first partner whether or not it says anything about the seed.
  Normalized MI is 1 for a deterministic relation and 0 for independence at any
  cardinality, which is what "correlated features on the same side" means.

  Args:
    mi: [k, k] pairwise MI (any symmetric association score; the diagonal is
      ignored). numpy or eager tensor.
    seed_feature: index in [0, k).

  Returns:
    bool [k] numpy array, view 1's mask.
  """
  mi = np.nan_to_num(np.asarray(mi, dtype=np.float64), nan=0.0)
  if mi.ndim != 2 or mi.shape[0] != mi.shape[1]:
    raise ValueError(f'MI matrix must be square [k, k], got shape {mi.shape}')
  k = mi.shape[0]
  _check_num_features(k)
  if not 0 <= seed_feature < k:
    raise ValueError(f'seed_feature must be in [0, {k}), got {seed_feature}')
  others = np.array([j for j in range(k) if j != seed_feature])
  # lexsort: last key is primary. Highest MI first, then lowest index.
  order = others[np.lexsort((others, -mi[seed_feature, others]))]
  mask = np.zeros(k, dtype=bool)
  mask[seed_feature] = True
  mask[order[:_num_partners(k)]] = True
  return mask


def cfm_mask_table(mi: Union[np.ndarray, tf.Tensor]) -> np.ndarray:
  """View 1's CFM mask for every seed: bool [k, k], row s = cfm_mask(mi, s)."""
  k = np.asarray(mi).shape[0]
  return np.stack([cfm_mask(mi, s) for s in range(k)])


def sample_cfm_masks(mask_table: Union[np.ndarray, tf.Tensor], seed: Seed
                     ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Draws the seed feature uniformly and returns its (mask1, mask2).

  Args:
    mask_table: bool [k, k] from `cfm_mask_table` (computed once, outside the
      training loop).
    seed: stateless seed, int tensor [2], or a `tf.random.Generator`.

  Returns:
    (mask1, mask2): bool [k] each, mask2 == ~mask1.
  """
  table = tf.convert_to_tensor(mask_table, dtype=tf.bool)
  k = tf.shape(table, out_type=tf.int64)[0]
  seed_feature = _uniform([], seed, maxval=k, dtype=tf.int64)
  mask1 = tf.gather(table, seed_feature)
  return mask1, tf.logical_not(mask1)


def dropout_keep(draws: tf.Tensor, rowids: tf.Tensor, rate: float,
                 keep_one: bool = True) -> tf.Tensor:
  """Which values stage-2 dropout keeps (see `drop_values`): bool [n].

  Args:
    draws: float [n], a uniform draw in [0, 1) per value.
    rowids: int [n], sorted: the row of each value.
    rate: drop probability.
    keep_one: keep a row's value of largest draw when all would be dropped.
  """
  keep = draws >= rate
  if keep_one:
    # The row's largest draw is a uniformly chosen value of that row; it is
    # below `rate` only when the whole row would be dropped.
    row_max = tf.math.segment_max(draws, rowids)
    keep = tf.logical_or(keep, tf.equal(draws, tf.gather(row_max, rowids)))
  return keep


def drop_values(values: tf.RaggedTensor, rate: float, seed: Seed,
                keep_one: bool = True) -> tf.RaggedTensor:
  """Stage-2 dropout: drops each value of a ragged row with probability `rate`.

  Args:
    values: int64 ragged [batch, None] (ids of a multi-valued / text feature).
    rate: drop probability in [0, 1).
    seed: stateless seed, int tensor [2], or a `tf.random.Generator`.
    keep_one: when every value of a non-empty row would be dropped, keep one of
      them (chosen uniformly). Default True: dropout is meant to perturb a
      feature, not erase it; erasing is the mask's job, and an emptied row
      pools to the zero vector, i.e. looks like a *missing* value. Without it,
      a single-valued row (most genres, short titles) would vanish with
      probability `rate` in each view, an independent non-complementary mask.
      Rows that were empty stay empty.

  Returns:
    Ragged [batch, None] with the same dtype and row_splits dtype; the kept
    values in their original order.
  """
  if not 0.0 <= rate < 1.0:
    raise ValueError(f'dropout rate must be in [0, 1), got {rate}')
  if rate == 0.0:
    return values
  if values.ragged_rank != 1:
    raise ValueError(f'drop_values expects ragged [batch, None], got ragged '
                     f'rank {values.ragged_rank}')
  rowids = values.value_rowids()
  keep = dropout_keep(_uniform(tf.shape(values.values), seed), rowids, rate,
                      keep_one)
  # Lean equivalent of tf.ragged.boolean_mask (fewer ops per training step).
  lengths = tf.math.unsorted_segment_sum(
      tf.cast(keep, values.row_splits.dtype), rowids, values.nrows())
  return tf.RaggedTensor.from_row_lengths(
      tf.boolean_mask(values.values, keep), lengths, validate=False)


def dropout_targets(features: Mapping[str, Any],
                    feature_config: features_lib.FeatureConfig,
                    dropout_rate: float) -> List[str]:
  """The item features of `features` that stage-2 dropout thins, in tower order.

  Empty when `dropout_rate` is 0. Raises ValueError naming the first of them
  that is not a tf.RaggedTensor (dropout drops values of ragged rows).
  """
  if dropout_rate == 0:
    return []
  targets = [f.name for f in feature_config.item_features
             if f.kind in DROPOUT_KINDS and f.name in features]
  for name in targets:
    if not isinstance(features[name], tf.RaggedTensor):
      raise ValueError(f'item feature {name!r} is '
                       f'{feature_config.item_feature(name).kind}: expected '
                       f'a tf.RaggedTensor, got {type(features[name]).__name__}')
  return targets


def augment(features: Mapping[str, Any],
            feature_config: features_lib.FeatureConfig,
            mask: Optional[tf.Tensor], dropout_rate: float,
            seed: Seed) -> View:
  """One view: value dropout on the list features, the mask passed along.

  Masking itself happens inside the item tower (`item_tower(features, mask)`).

  Args:
    features: transformed item features, {name: int64 [batch] or ragged
      [batch, None]}; keys that are not item features pass through unchanged.
    feature_config: gives each item feature's kind.
    mask: bool [k] for this view, or None (no masking).
    dropout_rate: stage-2 rate; 0 leaves the values alone.
    seed: stateless seed, int tensor [2], or a `tf.random.Generator`.

  Returns:
    View(features, mask).
  """
  out: Dict[str, Any] = dict(features)
  targets = dropout_targets(features, feature_config, dropout_rate)
  if targets:
    for name, s in zip(targets, _split_seed(seed, len(targets))):
      out[name] = drop_values(features[name], dropout_rate, s)
  return View(out, mask)


def id_apart(mask1: tf.Tensor, mask2: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """Masks over the content features -> masks over [id] + content, the id
  masked in both views (SSL option `ssl_item_id='masked'`).

  The item id is unique per item, so a view that keeps it identifies the item
  on its own (and the SSL loss then mostly trains the id table to echo the
  content); masked in both views, the task is content against content.
  """
  masked = tf.constant([True])
  return (tf.concat([masked, tf.convert_to_tensor(mask1, tf.bool)], axis=0),
          tf.concat([masked, tf.convert_to_tensor(mask2, tf.bool)], axis=0))


def two_views(features: Mapping[str, Any],
              feature_config: features_lib.FeatureConfig, ssl: SslVariant,
              dropout_rate: float, seed: Seed,
              cfm_table: Optional[Union[np.ndarray, tf.Tensor]] = None,
              item_id_masked: bool = False
              ) -> Tuple[View, View]:
  """Both augmented views of one SSL batch for variant `ssl`.

  Args:
    features: transformed item features of the SSL batch.
    feature_config: item features in tower order.
    ssl: SslVariant DROPOUT (no masking), RFM or CFM (or its string).
    dropout_rate: stage-2 rate, applied independently to both views.
    seed: stateless seed, int tensor [2], or a `tf.random.Generator`.
    cfm_table: bool [k, k] from `cfm_mask_table`; required for 'cfm'. With
      `item_id_masked`, [k - 1, k - 1] over the content features.
    item_id_masked: mask the item id (feature 0) in both views and split the
      other k - 1 features between the views (see `id_apart`).

  Returns:
    (view1, view2).
  """
  k = len(feature_config.item_features) - (1 if item_id_masked else 0)
  mask_seed, seed1, seed2 = _split_seed(seed, 3)
  ssl = SslVariant.parse(ssl, 'ssl')
  if ssl is SslVariant.DROPOUT:
    mask1 = mask2 = None
  elif ssl is SslVariant.RFM:
    mask1, mask2 = complementary_masks_rfm(k, mask_seed)
  elif ssl is SslVariant.CFM:
    if cfm_table is None:
      raise ValueError("ssl='cfm' needs the CFM mask table (from the mutual "
                       'information artifact)')
    if tuple(np.shape(cfm_table)) != (k, k):
      raise ValueError(f'CFM mask table has shape {tuple(np.shape(cfm_table))}, '
                       f'expected {(k, k)} for item features '
                       f'{feature_config.item_feature_names}'
                       + (' without the item id' if item_id_masked else ''))
    mask1, mask2 = sample_cfm_masks(cfm_table, mask_seed)
  else:
    raise ValueError(f"ssl must be 'dropout', 'rfm' or 'cfm' to build views, "
                     f'got {ssl.value!r}')
  if item_id_masked:
    if mask1 is None:
      mask1 = mask2 = tf.range(k + 1) < 1  # only the id, in both views
    else:
      mask1, mask2 = id_apart(mask1, mask2)
  return (augment(features, feature_config, mask1, dropout_rate, seed1),
          augment(features, feature_config, mask2, dropout_rate, seed2))

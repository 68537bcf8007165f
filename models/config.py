"""Model configuration: feature processing (Transform) and training (Trainer).

Two frozen dataclasses, two sections of the run config (`transform:` and
`training:`), each field a `sslrec run` flag:
  TransformConfig  what the Transforms read; the only config they receive, so
                   a training-only change leaves their cache key unchanged.
  TrainingConfig   every hyperparameter of the towers, tasks and SSL; passed
                   to the Trainer as a JSON execution property (recorded in ML
                   Metadata with the Trainer execution).
"""
import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple

from models.options import Choice
from models.options import option
from pipeline.errors import UserError


class SslVariant(Choice):
  """The self-supervised item-tower task (docs/ssl.md)."""
  NONE = 'none'        # no SSL task
  DROPOUT = 'dropout'  # value dropout of multi-valued features only
  RFM = 'rfm'          # random complementary feature masking, then dropout
  CFM = 'cfm'          # correlated feature masking (needs the MI artifact)


class Mode(Choice):
  """How the SSL task is scheduled."""
  JOINT = 'joint'        # main + ssl_weight * ssl from the first step
  PRETRAIN = 'pretrain'  # pretrain_steps SSL-only steps first, then joint


class Optimizer(Choice):
  ADAGRAD = 'adagrad'
  ADAM = 'adam'


# Options that were measured and retired (docs/retired.md), by section: key ->
# why, and what to do instead. A run config or flag naming one is a one-line
# error (retired_message); the one home of this table.
RETIRED: Dict[str, Dict[str, str]] = {
    'training': {
        'min_item_count': 'the rare-item fallback took cold-item recall to 0 '
                          'and gained nothing elsewhere',
        'fallback_logq': 'the logQ choice of the rare-item fallback, retired '
                         'with it',
        'mixed_negatives': 'measured no better than in-batch negatives with '
                           'the logQ correction',
        'ssl_sampling': 'inverse_count lost on every slice but cold items; '
                        'the SSL batch is drawn uniformly',
        'history_embedding': 'a query-tower table of its own did no better; '
                             'the pooled history uses the item tower\'s id '
                             'table',
        'mi_measure': 'raw MI gave the same CFM masks as normalized MI, a '
                      'bit-identical model; CFM ranks by normalized MI',
    },
    'transform': {
        'vocab_min_count': 'min count 2 cost overall recall on MovieLens-100K '
                           'and gained nothing on the KG data; every value '
                           'is in the vocabulary',
    },
}


def retired_message(section: str, key: str) -> Optional[str]:
  """The error for a retired key of `section`, or None if it is not one."""
  why = RETIRED.get(section, {}).get(key)
  if why is None:
    return None
  return (f"{section} config: '{key}' was retired ({why}; docs/retired.md); "
          'remove it')


class _Section:
  """to_dict / from_dict / replace of a frozen config dataclass."""
  SECTION: ClassVar[str] = ''  # its run-config section, named in errors

  def _parse_choices(self) -> None:
    """Strings given for Choice fields become members (or a clear error)."""
    for field in dataclasses.fields(self):
      if isinstance(field.default, Choice):
        try:
          value = type(field.default).parse(getattr(self, field.name),
                                            field.name)
        except ValueError as e:
          raise UserError(f'{self.SECTION} config: {e}') from None
        object.__setattr__(self, field.name, value)

  def _check(self, checks) -> None:
    for ok, message in checks:
      if not ok:
        raise UserError(f'{self.SECTION} config: {message}')

  def to_dict(self) -> Dict[str, Any]:
    """Plain JSON/YAML-ready dict (lists for tuples, strings for choices)."""
    out = {}
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if isinstance(value, tuple):
        value = list(value)
      elif isinstance(value, Choice):
        value = value.value
      out[field.name] = value
    return out

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]):
    """Builds a config, rejecting retired and unknown keys by name."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in d:
      retired = retired_message(cls.SECTION, key)
      if retired:
        raise ValueError(retired)
    unknown = sorted(set(d) - set(fields))
    if unknown:
      raise UserError(f'{cls.SECTION} config: unknown key(s) {unknown}; known '
                       f'keys: {sorted(fields)}')
    d = dict(d)
    for name, value in d.items():
      default = fields[name].default
      if isinstance(default, tuple) and default:
        d[name] = tuple(type(default[0])(v) for v in value)
    return cls(**d)

  def replace(self, **changes):
    return self.from_dict({**self.to_dict(), **changes})


class QueryEncoder(Choice):
  """How the query tower reads the history (models/sequence.py)."""
  POOLED = 'pooled'      # mean of the history items' embeddings
  SEQUENCE = 'sequence'  # self-attention encoder with K intention vectors


class SslItemId(Choice):
  """How the item id takes part in the SSL views."""
  FEATURE = 'feature'  # masked like any other feature
  MASKED = 'masked'    # masked in both views; masks and CFM partners among
                       # the content features


@dataclasses.dataclass(frozen=True)
class TrainingConfig(_Section):
  """Hyperparameters of the two-tower model and its self-supervised task.

  Defaults: the configuration chosen on a validation split of MovieLens-100K
  (docs/benchmarks.md, "Diagnosis"): logQ correction on and history items
  embedded by the item tower's id table, with CFM; and the sequence query
  encoder, ahead of pooled on both MovieLens datasets (docs/benchmarks.md,
  "Query encoder on the KG dataset").
  """
  SECTION: ClassVar[str] = 'training'
  # Towers.
  feature_embedding_dim: int = option(
      32, 'width of each input feature\'s embedding, before the tower MLP '
      '(not the output size: that is the last tower_layers width)')
  tower_layers: Tuple[int, ...] = option(
      (128, 64), 'MLP widths of both towers; the last one is the output '
      'embedding size')
  query_id_embedding: bool = option(
      True, 'embed the user id in the query tower')
  history_max_length: int = option(
      0, 'query_encoder pooled: > 0: pool only the most recent N history '
      'items; 0 = all')
  # Main task (in-batch softmax over cosine / temperature).
  temperature: float = option(
      0.2, 'softmax temperature of the main task (cosine / temperature)')
  logq_correction: bool = option(
      True, 'subtract log p(item) from the logits (Yi et al., RecSys\'19)')
  remove_accidental_hits: bool = option(
      True, 'leave in-batch negatives that are the positive item out')
  # Optimisation.
  optimizer: Optimizer = option(Optimizer.ADAGRAD, 'optimizer')
  learning_rate: float = option(0.2, 'learning rate')
  batch_size: int = option(256, 'interactions per main-task batch')
  epochs: int = option(10, 'passes over the training events')
  train_steps: int = option(
      0, '> 0: stop after this many steps in total (spread over the epochs)')
  seed: int = option(0, 'random seed of initialization, shuffling and SSL')
  # Self-supervised item-tower task.
  ssl: SslVariant = option(
      SslVariant.CFM, 'self-supervised item-tower task: none; dropout (value '
      'dropout only); rfm (random feature masking); cfm (correlated feature '
      'masking by mutual information)')
  ssl_weight: float = option(0.1, 'loss = main + ssl_weight * ssl')
  ssl_temperature: float = option(0.2, 'InfoNCE temperature of the SSL task')
  ssl_batch_size: int = option(
      1024, 'items per SSL batch, drawn uniformly from the corpus')
  dropout_rate: float = option(
      0.3, 'stage-2 dropout rate of multi-valued / text feature values')
  mode: Mode = option(
      Mode.JOINT, 'joint (main + SSL from the first step) or pretrain '
      '(pretrain_steps SSL-only steps first)')
  pretrain_steps: int = option(
      0, 'SSL-only steps before joint training (mode pretrain)')
  ssl_item_id: SslItemId = option(
      SslItemId.FEATURE, 'the item id in the SSL views: feature (masked like '
      'any feature) or masked (in both views; masks and CFM partners among '
      'the content features)')
  # Query encoder (models/sequence.py) and user-side SSL (models/seq_ssl.py).
  query_encoder: QueryEncoder = option(
      QueryEncoder.SEQUENCE, 'how the query tower reads the history: '
      'sequence (the time-ordered history into num_intentions intention '
      'vectors; score = max over them) or pooled (mean of the history '
      'items\' embeddings in the item tower\'s id table); a schema without a '
      'history feature pools (logged)')
  num_intentions: int = option(
      4, 'K intention vectors of the sequence encoder')
  sequence_max_length: int = option(
      20, 'most recent history items the sequence encoder reads')
  sequence_attention: bool = option(
      False, 'a self-attention layer in the sequence encoder before the '
      'intentions (false: positions are matched to the prototypes from their '
      'item + position embeddings alone)')
  seq_ssl_weight: float = option(
      0.0, 'beta of the sequence-to-sequence SSL loss (needs query_encoder '
      'sequence); 0 = off')
  seq_ssl_confidence: float = option(
      0.5, 'lambda: fraction of the most confident (user, intention) pairs '
      'the sequence SSL loss keeps')
  seq_ssl_temperature: float = option(
      0.1, 'InfoNCE temperature of the sequence SSL loss')
  seq_ssl_batch_size: int = option(
      64, 'examples of each main batch in the sequence SSL task; 0 = all')

  def __post_init__(self):
    self._parse_choices()
    pretrain = self.mode is Mode.PRETRAIN
    checks = [
        (self.feature_embedding_dim > 0, 'feature_embedding_dim must be > 0'),
        (self.history_max_length >= 0, 'history_max_length must be >= 0'),
        (len(self.tower_layers) > 0 and all(w > 0 for w in self.tower_layers),
         'tower_layers must be a non-empty list of positive widths'),
        (self.temperature > 0, 'temperature must be > 0'),
        (self.ssl_temperature > 0, 'ssl_temperature must be > 0'),
        (self.learning_rate > 0, 'learning_rate must be > 0'),
        (self.batch_size > 1, 'batch_size must be > 1'),
        (self.ssl_batch_size > 1, 'ssl_batch_size must be > 1'),
        (self.epochs > 0, 'epochs must be > 0'),
        (0 <= self.seed <= 2**32 - 1,
         f'seed (--seed) must be in [0, 2**32 - 1], got {self.seed}'),
        (self.train_steps >= 0, 'train_steps must be >= 0'),
        (self.pretrain_steps >= 0, 'pretrain_steps must be >= 0'),
        (not pretrain or self.ssl is not SslVariant.NONE,
         "mode 'pretrain' needs an SSL variant (ssl != 'none')"),
        (not pretrain or self.pretrain_steps > 0,
         "mode 'pretrain' needs pretrain_steps > 0"),
        (self.ssl_weight >= 0, 'ssl_weight must be >= 0'),
        (0 <= self.dropout_rate < 1, 'dropout_rate must be in [0, 1)'),
        (self.num_intentions > 0, 'num_intentions must be > 0'),
        (self.sequence_max_length > 0, 'sequence_max_length must be > 0'),
        (self.seq_ssl_weight >= 0, 'seq_ssl_weight must be >= 0'),
        (self.seq_ssl_weight == 0
         or self.query_encoder is QueryEncoder.SEQUENCE,
         "seq_ssl_weight > 0 needs query_encoder 'sequence'"),
        (0 < self.seq_ssl_confidence <= 1,
         'seq_ssl_confidence must be in (0, 1]'),
        (self.seq_ssl_temperature > 0, 'seq_ssl_temperature must be > 0'),
        (self.seq_ssl_batch_size >= 0, 'seq_ssl_batch_size must be >= 0'),
    ]
    self._check(checks)


@dataclasses.dataclass(frozen=True)
class TransformConfig(_Section):
  """What the TF Transform preprocessing_fns read (models/preprocessing.py)."""
  SECTION: ClassVar[str] = 'transform'
  numeric_buckets: int = option(
      10, 'quantile buckets per numeric feature (+1 for a missing value)')
  vocab_top_k: int = option(
      0, 'vocabulary size of categorical and multi-valued features, most '
      'frequent first; 0 = every value')
  text_top_k: int = option(
      5000, 'vocabulary size of text tokens, most frequent first; 0 = every '
      'token')

  def __post_init__(self):
    self._check([
        (self.numeric_buckets > 1, 'numeric_buckets must be > 1'),
        (self.vocab_top_k >= 0, 'vocab_top_k must be >= 0'),
        (self.text_top_k >= 0, 'text_top_k must be >= 0'),
    ])


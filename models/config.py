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
from typing import Any, ClassVar, Dict, Mapping, Tuple

from models.choices import Choice


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


class MiMeasure(Choice):
  """Which mutual information matrix CFM ranks a feature's partners by."""
  MI = 'mi'                        # nats
  NORMALIZED_MI = 'normalized_mi'  # MI / sqrt(H_i H_j)


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
          raise ValueError(f'{self.SECTION} config: {e}') from None
        object.__setattr__(self, field.name, value)

  def _check(self, checks) -> None:
    for ok, message in checks:
      if not ok:
        raise ValueError(f'{self.SECTION} config: {message}')

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
    """Builds a config, rejecting unknown keys by name."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
      raise ValueError(f'{cls.SECTION} config: unknown key(s) {unknown}; known '
                       f'keys: {sorted(fields)}')
    d = dict(d)
    for name, value in d.items():
      default = fields[name].default
      if isinstance(default, tuple) and default:
        d[name] = tuple(type(default[0])(v) for v in value)
    return cls(**d)

  def replace(self, **changes):
    return self.from_dict({**self.to_dict(), **changes})


@dataclasses.dataclass(frozen=True)
class TrainingConfig(_Section):
  """Hyperparameters of the two-tower model and its self-supervised task.

  Defaults: the configuration tuned on a validation split of MovieLens-100K
  (docs/benchmarks.md); on the eval split it is within the seeds' spread of
  the tuned `ssl=none` baseline.
  """
  SECTION: ClassVar[str] = 'training'
  # Towers.
  embedding_dim: int = 32          # per-feature embedding width
  tower_layers: Tuple[int, ...] = (128, 64)  # MLP widths; the last is the output size
  # Main task (in-batch softmax over cosine / temperature).
  temperature: float = 0.2
  logq_correction: bool = False     # subtract log p(item) (Yi et al., RecSys'19)
  remove_accidental_hits: bool = True
  # Optimisation.
  optimizer: Optimizer = Optimizer.ADAGRAD
  learning_rate: float = 0.2
  batch_size: int = 256
  epochs: int = 10
  train_steps: int = 0              # > 0: stop after this many steps (overrides epochs)
  seed: int = 0
  # Self-supervised item-tower task.
  ssl: SslVariant = SslVariant.CFM
  ssl_weight: float = 0.1
  ssl_temperature: float = 0.05
  ssl_batch_size: int = 256
  dropout_rate: float = 0.3         # stage-2 value dropout of multi-valued features
  mi_measure: MiMeasure = MiMeasure.NORMALIZED_MI  # which matrix CFM ranks partners by
  mode: Mode = Mode.JOINT
  pretrain_steps: int = 0           # SSL-only steps before joint training (mode=pretrain)

  def __post_init__(self):
    self._parse_choices()
    pretrain = self.mode is Mode.PRETRAIN
    checks = [
        (self.embedding_dim > 0, 'embedding_dim must be > 0'),
        (len(self.tower_layers) > 0 and all(w > 0 for w in self.tower_layers),
         'tower_layers must be a non-empty list of positive widths'),
        (self.temperature > 0, 'temperature must be > 0'),
        (self.ssl_temperature > 0, 'ssl_temperature must be > 0'),
        (self.learning_rate > 0, 'learning_rate must be > 0'),
        (self.batch_size > 1, 'batch_size must be > 1'),
        (self.ssl_batch_size > 1, 'ssl_batch_size must be > 1'),
        (self.epochs > 0, 'epochs must be > 0'),
        (self.train_steps >= 0, 'train_steps must be >= 0'),
        (self.pretrain_steps >= 0, 'pretrain_steps must be >= 0'),
        (not pretrain or self.ssl is not SslVariant.NONE,
         "mode 'pretrain' needs an SSL variant (ssl != 'none')"),
        (not pretrain or self.pretrain_steps > 0,
         "mode 'pretrain' needs pretrain_steps > 0"),
        (self.ssl_weight >= 0, 'ssl_weight must be >= 0'),
        (0 <= self.dropout_rate < 1, 'dropout_rate must be in [0, 1)'),
    ]
    self._check(checks)


@dataclasses.dataclass(frozen=True)
class TransformConfig(_Section):
  """What the TF Transform preprocessing_fns read (models/preprocessing.py)."""
  SECTION: ClassVar[str] = 'transform'
  numeric_buckets: int = 10         # quantile buckets per number (+1 for missing)
  vocab_top_k: int = 0              # categorical/multi-valued vocabulary size; 0 = every value
  text_top_k: int = 5000            # text token vocabulary size; 0 = every token

  def __post_init__(self):
    self._check([
        (self.numeric_buckets > 1, 'numeric_buckets must be > 1'),
        (self.vocab_top_k >= 0, 'vocab_top_k must be >= 0'),
        (self.text_top_k >= 0, 'text_top_k must be >= 0'),
    ])


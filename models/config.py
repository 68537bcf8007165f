"""Training configuration: every hyperparameter of the towers, tasks and SSL.

One frozen dataclass, passed to the Trainer as a JSON execution property (so it
lands in ML Metadata with the Trainer execution) and to `sslrec run` as flags.
"""
import dataclasses
from typing import Any, Dict, Tuple

SSL_VARIANTS = ('none', 'dropout', 'rfm', 'cfm')
MODES = ('joint', 'pretrain')
MI_MEASURES = ('mi', 'normalized_mi')
HISTORY_EMBEDDINGS = ('table', 'item_id')
SSL_ITEM_ID = ('feature', 'masked')


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
  """Hyperparameters of the two-tower model and its self-supervised task.

  Defaults: the configuration chosen on a validation split of MovieLens-100K
  (docs/benchmarks.md, "Diagnosis"): logQ correction on and history items
  embedded by the item tower's id table, with CFM.
  """
  # Towers.
  embedding_dim: int = 32          # per-feature embedding width
  tower_layers: Tuple[int, ...] = (128, 64)  # MLP widths; the last is the output size
  query_id_embedding: bool = True   # embed the user id in the query tower
  history_embedding: str = 'item_id'  # 'item_id' (the item tower's id table) | 'table' (own table)
  history_max_length: int = 0       # > 0: pool only the most recent N history items
  min_item_count: int = 0           # items with fewer train events: id embedding -> its default (models/fallback.py)
  # Main task (in-batch softmax over cosine / temperature).
  temperature: float = 0.2
  logq_correction: bool = True      # subtract log p(item) (Yi et al., RecSys'19)
  remove_accidental_hits: bool = True
  mixed_negatives: int = 0          # > 0: add this many uniform corpus items to the softmax (Yang et al., WWW'20)
  # Optimisation.
  optimizer: str = 'adagrad'        # 'adagrad' | 'adam'
  learning_rate: float = 0.2
  batch_size: int = 256
  epochs: int = 10
  train_steps: int = 0              # > 0: stop after this many steps (overrides epochs)
  seed: int = 0
  # Self-supervised item-tower task.
  ssl: str = 'cfm'                  # 'none' | 'dropout' | 'rfm' | 'cfm'
  ssl_weight: float = 0.1
  ssl_temperature: float = 0.05
  ssl_batch_size: int = 256
  dropout_rate: float = 0.3         # stage-2 value dropout of multi-valued features
  mi_measure: str = 'normalized_mi' # which matrix CFM ranks partners by
  mode: str = 'joint'               # 'joint' | 'pretrain'
  pretrain_steps: int = 0           # SSL-only steps before joint training (mode=pretrain)
  ssl_item_id: str = 'feature'      # 'feature' (masked like any feature) | 'masked' (in both views)
  # Feature processing (TF Transform).
  numeric_buckets: int = 10
  vocab_top_k: int = 0              # 0 = keep every value
  text_top_k: int = 5000

  def __post_init__(self):
    checks = [
        (self.ssl in SSL_VARIANTS, f'ssl must be one of {SSL_VARIANTS}'),
        (self.mode in MODES, f'mode must be one of {MODES}'),
        (self.mi_measure in MI_MEASURES, f'mi_measure must be one of {MI_MEASURES}'),
        (self.optimizer in ('adagrad', 'adam'), "optimizer must be 'adagrad' or 'adam'"),
        (self.embedding_dim > 0, 'embedding_dim must be > 0'),
        (self.history_embedding in HISTORY_EMBEDDINGS,
         f'history_embedding must be one of {HISTORY_EMBEDDINGS}'),
        (self.history_max_length >= 0, 'history_max_length must be >= 0'),
        (self.mixed_negatives >= 0, 'mixed_negatives must be >= 0'),
        (self.min_item_count >= 0, 'min_item_count must be >= 0'),
        (self.ssl_item_id in SSL_ITEM_ID,
         f'ssl_item_id must be one of {SSL_ITEM_ID}'),
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
        (self.mode != 'pretrain' or self.ssl != 'none',
         "mode 'pretrain' needs an SSL variant (ssl != 'none')"),
        (self.mode != 'pretrain' or self.pretrain_steps > 0,
         "mode 'pretrain' needs pretrain_steps > 0"),
        (self.ssl_weight >= 0, 'ssl_weight must be >= 0'),
        (0 <= self.dropout_rate < 1, 'dropout_rate must be in [0, 1)'),
        (self.numeric_buckets > 1, 'numeric_buckets must be > 1'),
        (self.vocab_top_k >= 0, 'vocab_top_k must be >= 0'),
        (self.text_top_k >= 0, 'text_top_k must be >= 0'),
    ]
    for ok, message in checks:
      if not ok:
        raise ValueError(f'training config: {message}')

  def to_dict(self) -> Dict[str, Any]:
    d = dataclasses.asdict(self)
    d['tower_layers'] = list(self.tower_layers)
    return d

  @classmethod
  def from_dict(cls, d: Dict[str, Any]) -> 'TrainingConfig':
    """Builds a config, rejecting unknown keys by name."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
      raise ValueError(f'training config: unknown key(s) {unknown}; known keys: '
                       f'{sorted(known)}')
    d = dict(d)
    if 'tower_layers' in d:
      d['tower_layers'] = tuple(int(w) for w in d['tower_layers'])
    return cls(**d)

  def replace(self, **changes) -> 'TrainingConfig':
    return self.from_dict({**self.to_dict(), **changes})

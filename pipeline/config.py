"""Run configuration: where the data and outputs are, how to run and train.

The effective config of `sslrec run` is the defaults below, overridden by a
YAML file (`--config FILE`), overridden by command-line flags. Every key is
checked: an unknown key or a value of the wrong type is an error naming the
key (`training.epochs`) and the file.

Extension point: a config section is a field of `RunConfig` whose default is a
frozen dataclass instance (`transform: TransformConfig`, `training:
TrainingConfig`, `evaluation: EvaluationConfig`). Adding, e.g.,
`evaluation: EvaluationConfig = EvaluationConfig()` makes `evaluation:` a
valid YAML section, adds one `sslrec run` flag per field and shows it in
`--print-config`; the section's `__post_init__` validates values, and an
optional `from_dict` classmethod builds it. Field types come from the
defaults: bool, int, float, str, or a tuple of one of those.
Relative paths in a config file are relative to the working directory.
"""
import dataclasses
import json
import os
import shlex
from typing import Any, Dict, Mapping, Optional, Tuple

from components.index_builder.kinds import IndexKind
from components.retrieval_evaluator.blessing import BlessingConfig
from components.retrieval_evaluator.exclusion import Exclusion
from components.retrieval_evaluator.metrics import DEFAULT_KS
from models.options import Choice
from models.options import option
from models.config import TrainingConfig
from models.config import TransformConfig
from models.config import retired_message
from pipeline.errors import UserError
from pipeline.errors import MissingInputError
import schemas as schemas_lib

DATASET_FILE = 'dataset.json'
# None: Beam's DirectRunner in memory, one worker (Beam's own defaults), and
# no TFX dependency package built per component (`runner.with_runner`); see
# docs/operations.md for Dataflow/Flink/Spark.
DEFAULT_BEAM_ARGS: Tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
  """Retrieval evaluation, the blessing gate and the exported index."""
  # The defaults' one home is the evaluator (metrics.DEFAULT_KS,
  # blessing.BlessingConfig); the report and `sslrec inspect` read the K a
  # run used from its metrics.json.
  ks: Tuple[int, ...] = option(tuple(DEFAULT_KS), 'Recall@K / MAP@K cut-offs')
  blessing_k: int = option(
      BlessingConfig.k, 'the K the blessing rule reads (one of ks), shown by '
      'the report and sslrec inspect')
  min_recall: float = option(
      BlessingConfig.min_recall,
      'overall Recall@blessing_k a model must reach to be blessed')
  max_overall_drop: float = option(
      BlessingConfig.max_overall_drop, 'allowed drop of overall '
      'Recall@blessing_k vs the last blessed model')
  max_tail_drop: float = option(
      BlessingConfig.max_tail_drop, 'allowed drop of tail-item '
      'Recall@blessing_k vs the last blessed model')
  exclusion: Exclusion = option(
      Exclusion.SERVING, "items left out of each event's ranking: serving "
      "(the index's rule: the event's history and the user's training items) "
      'or none (the whole corpus, the leave-last-out literature\'s rule)')
  index_k: int = option(100, 'items the exported retrieval index returns')
  index_kind: IndexKind = option(
      IndexKind.BRUTE_FORCE, 'retrieval index: brute_force (exact) or scann '
      '(approximate; pip install .[scann])')
  bootstrap_samples: int = option(
      1000, 'bootstrap samples over users of every 95% interval')
  bootstrap_seed: int = option(
      0, 'seed of the bootstrap (same seed, same intervals and blessing)')
  min_eval_events: int = option(
      1000, 'fewest eval events a model is blessed on (fewer: not blessed)')
  min_eval_users: int = option(
      50, 'fewest eval users a model is blessed on (fewer: not blessed)')

  def __post_init__(self):
    if not self.ks or any(k <= 0 for k in self.ks):
      raise UserError('evaluation.ks must be positive integers')
    if self.blessing_k not in self.ks:
      raise UserError(f'evaluation.blessing_k ({self.blessing_k}) must be one '
                       f'of evaluation.ks {list(self.ks)}')
    if not 0 <= self.min_recall <= 1:
      raise UserError('evaluation.min_recall must be in [0, 1]')
    if self.max_overall_drop < 0 or self.max_tail_drop < 0:
      raise UserError('evaluation.max_*_drop must be >= 0')
    if self.index_k <= 0:
      raise UserError('evaluation.index_k must be > 0')
    if self.bootstrap_samples < 1:
      raise UserError('evaluation.bootstrap_samples must be >= 1')
    if self.bootstrap_seed < 0:
      raise UserError('evaluation.bootstrap_seed must be >= 0')
    if self.min_eval_events < 0 or self.min_eval_users < 0:
      raise UserError('evaluation.min_eval_events and min_eval_users must be '
                      '>= 0')
    object.__setattr__(self, 'index_kind', IndexKind.parse(
        self.index_kind, 'evaluation.index_kind'))
    object.__setattr__(self, 'exclusion', Exclusion.parse(
        self.exclusion, 'evaluation.exclusion'))


class ConfigError(UserError):
  """A bad key or value in a run config (the message names both)."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Everything `sslrec run` needs."""
  data: str = option('data/movielens-100k', 'data contract folder')
  schemas: str = option(
      '', "bundled schema name or folder; '' = the one named in "
      '<data>/dataset.json')
  output: str = option(
      'output', 'output folder (pipeline/, metadata.sqlite, serving/, '
      'report/)')
  pipeline_name: str = option('sslrec', 'pipeline name (its MLMD context)')
  beam_args: Tuple[str, ...] = option(
      DEFAULT_BEAM_ARGS, 'Beam pipeline args of every Beam-powered '
      'component; see docs/operations.md for Dataflow, Flink and Spark')
  enable_cache: bool = option(
      True, 'reuse executions whose inputs are unchanged (--no-cache re-runs '
      'every component)')
  metadata_config: str = option(
      '', 'ML Metadata connection file (MySQL or sqlite; protobuf text format '
      "or YAML, see docs/operations.md); '' = <output>/metadata.sqlite")
  transform: TransformConfig = TransformConfig()
  training: TrainingConfig = TrainingConfig()
  evaluation: EvaluationConfig = EvaluationConfig()

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.output, 'pipeline')

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.output, 'metadata.sqlite')

  def metadata_connection(self, readonly: bool = False):
    """The MLMD ConnectionConfig: `metadata_config`, else the sqlite file."""
    from pipeline import metadata  # pylint: disable=g-import-not-at-top
    return metadata.resolve(self.metadata_config,
                            os.path.abspath(self.metadata_path), readonly)

  @property
  def serving_root(self) -> str:
    return os.path.join(self.output, 'serving')

  def schema_name(self) -> str:
    """The schema folder to use: explicit, else the one the data folder names.

    The data folder names it in dataset.json (`schemas`: a bundled name, or a
    folder inside the data folder such as the generated `schema`); a bundled
    dataset (dataset.json `name`, else the folder's base name, is a bundled
    schema name) uses its bundled schemas. Anything else is an error: a run
    never guesses the columns of someone else's data.
    """
    if self.schemas:
      return self.schemas
    path = os.path.join(self.data, DATASET_FILE)
    info = {}
    if os.path.exists(path):
      with open(path) as f:
        try:
          info = json.load(f)
        except json.JSONDecodeError as e:
          raise UserError(f'{path}: not valid JSON: {e}') from e
    name = info.get('schemas')
    if name:
      # A schema folder generated into the data folder (sslrec data import).
      local = os.path.join(self.data, name)
      return local if os.path.isdir(local) else name
    bundled = info.get('name') or os.path.basename(os.path.normpath(self.data))
    if bundled in schemas_lib.available():
      return bundled
    where = (f"{path} has no 'schemas' entry" if os.path.exists(path)
             else f'{self.data} has no {DATASET_FILE}')
    raise ConfigError(
        f'{where} and --schemas is not set: import the data with `sslrec data '
        f'import --events ... --items ... --out {self.data}` (it writes '
        f'{os.path.join(self.data, "schema")}/), or pass --schemas with a '
        f'schema folder or one of {schemas_lib.available()}')

  def to_dict(self) -> Dict[str, Any]:
    """Plain dict (lists for tuples, dicts for sections), YAML/JSON-ready."""
    return _to_plain(self)

  @classmethod
  def from_dict(cls, d: Mapping[str, Any],
                source: str = 'run config') -> 'RunConfig':
    """Builds a config from a (possibly partial) dict; `source` names it in errors."""
    return _build(cls, d, source, prefix='')

  def replace(self, overrides: Mapping[str, Any],
              source: str = 'run config') -> 'RunConfig':
    """A copy with `overrides` (same shape as from_dict; sections merge by key)."""
    return self.from_dict(_merge(self.to_dict(), overrides), source)


def sections(cls=RunConfig) -> Dict[str, Any]:
  """Section name -> dataclass type of every section field of `cls`."""
  return {f.name: type(f.default) for f in dataclasses.fields(cls)
          if dataclasses.is_dataclass(f.default)}


def load(path: str, overrides: Optional[Mapping[str, Any]] = None
         ) -> RunConfig:
  """Reads a YAML config file (defaults for missing keys), then `overrides`."""
  import yaml  # pylint: disable=g-import-not-at-top
  if not os.path.isfile(path):
    raise MissingInputError(f'{path}: config file not found')
  with open(path) as f:
    try:
      content = yaml.safe_load(f)
    except yaml.YAMLError as e:
      raise ConfigError(f'{path}: not valid YAML: {e}') from None
  if content is None:
    content = {}
  if not isinstance(content, dict):
    raise ConfigError(f'{path}: the top level must be a mapping of keys '
                      f'({_known(RunConfig)}), got {type(content).__name__}')
  config = RunConfig.from_dict(content, source=path)
  if overrides:
    config = config.replace(overrides, source=f'{path} + command line')
  return config


def to_yaml(config: RunConfig) -> str:
  import yaml  # pylint: disable=g-import-not-at-top
  return yaml.safe_dump(config.to_dict(), sort_keys=False,
                        default_flow_style=None)


def _to_plain(value: Any) -> Any:
  if isinstance(value, Choice):
    return value.value
  if dataclasses.is_dataclass(value):
    return {f.name: _to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)}
  if isinstance(value, (tuple, list)):
    return [_to_plain(v) for v in value]
  return value


def _merge(base: Dict[str, Any], overrides: Mapping[str, Any]) -> Dict[str, Any]:
  out = dict(base)
  for key, value in overrides.items():
    if isinstance(value, Mapping) and isinstance(out.get(key), dict):
      out[key] = _merge(out[key], value)
    else:
      out[key] = value
  return out


def _known(cls) -> str:
  return ', '.join(f.name for f in dataclasses.fields(cls))


_TYPE_NAMES = {bool: 'true or false', int: 'an integer', float: 'a number',
               str: 'a string'}


def _scalar(value: Any, kind: type, key: str, source: str) -> Any:
  ok = (isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        or kind is float and isinstance(value, int)
        and not isinstance(value, bool))
  if not ok:
    raise ConfigError(f'{source}: {key}: expected {_TYPE_NAMES[kind]}, got '
                      f'{value!r}')
  return float(value) if kind is float else value


def _value(value: Any, default: Any, key: str, source: str) -> Any:
  """`value` checked and converted to the type of the field's `default`."""
  if dataclasses.is_dataclass(default):
    if isinstance(value, type(default)):
      return value
    if not isinstance(value, Mapping):
      raise ConfigError(f'{source}: {key}: expected a mapping of keys '
                        f'({_known(type(default))}), got {value!r}')
    return _build(type(default), value, source, prefix=f'{key}.')
  if isinstance(default, Choice):  # the section parses it (naming the choices)
    return _scalar(value, str, key, source)
  if isinstance(default, tuple):
    kind = type(default[0]) if default else str
    if isinstance(value, str) and kind is str:
      value = shlex.split(value)  # e.g. beam_args: "--runner=X --project=Y"
    if not isinstance(value, (list, tuple)):
      raise ConfigError(f'{source}: {key}: expected a list of '
                        f'{kind.__name__}, got {value!r}')
    return tuple(_scalar(v, kind, f'{key}[{i}]', source)
                 for i, v in enumerate(value))
  return _scalar(value, type(default), key, source)


# Keys of earlier releases -> where they are now (named in the error).
_MOVED = {'training.numeric_buckets': 'transform.numeric_buckets',
          'training.vocab_top_k': 'transform.vocab_top_k',
          'training.text_top_k': 'transform.text_top_k',
          'training.embedding_dim': 'training.feature_embedding_dim',
          'evaluation.exclude_seen':
              'evaluation.exclusion (serving: the index\'s rule, history and '
              'train items left out; none: nothing left out)'}


def _build(cls, d: Mapping[str, Any], source: str, prefix: str):
  fields = {f.name: f for f in dataclasses.fields(cls)}
  for key in d:
    if key not in fields:
      moved = _MOVED.get(f'{prefix}{key!s}')
      if moved:
        raise ConfigError(f'{source}: key {prefix}{key!s} is now {moved}')
      retired = retired_message(prefix[:-1], str(key))
      if retired:
        raise ConfigError(f'{source}: {retired}')
      raise ConfigError(f'{source}: unknown key {prefix}{key!s}; known keys'
                        f'{" in " + prefix[:-1] if prefix else ""}: '
                        f'{_known(cls)}')
  values = {key: _value(value, fields[key].default, f'{prefix}{key}', source)
            for key, value in d.items()}
  try:
    if hasattr(cls, 'from_dict') and cls is not RunConfig:
      return cls.from_dict(values)
    return cls(**values)
  except ConfigError:
    raise
  except (ValueError, TypeError) as e:
    raise ConfigError(f'{source}: {e}') from None

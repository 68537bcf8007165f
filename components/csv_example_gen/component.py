"""Schema-typed CSV ExampleGen: a FileBasedExampleGen with a typing executor.

  columns = features.load_feature_config(schema_dir).interaction_columns
  interactions_gen = create_csv_example_gen(
      input_base=os.path.join(data, 'interactions'), columns=columns,
      splits={'train': 'train/*', 'eval': 'eval/*'}
  ).with_id('InteractionsExampleGen')
  items_gen = create_csv_example_gen(
      input_base=os.path.join(data, 'items'),
      columns=features.load_feature_config(schema_dir).item_columns,
      splits={'corpus': 'items*.csv'}).with_id('ItemsExampleGen')

Output: `examples` (standard Examples artifact, gzipped TFRecords of
tf.train.Example), one output split per input split, same names.
"""
from typing import Mapping, Optional, Sequence

from tfx.components.example_gen import component
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.csv_example_gen import executor
from components.csv_example_gen import rules as rules_lib


def create_csv_example_gen(input_base: str,
                           columns: Sequence[Sequence[str]],
                           splits: Mapping[str, str],
                           rules: Optional[rules_lib.Rules] = None
                           ) -> component.FileBasedExampleGen:
  """Builds the ExampleGen reading `splits` under `input_base`.

  Args:
    input_base: folder holding the CSV files (with a header line each).
    columns: [(name, dtype), ...], dtype in 'string' | 'int' | 'float': every
      column the files hold (FeatureConfig.item_columns or
      interaction_columns).
    splits: output split name -> glob pattern relative to `input_base`, e.g.
      {'train': 'train/*', 'eval': 'eval/*'} or {'corpus': 'items*.csv'}.
    rules: cell and whole-input checks (rules.items_rules,
      rules.interactions_rules); None checks the dtypes only.

  Returns:
    A FileBasedExampleGen whose executor types every column from `columns`.
  """
  if not splits:
    raise ValueError('splits must map at least one split name to a pattern')
  for name, pattern in splits.items():
    if not name or not pattern:
      raise ValueError(f'split {name!r} needs a name and a file pattern, got '
                       f'{pattern!r}')
  input_config = example_gen_pb2.Input(splits=[
      example_gen_pb2.Input.Split(name=name, pattern=pattern)
      for name, pattern in splits.items()])
  return component.FileBasedExampleGen(
      input_base=input_base,
      input_config=input_config,
      # Empty: the output splits are the input splits, also for one split
      # (the default would hash a single input split into train/eval).
      output_config=example_gen_pb2.Output(),
      custom_config=executor.encode_columns(columns, rules),
      custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor))

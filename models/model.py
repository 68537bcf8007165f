"""The Trainer's `run_fn` (TFX entry point `models.model.run_fn`).

Reads the Trainer's inputs (feature and training config, both transforms,
the transformed item corpus, the MutualInformation artifact), trains
(models/training.py) and exports the query and item towers
(models/export.py).
"""
import json
from typing import Any, Dict, Optional

import tensorflow_transform as tft
from tfx.dsl.io import fileio

from models import data
from models import distribute
from models import export
from models import features as F
from models import training
from models.config import TrainingConfig


def _read_mutual_information(path: Optional[str]) -> Optional[Dict[str, Any]]:
  if not path:
    return None
  if not fileio.exists(path):
    raise FileNotFoundError(f'mutual information file not found: {path}')
  with fileio.open(path, 'r') as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f'{path}: not valid JSON: {e}') from e


def run_fn(fn_args) -> None:
  """TFX Trainer entry point (see components/trainer for the extra fn_args).

  Runs under the tf.distribute strategy of the environment (TF_CONFIG:
  models/distribute.py); only the chief writes the exported towers.
  """
  workers = distribute.workers()
  strategy = distribute.strategy()
  feature_config = F.FeatureConfig.from_dict(fn_args.custom_config['features'])
  config = TrainingConfig.from_dict(fn_args.custom_config['training'])
  query_tft = tft.TFTransformOutput(fn_args.transform_output)
  item_tft = tft.TFTransformOutput(fn_args.item_transform_output)
  corpus = data.load_corpus(fn_args.item_files, item_tft,
                            feature_config.item_features)
  model = training.train(feature_config, config, query_tft, item_tft, corpus,
                         fn_args.train_files, fn_args.eval_files,
                         log_dir=fn_args.model_run_dir,
                         mutual_information=_read_mutual_information(
                             getattr(fn_args, 'mutual_information_path',
                                     None)),
                         workers=workers, strategy=strategy)
  for export_fn, path, tower, tft_output in (
      (export.export_query_tower, fn_args.serving_model_dir,
       model.query_tower, query_tft),
      (export.export_item_tower, fn_args.item_serving_model_dir,
       model.item_tower, item_tft)):
    target = workers.export_dir(path)
    export_fn(target, tower, tft_output, feature_config)
    workers.discard(target)
  fileio.makedirs(fn_args.model_run_dir)

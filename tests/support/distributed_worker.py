"""One training worker process: `python -m tests.support.distributed_worker ROOT`.

ROOT holds tiny TF Transform outputs (`tft.prepare`) and `config.json`
(`features`, `training`); the worker reads its place in the cluster from
TF_CONFIG and calls the Trainer's real `run_fn`, exporting under ROOT/export.
"""
import json
import logging
import os
import sys

from models import model as model_lib
from tests.support import tft as test_tft


class _FnArgs:
  """The fn_args fields run_fn reads (components/trainer builds the real ones)."""

  def __init__(self, root: str):
    with open(os.path.join(root, 'config.json')) as f:
      self.custom_config = json.load(f)
    interactions = os.path.join(root, 'interactions')
    items = os.path.join(root, 'items')
    self.train_files = test_tft.transformed_files(interactions)
    self.eval_files = test_tft.transformed_files(interactions)
    self.transform_output = interactions
    self.item_transform_output = items
    self.item_files = test_tft.transformed_files(items)
    self.serving_model_dir = os.path.join(root, 'export', 'query')
    self.item_serving_model_dir = os.path.join(root, 'export', 'item')
    self.model_run_dir = os.path.join(root, 'export', 'logs')
    self.mutual_information_path = None


def main(root: str) -> int:
  # run_fn logs the strategy it trains under at INFO.
  handler = logging.StreamHandler(sys.stdout)
  logging.getLogger().addHandler(handler)
  logging.getLogger().setLevel(logging.INFO)
  model_lib.run_fn(_FnArgs(root))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1]))

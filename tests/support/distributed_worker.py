"""One training worker process: `python -m tests.support.distributed_worker TFT OUT`.

TFT holds tiny TF Transform outputs (`tft.prepare`); OUT holds `config.json`
(`features`, `training`). The worker reads its place in the cluster from
TF_CONFIG and calls the Trainer's real `run_fn`, exporting under OUT/export.
"""
import json
import logging
import os
import sys

from models import model as model_lib
from tests.support import tft as test_tft


class _FnArgs:
  """The fn_args fields run_fn reads (components/trainer builds the real ones)."""

  def __init__(self, root: str, out: str):
    with open(os.path.join(out, 'config.json')) as f:
      self.custom_config = json.load(f)
    interactions = os.path.join(root, 'interactions')
    items = os.path.join(root, 'items')
    self.train_files = test_tft.transformed_files(interactions)
    self.eval_files = test_tft.transformed_files(interactions)
    self.transform_output = interactions
    self.item_transform_output = items
    self.item_files = test_tft.transformed_files(items)
    self.serving_model_dir = os.path.join(out, 'export', 'query')
    self.item_serving_model_dir = os.path.join(out, 'export', 'item')
    self.model_run_dir = os.path.join(out, 'export', 'logs')
    self.mutual_information_path = None


def main(root: str, out: str) -> int:
  # run_fn logs the strategy it trains under at INFO.
  handler = logging.StreamHandler(sys.stdout)
  logging.getLogger().addHandler(handler)
  logging.getLogger().setLevel(logging.INFO)
  model_lib.run_fn(_FnArgs(root, out))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1], sys.argv[2]))

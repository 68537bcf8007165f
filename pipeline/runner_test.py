"""Tests of the local runner's arguments (no pipeline run)."""
from pipeline import runner


def test_beam_args_name_the_runner():
  assert runner.with_runner(['--direct_num_workers=2']) == [
      '--runner=DirectRunner', '--direct_num_workers=2']
  assert runner.with_runner(['--runner=DataflowRunner', '--project=p']) == [
      '--runner=DataflowRunner', '--project=p']
  assert runner.with_runner(['--runner', 'FlinkRunner']) == [
      '--runner', 'FlinkRunner']

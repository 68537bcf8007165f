"""Tests of the local runner's arguments (no pipeline run)."""
from pipeline import runner


def test_beam_args_name_the_runner():
  assert runner.with_runner(['--direct_num_workers=2']) == [
      '--runner=DirectRunner', '--direct_num_workers=2']
  assert runner.with_runner(['--runner=DataflowRunner', '--project=p']) == [
      '--runner=DataflowRunner', '--project=p']
  assert runner.with_runner(['--runner', 'FlinkRunner']) == [
      '--runner', 'FlinkRunner']


def test_no_beam_args_stay_none_so_tfx_builds_no_dependency_package():
  from tfx.utils import dependency_utils
  assert runner.with_runner([]) == []
  # TFX's executors infer a dependency package only for non-empty args.
  assert dependency_utils.make_beam_dependency_flags(
      runner.with_runner(['--setup_file=./setup.py'])) == [
          '--runner=DirectRunner', '--setup_file=./setup.py']

"""The pipeline against a shared MySQL/MariaDB ML Metadata store (`make test-mysql`).

`.ci/with-mysql` starts a private server on 127.0.0.1 and names its
connection file in SSLREC_TEST_METADATA_CONFIG; without it the test is
skipped. Two real runs (the second served from the cache) write to MySQL
only; `sslrec inspect` and `sslrec report` read them back from MySQL.
"""
import json
import os

import pytest

from pipeline import cli
from pipeline import runner
from pipeline.config import RunConfig
from pipeline.data import synthetic
from tests.support.fixtures import TINY_TRAINING

ENV = 'SSLREC_TEST_METADATA_CONFIG'
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get(ENV), reason=(
        f'no MySQL server ({ENV} unset): `make test-mysql` installs and starts '
        'one for this test')),
]


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  root = tmp_path_factory.mktemp('mysql')
  data = str(root / 'data')
  synthetic.generate(data, num_items=80, num_users=40, num_events=1500, seed=5)
  config = RunConfig(data=data, output=str(root / 'output'),
                     metadata_config=os.environ[ENV], training=TINY_TRAINING
                     ).replace({'evaluation': {'min_recall': 0.0,
                                               'min_eval_events': 0,
                                               'min_eval_users': 0}})
  assert runner.run(config) == 0
  assert runner.run(config) == 0  # unchanged: served from the cache
  return config


def _cli_json(capsys, *argv):
  code = cli.main(list(argv))
  captured = capsys.readouterr()
  assert code == 0, captured.err
  return json.loads(captured.out)


def test_runs_are_recorded_in_mysql_only(config, capsys):
  assert not os.path.exists(config.metadata_path)  # no sqlite file
  runs = _cli_json(capsys, 'inspect', 'runs', '--output', config.output,
                   '--metadata-config', config.metadata_config, '--json')
  assert len(runs) >= 2  # the database may hold earlier test sessions' runs
  second, first = runs[0], runs[1]
  assert first['state'] == second['state'] == 'complete'
  assert {'ItemsExampleGen', 'InteractionsTransform', 'MutualInformationGen',
          'TwoTowerTrainer'} <= set(second['cached'])


def test_pushed_and_report_read_mysql(config, capsys):
  pushed = _cli_json(capsys, 'inspect', 'pushed', '--output', config.output,
                     '--metadata-config', config.metadata_config, '--json')
  assert pushed
  assert cli.main(['report', '--output', config.output, '--metadata-config',
                   config.metadata_config]) == 0
  assert os.path.isfile(os.path.join(config.output, 'report', 'index.html'))

"""Bad settings, names and surroundings stop a command before any work, in one line.

One table: each row sets up one bad case (a read-only output folder, a value
the Trainer would reject minutes later, a name that leaves its folder, a
broken model server, an unreachable schema folder or MySQL server), runs the
real command line in this process (`cli.main`) and states the exit code and
the line. Nothing starts: no ML Metadata store and no pipeline folder are
written, and the user's files are untouched. (Rows that need a pipeline run
are in bad_inputs_test.py; kills and a full disk in faults_test.py.)
"""
import os
import re
import stat

import pytest

from pipeline import cli
from pipeline.data import recbole_test
from pipeline.data import synthetic
from tests.support import filesystems


@pytest.fixture(scope='module')
def data(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp('bad_settings') / 'data')
  synthetic.generate(folder, num_items=30, num_users=10, num_events=200,
                     seed=1)
  return folder


def _run(data, out, *flags):
  return ['run', '--data', data, '--output', out, '--batch-size', '64', *flags]


def _read_only_output(tmp_path, data):
  folder = str(tmp_path / 'ro')
  mount = filesystems.small_tmpfs(folder, 64, read_only=True)
  mount.__enter__()  # pylint: disable=unnecessary-dunder-call
  _CLEANUPS.append(lambda: mount.__exit__(None, None, None))
  return _run(data, os.path.join(folder, 'out'))


def _seed(tmp_path, data):
  return _run(data, str(tmp_path / 'out'), '--seed', str(2**32))


def _batch_size(tmp_path, data):
  return _run(data, str(tmp_path / 'out'), '--batch-size', '100000')


def _broken_model_server(tmp_path, data):
  server = tmp_path / 'tensorflow_model_server'
  server.write_text('#!/bin/sh\necho "cannot load libtensorflow" >&2\nexit 1\n')
  server.chmod(server.stat().st_mode | stat.S_IEXEC)
  os.environ['SSLREC_MODEL_SERVER'] = str(server)
  _CLEANUPS.append(lambda: os.environ.pop('SSLREC_MODEL_SERVER', None))
  return _run(data, str(tmp_path / 'out'))


def _unreachable_mysql(tmp_path, data):
  config = tmp_path / 'mlmd.yaml'
  config.write_text('mysql:\n  host: 127.0.0.1\n  port: 1\n  database: mlmd\n'
                    '  user: sslrec\n')
  return _run(data, str(tmp_path / 'out'), '--metadata-config', str(config))


def _unreachable_gs_schemas(tmp_path, data):
  del data
  config = tmp_path / 'gs.yaml'
  config.write_text('data: gs://sslrec-no-such-bucket-xyz/data\n'
                    'output: gs://sslrec-no-such-bucket-xyz/out\n'
                    'schemas: gs://sslrec-no-such-bucket-xyz/schemas\n')
  return ['compile', '--target', 'kubeflow-v2', '--config', str(config),
          '--output', str(tmp_path / 'out' / 'spec.json'), '--image', 'x']


def _dataset_name_with_dots(tmp_path, data):
  del data
  source = recbole_test.write_folder(tmp_path / 'toy')
  return ['data', 'recbole', source, '--dataset', '../../etc/x', '--out',
          str(tmp_path / 'out')]


def _out_is_the_source(tmp_path, data):
  del data
  source = recbole_test.write_folder(tmp_path / 'toy')
  return ['data', 'recbole', source, '--dataset', 'toy', '--out', source,
          '--force']


# (case, argv maker, exit code, regex of the last stderr line)
CASES = [
    ('read_only_output', _read_only_output, 2,
     r'^sslrec run: error: --output .*/ro/out: cannot write the run lock '
     r'.*Read-only file system; give a writable --output$'),
    ('seed_beyond_uint32', _seed, 2,
     r'^sslrec run: error: .*training config: seed \(--seed\) must be in '
     r'\[0, 2\*\*32 - 1\], got 4294967296$'),
    ('batch_larger_than_data', _batch_size, 2,
     r'^sslrec run: error: --batch-size 100000 \(training\.batch_size\) is '
     r'larger than the training data: \d+ train events in .*data'),
    ('broken_model_server', _broken_model_server, 2,
     r'^sslrec run: error: .*tensorflow_model_server \(the '
     r'tensorflow_model_server from \$SSLREC_MODEL_SERVER\) does not run '
     r'\(`--version`: exit code 1: cannot load libtensorflow\)'),
    ('unreachable_mysql', _unreachable_mysql, 2,
     r'^sslrec run: error: mysql://sslrec@127\.0\.0\.1:1/mlmd: cannot open the '
     r'ML Metadata store: cannot reach the server: Connection refused'),
    ('unreachable_gs_schema_folder', _unreachable_gs_schemas, 2,
     r'^sslrec compile: error: schemas gs://sslrec-no-such-bucket-xyz/schemas: '
     r'cannot read the schema folder \(\w+: .+\); check the URI'),
    ('dataset_name_leaves_its_folder', _dataset_name_with_dots, 2,
     r"^sslrec data: error: --dataset '\.\./\.\./etc/x': a dataset name is a "
     r'plain file name'),
    ('out_is_the_source_with_force', _out_is_the_source, 2,
     r'^sslrec data: error: --out .*/toy is, contains or sits inside the '
     r'source'),
]
_CLEANUPS = []


@pytest.mark.parametrize('case, make, code, line', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_setting_stops_before_any_work_in_one_line(
    data, tmp_path, capsys, case, make, code, line):
  del case
  try:
    argv = make(tmp_path, data)
    got = cli.main(argv)
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert got == code, err[-3000:]
    assert re.search(line, last), last
    assert 'Traceback' not in err, err[-3000:]
    out = tmp_path / 'out'
    assert not (out / 'metadata.sqlite').exists()
    assert not (out / 'pipeline').exists()
  finally:
    while _CLEANUPS:
      _CLEANUPS.pop()()

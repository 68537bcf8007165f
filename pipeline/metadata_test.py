"""Tests of the metadata connection config (text format, YAML, errors)."""
import os

import pytest
from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2

from pipeline import metadata


def _write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def test_default_is_the_sqlite_file():
  config = metadata.resolve('', '/out/metadata.sqlite')
  assert config.sqlite.filename_uri == '/out/metadata.sqlite'
  assert (config.sqlite.connection_mode ==
          mlmd_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  readonly = metadata.resolve('', '/out/metadata.sqlite', readonly=True)
  assert (readonly.sqlite.connection_mode ==
          mlmd_pb2.SqliteMetadataSourceConfig.READONLY)
  assert metadata.is_sqlite(config)


def test_text_format_mysql(tmp_path):
  path = _write(tmp_path, 'mlmd.pbtxt', 'mysql { host: "db" port: 3307 '
                'database: "mlmd" user: "sslrec" password: "secret" }')
  config = metadata.resolve(path, 'ignored.sqlite')
  assert (config.mysql.host, config.mysql.port, config.mysql.database,
          config.mysql.user) == ('db', 3307, 'mlmd', 'sslrec')
  assert metadata.describe(config) == 'mysql://sslrec@db:3307/mlmd'
  assert 'secret' not in metadata.describe(config)
  assert not metadata.is_sqlite(config)


def test_yaml_mysql_password_from_environment(tmp_path, monkeypatch):
  path = _write(tmp_path, 'mlmd.yaml', 'mysql:\n  host: db\n  database: m\n'
                '  user: u\n  password_env: MLMD_TEST_PASSWORD\n')
  monkeypatch.setenv('MLMD_TEST_PASSWORD', 'pw')
  config = metadata.load(path)
  assert config.mysql.password == 'pw'
  assert metadata.describe(config) == 'mysql://u@db:3306/m'  # default port
  monkeypatch.delenv('MLMD_TEST_PASSWORD')
  with pytest.raises(metadata.MetadataConfigError,
                     match='mysql.password_env: environment variable '
                     'MLMD_TEST_PASSWORD is not set'):
    metadata.load(path)


def test_yaml_sqlite(tmp_path):
  path = _write(tmp_path, 'mlmd.yml', 'sqlite: {filename_uri: /s/m.sqlite}\n')
  assert metadata.load(path).sqlite.filename_uri == '/s/m.sqlite'


@pytest.mark.parametrize('name, text, message', [
    ('m.yaml', 'mysql: {host: db, database: m, prot: 1}\n',
     'unknown key mysql.prot; known keys: host, port'),
    ('m.yaml', 'mysql: {host: db, database: m, port: "3306"}\n',
     "mysql.port: expected an integer, got '3306'"),
    ('m.yaml', 'postgres: {host: db}\n', "unknown key 'postgres'"),
    ('m.yaml', 'mysql: {host: db}\nsqlite: {filename_uri: x}\n',
     'expected one top-level key'),
    ('m.yaml', 'mysql: {host: db}\n', 'mysql.database is required'),
    ('m.yaml', 'mysql: [db]\n', 'mysql: expected a mapping'),
    ('m.yaml', 'mysql: {host: [\n', 'not valid YAML'),
    ('m.pbtxt', 'mysql { hots: "db" }', 'not a ConnectionConfig in text format'),
    ('m.pbtxt', 'fake_database {}', 'expected a mysql or sqlite connection'),
    ('m.pbtxt', 'sqlite {}', 'sqlite.filename_uri is required'),
    ('m.json', '{}', 'unknown metadata config format'),
])
def test_bad_files_name_the_file_and_key(tmp_path, name, text, message):
  path = _write(tmp_path, name, text)
  with pytest.raises(metadata.MetadataConfigError) as e:
    metadata.load(path)
  assert str(e.value).startswith(path + ': ')
  assert message in str(e.value)


def test_missing_file(tmp_path):
  path = os.path.join(tmp_path, 'none.yaml')
  with pytest.raises(metadata.MetadataConfigError, match='not found'):
    metadata.resolve(path, 'x.sqlite')

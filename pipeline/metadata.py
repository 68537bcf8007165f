"""Where ML Metadata lives: the run's own sqlite file, or a shared MySQL server.

By default a run keeps ML Metadata in `<output>/metadata.sqlite`. Teams and
Kubeflow deployments keep it in MySQL (or MariaDB): a metadata config file,
given as `--metadata-config FILE` (YAML key `metadata_config`), holds one MLMD
`ConnectionConfig`, either in protobuf text format (`.pbtxt`, `.textproto`,
`.txt`):

    mysql { host: "mlmd.internal" port: 3306 database: "mlmd" user: "sslrec" }

or in YAML (`.yaml`, `.yml`):

    mysql:
      host: mlmd.internal
      port: 3306
      database: mlmd          # created on first use
      user: sslrec
      password_env: MLMD_PASSWORD   # read from this environment variable

    sqlite:
      filename_uri: /shared/metadata.sqlite

A password may stand in the file (`password`), but `password_env` keeps it out
of files and of anything logged: `describe()` never shows it.
"""
import os
from typing import Any, Dict, Mapping

from ml_metadata.proto import metadata_store_pb2 as mlmd_pb2
from pipeline.errors import UserError

TEXT_SUFFIXES = ('.pbtxt', '.textproto', '.txt')
YAML_SUFFIXES = ('.yaml', '.yml')
_MYSQL_KEYS = {'host': str, 'port': int, 'database': str, 'user': str,
               'password': str, 'password_env': str, 'socket': str}
_SQLITE_KEYS = {'filename_uri': str}


class MetadataConfigError(UserError):
  """A metadata config file that cannot be used (the message names file and key)."""


def sqlite(path: str, readonly: bool = False) -> mlmd_pb2.ConnectionConfig:
  """A connection to the sqlite file `path` (created by a run when missing)."""
  config = mlmd_pb2.ConnectionConfig()
  config.sqlite.filename_uri = path
  config.sqlite.connection_mode = (
      mlmd_pb2.SqliteMetadataSourceConfig.READONLY if readonly else
      mlmd_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
  return config


def resolve(metadata_config: str, sqlite_path: str,
            readonly: bool = False) -> mlmd_pb2.ConnectionConfig:
  """The connection of `metadata_config` (a file), else the sqlite file."""
  if metadata_config:
    return load(metadata_config)
  return sqlite(sqlite_path, readonly=readonly)


def load(path: str) -> mlmd_pb2.ConnectionConfig:
  """Reads a ConnectionConfig from a text-format or YAML file."""
  if not os.path.isfile(path):
    raise MetadataConfigError(f'{path}: metadata config file not found')
  with open(path) as f:
    content = f.read()
  if path.endswith(YAML_SUFFIXES):
    config = _from_yaml(content, path)
  elif path.endswith(TEXT_SUFFIXES):
    config = _from_text(content, path)
  else:
    raise MetadataConfigError(
        f'{path}: unknown metadata config format; name the file '
        f'*{" *".join(TEXT_SUFFIXES)} (protobuf text format) or '
        f'*{" *".join(YAML_SUFFIXES)} (YAML)')
  kind = config.WhichOneof('config')
  if kind not in ('mysql', 'sqlite'):
    raise MetadataConfigError(
        f'{path}: expected a mysql or sqlite connection, got '
        f'{kind or "nothing"}')
  if kind == 'mysql':
    for key in ('host', 'database'):
      if not getattr(config.mysql, key) and not (
          key == 'host' and config.mysql.socket):
        raise MetadataConfigError(f'{path}: mysql.{key} is required')
  if kind == 'sqlite' and not config.sqlite.filename_uri:
    raise MetadataConfigError(f'{path}: sqlite.filename_uri is required')
  return config


def describe(config: mlmd_pb2.ConnectionConfig) -> str:
  """Where the store is, for logs and errors (never the password)."""
  if config.WhichOneof('config') == 'mysql':
    m = config.mysql
    where = m.socket or f'{m.host}:{m.port or 3306}'
    return f'mysql://{m.user + "@" if m.user else ""}{where}/{m.database}'
  return config.sqlite.filename_uri


def mysql_reason(mysql, timeout_s: float = 5.0) -> str:
  """Why a MySQL server cannot be used, when the client library gave no
  reason ('errno: , error: '): a TCP connection attempt names the cause."""
  import socket  # pylint: disable=g-import-not-at-top
  if mysql.socket:
    target, family = mysql.socket, socket.AF_UNIX
  else:
    target, family = (mysql.host, mysql.port or 3306), None
  try:
    if family == socket.AF_UNIX:
      with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout_s)
        s.connect(target)
    else:
      socket.create_connection(target, timeout=timeout_s).close()
  except socket.gaierror as e:
    return f'unknown host {mysql.host!r} ({e.strerror or e})'
  except OSError as e:
    return (f'cannot reach the server: {e.strerror or type(e).__name__} (is '
            'MySQL running there?)')
  return ('the server answered but refused the connection: check mysql.user, '
          'the password, mysql.database and that the user may use it (MySQL '
          '8: the mysql_native_password plugin)')


def is_sqlite(config: mlmd_pb2.ConnectionConfig) -> bool:
  return config.WhichOneof('config') == 'sqlite'


def _from_text(content: str, path: str) -> mlmd_pb2.ConnectionConfig:
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  config = mlmd_pb2.ConnectionConfig()
  try:
    text_format.Parse(content, config)
  except text_format.ParseError as e:
    raise MetadataConfigError(f'{path}: not a ConnectionConfig in text '
                              f'format: {e}') from None
  return config


def _from_yaml(content: str, path: str) -> mlmd_pb2.ConnectionConfig:
  import yaml  # pylint: disable=g-import-not-at-top
  try:
    data = yaml.safe_load(content)
  except yaml.YAMLError as e:
    raise MetadataConfigError(f'{path}: not valid YAML: {e}') from None
  if not isinstance(data, Mapping) or len(data) != 1:
    raise MetadataConfigError(
        f'{path}: expected one top-level key, mysql or sqlite')
  (kind, fields), = data.items()
  keys = {'mysql': _MYSQL_KEYS, 'sqlite': _SQLITE_KEYS}.get(kind)
  if keys is None:
    raise MetadataConfigError(
        f'{path}: unknown key {kind!r}; expected mysql or sqlite')
  if not isinstance(fields, Mapping):
    raise MetadataConfigError(f'{path}: {kind}: expected a mapping of keys '
                              f'({", ".join(keys)})')
  values = _checked(fields, keys, kind, path)
  config = mlmd_pb2.ConnectionConfig()
  if kind == 'sqlite':
    config.sqlite.filename_uri = values['filename_uri']
    return config
  env = values.pop('password_env', None)
  if env is not None:
    if env not in os.environ:
      raise MetadataConfigError(f'{path}: mysql.password_env: environment '
                                f'variable {env} is not set')
    values['password'] = os.environ[env]
  for key, value in values.items():
    setattr(config.mysql, key, value)
  return config


def _checked(fields: Mapping[str, Any], keys: Mapping[str, type], kind: str,
             path: str) -> Dict[str, Any]:
  out = {}
  for key, value in fields.items():
    if key not in keys:
      raise MetadataConfigError(f'{path}: unknown key {kind}.{key}; known '
                                f'keys: {", ".join(keys)}')
    kind_ok = isinstance(value, keys[key]) and not isinstance(value, bool)
    if not kind_ok:
      raise MetadataConfigError(
          f'{path}: {kind}.{key}: expected '
          f'{"an integer" if keys[key] is int else "a string"}, got {value!r}')
    out[key] = value
  return out

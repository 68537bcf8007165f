"""Writes annotated TFMD schemas (the `sslrec:<kind>` convention) as text.

The output follows the bundled folders under `schemas/`: a required column has
`presence { min_fraction: 1.0 min_count: 1 }` and `shape { dim { size: 1 } }`,
an optional one (some cells empty) `value_count { max: 1 }`; each used column
carries one `sslrec:<kind>` tag and a comment. `item_id` and `timestamp` in the
interactions schema are untagged contract columns.
"""
import dataclasses
from typing import Sequence

from models import features

_TYPES = {'string': 'BYTES', 'float': 'FLOAT', 'int': 'INT'}


@dataclasses.dataclass(frozen=True)
class Column:
  """One declared column: its kind tag ('' for none), dtype and presence."""
  name: str
  kind: str
  dtype: str  # 'string' | 'float' | 'int'
  required: bool
  comment: str = ''


def _quote(text: str) -> str:
  return '"' + text.replace('\\', '\\\\').replace('"', '\\"') + '"'


def _feature(column: Column) -> str:
  lines = ['feature {', f'  name: {_quote(column.name)}',
           f'  type: {_TYPES[column.dtype]}']
  if column.required:
    lines += ['  presence { min_fraction: 1.0 min_count: 1 }',
              '  shape { dim { size: 1 } }']
  else:
    lines.append('  value_count { max: 1 }')
  if column.name == features.TIMESTAMP and column.dtype == 'int':
    lines.append('  int_domain { min: 0 }')
  if column.kind:
    comment = f' comment: {_quote(column.comment)}' if column.comment else ''
    lines.append(f'  annotation {{ tag: {_quote(features.TAG_PREFIX + column.kind)}'
                 f'{comment} }}')
  lines.append('}')
  return '\n'.join(lines)


def render(columns: Sequence[Column], header: str) -> str:
  """The schema text: `header` as comment lines, then one feature per column."""
  comment = ''.join(f'# {line}'.rstrip() + '\n' for line in header.splitlines())
  return comment + '\n'.join(_feature(c) for c in columns) + '\n'


def interaction_columns(user_columns: Sequence[Column]) -> list:
  """user_id, item_id, timestamp, the user's columns, history."""
  return ([Column(features.USER_ID, features.ID, 'string', True),
           Column(features.ITEM_ID, '', 'string', True),
           Column(features.TIMESTAMP, '', 'int', True)]
          + list(user_columns)
          + [Column(features.HISTORY, features.HISTORY, 'string', False,
                    'previous item ids, most recent first, joined by |; '
                    'empty on a first event')])

"""Annotated TFMD schemas of the bundled datasets (one folder per dataset).

Each folder holds `items.pbtxt` and `interactions.pbtxt`; see models/features.py
for the annotation tags. A user with their own data copies a folder and edits it.
"""
import os
from pipeline.errors import UserError

SCHEMAS_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT = 'movielens-100k'


def available():
  return sorted(d for d in os.listdir(SCHEMAS_DIR)
                if os.path.isfile(os.path.join(SCHEMAS_DIR, d, 'items.pbtxt')))


def resolve(name_or_path: str) -> str:
  """Returns the schema folder for a bundled dataset name or a folder path."""
  if os.path.isdir(name_or_path):
    return os.path.abspath(name_or_path)
  candidate = os.path.join(SCHEMAS_DIR, name_or_path)
  if os.path.isdir(candidate):
    return candidate
  raise UserError(f'schema folder {name_or_path!r} not found: give a folder '
                   f'holding items.pbtxt and interactions.pbtxt, or one of '
                   f'{available()}')

"""Errors about the user's input: the command line prints them as one line, exit 2.

Only these are bad input. Any other exception is a bug or a failure of the
environment: exit 1, its traceback in the run log (pipeline/cli.py). Raise
UserError where a check of the user's input (a flag, a config key, a data
file, a schema, a name) fails, with a message naming the field, file or row.
It is a ValueError, so code that catches ValueError still catches it.
"""


class UserError(ValueError):
  """A problem with the user's input: printed as one message, no traceback."""


class MissingInputError(UserError, FileNotFoundError):
  """A file or folder the user named does not exist."""

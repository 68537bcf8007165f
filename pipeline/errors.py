"""Errors that the command line prints as one line, without a traceback."""


class UserError(Exception):
  """A problem with the user's input: printed as one message, no traceback."""

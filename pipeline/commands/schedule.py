"""`sslrec schedule`: a cron entry that runs `sslrec run` on a schedule.

The entry runs this venv's `sslrec run` with the given run options (paths made
absolute) from the current directory and appends its output to
<output>/logs/cron.log. Runs never overlap: `sslrec run` holds the output
folder's run lock, so a run that starts while the previous one is still going
fails at once (the log says so). One entry per output folder: scheduling the
same output again replaces its entry; `--remove` deletes it.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
from typing import List

from pipeline import errors
from pipeline.commands import run as run_command

LOG_DIR = run_command.LOG_DIR  # beside each run's own log
LOG_FILE = 'cron.log'
_MARKER = '# sslrec-schedule output='
_MACROS = ('@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight',
           '@hourly', '@reboot')
_MONTHS = ('jan feb mar apr may jun jul aug sep oct nov dec').split()
_DAYS = 'sun mon tue wed thu fri sat'.split()
# (name, lowest, highest, names for lowest..): the five cron fields.
_FIELDS = (('minute', 0, 59, ()), ('hour', 0, 23, ()),
           ('day-of-month', 1, 31, ()), ('month', 1, 12, _MONTHS),
           ('day-of-week', 0, 7, _DAYS))
_ITEM = re.compile(r'^(\*|(\w+)(-(\w+))?)(/(\d+))?$')


def _field_problem(text: str, name: str, low: int, high: int, names) -> str:
  """'' when `text` is a valid cron field, else why not."""
  def number(word):
    if word.isdigit() and word.isascii():
      value = int(word)
    elif word.lower() in names:
      value = names.index(word.lower()) + low
    else:
      return None
    return value if low <= value <= high else None

  for item in text.split(','):
    match = _ITEM.match(item)
    if not match:
      return f'{item!r} is not *, N, N-M or one of those with /STEP'
    start, end, step = match.group(2), match.group(4), match.group(6)
    for word in (start, end):
      if word is not None and number(word) is None:
        return f'{word!r} is outside {low}-{high}' + (
            f' (or {names[0]}..{names[-1]})' if names else '')
    if end is not None and number(end) < number(start):
      return f'{item!r}: the range runs backwards'
    if step is not None and int(step) == 0:
      return f'{item!r}: the step must be at least 1'
  return ''


def check_cron(expression: str) -> str:
  """Returns the normalized schedule, or raises UserError for a malformed one."""
  fields = expression.split()
  if len(fields) == 1 and fields[0] in _MACROS:
    return fields[0]
  if len(fields) != 5:
    raise errors.UserError(
        f'--cron {expression!r}: expected 5 fields "minute hour day-of-month '
        f'month day-of-week" (e.g. "0 3 * * *") or one of {", ".join(_MACROS)}')
  for text, (name, low, high, names) in zip(fields, _FIELDS):
    problem = _field_problem(text, name, low, high, names)
    if problem:
      raise errors.UserError(f'--cron {expression!r}: {name} field {text!r}: '
                             f'{problem}')
  return ' '.join(fields)


def sslrec_command() -> List[str]:
  """This environment's `sslrec` (the venv's console script), as argv."""
  script = os.path.join(os.path.dirname(sys.executable), 'sslrec')
  if os.access(script, os.X_OK):
    return [script]
  return [sys.executable, '-m', 'pipeline.cli']


def marker(output_dir: str) -> str:
  """The trailing comment that identifies the entry of `output_dir`."""
  return (_MARKER + os.path.abspath(output_dir)).replace('%', r'\%')


def cron_entry(schedule: str, run_argv: List[str], output_dir: str,
               workdir: str, command: List[str]) -> str:
  """One crontab line: cd, run, append stdout+stderr to <output>/logs/cron.log."""
  output_dir = os.path.abspath(output_dir)
  log_dir = os.path.join(output_dir, LOG_DIR)
  shell = ' '.join([
      'cd', shlex.quote(os.path.abspath(workdir)), '&&',
      'mkdir', '-p', shlex.quote(log_dir), '&&',
      ' '.join(shlex.quote(a) for a in command + ['run'] + run_argv),
      '>>', shlex.quote(os.path.join(log_dir, LOG_FILE)), '2>&1'])
  # cron turns an unescaped % into a newline, even inside quotes.
  shell = shell.replace('%', r'\%')
  return f'{schedule} {shell} {marker(output_dir)}'


def replace_entry(crontab: str, output_dir: str, entry: str = '') -> str:
  """`crontab` without the entry of `output_dir`, plus `entry` if given."""
  tag = marker(output_dir)
  lines = [line for line in crontab.splitlines()
           if not line.rstrip().endswith(tag)]
  if entry:
    lines.append(entry)
  return ''.join(line + '\n' for line in lines)


def _crontab(*args: str, stdin: str = None) -> subprocess.CompletedProcess:
  binary = shutil.which('crontab')
  if binary is None:
    raise errors.UserError(
        'crontab is not installed, so the entry cannot be installed: install '
        'cron (e.g. `apt-get install cron` and start the service), or print '
        'the entry with --print and add it to your scheduler')
  return subprocess.run([binary, *args], input=stdin, capture_output=True,
                        text=True, check=False)


def _read_crontab() -> str:
  result = _crontab('-l')
  if result.returncode == 0:
    return result.stdout
  if 'no crontab' in result.stderr.lower():
    return ''
  raise errors.UserError(f'crontab -l failed: {result.stderr.strip()}')


def _write_crontab(text: str) -> None:
  result = _crontab('-', stdin=text)
  if result.returncode != 0:
    raise errors.UserError(f'crontab - failed: {result.stderr.strip()}')


def _schedule(args) -> int:
  config = run_command.config_from_args(args)  # a bad config fails now, not at 3 am
  if args.remove:
    _write_crontab(replace_entry(_read_crontab(), config.output))
    print(f'removed the sslrec entry of {os.path.abspath(config.output)} '
          'from the crontab')
    return 0
  if args.cron is None:
    raise errors.UserError('--cron is required (e.g. --cron "0 3 * * *")')
  entry = cron_entry(check_cron(args.cron), run_command.run_argv(args),
                     config.output, os.getcwd(), sslrec_command())
  if args.print:
    print(entry)
    return 0
  _write_crontab(replace_entry(_read_crontab(), config.output, entry))
  print(f'installed (crontab -l shows it):\n{entry}\nlogs: '
        f'{os.path.join(os.path.abspath(config.output), LOG_DIR, LOG_FILE)}')
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      'schedule', help='install (or print) a cron entry running sslrec run',
      description='Installs a crontab entry that runs `sslrec run` with the '
      'given run options; two runs never overlap on one output folder.')
  parser.add_argument('--cron', metavar='SCHEDULE',
                      help='cron schedule, e.g. "0 3 * * *" (03:00 daily)')
  parser.add_argument('--print', action='store_true',
                      help='print the entry instead of installing it')
  parser.add_argument('--remove', action='store_true',
                      help="remove the output folder's entry from the crontab")
  run_command.add_run_arguments(parser)
  parser.set_defaults(func=_schedule)

"""Tests of `sslrec schedule`: entry generation, the entry's command, crontab edits."""
import os
import shlex
import subprocess
import sys

import pytest

from pipeline import cli
from pipeline import run_lock
from pipeline.commands import schedule

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A stand-in for crontab(1) keeping the table in $CRONTAB_FILE (the real one
# would edit the tester's crontab): `crontab -l` prints it, `crontab -` sets it.
_FAKE_CRONTAB = """#!/bin/sh
if [ "$1" = "-l" ]; then
  [ -f "$CRONTAB_FILE" ] || { echo "no crontab for $USER" >&2; exit 1; }
  cat "$CRONTAB_FILE"
elif [ "$1" = "-" ]; then
  cat > "$CRONTAB_FILE"
else
  exit 2
fi
"""


def _schedule(capsys, argv):
  code = cli.main(['schedule'] + argv)
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def _command_of(entry):
  """The shell command cron runs for `entry` (5 schedule fields, % unescaped)."""
  return entry.split(' ', 5)[5].replace('\\%', '%')


def test_print_gives_an_absolute_entry_logging_to_the_output(
    tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  (tmp_path / 'c.yaml').write_text('training:\n  epochs: 5\n')
  code, out, _ = _schedule(capsys, [
      '--cron', '0 3 * * *', '--print', '--config', 'c.yaml', '--data', 'd',
      '--output', 'o', '--epochs', '2'])
  assert code == 0
  entry = out.strip()
  assert '\n' not in entry
  assert entry.startswith('0 3 * * * ')
  assert entry.endswith(f'# sslrec-schedule output={tmp_path}/o')
  words = shlex.split(_command_of(entry), comments=True)
  assert words[:6] == ['cd', str(tmp_path), '&&', 'mkdir', '-p',
                       f'{tmp_path}/o/logs']
  run = words[7:words.index('>>')]
  assert run == [os.path.join(os.path.dirname(sys.executable), 'sslrec'),
                 'run', '--config', f'{tmp_path}/c.yaml', f'--data={tmp_path}/d',
                 f'--output={tmp_path}/o', '--epochs', '2']
  assert words[words.index('>>') + 1:] == [f'{tmp_path}/o/logs/cron.log', '2>&1']


def test_percent_signs_are_escaped_for_cron(tmp_path):
  entry = schedule.cron_entry('@daily', ['--output=/x%y'], '/x%y', '/w',
                              ['/v/sslrec'])
  assert '%' not in entry.replace('\\%', '')


@pytest.mark.parametrize('expression', ['0 3 * *', '0 3 * * * *',
                                        '@sometimes', ''])
def test_malformed_schedule_is_a_clear_error(capsys, expression):
  code, _, err = _schedule(capsys, ['--cron', expression, '--print'])
  assert code == 2
  assert f'--cron {expression!r}: expected 5 fields' in err


@pytest.mark.parametrize('expression, message', [
    ('60 3 * * *', "minute field '60': '60' is outside 0-59"),
    ('0 24 * * *', "hour field '24': '24' is outside 0-23"),
    ('0 3 0 * *', "day-of-month field '0': '0' is outside 1-31"),
    ('0 3 * 13 *', "month field '13'"),
    ('0 3 * * 8', "day-of-week field '8'"),
    ('0 3 * * ;', "day-of-week field ';': ';' is not *, N, N-M"),
    ('0 5-2 * * *', "hour field '5-2': '5-2': the range runs backwards"),
    ('*/0 * * * *', "'*/0': the step must be at least 1"),
    ('0 3 * foo *', "month field 'foo': 'foo' is outside 1-12 (or jan..dec)"),
    ('0 3 * * \u0663', "day-of-week field"),
])
def test_each_cron_field_is_checked(capsys, expression, message):
  code, _, err = _schedule(capsys, ['--cron', expression, '--print'])
  assert code == 2
  assert message in err, err


@pytest.mark.parametrize('expression', [
    '*/15 0-6,22 1,15 jan-mar,DEC mon-fri', '0 3 * * 7', '0 0 31 12 sun'])
def test_valid_cron_fields(capsys, expression):
  code, out, err = _schedule(capsys, ['--cron', expression, '--print'])
  assert code == 0, err
  assert out.startswith(expression + ' ')


def test_bad_run_options_fail_at_schedule_time(tmp_path, capsys):
  (tmp_path / 'c.yaml').write_text('trainin:\n  epochs: 5\n')
  code, _, err = _schedule(capsys, ['--cron', '@daily', '--print', '--config',
                                    str(tmp_path / 'c.yaml')])
  assert code == 2
  assert 'unknown key trainin' in err


def test_cron_command_runs_sslrec_and_logs_and_respects_the_run_lock(
    tmp_path, capsys):
  """Runs the entry's command as cron would while another run holds the output.

  The scheduled run must stop at once with the lock message, appended to
  <output>/logs/cron.log (the data folder does not even need to exist).
  """
  out = tmp_path / 'out'
  code, entry, _ = _schedule(capsys, [
      '--cron', '* * * * *', '--print', '--data', str(tmp_path / 'none'),
      '--output', str(out)])
  assert code == 0
  env = {'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path)}  # cron's sparse env
  with run_lock.hold(str(out)):
    result = subprocess.run(['/bin/sh', '-c', _command_of(entry.strip())],
                            env=env, cwd='/', capture_output=True, text=True,
                            timeout=120, check=False)
  assert result.returncode == 2, result
  log = (out / 'logs' / 'cron.log').read_text()
  assert 'sslrec run: error:' in log
  assert 'in use by another sslrec run' in log
  assert f'pid {os.getpid()}' in log


def _fake_crontab(tmp_path, monkeypatch):
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  script = bin_dir / 'crontab'
  script.write_text(_FAKE_CRONTAB)
  script.chmod(0o755)
  table = tmp_path / 'table'
  monkeypatch.setenv('PATH', f'{bin_dir}:/usr/bin:/bin')
  monkeypatch.setenv('CRONTAB_FILE', str(table))
  return table


def test_install_replaces_the_entry_of_the_same_output_only(
    tmp_path, monkeypatch, capsys):
  table = _fake_crontab(tmp_path, monkeypatch)
  monkeypatch.chdir(tmp_path)
  other = '30 1 * * * /usr/bin/backup\n'
  table.write_text(other)
  assert _schedule(capsys, ['--cron', '0 3 * * *', '--output', 'a'])[0] == 0
  assert _schedule(capsys, ['--cron', '0 4 * * *', '--output', 'b'])[0] == 0
  assert _schedule(capsys, ['--cron', '0 5 * * *', '--output', 'a'])[0] == 0
  lines = table.read_text().splitlines()
  assert lines[0] == other.strip()
  assert [l.split(' ', 5)[:2] for l in lines[1:]] == [['0', '4'], ['0', '5']]
  assert lines[1].endswith(f'output={tmp_path}/b')
  assert lines[2].endswith(f'output={tmp_path}/a')
  assert _schedule(capsys, ['--remove', '--output', 'a'])[0] == 0
  assert table.read_text().splitlines() == lines[:2]


def test_install_into_an_empty_crontab(tmp_path, monkeypatch, capsys):
  table = _fake_crontab(tmp_path, monkeypatch)
  code, out, _ = _schedule(capsys, ['--cron', '@hourly', '--output',
                                    str(tmp_path / 'o')])
  assert code == 0
  assert table.read_text().startswith('@hourly cd ')
  assert f'{tmp_path}/o/logs/cron.log' in out


def test_install_without_crontab_fails_clearly_and_print_still_works(
    tmp_path, monkeypatch, capsys):
  monkeypatch.setenv('PATH', str(tmp_path))  # no crontab here
  code, _, err = _schedule(capsys, ['--cron', '0 3 * * *'])
  assert code == 2
  assert 'crontab is not installed' in err and '--print' in err
  code, out, _ = _schedule(capsys, ['--cron', '0 3 * * *', '--print'])
  assert code == 0 and out.startswith('0 3 * * * cd ')

"""`sslrec inspect runs|artifacts|lineage|pushed`: read ML Metadata from the CLI.

Reads <output>/metadata.sqlite (or --metadata FILE) read-only; --json prints
the same facts as JSON. See pipeline/inspection.py for what each one means.
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from pipeline import errors
from pipeline import config as config_lib
from pipeline import run_lock


def _fmt(value: Any) -> str:
  if isinstance(value, float):
    return f'{value:.4f}'
  if isinstance(value, bool):
    return 'yes' if value else 'no'
  if value is None:
    return '-'
  if isinstance(value, (dict, list)):
    return json.dumps(value, sort_keys=True)
  return str(value)


def _props(props: Dict[str, Any]) -> str:
  return '  '.join(f'{k}={_fmt(v)}' for k, v in props.items())


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
  widths = [max(len(str(r[i])) for r in [header, *rows])
            for i in range(len(header))]
  lines = ['  '.join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
           for r in [header, *rows]]
  return '\n'.join(lines)


def format_runs(runs: List[Dict[str, Any]]) -> str:
  if not runs:
    return 'no pipeline runs'
  rows = [(r['run_id'], r['state'], r['start'] or '-', r['end'] or '-',
           str(len(r['executions'])), str(len(r['cached'])))
          for r in runs]
  lines = [_table(rows, ('RUN', 'STATE', 'START', 'END', 'EXECUTIONS',
                         'CACHED'))]
  for r in runs:
    for label in ('failed', 'cached'):
      if r[label]:
        lines.append(f'{r["run_id"]} {label}: {", ".join(r[label])}')
  return '\n'.join(lines)


def format_artifacts(artifacts: List[Dict[str, Any]]) -> str:
  if not artifacts:
    return 'no artifacts'
  with_role = 'role' in artifacts[0]
  rows = [(str(a['id']), a['type'], a['created'] or '-', a['producer'] or '-',
           a['run_id'] or '-') + ((a['role'],) if with_role else ())
          + (a['uri'], _props(a['properties']))
          for a in artifacts]
  return _table(rows, ('ID', 'TYPE', 'CREATED', 'PRODUCER', 'RUN')
                + (('ROLE',) if with_role else ()) + ('URI', 'PROPERTIES'))


def _artifact_line(node: Dict[str, Any]) -> str:
  line = f'{node["type"]} #{node["id"]} {node["uri"]}'
  if node['properties']:
    line += '  ' + _props(node['properties'])
  if node.get('seen'):
    line += '  (see above)'
  return line


def format_lineage(tree: Dict[str, Any]) -> str:
  """The upstream tree, one artifact or execution per line."""
  lines = [_artifact_line(tree)]

  def children_of(node):
    producer = node.get('produced_by')
    if not producer:
      return []
    head = (f'{producer["node"] or "?"} (execution {producer["execution_id"]}'
            f', {producer["state"]}, run {producer["run_id"] or "-"})')
    kids = [(f'{key}: ', child) for key, child in
            ((k, c) for k, cs in producer['inputs'].items() for c in cs)]
    kids += [(f'{name}: {value}', None)
             for name, value in producer['sources'].items()]
    return [(head, kids)]

  def draw(entries, prefix):
    for i, (label, payload) in enumerate(entries):
      last = i == len(entries) - 1
      branch, extend = ('└─ ', '   ') if last else ('├─ ', '│  ')
      if isinstance(payload, list):  # an execution with its inputs
        lines.append(prefix + branch + label)
        draw(payload, prefix + extend)
      elif payload is None:  # a source file
        lines.append(prefix + branch + label)
      else:  # an input artifact
        lines.append(prefix + branch + label + _artifact_line(payload))
        draw(children_of(payload), prefix + extend)

  draw(children_of(tree), '')
  return '\n'.join(lines)


def format_pushed(pushes: List[Dict[str, Any]]) -> str:
  if not pushes:
    return 'nothing pushed'
  lines = []
  for p in pushes:
    ev = p['evaluation']
    metrics = ', '.join(f'{k} {_fmt(v)}' for k, v in ev.items()
                        if k.startswith('recall@'))
    blessing = p.get('blessing') or {}
    if p.get('rollback_of'):
      verdict = f'; rollback to version {p["rollback_of"]}'
    elif blessing.get('blessed') is not None:  # the blessing OF the push
      verdict = (f'; blessed {_fmt(blessing["blessed"])} (ModelBlessing '
                 f'#{blessing["blessing_id"]})')
    else:
      verdict = ''
    missing = ('  MISSING: the served folder does not exist'
               if p.get('served') is False else '')
    lines.append(f'{p["pusher"]}: version {p["pushed_version"]} -> '
                 f'{p["pushed_destination"]}{missing}')
    again = (f', last confirmed by run {p["last_run_id"]}'
             if p.get('last_run_id') not in (None, p['run_id']) else '')
    how = ('found already pushed (same bytes)' if p.get('new_version') is False
           else 'pushed')
    lines.append(f'  {how} {p["created"]} by run {p["run_id"] or "-"} '
                 f'(artifact #{p["id"]}{again}); '
                 f'{metrics or "no evaluation recorded"}{verdict}')
  return '\n'.join(lines)


def _run_config(args) -> 'config_lib.RunConfig':
  """The output folder and metadata connection the flags name."""
  config = (config_lib.load(args.config) if args.config
            else config_lib.RunConfig())
  changes = {}
  if args.output:
    changes['output'] = args.output
  if getattr(args, 'metadata_config', None):
    changes['metadata_config'] = args.metadata_config
  return config.replace(changes) if changes else config


def metadata_source(args):
  """What to read: --metadata FILE, else the run config's connection."""
  if args.metadata:
    return args.metadata
  return _run_config(args).metadata_connection(readonly=True)


def _warn_partial_versions(serving_root: str) -> None:
  """One stderr line per version a killed push or an older release left
  half-published (components/pusher/versions.py); `sslrec run` and
  `sslrec rollback` repair them."""
  if not os.path.isdir(serving_root):
    return
  from components.pusher import versions  # pylint: disable=g-import-not-at-top
  for line in versions.problems(serving_root):
    print(f'sslrec inspect: warning: {serving_root}: {line}; the next '
          '`sslrec run` or `sslrec rollback` repairs it', file=sys.stderr)


def _inspect(args) -> int:
  # ML Metadata is loaded by the command that reads it, not by `sslrec --help`.
  from pipeline import inspection  # pylint: disable=g-import-not-at-top
  try:
    inspector = inspection.inspector(metadata_source(args))
    if args.what == 'runs':
      output = (os.path.dirname(os.path.abspath(args.metadata))
                if args.metadata else _run_config(args).output)
      result = inspector.runs(live=run_lock.is_held(output))
      text = format_runs
    elif args.what == 'artifacts':
      result = inspector.artifacts(run=args.run, type_name=args.type)
      text = format_artifacts
    elif args.what == 'lineage':
      result = inspector.lineage(args.artifact_id)
      text = format_lineage
    else:
      result = inspector.pushed(all_versions=args.all)
      text = format_pushed
      _warn_partial_versions(config_lib.RunConfig(output=os.path.dirname(
          os.path.abspath(args.metadata))).serving_root if args.metadata
                             else _run_config(args).serving_root)
  except inspection.StoreError as e:
    raise errors.UserError(str(e)) from None
  if args.json:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write('\n')
  else:
    print(text(result))
  return 0


def add_metadata_config_flag(parser: argparse.ArgumentParser) -> None:
  """--metadata-config FILE: a shared ML Metadata store (MySQL)."""
  parser.add_argument(
      '--metadata-config', metavar='FILE',
      help='ML Metadata connection (MySQL or sqlite; text-format '
      'ConnectionConfig or YAML, docs/operations.md) instead of '
      '<output>/metadata.sqlite')


def _common() -> argparse.ArgumentParser:
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument('--output', help='the run output folder (default '
                      f'{config_lib.RunConfig().output}); reads '
                      '<output>/metadata.sqlite')
  common.add_argument('--config', metavar='FILE',
                      help='take the output folder from this run config')
  common.add_argument('--metadata', metavar='FILE',
                      help='an ML Metadata sqlite file (instead of --output)')
  add_metadata_config_flag(common)
  common.add_argument('--json', action='store_true', help='print JSON')
  return common


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      'inspect', help='show runs, artifacts, lineage and pushed models '
      'from ML Metadata')
  kinds = parser.add_subparsers(dest='what', metavar='WHAT')
  kinds.required = True
  common = _common()
  kinds.add_parser('runs', parents=[common],
                   help='pipeline runs, newest first: state, times, cache hits')
  artifacts = kinds.add_parser(
      'artifacts', parents=[common],
      help='artifacts with type, URI, creation time and key properties')
  artifacts.add_argument('--run', metavar='ID',
                         help="only this run's artifacts (run id or 'latest')")
  artifacts.add_argument('--type', metavar='TYPE',
                         help='only this artifact type, e.g. ModelEvaluation')
  lineage = kinds.add_parser(
      'lineage', parents=[common],
      help='the executions and artifacts upstream of an artifact, as a tree')
  lineage.add_argument('artifact_id', type=int, metavar='ARTIFACT_ID')
  pushed = kinds.add_parser(
      'pushed', parents=[common],
      help='which versions are pushed (towers, index), from which run, '
      'with their metrics')
  pushed.add_argument('--all', action='store_true',
                      help='every push, not only the newest per pusher')
  parser.set_defaults(func=_inspect)

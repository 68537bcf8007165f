"""`sslrec compile --target kubeflow-v2`: the pipeline spec for Vertex AI / Kubeflow.

The run config (--config, else the defaults) gives data, output, schemas,
Beam args and training; `output` and `data` may be gs:// URIs. The spec's
schedule lives in the orchestrator (docs/operations.md: Vertex schedules).
"""
import yaml

from pipeline import config as config_lib
from pipeline import errors
from pipeline import kubeflow


def _resources(path):
  if not path:
    return None
  with open(path, encoding='utf-8') as f:
    resources = yaml.safe_load(f) or {}
  if not isinstance(resources, dict) or not all(
      isinstance(v, dict) for v in resources.values()):
    raise errors.UserError(f'{path}: expected {{task or default: {{cpu: N, '
                           'memory: 16G}}}}')
  return resources


def _compile(args) -> int:
  config = (config_lib.load(args.config) if args.config
            else config_lib.RunConfig())
  resources = _resources(args.resources)
  pipeline = kubeflow.kubeflow_pipeline(config, args.pipeline_root,
                                        args.schema_dir)
  problems = kubeflow.local_paths(config, args.pipeline_root, args.schema_dir,
                                  args.image)
  if problems and not args.allow_local:
    raise errors.UserError(
        f'{"; ".join(problems)}: the pipeline\'s containers cannot use them. '
        'Give gs:// URIs (data, output in the config; --schema-dir, '
        '--pipeline-root) and an --image with sslrec installed, or pass '
        '--allow-local for a cluster that mounts these paths')
  try:
    job = kubeflow.compile_pipeline(pipeline, args.output, args.image,
                                    resources)
  except ValueError as e:
    raise errors.UserError(f'{args.resources or "spec"}: {e}') from None
  tasks = sorted(job['pipelineSpec']['root']['dag']['tasks'])
  print(f'wrote {args.output}: {len(tasks)} components ({", ".join(tasks)}); '
        f'image {args.image}; pipeline root '
        f'{job["runtimeConfig"]["gcsOutputDirectory"]}')
  return 0


def register(subparsers) -> None:
  parser = subparsers.add_parser(
      'compile', help='write the pipeline spec for Kubeflow V2 / Vertex AI',
      description='Compiles the pipeline with KubeflowV2DagRunner (no cluster '
      'needed) into a PipelineJob JSON for Vertex AI Pipelines or Kubeflow.')
  parser.add_argument('--target', required=True, choices=kubeflow.TARGETS)
  parser.add_argument('--output', required=True, metavar='FILE',
                      help='the spec file to write (JSON)')
  parser.add_argument('--config', metavar='FILE',
                      help='run config (data, output, schemas, beam_args, '
                      'training); data/output may be gs:// URIs')
  parser.add_argument('--image', default=kubeflow.DEFAULT_IMAGE,
                      help='container image with sslrec installed (default '
                      f'{kubeflow.DEFAULT_IMAGE}, which lacks sslrec)')
  parser.add_argument('--pipeline-root', metavar='URI',
                      help='artifact root, e.g. gs://BUCKET/sslrec/pipeline '
                      '(default <output>/pipeline)')
  parser.add_argument('--schema-dir', metavar='URI',
                      help='the schema folder as the containers see it, e.g. '
                      'gs://BUCKET/schemas/movielens-100k (default: the '
                      'local folder the config names)')
  parser.add_argument('--resources', metavar='FILE',
                      help='YAML of per-task CPU / memory limits: '
                      '{default: {cpu: 2, memory: 8G}, TwoTowerTrainer: '
                      '{cpu: 8, memory: 32G}}')
  parser.add_argument('--allow-local', action='store_true',
                      help='compile even with local paths or the stock TFX '
                      'image (a cluster that mounts them / a custom setup)')
  parser.set_defaults(func=_compile)

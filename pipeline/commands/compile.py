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


def _vertex_job(args):
  """The Vertex AI training job of --trainer vertex (None for in place)."""
  if args.trainer != 'vertex':
    return None
  missing = [f'--{n}' for n in ('project', 'region') if not getattr(args, n)]
  if missing:
    raise errors.UserError(f'--trainer vertex needs {" and ".join(missing)}')
  accelerator_type, accelerator_count = '', 0
  if args.accelerator:
    accelerator_type, _, count = args.accelerator.partition(':')
    try:
      accelerator_count = int(count or 1)
    except ValueError:
      raise errors.UserError(f'--accelerator {args.accelerator}: expected '
                             'TYPE[:COUNT], e.g. NVIDIA_TESLA_T4:1') from None
  from components.trainer import vertex  # pylint: disable=g-import-not-at-top
  try:
    return vertex.VertexJob(
        project=args.project, region=args.region, image=args.image,
        workers=args.workers, machine_type=args.machine_type,
        accelerator_type=accelerator_type,
        accelerator_count=accelerator_count)
  except ValueError as e:
    raise errors.UserError(str(e)) from None


def _compile(args) -> int:
  config = (config_lib.load(args.config) if args.config
            else config_lib.RunConfig())
  resources = _resources(args.resources)
  pipeline = kubeflow.kubeflow_pipeline(config, args.pipeline_root,
                                        args.schema_dir, _vertex_job(args))
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
  vertex = parser.add_argument_group(
      'training on Vertex AI Training (TFX google_cloud_ai_platform extension; '
      'TF_CONFIG on every replica: MultiWorkerMirroredStrategy with several '
      'workers)')
  vertex.add_argument('--trainer', choices=('local', 'vertex'),
                      default='local', help='where the Trainer trains: in its '
                      'own task (local) or as a Vertex AI CustomJob (vertex)')
  vertex.add_argument('--project', help='GCP project of the training job')
  vertex.add_argument('--region', help='Vertex AI region, e.g. europe-west4')
  vertex.add_argument('--workers', type=int, default=1,
                      help='training replicas in all: 1 chief + N-1 workers '
                      '(default 1)')
  vertex.add_argument('--machine-type', default='n1-standard-8',
                      help='machine of every replica (default n1-standard-8)')
  vertex.add_argument('--accelerator', metavar='TYPE[:COUNT]',
                      help='accelerators per replica, e.g. NVIDIA_TESLA_T4:1')
  parser.add_argument('--allow-local', action='store_true',
                      help='compile even with local paths or the stock TFX '
                      'image (a cluster that mounts them / a custom setup)')
  parser.set_defaults(func=_compile)

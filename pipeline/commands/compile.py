"""`sslrec compile --target kubeflow-v2`: the pipeline spec for Vertex AI / Kubeflow.

The run config (--config, else the defaults) gives data, output, schemas,
Beam args and training; `output` and `data` may be gs:// URIs. The spec's
schedule lives in the orchestrator (docs/operations.md: Vertex schedules).
"""
from pipeline import config as config_lib
from pipeline import kubeflow


def _compile(args) -> int:
  config = (config_lib.load(args.config) if args.config
            else config_lib.RunConfig())
  pipeline = kubeflow.kubeflow_pipeline(config, args.pipeline_root,
                                        args.schema_dir)
  job = kubeflow.compile_pipeline(pipeline, args.output, args.image)
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
  parser.set_defaults(func=_compile)

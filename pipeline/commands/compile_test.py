"""Tests of `sslrec compile --target kubeflow-v2` (KubeflowV2DagRunner, no cluster)."""
import json
import os

import pytest
import yaml

from pipeline import cli
from pipeline import config as config_lib
from pipeline import kubeflow
from pipeline import runner
from pipeline.config import RunConfig

IMAGE = 'europe-docker.pkg.dev/my-project/sslrec/sslrec:1'
DATA = 'gs://my-bucket/data/synthetic'
OUTPUT = 'gs://my-bucket/sslrec'
SCHEMA_DIR = 'gs://my-bucket/schemas/synthetic'
BEAM_ARGS = ('--direct_running_mode=multi_processing', '--direct_num_workers=2')


def _write_config(path, **overrides):
  lines = [f'data: {DATA}', f'output: {OUTPUT}', 'schemas: synthetic',
           f'beam_args: [{", ".join(BEAM_ARGS)}]', 'training:',
           '  epochs: 3', '  ssl: cfm', 'evaluation:', '  min_recall: 0.0123']
  lines += [f'{k}: {v}' for k, v in overrides.items()]
  path.write_text('\n'.join(lines) + '\n')
  return str(path)


@pytest.fixture(scope='module')
def compiled(tmp_path_factory):
  """The spec written by the library calls `sslrec compile` makes."""
  root = tmp_path_factory.mktemp('compile')
  config = config_lib.load(_write_config(root / 'vertex.yaml'))
  spec_file = str(root / 'spec' / 'pipeline.json')
  kubeflow.compile_pipeline(
      kubeflow.kubeflow_pipeline(config, pipeline_root=f'{OUTPUT}/root'),
      spec_file, IMAGE)
  with open(spec_file) as f:
    return root, spec_file, json.load(f)


def test_cli_compiles_and_names_the_tasks(tmp_path, capsys):
  spec_file = tmp_path / 'out' / 'vertex.json'
  code = cli.main(['compile', '--target', 'kubeflow-v2', '--output',
                   str(spec_file), '--config',
                   _write_config(tmp_path / 'c.yaml'), '--image', IMAGE,
                   '--schema-dir', SCHEMA_DIR])
  captured = capsys.readouterr()
  assert code == 0, captured.err
  assert captured.out.startswith(f'wrote {spec_file}: ')
  assert 'TwoTowerTrainer' in captured.out
  job = json.loads(spec_file.read_text())
  assert job['runtimeConfig']['gcsOutputDirectory'] == f'{OUTPUT}/pipeline'


def _local_component_ids(tmp_path):
  """Component ids of the pipeline `sslrec run` builds, for the same config."""
  data = tmp_path / 'data'
  for sub in ('items', 'interactions/train', 'interactions/eval'):
    (data / sub).mkdir(parents=True)
  config = RunConfig(data=str(data), output=str(tmp_path / 'out'),
                     schemas='synthetic').replace(
                         {'training': {'epochs': 3, 'ssl': 'cfm'},
                          'evaluation': {'min_recall': 0.0123}})
  return [c.id for c in runner.build(config).components]


def _in_spec(component_id, tasks):
  # A Resolver compiles to one task per resolved channel: '<id>-<channel>-resolver'.
  return component_id in tasks or any(t.startswith(component_id + '-')
                                      for t in tasks)


def test_every_component_of_the_pipeline_is_a_task_of_the_spec(
    compiled, tmp_path):
  _, _, job = compiled
  tasks = job['pipelineSpec']['root']['dag']['tasks']
  ids = _local_component_ids(tmp_path)
  assert len(ids) >= 12
  missing = [c for c in ids if not _in_spec(c, tasks)]
  assert not missing, (missing, sorted(tasks))
  assert 'TwoTowerTrainer' in tasks and 'ItemsTransform' in tasks


def test_spec_runs_the_image_with_the_beam_args_on_the_given_paths(compiled):
  _, _, job = compiled
  assert job['displayName'] == 'sslrec'
  assert job['runtimeConfig']['gcsOutputDirectory'] == f'{OUTPUT}/root'
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  containers = [e['container'] for e in executors.values() if 'container' in e]
  assert containers and all(c['image'] == IMAGE for c in containers)
  transform = executors['ItemsTransform_executor']['container']['args']
  assert all(arg in transform for arg in BEAM_ARGS)
  text = json.dumps(job)
  assert f'{DATA}/items' in text and f'{DATA}/interactions' in text
  assert f'{OUTPUT}/serving/query_tower' in text
  assert '\\"epochs\\": 3' in text  # the training config reaches the Trainer
  assert '0.0123' in text  # and the evaluation section the evaluator


def test_spec_file_is_written_whole(compiled):
  root, spec_file, _ = compiled
  assert os.listdir(os.path.dirname(spec_file)) == ['pipeline.json']
  del root


def test_remote_data_needs_explicit_schemas(tmp_path, capsys):
  config_file = tmp_path / 'c.yaml'
  config_file.write_text(f'data: {DATA}\noutput: {OUTPUT}\n')
  code = cli.main(['compile', '--target', 'kubeflow-v2', '--output',
                   str(tmp_path / 'p.json'), '--config', str(config_file)])
  assert code == 2
  assert 'set `schemas`' in capsys.readouterr().err
  assert not (tmp_path / 'p.json').exists()


def test_every_task_condition_names_its_own_inputs(compiled):
  _, _, job = compiled
  tasks = job['pipelineSpec']['root']['dag']['tasks']
  conditions = kubeflow.condition_inputs(job)
  assert set(conditions) == {'PushQueryTower', 'PushItemTower', 'PushIndex'}
  for name, names in conditions.items():
    assert names and set(names) <= set(tasks[name]['inputs']['artifacts']), (
        name, names)
    assert names == ['model_blessing']


@pytest.mark.parametrize('flags, message', [
    ([], "schema dir 'synthetic' is a local path"),
    (['--schema-dir', SCHEMA_DIR, '--pipeline-root', '/tmp/root'],
     "pipeline root '/tmp/root' is a local path"),
    (['--schema-dir', SCHEMA_DIR, '--image', kubeflow.DEFAULT_IMAGE],
     'is the stock TFX image, which lacks sslrec'),
])
def test_local_paths_and_the_stock_image_are_refused(tmp_path, capsys, flags,
                                                     message):
  spec_file = tmp_path / 'p.json'
  argv = ['compile', '--target', 'kubeflow-v2', '--output', str(spec_file),
          '--config', _write_config(tmp_path / 'c.yaml')]
  code = cli.main(argv + (flags if '--image' in flags else flags + ['--image',
                                                                    IMAGE]))
  err = capsys.readouterr().err
  assert code == 2 and message in err and '--allow-local' in err, err
  assert not spec_file.exists()


def test_local_data_is_refused_unless_allowed(tmp_path, capsys):
  config = tmp_path / 'c.yaml'
  config.write_text(f'data: {tmp_path}/data\noutput: {OUTPUT}\nschemas: '
                    'synthetic\n')
  argv = ['compile', '--target', 'kubeflow-v2', '--output',
          str(tmp_path / 'p.json'), '--config', str(config), '--image', IMAGE,
          '--schema-dir', SCHEMA_DIR]
  assert cli.main(argv) == 2
  assert f"data '{tmp_path}/data' is a local path" in capsys.readouterr().err
  resources = tmp_path / 'r.yaml'
  resources.write_text('default: {cpu: 1, memory: 2G}\n'
                       'TwoTowerTrainer: {cpu: 8, memory: 512M}\n')
  assert cli.main(argv + ['--allow-local', '--resources', str(resources)]) == 0
  job = json.loads((tmp_path / 'p.json').read_text())
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  trainer = executors['TwoTowerTrainer_executor']['container']['resources']
  assert trainer == {'cpuLimit': 8.0, 'memoryLimit': 0.5}
  assert executors['PushIndex_executor']['container']['resources'] == {
      'cpuLimit': 1.0, 'memoryLimit': 2.0}


def test_resources_for_unknown_tasks_are_an_error(compiled):
  _, _, job = compiled
  with pytest.raises(ValueError, match=r"unknown tasks \['Traner'\]"):
    kubeflow.set_resources(job, {'Traner': {'cpu': 2}})
  with pytest.raises(ValueError, match="memory '16 GB' must look like"):
    kubeflow.set_resources(job, {'default': {'memory': '16 GB'}})


def test_kubeflow_pipeline_has_no_local_metadata(tmp_path):
  config = RunConfig(data=DATA, output=OUTPUT, schemas='synthetic')
  pipeline = kubeflow.kubeflow_pipeline(config)
  assert pipeline.metadata_connection_config is None
  assert pipeline.pipeline_info.pipeline_root == f'{OUTPUT}/pipeline'


def test_vertex_pipeline_job_loads_the_spec(compiled):
  """What the Vertex schedule step of docs/operations.md does, minus the network."""
  from google.auth import credentials  # pylint: disable=g-import-not-at-top
  from google.cloud import aiplatform  # pylint: disable=g-import-not-at-top
  _, spec_file, job = compiled
  pipeline_job = aiplatform.PipelineJob(
      display_name='sslrec-nightly', template_path=spec_file,
      project='my-project', location='europe-west4', enable_caching=True,
      credentials=credentials.AnonymousCredentials())
  resource = pipeline_job._gca_resource  # pylint: disable=protected-access
  assert resource.runtime_config.gcs_output_directory == f'{OUTPUT}/root'
  assert sorted(resource.pipeline_spec['root']['dag']['tasks']) == sorted(
      job['pipelineSpec']['root']['dag']['tasks'])


def _schema_titles(node):
  """Every artifact type title in a spec dict (schemaTitle or instanceSchema)."""
  if isinstance(node, dict):
    for key, value in node.items():
      if key == 'schemaTitle':
        yield value
      elif key == 'instanceSchema':
        yield yaml.safe_load(value)['title']
      else:
        yield from _schema_titles(value)
  elif isinstance(node, list):
    for value in node:
      yield from _schema_titles(value)


def test_every_artifact_type_resolves_in_the_container(compiled):
  """The KFP v2 entrypoint rebuilds artifacts from their schema titles.

  A first-party title maps to its class; any other title is imported as a
  class path (kubeflow_v2_entrypoint_utils._retrieve_class_path), so a custom
  TYPE_NAME must be `<importable module>.<Class>` or the component fails at
  run time on Vertex / Kubeflow although compiling succeeds.
  """
  from tfx.orchestration.kubeflow.v2 import compiler_utils  # pylint: disable=g-import-not-at-top
  from tfx.utils import import_utils  # pylint: disable=g-import-not-at-top
  _, _, job = compiled
  titles = set(_schema_titles(job['pipelineSpec']))
  assert 'tfx.Examples' in titles and len(titles) >= 8
  unresolved = []
  for title in sorted(titles):
    path = compiler_utils.TITLE_TO_CLASS_PATH.get(title, title)
    try:
      import_utils.import_class_by_path(path)
    except ImportError as e:
      unresolved.append(f'{title}: {e}')
  assert not unresolved, unresolved


def test_trainer_on_vertex_ai_training_with_worker_pools(tmp_path, capsys):
  spec_file = tmp_path / 'vertex.json'
  code = cli.main(['compile', '--target', 'kubeflow-v2', '--output',
                   str(spec_file), '--config',
                   _write_config(tmp_path / 'c.yaml'), '--image', IMAGE,
                   '--schema-dir', SCHEMA_DIR, '--trainer', 'vertex',
                   '--project', 'my-project', '--region', 'europe-west4',
                   '--workers', '3', '--machine-type', 'n1-highmem-16',
                   '--accelerator', 'NVIDIA_TESLA_T4:2'])
  assert code == 0, capsys.readouterr().err
  job = json.loads(spec_file.read_text())
  executors = job['pipelineSpec']['deploymentSpec']['executors']
  trainer = executors['TwoTowerTrainer_executor']['container']
  # The task runs TFX's Vertex AI trainer executor around this project's one.
  assert 'components.trainer.vertex.VertexExecutor' in trainer['args']
  task = job['pipelineSpec']['root']['dag']['tasks']['TwoTowerTrainer']
  config = json.loads(task['inputs']['parameters']['custom_config'][
      'runtimeValue']['constantValue']['stringValue'])
  assert config['ai_platform_enable_vertex'] is True
  assert config['ai_platform_vertex_region'] == 'europe-west4'
  args = config['ai_platform_training_args']
  assert args['project'] == 'my-project'
  # The worker pools: 1 chief + 2 workers, each on the machine asked for.
  chief, workers = args['job_spec']['worker_pool_specs']
  assert (chief['replica_count'], workers['replica_count']) == (1, 2)
  for pool in (chief, workers):
    assert pool['machine_spec'] == {'machine_type': 'n1-highmem-16',
                                    'accelerator_type': 'NVIDIA_TESLA_T4',
                                    'accelerator_count': 2}
    assert pool['container_spec'] == {'image_uri': IMAGE}
  # Other tasks keep their own executors; a local trainer has no custom_config.
  assert 'VertexExecutor' not in json.dumps(
      executors['ItemsTransform_executor'])


def test_local_trainer_has_no_vertex_job(compiled):
  _, _, job = compiled
  task = job['pipelineSpec']['root']['dag']['tasks']['TwoTowerTrainer']
  assert 'custom_config' not in task['inputs']['parameters']
  assert 'VertexExecutor' not in json.dumps(job)


def test_vertex_trainer_needs_project_and_region(tmp_path, capsys):
  code = cli.main(['compile', '--target', 'kubeflow-v2', '--output',
                   str(tmp_path / 'v.json'), '--config',
                   _write_config(tmp_path / 'c.yaml'), '--image', IMAGE,
                   '--schema-dir', SCHEMA_DIR, '--trainer', 'vertex'])
  assert code == 2
  assert '--trainer vertex needs --project and --region' in \
      capsys.readouterr().err

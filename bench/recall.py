"""Recall@K of the pushed towers on the eval split, by brute force over all items.

Usage: python bench/recall.py [--output output] [--k 10 50 100]

Reads the newest pushed query and item towers under <output>/serving/ and the
raw Examples of the newest ExampleGen executions in <output>/metadata.sqlite,
then ranks every eval event's item among the whole corpus with the evaluator's
code (components/retrieval_evaluator/evaluation.py): overall, head, tail, cold.
"""
import argparse
import json
import os
import sys

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from ml_metadata.metadata_store import metadata_store  # pylint: disable=g-import-not-at-top
from ml_metadata.proto import metadata_store_pb2

from components import tower_io
from components.retrieval_evaluator import evaluation


def _newest_output_uri(store, node: str, pipeline: str = 'sslrec') -> str:
  context = store.get_context_by_type_and_name('node', f'{pipeline}.{node}')
  if context is None:
    raise SystemExit(f'no {node} execution in the metadata store')
  artifacts = [a for a in store.get_artifacts_by_context(context.id)
               if a.state == metadata_store_pb2.Artifact.LIVE]
  return max(artifacts, key=lambda a: a.id).uri


def _newest_version(serving_root: str, tower: str) -> str:
  base = os.path.join(serving_root, tower)
  versions = sorted((v for v in os.listdir(base) if v.isdigit()), key=int)
  if not versions:
    raise SystemExit(f'nothing pushed under {base}')
  return os.path.join(base, versions[-1])


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--output', default='output')
  parser.add_argument('--k', type=int, nargs='+', default=[10, 50, 100])
  args = parser.parse_args()
  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = os.path.join(args.output, 'metadata.sqlite')
  config.sqlite.connection_mode = 1  # read-only
  store = metadata_store.MetadataStore(config)
  items_uri = _newest_output_uri(store, 'ItemsExampleGen')
  examples_uri = _newest_output_uri(store, 'InteractionsExampleGen')
  serving = os.path.join(args.output, 'serving')
  query = tower_io.Tower(_newest_version(serving, 'query_tower'))
  item = tower_io.Tower(_newest_version(serving, 'item_tower'))
  corpus = evaluation.load_corpus(items_uri, examples_uri)
  result = evaluation.evaluate(query, item, examples_uri, corpus, args.k)
  print(json.dumps(result, indent=1, default=float)[:4000])
  for k in args.k:
    row = result[f'recall@{k}']
    print(f'recall@{k}: ' + ' '.join(
        f'{s}={row[s]:.4f}' if row[s] is not None else f'{s}=n/a'
        for s in ('overall', 'head', 'tail', 'cold')))
  print(f"recall_at_50_overall={result['recall@50']['overall']:.4f}")
  return 0


if __name__ == '__main__':
  sys.exit(main())

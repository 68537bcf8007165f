"""The Trainer's entry point: found by its dotted path, the MI file it reads.

run_fn itself trains and exports in the pipeline tests (tests/pipeline_e2e_test.py)
and under two workers (tests/support/distributed_worker.py)."""
import json

import pytest
from tfx.utils import import_utils

from models import model


def test_run_fn_is_found_by_the_trainers_dotted_path():
  assert import_utils.import_func_from_module(
      'models.model', 'run_fn') is model.run_fn


def test_the_mutual_information_file_is_read_or_named_in_the_error(tmp_path):
  assert model._read_mutual_information('') is None  # pylint: disable=protected-access
  good = tmp_path / 'mi.json'
  good.write_text(json.dumps({'features': ['a', 'b']}))
  assert model._read_mutual_information(str(good)) == {'features': ['a', 'b']}  # pylint: disable=protected-access
  with pytest.raises(FileNotFoundError, match='mutual information file not '
                     f'found: {tmp_path}/nope.json'):
    model._read_mutual_information(str(tmp_path / 'nope.json'))  # pylint: disable=protected-access
  bad = tmp_path / 'bad.json'
  bad.write_text('{')
  with pytest.raises(ValueError, match=f'{bad}: not valid JSON'):
    model._read_mutual_information(str(bad))  # pylint: disable=protected-access

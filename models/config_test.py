"""Tests of the training configuration."""
import dataclasses

import pytest

from models import config as config_lib
from models.config import Mode, Optimizer, SslVariant
from models.config import TrainingConfig, TransformConfig


def test_round_trip_and_replace():
  config = TrainingConfig(ssl='cfm', tower_layers=(64, 32))
  assert TrainingConfig.from_dict(config.to_dict()) == config
  assert config.replace(ssl_weight=1.0).ssl_weight == 1.0
  assert config.replace(ssl_weight=1.0).ssl == 'cfm'


def test_unknown_key_is_named():
  with pytest.raises(ValueError, match=r"unknown key\(s\) \['ssl_wieght'\]"):
    TrainingConfig.from_dict({'ssl_wieght': 0.3})


RETIRED_KEYS = [(section, key) for section, keys in config_lib.RETIRED.items()
                for key in keys]
SECTIONS = {'training': TrainingConfig, 'transform': TransformConfig}


@pytest.mark.parametrize('section,key', RETIRED_KEYS)
def test_a_retired_key_is_a_one_line_error_saying_so(section, key):
  cls = SECTIONS[section]
  assert key not in {f.name for f in dataclasses.fields(cls)}
  with pytest.raises(ValueError) as e:
    cls.from_dict({key: 1})
  message = str(e.value)
  assert message.startswith(f"{section} config: '{key}' was retired (")
  assert message.endswith('; remove it') and '\n' not in message
  assert message == config_lib.retired_message(section, key)


def test_a_live_key_is_not_retired():
  assert config_lib.retired_message('training', 'epochs') is None
  assert config_lib.retired_message('evaluation', 'min_item_count') is None


@pytest.mark.parametrize('change,message', [
    ({'ssl': 'byol'}, 'ssl must be one of'),
    ({'temperature': 0.0}, 'temperature must be > 0'),
    ({'dropout_rate': 1.0}, 'dropout_rate'),
    ({'tower_layers': []}, 'tower_layers'),
    ({'mode': 'finetune'}, 'mode must be one of'),
    ({'mode': 'pretrain', 'ssl': 'none', 'pretrain_steps': 5}, 'needs an SSL'),
    ({'mode': 'pretrain', 'ssl': 'cfm'}, 'pretrain_steps > 0'),
])
def test_invalid_values_are_rejected(change, message):
  with pytest.raises(ValueError, match=message):
    TrainingConfig.from_dict(change)


def test_choices_are_parsed_once_into_members_and_dumped_as_strings():
  config = TrainingConfig(ssl='rfm', mode='joint', optimizer='adam')
  assert config.ssl is SslVariant.RFM and config.optimizer is Optimizer.ADAM
  assert config.mode is Mode.JOINT
  plain = config.to_dict()
  assert plain['ssl'] == 'rfm' and type(plain['ssl']) is str  # pylint: disable=unidiomatic-typecheck
  assert TrainingConfig.from_dict(plain) == config


@pytest.mark.parametrize('change,message', [
    ({'numeric_buckets': 1}, 'transform config: numeric_buckets must be > 1'),
    ({'vocab_top_k': -1}, 'vocab_top_k must be >= 0'),
    ({'text_top_k': -1}, 'text_top_k must be >= 0'),
    ({'numeric_bucket': 3}, r"unknown key\(s\) \['numeric_bucket'\]"),
])
def test_transform_config_checks_its_values(change, message):
  with pytest.raises(ValueError, match=message):
    TransformConfig.from_dict(change)
  assert TransformConfig.from_dict({'numeric_buckets': 4}).numeric_buckets == 4


@pytest.mark.parametrize('change,message', [
    ({'query_encoder': 'rnn'}, 'query_encoder must be one of'),
    ({'num_intentions': 0}, 'num_intentions must be > 0'),
    ({'query_encoder': 'pooled', 'seq_ssl_weight': 0.5},
     "needs query_encoder 'sequence'"),
    ({'query_encoder': 'sequence', 'seq_ssl_confidence': 0.0},
     r'seq_ssl_confidence must be in \(0, 1\]'),
])
def test_invalid_query_encoder_values_are_rejected(change, message):
  with pytest.raises(ValueError, match=message):
    TrainingConfig.from_dict(change)

"""Which item features mutual information counts, from the annotated schema.

Pure Python, no TFX. The kinds are models/features.py's; `DataError` is the
error of bad item data in every module of this component.
"""
from typing import List, Tuple

from models import features as features_lib
from pipeline.errors import UserError

# Kinds counted through a top-k vocabulary, and all counted kinds (the id is
# not counted, see counting.result).
VOCAB_KINDS = (features_lib.CATEGORICAL, features_lib.MULTI_VALUED,
               features_lib.TEXT)
COUNTED_KINDS = VOCAB_KINDS + (features_lib.NUMERIC,)

class DataError(UserError):
  """Bad item data (names the feature)."""


def item_features(schema, source: str = 'items schema'
                  ) -> List[Tuple[str, str]]:
  """(name, kind) of the used features of an annotated items schema.

  The id first, then declaration order: the items half of
  models.features.load_feature_config, read by the same code.
  """
  return [(f.name, f.kind)
          for f in features_lib.item_features(schema, source)]

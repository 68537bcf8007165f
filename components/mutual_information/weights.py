"""How much each item counts: the `Weighting` choice and the `log` weights.

  corpus  each item counts once (the default; the SSL task samples items
          uniformly from the corpus, so this is the distribution it sees)
  log     each item counts its number of interactions
"""
from models.options import Choice


class Weighting(Choice):
  CORPUS = 'corpus'
  LOG = 'log'


def check_weighting(weighting, has_interactions: bool,
                    interactions: str = 'input') -> Weighting:
  """`weighting` as a Weighting; ValueError when 'log' lacks the interactions."""
  weighting = Weighting.parse(weighting, 'weighting')
  if weighting is Weighting.LOG and not has_interactions:
    raise ValueError(f"weighting 'log' needs the interactions {interactions}")
  return weighting

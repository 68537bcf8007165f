"""`IndexKind`: how the retrieval index finds the top-k items (no TensorFlow here).

  brute_force  exact: TFRS BruteForce over every item embedding
  scann        approximate: TFRS ScaNN (the `[scann]` extra, scann==1.3.2)
"""
from models.options import Choice


class IndexKind(Choice):
  BRUTE_FORCE = 'brute_force'
  SCANN = 'scann'

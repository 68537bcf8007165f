"""File names of what the RetrievalEvaluator writes (no imports: readers of
ML Metadata, such as `sslrec inspect`, use them without loading numpy or TFX)."""

METRICS_FILE = 'metrics.json'  # in the ModelEvaluation artifact (metrics.py)
# metrics.json's record of how it was computed: {"exclusion": "serving" |
# "none", "history_column": str, "ks": [int], "blessing_k": int}. Readers
# (the report, `sslrec inspect`) take the K they show from it.
SETTINGS_KEY = 'settings'
EXCLUSION_SETTING, BLESSING_K_SETTING = 'exclusion', 'blessing_k'
# The K of metrics.json files written before the settings were recorded.
BLESSING_K_BEFORE_SETTINGS = 50
DECILE_SUFFIX = '_by_decile'  # 'recall@<K>_by_decile': [value per decile]


def blessing_k(content: dict) -> int:
  """The K the blessing read in a metrics.json dict (its settings)."""
  settings = content.get(SETTINGS_KEY)
  if isinstance(settings, dict) and isinstance(
      settings.get(BLESSING_K_SETTING), int):
    return settings[BLESSING_K_SETTING]
  return BLESSING_K_BEFORE_SETTINGS


def decile_key(content: dict):
  """The 'recall@<K>_by_decile' key of a metrics.json dict, or None."""
  return next((k for k in content if k.endswith(DECILE_SUFFIX)), None)

"""File names of what the RetrievalEvaluator writes (no imports: readers of
ML Metadata, such as `sslrec inspect`, use them without loading numpy or TFX)."""

METRICS_FILE = 'metrics.json'  # in the ModelEvaluation artifact (metrics.py)
# metrics.json's record of how it was computed: {"exclusion": "serving" |
# "none", "history_column": str, "ks": [int], "blessing_k": int}. Readers
# (the report, `sslrec inspect`) take the K they show from it.
SETTINGS_KEY = 'settings'

"""File names of what the RetrievalEvaluator writes (no imports: readers of
ML Metadata, such as `sslrec inspect`, use them without loading numpy or TFX)."""

METRICS_FILE = 'metrics.json'  # in the ModelEvaluation artifact (metrics.py)

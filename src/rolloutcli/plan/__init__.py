"""The plan: its model and validation, thresholds as written, YAML loading with lines."""

"""The plan: its model and validation, thresholds as written, YAML loading with lines, and
the text of a suggested plan."""

"""Output from typed results: rich tables, the JSON contract, markdown for CI."""

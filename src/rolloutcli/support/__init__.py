"""Shared plumbing: errors, HTTP with deadlines, time, JSON-safe values, redaction, quoting."""

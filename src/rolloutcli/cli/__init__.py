"""Command-line parsing: one Typer app; each command parses, calls app/, renders. No logic."""

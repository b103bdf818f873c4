"""rolloutcli: progressive feature-flag rollouts with an honest go/no-go."""

__version__ = "0.1.0"

"""What every property-based fuzz test shares: how many cases, and how they are run.

``ROLLOUT_FUZZ_EXAMPLES`` sets the cases per property: 200 in CI (each fuzz file well under
a minute), 10,000 in the nightly-size run the README describes. Runs are deterministic
(``derandomize``: the same cases on every machine) and keep no example database.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("ROLLOUT_FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

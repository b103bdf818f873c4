"""Clustered scenarios the public set does not have, on the shared harness (issue 15).

The issue warns that the policy is also judged on scenarios it does not see, "with other
clustering strengths, traffic and base rates". This runs four such variants of the public
set's clustered scenarios through the harness's own runner, with any plug-in:

* ``nc-0.5``: ``null-clustered`` with per-cohort log-jitter of the error rate 0.5 (public: 0.25);
* ``nc-0.4-busy``: jitter 0.4 at 2,000-20,000 requests a minute (public: 200-5,000);
* ``nc-0.25-busy``: the public jitter at 5,000-50,000 a minute;
* ``bc-0.5``: ``bad-err-x2-clustered`` with jitter 0.5.

Run by hand from the harness's folder, with its usual arguments::

    cd ../shared/bench
    python /path/to/benchmarks/overdispersion/harness_probe.py --policies none --runs 200 \\
        --policy-py rolloutcli=/path/to/benchmarks/decision_quality/policy.py:make_policy

``PROBE=nc-0.5,bc-0.5`` runs only those. Results: ``benchmarks/README.md``.
"""

from __future__ import annotations

import dataclasses
import os
import sys

sys.path.insert(0, os.getcwd())
import scenarios_public  # type: ignore[import-not-found]  # the harness's own module

base = {s.name: s for s in scenarios_public.SCENARIOS}
quiet, harmful = base["null-clustered"], base["bad-err-x2-clustered"]
scenarios_public.SCENARIOS = [
    dataclasses.replace(quiet, name="nc-0.5", cohort_err_jitter_sd=0.5),
    dataclasses.replace(
        quiet, name="nc-0.4-busy", cohort_err_jitter_sd=0.4, rpm_range=(2000.0, 20000.0)
    ),
    dataclasses.replace(quiet, name="nc-0.25-busy", rpm_range=(5000.0, 50000.0)),
    dataclasses.replace(harmful, name="bc-0.5", cohort_err_jitter_sd=0.5),
]
keep = os.environ.get("PROBE")
if keep:
    wanted = keep.split(",")
    scenarios_public.SCENARIOS = [s for s in scenarios_public.SCENARIOS if s.name in wanted]

import run_bench  # type: ignore[import-not-found]  # noqa: E402

if __name__ == "__main__":
    run_bench.main(sys.argv[1:])

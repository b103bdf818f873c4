"""A candidate that did not ship: the tempered binomial mixture with a predictable dispersion.

Run by hand: ``python benchmarks/overdispersion/tempered_sim.py [runs]`` (about 10 s at 200).
Each interval's binomial likelihood ratios are raised to ``1/phi_i``, ``phi_i >= 1`` fitted on
the intervals before ``i`` only (``predictable_dispersion.py``). By Jensen's inequality any
such ``phi`` keeps the test exact with independent requests, and a weight fixed when the
interval is seen is never re-scored. What it showed (2026-12-06, 200 runs a row, see
benchmarks/README.md): it cuts false rejections under moderate clustering (CV 0.3) to the
binomial's independent-request level, but not under heavy clustering (CV 1.0 at 20,000 rpm:
12-20%) or bursts (7-14%): even the oracle phi leaves the mixture's large alternatives
(up to 12x) invalid on skewed per-minute counts (98% false rejections with the true phi), so
the test relies on the estimate running high. And a regression that begins mid-stage looks
like extra variance to the residuals, inflating phi and delaying the rollback it should
trigger, with cumulative and with successive-difference residuals alike.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import predictable_dispersion as dp
from study import LOOK_EVERY, world

from rolloutcli.stats import sequential as sq


def first(et, nt, ec, nc, direction, robust, alpha=0.05):
    """The first look (interval index) at which the tempered mixture rejects, or None."""
    phi = dp.rate_ratio(et, nt, ec, nc).phi if robust else np.ones(et.size)
    s = nt / (nt + nc)
    theta1 = np.exp(direction * sq._LOG_STEPS)[:, None]
    q1 = theta1 * s / (theta1 * s + 1 - s)
    with np.errstate(divide="ignore", invalid="ignore"):
        step = et * np.log(q1 / s) + ec * (np.log1p(-q1) - np.log1p(-s))
    step = np.nan_to_num(step / phi[None, :])
    log_e = sq._logsumexp_rows(np.cumsum(step, axis=1), np.log(sq._rate_weights(math.log(1.5))))
    looks = np.arange(LOOK_EVERY - 1, et.size, LOOK_EVERY)
    hit = np.nonzero(log_e[looks] >= math.log(1 / alpha))[0]
    return None if hit.size == 0 else looks[hit[0]]


def run(label, runs, robust, **kw):
    direction = kw.pop("direction", 1)
    rng = np.random.default_rng(12345)
    rejected, exposed = 0, []
    for _ in range(runs):
        et, nt, ec, nc = world(rng, **kw)
        f = first(et, nt, ec, nc, direction, robust)
        rejected += f is not None
        exposed.append(nt[: (f + 1) if f is not None else nt.size].sum())
    print(
        f"{label:32s} tempered={robust!s:5} rejected={rejected / runs:.3f} "
        f"exposed={np.mean(exposed):8.0f}",
        flush=True,
    )


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for robust in (False, True):
        for rpm in (2000, 20000):
            run(f"null indep rpm={rpm}", runs, robust, rpm=rpm)
            run(f"null cv0.3 rpm={rpm}", runs, robust, rpm=rpm, cv=0.3)
            run(f"null cv1.0 rpm={rpm}", runs, robust, rpm=rpm, cv=1.0)
            run(f"null burst2 rpm={rpm}", runs, robust, rpm=rpm, burst=2.0)
            run(
                f"null burst2 lower rpm={rpm}",
                runs,
                robust,
                rpm=rpm,
                burst=2.0,
                p=0.05,
                direction=-1,
            )
        for rpm in (500, 2000):
            run(f"x2 indep rpm={rpm}", runs, robust, rpm=rpm, effect=2.0)
            run(f"x1.5 indep rpm={rpm}", runs, robust, rpm=rpm, effect=1.5)
            run(f"x2 cv0.3 rpm={rpm}", runs, robust, rpm=rpm, cv=0.3, effect=2.0)

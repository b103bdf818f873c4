"""How fast the edges are: each command's wall time as a ratio to the import floor.

    .venv/bin/python benchmarks/cli_speed/run.py [--runs 9]

The floor is ``python -c "import typer, rich, httpx, yaml"``: what any command of this tool
must pay before it does anything. Each command runs in turn with the floor, interleaved
(floor, command, floor, command, ...), after one warm-up, so a drift in the machine's speed
moves both; the ratio is the median of the pairwise ratios, of wall time and of CPU time
(user + system: steadier when other work shares the machine). Commands run in a fresh demo
workspace (``rollout demo --dir``), from its folder, as a user would type them; ``kill``
runs on a fresh copy each time (it turns the flag off). The demo's checkout-v2 posts a
Slack webhook on a kill, so ``kill`` is measured twice: as shipped (it must load the
notification stack) and with the plan's ``notifications:`` removed. Issue 16's targets:
``--help`` at most 1.3x, ``kill`` 1.5x (unless it must notify), ``status`` on the embedded
default 2x.

Both sides run from bytecode, as an installed tool does: the children's caches go to a
folder of their own (``PYTHONPYCACHEPREFIX``), written by the warm-up run, and
``PYTHONDONTWRITEBYTECODE`` is dropped for them. Without that, a shell that sets it (with the
package installed editable) makes every command compile the tool's own modules on each run
while the floor's come compiled from site-packages: ``--from-source`` measures that way.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FLOOR = [sys.executable, "-c", "import typer, rich, httpx, yaml"]
COMMANDS = {
    "--help": ["--help"],
    "kill": ["kill", "checkout-v2", "--yes"],
    "kill, no webhooks": ["kill", "checkout-v2", "--yes"],
    "status": ["status", "checkout-v2"],
    "check": ["check", "checkout-v2", "--json"],
}


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _environment(root: Path, from_source: bool) -> dict[str, str]:
    """The children's environment: bytecode cached under ``root`` (as installed), or this
    shell's environment as it is (``--from-source``)."""
    env = dict(os.environ)
    if not from_source:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(root / "bytecode")
    return env


def _without_notifications(workspace: Path) -> None:
    plan = workspace / "plans" / "checkout-v2.yaml"
    text = plan.read_text()
    plan.write_text(re.sub(r"(?ms)^notifications:.*?(?=^\S|\Z)", "", text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument(
        "--from-source",
        action="store_true",
        help="run with this shell's environment unchanged (see the module's docstring)",
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rollout-speed-"))
    env = _environment(root, args.from_source)
    pristine = root / "pristine"
    subprocess.run(
        [BIN / "rollout", "demo", "--dir", str(pristine)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    print(
        f"| command | median wall | floor | wall ratio | CPU ratio (medians of {args.runs} pairs) |"
    )
    print("|---|---|---|---|---|")
    for name, tail in COMMANDS.items():
        ratios, cpu_ratios, walls, floors = [], [], [], []
        for run in range(args.runs + 1):
            workspace = root / f"{name.strip('-').replace(' ', '')}-{run}"
            shutil.copytree(pristine, workspace)
            if name == "kill, no webhooks":
                _without_notifications(workspace)
            floor, floor_cpu = _run(FLOOR, workspace, env)
            wall, cpu = _run([str(BIN / "rollout"), *tail], workspace, env)
            if run == 0:
                continue  # warm-up
            ratios.append(wall / floor)
            cpu_ratios.append(cpu / floor_cpu)
            walls.append(wall)
            floors.append(floor)
        shown = f"`rollout {' '.join(tail)}`" + (" (no webhooks)" if "no webhooks" in name else "")
        print(
            f"| {shown} | {statistics.median(walls) * 1000:.0f} ms | "
            f"{statistics.median(floors) * 1000:.0f} ms | {statistics.median(ratios):.2f}x | "
            f"{statistics.median(cpu_ratios):.2f}x |",
            flush=True,
        )
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""A real, throwaway Prometheus server over backfilled history, for the integration tests.

Why backfill instead of scraping: the tests need deterministic history (hours of samples at
fixed timestamps) so PromQL answers are exact. So the data is written as an OpenMetrics file,
turned into TSDB blocks with promtool, and a ``prometheus`` process is started over a copy of
those blocks with no scrape targets at all. Both binaries come from Debian's ``prometheus``
package (2.42), installed by ``scripts/install-prometheus``.

The three steps, usable separately (e.g. backfill once per session, start per test):

1. ``render_openmetrics(samples, types)`` builds the OpenMetrics text. It takes care of what
   promtool 2.42 does *not* check (it exits 0 and silently does the wrong thing): timestamps are
   written in **seconds** (milliseconds would make one block per sample in year ~56 000; values
   that look like milliseconds are rejected), each series is sorted by time (an out-of-order
   sample would be dropped silently) and duplicate timestamps are rejected. It also ends the text
   with exactly ``# EOF\\n`` and uses ``\\n`` line endings (promtool fails on a missing
   ``# EOF``, on anything after it, and on CRLF). Write it with ``Path.write_text(...,
   newline="\\n")`` or ``write_bytes`` so Windows-style newline translation cannot creep in.
2. ``backfill(openmetrics_file, blocks_dir)`` runs ``promtool tsdb create-blocks-from
   openmetrics``. Blocks are 2 h long by default, aligned to 2 h boundaries.
3. ``start_prometheus(blocks_dir, work_dir)`` copies the blocks into a fresh data directory
   (a copy, always: the server's compactor rewrites and deletes blocks in its data directory
   about a minute after start), starts ``prometheus`` on ``127.0.0.1:0`` with
   ``--storage.tsdb.retention.time=100y`` (old fixture data must never age out), reads the port
   the OS picked from the log line ``msg="Listening on" address=127.0.0.1:PORT`` (race-free,
   unlike picking a free port first) and waits for ``GET /-/ready`` to answer 200.
   ``stop_prometheus(server)`` stops it again (SIGTERM, then SIGKILL).

Queries must pin ``time=`` (``/api/v1/query?...&time=END``): without it Prometheus evaluates at
the wall clock, far after the fixture data, and answers with an empty result. At timestamps on
the sample grid, ``increase()`` over whole steps gives exact integers.

Counter naming (OpenMetrics): the *family* is named without ``_total`` and its samples carry the
suffix, e.g. ``types={"http_requests": "counter"}`` with samples named ``http_requests_total``;
PromQL then queries ``http_requests_total``. promtool 2.42 would also accept a family named
``http_requests_total`` or a counter sample without the suffix, but ``render_openmetrics``
sticks to the standard so the files stay valid OpenMetrics. Histogram family ``h`` has samples
``h_bucket`` (with an ``le`` label, including ``le="+Inf"``), ``h_count`` and ``h_sum``.

No pytest in here: the fixtures live in conftest.py or the test modules. If a server cannot
start (binary missing, bad blocks, port not found, not ready in time) the functions raise
RuntimeError with the relevant output, so tests using them error instead of being skipped.
"""

from __future__ import annotations

import contextlib
import math
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

HOST = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for the port to show up in the log and /-/ready to answer 200
STOP_TIMEOUT = 10.0  # seconds after SIGTERM before SIGKILL
RETENTION = "100y"
INSTALL_HINT = "run `bash scripts/install-prometheus` (bash scripts/test does it)"
CONFIG = "global:\n  scrape_interval: 15s\n"
"""The whole server config: no scrape_configs, the server only serves the backfilled blocks."""

Sample = tuple[str, Mapping[str, str], float, float]
"""One sample: (sample name, labels, value, timestamp in seconds since the epoch)."""

# Sample-name suffixes per family type, in the order OpenMetrics lists them in a MetricPoint.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "unknown": ("",),
}
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_LISTENING = re.compile(r'msg="Listening on" address=(\S+)')
_MAX_SECONDS = 1e11  # year ~5138: anything larger is almost certainly milliseconds


def _format_number(value: float) -> str:
    """A value or timestamp in OpenMetrics syntax: integers without ``.0``, ``NaN``, ``+Inf``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family_of(name: str, types: Mapping[str, str]) -> tuple[str, int]:
    """The family a sample name belongs to and the rank of its suffix within a MetricPoint."""
    matches = [
        (family, rank)
        for family, kind in types.items()
        for rank, suffix in enumerate(_SUFFIXES[kind])
        if name == family + suffix
    ]
    if not matches:
        hint = ""
        if name.endswith("_total") and name.removesuffix("_total") not in types:
            hint = f" (for a counter, declare the family {name.removesuffix('_total')!r})"
        raise ValueError(f"sample {name!r} belongs to no family in types{hint}")
    if len(matches) > 1:
        raise ValueError(f"sample {name!r} matches several families: {matches}")
    return matches[0]


def render_openmetrics(samples: Iterable[Sample], types: Mapping[str, str]) -> str:
    """The OpenMetrics text for ``samples``, ready for ``backfill``.

    ``samples`` are ``(sample_name, labels, value, timestamp_seconds)``, in any order. ``types``
    maps each *family* name to ``"counter"``, ``"gauge"``, ``"histogram"``, ``"summary"`` or
    ``"unknown"``; every sample must belong to one of them (counter family ``x`` ->
    sample ``x_total``; histogram family ``h`` -> ``h_bucket``/``h_count``/``h_sum``).

    Output: one ``# TYPE`` line per family (families sorted by name), then its samples grouped
    per metric (label set without ``le``/``quantile``), ordered by time; at one timestamp the
    histogram buckets come in ascending ``le`` order, then ``_count`` and ``_sum``. So every
    series is strictly increasing in time, as promtool needs. Labels are sorted by name.
    Timestamps and values without a fractional part are written as integers. Ends with exactly
    ``# EOF\\n``.

    Raises ValueError for an unknown type, a sample outside every family, a bad metric or label
    name, a non-finite or millisecond-looking timestamp, or two samples of one series at the
    same timestamp.
    """
    for family, kind in types.items():
        if kind not in _SUFFIXES:
            raise ValueError(f"family {family!r}: unknown type {kind!r}, use one of {_SUFFIXES}")
        if not _METRIC_NAME.fullmatch(family):
            raise ValueError(f"invalid metric family name {family!r}")
        if kind == "counter" and family.endswith("_total"):
            raise ValueError(
                f"counter family {family!r}: name the family without '_total' "
                f"({family.removesuffix('_total')!r}); its samples are named {family!r}"
            )

    # family -> metric labels -> list of (timestamp, suffix rank, le, line)
    grouped: dict[str, dict[tuple[tuple[str, str], ...], list[tuple[float, int, float, str]]]]
    grouped = defaultdict(lambda: defaultdict(list))
    seen: set[tuple[str, tuple[tuple[str, str], ...], float]] = set()
    for name, labels, value, timestamp in samples:
        family, rank = _family_of(name, types)
        for label in labels:
            if not _LABEL_NAME.fullmatch(label):
                raise ValueError(f"sample {name!r}: invalid label name {label!r}")
        if not math.isfinite(timestamp) or not 0 <= timestamp < _MAX_SECONDS:
            raise ValueError(
                f"sample {name!r}: timestamp {timestamp!r} is not seconds since the epoch "
                "(milliseconds? promtool would accept them silently and file the data in "
                "the far future)"
            )
        series = tuple(sorted(labels.items()))
        key = (name, series, float(timestamp))
        if key in seen:
            raise ValueError(f"sample {name}{dict(series)}: two values at timestamp {timestamp}")
        seen.add(key)
        metric = tuple(item for item in series if item[0] not in ("le", "quantile"))
        bound = dict(series).get("le") or dict(series).get("quantile") or "0"
        try:
            order = float(bound)
        except ValueError:
            raise ValueError(f"sample {name!r}: le/quantile {bound!r} is not a number") from None
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in series)
        line = f"{name}{{{label_text}}}" if label_text else name
        line += f" {_format_number(value)} {_format_number(timestamp)}"
        grouped[family][metric].append((float(timestamp), rank, order, line))

    out: list[str] = []
    for family in sorted(grouped):
        out.append(f"# TYPE {family} {types[family]}")
        for metric in sorted(grouped[family]):
            out.extend(entry[3] for entry in sorted(grouped[family][metric]))
    out.append("# EOF")
    return "\n".join(out) + "\n"


def write_openmetrics(path: Path, samples: Iterable[Sample], types: Mapping[str, str]) -> Path:
    """``render_openmetrics`` written to ``path`` as UTF-8 with ``\\n`` line endings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_openmetrics(samples, types).encode())
    return path


def _tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name!r} (Prometheus 2.42) is not on PATH; {INSTALL_HINT}")
    return path


def backfill(
    openmetrics_file: Path, blocks_dir: Path, *, max_block_duration: str | None = None
) -> Path:
    """Turn an OpenMetrics file into TSDB blocks in ``blocks_dir`` (created if needed).

    Runs ``promtool tsdb create-blocks-from openmetrics FILE DIR``. ``max_block_duration``
    (e.g. ``"24h"``; the flag is hidden from promtool's help but works in 2.42) makes fewer,
    larger blocks; the default 2 h blocks are fine for hours of fixture data. Returns
    ``blocks_dir``. Raises RuntimeError with promtool's output if it fails.
    """
    promtool = _binary("promtool")
    if not openmetrics_file.is_file():
        # promtool's own message for this is a confusing "try lock file: open ...".
        raise RuntimeError(f"OpenMetrics file {openmetrics_file} does not exist")
    cmd = [promtool, "tsdb", "create-blocks-from", "openmetrics"]
    if max_block_duration is not None:
        cmd.append(f"--max-block-duration={max_block_duration}")
    cmd += [str(openmetrics_file), str(blocks_dir)]
    result = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"promtool backfill failed (exit {result.returncode}): {shlex.join(cmd)}\n"
            f"{result.stdout}{result.stderr}"
        )
    return blocks_dir


@dataclass
class PrometheusServer:
    """A running Prometheus; ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash)."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path  # the server's own copy of the blocks (it rewrites them)
    log_path: Path  # prometheus' stdout and stderr
    _log_file: IO[bytes] | None = field(default=None, repr=False, compare=False)


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path, deadline: float) -> str:
    """The ``host:port`` from the log line ``msg="Listening on" address=...``."""
    while True:
        try:
            match = _LISTENING.search(log_path.read_text(errors="replace"))
        except OSError:
            match = None
        if match:
            return match.group(1)
        code = process.poll()
        if code is not None:
            raise RuntimeError(
                f"prometheus exited with code {code} before listening\n"
                f"--- tail of {log_path} ---\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(
                f'prometheus logged no `msg="Listening on"` line within {READY_TIMEOUT:.0f} s\n'
                f"--- tail of {log_path} ---\n{_tail(log_path)}"
            )
        time.sleep(0.02)


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, deadline: float
) -> None:
    """Poll ``GET /-/ready`` until it answers 200 (it answers 503 while the TSDB loads)."""
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            code = process.poll()
            if code is not None:
                raise RuntimeError(
                    f"prometheus exited with code {code} before becoming ready\n"
                    f"--- tail of {log_path} ---\n{_tail(log_path)}"
                )
            try:
                response = client.get(f"{url}/-/ready")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"prometheus did not answer {url}/-/ready with 200 within "
                    f"{READY_TIMEOUT:.0f} s (last: {last})\n"
                    f"--- tail of {log_path} ---\n{_tail(log_path)}"
                )
            time.sleep(0.02)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM and wait; SIGKILL after ``STOP_TIMEOUT`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_prometheus(
    blocks_dir: Path, work_dir: Path, *, extra_args: Sequence[str] = ()
) -> PrometheusServer:
    """Start ``prometheus`` over a copy of ``blocks_dir``; return once ``/-/ready`` answers 200.

    Each call makes a new ``work_dir/prometheus-XXXX/`` holding ``data/`` (the copied blocks),
    ``prometheus.yml`` (``CONFIG``) and ``prometheus.log``, so several servers can share one
    ``work_dir`` and ``blocks_dir`` itself is never touched. ``extra_args`` are appended to the
    command line (e.g. ``["--web.enable-remote-write-receiver"]``). Raises RuntimeError (with the
    log's tail) if the binary is missing or the server does not become ready within
    ``READY_TIMEOUT``; the process is stopped again first.
    """
    prometheus = _binary("prometheus")
    if not blocks_dir.is_dir():
        raise RuntimeError(f"blocks directory {blocks_dir} does not exist (run backfill first)")
    work_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="prometheus-", dir=work_dir))
    data_dir = run_dir / "data"
    shutil.copytree(blocks_dir, data_dir)
    config = run_dir / "prometheus.yml"
    config.write_text(CONFIG)
    log_path = run_dir / "prometheus.log"
    cmd = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={data_dir}",
        f"--storage.tsdb.retention.time={RETENTION}",
        f"--web.listen-address={HOST}:0",
        *extra_args,
    ]
    log_file = log_path.open("wb")
    process: subprocess.Popen[bytes] | None = None
    try:
        process = subprocess.Popen(
            cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + READY_TIMEOUT
        address = _wait_for_port(process, log_path, deadline)
        port = address.rsplit(":", 1)[1]
        url = f"http://{HOST}:{port}"
        _wait_ready(url, process, log_path, deadline)
    except BaseException:
        if process is not None:
            _stop_process(process)
        log_file.close()
        raise
    return PrometheusServer(
        url=url, process=process, data_dir=data_dir, log_path=log_path, _log_file=log_file
    )


def stop_prometheus(server: PrometheusServer) -> int:
    """Stop the server (SIGTERM, SIGKILL after ``STOP_TIMEOUT``); return its exit code. Idempotent.

    The data and log stay in place (under the ``work_dir`` given to ``start_prometheus``).
    """
    _stop_process(server.process)
    if server._log_file is not None:
        server._log_file.close()
        server._log_file = None
    code = server.process.returncode
    assert code is not None
    return code


@contextlib.contextmanager
def running_prometheus(
    blocks_dir: Path, work_dir: Path, *, extra_args: Sequence[str] = ()
) -> Iterator[PrometheusServer]:
    """``start_prometheus`` / ``stop_prometheus`` as a context manager."""
    server = start_prometheus(blocks_dir, work_dir, extra_args=extra_args)
    try:
        yield server
    finally:
        stop_prometheus(server)

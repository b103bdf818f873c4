"""A real, throwaway VictoriaMetrics (single node) over the Prometheus suite's history.

The binary comes from Debian's ``victoria-metrics`` package (1.79), installed by
``scripts/install-victoriametrics``. ``start_victoriametrics(work_dir)`` runs it on a free
loopback port with a fresh ``-storageDataPath`` and ``-retentionPeriod=100y`` (the fixture data
is from 2024: with the default retention of one month it would be rejected on import), waits
for ``GET /health`` to answer 200. ``import_samples(server, samples)`` writes samples with the
Prometheus text exposition format (timestamps in **milliseconds**) to
``/api/v1/import/prometheus`` and then calls ``/internal/force_flush`` so queries see them at
once. ``stop_victoriametrics(server)`` stops it (SIGTERM, then SIGKILL).

Unlike Prometheus there is no backfill step: VictoriaMetrics accepts samples at any timestamp
inside its retention over HTTP.

No pytest in here: the fixture lives in conftest.py. If the server cannot start or the import
fails, the functions raise RuntimeError with the relevant output, so tests using them error
instead of being skipped.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.integration.prometheus_server import Sample, _escape, _format_number, _tail

HOST = "127.0.0.1"
READY_TIMEOUT = 20.0  # seconds for /health to answer 200
STOP_TIMEOUT = 10.0  # seconds after SIGTERM before SIGKILL
RETENTION = "100y"
INSTALL_HINT = "run `bash scripts/install-victoriametrics` (bash scripts/test does it)"
BATCH = 50_000  # lines per import request


@dataclass
class VictoriaMetricsServer:
    """A running VictoriaMetrics; ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash)."""

    url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    _log_file: IO[bytes] | None = field(default=None, repr=False, compare=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
    return port


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, deadline: float
) -> None:
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            code = process.poll()
            if code is not None:
                raise RuntimeError(
                    f"victoria-metrics exited with code {code} before becoming ready\n"
                    f"--- tail of {log_path} ---\n{_tail(log_path)}"
                )
            try:
                response = client.get(f"{url}/health")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"victoria-metrics did not answer {url}/health with 200 within "
                    f"{READY_TIMEOUT:.0f} s (last: {last})\n"
                    f"--- tail of {log_path} ---\n{_tail(log_path)}"
                )
            time.sleep(0.05)


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_victoriametrics(work_dir: Path) -> VictoriaMetricsServer:
    """Start ``victoria-metrics`` in a new ``work_dir/victoriametrics-XXXX/``; return once ready.

    The port is picked free just before the start; if another process takes it in between,
    the server exits and this raises RuntimeError with the log's tail.
    """
    binary = shutil.which("victoria-metrics")
    if binary is None:
        raise RuntimeError(f"'victoria-metrics' is not on PATH; {INSTALL_HINT}")
    work_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="victoriametrics-", dir=work_dir))
    data_dir = run_dir / "data"
    log_path = run_dir / "victoriametrics.log"
    url = f"http://{HOST}:{_free_port()}"
    cmd = [
        binary,
        f"-storageDataPath={data_dir}",
        f"-retentionPeriod={RETENTION}",
        f"-httpListenAddr={url.removeprefix('http://')}",
    ]
    log_file = log_path.open("wb")
    process: subprocess.Popen[bytes] | None = None
    try:
        process = subprocess.Popen(
            cmd, cwd=run_dir, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
        )
        _wait_ready(url, process, log_path, time.monotonic() + READY_TIMEOUT)
    except BaseException:
        if process is not None:
            _stop_process(process)
        log_file.close()
        raise
    return VictoriaMetricsServer(
        url=url, process=process, data_dir=data_dir, log_path=log_path, _log_file=log_file
    )


def exposition_lines(samples: Iterable[Sample]) -> Iterable[str]:
    """Prometheus text exposition lines, one per sample, timestamps in milliseconds."""
    for name, labels, value, timestamp in samples:
        label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        yield f"{name}{{{label_text}}} {_format_number(value)} {round(timestamp * 1000)}"


def import_samples(server: VictoriaMetricsServer | str, samples: Iterable[Sample]) -> int:
    """Import ``samples`` and flush them so queries see them; return how many were sent.
    ``server``: the one started here, or a running one's URL."""
    sent = 0
    url = server if isinstance(server, str) else server.url
    with httpx.Client(base_url=url, timeout=60.0) as client:
        batch: list[str] = []

        def flush_batch() -> None:
            if not batch:
                return
            response = client.post("/api/v1/import/prometheus", content="\n".join(batch) + "\n")
            if response.status_code >= 300:
                raise RuntimeError(
                    f"victoria-metrics refused the import: HTTP {response.status_code} "
                    f"{response.text[:500]}"
                )
            batch.clear()

        for line in exposition_lines(samples):
            batch.append(line)
            sent += 1
            if len(batch) >= BATCH:
                flush_batch()
        flush_batch()
        response = client.get("/internal/force_flush")
        if response.status_code != 200:
            raise RuntimeError(f"force_flush failed: HTTP {response.status_code} {response.text}")
    return sent


def stop_victoriametrics(server: VictoriaMetricsServer) -> int:
    """Stop the server (SIGTERM, SIGKILL after ``STOP_TIMEOUT``); return its exit code."""
    _stop_process(server.process)
    if server._log_file is not None:
        server._log_file.close()
        server._log_file = None
    code = server.process.returncode
    assert code is not None
    return code

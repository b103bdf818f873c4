"""A real, throwaway Unleash OSS server for the integration tests.

``start_unleash(workdir)`` creates a brand-new PostgreSQL 15 cluster (``initdb``), starts it on a
free port on 127.0.0.1, creates the ``unleash`` database, then runs ``node server.mjs`` from the
unleash-server install made by ``scripts/install-unleash`` (``<repo>/.deps/unleash-server``,
or ``$ROLLOUT_UNLEASH_DIR``) on another free loopback port and waits for ``GET /health`` to
answer 200. ``stop_unleash(server)`` stops both again. ``running_unleash(workdir)`` wraps the
pair as a context manager.

Every start uses a fresh database, which matters: Unleash inserts the initial API tokens from
``server.mjs`` only into an empty database. The tokens are fixed (see ``ADMIN_TOKEN`` and
``CLIENT_TOKENS``).

PostgreSQL refuses to run as root, so when this process is root the PostgreSQL commands run
as the ``postgres`` user (``runuser``/``su``) and its files live in a directory that user owns.
The PostgreSQL server binaries are looked up in ``$ROLLOUT_PG_BINDIR``, then
``/usr/lib/postgresql/15/bin``, then ``pg_config --bindir``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ADMIN_TOKEN = "*:*.test-admin-token"
"""The admin API token (token name ``rollout-admin``) created by ``server.mjs``."""

CLIENT_TOKENS = {
    "development": "*:development.test-client-token",
    "production": "*:production.test-client-token",
}
"""Backend (SDK) API tokens created by ``server.mjs``, per environment."""

HOST = "127.0.0.1"
PG_MAJOR = 15
PG_SUPERUSER = "postgres"
DB_NAME = "unleash"
DB_USER = "unleash_user"
DB_PASSWORD = "password"  # loopback-only throwaway cluster
HEALTH_TIMEOUT = 60.0  # seconds for Unleash to answer /health
STOP_TIMEOUT = 10.0  # seconds after SIGTERM before SIGKILL
REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = "run `bash scripts/install-unleash` (bash scripts/test does it)"


@dataclass
class _Postgres:
    """A running throwaway PostgreSQL cluster."""

    bindir: Path
    root: Path  # holds data/, the socket and pg.log; owned by the user PostgreSQL runs as
    port: int
    run_as: list[str]  # command prefix that runs a command as that user ([] = this user)
    remove_root: bool  # root is a private temp dir (not under workdir): delete it after stop
    log_copy: Path  # where pg.log is copied on stop

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "pg.log"


@dataclass
class UnleashServer:
    """A running Unleash server; ``url`` has no ``/api`` suffix (e.g. ``http://127.0.0.1:PORT``)."""

    url: str
    admin_token: str
    client_tokens: dict[str, str]
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    _log_file: IO[bytes] | None = field(default=None, repr=False, compare=False)
    _postgres: _Postgres | None = field(default=None, repr=False, compare=False)


def unleash_dir() -> Path:
    """The unleash-server install directory (the one holding ``server.mjs``)."""
    override = os.environ.get("ROLLOUT_UNLEASH_DIR")
    return Path(override) if override else REPO_ROOT / ".deps" / "unleash-server"


def pg_bindir() -> Path:
    """The directory holding the PostgreSQL 15 server binaries (``initdb``, ``pg_ctl``)."""
    candidates: list[Path] = []
    override = os.environ.get("ROLLOUT_PG_BINDIR")
    if override:
        candidates.append(Path(override))
    candidates.append(Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin"))
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise RuntimeError(
        f"PostgreSQL {PG_MAJOR} server binaries (initdb, pg_ctl) not found in "
        f"{', '.join(map(str, candidates))}; {INSTALL_HINT}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    """Run a command; on failure raise RuntimeError with its output (and a log's tail)."""
    result = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        detail = f"{what} failed (exit {result.returncode}): {shlex.join(cmd)}\n"
        detail += f"{result.stdout}{result.stderr}"
        if log is not None:
            detail += f"\n--- tail of {log} ---\n{_tail(log)}"
        raise RuntimeError(detail)


def _run_as_prefix(user: str) -> list[str]:
    """Command prefix that runs a command as ``user``."""
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", user, "--"]
    su = shutil.which("su")
    if su:
        # su needs one shell string: callers' commands are joined with shlex in _as_user.
        return [su, user, "-s", "/bin/sh", "-c"]
    raise RuntimeError(f"running as root but neither runuser nor su exists to become {user!r}")


def _as_user(prefix: list[str], cmd: list[str]) -> list[str]:
    """``cmd`` run through ``prefix`` (from ``_run_as_prefix``; ``[]`` runs it directly)."""
    if not prefix:
        return cmd
    if prefix[-1] == "-c":  # su: the command is a single shell string
        return [*prefix, shlex.join(cmd)]
    return [*prefix, *cmd]


def _start_postgres(workdir: Path) -> _Postgres:
    """initdb a new cluster and start it on a free loopback port; create the Unleash database."""
    bindir = pg_bindir()
    run_as: list[str] = []
    root = workdir / "pg"
    remove_root = False
    if os.geteuid() == 0:
        try:
            pg_user = pwd.getpwnam(PG_SUPERUSER)
        except KeyError:
            raise RuntimeError(
                f"running as root, but there is no {PG_SUPERUSER!r} user to run PostgreSQL as "
                "(PostgreSQL refuses to run as root)"
            ) from None
        run_as = _run_as_prefix(PG_SUPERUSER)
        # pytest's basetemp (/tmp/pytest-of-root) is mode 0700, so the postgres user cannot reach
        # a directory under workdir: use a private temp dir it owns, removed again on stop.
        root = Path(tempfile.mkdtemp(prefix="rolloutcli-pg-"))
        remove_root = True
        os.chown(root, pg_user.pw_uid, pg_user.pw_gid)
    else:
        root.mkdir(parents=True, exist_ok=True)
    pg = _Postgres(
        bindir=bindir,
        root=root,
        port=free_port(),
        run_as=run_as,
        remove_root=remove_root,
        log_copy=workdir / "postgres.log",
    )
    initdb = [str(bindir / "initdb"), "-D", str(pg.data_dir), "-U", PG_SUPERUSER]
    initdb += ["--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
    options = f"-c listen_addresses={HOST} -p {pg.port} -k {shlex.quote(str(root))} -c fsync=off"
    pg_ctl_start = [str(bindir / "pg_ctl"), "-D", str(pg.data_dir), "-l", str(pg.log_path)]
    pg_ctl_start += ["-o", options, "-w", "start"]
    psql = str(bindir / "psql") if (bindir / "psql").is_file() else shutil.which("psql") or "psql"
    create_db = [psql, "-X", "-q", "-h", HOST, "-p", str(pg.port), "-U", PG_SUPERUSER]
    create_db += ["-d", "postgres", "-v", "ON_ERROR_STOP=1"]
    create_db += ["-c", f"CREATE USER {DB_USER} WITH PASSWORD '{DB_PASSWORD}'"]
    create_db += ["-c", f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}"]
    try:
        _run(_as_user(run_as, initdb), "initdb")
        _run(_as_user(run_as, pg_ctl_start), "pg_ctl start", log=pg.log_path)
        _run(create_db, "creating the Unleash database", log=pg.log_path)
    except BaseException:
        # Stop whatever got started (pg_ctl stop fails harmlessly if nothing runs), drop temp files.
        with contextlib.suppress(RuntimeError):
            _stop_postgres(pg)
        if pg.remove_root:
            shutil.rmtree(pg.root, ignore_errors=True)
        raise
    return pg


def _stop_postgres(pg: _Postgres) -> None:
    """``pg_ctl stop -m fast``; keep a copy of its log in workdir; remove a private temp root."""
    try:
        _run(
            _as_user(
                pg.run_as,
                [str(pg.bindir / "pg_ctl"), "-D", str(pg.data_dir), "-m", "fast", "-w", "stop"],
            ),
            "pg_ctl stop",
            log=pg.log_path,
        )
    finally:
        if pg.remove_root:
            with contextlib.suppress(OSError):
                shutil.copyfile(pg.log_path, pg.log_copy)
    if pg.remove_root:  # only once the server is really down
        shutil.rmtree(pg.root, ignore_errors=True)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Poll ``GET /health`` until it answers 200; RuntimeError if node exits or time runs out."""
    deadline = time.monotonic() + HEALTH_TIMEOUT
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            code = process.poll()
            if code is not None:
                raise RuntimeError(
                    f"the Unleash server exited with code {code} before becoming healthy\n"
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
                    f"the Unleash server did not answer {url}/health with 200 within "
                    f"{HEALTH_TIMEOUT:.0f} s (last: {last})\n"
                    f"--- tail of {log_path} ---\n{_tail(log_path)}"
                )
            time.sleep(0.1)


def _stop_node(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the node process and wait; SIGKILL it after ``STOP_TIMEOUT`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_unleash(workdir: Path) -> UnleashServer:
    """Start PostgreSQL and Unleash (fresh database) and return once ``/health`` answers 200.

    ``workdir`` receives ``unleash.log`` (node's stdout and stderr) and, after stop,
    ``postgres.log``. Raises RuntimeError (with the log's tail) if anything fails; whatever was
    already started is stopped again first.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    server_dir = unleash_dir()
    script = server_dir / "server.mjs"
    package = server_dir / "node_modules" / "unleash-server" / "package.json"
    if not script.is_file() or not package.is_file():
        raise RuntimeError(f"no unleash-server install at {server_dir}; {INSTALL_HINT}")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(f"'node' (Node.js >= 20) is not on PATH; {INSTALL_HINT}")

    pg = _start_postgres(workdir)
    port = free_port()
    url = f"http://{HOST}:{port}"
    log_path = workdir / "unleash.log"
    env = {
        **os.environ,
        "UNLEASH_PORT": str(port),
        "UNLEASH_DB_PORT": str(pg.port),
        "UNLEASH_DB_NAME": DB_NAME,
        "UNLEASH_DB_USER": DB_USER,
        "UNLEASH_DB_PASSWORD": DB_PASSWORD,
        "SEND_TELEMETRY": "false",
        "CHECK_VERSION": "false",
        "SCARF_ANALYTICS": "false",
    }
    log_file = log_path.open("wb")
    process: subprocess.Popen[bytes] | None = None
    try:
        process = subprocess.Popen(
            [node, str(script)],
            cwd=server_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        _wait_healthy(url, process, log_path)
    except BaseException:
        if process is not None:
            _stop_node(process)
        log_file.close()
        _stop_postgres(pg)
        raise
    return UnleashServer(
        url=url,
        admin_token=ADMIN_TOKEN,
        client_tokens=dict(CLIENT_TOKENS),
        log_path=log_path,
        _process=process,
        _log_file=log_file,
        _postgres=pg,
    )


def stop_unleash(server: UnleashServer) -> None:
    """Stop the Unleash server (SIGTERM, SIGKILL after 10 s), then PostgreSQL. Idempotent."""
    try:
        if server._process is not None:
            _stop_node(server._process)
            server._process = None
        if server._log_file is not None:
            server._log_file.close()
            server._log_file = None
    finally:
        if server._postgres is not None:
            pg, server._postgres = server._postgres, None
            _stop_postgres(pg)


@contextlib.contextmanager
def running_unleash(workdir: Path) -> Iterator[UnleashServer]:
    """``start_unleash`` / ``stop_unleash`` as a context manager."""
    server = start_unleash(workdir)
    try:
        yield server
    finally:
        stop_unleash(server)

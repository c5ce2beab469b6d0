"""Private Redis and PostgreSQL instances, and the web app as a real process, for fault tests.

Fault tests stop and start these at will, so they are never the shared ones: each is started
here on a free loopback port, with its data in a temporary folder, and stopped at the end.

- `RedisInstance`: `redis-server --port N --save "" --appendonly no`; stop() shuts it down
  as a crash would (SIGKILL: no goodbye to the clients), start() brings it back empty on the
  same port, as a Redis without persistence restarts.
- `PostgresCluster`: initdb into a temporary folder with trust authentication, `pg_ctl`
  start/stop (stop is "immediate": every client connection is cut, as when the server
  dies). PostgreSQL refuses to run as root, so as root the cluster belongs to the
  `postgres` user and its commands run through `runuser`.
- `WebProcess`: the Procfile's gunicorn command against the given environment.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not come up within {timeout}s")


# --- Redis ------------------------------------------------------------------------------------
def redis_missing() -> str | None:
    """Why a private Redis cannot be started here, or None."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (Debian package redis-server)"
    return None


class RedisInstance:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = folder / "redis.log"

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        _wait(self.ping, 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# --- PostgreSQL -------------------------------------------------------------------------------
def _postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parts[-3]
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def postgres_missing() -> str | None:
    """Why a private PostgreSQL cluster cannot be started here, or None."""
    bindir = _postgres_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        return "PostgreSQL's initdb and pg_ctl are not installed (Debian package postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot run as root"
    return None


class PostgresCluster:
    USER = "postgres"

    def __init__(self) -> None:
        bindir = _postgres_bindir()
        assert bindir is not None
        self.bindir = bindir
        # Not under pytest's tmp_path: its folders are private to root, and the server runs
        # as the postgres user when we are root.
        self.folder = Path(tempfile.mkdtemp(prefix="concord-faults-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.folder, user="postgres", group="postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.USER, "--no-sync")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / tool), *args]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60)

    def url(self, name: str) -> str:
        return f"postgres://{self.USER}@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop at once: every client's connection is cut mid-whatever, as when it dies."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    @property
    def running(self) -> bool:
        argv = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0

    def sql(self, statement: str, database: str = "postgres") -> str:
        argv = [str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port)]
        argv += ["-U", self.USER, "-d", database, "-qAtc", statement]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            if self.running:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the web app ------------------------------------------------------------------------------
class WebProcess:
    """The Procfile's web command (gunicorn) on a free port, with `env` over os.environ."""

    def __init__(self, log: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        environment = {**os.environ, **env, "CONCORD_PUBLIC_URL": self.url}
        argv = [sys.executable, "-m", "gunicorn", "apps.config.wsgi"]
        argv += ["--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4"]
        argv += ["--timeout", "60", "--access-logfile", "-"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=environment,
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait(self._answers, 30, f"gunicorn on port {self.port}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {self.log.read_text(errors='replace')[-2000:]}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

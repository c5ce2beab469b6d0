"""The real stack for a benchmark: the sandbox, gunicorn and Celery, each its own process on
free localhost ports, sharing a fresh SQLite database (or PostgreSQL/Redis from the
environment when a benchmark passes them through) under a temporary CONCORD_VAR_DIR.

By default gunicorn and one solo Celery worker; with `procfile=True`, the Procfile's own
roles (web, worker and beat, with the Procfile's arguments: its worker concurrency, its
gunicorn workers and threads), so that a benchmark measures what `make run` and a deployment
run. `MemorySampler` follows the peak resident memory of process trees."""

from __future__ import annotations

import os
import random
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCFILE = ROOT / "Procfile"
# The roles a benchmark starts from the Procfile; the sandbox is started on its own port.
PROCFILE_ROLES = ("web", "worker", "beat")


def free_port() -> int:
    """A free port below the kernel's ephemeral range. A port the kernel hands out (bind to
    0) is in that range, where any outgoing connection may take it as its local port before
    a restarted role binds it again: under load, a default-configuration pass once lost its
    web role that way (147 restarts, every bind refused)."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(20_000, low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # every try was taken: let the kernel choose
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return max(20_001, min(int(text.split()[0]), 65_535))
    except (OSError, ValueError, IndexError):
        return 32_768


def wait_http(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@dataclass(frozen=True)
class Stack:
    sandbox_port: int
    web_port: int
    var_dir: Path
    # role ("sandbox", "web", "worker", "beat") -> the pid of its process now
    pids: dict[str, int] = field(default_factory=dict)
    # role -> how many times it died (exited, or logged "Unrecoverable error") and was
    # started again, as a process supervisor (systemd, Docker's restart policy) would
    restarts: Counter[str] = field(default_factory=Counter)


_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def procfile_commands(
    env: Mapping[str, str], roles: Iterable[str] = PROCFILE_ROLES, procfile: Path = PROCFILE
) -> dict[str, list[str]]:
    """The argv of each of `roles` in the Procfile, its ${VAR:-default} expanded from `env`
    (as honcho would), the program run by this interpreter (`python -m gunicorn`) so that
    it is the project's virtualenv whatever PATH says."""
    wanted = set(roles)
    commands: dict[str, list[str]] = {}
    for line in procfile.read_text().splitlines():
        name, sep, command = line.partition(":")
        name = name.strip()
        if not sep or name.startswith("#") or name not in wanted:
            continue
        expanded = _VARIABLE.sub(lambda m: env.get(m[1] or m[3]) or (m[2] or ""), command.strip())
        argv = shlex.split(expanded)
        if argv[0] in ("gunicorn", "celery", "python"):
            argv = [sys.executable, *([] if argv[0] == "python" else ["-m", argv[0]]), *argv[1:]]
        commands[name] = argv
    missing = wanted - set(commands)
    if missing:
        raise RuntimeError(f"the Procfile has no {', '.join(sorted(missing))} role")
    return commands


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, read from /proc (Linux), without psutil."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the ppid follows it.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def kill_tree(pid: int) -> None:
    """SIGKILL `pid` and every descendant (a wedged Celery parent leaves its pool behind)."""
    for member in reversed(process_tree(pid)):
        with suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


# A Celery worker that logs this has stopped consuming, though its process may live on.
DEATH_MARKS = (b"Unrecoverable error",)


def _status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    """The process's proportional set size: its private pages plus its share of the pages
    it shares with others (a forked worker shares most of its parent's), so that summing
    it over processes counts each page once."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class MemorySampler:
    """Samples the summed resident memory (VmRSS) of the trees of `pids` every `interval`
    seconds from a thread; `peak_mb` is the largest sum seen. RSS counts a page shared by
    forked processes once per process, so `peak_pss_mb` is also kept: the largest sum of
    proportional set sizes, the memory the processes take from the machine. `hwm_mb()` sums
    each live process's own high-water mark (VmHWM), an upper bound that catches short
    spikes the sampling misses."""

    def __init__(
        self, pids: Iterable[int] | Callable[[], Iterable[int]], interval: float = 0.5
    ) -> None:
        # A callable is asked at every sample: a restarted role has a new pid.
        self.pids = pids if callable(pids) else list(pids).copy
        self.interval = interval
        self.peak_mb = 0.0
        self.peak_pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def _tree(self) -> list[int]:
        return [p for root in self.pids() for p in process_tree(root)]

    def sample(self) -> float:
        tree = self._tree()
        total = sum(_status_kib(p, "VmRSS") for p in tree) / 1024
        self.peak_mb = max(self.peak_mb, total)
        self.peak_pss_mb = max(self.peak_pss_mb, sum(_pss_kib(p) for p in tree) / 1024)
        return total

    def hwm_mb(self) -> float:
        return sum(_status_kib(p, "VmHWM") for p in self._tree()) / 1024

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> MemorySampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def running_stack(
    *,
    env: Mapping[str, str] | None = None,
    gunicorn_args: Sequence[str] = (),
    procfile: bool = False,
    restart: bool = False,
) -> Iterator[Stack]:
    """Configure Django in this process for a fresh database, migrate it, start the
    processes and wait until they answer; stop them on the way out. `env` is added to the
    environment (DATABASE_URL and REDIS_URL are dropped unless given there; a PostgreSQL
    database and a Redis database given there are emptied first: they must be the
    benchmark's own). `procfile`: the Procfile's web, worker and beat (see the module).
    `restart`: a role that dies is started again (counted in `Stack.restarts`), so that a
    benchmark measures a crashing configuration as a supervised deployment would run it."""
    var_dir = Path(tempfile.mkdtemp(prefix="concord-bench-"))
    sandbox_port, web_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment.update(
        CONCORD_MODE="development",
        CONCORD_VAR_DIR=str(var_dir),
        CONCORD_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
        LOG_LEVEL="WARNING",
    )
    environment.update(dict(env or {}))
    if procfile:
        environment.update(HOST="127.0.0.1", PORT=str(web_port))
    os.environ.clear()
    os.environ.update(environment)
    os.environ["DJANGO_SETTINGS_MODULE"] = "apps.config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if os.environ.get("DATABASE_URL"):
        call_command("flush", interactive=False, verbosity=0)
    if os.environ.get("REDIS_URL"):
        import redis

        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()

    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = var_dir / "logs"
    logs.mkdir()
    stack = Stack(sandbox_port=sandbox_port, web_port=web_port, var_dir=var_dir)
    argvs: dict[str, list[str]] = {}
    log_seen: dict[str, int] = {}

    def start(name: str, argv: list[str]) -> None:
        out = (logs / f"{name}.log").open("ab")
        log_seen[name] = out.tell()
        proc = subprocess.Popen(argv, cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=out)  # noqa: S603
        procs[name], argvs[name], stack.pids[name] = proc, argv, proc.pid

    def dead(name: str) -> bool:
        if procs[name].poll() is not None:
            return True
        with (logs / f"{name}.log").open("rb") as log:
            log.seek(log_seen[name])
            fresh = log.read()
        log_seen[name] += len(fresh)
        return any(mark in fresh for mark in DEATH_MARKS)

    stopping = threading.Event()

    def supervise() -> None:
        while not stopping.wait(0.5):
            for name in [n for n in procs if n != "sandbox"]:
                if not stopping.is_set() and dead(name):
                    kill_tree(procs[name].pid)
                    procs[name].wait()
                    stack.restarts[name] += 1
                    start(name, argvs[name])

    supervisor = threading.Thread(target=supervise, name="supervisor", daemon=True)

    if procfile:
        commands = procfile_commands(os.environ)
        commands["web"] += list(gunicorn_args)
    else:
        gunicorn = [sys.executable, "-m", "gunicorn", "apps.config.wsgi"]
        gunicorn += ["--bind", f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4"]
        worker = [sys.executable, "-m", "celery", "-A", "apps.config", "worker", "--pool=solo"]
        worker += ["--loglevel=WARNING", "--without-gossip", "--without-mingle"]
        commands = {"web": [*gunicorn, *gunicorn_args], "worker": worker}
    try:
        start("sandbox", [sys.executable, "-m", "connectors.sandbox", "--port", str(sandbox_port)])
        for name, argv in commands.items():
            start(name, argv)
        wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/stats")
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        if restart:
            supervisor.start()
        yield stack
    finally:
        stopping.set()
        if supervisor.is_alive():
            supervisor.join()
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill_tree(proc.pid)
                proc.wait()

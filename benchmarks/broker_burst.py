"""Burst the embedded (filesystem) broker: does its worker survive, is every message taken once?

    python -m benchmarks.broker_burst [--root CHECKOUT] [--tries 5] [--messages 2000]

Each try starts, in a fresh CONCORD_VAR_DIR with no REDIS_URL, a real worker of CHECKOUT
(default: this one) with --concurrency 4, and several producer processes that send tasks
by name through CHECKOUT's own Celery app, as web and beat do. The task records its number
with an exclusive create, so a message taken twice is seen. A try fails when the worker
exits (kombu's own transport: "Unrecoverable error: JSONDecodeError") or a message is lost
or taken twice. Point --root at a checkout from before the transport change to see the
failure it fixed (the probe task is loaded from a folder of its own, not from CHECKOUT).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    '''
    """Records each message's number once (an exclusive create); a second take is a dup-."""
    import os

    from celery import shared_task


    @shared_task(name="burst.record", ignore_result=True)
    def record(folder: str, number: int) -> None:
        try:
            os.close(os.open(os.path.join(folder, str(number)), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            with open(os.path.join(folder, f"dup-{number}"), "a") as out:
                out.write("x")
    '''
)

PRODUCER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from apps.config.celery import app
    folder, first, count, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    start = time.monotonic()
    for i in range(count):
        if rate:
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        app.send_task("burst.record", args=[folder, first + i], queue="burst", ignore_result=True)
    """
)


def one_try(
    root: Path, python: str, messages: int, producers: int, rate: float, tmp_root: Path
) -> dict:
    with tempfile.TemporaryDirectory(prefix="concord-burst-", dir=tmp_root) as tmp:
        base = Path(tmp)
        (base / "probe").mkdir()
        (base / "probe" / "burst_probe.py").write_text(PROBE)
        seen = base / "seen"
        seen.mkdir()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("REDIS_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER")
        }
        env.update(
            CONCORD_VAR_DIR=str(base / "var"),
            CONCORD_MODE="development",
            DJANGO_SETTINGS_MODULE="apps.config.settings",
            PYTHONPATH=f"{base / 'probe'}{os.pathsep}{root}",
        )
        log = base / "worker.log"
        argv = [python, "-m", "celery", "-A", "apps.config", "worker", "-I", "burst_probe"]
        argv += ["-Q", "burst", "--concurrency=4", "--pool=prefork", "--loglevel=INFO"]
        argv += ["--without-gossip", "--without-mingle"]
        with log.open("wb") as out:
            worker = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                argv,
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 60
            while b"ready." not in log.read_bytes() and time.monotonic() < deadline:
                if worker.poll() is not None:
                    break
                time.sleep(0.2)
            share = messages // producers
            per_producer = str(rate / producers)
            procs = [
                subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                    [python, "-c", PRODUCER, str(seen), str(p * share), str(share), per_producer],
                    cwd=root,
                    env=env,
                )
                for p in range(producers)
            ]
            for proc in procs:
                proc.wait(timeout=600)
            sent = share * producers
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and worker.poll() is None:
                done = sum(1 for n in os.listdir(seen) if not n.startswith("dup-"))
                if done >= sent:
                    break
                time.sleep(0.2)
            time.sleep(1)  # a late duplicate would land now
            names = os.listdir(seen)
            text = log.read_text(errors="replace")
            return {
                "sent": sent,
                "taken": sum(1 for n in names if not n.startswith("dup-")),
                "duplicated": sum(1 for n in names if n.startswith("dup-")),
                "worker_died": worker.poll() is not None,
                "unrecoverable": "Unrecoverable error" in text,
                "error": next((ln for ln in text.splitlines() if "Unrecoverable error" in ln), "")[
                    :200
                ],
                "set_aside": text.count("could not be read and was set aside"),
            }
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, 15)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, 9)
                    worker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=HERE)
    parser.add_argument("--tries", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument(
        "--tmp", type=Path, default=HERE / "var", help="where each try's var folder goes"
    )
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s in all; 0: flat out")
    args = parser.parse_args()
    python = str(args.root / ".venv" / "bin" / "python")
    results = []
    for n in range(args.tries):
        args.tmp.mkdir(parents=True, exist_ok=True)
        result = one_try(
            args.root.resolve(), python, args.messages, args.producers, args.rate, args.tmp
        )
        results.append(result)
        print(f"try {n + 1}: {json.dumps(result)}", flush=True)  # noqa: T201
    failed = sum(
        1 for r in results if r["worker_died"] or r["taken"] != r["sent"] or r["duplicated"]
    )
    print(f"{failed} of {len(results)} tries failed (worker died, lost or duplicated)")  # noqa: T201
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

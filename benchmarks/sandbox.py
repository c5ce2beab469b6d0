"""Sandbox throughput: requests per second for HubSpot list/search calls and batch writes.

    python -m benchmarks.sandbox [--seconds 3] [--threads 1,4] [--json var/bench/sandbox.json]

Starts `python -m connectors.sandbox` as a separate process on a free localhost port (so the
client does not share the server's interpreter lock), seeds it, switches rate-limit
emulation off (we measure the server, not HubSpot's limits), and drives each scenario from
1..N client threads with one keep-alive session each, for a bounded time and request count.
Prints a table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from benchmarks.stack import free_port
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from connectors.sandbox.client import SandboxAdmin

MAX_REQUESTS_PER_SCENARIO = 50_000
HEADERS = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


def start_server(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "connectors.sandbox", "--port", str(port), "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/_sandbox/stats", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the sandbox did not start within 30 s")


def scenario_calls(base: str) -> dict[str, Callable[[requests.Session, int], int]]:
    counter = itertools.count()

    def search(session: requests.Session, _: int) -> int:
        body = {
            "filterGroups": [{"filters": [
                {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "0"}
            ]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": ["email", "firstname", "lastname", "lifecyclestage"],
            "limit": 100,
        }  # fmt: skip
        answer = session.post(f"{base}/crm/v3/objects/contacts/search", json=body, timeout=30)
        return answer.status_code

    def list_page(session: requests.Session, _: int) -> int:
        answer = session.get(
            f"{base}/crm/v3/objects/contacts",
            params={"limit": 100, "properties": "email,firstname,lastname"},
            timeout=30,
        )
        return answer.status_code

    def batch_create(session: requests.Session, _: int) -> int:
        start = next(counter) * 100
        inputs = [
            {
                "properties": {"email": f"bench{start + i}@bench.example", "firstname": "B"},
                "objectWriteTraceId": str(i),
            }
            for i in range(100)
        ]
        answer = session.post(
            f"{base}/crm/v3/objects/contacts/batch/create", json={"inputs": inputs}, timeout=30
        )
        return answer.status_code

    return {
        "search (100/page)": search,
        "list (100/page)": list_page,
        "batch create (100/call)": batch_create,
    }


def run(
    call: Callable[[requests.Session, int], int], threads: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    budget = itertools.count()

    def worker() -> None:
        nonlocal failures
        session = requests.Session()
        session.headers.update(HEADERS)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop_at and next(budget) < MAX_REQUESTS_PER_SCENARIO:
            started = time.perf_counter()
            status = call(session, 0)
            mine.append(time.perf_counter() - started)
            if status >= 300:
                bad += 1
        session.close()
        with lock:
            latencies.extend(mine)
            failures += bad

    began = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "threads": threads,
        "requests": len(latencies),
        "failures": failures,
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else None,
        "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 2) if latencies else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sandbox")
    parser.add_argument("--seconds", type=float, default=3.0, help="per scenario and thread count")
    parser.add_argument("--threads", default="1,4", help="comma-separated client thread counts")
    parser.add_argument("--json", default="var/bench/sandbox.json")
    args = parser.parse_args(argv)
    thread_counts = [int(t) for t in args.threads.split(",") if t]

    port = free_port()
    server = start_server(port)
    try:
        admin = SandboxAdmin(f"http://127.0.0.1:{port}")
        rows = []
        for name, call in scenario_calls(f"http://127.0.0.1:{port}/hubspot").items():
            for threads in thread_counts:
                admin.seed(1, {"hubspot": {"contacts": 2000}})
                admin.set_rate_limits("hubspot", False)
                rows.append({"scenario": name, **run(call, threads, args.seconds)})
    finally:
        server.terminate()
        server.wait(timeout=10)

    header = f"{'scenario':<26}{'threads':>8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
    print(header)  # noqa: T201
    for row in rows:
        print(  # noqa: T201
            f"{row['scenario']:<26}{row['threads']:>8}{row['requests']:>10}"
            f"{row['requests_per_second']:>9}{row['p50_ms']:>9}{row['p95_ms']:>9}"
            + (f"  ({row['failures']} failed)" if row["failures"] else "")
        )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"benchmark": "sandbox", "cpus": os.cpu_count(), "results": rows}, indent=2)
        + "\n"
    )
    print(f"wrote {out}")  # noqa: T201
    return 1 if any(r["failures"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Initial sync, incremental runs and idle polls of a HubSpot contacts <-> Zendesk users sync.

    python -m benchmarks.initial [--records 10000] [--large] [--repeat 1] [--repeat-large 1]
                                 [--budget lifted|default|both] [--scenario ...]
                                 [--config default|pg-redis|both] [--json var/bench/initial.json]

Starts the sandbox as its own process on a free localhost port and runs the engine in this
process, the way a worker runs it (apps.runs.execution.run_execute on a queued run), on a
fresh SQLite database under a temporary CONCORD_VAR_DIR (`--config default`), or on
DATABASE_URL with REDIS_URL for the request budget's counter (`--config pg-redis`, which
empties that database's tables of Concord's apps first: point it at a database of its own).
`--config both` (the default when both variables are set) runs each configuration in a
process of its own and prints one table. The sandboxes' own rate-limit
emulation is off: what is measured is Concord and the sandbox, against the request budget
Concord keeps per connection (CONCORD_CONNECTION_REQUESTS_PER_WINDOW per
CONCORD_CONNECTION_RATE_WINDOW seconds).

Scenarios (docs/benchmarks.md has the figures):

2. initial: N HubSpot contacts, N/2 Zendesk users with the emails of every other contact (to
   be matched), a new sync matching on email; its first run: records/s (N over the run's
   wall time), API calls against the minimum, and under the default budget the share of the
   budget's ceiling. The minimum is field discovery (one call per side), the pages to read
   (HubSpot's list endpoint, 100 contacts a page, and the one search that resumes the change
   feed after it; Zendesk export pages of 1,000 users, which by then hold the created users
   too), and the writes: one HubSpot batch per 100 records, and per 100 Zendesk records the
   three calls of a job (submit, status, read back); matching needs no lookup once a side is
   listed in full. The ceiling is the minimum calls of the busier connection at the budget's
   rate (its first window's burst included). The seeded records are written at least
   SETTLED seconds before the run, as the records of a system being connected are: a
   HubSpot record written within its connector's LISTING_OVERLAP_MS of a first read is read
   once more by the search that follows the listing.
3. incremental: after the initial sync and the run that follows it (which reads the
   initial sync's own writes back from Zendesk's export once: "after_initial"), 100
   contacts' first names are changed on HubSpot and a polling run syncs them: wall time,
   API calls and database queries.
4. idle: a polling run right after, which finds nothing: API calls and CPU seconds.

--large adds 100,000 records (several minutes: seeding alone writes 150,000 records through
the sandboxes' APIs), measured --repeat-large times. Prints a table and writes JSON with
cores, versions and the commit.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.stack import free_port, wait_http

ROOT = Path(__file__).resolve().parent.parent
LIFTED = 1_000_000  # requests per window: no budget in the way
DEFAULT_REQUESTS: int | None = None  # the settings' budget (requests per window)
HUBSPOT_PAGE = 100  # the largest page of HubSpot's list endpoint (a first read lists)
SETTLED = 6.0  # seconds between the seeding's last write and the first run
ZENDESK_PAGE = 1000  # Zendesk's incremental export page
WRITE_BATCH = 100  # both vendors' batch maximum
ZENDESK_CALLS_PER_JOB = 3  # submit, job status, show_many read back


class _NoBudget:
    """A RateLimiter that lets every request through (for seeding the sandboxes)."""

    def acquire(self, key: str, *, max_wait: float) -> None:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.initial")
    parser.add_argument("--records", type=int, action="append", help="contacts (repeatable)")
    parser.add_argument("--large", action="store_true", help="also 100,000 records (minutes)")
    parser.add_argument("--repeat", type=int, default=1, help="passes per case (median shown)")
    parser.add_argument("--repeat-large", type=int, default=1, help="passes of 100,000")
    parser.add_argument("--budget", choices=("lifted", "default", "both"), default="both")
    parser.add_argument(
        "--scenario", choices=("initial", "incremental", "idle", "all"), default="all"
    )
    both = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    parser.add_argument(
        "--config", choices=("default", "pg-redis", "both"), default="both" if both else "default"
    )
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "initial.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.config != "default" and not both:
        parser.error("pg-redis needs DATABASE_URL and REDIS_URL")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.child:
        rows = run_config(args)
        from django.conf import settings

        database = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        for row in rows:
            row.update(database=database, redis=bool(settings.REDIS_URL))
        out.write_text(json.dumps({"results": rows}, indent=2, default=str))
        return 0
    configs = ["default", "pg-redis"] if args.config == "both" else [args.config]
    results: dict[str, Any] = {"benchmark": "initial", **machine(), "configs": {}}
    for config in configs:
        # Django is configured once per process: each configuration runs in its own.
        print(f"initial: {config}", flush=True)  # noqa: T201
        part = out.with_name(f"{out.stem}.{config}.part.json")
        child = [sys.executable, "-m", "benchmarks.initial", "--child", "--config", config]
        child += [f"--records={n}" for n in args.records or []]
        child += ["--large"] if args.large else []
        child += ["--repeat", str(args.repeat), "--repeat-large", str(args.repeat_large)]
        child += ["--budget", args.budget, "--scenario", args.scenario, "--json", str(part)]
        if subprocess.run(child, cwd=ROOT, check=False).returncode != 0:  # noqa: S603
            print(f"initial: {config} failed", flush=True)  # noqa: T201
            return 1
        results["configs"][config] = json.loads(part.read_text())["results"]
        part.unlink()
    for config, rows in results["configs"].items():
        print(f"\ninitial sync, {config}:")  # noqa: T201
        print_table(rows)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"written to {out}")  # noqa: T201
    return 0


def run_config(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every size and budget of one configuration, in this process."""
    sizes = args.records or [10_000]
    if args.large and 100_000 not in sizes:
        sizes.append(100_000)
    budgets = ["lifted", "default"] if args.budget == "both" else [args.budget]
    env = {"LOG_LEVEL": "WARNING"}
    if args.config == "pg-redis":
        env.update(DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"])
    rows: list[dict[str, Any]] = []
    with django_and_sandbox(env) as sandbox:
        for size in sizes:
            repeat = args.repeat_large if size >= 100_000 else args.repeat
            for budget in budgets:
                # Incremental and idle runs do not depend on the budget: measured once per size.
                later = args.scenario != "initial" and budget == budgets[0]
                passes = [
                    measure(sandbox, size, budget, args.scenario, later) for _ in range(repeat)
                ]
                rows.append(median_row(passes))
    return rows


@contextmanager
def django_and_sandbox(env: dict[str, str]) -> Iterator[str]:
    """Django configured in this process on a fresh database, and the sandbox's URL."""
    var_dir = Path(tempfile.mkdtemp(prefix="concord-bench-initial-"))
    keep = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    os.environ.clear()
    os.environ.update(keep, CONCORD_MODE="development", CONCORD_VAR_DIR=str(var_dir), **env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "apps.config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if env.get("DATABASE_URL"):
        call_command("flush", interactive=False, verbosity=0)
    port = free_port()
    log = (var_dir / "sandbox.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "connectors.sandbox", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_sandbox/stats")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def seed(sandbox: str, size: int) -> None:
    """N contacts on HubSpot; the emails of every other one as Zendesk users."""
    from connectors.hubspot.connector import HubSpotConfig, HubSpotConnector
    from connectors.hubspot.sandbox import SANDBOX_TOKEN
    from connectors.sandbox.client import SandboxAdmin
    from connectors.zendesk.connector import ZendeskConfig, ZendeskConnector
    from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN

    admin = SandboxAdmin(sandbox)
    zero = {"hubspot": {"contacts": 0, "companies": 0, "deals": 0, "tickets": 0}}
    admin.seed(1, counts={**zero, "zendesk": {"users": 0, "tickets": 0, "organizations": 0}})
    admin.set_rate_limits("hubspot", False)
    admin.set_rate_limits("zendesk", False)
    admin.configure("zendesk", export_lag_seconds=0)
    hubspot = HubSpotConnector(
        HubSpotConfig(base_url=f"{sandbox}/hubspot", access_token=SANDBOX_TOKEN),
        rate_limiter=_NoBudget(),
    )
    zendesk = ZendeskConnector(
        ZendeskConfig(base_url=f"{sandbox}/zendesk", email=ADMIN_EMAIL, api_token=API_TOKEN),
        rate_limiter=_NoBudget(),
        http_options={"job_poll_interval": 0.01},
    )
    try:
        step = 1000
        for start in range(0, size, step):
            contacts = [
                {
                    "email": f"person{n}@bench.example",
                    "firstname": f"First{n}",
                    "phone": f"+1{n:09d}",
                }
                for n in range(start, min(size, start + step))
            ]
            assert all(r.ok for r in hubspot.create("contacts", contacts))
            users = [
                {"email": c["email"], "name": f"First{n}", "phone": c["phone"]}
                for n, c in enumerate(contacts, start)
                if n % 2 == 0
            ]
            assert all(r.ok for r in zendesk.create("users", users))
    finally:
        hubspot.close()
        zendesk.close()
    time.sleep(SETTLED)


def make_sync(sandbox: str) -> Any:
    from apps.accounts.services import user_signup
    from apps.connections.services import connection_create
    from apps.syncs.services import sync_create
    from connectors.hubspot.sandbox import SANDBOX_TOKEN
    from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN

    _user, ws = user_signup(
        email=f"bench-{uuid.uuid4().hex[:6]}@example.com",
        password=uuid.uuid4().hex,
        workspace_name="Bench",
    )
    hubspot = connection_create(
        workspace=ws,
        name="HubSpot",
        kind="hubspot",
        values={"base_url": f"{sandbox}/hubspot", "access_token": SANDBOX_TOKEN},
    )
    zendesk = connection_create(
        workspace=ws,
        name="Zendesk",
        kind="zendesk",
        values={"base_url": f"{sandbox}/zendesk", "email": ADMIN_EMAIL, "api_token": API_TOKEN},
    )
    return sync_create(
        workspace=ws,
        name="Bench",
        connection_a=hubspot,
        object_type_a="contacts",
        connection_b=zendesk,
        object_type_b="users",
        mappings=[
            {"field_a": "email", "field_b": "email"},
            {"field_a": "firstname", "field_b": "name"},
            {"field_a": "phone", "field_b": "phone"},
        ],
        match_rule=[{"a": "email", "b": "email"}],
    )


def endpoint_counts(sandbox: str) -> dict[str, int]:
    from connectors.sandbox.client import SandboxAdmin

    stats = SandboxAdmin(sandbox).stats()
    return {name: e["count"] for name, e in stats["endpoints"].items()}


def timed_run(sandbox: str, sync: Any) -> dict[str, Any]:
    """One polling run executed here as a worker would: wall, CPU, calls, queries."""
    from django.db import connection

    from apps.runs.execution import run_execute
    from apps.runs.models import SyncRun
    from apps.runs.queue import run_request
    from apps.syncs.models import InFlightWrite

    run = run_request(sync, trigger=SyncRun.Trigger.MANUAL)
    before = endpoint_counts(sandbox)
    cpu, wall = time.process_time(), time.perf_counter()
    queries = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries[0] += 1
        return execute(sql, params, many, context)

    runs = [run]
    with connection.execute_wrapper(count):
        run_execute(run.pk)
        # Zendesk's jobs are not waited for under the lease: the runs that settle them
        # (docs/engine.md) are part of the initial sync, executed here at once.
        while InFlightWrite.objects.filter(sync=sync, state="in_flight").exists():
            runs.append(run_request(sync, trigger=SyncRun.Trigger.SETTLE, record_ids={}))
            run_execute(runs[-1].pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = endpoint_counts(sandbox)
    for each in runs:
        each.refresh_from_db()
    calls = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    return {
        "status": run.status,
        "error": run.error,
        "wall_s": wall,
        "cpu_s": cpu,
        "queries": queries[0],
        "calls": sum(calls.values()),
        "calls_by_endpoint": calls,
        "settling_runs": len(runs) - 1,
        "counters": {
            f"{name}_{side}": total
            for name in ("read", "created", "updated", "unchanged", "conflicts", "errors")
            for side in "ab"
            if (total := sum(getattr(r, f"{name}_{side}") for r in runs))
        },
    }


def minimum_calls(size: int) -> dict[str, int]:
    matched = size // 2
    users = matched + (size - matched)  # present ones, and the ones the run creates
    hubspot = 1 + math.ceil(size / HUBSPOT_PAGE) + 1  # discovery, list pages, one search
    zendesk = 1 + math.ceil(users / ZENDESK_PAGE)
    zendesk += ZENDESK_CALLS_PER_JOB * math.ceil((size - matched) / WRITE_BATCH)
    return {"hubspot": hubspot, "zendesk": zendesk}


def ceiling_seconds(calls: int, requests: int, window: float) -> float:
    """The least time `calls` take under a fixed window of `requests` per `window` s: the
    first window's requests go at once, each further window adds `requests` more."""
    return max(0.0, math.ceil(calls / requests) - 1) * window


def measure(sandbox: str, size: int, budget: str, scenario: str, later: bool) -> dict[str, Any]:
    from django.conf import settings
    from django.core.cache import cache

    seed(sandbox, size)
    global DEFAULT_REQUESTS
    if DEFAULT_REQUESTS is None:
        DEFAULT_REQUESTS = settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW
    requests = LIFTED if budget == "lifted" else DEFAULT_REQUESTS
    settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW = requests
    window = settings.CONCORD_CONNECTION_RATE_WINDOW
    if settings.REDIS_URL:
        cache.clear()
    sync = make_sync(sandbox)
    row: dict[str, Any] = {"records": size, "budget": budget}
    initial = timed_run(sandbox, sync)
    minimum = minimum_calls(size)
    row["initial"] = initial
    row["initial_records_per_s"] = size / initial["wall_s"]
    row["minimum_calls"] = sum(minimum.values())
    row["calls_vs_minimum"] = initial["calls"] / row["minimum_calls"]
    if budget == "default":
        busier = max(minimum.values())
        ceiling = ceiling_seconds(busier, requests, window)
        row["ceiling_records_per_s"] = size / ceiling if ceiling else None
        row["share_of_ceiling"] = ceiling / initial["wall_s"] if ceiling else None
    if later:
        settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW = LIFTED
        # The run after the initial sync reads the initial sync's own writes back from
        # Zendesk's export (every created user, all unchanged): paid once, shown apart, so
        # that the incremental run below is the steady state of a sync of `size` records.
        row["after_initial"] = timed_run(sandbox, sync)
        change_contacts(sandbox, 100)
        row["incremental"] = timed_run(sandbox, sync)
        row["idle"] = timed_run(sandbox, sync)
    return row


def change_contacts(sandbox: str, count: int) -> None:
    """Change the first name of `count` contacts spread over the table (HubSpot's API)."""
    from connectors.hubspot.connector import HubSpotConfig, HubSpotConnector
    from connectors.hubspot.sandbox import SANDBOX_TOKEN

    hubspot = HubSpotConnector(
        HubSpotConfig(base_url=f"{sandbox}/hubspot", access_token=SANDBOX_TOKEN),
        rate_limiter=_NoBudget(),
    )
    try:
        ids = [i for page in hubspot.list_ids("contacts") for i in page]
        from connectors.base import RecordUpdate

        step = max(1, len(ids) // count)
        chosen = ids[::step][:count]
        results = hubspot.update(
            "contacts",
            [RecordUpdate(i, {"firstname": f"Changed{uuid.uuid4().hex[:6]}"}) for i in chosen],
        )
        assert all(r.ok for r in results)
    finally:
        hubspot.close()
    time.sleep(0.01)  # a millisecond later than the writes, for the search cursor


def median_row(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """The pass with the median initial wall time, with every pass's figures kept."""
    ordered = sorted(passes, key=lambda p: p["initial"]["wall_s"])
    row = dict(ordered[len(ordered) // 2])
    row["passes"] = len(passes)
    row["initial_wall_s_all"] = [p["initial"]["wall_s"] for p in passes]
    if len(passes) > 1:
        row["initial_wall_s_median"] = statistics.median(row["initial_wall_s_all"])
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    head = f"{'scenario':13} {'records':>8} {'budget':>8} {'wall':>8} {'rec/s':>8} "
    head += f"{'calls':>7} {'min':>6} {'x min':>6} {'ceiling':>8} {'queries':>8} {'cpu':>7}"
    print(head)  # noqa: T201
    for row in rows:
        run = row["initial"]
        share = row.get("share_of_ceiling")
        print(  # noqa: T201
            f"{'initial':13} {row['records']:>8} {row['budget']:>8} {run['wall_s']:>7.1f}s "
            f"{row['initial_records_per_s']:>8.0f} {run['calls']:>7} {row['minimum_calls']:>6} "
            f"{row['calls_vs_minimum']:>6.2f} {'' if share is None else f'{share:.0%}':>8} "
            f"{run['queries']:>8} {run['cpu_s']:>6.1f}s"
        )
        if run["status"] != "succeeded":
            print(f"  the run ended {run['status']}: {run['error']}")  # noqa: T201
        for name in ("after_initial", "incremental", "idle"):
            if name in row:
                r = row[name]
                print(  # noqa: T201
                    f"{name:13} {row['records']:>8} {'':>8} {r['wall_s']:>7.2f}s {'':>8} "
                    f"{r['calls']:>7} {'':>6} {'':>6} {'':>8} {r['queries']:>8} "
                    f"{r['cpu_s']:>6.2f}s"
                )


def machine() -> dict[str, Any]:
    import celery
    import django

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "celery": celery.__version__,
        "commit": commit,
    }


if __name__ == "__main__":
    sys.exit(main())

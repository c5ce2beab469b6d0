"""Freshness under sustained load (issue 14, scenario 1) and the echo count (scenario 4).

    python -m benchmarks.freshness [--rates 20,50,100] [--duration 30] [--warmup 5]
                                   [--config default|pg-redis|both] [--pairs 2000]
                                   [--profile 20] [--json var/bench/freshness.json]

Per configuration (default: SQLite and the embedded broker; pg-redis: DATABASE_URL and
REDIS_URL from the environment, emptied first, so they must be the benchmark's own) it
starts the sandbox and the Procfile's web, worker and beat (benchmarks.stack), seeds
`--pairs` HubSpot contacts, and links them to Zendesk users with a first run of a contacts
<-> users sync (email and first name mapped). Then both systems' webhooks are registered:
HubSpot's, whose deliveries carry the changes, and Zendesk's, so that every write Concord
makes comes back as a delivery (an echo), as in production. The sandbox's rate limits are
off: this measures Concord, not the vendors' ceilings.

- profile: `--profile` changes one at a time, each waited for, with the time of each stage
  read from the database rows it left (delivery received and processed, run created,
  started and finished, the write's event), the median per stage.
- load, per rate: changes at `rate` per second for `--warmup` + `--duration` seconds,
  open-loop (each made on schedule from a thread pool whether or not earlier ones have
  landed), each a distinct contact's first name set to a unique value on the HubSpot
  sandbox. The sandbox then delivers the signed webhook itself (its sender batches events
  for 50 ms, as HubSpot does, and POSTs one delivery at a time). A change's latency runs
  from the HubSpot API's answer to the moment the Zendesk sandbox holds the new name, seen
  by polling the sandbox's change feed (/_sandbox/changes: no vendor call, no rate limit, no
  request budget of the sync). Only changes made after the warm-up count.

Per rate: latency median, p95, p99 and max, and the median of each third of the measured
window (thirds that climb: a backlog growing under the load); lost (not in Zendesk
`--deadline` seconds after the load); duplicated (a Zendesk user created, or a name written
again once it was there); ack median and p99 (the round trip of the sandbox's POST to
/hooks/, as its sender logs it); vendor calls per change (sandbox counters, the benchmark's
own changes taken out); the backlog when the load stops (queued runs, received deliveries);
echoes: Zendesk deliveries, runs started by echoes alone (only Zendesk ids), webhook runs
that wrote nothing, and writes back to HubSpot (must be zero). Peak memory: summed resident
memory of the web and worker process trees, sampled (and the sum of their high-water marks),
and the summed proportional set size (PSS), which counts the pages forked processes share
once: RSS sums count them once per process.

Prints tables and writes JSON with the machine's cores, versions and git commit.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.stack import MemorySampler, Stack, running_stack

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ("default", "pg-redis")


# -- statistics ------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank percentile `p` (0-100) of `values` (not empty)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float | int | None]:
    """n, median, p95, p99 and max of durations in seconds, in milliseconds (None if empty)."""
    if not values:
        return {"n": 0, "median_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(percentile(values, 95) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def thirds_ms(timed: list[tuple[float, float | None]]) -> list[float | None]:
    """Median latency, in milliseconds, of the changes made in each third of the measured
    window, from (when the change was scheduled, its latency in seconds or None if it never
    arrived) pairs. A backlog that grows under the load shows as thirds that climb; one
    that holds shows as level thirds."""
    ordered = sorted(timed, key=lambda pair: pair[0])
    size = len(ordered)
    out: list[float | None] = []
    for part in range(3):
        chunk = [v for _, v in ordered[size * part // 3 : size * (part + 1) // 3] if v is not None]
        out.append(round(statistics.median(chunk) * 1000, 1) if chunk else None)
    return out


# -- the observer ----------------------------------------------------------------------------


@dataclass
class Change:
    seq: int
    contact_id: str
    user_id: int
    name: str
    measured: bool
    scheduled: float = 0.0  # when the schedule wanted it made (time.time())
    changed_at: float | None = None  # when HubSpot's API answered
    applied_at: float | None = None  # when the Zendesk sandbox was seen holding it
    applied: int = 0  # how many writes of Zendesk's row carried it
    superseded: bool = False  # a later change of the same contact landed first
    error: str = ""


@dataclass
class Observer:
    """Polls the Zendesk sandbox's change feed and the sender's delivery log from a thread."""

    sandbox_url: str
    known_users: set[int]
    interval: float = 0.005
    changes: dict[str, Change] = field(default_factory=dict)  # by the unique name it sets
    latest: dict[str, int] = field(default_factory=dict)  # contact id -> last seq applied
    created_users: int = 0
    deliveries: dict[tuple[str, str, float], dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from connectors.sandbox.client import SandboxAdmin

        self.admin = SandboxAdmin(self.sandbox_url)
        self.lock = threading.Lock()
        self.version = self.admin.changes("zendesk", "users")["version"]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="observer", daemon=True)
        self.error: BaseException | None = None

    def expect(self, change: Change) -> None:
        with self.lock:
            self.changes[change.name] = change

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        next_log = 0.0
        try:
            while not self._stop.is_set():
                self.poll_changes()
                if time.monotonic() >= next_log:
                    self.poll_deliveries()
                    next_log = time.monotonic() + 0.5
                self._stop.wait(self.interval)
            self.poll_deliveries()
        except BaseException as exc:  # reported by the benchmark, not lost in a thread
            self.error = exc

    def poll_changes(self) -> None:
        answer = self.admin.changes("zendesk", "users", after=self.version)
        seen = time.time()
        with self.lock:
            self.version = answer["version"]
            for row in answer["rows"]:
                if row["id"] not in self.known_users:
                    self.known_users.add(row["id"])
                    self.created_users += 1
                change = self.changes.get(str(row["data"].get("name")))
                if change is None:
                    continue
                change.applied += 1
                if change.applied_at is None:
                    change.applied_at = seen
                    before = self.latest.get(change.contact_id, -1)
                    self.latest[change.contact_id] = max(before, change.seq)
        # Earlier changes of a contact whose later change has landed can never show now.
        with self.lock:
            for change in self.changes.values():
                if (
                    change.applied_at is None
                    and self.latest.get(change.contact_id, -1) > change.seq
                ):
                    change.superseded = True

    def poll_deliveries(self) -> None:
        log = self.admin._call("GET", "webhooks")["deliveries"]
        with self.lock:
            for entry in log:
                self.deliveries[(entry["vendor"], str(entry["delivery_id"]), entry["t"])] = entry


# -- the benchmark ---------------------------------------------------------------------------


class Bench:
    """One configuration's stack, seeded and linked, and the measurements made on it."""

    def __init__(self, stack: Stack, args: argparse.Namespace) -> None:
        self.stack = stack
        self.args = args
        self.sandbox_url = f"http://127.0.0.1:{stack.sandbox_port}"
        self.seq = 0
        self.cursor = 0  # the next contact to change, round robin
        self._local = threading.local()

    # setup

    def setup(self) -> dict[str, Any]:
        from apps.accounts.services import user_signup
        from apps.connections.services import connection_create, connection_webhook_url
        from apps.runs.models import SyncRun
        from apps.runs.queue import run_request
        from apps.syncs.models import InFlightWrite, RecordLink
        from apps.syncs.services import sync_create
        from connectors.hubspot.sandbox import SANDBOX_TOKEN
        from connectors.sandbox.client import SandboxAdmin
        from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN

        started = time.monotonic()
        self.admin = admin = SandboxAdmin(self.sandbox_url, timeout=120)
        admin.seed(
            1,
            counts={
                "hubspot": {"contacts": self.args.pairs, "companies": 0, "deals": 0, "tickets": 0},
                "zendesk": {"users": 0, "tickets": 0, "organizations": 0},
            },
        )
        admin.configure("zendesk", export_lag_seconds=0)
        admin.set_rate_limits("hubspot", False)
        admin.set_rate_limits("zendesk", False)
        # Each vendor sends from a thread of its own, one delivery at a time unless
        # --webhook-concurrency says more (the vendors themselves send from many servers at
        # once; Zendesk one delivery per event: at 100 changes/s, 100 echoes a second).
        for vendor in ("hubspot", "zendesk"):
            admin.set_faults(vendor, webhook_concurrency=self.args.webhook_concurrency)
        _, ws = user_signup(
            email=f"bench-{uuid.uuid4().hex[:6]}@example.com",
            password=uuid.uuid4().hex,
            workspace_name="Bench",
        )
        self.hubspot = connection_create(
            workspace=ws,
            name="HubSpot",
            kind="hubspot",
            values={"base_url": f"{self.sandbox_url}/hubspot", "access_token": SANDBOX_TOKEN},
            webhook_secret=uuid.uuid4().hex,  # HubSpot signs with the app's client secret
        )
        self.zendesk = connection_create(
            workspace=ws,
            name="Zendesk",
            kind="zendesk",
            values={
                "base_url": f"{self.sandbox_url}/zendesk",
                "email": ADMIN_EMAIL,
                "api_token": API_TOKEN,
            },
        )
        self.sync = sync_create(
            workspace=ws,
            name="Bench",
            connection_a=self.hubspot,
            object_type_a="contacts",
            connection_b=self.zendesk,
            object_type_b="users",
            mappings=[
                {"field_a": "email", "field_b": "email"},
                {"field_a": "firstname", "field_b": "name"},
            ],
            enabled=True,
            interval_seconds=3600,
            safety_limit_share=None,
            safety_limit_count=None,
        )
        # No match rule: Zendesk starts empty, so the first run creates every user in bulk
        # (a match rule would search Zendesk once per contact, minutes under the request
        # budget, and changes nothing for records already linked).
        first = run_request(self.sync, trigger="manual")
        deadline = time.monotonic() + 900
        # The first run submits Zendesk's create jobs and ends; the settling runs the worker
        # queues after it link what the jobs created (docs/engine.md): wait for those too.
        while (
            SyncRun.objects.filter(sync=self.sync, status__in=("queued", "running")).exists()
            or InFlightWrite.objects.filter(sync=self.sync, state="in_flight").exists()
        ):
            if time.monotonic() > deadline:
                raise RuntimeError("the first run did not finish; see the worker log")
            time.sleep(0.5)
        first.refresh_from_db()
        links = dict(
            RecordLink.objects.filter(
                sync=self.sync, a_id__isnull=False, b_id__isnull=False
            ).values_list("a_id", "b_id")
        )
        if len(links) < self.args.pairs:
            raise RuntimeError(
                f"the first run linked {len(links)} of {self.args.pairs} pairs "
                f"(status {first.status}: {first.error[:300]})"
            )
        self.pairs = sorted((a, int(b)) for a, b in links.items())
        admin.register_webhook(
            "hubspot", connection_webhook_url(self.hubspot), self.hubspot.webhook_secret
        )
        admin.register_webhook(
            "zendesk", connection_webhook_url(self.zendesk), self.zendesk.webhook_secret
        )
        self.observer = Observer(self.sandbox_url, {b for _, b in self.pairs})
        self.observer.start()
        return {"pairs": len(self.pairs), "seconds": round(time.monotonic() - started, 1)}

    def close(self) -> None:
        if hasattr(self, "observer"):
            self.observer.stop()

    # changes

    def _session(self) -> Any:
        import requests

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def next_change(self, *, measured: bool) -> Change:
        contact_id, user_id = self.pairs[self.cursor % len(self.pairs)]
        self.cursor += 1
        self.seq += 1
        change = Change(self.seq, contact_id, user_id, f"Fresh{self.seq}", measured)
        self.observer.expect(change)
        return change

    def make(self, change: Change) -> None:
        from connectors.hubspot.sandbox import SANDBOX_TOKEN

        url = f"{self.sandbox_url}/hubspot/crm/v3/objects/contacts/{change.contact_id}"
        try:
            answer = self._session().patch(
                url,
                json={"properties": {"firstname": change.name}},
                headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
                timeout=30,
            )
            if answer.status_code != 200:
                change.error = f"{answer.status_code} {answer.text[:200]}"
        except Exception as exc:  # counted as an error of the load, never raised in a pool
            change.error = repr(exc)
        change.changed_at = time.time()

    def wait_quiet(self, timeout: float) -> bool:
        """Wait until no run is queued or running and every delivery is processed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            backlog = self.backlog()
            if not any(backlog.values()):
                return True
            time.sleep(0.2)
        return False

    def backlog(self) -> dict[str, int]:
        from apps.runs.models import SyncRun
        from apps.webhooks.models import WebhookDelivery

        return {
            "queued_runs": SyncRun.objects.filter(status="queued").count(),
            "running_runs": SyncRun.objects.filter(status="running").count(),
            "received_deliveries": WebhookDelivery.objects.filter(status="received").count(),
        }

    def vendor_calls(self) -> Counter[str]:
        """Vendor calls so far, per endpoint ("PATCH /hubspot/crm/v3/objects/{...}/{...}")."""
        return Counter(
            {
                endpoint: entry["count"]
                for endpoint, entry in self.admin.stats()["endpoints"].items()
            }
        )

    # profile: one change at a time

    def profile(self, count: int) -> dict[str, Any]:
        from apps.runs.models import SyncRun
        from apps.webhooks.models import WebhookDelivery

        self.wait_quiet(60)
        changes = []
        for _ in range(count):
            change = self.next_change(measured=False)
            self.make(change)
            deadline = time.monotonic() + 30
            while change.applied_at is None and time.monotonic() < deadline:
                time.sleep(0.005)
            changes.append(change)
            self.wait_quiet(10)  # the echo too, so that the next change meets an idle stack
        ts = datetime.timestamp
        stages: dict[str, list[float]] = {name: [] for name in PROFILE_STAGES}
        since = datetime.fromtimestamp(min(c.changed_at or 0 for c in changes) - 1).astimezone()
        deliveries = list(
            WebhookDelivery.objects.filter(connection=self.hubspot, received_at__gte=since)
        )
        runs = list(SyncRun.objects.filter(sync=self.sync, created_at__gte=since))
        zendesk_requests = sorted(self.admin.stats("zendesk")["requests"], key=lambda r: r["t"])
        for change in changes:
            if change.applied_at is None or change.changed_at is None:
                continue
            delivery = next(
                (
                    d
                    for d in deliveries
                    if any(str(e.get("record_id")) == change.contact_id for e in d.events)
                ),
                None,
            )
            run = next(
                (r for r in runs if change.contact_id in (r.record_ids or {}).get("a", [])), None
            )
            if not (delivery and delivery.processed_at and run and run.started_at):
                continue
            # The run's write: its first call to Zendesk that is not a read.
            write_sent = next(
                (
                    r["t"]
                    for r in zendesk_requests
                    if r["method"] != "GET" and r["t"] >= ts(run.started_at)
                ),
                None,
            )
            if write_sent is None or write_sent > change.applied_at:
                continue
            stages["webhook: batching + POST until stored"].append(
                ts(delivery.received_at) - change.changed_at
            )
            stages["delivery stored -> routed (a task hop before)"].append(
                ts(delivery.processed_at) - ts(delivery.received_at)
            )
            stages["run created"].append(ts(run.created_at) - ts(delivery.processed_at))
            stages["run queued -> started"].append(ts(run.started_at) - ts(run.created_at))
            stages["reads and planning (started -> write sent)"].append(
                write_sent - ts(run.started_at)
            )
            stages["write (sent -> seen in Zendesk)"].append(change.applied_at - write_sent)
            if run.finished_at:
                stages["after the write (seen -> run finished)"].append(
                    ts(run.finished_at) - change.applied_at
                )
            stages["total: change -> seen in Zendesk"].append(change.applied_at - change.changed_at)
        lost = sum(1 for c in changes if c.applied_at is None)
        return {
            "changes": count,
            "lost": lost,
            "traced": len(stages["total: change -> seen in Zendesk"]),
            "stages": {name: summary_ms(values) for name, values in stages.items()},
        }

    # load at one rate

    def load(self, rate: int) -> dict[str, Any]:
        from apps.runs.models import SyncEvent, SyncRun
        from apps.webhooks.models import WebhookDelivery
        from connectors.sandbox.client import SandboxAdminError

        args = self.args
        quiet_before = self.wait_quiet(120)
        calls_before = self.vendor_calls()
        window_start = time.time()
        total = int(rate * (args.warmup + args.duration))
        warm = int(rate * args.warmup)
        changes = [self.next_change(measured=i >= warm) for i in range(total)]
        lag: list[float] = []
        started = time.time()
        with ThreadPoolExecutor(
            max_workers=min(64, max(8, rate)), thread_name_prefix="load"
        ) as pool:
            for i, change in enumerate(changes):
                change.scheduled = started + i / rate
                pause = change.scheduled - time.time()
                if pause > 0:
                    time.sleep(pause)
                lag.append(max(0.0, -pause))
                pool.submit(self.make, change)
        load_end = time.time()
        backlog_at_end = self.backlog()
        measured = [c for c in changes if c.measured]
        deadline = time.monotonic() + args.deadline
        while time.monotonic() < deadline:
            with self.observer.lock:
                pending = [c for c in measured if c.applied_at is None and not c.superseded]
            if not pending:
                break
            time.sleep(0.1)
        drained = self.wait_quiet(max(5.0, deadline - time.monotonic()))
        drain_seconds = time.time() - load_end
        # Echoes of the last writes: delivered within the sender's window, processed after.
        time.sleep(1.0)
        try:
            self.admin.flush_webhooks(timeout=30)
            flushed = True
        except SandboxAdminError:  # still delivering echoes: reported, not fatal
            flushed = False
        self.wait_quiet(30)
        window_end = time.time()
        calls_after = self.vendor_calls()
        self.observer.poll_deliveries()

        with self.observer.lock:
            latencies = [
                c.applied_at - c.changed_at for c in measured if c.applied_at and c.changed_at
            ]
            thirds = thirds_ms(
                [
                    (c.scheduled, c.applied_at - c.changed_at)
                    if c.applied_at and c.changed_at
                    else (c.scheduled, None)
                    for c in measured
                ]
            )
            lost = [c for c in measured if c.applied_at is None and not c.superseded]
            superseded = sum(1 for c in measured if c.superseded)
            applied_twice = sum(max(0, c.applied - 1) for c in changes)
            created_users = self.observer.created_users
            self.observer.created_users = 0
            acks = {
                vendor: [
                    e["elapsed_ms"] / 1000
                    for e in self.observer.deliveries.values()
                    if e["vendor"] == vendor
                    and window_start <= e["t"] <= window_end
                    and e.get("elapsed_ms") is not None
                ]
                for vendor in ("hubspot", "zendesk")
            }
            failed_deliveries = sum(
                1
                for e in self.observer.deliveries.values()
                if window_start <= e["t"] <= window_end and e["outcome"] != "delivered"
            )
        calls = calls_after - calls_before
        own = calls.get("hubspot PATCH", 0)
        concord_calls = sum(calls.values()) - own
        hubspot_writes = (
            sum(
                n
                for key, n in calls.items()
                if key.startswith("hubspot ") and not key.endswith(" GET")
            )
            - own
        )

        since = datetime.fromtimestamp(window_start).astimezone()
        until = datetime.fromtimestamp(window_end).astimezone()
        runs = list(
            SyncRun.objects.filter(sync=self.sync, created_at__gte=since, created_at__lte=until)
        )
        webhook_runs = [r for r in runs if r.trigger == "webhook"]
        wrote = (
            "created_a", "created_b", "updated_a", "updated_b", "deleted_a", "deleted_b",
        )  # fmt: skip
        echo = {
            "zendesk_deliveries": WebhookDelivery.objects.filter(
                connection=self.zendesk, received_at__gte=since, received_at__lte=until
            ).count(),
            "runs_started_by_echoes_alone": sum(
                1
                for r in webhook_runs
                if not (r.record_ids or {}).get("a") and (r.record_ids or {}).get("b")
            ),
            "webhook_runs_that_wrote_nothing": sum(
                1 for r in webhook_runs if not any(getattr(r, f) for f in wrote)
            ),
            "writes_to_hubspot_calls": hubspot_writes,
            "writes_to_hubspot_events": SyncEvent.objects.filter(
                sync=self.sync,
                side="a",
                action__in=("created", "updated", "deleted"),
                created_at__gte=since,
                created_at__lte=until,
            ).count(),
        }
        return {
            "rate": rate,
            "changes": total,
            "measured": len(measured),
            "quiet_before": quiet_before,
            "load_seconds": round(load_end - started, 2),
            "schedule_lag_p99_ms": round(percentile(lag, 99) * 1000, 1) if lag else None,
            "change_errors": sum(1 for c in changes if c.error),
            "latency": {**summary_ms(latencies), "thirds_ms": thirds},
            "lost": len(lost),
            "superseded": superseded,
            "duplicated": {"users_created": created_users, "applied_twice": applied_twice},
            "ack": {
                "all": summary_ms(acks["hubspot"] + acks["zendesk"]),
                "hubspot": summary_ms(acks["hubspot"]),
                "zendesk": summary_ms(acks["zendesk"]),
                "failed_deliveries": failed_deliveries,
            },
            "calls": dict(calls),
            "calls_per_change": round(concord_calls / total, 2) if total else None,
            "backlog_at_end": backlog_at_end,
            "drained": drained,
            "webhooks_flushed": flushed,
            "drain_seconds": round(drain_seconds, 1),
            "runs": len(runs),
            "webhook_runs": len(webhook_runs),
            "echo": echo,
        }


# The endpoint the benchmark's own changes go to (taken out of Concord's calls).
OWN_CHANGE_ENDPOINT = "PATCH /hubspot/crm/v3/objects/{object_type}/{object_id}"


def is_hubspot_write(endpoint: str) -> bool:
    """Whether a sandbox endpoint key writes to HubSpot (its search and batch read are
    POSTs that only read)."""
    method, path = endpoint.split(" ", 1)
    return (
        path.startswith("/hubspot/")
        and method != "GET"
        and not path.endswith(("/search", "/batch/read"))
    )


PROFILE_STAGES = (
    "webhook: batching + POST until stored",
    "delivery stored -> routed (a task hop before)",
    "run created",
    "run queued -> started",
    "reads and planning (started -> write sent)",
    "write (sent -> seen in Zendesk)",
    "after the write (seen -> run finished)",
    "total: change -> seen in Zendesk",
)


# -- running it ------------------------------------------------------------------------------


def run_config(config: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {"CONCORD_API_RATE_ANON": "1000000/minute"}
    if config == "pg-redis":
        env.update(DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"])
    with running_stack(env=env, procfile=True, restart=True) as stack:
        bench = Bench(stack, args)
        try:
            setup = bench.setup()
            print(f"  linked {setup['pairs']} pairs in {setup['seconds']} s", flush=True)  # noqa: T201
            with MemorySampler(lambda: [stack.pids["web"], stack.pids["worker"]]) as memory:
                profile = bench.profile(args.profile) if args.profile else None
                rates = []
                for rate in args.rates:
                    print(f"  {rate}/s ...", flush=True)  # noqa: T201
                    rates.append(bench.load(rate))
                    if bench.observer.error:
                        raise RuntimeError("the observer failed") from bench.observer.error
                hwm = memory.hwm_mb()
        finally:
            bench.close()
        worker_log = (stack.var_dir / "logs" / "worker.log").read_text(errors="replace")
    return {
        "setup": setup,
        "profile": profile,
        "rates": rates,
        "memory": {
            "peak_rss_mb": round(memory.peak_mb, 1),
            "peak_pss_mb": round(memory.peak_pss_mb, 1),
            "sum_of_hwm_mb": round(hwm, 1),
        },
        "worker_unrecoverable_errors": worker_log.count("Unrecoverable error"),
        "restarts": dict(stack.restarts),
        "logs": str(stack.var_dir / "logs"),
    }


def machine() -> dict[str, Any]:
    """Cores, versions and the commit, so that figures from two runs can be compared."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    def git(*argv: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *argv],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            n: version(n)
            for n in ("django", "celery", "kombu", "gunicorn", "psycopg", "redis", "requests")
        },
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def median_of_passes(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's passes as one result: per rate, the median of each latency, ack
    and calls figure over the passes; lost, duplicated and echo writes as their worst pass;
    every pass kept whole under "passes". One pass is returned as it is."""
    if len(passes) == 1:
        return passes[0]
    merged = copy.deepcopy(passes[0])
    for index, rate in enumerate(merged["rates"]):
        each = [p["rates"][index] for p in passes]
        for key in ("median_ms", "p95_ms", "p99_ms", "max_ms"):
            rate["latency"][key] = _median([r["latency"][key] for r in each])
            rate["latency"][f"{key}_passes"] = [r["latency"][key] for r in each]
        rate["latency"]["thirds_ms"] = [
            _median([(r["latency"].get("thirds_ms") or [None] * 3)[i] for r in each])
            for i in range(3)
        ]
        for key in ("median_ms", "p99_ms"):
            rate["ack"]["all"][key] = _median([r["ack"]["all"][key] for r in each])
        calls = _median([r["calls_per_change"] for r in each])
        rate["calls_per_change"] = None if calls is None else round(calls, 2)
        rate["lost"] = max(r["lost"] for r in each)
        for key in rate["duplicated"]:
            rate["duplicated"][key] = max(r["duplicated"][key] for r in each)
        for key in ("runs_started_by_echoes_alone", "writes_to_hubspot_calls"):
            rate["echo"][key] = max(r["echo"][key] for r in each)
        for key in rate["backlog_at_end"]:
            rate["backlog_at_end"][key] = max(r["backlog_at_end"][key] for r in each)
    for key in ("peak_rss_mb", "peak_pss_mb", "sum_of_hwm_mb"):
        merged["memory"][key] = _median([p["memory"].get(key) for p in passes])
        merged["memory"][f"{key}_passes"] = [p["memory"].get(key) for p in passes]
    if merged.get("profile"):
        for stage, figures in merged["profile"]["stages"].items():
            for key in ("median_ms", "p95_ms"):
                figures[key] = _median([p["profile"]["stages"][stage][key] for p in passes])
    merged["passes"] = passes
    return merged


def _ms(value: float | None) -> str:
    return (
        "-" if value is None else (f"{value / 1000:.2f}s" if value >= 10_000 else f"{value:.0f}ms")
    )


def _thirds(values: list[float | None] | None) -> str:
    """The three medians in seconds, "0.61/0.58/0.64s"."""
    return "/".join("-" if v is None else f"{v / 1000:.2f}" for v in values or [None] * 3) + "s"


def print_tables(results: dict[str, Any]) -> None:
    out = sys.stdout.write
    out(
        f"\n{'config':9} {'rate':>5} {'n':>5} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8} "
        f"{'thirds':>17} {'lost':>5} {'dup':>4} {'ack med':>8} {'ack p99':>8} {'calls/ch':>8} "
        f"{'backlog r/d':>11} {'echo d/runs/wr':>15} {'RSS MB':>7} {'PSS MB':>7}\n"
    )
    for config, result in results["configs"].items():
        for r in result["rates"]:
            lat, ack, echo = r["latency"], r["ack"]["all"], r["echo"]
            dup = r["duplicated"]["users_created"] + r["duplicated"]["applied_twice"]
            backlog = (
                f"{r['backlog_at_end']['queued_runs']}/{r['backlog_at_end']['received_deliveries']}"
            )
            echoes = (
                f"{echo['zendesk_deliveries']}/{echo['runs_started_by_echoes_alone']}/"
                f"{echo['writes_to_hubspot_calls']}"
            )
            out(
                f"{config:9} {r['rate']:>4}/s {lat['n']:>5} {_ms(lat['median_ms']):>8} "
                f"{_ms(lat['p95_ms']):>8} {_ms(lat['p99_ms']):>8} {_ms(lat['max_ms']):>8} "
                f"{_thirds(lat.get('thirds_ms')):>17} "
                f"{r['lost']:>5} {dup:>4} {_ms(ack['median_ms']):>8} {_ms(ack['p99_ms']):>8} "
                f"{r['calls_per_change']:>8} {backlog:>11} {echoes:>15} "
                f"{result['memory']['peak_rss_mb']:>7.0f} "
                f"{result['memory'].get('peak_pss_mb', 0):>7.0f}\n"
            )
    out(
        "thirds: median latency of the changes made in the first, middle and last third of the"
        " measured window (climbing thirds: a growing backlog)\n"
        "backlog r/d: queued runs / received deliveries when the load stopped; echo d/runs/wr:"
        " Zendesk deliveries / runs started by echoes alone / writes back to HubSpot\n"
    )
    for config, result in results["configs"].items():
        if result.get("passes"):
            out(
                f"{config}: medians of {len(result['passes'])} passes (lost, dup, backlog and"
                " echo figures: the worst pass); p99 per pass: "
                + "; ".join(
                    f"{r['rate']}/s " + " ".join(_ms(v) for v in r["latency"]["p99_ms_passes"])
                    for r in result["rates"]
                )
                + "\n"
            )
    for config, result in results["configs"].items():
        profile = result.get("profile")
        if not profile:
            continue
        out(f"\nprofile, one change at a time ({config}, {profile['traced']} traced):\n")
        for stage, s in profile["stages"].items():
            out(f"  {stage:40} median {_ms(s['median_ms']):>8}  p95 {_ms(s['p95_ms']):>8}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.freshness")
    parser.add_argument(
        "--rates", default="20,50,100", type=lambda s: [int(x) for x in s.split(",") if x]
    )
    parser.add_argument("--duration", type=float, default=30)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--deadline", type=float, default=60, help="seconds after the load")
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--profile", type=int, default=20, help="one-at-a-time changes")
    parser.add_argument(
        "--webhook-concurrency",
        type=int,
        default=1,
        help="deliveries each vendor's sandbox sends at once (1: one at a time, in order)",
    )
    both = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    parser.add_argument(
        "--config", choices=("default", "pg-redis", "both"), default="both" if both else "default"
    )
    parser.add_argument("--passes", type=int, default=1, help="passes per configuration")
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "freshness.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    # Stopped from outside: leave through the finally clauses that stop the stack.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    configs = list(CONFIGS) if args.config == "both" else [args.config]
    if "pg-redis" in configs and not both:
        parser.error("pg-redis needs DATABASE_URL and REDIS_URL")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.child:
        # One configuration in this process: Django is configured once per process.
        result = run_config(args.config, args)
        out.write_text(json.dumps(result, indent=2, default=str))
        return 0

    results: dict[str, Any] = {"machine": machine(), "args": vars(args), "configs": {}}
    passes: dict[str, list[dict[str, Any]]] = {config: [] for config in configs}
    # Pass by pass, each configuration in turn, so that a change in the machine's load
    # falls on both rather than on one.
    for number in range(1, args.passes + 1):
        for config in configs:
            print(f"freshness: {config}, pass {number} of {args.passes}", flush=True)  # noqa: T201
            part = out.with_name(f"{out.stem}.{config}.part.json")
            child = [sys.executable, "-m", "benchmarks.freshness", "--child", "--config", config]
            child += ["--rates", ",".join(map(str, args.rates)), "--duration", str(args.duration)]
            child += ["--warmup", str(args.warmup), "--deadline", str(args.deadline)]
            child += ["--pairs", str(args.pairs), "--profile", str(args.profile)]
            child += ["--webhook-concurrency", str(args.webhook_concurrency)]
            child += ["--json", str(part)]
            if subprocess.run(child, cwd=ROOT, check=False).returncode != 0:  # noqa: S603
                print(f"freshness: {config} failed", flush=True)  # noqa: T201
                return 1
            passes[config].append(json.loads(part.read_text()))
            part.unlink()
    for config, done in passes.items():
        results["configs"][config] = median_of_passes(done)
    print_tables(results)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"written to {out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())

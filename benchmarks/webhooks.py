"""Webhook acknowledgement time and webhook-to-write time, on the real stack.

    python -m benchmarks.webhooks [--acks 300] [--writes 30] [--redis] [--json FILE]

Starts, each as its own process on free localhost ports and with a fresh SQLite database
under a temporary CONCORD_VAR_DIR: the sandbox, gunicorn (the web role of the Procfile) and
one Celery worker (filesystem broker, or REDIS_URL with --redis). Seeds a HubSpot contacts
<-> Zendesk users sync, links the seeded records once, and registers HubSpot's webhook.

- ack: the time from sending a signed HubSpot delivery to POST /hooks/<id>/ until its 202,
  measured by the client, for deliveries naming records no sync reads (so they are stored
  and processed but start no run: this is the receiving path alone).
- webhook-to-write: the time from creating a contact through the HubSpot sandbox's API until
  the Zendesk sandbox answers a search for it: sandbox webhook batching (50 ms), delivery,
  verification and storage, the processing task, the run, and the write.

Prints a table (median, p90, p99, max) and writes JSON (default var/bench/webhooks.json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.stack import running_stack

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": statistics.median(values) * 1000,
        "p90_ms": percentile(values, 90) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": max(values) * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webhooks")
    parser.add_argument("--acks", type=int, default=300)
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--redis", action="store_true", help="use REDIS_URL as the broker")
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "webhooks.json"))
    args = parser.parse_args(argv)

    env = {"CONCORD_API_RATE_ANON": "100000/minute"}
    if args.redis:
        if not os.environ.get("REDIS_URL"):
            parser.error("--redis needs REDIS_URL")
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    with running_stack(env=env) as stack:
        results = measure(args, stack.sandbox_port, stack.web_port)

    rows = [
        ("ack (POST /hooks/ to 202)", results["ack"]),
        ("webhook-to-write (create to visible)", results["webhook_to_write"]),
    ]
    print(f"{'measure':40} {'n':>5} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9}")  # noqa: T201
    for name, s in rows:
        print(  # noqa: T201
            f"{name:40} {s['n']:>5} {s['median_ms']:>7.1f}ms {s['p90_ms']:>7.1f}ms "
            f"{s['p99_ms']:>7.1f}ms {s['max_ms']:>7.1f}ms"
        )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"broker": "redis" if args.redis else "filesystem", **results}, indent=2)
    )
    print(f"written to {out}")  # noqa: T201
    return 0


def measure(args: argparse.Namespace, sandbox_port: int, web_port: int) -> dict[str, Any]:
    import requests

    from apps.accounts.services import user_signup
    from apps.connections.services import connection_create
    from apps.runs.models import SyncRun
    from apps.runs.queue import run_request
    from apps.syncs.services import sync_create
    from connectors import registry
    from connectors.hubspot.sandbox import SANDBOX_TOKEN
    from connectors.hubspot.webhooks import sign_v3
    from connectors.sandbox.client import SandboxAdmin
    from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN

    sandbox = f"http://127.0.0.1:{sandbox_port}"
    admin = SandboxAdmin(sandbox)
    admin.seed(
        1,
        counts={
            "hubspot": {"contacts": 20, "companies": 0, "deals": 0, "tickets": 0},
            "zendesk": {"users": 5, "tickets": 0, "organizations": 0},
        },
    )
    admin.configure("zendesk", export_lag_seconds=0)
    # We measure Concord's path, not the vendors' limits (the polling below would spend
    # Zendesk's search budget and make the sync's own calls wait for it).
    admin.set_rate_limits("hubspot", False)
    admin.set_rate_limits("zendesk", False)
    _, ws = user_signup(
        email=f"bench-{uuid.uuid4().hex[:6]}@example.com",
        password=uuid.uuid4().hex,
        workspace_name="Bench",
    )
    hubspot = connection_create(
        workspace=ws,
        name="HubSpot",
        kind="hubspot",
        values={"base_url": f"{sandbox}/hubspot", "access_token": SANDBOX_TOKEN},
        # HubSpot signs with the app's client secret, which a person pastes into Concord.
        webhook_secret=uuid.uuid4().hex,
    )
    zendesk = connection_create(
        workspace=ws,
        name="Zendesk",
        kind="zendesk",
        values={"base_url": f"{sandbox}/zendesk", "email": ADMIN_EMAIL, "api_token": API_TOKEN},
    )
    sync = sync_create(
        workspace=ws,
        name="Bench",
        connection_a=hubspot,
        object_type_a="contacts",
        connection_b=zendesk,
        object_type_b="users",
        mappings=[
            {"field_a": "email", "field_b": "email"},
            {"field_a": "firstname", "field_b": "name"},
        ],
        match_rule=[{"a": "email", "b": "email"}],
        enabled=True,
        interval_seconds=3600,
        safety_limit_share=None,
        safety_limit_count=None,
    )
    first = run_request(sync, trigger="manual")
    deadline = time.monotonic() + 120
    while SyncRun.objects.get(pk=first.pk).status in ("queued", "running"):
        if time.monotonic() > deadline:
            raise RuntimeError("the first run did not finish; see the worker log")
        time.sleep(0.2)
    hook_url = f"http://127.0.0.1:{web_port}/hooks/{hubspot.public_id}/"

    # Acknowledgement: deliveries about companies, which this sync does not read.
    session = requests.Session()
    acks = []
    for n in range(args.acks):
        body = json.dumps(
            [
                {
                    "eventId": 10_000_000 + n,
                    "subscriptionId": 1,
                    "portalId": 1,
                    "appId": 1,
                    "occurredAt": int(time.time() * 1000),
                    "subscriptionType": "company.propertyChange",
                    "attemptNumber": 0,
                    "objectId": 900_000 + n,
                    "propertyName": "name",
                    "propertyValue": "x",
                    "changeSource": "CRM",
                }
            ]
        ).encode()
        ts = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "X-HubSpot-Request-Timestamp": ts,
            "X-HubSpot-Signature-v3": sign_v3(hubspot.webhook_secret, "POST", hook_url, body, ts),
        }
        started = time.perf_counter()
        response = session.post(hook_url, data=body, headers=headers, timeout=10)
        acks.append(time.perf_counter() - started)
        if response.status_code != 202:
            raise RuntimeError(f"delivery {n} answered {response.status_code}: {response.text}")

    # Webhook to write: one contact at a time, wait until Zendesk has the user.
    admin.register_webhook("hubspot", hook_url, hubspot.webhook_secret)
    # The observer's own calls must not spend the connections' shared request budget (that
    # would make the sync wait for the benchmark), so these connectors have no shared limiter.
    source = registry.build("hubspot", {**hubspot.config, **hubspot.secrets})
    target = registry.build("zendesk", {**zendesk.config, **zendesk.secrets})
    latencies = []
    for n in range(args.writes):
        email = f"bench.{uuid.uuid4().hex[:8]}@example.org"
        started = time.perf_counter()
        [result] = source.create("contacts", [{"email": email, "firstname": f"Bench{n}"}])
        if not result.ok:
            raise RuntimeError(str(result.error))
        deadline = time.monotonic() + 60
        while not target.find("users", "email", [email]):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{email} never reached Zendesk; see the worker log")
            time.sleep(0.02)
        latencies.append(time.perf_counter() - started)
    return {"ack": summary(acks), "webhook_to_write": summary(latencies)}


if __name__ == "__main__":
    sys.exit(main())

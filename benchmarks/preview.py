"""The preview of a sync's first run through the API, as a person meets it.

    python -m benchmarks.preview [--contacts 450] [--users 450] [--repeat 3]
                                 [--no-rate-limits] [--json FILE]

Starts, each as its own process on free localhost ports and with a fresh SQLite database
under a temporary CONCORD_VAR_DIR: the sandbox (rate limits on, as the vendors have them),
gunicorn (the web role of the Procfile, with a long timeout so that a slow request is
measured rather than cut off) and one Celery worker. Seeds HubSpot contacts and Zendesk
users and creates a sync between them that has never run, so its preview is the initial
matching over every record of both sides.

For each repetition, `POST /api/v1/syncs/{id}/preview/` is sent with an API token:

- request: how long that request took (the whole preview when the API answers it inline;
  only the queueing when it answers 202 with a job);
- job: for a 202, from sending the request until the job's `url` answers it finished
  (polled every 100 ms), i.e. what the person waits for the result.

Prints a table (medians) and writes JSON (default var/bench/preview.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.stack import running_stack

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.preview")
    parser.add_argument("--contacts", type=int, default=450, help="HubSpot contacts seeded")
    parser.add_argument("--users", type=int, default=450, help="Zendesk users seeded")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="switch the sandboxes' rate-limit emulation off (to see what else costs time)",
    )
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "preview.json"))
    args = parser.parse_args(argv)

    # A long timeout, so that a slow request is measured rather than cut off.
    with running_stack(gunicorn_args=["--timeout", "600"]) as stack:
        results = measure(args, stack.sandbox_port, stack.web_port)

    print(f"{'measure':32} {'n':>3} {'median':>10} {'min':>10} {'max':>10}")  # noqa: T201
    for name in ("request", "job"):
        values = results[name]
        if not values:
            print(f"{name:32} {0:>3} {'-':>10}")  # noqa: T201
            continue
        print(  # noqa: T201
            f"{name:32} {len(values):>3} {statistics.median(values):>9.3f}s "
            f"{min(values):>9.3f}s {max(values):>9.3f}s"
        )
    print(f"records read per preview: {results['read']}")  # noqa: T201
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")  # noqa: T201
    return 0


def measure(args: argparse.Namespace, sandbox_port: int, web_port: int) -> dict[str, Any]:
    import requests

    from apps.accounts.services import api_token_create, user_signup
    from apps.connections.services import connection_create
    from apps.syncs.services import sync_create
    from connectors.hubspot.sandbox import SANDBOX_TOKEN
    from connectors.sandbox.client import SandboxAdmin
    from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN

    sandbox = f"http://127.0.0.1:{sandbox_port}"
    admin = SandboxAdmin(sandbox)
    admin.seed(
        1,
        counts={
            "hubspot": {"contacts": args.contacts, "companies": 0, "deals": 0, "tickets": 0},
            "zendesk": {"users": args.users, "tickets": 0, "organizations": 0},
        },
    )
    admin.configure("zendesk", export_lag_seconds=0)
    if args.no_rate_limits:
        admin.set_rate_limits("hubspot", False)
        admin.set_rate_limits("zendesk", False)
    user, ws = user_signup(
        email=f"bench-{uuid.uuid4().hex[:6]}@example.com",
        password=uuid.uuid4().hex,
        workspace_name="Bench",
    )
    _, token = api_token_create(workspace=ws, user=user, name="bench")
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
            {"field_a": "phone", "field_b": "phone"},
        ],
        match_rule=[{"a": "email", "b": "email"}],
    )
    api = f"http://127.0.0.1:{web_port}"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    requests_s: list[float] = []
    jobs_s: list[float] = []
    read = None
    for _ in range(args.repeat):
        started = time.perf_counter()
        answer = session.post(
            f"{api}/api/v1/syncs/{sync.public_id}/preview/", json={"sample_size": 5}, timeout=600
        )
        requests_s.append(time.perf_counter() - started)
        if answer.status_code == 200:
            body = answer.json()
        elif answer.status_code == 202:
            job = answer.json()
            url = job["url"] if job["url"].startswith("http") else f"{api}{job['url']}"
            deadline = time.monotonic() + 600
            while job["status"] in ("queued", "running"):
                if time.monotonic() > deadline:
                    raise RuntimeError("the preview did not finish; see the worker log")
                time.sleep(0.1)
                job = session.get(url, timeout=30).json()
            jobs_s.append(time.perf_counter() - started)
            if job["status"] != "succeeded":
                raise RuntimeError(f"the preview failed: {job['error']}")
            body = job["result"]
        else:
            raise RuntimeError(f"preview answered {answer.status_code}: {answer.text[:500]}")
        read = body["counts"]["read_a"] + body["counts"]["read_b"]
    return {"request": requests_s, "job": jobs_s, "read": read}


if __name__ == "__main__":
    sys.exit(main())

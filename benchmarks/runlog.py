"""The run log on a large run: how fast its pages answer, filtered or not, at any depth.

    python -m benchmarks.runlog [--events 50000] [--background 50000] [--repeat 7]
                                [--database-url URL] [--explain] [--json FILE]

Configures Django in this process for a fresh database (SQLite under a temporary
CONCORD_VAR_DIR; or `--database-url`, e.g. postgres://postgres@127.0.0.1:5432/concord_bench,
a database this benchmark empties and fills), migrates it, and bulk-creates a run of `--events`
realistic events (updates of a few fields, creates, conflicts keyed by their field pair,
errors in a system's words, skips and matches, over many records) beside `--background`
events of other runs of another sync, so the indexes have to tell them apart.

Each page is fetched through Django's test client with a logged-in owner, so the real view
renders the real template: the first page, a deep page (after the 40,000th event), filtered
pages (action=error, field=phone, a record id, all three together), deep filtered pages, and
a record's history. Each is fetched `--repeat` times after one warm-up; the table shows the
median, min and max, and the SQL queries one page costs. JSON goes to var/bench/runlog.json.
`--explain` prints the database's plan for each page's main query.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["phone", "full_name", "email", "state"]


def setup_django(database_url: str | None) -> str:
    """Configure Django for a fresh database, migrate it; the database's vendor."""
    var_dir = Path(tempfile.mkdtemp(prefix="concord-bench-runlog-"))
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.update(CONCORD_MODE="development", CONCORD_VAR_DIR=str(var_dir), LOG_LEVEL="WARNING")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "apps.config.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    if connection.vendor == "postgresql":  # whatever an earlier run left: start afresh
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0)
    return connection.vendor


def make_events(run: Any, n: int, *, mapping_ids: list[str], prefix: str) -> None:
    """`n` events of `run`, like a big resync's: mostly updates, then creates, conflicts,
    errors, skips and matches, about n/3 records (a record has a few events)."""
    from apps.runs.models import SyncEvent

    records = max(1, n // 3)
    batch: list[SyncEvent] = []
    for i in range(n):
        r = (i * 7919) % records  # records interleave as pages of a real run do
        a_id, b_id = f"{prefix}a{r}", f"{prefix}b{r}"
        kind = i % 20
        field = FIELDS[i % len(FIELDS)]
        changes: dict[str, Any]
        message = code = ""
        if kind < 12:
            action, side = "updated", "ab"[i % 2]
            changes = {field: {"before": f"old {i}", "after": f"new {i}"}}
            if i % 3 == 0:
                changes["phone"] = {"before": f"+1 555 {i:07d}", "after": f"+1 555 {i + 1:07d}"}
        elif kind < 15:
            action, side = "created", "b"
            changes = {f: {"before": None, "after": f"{f} {i}"} for f in FIELDS}
            message = f"created as the counterpart of {a_id}"
        elif kind < 17:
            action, side = "conflict", "a"
            key = mapping_ids[i % len(mapping_ids)]
            changes = {key: {"base": "base", "a": f"a {i}", "b": f"b {i}", "decision": "manual"}}
            message, code = "both sides changed; held for a person", "manual"
        elif kind < 19:
            action, side = "error", "b"
            changes = {"phone": {"value": f"bad {i}"}} if i % 2 else {field: {"value": i}}
            message = (
                f"B refused the update of {b_id}: Zendesk answered 422 on PUT "
                f"/api/v2/users/update_many.json: phone: is invalid"
            )
            code = "write"
        else:
            action, side = ("skipped", "a") if i % 2 else ("matched", "a")
            changes = {}
            message = "no match yet" if action == "skipped" else "matched on the match rule"
            code = "ambiguous" if action == "skipped" else ""
        batch.append(
            SyncEvent(
                run=run,
                sync_id=run.sync_id,
                action=action,
                side=side,
                record_id_a=a_id,
                record_id_b="" if action == "error" and i % 4 == 1 else b_id,
                changes=changes,
                message=message,
                code=code,
            )
        )
        if len(batch) == 5000:
            SyncEvent.objects.bulk_create(batch)
            batch = []
    SyncEvent.objects.bulk_create(batch)


def build(events: int, background: int) -> dict[str, Any]:
    from apps.accounts.services import user_signup
    from apps.connections.models import Connection
    from apps.runs.models import SyncEvent, SyncRun
    from apps.syncs.models import FieldMapping, Sync

    password = uuid.uuid4().hex
    user, ws = user_signup(
        email=f"bench-{uuid.uuid4().hex[:6]}@example.com", password=password, workspace_name="B"
    )

    def sync(name: str) -> Sync:
        a, b = (
            Connection.objects.create(
                workspace=ws,
                name=f"{name} {side}",
                kind="memory",
                config={"base_url": "http://127.0.0.1/m", "store": side},
            )
            for side in ("crm", "desk")
        )
        made = Sync.objects.create(
            workspace=ws,
            name=name,
            connection_a=a,
            object_type_a="contacts",
            connection_b=b,
            object_type_b="users",
        )
        for field_a, field_b in (
            ("phone", "phone"),
            ("name", "full_name"),
            ("email", "email"),
            ("status", "state"),
        ):
            FieldMapping.objects.create(sync=made, field_a=field_a, field_b=field_b)
        return made

    started = time.perf_counter()
    other = sync("Other")
    for k in range(2):
        run = SyncRun.objects.create(workspace=ws, sync=other, status="succeeded")
        ids = [str(pk) for pk in other.mappings.values_list("pk", flat=True)]
        make_events(run, background // 2, mapping_ids=ids, prefix=f"o{k}")
    main = sync("Main")
    run = SyncRun.objects.create(
        workspace=ws,
        sync=main,
        status="partial",
        trigger="resync",
        full=True,
        read_a=events // 2,
        read_b=events // 2,
        updated_a=events // 3,
        errors_b=events // 10,
    )
    ids = [str(pk) for pk in main.mappings.values_list("pk", flat=True)]
    make_events(run, events, mapping_ids=ids, prefix="")
    later = SyncRun.objects.create(workspace=ws, sync=other, status="succeeded")
    make_events(later, min(background, 5000), mapping_ids=ids, prefix="l")
    from django.db import connection

    if connection.vendor == "postgresql":  # as autovacuum would, before anyone pages
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE runs_syncevent")
    built = time.perf_counter() - started
    ordered = SyncEvent.objects.filter(run=run).order_by("id").values_list("id", flat=True)
    deep = ordered[int(events * 0.8)]  # after ~40,000 of 50,000
    return {"user": user, "run": run, "sync": main, "deep_after": deep, "built_s": built}


def pages(state: dict[str, Any]) -> list[tuple[str, str]]:
    run, sync, deep = state["run"], state["sync"], state["deep_after"]
    base = f"/runs/{run.public_id}/"
    record = "a1234"
    return [
        ("first page", base),
        ("deep page (after ~80%)", f"{base}?after={deep}"),
        ("action=error", f"{base}?action=error"),
        ("action=error, deep", f"{base}?action=error&after={deep}"),
        ("field=phone", f"{base}?field=phone"),
        ("field=phone, deep", f"{base}?field=phone&after={deep}"),
        ("record id", f"{base}?record={record}"),
        ("action+field+record", f"{base}?action=error&field=phone&record=a1237"),
        ("side=a, action=skipped", f"{base}?action=skipped&side=a"),
        ("action=deleted (none)", f"{base}?action=deleted"),
        ("field=notes (none)", f"{base}?field=notes"),
        ("record history", f"/runs/records/{sync.public_id}/a/{record}/"),
    ]


def explain(state: dict[str, Any]) -> None:
    from apps.runs import selectors

    run = state["run"]
    cases = {
        "first page": selectors.run_events(run),
        "action=error": selectors.run_events(run, action="error"),
        "field=phone": selectors.run_events(run, field="phone"),
        "record": selectors.run_events(run, record_id="a1234"),
        "action=deleted": selectors.run_events(run, action="deleted"),
    }
    for name, qs in cases.items():
        page = qs.filter(id__gt=state["deep_after"]).order_by("id")[:51]
        print(f"-- {name} (deep)\n{page.explain()}")  # noqa: T201


def measure(state: dict[str, Any], repeat: int, show_slow: bool) -> list[dict[str, Any]]:
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(state["user"])
    results = []
    for name, url in pages(state):
        answer = client.get(url)  # warm-up
        if answer.status_code != 200:
            raise RuntimeError(f"{url} answered {answer.status_code}")
        rows = answer.content.decode().count('class="event event-')
        sql: list[float] = []

        def timed(execute, sql_text, params, many, context, sql=sql):
            started = time.perf_counter()
            try:
                return execute(sql_text, params, many, context)
            finally:
                sql.append(time.perf_counter() - started)
                if show_slow and sql[-1] > 0.005:
                    print(f"   {sql[-1] * 1000:.1f}ms {sql_text[:300]}")  # noqa: T201

        if show_slow:
            print(f"-- {name}")  # noqa: T201
        with connection.execute_wrapper(timed):
            client.get(url)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - started)
        results.append(
            {
                "page": name,
                "url": url,
                "rows": rows,
                "queries": len(sql),
                "sql_ms": sum(sql) * 1000,
                "median_ms": statistics.median(times) * 1000,
                "min_ms": min(times) * 1000,
                "max_ms": max(times) * 1000,
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runlog")
    parser.add_argument("--events", type=int, default=50_000, help="events of the run paged")
    parser.add_argument("--background", type=int, default=50_000, help="events of other runs")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--slow-queries", action="store_true", help="print those over 5 ms")
    parser.add_argument("--json", default=str(ROOT / "var" / "bench" / "runlog.json"))
    args = parser.parse_args(argv)

    vendor = setup_django(args.database_url or None)
    state = build(args.events, args.background)
    print(  # noqa: T201
        f"{vendor}: a run of {args.events:,} events beside {args.background:,} others "
        f"(built in {state['built_s']:.1f}s); {args.repeat} repetitions per page"
    )
    if args.explain:
        explain(state)
    results = measure(state, args.repeat, args.slow_queries)
    print(  # noqa: T201
        f"{'page':28} {'rows':>5} {'queries':>7} {'sql':>9} {'median':>10} {'min':>10} {'max':>10}"
    )
    for r in results:
        print(  # noqa: T201
            f"{r['page']:28} {r['rows']:>5} {r['queries']:>7} {r['sql_ms']:>7.1f}ms "
            f"{r['median_ms']:>8.1f}ms "
            f"{r['min_ms']:>8.1f}ms {r['max_ms']:>8.1f}ms"
        )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "database": vendor,
                "events": args.events,
                "background": args.background,
                "repeat": args.repeat,
                "python": platform.python_version(),
                "pages": results,
            },
            indent=2,
        )
    )
    print(f"written to {out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Planner throughput: 100,000 linked records with 1% changed.

    python -m benchmarks.engine [--records 100000] [--changed 0.01] [--repeat 5]
                                [--page 100] [--json var/bench/engine.json]

Measures the pure decision part of the engine (apps.syncs.engine.plan), in one process,
without a database or connectors, on synthetic linked pairs with four mapped fields (text,
email, enum with a value map, number-as-text). Two scenarios:

- full pass: every linked record comes through A's feed (a full resync): the echo check
  drops the unchanged 99% without partners, and the changed 1% are planned with their
  partners in pages of `--page` records, as the runner does. Throughput = records read / s.
- changed only: the incremental case, the 1% changed records (with partners) planned in
  pages. Throughput = changed records / s.

Each scenario runs `--repeat` times; the table shows the median (and min/max). JSON goes to
var/bench/engine.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apps.syncs.engine.merge import is_echo
from apps.syncs.engine.plan import plan
from apps.syncs.engine.plan_types import (
    LinkState,
    MappingSpec,
    MatchPair,
    Plan,
    PlanInput,
    SyncSpec,
)
from apps.syncs.engine.types import ConflictPolicy, Side
from apps.syncs.engine.values import Kind
from connectors.base import Record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = SyncSpec(
    mappings=(
        MappingSpec("1", "name", "full_name"),
        MappingSpec("2", "email", "email", kind_a=Kind.USER, kind_b=Kind.USER),
        MappingSpec(
            "3",
            "status",
            "state",
            kind_a=Kind.ENUM,
            kind_b=Kind.ENUM,
            options_a=("open", "closed"),
            options_b=("To Do", "Done"),
            map_a_to_b={"open": "To Do", "closed": "Done"},
            map_b_to_a={"To Do": "open", "Done": "closed"},
        ),
        MappingSpec("4", "score", "score", kind_a=Kind.NUMBER, kind_b=Kind.TEXT),
    ),
    match_rule=(MatchPair("email", "email"),),
    conflict_policy=ConflictPolicy.NEWEST,
)


def build(records: int, changed_share: float) -> dict[str, Any]:
    """Synthetic state: links with bases, A's feed (every record) and B's current records."""
    step = max(1, round(1 / changed_share)) if changed_share > 0 else records + 1
    links: dict[str, LinkState] = {}
    feed: list[Record] = []
    partners: dict[str, Record] = {}
    changed_ids: list[str] = []
    for i in range(records):
        a_id, b_id = f"a{i}", f"b{i}"
        status = "open" if i % 2 else "closed"
        a_fields = {"name": f"Person {i}", "email": f"p{i}@x.com", "status": status, "score": i}
        b_fields = {
            "full_name": f"Person {i}",
            "email": f"p{i}@x.com",
            "state": "To Do" if status == "open" else "Done",
            "score": str(i),
        }
        base = {
            "1": {"a": a_fields["name"], "b": b_fields["full_name"]},
            "2": {"a": a_fields["email"], "b": b_fields["email"]},
            "3": {"a": status, "b": b_fields["state"]},
            "4": {"a": i, "b": str(i)},
        }
        links[a_id] = LinkState(
            key=i,
            a_id=a_id,
            b_id=b_id,
            base=base,
            a_version="1",
            b_version="1",
            a_modified_at=T0,
            b_modified_at=T0,
        )
        version, modified = "1", T0
        if i % step == 0:
            a_fields = {**a_fields, "name": f"Person {i} (edited)", "score": i + 1}
            version, modified = "2", T0 + timedelta(minutes=1)
            changed_ids.append(a_id)
        feed.append(Record(a_id, a_fields, modified_at=modified, version=version))
        partners[b_id] = Record(b_id, b_fields, modified_at=T0, version="1")
    return {"links": links, "feed": feed, "partners": partners, "changed": changed_ids}


def _plan_pages(records: list[Record], state: dict[str, Any], page: int) -> int:
    """Plan records page by page as the runner does; returns the number of updates."""
    links, partners = state["links"], state["partners"]
    updates = 0
    for start in range(0, len(records), page):
        chunk = records[start : start + page]
        changed = [r for r in chunk if not is_echo(SPEC, Side.A, r, links[r.id])]
        if not changed:
            continue
        page_links = [links[r.id] for r in changed]
        result: Plan = plan(
            SPEC,
            PlanInput(
                changed_a=changed,
                records_b={lk.b_id: partners[lk.b_id] for lk in page_links},
                links=page_links,
            ),
        )
        updates += len(result.pairs)
    return updates


def _time(fn: Callable[[], int], repeat: int) -> tuple[list[float], int]:
    timings, result = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        timings.append(time.perf_counter() - started)
    return timings, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--json", default="var/bench/engine.json")
    args = parser.parse_args(argv)

    state = build(args.records, args.changed)
    changed_set = set(state["changed"])
    changed_records = [r for r in state["feed"] if r.id in changed_set]
    scenarios = {
        "full pass (all records read)": (state["feed"], len(state["feed"])),
        "changed only (incremental)": (changed_records, len(changed_records)),
    }
    rows = []
    for name, (records, count) in scenarios.items():
        timings, updates = _time(lambda r=records: _plan_pages(r, state, args.page), args.repeat)
        median = statistics.median(timings)
        rows.append(
            {
                "scenario": name,
                "records": count,
                "planned_updates": updates,
                "seconds_median": round(median, 4),
                "seconds_min": round(min(timings), 4),
                "seconds_max": round(max(timings), 4),
                "records_per_second_median": round(count / median),
            }
        )
    header = f"{'scenario':<32}{'records':>9}{'updates':>9}{'median s':>10}{'records/s':>12}"
    print(header)  # noqa: T201
    print("-" * len(header))  # noqa: T201
    for row in rows:
        print(  # noqa: T201
            f"{row['scenario']:<32}{row['records']:>9}{row['planned_updates']:>9}"
            f"{row['seconds_median']:>10.3f}{row['records_per_second_median']:>12,}"
        )
    out = {
        "benchmark": "engine planner",
        "linked_records": args.records,
        "changed_share": args.changed,
        "page_size": args.page,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": rows,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())

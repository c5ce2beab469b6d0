"""`make bench`: every benchmark in turn, each printing its table and writing var/bench/*.json."""

from __future__ import annotations

import subprocess
import sys

# Each module with the arguments `make bench` gives it. Issue 14's scenarios: initial sync,
# incremental and idle of 10,000 records (three passes, median) and of 100,000 (one pass:
# seeding alone writes 150,000 records), then freshness (three passes, medians); on the
# default configuration, and on PostgreSQL + Redis too when DATABASE_URL and REDIS_URL are set.
BENCHMARKS: tuple[tuple[str, list[str]], ...] = (
    ("benchmarks.engine", []),
    ("benchmarks.sandbox", []),
    ("benchmarks.webhooks", []),
    ("benchmarks.preview", []),
    ("benchmarks.runlog", []),
    ("benchmarks.initial", ["--large", "--repeat", "3", "--repeat-large", "1"]),
    ("benchmarks.freshness", ["--passes", "3"]),
)


def main() -> int:
    failed = []
    only = set(sys.argv[1:])  # `python -m benchmarks initial freshness`: just those
    for name, argv in BENCHMARKS:
        if only and name.rsplit(".", 1)[-1] not in only:
            continue
        print(f"\n== {name}", flush=True)  # noqa: T201
        # Each in a process of its own: a benchmark configures Django for a database of its
        # own, which a process can do once (a second stack in one process kept the first
        # one's settings and served an empty database). One that fails does not stop the rest.
        if subprocess.run([sys.executable, "-m", name, *argv], check=False).returncode != 0:  # noqa: S603
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

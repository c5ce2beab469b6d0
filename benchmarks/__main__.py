"""`make bench`: every benchmark in turn, each printing its table and writing var/bench/*.json."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "benchmarks.engine",
    "benchmarks.sandbox",
    "benchmarks.webhooks",
    "benchmarks.preview",
    "benchmarks.runlog",
    "benchmarks.initial",
    "benchmarks.freshness",
)


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n== {name}", flush=True)  # noqa: T201
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"skipped: {exc}")  # noqa: T201
            continue
        if module.main([]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

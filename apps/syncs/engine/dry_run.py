"""The dry pass: a run's planning without writing, for a preview and the safety limit.

A dry pass plans every page as a run would, stores nothing and tallies what the run would
do. The safety check uses it before a run writes anything: a run that would change or
delete more than the limit is held for a person to approve. Pages it read are kept for the
real pass while they are few, so a small run reads its feeds once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from apps.syncs.engine.batch import Batch, BatchPlanner, DryOverlay
from apps.syncs.engine.plan_types import Plan
from apps.syncs.engine.types import Side

# The share part of the safety limit only applies from this many changes on, so that a
# sync with 4 linked records can still change 3 of them without asking.
SAFETY_SHARE_FLOOR = 10
# Pages read by the dry pass are kept for the real pass while they hold at most this many
# records, so a small run reads its feeds once.
DRY_PASS_CACHE_RECORDS = 2000

# Every count a preview reports (absent ones are 0), in the order people read them.
PREVIEW_COUNTS = (
    "read_a",
    "read_b",
    "matched",
    "created_a",
    "created_b",
    "updated_a",
    "updated_b",
    "deleted_a",
    "deleted_b",
    "conflicts",
    "unlinked",
    "skipped",
    "errors",
)


@dataclass
class Preview:
    """What a run would do, without doing it."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def change_count(self) -> int:
        c = self.counts
        return c["updated_a"] + c["updated_b"] + c["deleted_a"] + c["deleted_b"]

    def as_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "samples": self.samples}

    def summary(self) -> dict[str, Any]:
        """The preview as the API answers it: every count of PREVIEW_COUNTS (0 when none),
        `change_count` (what the safety limit counts) and the samples by kind."""
        return {
            "counts": {key: self.counts.get(key, 0) for key in PREVIEW_COUNTS},
            "change_count": self.change_count,
            "samples": self.samples,
        }


# Told after each page a dry pass planned, with the preview so far (its counts include the
# records read from each side up to that page).
PageDone = Callable[[Preview], None]


@dataclass(frozen=True)
class SafetyLimit:
    """A sync's safety limit: at most `count` records, and at most `share` of the linked
    records, changed or deleted by a run that nobody approved. None switches a half off."""

    count: int | None = None
    share: float | None = None

    @property
    def applies(self) -> bool:
        return self.count is not None or self.share is not None

    def reason(self, changes: int, linked_count: Callable[[], int]) -> str:
        """Why a run of `changes` changes is held; "" when it may go on. `linked_count` is
        asked only when the share decides."""
        count, share = self.count, self.share
        if count is not None and changes > count:
            return (
                f"this run would change or delete {changes} records, more than the safety "
                f"limit of {count}; approve or cancel it"
            )
        if share is not None and changes >= SAFETY_SHARE_FLOOR:
            linked = linked_count()
            if changes > share * linked:
                return (
                    f"this run would change or delete {changes} of {linked} linked records, "
                    f"more than the safety limit of {share:.0%}; approve or cancel it"
                )
        return ""


def dry_pass(
    planner: BatchPlanner,
    pages: Iterable[Batch],
    *,
    sample_size: int,
    keep_pages: bool = True,
    on_page: PageDone | None = None,
) -> tuple[Preview, list[Batch] | None]:
    """Plan `pages` without writing: what they would do, with up to `sample_size` samples
    of each kind, and the pages themselves when `keep_pages` and they are few enough.

    `on_page`, when given, is called after every page with the preview so far; whatever it
    raises ends the pass.
    """
    preview = Preview()
    overlay = DryOverlay()
    cache: list[Batch] | None = [] if keep_pages else None
    cached_records = 0
    counters: Counter[str] = Counter()
    for side, records, cursor in pages:
        if cache is not None:
            cached_records += len(records)
            if cached_records > DRY_PASS_CACHE_RECORDS:
                cache = None
            else:
                cache.append((side, list(records), cursor))
        result, _ = planner.plan(side, records, counters, overlay)
        overlay.absorb(result)
        _tally(preview, result, sample_size)
        preview.counts["read_a"] = counters["read_a"]
        preview.counts["read_b"] = counters["read_b"]
        if on_page is not None:
            on_page(preview)
    return preview, cache


def _tally(preview: Preview, result: Plan, sample_size: int) -> None:
    counts = preview.counts

    def sample(kind: str, item: dict[str, Any]) -> None:
        bucket = preview.samples.setdefault(kind, [])
        if len(bucket) < sample_size:
            bucket.append(item)

    for pair in result.pairs:
        if pair.matched:
            counts["matched"] += 1
            sample("matched", {"a": pair.a_id, "b": pair.b_id})
        for side in Side:
            write = pair.write(side)
            if write is not None:
                counts[f"updated_{side}"] += 1
                sample(
                    f"updated_{side}",
                    {
                        "a": pair.a_id,
                        "b": pair.b_id,
                        "changes": {
                            c.field: {"before": c.before, "after": c.after} for c in write.changes
                        },
                    },
                )
    for create in result.creates:
        counts[f"created_{create.side}"] += 1
        sample(f"created_{create.side}", {"source": create.source_id, "fields": create.fields})
    for delete in result.deletes:
        counts[f"deleted_{delete.side}"] += 1
        sample(f"deleted_{delete.side}", {"id": delete.record_id, "reason": delete.reason})
    for conflict in result.conflicts:
        counts["conflicts"] += 1
        sample(
            "conflicts",
            {
                "a": conflict.a_id,
                "b": conflict.b_id,
                "mapping": conflict.mapping_id,
                "value_a": conflict.value_a,
                "value_b": conflict.value_b,
                "decision": conflict.decision,
            },
        )
    for unlink in result.unlinks:
        counts["unlinked"] += 1
        sample("unlinked", {"a": unlink.a_id, "b": unlink.b_id, "reason": unlink.reason})
    for skip in result.skips:
        counts["skipped"] += 1
        sample("skipped", {"side": skip.side.value, "id": skip.record_id, "reason": skip.reason})
    for issue in result.errors:
        counts["errors"] += 1
        sample(
            "errors",
            {
                "side": issue.side.value,
                "id": issue.record_id,
                "field": issue.field,
                "value": issue.value,
                "message": issue.message,
            },
        )

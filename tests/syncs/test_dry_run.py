"""The safety limit a dry pass is checked against. (Previews and held runs, end to end, are
in test_services.py.)"""

from __future__ import annotations

from apps.syncs.engine.dry_run import SAFETY_SHARE_FLOOR, SafetyLimit


def test_a_limit_applies_when_either_half_is_set():
    assert not SafetyLimit().applies
    assert SafetyLimit(count=5).applies
    assert SafetyLimit(share=0.5).applies


def test_the_count_holds_a_run_that_would_change_more_records():
    limit = SafetyLimit(count=3)
    assert limit.reason(3, lambda: 0) == ""
    assert limit.reason(4, lambda: 0) == (
        "this run would change or delete 4 records, more than the safety limit of 3; "
        "approve or cancel it"
    )


def test_the_share_counts_against_the_linked_records_only_from_the_floor_on():
    asked: list[int] = []

    def linked() -> int:
        asked.append(20)
        return 20

    limit = SafetyLimit(share=0.5)
    assert limit.reason(SAFETY_SHARE_FLOOR - 1, linked) == ""
    assert asked == []  # below the floor the linked records are not even counted
    assert limit.reason(10, linked) == ""  # 10 of 20 is not more than half
    assert limit.reason(11, linked) == (
        "this run would change or delete 11 of 20 linked records, more than the safety "
        "limit of 50%; approve or cancel it"
    )

"""Plain-data builders for the pure planner's tests: a sync's rules, records, a linked pair.

The pair is "a1" on A and "b1" on B, linked as key 7, agreed on name, phone and email.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apps.syncs.engine.plan_types import LinkState, MappingSpec, MatchPair, SyncSpec
from apps.syncs.engine.values import Kind
from connectors.base import Record

T0 = datetime(2026, 3, 1, tzinfo=UTC)

NAME = MappingSpec("1", "name", "full_name")
PHONE = MappingSpec("2", "phone", "phone")
EMAIL = MappingSpec("3", "email", "email", kind_a=Kind.USER, kind_b=Kind.USER)
STATUS = MappingSpec(
    "4",
    "status",
    "state",
    kind_a=Kind.ENUM,
    kind_b=Kind.ENUM,
    options_a=("open", "closed"),
    options_b=("To Do", "Done"),
    map_a_to_b={"open": "To Do", "closed": "Done"},
    map_b_to_a={"To Do": "open", "Done": "closed"},
)


def spec(**kw) -> SyncSpec:
    kw.setdefault("mappings", (NAME, PHONE, EMAIL))
    kw.setdefault("match_rule", (MatchPair("email", "email"),))
    return SyncSpec(**kw)


def rec(rid: str, minutes: int = 0, **fields) -> Record:
    return Record(rid, fields, modified_at=T0 + timedelta(minutes=minutes), version=str(minutes))


def base(**pairs) -> dict:
    """base(name=("Ann", "Ann")) keyed by mapping id."""
    ids = {"name": "1", "phone": "2", "email": "3", "status": "4"}
    return {ids[k]: {"a": a, "b": b} for k, (a, b) in pairs.items()}


AGREED = base(name=("Ann", "Ann"), phone=("1", "1"), email=("ann@x.com", "ann@x.com"))


def linked(**kw) -> LinkState:
    kw.setdefault("base", AGREED)
    return LinkState(key=7, a_id="a1", b_id="b1", **kw)


def a_rec(minutes: int = 1, **fields) -> Record:
    values = {"name": "Ann", "phone": "1", "email": "ann@x.com"}
    values.update(fields)
    return rec("a1", minutes, **values)


def b_rec(minutes: int = 1, **fields) -> Record:
    values = {"full_name": "Ann", "phone": "1", "email": "ann@x.com"}
    values.update(fields)
    return rec("b1", minutes, **values)

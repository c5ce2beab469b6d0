"""HubSpot's CRM search: filter groups, one sort, the free-text query, and the fast path for
the change-feed query ("Search the CRM", developers.hubspot.com).

Filter groups are ORed, the filters inside a group ANDed. Numbers, dates and date-times
compare as numbers (epoch milliseconds for the time types), everything else as lower-cased
text; an unset property matches only HAS_PROPERTY's opposite, NEQ and NOT_IN.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, overload

from connectors.hubspot.sandbox.schema import (
    MODIFIED_PROPERTY,
    NUMERIC_TYPES,
    PROPERTIES,
    parse_ms,
)
from connectors.sandbox.core import JSON, ValidationError
from connectors.sandbox.records import ModifiedOrder, RecordTable, Row

MAX_GROUPS = 5  # the changelog's limits; the spec text's "up to 6 groups" conflicts
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq, "LT": operator.lt, "LTE": operator.le, "GT": operator.gt,
    "GTE": operator.ge, "NEQ": operator.ne, "BETWEEN": operator.le,
}  # fmt: skip

Predicate = Callable[[Row], bool]


def check_shape(groups: Any, sorts: Any) -> None:
    """HubSpot's limits on a search body. Raises ValidationError with its message."""
    if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
        raise ValidationError(f"At most {MAX_GROUPS} filterGroups are allowed")
    total = 0
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
            raise ValidationError(f"Each filterGroup needs at most {MAX_FILTERS_PER_GROUP} filters")
        total += len(filters)
    if total > MAX_FILTERS:
        raise ValidationError(f"At most {MAX_FILTERS} filters are allowed")
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise ValidationError("At most one sort is allowed")


def change_feed(
    table: RecordTable, object_type: str, groups: list[Any], sorts: list[Any], query: Any
) -> tuple[Sequence[Row], int] | None:
    """(rows, start) for the change-feed query, or None for any other query.

    The change feed is "modified GTE/GT x, ascending by modified" (or no filter at all):
    served from the table's (modified, id) order in O(log n + page) instead of a scan, so
    the sandbox keeps up with benchmarks of large accounts. Same results as `search`.
    """
    modified = MODIFIED_PROPERTY[object_type]
    if query or sorts != [{"propertyName": modified, "direction": "ASCENDING"}]:
        return None
    order = table.by_modified(object_type)
    if not groups:
        return order, 0
    resumed = _resumed_feed(order, modified, groups)
    if resumed is not None:
        return resumed, 0
    if len(groups) != 1 or len(groups[0].get("filters") or []) != 1:
        return None
    spec = groups[0]["filters"][0]
    if spec.get("propertyName") != modified or spec.get("operator") not in ("GTE", "GT"):
        return None
    bound = parse_ms(spec.get("value"))
    if bound is None:
        return None
    return order, order.position(bound, inclusive=spec["operator"] == "GTE")


def _resumed_feed(order: ModifiedOrder, modified: str, groups: list[Any]) -> Sequence[Row] | None:
    """The change feed resumed after records seen at its last time x: the groups
    "modified GT x" OR "modified EQ x AND hs_object_id NOT_IN [...]" (either order), else
    None. The rows at exactly x that are not excluded, then every row after x."""
    shapes = sorted((g.get("filters") or [] for g in groups), key=len)
    if len(shapes) != 2 or [len(f) for f in shapes] != [1, 2]:
        return None
    (later,), pair = shapes
    equal = next((f for f in pair if f.get("propertyName") == modified), None)
    not_in = next((f for f in pair if f.get("propertyName") == "hs_object_id"), None)
    if (
        later.get("propertyName") != modified
        or later.get("operator") != "GT"
        or equal is None
        or equal.get("operator") != "EQ"
        or not_in is None
        or not_in.get("operator") != "NOT_IN"
        or not isinstance(not_in.get("values"), list)
    ):
        return None
    bound = parse_ms(later.get("value"))
    if bound is None or parse_ms(equal.get("value")) != bound:
        return None
    excluded = {str(v) for v in not_in["values"]}
    first, after = order.position(bound), order.position(bound, inclusive=False)
    head = [row for row in order[first:after] if str(row.id) not in excluded]
    return _Joined(head, order, after)


class _Joined(Sequence[Row]):
    """`head`, then `order` from `start` on: a view, valid until the next write."""

    def __init__(self, head: list[Row], order: ModifiedOrder, start: int) -> None:
        self._head = head
        self._order = order
        self._start = start

    def __len__(self) -> int:
        return len(self._head) + len(self._order) - self._start

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if not isinstance(index, slice):
            return self[index : index + 1][0] if index >= 0 else list(self)[index]
        low, high, step = index.indices(len(self))
        if step != 1:
            return list(self)[index]
        cut = len(self._head)
        rows = self._head[low:high] if low < cut else []
        if high > cut:
            rows += self._order[self._start + max(low - cut, 0) : self._start + high - cut]
        return rows


def search(
    table: RecordTable, object_type: str, groups: list[Any], sorts: list[Any], query: Any
) -> list[Row]:
    """Every live record matching the filter groups and the free-text query, sorted."""
    matches = compile_groups(object_type, groups)
    rows = [r for r in table.rows(object_type) if matches(r)]
    if isinstance(query, str) and query.strip():
        needle = query.strip().lower()
        rows = [
            r
            for r in rows
            if any(needle in (v or "").lower() for v in r.data["properties"].values())
        ]
    if sorts:
        sort = sorts[0] if isinstance(sorts[0], dict) else {}
        name = sort.get("propertyName")
        if name not in PROPERTIES[object_type]:
            raise ValidationError(f"Cannot sort by unknown property {name}")
        rows.sort(key=sort_key(object_type, name), reverse=sort.get("direction") == "DESCENDING")
    return rows  # without a sort: by id, as the table lists them


def getter(object_type: str, name: str) -> Callable[[Row], Any]:
    """A property's comparable value: a float for numbers and timestamps, lower-cased text
    otherwise, None when unset. Built once per search, used on every record."""
    kind = PROPERTIES[object_type][name]["type"]
    if name == "createdate":
        return lambda row: float(row.created)
    if name == MODIFIED_PROPERTY[object_type]:
        return lambda row: float(row.modified)
    if name == "hs_object_id":
        return lambda row: float(row.id)
    if kind in NUMERIC_TYPES:

        def number(row: Row) -> float | None:
            raw = row.data["properties"].get(name)
            return None if raw in (None, "") else _number(kind, raw)

        return number

    def text(row: Row) -> str | None:
        raw = row.data["properties"].get(name)
        return None if raw in (None, "") else raw.lower()

    return text


def sort_key(object_type: str, name: str) -> Callable[[Row], tuple]:
    get = getter(object_type, name)
    empty = 0.0 if PROPERTIES[object_type][name]["type"] in NUMERIC_TYPES else ""

    def key(row: Row) -> tuple:
        value = get(row)
        # Unset values sort last; equal values by id, so paging is stable.
        return (1, empty, row.id) if value is None else (0, value, row.id)

    return key


def _number(kind: str, value: JSON) -> float | None:
    if kind in ("datetime", "date"):
        ms = parse_ms(value)
        return float(ms) if ms is not None else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def compile_groups(object_type: str, groups: list[Any]) -> Predicate:
    """The search's filterGroups as one predicate (OR of groups, AND within a group)."""
    if not groups:
        return lambda row: True
    compiled = [[compile_filter(object_type, f) for f in g["filters"]] for g in groups]
    return lambda row: any(all(test(row) for test in group) for group in compiled)


def compile_filter(object_type: str, spec: Any) -> Predicate:
    """One filter as a predicate. Raises ValidationError for a malformed filter."""
    if not isinstance(spec, dict):
        raise ValidationError("Each filter must be an object")
    name, op = spec.get("propertyName"), spec.get("operator")
    if name not in PROPERTIES[object_type]:
        raise ValidationError(
            f"There was a problem with the request. Property {name} does not exist"
        )
    kind = PROPERTIES[object_type][name]["type"]
    get = getter(object_type, name)
    if op == "HAS_PROPERTY":
        return lambda row: get(row) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda row: get(row) is None
    numeric = kind in NUMERIC_TYPES

    def convert(raw: JSON) -> Any:
        if numeric:
            number = _number(kind, raw)
            if number is None:
                raise ValidationError(f"{raw!r} is not a valid value for {name}")
            return number
        return str(raw).lower()

    if op in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list):
            raise ValidationError(f"{op} needs values")
        wanted = {convert(v) for v in values}
        if op == "IN":
            return lambda row: (v := get(row)) is not None and v in wanted
        return lambda row: (v := get(row)) is None or v not in wanted
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(spec.get("value", "")).lower().strip("*")

        def contains(row: Row) -> bool:
            value = get(row)
            return value is not None and token in str(value).lower()

        return contains if op == "CONTAINS_TOKEN" else (lambda row: not contains(row))
    compare = COMPARISONS.get(op)
    if compare is None:
        raise ValidationError(f"Unknown filter operator {op}")
    if "value" not in spec:
        raise ValidationError(f"{op} needs a value")
    target = convert(spec["value"])
    if op == "BETWEEN":
        high = convert(spec.get("highValue"))
        return lambda row: (v := get(row)) is not None and target <= v <= high
    if op == "NEQ":
        return lambda row: (v := get(row)) is None or v != target
    return lambda row: (v := get(row)) is not None and compare(v, target)

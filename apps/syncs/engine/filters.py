"""Filters: which records of a side are in a sync's scope. Pure functions, no Django.

Comparisons are forgiving in the way people expect from a filter screen: text compares
trimmed and case-insensitively, numbers numerically, dates and date-times as instants; a
list value (multi-enum) passes `equals`/`in`/`contains` when any element does.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apps.syncs.engine.values import Kind, is_empty


class Operator(enum.StrEnum):
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    NOT_IN = "not_in"
    CONTAINS = "contains"
    EMPTY = "empty"
    NOT_EMPTY = "not_empty"
    GREATER = "greater"
    LESS = "less"


# Operators whose value must be a list, and those that take no value.
LIST_OPERATORS = frozenset({Operator.IN, Operator.NOT_IN})
VALUELESS_OPERATORS = frozenset({Operator.EMPTY, Operator.NOT_EMPTY})

_O = Operator
_EQUALITY = (_O.EQUALS, _O.NOT_EQUALS, _O.IN, _O.NOT_IN)
_PRESENCE = (_O.EMPTY, _O.NOT_EMPTY)
# The operators that mean something for a field of each kind, in the order a person reads
# them: text can contain, numbers and instants can be ordered, a yes/no has only equality,
# a multi-select holds values (`contains` one of them, `in` any of a list).
OPERATORS_BY_KIND: dict[Kind, tuple[Operator, ...]] = {
    Kind.TEXT: (*_EQUALITY, _O.CONTAINS, *_PRESENCE),
    Kind.USER: (*_EQUALITY, _O.CONTAINS, *_PRESENCE),
    Kind.NUMBER: (*_EQUALITY, _O.GREATER, _O.LESS, *_PRESENCE),
    Kind.DATE: (*_EQUALITY, _O.GREATER, _O.LESS, *_PRESENCE),
    Kind.DATETIME: (*_EQUALITY, _O.GREATER, _O.LESS, *_PRESENCE),
    Kind.BOOLEAN: (_O.EQUALS, _O.NOT_EQUALS, *_PRESENCE),
    Kind.ENUM: (*_EQUALITY, *_PRESENCE),
    Kind.MULTI_ENUM: (_O.CONTAINS, _O.IN, _O.NOT_IN, *_PRESENCE),
}


@dataclass(frozen=True)
class FilterSpec:
    field: str
    operator: Operator
    value: Any = None

    def describe(self) -> str:
        if self.operator in VALUELESS_OPERATORS:
            return f"{self.field} {self.operator.replace('_', ' ')}"
        return f"{self.field} {self.operator.replace('_', ' ')} {self.value!r}"


def _key(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            return text.casefold()
    return value


def _order_key(value: Any) -> tuple[int, Any] | None:
    """A sortable key: numbers before instants before text; None when not comparable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return (0, float(value))
    text = str(value).strip()
    try:
        return (0, float(text))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return (2, text.casefold())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (1, parsed.timestamp())


def passes(spec: FilterSpec, fields: Mapping[str, Any]) -> bool:
    """Whether a record's fields pass one filter."""
    value = fields.get(spec.field)
    op = spec.operator
    if op is Operator.EMPTY:
        return is_empty(value)
    if op is Operator.NOT_EMPTY:
        return not is_empty(value)
    items = value if isinstance(value, list) else [value]
    if op in (Operator.EQUALS, Operator.NOT_EQUALS):
        hit = any(_key(item) == _key(spec.value) for item in items)
        return hit if op is Operator.EQUALS else not hit
    if op in (Operator.IN, Operator.NOT_IN):
        wanted = {_key(v) for v in (spec.value or [])}
        hit = any(_key(item) in wanted for item in items)
        return hit if op is Operator.IN else not hit
    if op is Operator.CONTAINS:
        if isinstance(value, list):
            return any(_key(item) == _key(spec.value) for item in value)
        if is_empty(value):
            return False
        return str(spec.value).strip().casefold() in str(value).casefold()
    left, right = _order_key(value), _order_key(spec.value)
    if left is None or right is None or left[0] != right[0]:
        return False
    return left > right if op is Operator.GREATER else left < right


def in_scope(filters: Sequence[FilterSpec], fields: Mapping[str, Any]) -> bool:
    """A record is in scope when it passes every filter of its side."""
    return all(passes(f, fields) for f in filters)


def first_failing(filters: Sequence[FilterSpec], fields: Mapping[str, Any]) -> FilterSpec | None:
    for spec in filters:
        if not passes(spec, fields):
            return spec
    return None

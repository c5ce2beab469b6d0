"""Values: the conversion kinds, conversion between them, equivalence, match keys.

Pure functions, no Django. A field mapping converts a value from one side's kind to the
other's through an optional value map; `ConversionError` says why a value cannot be converted
and carries the value, so the runner can report "record, field, value".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from connectors.base import FieldType


class Kind(enum.StrEnum):
    """What a mapped value is, for conversion and comparison."""

    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    MULTI_ENUM = "multi_enum"
    USER = "user"  # an email address naming a person: trimmed, compared case-insensitively


KIND_OF_FIELD_TYPE: dict[FieldType, Kind] = {
    FieldType.STRING: Kind.TEXT,
    FieldType.TEXT: Kind.TEXT,
    FieldType.REFERENCE: Kind.TEXT,
    FieldType.NUMBER: Kind.NUMBER,
    FieldType.INTEGER: Kind.NUMBER,
    FieldType.BOOLEAN: Kind.BOOLEAN,
    FieldType.DATE: Kind.DATE,
    FieldType.DATETIME: Kind.DATETIME,
    FieldType.ENUM: Kind.ENUM,
    FieldType.MULTI_ENUM: Kind.MULTI_ENUM,
    FieldType.EMAIL: Kind.USER,
    FieldType.USER: Kind.USER,
}

_K = Kind
# Unordered pairs that can be converted both ways (a kind always converts to itself).
_COMPATIBLE = {
    frozenset(p)
    for p in [
        (_K.TEXT, _K.NUMBER),
        (_K.TEXT, _K.BOOLEAN),
        (_K.TEXT, _K.DATE),
        (_K.TEXT, _K.DATETIME),
        (_K.TEXT, _K.ENUM),
        (_K.TEXT, _K.MULTI_ENUM),
        (_K.TEXT, _K.USER),
        (_K.NUMBER, _K.BOOLEAN),
        (_K.NUMBER, _K.ENUM),
        (_K.BOOLEAN, _K.ENUM),
        (_K.DATE, _K.DATETIME),
        (_K.ENUM, _K.MULTI_ENUM),
        (_K.ENUM, _K.USER),
    ]
}

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})


class ConversionError(ValueError):
    """A value cannot be converted; `value` is the offending value."""

    def __init__(self, message: str, value: Any) -> None:
        super().__init__(message)
        self.value = value


class Unresolved(ConversionError):
    """A reference whose counterpart is not known yet: the record it names is not linked
    by the sync the mapping follows, or the person has no counterpart on the other system.

    Not an error of the record: the field waits (it is written once the counterpart is
    known) while the rest of the record syncs.
    """

    def __init__(self, message: str, value: Any, *, code: str) -> None:
        super().__init__(message, value)
        self.code = code  # "reference_unlinked" or "unknown_user"


def compatible(source: Kind, target: Kind) -> bool:
    return source == target or frozenset((source, target)) in _COMPATIBLE


def is_empty(value: Any) -> bool:
    return (
        value is None
        or value == ""
        or value == []
        or (isinstance(value, str) and not value.strip())
    )


def map_key(value: Any) -> str:
    """The key a value has in a value map (maps are JSON objects, so keys are strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = str(value).strip().replace(",", "")
    try:
        number = float(text)
    except ValueError:
        raise ConversionError(f"{value!r} is not a number", value) from None
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value in (0, 1):
            return bool(value)
        raise ConversionError(f"{value!r} is not 0 or 1", value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConversionError(f"{value!r} is not a yes/no value", value)


def _datetime(value: Any) -> datetime:
    text = str(value).strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConversionError(f"{value!r} is not an ISO 8601 date-time", value) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _date(value: Any) -> date:
    text = str(value).strip()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ConversionError(f"{value!r} is not a YYYY-MM-DD date", value) from None
    return _datetime(text).date()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _email(value: Any) -> str:
    text = str(value).strip().lower()
    if "@" not in text or " " in text:
        raise ConversionError(f"{value!r} is not an email address", value)
    return text


def _coerce(value: Any, source: Kind, target: Kind) -> Any:
    """Convert a non-empty value between kinds (no value map)."""
    if target is Kind.TEXT:
        return _text(value)
    if target is Kind.NUMBER:
        return _number(value)
    if target is Kind.BOOLEAN:
        return _boolean(value)
    if target is Kind.DATE:
        return _date(value).isoformat()
    if target is Kind.DATETIME:
        return _datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if target is Kind.USER:
        return _email(value)
    if target is Kind.MULTI_ENUM:
        if isinstance(value, list):
            return [_text(v) for v in value]
        if source is Kind.TEXT:
            return [part.strip() for part in str(value).split(",") if part.strip()]
        return [_text(value)]
    # ENUM
    if isinstance(value, list):
        if len(value) != 1:
            raise ConversionError(f"{value!r} holds {len(value)} values, the target one", value)
        value = value[0]
    return _text(value).strip()


def convert(
    value: Any,
    source: Kind,
    target: Kind,
    *,
    value_map: Mapping[str, Any] | None = None,
    options: Sequence[str] = (),
    default: Any = None,
) -> Any:
    """Convert `value` from `source` to `target`.

    Empty values become `default` (or None; [] for multi-enum). With a value map, every
    non-empty value (each element of a list) must have an entry: a missing one raises. Enum
    results must be among `options` when options are known. Raises ConversionError.
    """
    if is_empty(value):
        if default is not None:
            return default
        return [] if target is Kind.MULTI_ENUM else None
    if value_map:
        if isinstance(value, list):
            mapped: Any = [_mapped(v, value_map) for v in value]
            if target is not Kind.MULTI_ENUM:
                mapped = _coerce(mapped, Kind.MULTI_ENUM, target)
        else:
            mapped = _mapped(value, value_map)
            if target is Kind.MULTI_ENUM and not isinstance(mapped, list):
                mapped = [mapped]
        result = mapped
    else:
        result = _coerce(value, source, target)
    if options and target in (Kind.ENUM, Kind.MULTI_ENUM):
        for item in result if isinstance(result, list) else [result]:
            if item not in options:
                raise ConversionError(f"{item!r} is not an option of the target field", value)
    return result


def _mapped(value: Any, value_map: Mapping[str, Any]) -> Any:
    key = map_key(value)
    if key not in value_map:
        raise ConversionError(f"{value!r} has no entry in the value map", value)
    return value_map[key]


def comparable(value: Any, kind: Kind) -> Any:
    """A canonical form: two values are equivalent when their forms are equal."""
    if is_empty(value):
        return None
    try:
        if kind is Kind.TEXT:
            return _text(value).strip()
        if kind is Kind.USER:
            return str(value).strip().casefold()
        if kind is Kind.NUMBER:
            return float(_number(value))
        if kind is Kind.BOOLEAN:
            return _boolean(value)
        if kind is Kind.DATE:
            return _date(value)
        if kind is Kind.DATETIME:
            return _datetime(value)
        if kind is Kind.MULTI_ENUM:
            items = value if isinstance(value, list) else [value]
            return frozenset(_text(v) for v in items)
        return _text(value).strip()
    except ConversionError:
        return ("raw", repr(value))  # unparseable: equal only to the very same value


def equivalent(left: Any, right: Any, kind: Kind) -> bool:
    return comparable(left, kind) == comparable(right, kind)


class Normalise(enum.StrEnum):
    """How a match rule compares values."""

    EXACT = "exact"
    TRIM = "trim"  # trimmed, case-sensitive
    EMAIL = "email"  # trimmed, case-insensitive (also right for names and keys)


def match_key(value: Any, normalise: Normalise) -> Any:
    """The key two records must share to match; None for empty values (which never match)."""
    if is_empty(value):
        return None
    if isinstance(value, list):
        return tuple(match_key(v, normalise) for v in value)
    if not isinstance(value, str):
        return value
    if normalise is Normalise.EXACT:
        return value
    if normalise is Normalise.TRIM:
        return value.strip()
    return value.strip().casefold()

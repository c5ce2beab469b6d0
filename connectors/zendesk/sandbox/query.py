"""Zendesk's search syntax, the part clients of a sync use ("Zendesk Support search
reference"): `type:ticket`, `key:value` terms (custom_field_<id>, tags, ticket_type, user
and organization fields by key, `none` for unset), quoted phrases, and bare words matched
in subject, description, name and email. Terms are ANDed; results come in id order.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from connectors.sandbox.core import Problem, ValidationError
from connectors.sandbox.records import RecordTable, Row
from connectors.zendesk.sandbox.schema import CUSTOM_CONTAINER, PLURAL, TYPES

TEXT_KEYS = frozenset({"subject", "description", "details", "notes"})
BARE_WORD_KEYS = ("subject", "description", "name", "email")


def search(table: RecordTable, query: str, object_type: str | None) -> list[Row]:
    """Live records matching `query`, in id order per type (tickets, users, organizations).

    Raises ValidationError for unbalanced quotes.
    """
    try:
        tokens = shlex.split(query)
    except ValueError:
        raise ValidationError(Problem(None, "unbalanced quotes", "InvalidValue")) from None
    terms: list[tuple[str, str]] = []
    for token in tokens:
        key, sep, value = token.partition(":")
        if not sep:
            terms.append(("", token))
        elif key == "type":
            kind = PLURAL.get(value.lower())
            if kind is None or (object_type and object_type != kind):
                return []
            object_type = kind
        else:
            terms.append((key.lower(), value))
    found = []
    for kind in [object_type] if object_type else list(TYPES):
        for row in table.rows(kind):
            if all(_term(kind, row.data, key, value) for key, value in terms):
                found.append(row)
    return found


def _term(object_type: str, record: Mapping[str, Any], key: str, value: str) -> bool:
    if not key:
        wanted = value.lower()
        return any(wanted in str(record.get(k) or "").lower() for k in BARE_WORD_KEYS)
    return matches(object_type, record, key, value)


def matches(object_type: str, record: Mapping[str, Any], key: str, value: str) -> bool:
    """Whether one `key:value` term holds for a record."""
    wanted = value.lower()
    if key.startswith("custom_field_") and object_type == "tickets":
        field_id = key.removeprefix("custom_field_")
        for item in record.get("custom_fields") or ():
            if str(item["id"]) == field_id:
                current = item["value"]
                if isinstance(current, list):
                    return wanted in [str(v).lower() for v in current]
                return str(current).lower() == wanted if current is not None else False
        return False
    if key in ("tag", "tags"):
        return wanted in [t.lower() for t in record.get("tags") or ()]
    if key == "ticket_type":
        key = "type"
    container = CUSTOM_CONTAINER.get(object_type)
    if key not in record and container and key in (record.get(container) or {}):
        current = record[container][key]
    else:
        current = record.get(key)
    if current is None:
        return wanted in ("none", "")
    if key in TEXT_KEYS:
        return wanted in str(current).lower()
    if isinstance(current, list):
        return wanted in [str(v).lower() for v in current]
    return str(current).lower() == wanted

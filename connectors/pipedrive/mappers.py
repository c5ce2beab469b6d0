"""Pipedrive fields and records to and from Concord's canonical shapes.

System fields keep Pipedrive's field codes; custom fields keep their 40-character hash keys
(their labels come from the field lists). Canonical values:

| Pipedrive                                   | FieldType  | canonical value                 |
|---------------------------------------------|------------|---------------------------------|
| name, varchar, varchar_auto, phone, address | STRING     | str (an address: its `value`)   |
| text                                        | TEXT       | str                             |
| email (a person's primary email)            | EMAIL      | str                             |
| phone (a person's primary phone)            | STRING     | str                             |
| int / double / monetary (its amount)        | INTEGER / NUMBER | int / float               |
| date                                        | DATE       | "YYYY-MM-DD"                    |
| enum / set (label_ids included)             | ENUM / MULTI_ENUM | option id(s) as text     |
| user (owner_id included)                    | USER       | the user's email                |
| org / people                                | REFERENCE  | the record id as text           |
| add_time, update_time                       | DATETIME   | RFC 3339, read-only             |

Emails and phones: Pipedrive keeps a list of {value, primary, label} per person. The
canonical `email` and `phone` are the primary entry's value (the first entry when none is
marked). Writing one replaces the primary entry's value and keeps every other entry as it
was; writing a value that is already one of the other entries makes that entry primary
(the old primary stays, no longer primary); writing None removes the primary entry and the
next one becomes primary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from connectors.base import JSON, FieldOption, FieldSpec, FieldType, Record

# System field codes the connector syncs, per object type: (type, writable, required).
SYSTEM: dict[str, dict[str, tuple[FieldType, bool, bool]]] = {
    "persons": {
        "name": (FieldType.STRING, True, True),
        "first_name": (FieldType.STRING, False, False),
        "last_name": (FieldType.STRING, False, False),
        "email": (FieldType.EMAIL, True, False),
        "phone": (FieldType.STRING, True, False),
        "owner_id": (FieldType.USER, True, False),
        "org_id": (FieldType.REFERENCE, True, False),
        "label_ids": (FieldType.MULTI_ENUM, True, False),
        "add_time": (FieldType.DATETIME, False, False),
        "update_time": (FieldType.DATETIME, False, False),
    },
    "organizations": {
        "name": (FieldType.STRING, True, True),
        "owner_id": (FieldType.USER, True, False),
        "label_ids": (FieldType.MULTI_ENUM, True, False),
        "address": (FieldType.STRING, True, False),
        "add_time": (FieldType.DATETIME, False, False),
        "update_time": (FieldType.DATETIME, False, False),
    },
}
CUSTOM_TYPES = {
    "varchar": FieldType.STRING,
    "varchar_auto": FieldType.STRING,
    "phone": FieldType.STRING,
    "text": FieldType.TEXT,
    "int": FieldType.INTEGER,
    "double": FieldType.NUMBER,
    "monetary": FieldType.NUMBER,
    "date": FieldType.DATE,
    "enum": FieldType.ENUM,
    "set": FieldType.MULTI_ENUM,
    "boolean": FieldType.BOOLEAN,
    "user": FieldType.USER,
    "org": FieldType.REFERENCE,
    "people": FieldType.REFERENCE,
    "address": FieldType.STRING,
}
# Custom types whose values are objects: read (amount, address text), not written.
READ_ONLY_CUSTOM = {"monetary", "address"}
LISTS = {"email": "emails", "phone": "phones"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ValueRefused(ValueError):
    """A canonical value that cannot be written to a Pipedrive field."""


def field_spec(entry: Mapping[str, Any], object_type: str) -> FieldSpec | None:
    """The FieldSpec of one entry of the field list, or None for a field not synced."""
    code = str(entry["field_code"])
    label = str(entry.get("field_name") or code)
    options = tuple(
        FieldOption(str(o["id"]), str(o.get("label") or o["id"]))
        for o in entry.get("options") or ()
        if isinstance(o, Mapping) and o.get("id") is not None
    )
    if entry.get("is_custom_field"):
        ftype = CUSTOM_TYPES.get(str(entry.get("field_type")))
        if ftype is None:
            return None
        target = {"org": "organizations", "people": "persons"}.get(str(entry.get("field_type")))
        return FieldSpec(
            name=code,
            label=label,
            type=ftype,
            writable=entry.get("field_type") not in READ_ONLY_CUSTOM,
            options=options,
            custom=True,
            reference_to=target,
        )
    known = SYSTEM[object_type].get(code)
    if known is None:
        return None
    ftype, writable, required = known
    return FieldSpec(
        name=code,
        label=label,
        type=ftype,
        writable=writable,
        required=required,
        options=options,
        reference_to="organizations" if code == "org_id" else None,
    )


def field_types(entries: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Pipedrive's field_type per custom field key (writes need it)."""
    return {str(e["field_code"]): str(e.get("field_type")) for e in entries}


def parse_time(value: Any) -> datetime | None:
    """Pipedrive's RFC 3339 times ("2025-01-01T10:20:00Z"; v1's "2025-01-01 10:20:00")."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def primary(entries: Any) -> str | None:
    """The primary entry's value of an emails or phones list (the first when none is)."""
    if not isinstance(entries, list):
        return None
    values = [e for e in entries if isinstance(e, Mapping) and e.get("value")]
    for entry in values:
        if entry.get("primary"):
            return str(entry["value"])
    return str(values[0]["value"]) if values else None


def with_primary(entries: Any, value: str | None, label: str) -> list[dict[str, Any]]:
    """The list to write so that `value` is the primary entry, every other entry kept (see
    the module docstring)."""
    current = [
        {"value": str(e["value"]), "primary": bool(e.get("primary")), "label": e.get("label")}
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping) and e.get("value")
    ]
    at = next((i for i, e in enumerate(current) if e["primary"]), 0 if current else None)
    if value is None:
        if at is not None:
            del current[at]
        for index, entry in enumerate(current):
            entry["primary"] = index == 0
    else:
        same = next((i for i, e in enumerate(current) if e["value"].lower() == value.lower()), None)
        if same is not None:
            for index, entry in enumerate(current):
                entry["primary"] = index == same
        elif at is None:
            current.append({"value": value, "primary": True, "label": label})
        else:
            current[at]["value"] = value
            for index, entry in enumerate(current):
                entry["primary"] = index == at
    for entry in current:
        if not entry["label"]:
            entry["label"] = label
    return current


def from_pipedrive(value: Any, spec: FieldSpec, users: Mapping[int, str]) -> JSON:
    """A Pipedrive value (system or custom) as a canonical value."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):  # monetary {value, currency}, address {value, ...}
        value = value.get("value")
        if value is None or value == "":
            return None
    kind = spec.type
    if kind is FieldType.USER:
        user_id = value.get("id") if isinstance(value, Mapping) else value
        return users.get(int(user_id), str(user_id)) if str(user_id).isdigit() else str(user_id)
    if kind is FieldType.REFERENCE:
        return str(value)
    if kind is FieldType.MULTI_ENUM:
        items = value if isinstance(value, list) else str(value).split(",")
        return [str(v) for v in items if str(v) != ""]
    if kind is FieldType.ENUM:
        return str(value)
    if kind is FieldType.INTEGER and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind is FieldType.NUMBER and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)
    return value


def to_pipedrive(value: JSON, spec: FieldSpec, users: Mapping[str, int]) -> Any:
    """A canonical value as Pipedrive takes it. Raises ValueRefused naming the field."""
    if value is None:
        return None
    kind = spec.type
    name = spec.name
    if kind is FieldType.USER:
        if isinstance(value, str) and value.lower() in users:
            return users[value.lower()]
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise ValueRefused(f"{name}: no Pipedrive user has the email {value!r}")
    if kind in (FieldType.REFERENCE, FieldType.ENUM):
        text = str(value)
        if not text.isdigit() or isinstance(value, bool):
            raise ValueRefused(f"{name} expects an id, got {value!r}")
        if kind is FieldType.ENUM and spec.options and text not in spec.option_values():
            raise ValueRefused(f"{name}: {text!r} is not one of its options")
        return int(text)
    if kind is FieldType.MULTI_ENUM:
        if not isinstance(value, list | tuple) or not all(str(v).isdigit() for v in value):
            raise ValueRefused(f"{name} expects a list of option ids")
        unknown = [str(v) for v in value if spec.options and str(v) not in spec.option_values()]
        if unknown:
            raise ValueRefused(f"{name}: {', '.join(unknown)} not among its options")
        return [int(v) for v in dict.fromkeys(str(v) for v in value)]
    if kind in (FieldType.INTEGER, FieldType.NUMBER):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueRefused(f"{name} expects a number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueRefused(f"{name} expects a finite number")
        if kind is FieldType.INTEGER:
            if float(value) != int(value):
                raise ValueRefused(f"{name} expects a whole number, got {value!r}")
            return int(value)
        return value
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueRefused(f"{name} expects true or false")
        return value
    if kind is FieldType.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str) and _DATE.match(value):
            return value
        raise ValueRefused(f"{name} expects a date as YYYY-MM-DD")
    if isinstance(value, dict | list | tuple):
        raise ValueRefused(f"{name} expects text, got a {type(value).__name__}")
    return str(value)


def to_record(
    obj: Mapping[str, Any], specs: Mapping[str, FieldSpec], users: Mapping[int, str]
) -> Record:
    """A v2 person or organization as a Record (fields of `specs` only)."""
    custom = obj.get("custom_fields") if isinstance(obj.get("custom_fields"), Mapping) else {}
    fields: dict[str, JSON] = {}
    for name, spec in specs.items():
        if spec.custom:
            raw = custom.get(name)
        elif name in LISTS:
            raw = primary(obj.get(LISTS[name]))
        else:
            raw = obj.get(name)
        fields[name] = from_pipedrive(raw, spec, users)
    updated = obj.get("update_time")
    return Record(
        id=str(obj["id"]),
        fields=fields,
        modified_at=parse_time(updated),
        version=str(updated) if updated else None,
        deleted=bool(obj.get("is_deleted", False)),
    )


def write_body(
    fields: Mapping[str, JSON],
    specs: Mapping[str, FieldSpec],
    users: Mapping[str, int],
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A POST or PATCH body for canonical `fields`; `current` is the stored record (for
    the emails and phones lists the write keeps). Raises ValueRefused naming a field."""
    body: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in fields.items():
        spec = specs.get(name)
        if spec is None:
            raise ValueRefused(f"Pipedrive has no field {name!r} here")
        if not spec.writable:
            raise ValueRefused(f"{name} is read-only in Pipedrive")
        if name in LISTS:
            if value is not None and not isinstance(value, str):
                raise ValueRefused(f"{name} expects text, got {value!r}")
            existing = (current or {}).get(LISTS[name])
            body[LISTS[name]] = with_primary(existing, value.strip() if value else None, "work")
        elif name == "address":
            body["address"] = None if value is None else {"value": to_pipedrive(value, spec, users)}
        elif spec.custom:
            custom[name] = to_pipedrive(value, spec, users)
        else:
            body[name] = to_pipedrive(value, spec, users)
    if custom:
        body["custom_fields"] = custom
    if "name" in body and not (body["name"] or "").strip():
        raise ValueRefused("name must not be empty")
    return body


def search_fields(object_type: str, spec: FieldSpec) -> str | None:
    """The `fields` value of the search endpoint that covers `spec`, or None."""
    if spec.name == "name":
        return "name"
    if object_type == "persons" and spec.name in LISTS:
        return spec.name
    if object_type == "organizations" and spec.name == "address":
        return "address"
    if spec.custom and spec.type in (FieldType.STRING, FieldType.TEXT, FieldType.INTEGER,
                                     FieldType.NUMBER):  # fmt: skip
        return "custom_fields"
    return None


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]

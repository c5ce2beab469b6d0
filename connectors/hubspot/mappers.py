"""HubSpot properties and objects to and from Concord's canonical shapes.

HubSpot sends and accepts every property value as a string. Canonical values by type:

| HubSpot type / fieldType                  | FieldType  | canonical value             |
|-------------------------------------------|------------|-----------------------------|
| string text/phonenumber (the `email` one) | STRING (EMAIL) | str                     |
| string textarea/html                      | TEXT       | str                         |
| number                                    | NUMBER     | int when integral, else float |
| bool, or enumeration booleancheckbox      | BOOLEAN    | bool                        |
| enumeration checkbox                      | MULTI_ENUM | list of option values       |
| enumeration select/radio                  | ENUM       | the option value            |
| date                                      | DATE       | "YYYY-MM-DD"                |
| datetime                                  | DATETIME   | ISO 8601 in UTC, as HubSpot sends it |

Empty strings read as None, and None is written as "" (how HubSpot clears a property).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from connectors.base import JSON, FieldOption, FieldSpec, FieldType, Record

# HubSpot accepts these without a value on create but refuses to create the object without
# them; the properties API does not say so, the object guides do.
REQUIRED_ON_CREATE = {
    "deals": ("dealname", "dealstage", "pipeline"),
    "tickets": ("subject", "hs_pipeline", "hs_pipeline_stage"),
}
MODIFIED_PROPERTY = {
    "contacts": "lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "deals": "hs_lastmodifieddate",
    "tickets": "hs_lastmodifieddate",
}


class ValueRefused(ValueError):
    """A canonical value that cannot be written to a HubSpot property."""


def field_spec(prop: Mapping[str, Any], object_type: str) -> FieldSpec:
    """The FieldSpec of one property from GET /crm/v3/properties/{objectType}."""
    name = str(prop["name"])
    kind = prop.get("type")
    field_type = prop.get("fieldType")
    options: tuple[FieldOption, ...] = ()
    if kind == "bool" or (kind == "enumeration" and field_type == "booleancheckbox"):
        ftype = FieldType.BOOLEAN
    elif kind == "enumeration":
        ftype = FieldType.MULTI_ENUM if field_type == "checkbox" else FieldType.ENUM
        options = tuple(
            FieldOption(str(o["value"]), str(o.get("label") or o["value"]))
            for o in prop.get("options") or ()
            if not o.get("hidden")
        )
    elif kind == "number":
        ftype = FieldType.NUMBER
    elif kind == "date":
        ftype = FieldType.DATE
    elif kind == "datetime":
        ftype = FieldType.DATETIME
    elif name == "email":
        ftype = FieldType.EMAIL
    elif field_type in ("textarea", "html"):
        ftype = FieldType.TEXT
    else:
        ftype = FieldType.STRING
    meta = prop.get("modificationMetadata") or {}
    writable = not meta.get("readOnlyValue", False) and not prop.get("calculated", False)
    return FieldSpec(
        name=name,
        label=str(prop.get("label") or name),
        type=ftype,
        writable=writable,
        required=name in REQUIRED_ON_CREATE.get(object_type, ()),
        options=options,
        custom=not prop.get("hubspotDefined", False),
    )


def parse_timestamp(value: str | None) -> datetime | None:
    """HubSpot's ISO timestamps ("2024-01-15T10:00:00.123Z") or epoch-ms strings."""
    if not value:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def from_hubspot(value: str | None, spec: FieldSpec | None) -> JSON:
    """A HubSpot property string as a canonical value (unknown properties stay strings)."""
    if value is None or value == "":
        return None
    if spec is None:
        return value
    if spec.type is FieldType.NUMBER:
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if spec.type is FieldType.BOOLEAN:
        return value.lower() == "true"
    if spec.type is FieldType.MULTI_ENUM:
        return [v for v in value.split(";") if v]
    if spec.type is FieldType.DATE and value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, UTC).date().isoformat()
    return value


def to_hubspot(value: JSON, spec: FieldSpec) -> str:
    """A canonical value as the string HubSpot expects. Raises ValueRefused if impossible."""
    if value is None:
        return ""
    kind = spec.type
    if kind is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueRefused(f"{spec.name} expects true or false, got {value!r}")
        return "true" if value else "false"
    if kind is FieldType.NUMBER or kind is FieldType.INTEGER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueRefused(f"{spec.name} expects a number, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueRefused(f"{spec.name} expects a finite number")
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if kind is FieldType.MULTI_ENUM:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueRefused(f"{spec.name} expects a list of option values")
        return ";".join(value)
    if kind is FieldType.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str):
            return value
        raise ValueRefused(f"{spec.name} expects a date as YYYY-MM-DD")
    if kind is FieldType.DATETIME:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
        if isinstance(value, str):
            return value
        raise ValueRefused(f"{spec.name} expects an ISO 8601 date-time")
    if isinstance(value, dict | list | tuple):
        raise ValueRefused(f"{spec.name} expects text, got a {type(value).__name__}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def properties_for_write(
    fields: Mapping[str, JSON], specs: Mapping[str, FieldSpec]
) -> dict[str, str]:
    """Canonical fields as HubSpot `properties`. Raises ValueRefused naming the bad field.

    Fields HubSpot does not know are passed through as strings so that HubSpot's own
    PROPERTY_DOESNT_EXIST error reaches the user for that record.
    """
    out: dict[str, str] = {}
    for name, value in fields.items():
        spec = specs.get(name)
        if spec is None:
            out[name] = "" if value is None else str(value)
        elif not spec.writable:
            raise ValueRefused(f"{name} is read-only in HubSpot")
        else:
            out[name] = to_hubspot(value, spec)
    return out


def to_record(obj: Mapping[str, Any], specs: Mapping[str, FieldSpec]) -> Record:
    """A HubSpot object ({id, properties, createdAt, updatedAt, archived}) as a Record."""
    props = obj.get("properties") or {}
    fields = {name: from_hubspot(value, specs.get(name)) for name, value in props.items()}
    updated = obj.get("updatedAt")
    return Record(
        id=str(obj["id"]),
        fields=fields,
        modified_at=parse_timestamp(updated),
        version=updated,
        deleted=bool(obj.get("archived", False)),
    )


def search_value(value: JSON, spec: FieldSpec | None) -> str:
    """A canonical value as a search filter value (emails compared lower-case)."""
    if spec is not None:
        text = to_hubspot(value, spec)
        return text.lower() if spec.type is FieldType.EMAIL else text
    return str(value)


def chunks(items: Sequence[Any], size: int) -> list[list[Any]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]

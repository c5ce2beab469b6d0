"""Zendesk JSON <-> Concord's canonical records and field specs.

Pure functions, no HTTP. Three object types: tickets, users, organizations.

Canonical field names:

- System fields keep Zendesk's attribute names (`subject`, `status`, `requester_id`, ...).
- Custom ticket fields are `custom_<field id>`: a ticket carries them as
  `custom_fields: [{"id": 360001, "value": ...}]`
  (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#json-format).
- Custom user and organization fields are `custom_<field key>`: users and organizations carry
  them as maps keyed by the field's key, `user_fields: {"plan": ...}` and
  `organization_fields: {...}`.
- `tags` (and an organization's `domain_names`) are lists in Zendesk and a space-separated
  string here: Zendesk tags and domains cannot contain spaces, so nothing is lost, and a
  string maps onto any other system's text field.

Values are normalised on the way in: Zendesk can answer numeric custom field values as
strings ("745"), and those become numbers here; ids of referenced records become strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import JSON, FieldOption, FieldSpec, FieldType, Record
from connectors.errors import RecordError

SYSTEM = "Zendesk"
OBJECT_TYPES = ("tickets", "users", "organizations")
CUSTOM_PREFIX = "custom_"

TICKET_STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
TICKET_PRIORITIES = ("urgent", "high", "normal", "low")
TICKET_TYPES = ("problem", "incident", "question", "task")
USER_ROLES = ("end-user", "agent", "admin")

# Zendesk's custom field `type` -> canonical type. Ticket fields say "tagger" for a drop-down,
# user and organization fields say "dropdown"; "lookup" is a lookup relationship to a record.
CUSTOM_TYPES: dict[str, FieldType] = {
    "text": FieldType.STRING,
    "textarea": FieldType.TEXT,
    "checkbox": FieldType.BOOLEAN,
    "date": FieldType.DATE,
    "integer": FieldType.INTEGER,
    "decimal": FieldType.NUMBER,
    "regexp": FieldType.STRING,
    "partialcreditcard": FieldType.STRING,
    "tagger": FieldType.ENUM,
    "dropdown": FieldType.ENUM,
    "multiselect": FieldType.MULTI_ENUM,
    "lookup": FieldType.REFERENCE,
}

# A lookup field's relationship_target_type -> our object type.
LOOKUP_TARGETS = {
    "zen:user": "users",
    "zen:organization": "organizations",
    "zen:ticket": "tickets",
}

# Where each object type's custom values live in its JSON.
CUSTOM_CONTAINER = {
    "tickets": "custom_fields",
    "users": "user_fields",
    "organizations": "organization_fields",
}


def _options(values: Iterable[str]) -> tuple[FieldOption, ...]:
    return tuple(FieldOption(v, v.replace("-", " ").capitalize()) for v in values)


def _ro(name: str, label: str, type_: FieldType) -> FieldSpec:
    return FieldSpec(name, label, type_, writable=False)


TICKET_SYSTEM_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("subject", "Subject", FieldType.STRING),
    # The description is the ticket's first comment: set on create (as `comment`), immutable
    # afterwards. Updates that change it are refused per record rather than dropped silently.
    FieldSpec("description", "Description", FieldType.TEXT, required=True),
    FieldSpec("status", "Status", FieldType.ENUM, options=_options(TICKET_STATUSES)),
    FieldSpec("priority", "Priority", FieldType.ENUM, options=_options(TICKET_PRIORITIES)),
    FieldSpec("type", "Type", FieldType.ENUM, options=_options(TICKET_TYPES)),
    FieldSpec("requester_id", "Requester", FieldType.REFERENCE, reference_to="users"),
    FieldSpec("assignee_id", "Assignee", FieldType.REFERENCE, reference_to="users"),
    FieldSpec("organization_id", "Organization", FieldType.REFERENCE, reference_to="organizations"),
    FieldSpec("tags", "Tags", FieldType.STRING),
    FieldSpec("external_id", "External ID", FieldType.STRING),
    FieldSpec("due_at", "Due at", FieldType.DATETIME),
    _ro("created_at", "Created at", FieldType.DATETIME),
    _ro("updated_at", "Updated at", FieldType.DATETIME),
)

USER_SYSTEM_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "Name", FieldType.STRING, required=True),
    FieldSpec("email", "Email", FieldType.EMAIL),
    FieldSpec("phone", "Phone", FieldType.STRING),
    FieldSpec("role", "Role", FieldType.ENUM, options=_options(USER_ROLES)),
    FieldSpec("organization_id", "Organization", FieldType.REFERENCE, reference_to="organizations"),
    FieldSpec("external_id", "External ID", FieldType.STRING),
    FieldSpec("tags", "Tags", FieldType.STRING),
    FieldSpec("details", "Details", FieldType.TEXT),
    FieldSpec("notes", "Notes", FieldType.TEXT),
    FieldSpec("time_zone", "Time zone", FieldType.STRING),
    FieldSpec("locale", "Locale", FieldType.STRING),
    FieldSpec("verified", "Verified", FieldType.BOOLEAN),
    FieldSpec("suspended", "Suspended", FieldType.BOOLEAN),
    _ro("created_at", "Created at", FieldType.DATETIME),
    _ro("updated_at", "Updated at", FieldType.DATETIME),
)

ORGANIZATION_SYSTEM_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", "Name", FieldType.STRING, required=True),
    FieldSpec("domain_names", "Domains", FieldType.STRING),
    FieldSpec("details", "Details", FieldType.TEXT),
    FieldSpec("notes", "Notes", FieldType.TEXT),
    FieldSpec("external_id", "External ID", FieldType.STRING),
    FieldSpec("shared_tickets", "Shared tickets", FieldType.BOOLEAN),
    FieldSpec("shared_comments", "Shared comments", FieldType.BOOLEAN),
    FieldSpec("tags", "Tags", FieldType.STRING),
    _ro("created_at", "Created at", FieldType.DATETIME),
    _ro("updated_at", "Updated at", FieldType.DATETIME),
)

SYSTEM_FIELDS = {
    "tickets": TICKET_SYSTEM_FIELDS,
    "users": USER_SYSTEM_FIELDS,
    "organizations": ORGANIZATION_SYSTEM_FIELDS,
}

# Where each object type's field definitions come from.
FIELDS_ENDPOINTS = {
    "tickets": ("/api/v2/ticket_fields.json", "ticket_fields"),
    "users": ("/api/v2/user_fields.json", "user_fields"),
    "organizations": ("/api/v2/organization_fields.json", "organization_fields"),
}

_SPACE_LISTS = frozenset({"tags", "domain_names"})
_REFERENCES = frozenset({"requester_id", "assignee_id", "organization_id"})


@dataclass(frozen=True)
class CustomField:
    """How one custom field travels: its Zendesk handle (ticket field id or user/org key)."""

    handle: int | str
    spec: FieldSpec


@dataclass(frozen=True)
class Schema:
    """The fields of one object type, system and custom, as discovery found them."""

    object_type: str
    specs: tuple[FieldSpec, ...]
    custom: Mapping[str, CustomField] = field(default_factory=dict)

    def spec(self, name: str) -> FieldSpec | None:
        for spec in self.specs:
            if spec.name == name:
                return spec
        return None


def custom_name(handle: int | str) -> str:
    return f"{CUSTOM_PREFIX}{handle}"


def build_schema(object_type: str, raw_fields: Iterable[Mapping[str, Any]]) -> Schema:
    """The Schema of an object type from the items of its *_fields endpoint.

    Ticket fields include Zendesk's system fields (`removable: false`); those are described
    by SYSTEM_FIELDS instead. Inactive custom fields are left out: Zendesk hides them too.
    """
    if object_type not in SYSTEM_FIELDS:
        raise ValueError(f"unknown Zendesk object type {object_type!r}")
    custom: dict[str, CustomField] = {}
    for raw in raw_fields:
        if object_type == "tickets" and not raw.get("removable", True):
            continue
        if not raw.get("active", True):
            continue
        handle: int | str = raw["id"] if object_type == "tickets" else raw["key"]
        name = custom_name(handle)
        type_ = CUSTOM_TYPES.get(str(raw.get("type")), FieldType.STRING)
        options: tuple[FieldOption, ...] = ()
        if type_ in (FieldType.ENUM, FieldType.MULTI_ENUM):
            options = tuple(
                FieldOption(str(o["value"]), str(o.get("name") or o["value"]))
                for o in raw.get("custom_field_options") or ()
            )
        reference_to = None
        if type_ is FieldType.REFERENCE:
            reference_to = LOOKUP_TARGETS.get(str(raw.get("relationship_target_type")))
            if reference_to is None:  # a lookup to a custom object: an opaque id string
                type_ = FieldType.STRING
        spec = FieldSpec(
            name=name,
            label=str(raw.get("title") or raw.get("raw_title") or name),
            type=type_,
            # Unknown Zendesk types are shown but never written: we do not know their format.
            writable=str(raw.get("type")) in CUSTOM_TYPES,
            # Zendesk's `required` means "required for agents to solve", not on create.
            required=False,
            options=options,
            custom=True,
            reference_to=reference_to,
        )
        custom[name] = CustomField(handle, spec)
    specs = SYSTEM_FIELDS[object_type] + tuple(c.spec for c in custom.values())
    return Schema(object_type, specs, custom)


# -- values ----------------------------------------------------------------------------------


def parse_time(value: Any) -> datetime | None:
    """A Zendesk timestamp ("2024-05-01T10:00:00Z") as an aware datetime, or None."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _to_canonical(spec: FieldSpec, value: Any) -> JSON:
    if spec.type is FieldType.MULTI_ENUM:
        return [str(v) for v in value] if value else []
    if value is None or value == "":
        return False if spec.type is FieldType.BOOLEAN else None
    if spec.type in (FieldType.INTEGER, FieldType.NUMBER):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return str(value)  # not a number after all: pass it on rather than fail the read
        if spec.type is FieldType.INTEGER or ("." not in str(value) and number.is_integer()):
            return int(number)
        return number
    if spec.type is FieldType.BOOLEAN:
        return bool(value)
    if spec.type is FieldType.REFERENCE:
        return str(value)
    return str(value) if not isinstance(value, str) else value


def _to_zendesk(spec: FieldSpec, value: JSON) -> Any:
    """Canonical -> Zendesk, raising ValueError with a short reason for a wrong shape."""
    if value is None:
        return [] if spec.type is FieldType.MULTI_ENUM else None
    if spec.type is FieldType.MULTI_ENUM:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("expected a list of option values")
        return value
    if spec.type is FieldType.INTEGER:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("expected an integer")
        try:
            return int(value)
        except ValueError:
            raise ValueError("expected an integer") from None
    if spec.type is FieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("expected a number")
        try:
            return float(value) if isinstance(value, str) else value
        except ValueError:
            raise ValueError("expected a number") from None
    if spec.type is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if spec.type is FieldType.REFERENCE:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValueError("expected the numeric id of a record") from None
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _space_list(value: Any) -> str:
    return " ".join(str(v) for v in value or ())


# -- records ---------------------------------------------------------------------------------


def is_deleted(object_type: str, raw: Mapping[str, Any]) -> bool:
    """Tickets are tombstoned with status "deleted" in the export; users with active=false."""
    if object_type == "tickets":
        return raw.get("status") == "deleted"
    if object_type == "users":
        return raw.get("active") is False
    return raw.get("deleted_at") is not None


def to_record(object_type: str, raw: Mapping[str, Any], schema: Schema) -> Record:
    """A Record from one Zendesk ticket, user or organization."""
    fields: dict[str, JSON] = {}
    for spec in SYSTEM_FIELDS[object_type]:
        value = raw.get(spec.name)
        if spec.name in _SPACE_LISTS:
            fields[spec.name] = _space_list(value)
        elif spec.name in _REFERENCES:
            fields[spec.name] = None if value is None else str(value)
        elif spec.name == "status" and value == "deleted":
            fields[spec.name] = None  # a tombstone has no workflow status
        elif spec.type is FieldType.BOOLEAN:
            fields[spec.name] = bool(value)
        else:
            fields[spec.name] = value
    container = raw.get(CUSTOM_CONTAINER[object_type])
    if object_type == "tickets":
        values = {item["id"]: item.get("value") for item in container or ()}
    else:
        values = dict(container or {})
    for name, custom in schema.custom.items():
        fields[name] = _to_canonical(custom.spec, values.get(custom.handle))
    updated = raw.get("updated_at")
    return Record(
        id=str(raw["id"]),
        fields=fields,
        modified_at=parse_time(updated),
        version=str(updated) if updated else None,
        deleted=is_deleted(object_type, raw),
    )


def to_payload(
    object_type: str,
    values: Mapping[str, JSON],
    schema: Schema,
    *,
    creating: bool,
    record_id: str | None = None,
) -> dict[str, Any]:
    """The Zendesk JSON for a create or an update from canonical values.

    Raises RecordError naming every field that is unknown, read-only, or of the wrong shape,
    and, on create, every required field that is missing. Zendesk itself validates the rest
    (option values, closed tickets, duplicate emails) and reports per record.
    """
    problems: dict[str, str] = {}
    payload: dict[str, Any] = {}
    custom_values: dict[int | str, Any] = {}
    for name, value in values.items():
        spec = schema.spec(name)
        if spec is None:
            problems[name] = "unknown field"
            continue
        if not spec.writable:
            problems[name] = "read-only field"
            continue
        if name == "description":
            if creating:
                if not isinstance(value, str) or not value.strip():
                    problems[name] = "the description (first comment) cannot be blank"
                else:
                    payload["comment"] = {"body": value}
            else:
                problems[name] = (
                    "the description is the ticket's first comment and cannot be changed "
                    "after creation"
                )
            continue
        if name in _SPACE_LISTS:
            if value is not None and not isinstance(value, str):
                problems[name] = "expected a space-separated string"
            else:
                payload[name] = (value or "").split()
            continue
        try:
            converted = _to_zendesk(spec, value)
        except ValueError as exc:
            problems[name] = str(exc)
            continue
        if spec.custom:
            custom_values[schema.custom[name].handle] = converted
        else:
            payload[name] = converted
    if creating:
        for spec in schema.specs:
            if spec.required and values.get(spec.name) in (None, ""):
                problems.setdefault(spec.name, "required")
    if problems:
        listing = "; ".join(f"{k}: {v}" for k, v in problems.items())
        raise RecordError(
            f"invalid values: {listing}",
            record_id=record_id,
            fields=problems,
            system=SYSTEM,
        )
    if custom_values:
        if object_type == "tickets":
            payload["custom_fields"] = [{"id": k, "value": v} for k, v in custom_values.items()]
        else:
            payload[CUSTOM_CONTAINER[object_type]] = custom_values
    if record_id is not None:
        payload["id"] = int(record_id)
    return payload

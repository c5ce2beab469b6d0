"""Redmine issue JSON <-> Concord's canonical records and field specs.

Standard fields are keyed by name; custom fields by `cf_<id>` (Redmine's own name for them
in filters), so a mapping stays valid when someone renames a field in Redmine.

| Redmine                                   | key          | FieldType  | canonical value        |
| ----------------------------------------- | ------------ | ---------- | ---------------------- |
| subject                                   | subject      | STRING     | str                    |
| description (CRLF on the server)          | description  | TEXT       | str with "\\n"          |
| tracker / status / priority {"id","name"} | tracker, ... | ENUM       | the name               |
| assigned_to {"id","name"}                 | assignee     | USER       | email, else the user id |
| project {"id","name"}                     | project      | STRING     | the name (read-only)   |
| created_on / updated_on                   | ...          | DATETIME   | ISO 8601 UTC (read-only) |
| custom field string, link                 | cf_<id>      | STRING     | str                    |
| custom field text                         | cf_<id>      | TEXT       | str with "\\n"          |
| custom field int / float                  | cf_<id>      | INTEGER / NUMBER | int / float      |
| custom field date                         | cf_<id>      | DATE       | "YYYY-MM-DD"           |
| custom field bool ("1"/"0")               | cf_<id>      | BOOLEAN    | true / false           |
| custom field list (single / multiple)     | cf_<id>      | ENUM / MULTI_ENUM | value / list    |
| other formats (user, version, ...)        | cf_<id>      | STRING     | raw value (read-only)  |

Redmine answers every custom field value as text ("5", "1"), an empty value as null or "".
Without administrator rights the formats are unknown (GET /custom_fields.json is admin-only):
such fields are read and written as text (lists of text where Redmine says `multiple`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import JSON, FieldOption, FieldSpec, FieldType, Record
from connectors.errors import RecordError

CUSTOM_PREFIX = "cf_"
ENUMS = ("tracker", "status", "priority")
READ_ONLY = frozenset({"project", "created_on", "updated_on"})
_FORMATS = {
    "string": FieldType.STRING,
    "link": FieldType.STRING,
    "text": FieldType.TEXT,
    "int": FieldType.INTEGER,
    "float": FieldType.NUMBER,
    "date": FieldType.DATE,
    "bool": FieldType.BOOLEAN,
    "list": FieldType.ENUM,
}


@dataclass(frozen=True)
class CustomField:
    """What the connector knows of one issue custom field. `field_format` is None when the
    user may not read the definitions (not an administrator)."""

    id: int
    name: str
    field_format: str | None
    multiple: bool = False
    required: bool = False
    options: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{CUSTOM_PREFIX}{self.id}"

    @property
    def writable(self) -> bool:
        return self.field_format is None or self.field_format in _FORMATS

    def spec(self) -> FieldSpec:
        if self.field_format is None:
            kind = FieldType.MULTI_ENUM if self.multiple else FieldType.STRING
        else:
            kind = _FORMATS.get(self.field_format, FieldType.STRING)
            if kind is FieldType.ENUM and self.multiple:
                kind = FieldType.MULTI_ENUM
        return FieldSpec(
            name=self.key,
            label=self.name,
            type=kind,
            writable=self.writable,
            required=self.required,
            options=tuple(FieldOption(v, v) for v in self.options),
            custom=True,
        )

    def read(self, value: Any) -> JSON:
        """A custom field value as Redmine answers it -> the canonical value."""
        if isinstance(value, list):
            values = [str(v) for v in value if v not in (None, "")]
            return values if self.multiple or self.field_format is None else (values or [None])[0]
        if value in (None, ""):
            return [] if self.multiple else None
        text = str(value)
        try:
            if self.field_format == "int":
                return int(text)
            if self.field_format == "float":
                number = float(text)
                return int(number) if number.is_integer() else number
        except ValueError:
            return text
        if self.field_format == "bool":
            return text == "1"
        if self.field_format == "text" or self.field_format is None:
            return text_in(text)
        return [text] if self.multiple else text

    def write(self, value: JSON) -> str | list[str]:
        """A canonical value -> what Redmine takes in `custom_fields[].value`."""
        if value is None:
            return [] if self.multiple else ""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)


def text_in(value: str | None) -> str | None:
    """Redmine keeps text with CRLF line ends (Issue#description= converts them); Concord's
    text has "\\n"."""
    return None if value is None else value.replace("\r\n", "\n")


def timestamp(value: Any) -> datetime | None:
    """Redmine's "2026-11-23T17:00:03Z" -> an aware datetime (None if absent or malformed)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """The form Redmine answers and its `updated_on` filter takes: whole seconds, UTC, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def standard_specs(
    trackers: Iterable[str], statuses: Iterable[str], priorities: Iterable[str]
) -> list[FieldSpec]:
    def options(names: Iterable[str]) -> tuple[FieldOption, ...]:
        return tuple(FieldOption(n, n) for n in names)

    return [
        FieldSpec("subject", "Subject", FieldType.STRING, required=True),
        FieldSpec("description", "Description", FieldType.TEXT),
        FieldSpec("tracker", "Tracker", FieldType.ENUM, options=options(trackers)),
        FieldSpec("status", "Status", FieldType.ENUM, options=options(statuses)),
        FieldSpec("priority", "Priority", FieldType.ENUM, options=options(priorities)),
        FieldSpec("assignee", "Assignee", FieldType.USER),
        FieldSpec("project", "Project", FieldType.STRING, writable=False),
        FieldSpec("created_on", "Created", FieldType.DATETIME, writable=False),
        FieldSpec("updated_on", "Updated", FieldType.DATETIME, writable=False),
    ]


def issue_to_record(
    issue: Mapping[str, Any],
    custom: Mapping[int, CustomField],
    user_value: Callable[[Mapping[str, Any]], JSON],
) -> Record:
    """One issue of GET /issues.json or /issues/{id}.json as a Record. `user_value` turns
    an {"id", "name"} reference into the assignee's canonical value."""

    def name(key: str) -> str | None:
        ref = issue.get(key)
        return str(ref["name"]) if isinstance(ref, Mapping) and "name" in ref else None

    assigned = issue.get("assigned_to")
    updated = timestamp(issue.get("updated_on"))
    created = timestamp(issue.get("created_on"))
    fields: dict[str, JSON] = {
        "subject": issue.get("subject"),
        "description": text_in(issue.get("description")),
        "tracker": name("tracker"),
        "status": name("status"),
        "priority": name("priority"),
        "assignee": user_value(assigned) if isinstance(assigned, Mapping) else None,
        "project": name("project"),
        "created_on": created.isoformat() if created else None,
        "updated_on": updated.isoformat() if updated else None,
    }
    for item in issue.get("custom_fields") or []:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), int):
            continue
        known = custom.get(item["id"]) or CustomField(
            item["id"], str(item.get("name", "")), None, bool(item.get("multiple"))
        )
        fields[known.key] = known.read(item.get("value"))
    return Record(
        id=str(issue["id"]),
        fields=fields,
        modified_at=updated,
        version=issue.get("updated_on") if isinstance(issue.get("updated_on"), str) else None,
    )


@dataclass(frozen=True)
class Names:
    """Name -> id of the trackers, statuses and priorities (casefolded names)."""

    tracker: Mapping[str, int]
    status: Mapping[str, int]
    priority: Mapping[str, int]

    def id_of(self, field: str, value: JSON, record_id: str | None) -> int:
        table: Mapping[str, int] = getattr(self, field)
        found = table.get(str(value).casefold()) if value is not None else None
        if found is None:
            known = ", ".join(sorted(table)) or "none"
            raise RecordError(
                f"{field} {value!r} does not exist in Redmine (known: {known})",
                record_id=record_id,
                fields={field: f"no {field} named {value!r}"},
                system="Redmine",
            )
        return found


def encode_fields(
    values: Mapping[str, JSON],
    names: Names,
    custom: Mapping[str, CustomField],
    user_id: Callable[[str], int | None],
    *,
    record_id: str | None = None,
) -> dict[str, Any]:
    """Canonical values -> the body of POST/PUT /issues.json's "issue".

    Raises RecordError for a read-only or unknown field, an unknown tracker, status or
    priority name, or an assignee no Redmine user matches: before anything is sent.
    """
    out: dict[str, Any] = {}
    cf_values: list[dict[str, Any]] = []
    for key, value in values.items():
        if key in ("subject", "description"):
            out[key] = "" if value is None else str(value)
        elif key in ENUMS:
            out[f"{key}_id"] = names.id_of(key, value, record_id)
        elif key == "assignee":
            if value in (None, ""):
                out["assigned_to_id"] = ""
            else:
                found = user_id(str(value))
                if found is None:
                    raise RecordError(
                        f"no Redmine user matches assignee {value!r}",
                        record_id=record_id,
                        fields={"assignee": f"no user {value!r}"},
                        system="Redmine",
                    )
                out["assigned_to_id"] = found
        elif key in custom and custom[key].writable:
            cf_values.append({"id": custom[key].id, "value": custom[key].write(value)})
        else:
            why = "is read-only" if key in READ_ONLY or key in custom else "is not a field"
            raise RecordError(
                f"{key!r} {why} of Redmine issues",
                record_id=record_id,
                fields={key: why},
                system="Redmine",
            )
    if cf_values:
        out["custom_fields"] = cf_values
    return out

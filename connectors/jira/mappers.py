"""Jira issue JSON <-> Concord's canonical records and field specs.

Field keys are Jira's field ids ("summary", "priority", "customfield_10011"), so a mapping
stays valid when someone renames a field in Jira. Each field gets a codec from its schema:

| Jira schema                                   | FieldType   | canonical value              |
| --------------------------------------------- | ----------- | ---------------------------- |
| string (summary, textfield, url)              | STRING      | str                          |
| description, environment, textarea (ADF)      | TEXT        | plain text (see adf.py)      |
| number / float                                | NUMBER      | int or float                 |
| date / datepicker                             | DATE        | "YYYY-MM-DD"                 |
| datetime                                      | DATETIME    | ISO 8601 in UTC              |
| select, radiobuttons ({"value": ...})         | ENUM        | the option's value           |
| multiselect, multicheckboxes                  | MULTI_ENUM  | list of option values        |
| priority, issuetype, status, resolution       | ENUM        | the name                     |
| components, versions                          | MULTI_ENUM  | list of names                |
| labels                                        | MULTI_ENUM  | labels (free values)         |
| user (assignee, reporter, userpicker)         | USER        | email, else the accountId    |
| comment (read-only)                           | TEXT        | every comment, as text       |

Anything else is reported read-only, with a best-effort text value, so that it can be read
and mapped into the other system but is never written back in a shape Jira would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from connectors.base import JSON, FieldOption, FieldSpec, FieldType, Record
from connectors.errors import RecordError
from connectors.jira import adf

CUSTOM_PREFIX = "com.atlassian.jira.plugin.system.customfieldtypes:"
JIRA_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"

# Custom field type (the part after CUSTOM_PREFIX) -> codec name.
_CUSTOM_CODECS = {
    "textfield": "string",
    "url": "string",
    "textarea": "adf",
    "float": "number",
    "datepicker": "date",
    "datetime": "datetime",
    "select": "option",
    "radiobuttons": "option",
    "multiselect": "options",
    "multicheckboxes": "options",
    "userpicker": "user",
    "labels": "labels",
}
# System fields whose schema alone would be ambiguous.
_SYSTEM_CODECS = {
    "comment": "comments",
    "summary": "string",
    "description": "adf",
    "environment": "adf",
    "labels": "labels",
    "duedate": "date",
    "created": "datetime",
    "updated": "datetime",
    "resolutiondate": "datetime",
    "priority": "named",
    "issuetype": "named",
    "status": "named",
    "resolution": "named",
    "components": "named_list",
    "fixVersions": "named_list",
    "versions": "named_list",
    "assignee": "user",
    "reporter": "user",
}
_SCHEMA_CODECS = {
    "string": "string",
    "number": "number",
    "date": "date",
    "datetime": "datetime",
    "option": "option",
    "user": "user",
    "priority": "named",
    "issuetype": "named",
    "status": "named",
    "resolution": "named",
}
_ARRAY_CODECS = {
    "option": "options",
    "string": "labels",
    "component": "named_list",
    "version": "named_list",
}
_CODEC_TYPES = {
    "string": FieldType.STRING,
    "adf": FieldType.TEXT,
    "number": FieldType.NUMBER,
    "date": FieldType.DATE,
    "datetime": FieldType.DATETIME,
    "option": FieldType.ENUM,
    "options": FieldType.MULTI_ENUM,
    "named": FieldType.ENUM,
    "named_list": FieldType.MULTI_ENUM,
    "labels": FieldType.MULTI_ENUM,
    "user": FieldType.USER,
    "raw": FieldType.STRING,
    "comments": FieldType.TEXT,
}
# Never written as fields: identity, timestamps, and status (changed through transitions).
READ_ONLY = frozenset({"created", "updated", "resolutiondate", "resolution", "creator", "comment"})
# Fields the connector fills itself on create.
IMPLICIT_ON_CREATE = frozenset({"project"})
# System fields read even when the create screen does not show them.
ALWAYS_READ = (
    "status",
    "created",
    "updated",
    "assignee",
    "reporter",
    "labels",
    "priority",
    "comment",
)
KEY_FIELD = "key"


def codec_for(field_id: str, schema: Mapping[str, Any] | None) -> str:
    """The codec name for a field, from its id and its Jira schema (JsonTypeBean)."""
    schema = schema or {}
    custom = schema.get("custom")
    if isinstance(custom, str) and custom.startswith(CUSTOM_PREFIX):
        codec = _CUSTOM_CODECS.get(custom[len(CUSTOM_PREFIX) :])
        if codec:
            return codec
    if field_id in _SYSTEM_CODECS:
        return _SYSTEM_CODECS[field_id]
    kind = schema.get("type")
    if kind == "array":
        return _ARRAY_CODECS.get(str(schema.get("items")), "raw")
    return _SCHEMA_CODECS.get(str(kind), "raw")


@dataclass(frozen=True)
class JiraField:
    """A FieldSpec plus what the connector needs to read and write it."""

    spec: FieldSpec
    codec: str
    jql_name: str  # how JQL names it: "summary", "cf[10011]"

    @property
    def id(self) -> str:
        return self.spec.name


def jql_name(field_id: str) -> str:
    if field_id.startswith("customfield_"):
        return f"cf[{field_id.removeprefix('customfield_')}]"
    return field_id


def build_fields(
    all_fields: Iterable[Mapping[str, Any]],
    create_fields: Mapping[str, list[Mapping[str, Any]]],
    *,
    issue_types: Iterable[Mapping[str, Any]],
    statuses: Iterable[str],
    default_issue_type: str,
) -> list[JiraField]:
    """Field specs for one project's issues.

    `all_fields` is GET /rest/api/3/field; `create_fields` maps an issue type name to its
    create metadata (GET .../createmeta/{project}/issuetypes/{id}); `issue_types` the
    project's issue types; `statuses` the status names of the project's workflows.

    The set is every field some issue type's create screen offers, plus the system fields in
    ALWAYS_READ and the issue key. `required` is what creating an issue of
    `default_issue_type` requires (issuetype itself is filled from that default).
    """
    by_id = {str(f.get("id")): f for f in all_fields if f.get("id")}
    meta: dict[str, Mapping[str, Any]] = {}
    for fields in create_fields.values():
        for item in fields:
            meta.setdefault(str(item.get("fieldId") or item.get("key")), item)
    required = {
        str(item.get("fieldId") or item.get("key"))
        for item in create_fields.get(default_issue_type, [])
        if item.get("required") and not item.get("hasDefaultValue")
    }
    order = [fid for fid in meta if fid not in IMPLICIT_ON_CREATE]
    order += [fid for fid in ALWAYS_READ if fid not in meta and fid in by_id]
    issue_type_names = [str(t.get("name")) for t in issue_types if t.get("name")]
    out = [
        JiraField(
            FieldSpec(
                name=KEY_FIELD, label="Key", type=FieldType.STRING, writable=False, required=False
            ),
            "string",
            "key",
        )
    ]
    for fid in order:
        info = meta.get(fid) or by_id.get(fid) or {}
        schema = info.get("schema") or by_id.get(fid, {}).get("schema") or {}
        codec = codec_for(fid, schema)
        writable = codec != "raw" and fid not in READ_ONLY
        if fid in meta and fid != "status":
            writable = writable and "set" in (meta[fid].get("operations") or ["set"])
        elif fid not in meta and fid not in ("status", "assignee", "labels"):
            writable = False
        if fid == "status":
            options = _options(statuses)
        elif fid == "issuetype":
            options = _options(issue_type_names)
        else:
            options = _allowed_options(codec, meta.get(fid, {}).get("allowedValues"))
        out.append(
            JiraField(
                FieldSpec(
                    name=fid,
                    label=str(info.get("name") or by_id.get(fid, {}).get("name") or fid),
                    type=_CODEC_TYPES[codec],
                    writable=writable,
                    required=fid in required and fid != "issuetype",
                    options=options,
                    custom=fid.startswith("customfield_"),
                ),
                codec,
                jql_name(fid),
            )
        )
    return out


def _options(names: Iterable[str]) -> tuple[FieldOption, ...]:
    seen: dict[str, FieldOption] = {}
    for name in names:
        seen.setdefault(name, FieldOption(name, name))
    return tuple(seen.values())


def _allowed_options(codec: str, allowed: Any) -> tuple[FieldOption, ...]:
    if not isinstance(allowed, list):
        return ()
    names: list[str] = []
    for item in allowed:
        if not isinstance(item, dict):
            continue
        if codec in ("option", "options") and isinstance(item.get("value"), str):
            names.append(item["value"])
        elif isinstance(item.get("name"), str):
            names.append(item["name"])
    return _options(names)


# -- reading -------------------------------------------------------------------------------


def parse_datetime(value: str) -> datetime:
    """A Jira timestamp ("2024-01-08T18:51:04.489+0100") as an aware UTC datetime."""
    try:
        parsed = datetime.strptime(value, JIRA_DATETIME_FORMAT)
    except ValueError:
        parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """An aware datetime the way Jira writes it: "2024-01-08T17:51:04.489+0000"."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def canonical_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def decode(codec: str, raw: Any) -> JSON:
    """A Jira field value in canonical form (see the module docstring)."""
    if raw is None:
        return [] if codec in ("options", "named_list", "labels") else None
    if codec == "adf":
        return adf.adf_to_text(raw)
    if codec == "datetime":
        return canonical_datetime(parse_datetime(raw)) if isinstance(raw, str) else None
    if codec == "option":
        return raw.get("value") if isinstance(raw, dict) else raw
    if codec == "options":
        return [v.get("value") for v in raw if isinstance(v, dict)]
    if codec == "named":
        return raw.get("name") if isinstance(raw, dict) else raw
    if codec == "named_list":
        return [v.get("name") for v in raw if isinstance(v, dict)]
    if codec == "labels":
        return [str(v) for v in raw]
    if codec == "user":
        if not isinstance(raw, dict):
            return None
        return raw.get("emailAddress") or raw.get("accountId")
    if codec == "comments":
        return comments_text(raw)
    if codec == "raw":
        if isinstance(raw, str | int | float | bool):
            return raw
        if isinstance(raw, dict):
            for key in ("value", "name", "displayName", "key", "id"):
                if isinstance(raw.get(key), str):
                    return raw[key]
        return json.dumps(raw, sort_keys=True)
    return raw


def comments_text(page: Any) -> str | None:
    """The issue's comments (a PageOfComments) as plain text, oldest first, one block each:

    "Priya Raman, 2025-11-03 09:15 UTC:" on the first line, then the comment's text.
    """
    comments = page.get("comments") if isinstance(page, dict) else None
    if not isinstance(comments, list) or not comments:
        return None
    blocks = []
    for comment in comments:
        if not isinstance(comment, dict):
            continue
        author = (comment.get("author") or {}).get("displayName") or "Someone"
        created = comment.get("created")
        when = ""
        if isinstance(created, str):
            when = " " + parse_datetime(created).strftime("%Y-%m-%d %H:%M UTC")
        text = adf.adf_to_text(comment.get("body")) or ""
        blocks.append(f"{author},{when}:\n{text}".rstrip())
    return "\n\n".join(blocks) or None


def issue_to_record(issue: Mapping[str, Any], fields: Iterable[JiraField]) -> Record:
    """A canonical Record from an IssueBean. The id is Jira's numeric id (keys change on move)."""
    raw = issue.get("fields") or {}
    values: dict[str, JSON] = {}
    for field in fields:
        if field.id == KEY_FIELD:
            values[KEY_FIELD] = issue.get("key")
        elif field.id in raw:
            values[field.id] = decode(field.codec, raw[field.id])
    updated = raw.get("updated")
    return Record(
        id=str(issue["id"]),
        fields=values,
        modified_at=parse_datetime(updated) if isinstance(updated, str) else None,
        version=updated if isinstance(updated, str) else None,
    )


# -- writing -------------------------------------------------------------------------------

UserResolver = Callable[[str], str]


def encode_fields(
    values: Mapping[str, JSON],
    fields: Mapping[str, JiraField],
    resolve_user: UserResolver,
    *,
    record_id: str | None = None,
) -> dict[str, Any]:
    """Jira `fields` for a create or edit. `status` must already be taken out (transitions).

    Raises RecordError naming the field for an unknown or read-only field or a value of the
    wrong shape; Jira itself judges option values and required fields.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            raise RecordError(
                f"unknown field {name!r}", record_id=record_id, fields={name: "unknown field"}
            )
        if not field.spec.writable:
            raise RecordError(
                f"field {name!r} is read-only in Jira",
                record_id=record_id,
                fields={name: "read-only"},
            )
        try:
            out[name] = encode(field.codec, value, resolve_user)
        except (TypeError, ValueError) as exc:
            raise RecordError(
                f"field {name!r}: {exc}", record_id=record_id, fields={name: str(exc)}
            ) from None
    return out


def encode(codec: str, value: JSON, resolve_user: UserResolver) -> Any:
    """The Jira shape of one canonical value. Raises TypeError/ValueError for a bad shape."""
    if codec in ("options", "named_list", "labels"):
        items = _as_list(value)
        if codec == "options":
            return [{"value": v} for v in items]
        if codec == "named_list":
            return [{"name": v} for v in items]
        return [v.replace(" ", "_") for v in items]  # Jira labels cannot contain spaces
    if value is None:
        return None
    if codec == "string":
        return _as_str(value)
    if codec == "adf":
        return adf.text_to_adf(_as_str(value))
    if codec == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str):
                return float(value)
            raise TypeError(f"expected a number, got {type(value).__name__}")
        return value
    if codec == "date":
        return date.fromisoformat(_as_str(value)).isoformat()
    if codec == "datetime":
        parsed = datetime.fromisoformat(_as_str(value))
        if parsed.tzinfo is None:
            raise ValueError(f"datetime {value!r} has no time zone")
        return format_datetime(parsed)
    if codec == "option":
        return {"value": _as_str(value)}
    if codec == "named":
        return {"name": _as_str(value)}
    if codec == "user":
        return {"accountId": resolve_user(_as_str(value))}
    raise TypeError("this field cannot be written")


def _as_str(value: JSON) -> str:
    if isinstance(value, (bool, dict | list)):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return str(value)


def _as_list(value: JSON) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return [_as_str(v) for v in value]


def jql_string(value: str) -> str:
    """A JQL string literal: double quotes, with backslash and quote escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

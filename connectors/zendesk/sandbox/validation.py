"""How the Zendesk sandbox builds and checks tickets, users and organizations.

`new_record(table, type, data, now)` validates a create and returns the record's JSON;
`apply_changes(table, type, record, data)` validates an update and applies it to a copy of
the record. Both raise ValidationError with Zendesk's details (field, description, error
code: "InvalidValue", "BlankValue", "DuplicateValue", ...), which the routes answer as
422 RecordInvalid. References (requester, assignee, organization) must name live records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from connectors.sandbox.core import Problem, ValidationError
from connectors.sandbox.records import RecordTable
from connectors.zendesk.sandbox.schema import (
    ADMIN_ID,
    EMAIL,
    PRIORITIES,
    ROLES,
    STATUSES,
    TICKET_TYPES,
    custom_values,
    iso,
)

TICKET_ATTRS = (
    "subject", "status", "priority", "type", "requester_id", "assignee_id", "organization_id",
    "tags", "external_id", "due_at",
)  # fmt: skip
USER_ATTRS = (
    "name", "email", "phone", "role", "organization_id", "external_id", "tags", "details",
    "notes", "time_zone", "locale", "verified", "suspended",
)  # fmt: skip
ORGANIZATION_ATTRS = (
    "name", "domain_names", "details", "notes", "external_id", "shared_tickets",
    "shared_comments", "tags",
)  # fmt: skip


def new_record(
    table: RecordTable, object_type: str, data: Any, now: float, *, record_id: int = 0
) -> dict[str, Any]:
    """A new record's JSON (not stored; `id` is `record_id`). Raises ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError(Problem("base", "must be an object", "InvalidValue"))
    problems: list[Problem] = []
    if object_type == "tickets":
        record = _blank_ticket(data, now, problems)
    elif object_type == "users":
        record = _blank_user(now, record_id)
        if not isinstance(data.get("name"), str) or not data["name"].strip():
            problems.append(
                Problem("name", "Name: is too short (minimum one character)", "ValueTooShort")
            )
    else:
        record = _blank_organization(now)
        if not isinstance(data.get("name"), str) or not data["name"].strip():
            problems.append(Problem("name", "Name: cannot be blank", "BlankValue"))
    _changes(table, object_type, record, data, problems, creating=True)
    if problems:
        raise ValidationError(*problems)
    return record


def apply_changes(
    table: RecordTable, object_type: str, record: Mapping[str, Any], data: Any
) -> dict[str, Any]:
    """The record with an update applied (a copy). Raises ValidationError."""
    if not isinstance(data, dict):
        raise ValidationError(Problem("base", "must be an object", "InvalidValue"))
    if object_type == "tickets" and record["status"] == "closed":
        raise ValidationError(
            Problem("status", "Status: closed prevents ticket update", "ClosedTicket")
        )
    updated = dict(record)
    problems: list[Problem] = []
    _changes(table, object_type, updated, data, problems, creating=False)
    if problems:
        raise ValidationError(*problems)
    return updated


def _changes(
    table: RecordTable,
    object_type: str,
    record: dict[str, Any],
    data: Mapping[str, Any],
    problems: list[Problem],
    *,
    creating: bool,
) -> None:
    if object_type == "tickets":
        _ticket_changes(table, record, data, problems, creating=creating)
    elif object_type == "users":
        _user_changes(table, record, data, problems)
    else:
        _organization_changes(table, record, data, problems)


# -- tickets ---------------------------------------------------------------------------------


def _blank_ticket(data: Mapping[str, Any], now: float, problems: list[Problem]) -> dict[str, Any]:
    comment = data.get("comment")
    body = comment.get("body") if isinstance(comment, dict) else None
    if not (isinstance(body, str) and body.strip()) and isinstance(comment, dict):
        markup = comment.get("html_body")
        body = re.sub(r"<[^>]+>", " ", markup).strip() if isinstance(markup, str) else None
    if not isinstance(body, str) or not body.strip():
        problems.append(Problem("description", "Description: cannot be blank", "BlankValue"))
    return {
        "id": 0,
        "external_id": None,
        "type": None,
        "subject": "",
        "description": body if isinstance(body, str) else "",
        "priority": None,
        "status": "new" if data.get("assignee_id") is None else "open",
        "requester_id": ADMIN_ID,
        "submitter_id": ADMIN_ID,
        "assignee_id": None,
        "organization_id": None,
        "group_id": None,
        "tags": [],
        "due_at": None,
        "is_public": True,
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        "created_at": iso(now),
        "updated_at": iso(now),
    }


def _ticket_changes(
    table: RecordTable,
    record: dict[str, Any],
    data: Mapping[str, Any],
    problems: list[Problem],
    *,
    creating: bool,
) -> None:
    _check_enum(problems, data, "status", STATUSES, "Status", nullable=False)
    _check_enum(problems, data, "priority", PRIORITIES, "Priority")
    _check_enum(problems, data, "type", TICKET_TYPES, "Type")
    _check_ref(table, problems, data, "requester_id", "users", "Requester")
    _check_ref(table, problems, data, "assignee_id", "users", "Assignee", agents_only=True)
    _check_ref(table, problems, data, "organization_id", "organizations", "Organization")
    if "subject" in data and data["subject"] is not None and not isinstance(data["subject"], str):
        problems.append(Problem("subject", "Subject: must be a string", "InvalidValue"))
    if "due_at" in data and data["due_at"] is not None:
        try:
            datetime.fromisoformat(str(data["due_at"]).replace("Z", "+00:00"))
        except ValueError:
            problems.append(Problem("due_at", "Due at: is not a valid time", "InvalidValue"))
    if problems:
        return
    custom = custom_values(
        "tickets", data.get("custom_fields"), record.get("custom_fields"), problems
    )
    if problems:
        return
    _apply_common(record, data, problems, TICKET_ATTRS)
    record["custom_fields"] = custom
    record["subject"] = record.get("subject") or ""
    if record["status"] == "new" and record.get("assignee_id") and not creating:
        record["status"] = "open"  # assigning a new ticket opens it, as Zendesk does
    if record.get("due_at"):
        due = datetime.fromisoformat(str(record["due_at"]).replace("Z", "+00:00"))
        record["due_at"] = iso(due.timestamp())


# -- users -----------------------------------------------------------------------------------


def _blank_user(now: float, record_id: int) -> dict[str, Any]:
    return {
        "id": record_id,
        "name": "",
        "email": None,
        "phone": None,
        "role": "end-user",
        "organization_id": None,
        "external_id": None,
        "tags": [],
        "details": "",
        "notes": "",
        "time_zone": "UTC",
        "locale": "en-US",
        "verified": False,
        "suspended": False,
        "active": True,
        "created_at": iso(now),
        "updated_at": iso(now),
    }


def _user_changes(
    table: RecordTable, record: dict[str, Any], data: Mapping[str, Any], problems: list[Problem]
) -> None:
    _check_enum(problems, data, "role", ROLES, "Role", nullable=False)
    _check_ref(table, problems, data, "organization_id", "organizations", "Organization")
    if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
        problems.append(
            Problem("name", "Name: is too short (minimum one character)", "ValueTooShort")
        )
    email = data.get("email")
    if email is not None:
        if not isinstance(email, str) or not EMAIL.match(email):
            problems.append(
                Problem(
                    "email", f"Email: {str(email)[:60]} is not properly formatted", "InvalidFormat"
                )
            )
        else:
            owner = table.find("users", email.lower())
            if owner is not None and owner.id != record["id"]:
                problems.append(
                    Problem(
                        "email",
                        f"Email: {email} is already being used by another user",
                        "DuplicateValue",
                    )
                )
    custom = custom_values("users", data.get("user_fields"), record.get("user_fields"), problems)
    if problems:
        return
    _apply_common(record, data, problems, USER_ATTRS)
    if record.get("email"):
        record["email"] = record["email"].lower()
    record["user_fields"] = custom


# -- organizations ---------------------------------------------------------------------------


def _blank_organization(now: float) -> dict[str, Any]:
    return {
        "id": 0,
        "name": "",
        "domain_names": [],
        "details": "",
        "notes": "",
        "external_id": None,
        "group_id": None,
        "shared_tickets": False,
        "shared_comments": False,
        "tags": [],
        "created_at": iso(now),
        "updated_at": iso(now),
    }


def _organization_changes(
    table: RecordTable, record: dict[str, Any], data: Mapping[str, Any], problems: list[Problem]
) -> None:
    name = data.get("name")
    if "name" in data and (not isinstance(name, str) or not name.strip()):
        problems.append(Problem("name", "Name: cannot be blank", "BlankValue"))
    elif isinstance(name, str):
        for other in table.rows("organizations"):
            if other.id != record["id"] and other.data["name"].lower() == name.lower():
                problems.append(Problem("name", "Name: has already been taken", "DuplicateValue"))
                break
    custom = custom_values(
        "organizations",
        data.get("organization_fields"),
        record.get("organization_fields"),
        problems,
    )
    if problems:
        return
    _apply_common(record, data, problems, ORGANIZATION_ATTRS)
    record["organization_fields"] = custom


# -- shared checks ---------------------------------------------------------------------------


def _check_enum(
    problems: list[Problem],
    data: Mapping[str, Any],
    name: str,
    allowed: Iterable[str],
    label: str,
    *,
    nullable: bool = True,
) -> None:
    if name in data:
        value = data[name]
        if (value is None and not nullable) or (value is not None and value not in allowed):
            problems.append(Problem(name, f"{label}: {value} is not valid", "InvalidValue"))


def _check_ref(
    table: RecordTable,
    problems: list[Problem],
    data: Mapping[str, Any],
    name: str,
    object_type: str,
    label: str,
    *,
    agents_only: bool = False,
) -> None:
    value = data.get(name)
    if value is None:
        return
    target = (
        table.get(object_type, value)
        if isinstance(value, int) and not isinstance(value, bool)
        else None
    )
    if target is None or (agents_only and target.data.get("role") not in ("agent", "admin")):
        problems.append(Problem(name, f"{label}: is invalid", "InvalidValue"))


def _apply_common(
    record: dict[str, Any], data: Mapping[str, Any], problems: list[Problem], attrs: Iterable[str]
) -> None:
    for name in attrs:
        if name not in data:
            continue
        value = data[name]
        if name in ("tags", "domain_names"):
            if value is None:
                value = []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(Problem(name, f"{name}: must be a list of strings", "InvalidValue"))
                continue
            # Zendesk lower-cases tags and drops duplicates, keeping the first order.
            value = list(dict.fromkeys(v.lower() if name == "tags" else v for v in value))
        elif name in ("verified", "suspended", "shared_tickets", "shared_comments"):
            if not isinstance(value, bool):
                problems.append(Problem(name, f"{name}: must be true or false", "InvalidValue"))
                continue
        elif name in ("requester_id", "assignee_id", "organization_id"):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                problems.append(Problem(name, f"{name}: must be an id", "InvalidValue"))
                continue
        elif value is not None and not isinstance(value, str):
            problems.append(Problem(name, f"{name}: must be a string", "InvalidValue"))
            continue
        record[name] = value

"""Zendesk Support's schema as the sandbox emulates it: object types, statuses and roles,
the account's ticket, user and organization fields, and how custom values are stored."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import Problem

ADMIN_EMAIL = "owner@concord-sandbox.example"
API_TOKEN = "zd-sandbox-api-token-6f1c2b"  # noqa: S105 - the sandbox's published test token
OAUTH_TOKEN = "zd-sandbox-oauth-token-93ad40"  # noqa: S105 - likewise
ADMIN_ID = 360_000_000_001
USER_ID_BASE = 372_000_000_000
ORG_ID_BASE = 361_000_000_000
MAX_MANY = 100
EXPORT_MAX_PAGE = 1000
SEARCH_MAX_RESULTS = 1000

TYPES = ("tickets", "users", "organizations")
SINGULAR = {"tickets": "ticket", "users": "user", "organizations": "organization"}
PLURAL = {v: k for k, v in SINGULAR.items()}

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TICKET_TYPES = ("problem", "incident", "question", "task")
ROLES = ("end-user", "agent", "admin")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _option(value: str, name: str, option_id: int) -> dict[str, Any]:
    return {"id": option_id, "name": name, "raw_name": name, "value": value, "default": False}


def _ticket_field(
    field_id: int,
    type_: str,
    title: str,
    *,
    options: Iterable[tuple[str, str]] = (),
    removable: bool = True,
    active: bool = True,
) -> dict[str, Any]:
    return {
        "id": field_id,
        "type": type_,
        "title": title,
        "raw_title": title,
        "description": "",
        "active": active,
        "required": False,
        "removable": removable,
        "visible_in_portal": removable,
        "editable_in_portal": False,
        "custom_field_options": [
            _option(v, n, field_id * 100 + i) for i, (v, n) in enumerate(options, 1)
        ],
        "created_at": "2023-01-09T09:00:00Z",
        "updated_at": "2023-01-09T09:00:00Z",
    }


def _keyed_field(
    field_id: int, key: str, type_: str, title: str, options: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    return {
        "id": field_id,
        "key": key,
        "type": type_,
        "title": title,
        "raw_title": title,
        "description": "",
        "active": True,
        "system": False,
        "custom_field_options": [
            _option(v, n, field_id * 100 + i) for i, (v, n) in enumerate(options, 1)
        ],
        "created_at": "2023-01-09T09:00:00Z",
        "updated_at": "2023-01-09T09:00:00Z",
    }


PRODUCT_FIELD = 360_001
AFFECTED_USERS_FIELD = 360_002
REFUND_FIELD = 360_003
ESCALATED_FIELD = 360_004
FOLLOW_UP_FIELD = 360_005
PLATFORMS_FIELD = 360_006

TICKET_FIELDS: tuple[dict[str, Any], ...] = (
    _ticket_field(100_001, "subject", "Subject", removable=False),
    _ticket_field(100_002, "description", "Description", removable=False),
    _ticket_field(100_003, "status", "Status", removable=False),
    _ticket_field(100_004, "tickettype", "Type", removable=False),
    _ticket_field(100_005, "priority", "Priority", removable=False),
    _ticket_field(100_006, "group", "Group", removable=False),
    _ticket_field(100_007, "assignee", "Assignee", removable=False),
    _ticket_field(
        PRODUCT_FIELD,
        "tagger",
        "Product area",
        options=[
            ("product_billing", "Billing"),
            ("product_mobile", "Mobile app"),
            ("product_api", "API"),
            ("product_reports", "Reports"),
            ("product_sso", "Single sign-on"),
        ],
    ),
    _ticket_field(AFFECTED_USERS_FIELD, "integer", "Affected users"),
    _ticket_field(REFUND_FIELD, "decimal", "Refund amount"),
    _ticket_field(ESCALATED_FIELD, "checkbox", "Escalated"),
    _ticket_field(FOLLOW_UP_FIELD, "date", "Follow-up date"),
    _ticket_field(
        PLATFORMS_FIELD,
        "multiselect",
        "Platforms",
        options=[("platform_web", "Web"), ("platform_ios", "iOS"), ("platform_android", "Android")],
    ),
    _ticket_field(360_007, "text", "Order number"),
    _ticket_field(360_008, "textarea", "Internal summary"),
    _ticket_field(360_009, "text", "Legacy code", active=False),
)
USER_FIELDS: tuple[dict[str, Any], ...] = (
    _keyed_field(
        370_001,
        "plan",
        "dropdown",
        "Plan",
        [("plan_free", "Free"), ("plan_team", "Team"), ("plan_enterprise", "Enterprise")],
    ),
    _keyed_field(370_002, "seats", "integer", "Seats"),
    _keyed_field(370_003, "vip", "checkbox", "VIP"),
    _keyed_field(370_004, "customer_since", "date", "Customer since"),
)
ORGANIZATION_FIELDS: tuple[dict[str, Any], ...] = (
    _keyed_field(
        380_001,
        "account_tier",
        "dropdown",
        "Account tier",
        [("tier_bronze", "Bronze"), ("tier_silver", "Silver"), ("tier_gold", "Gold")],
    ),
    _keyed_field(380_002, "region", "text", "Region"),
    _keyed_field(380_003, "contract_value", "decimal", "Contract value"),
)
FIELD_DEFINITIONS = {
    "tickets": TICKET_FIELDS,
    "users": USER_FIELDS,
    "organizations": ORGANIZATION_FIELDS,
}

# Where user and organization custom values live (tickets: `custom_fields`, a list).
CUSTOM_CONTAINER = {"users": "user_fields", "organizations": "organization_fields"}


def custom_definitions(object_type: str) -> dict[Any, dict[str, Any]]:
    """The active custom fields of a type, by id (tickets) or key (users, organizations)."""
    key = "id" if object_type == "tickets" else "key"
    return {
        f[key]: f
        for f in FIELD_DEFINITIONS[object_type]
        if f["active"] and f.get("removable", True)
    }


def custom_value(
    definition: Mapping[str, Any], value: Any, problems: list[Problem], label: str
) -> Any:
    """A custom value as Zendesk stores it: numbers as strings, tags for options. A value
    the field refuses adds a problem under `label` and gives None."""
    kind = definition["type"]
    if value is None or value == "" or value == []:
        return [] if kind == "multiselect" else (False if kind == "checkbox" else None)
    options = {o["value"] for o in definition.get("custom_field_options", ())}
    try:
        if kind == "integer":
            if isinstance(value, bool) or int(str(value)) != float(str(value)):
                raise ValueError
            return str(int(str(value)))
        if kind == "decimal":
            if isinstance(value, bool):
                raise ValueError
            number = float(str(value))
            return (
                str(int(number)) if number.is_integer() and "." not in str(value) else repr(number)
            )
        if kind == "checkbox":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "date":
            if not isinstance(value, str) or not DATE.match(value):
                raise ValueError
            datetime.strptime(value, "%Y-%m-%d")
            return value
        if kind in ("tagger", "dropdown"):
            if value not in options:
                raise ValueError
            return value
        if kind == "multiselect":
            if not isinstance(value, list) or not set(value) <= options:
                raise ValueError
            return list(value)
        if not isinstance(value, str):
            raise ValueError
        return value
    except ValueError:
        message = f"{definition['title']}: {str(value)[:60]} is not a valid value"
        problems.append(Problem(label, message, "InvalidValue"))
        return None


def custom_values(object_type: str, given: Any, current: Any, problems: list[Problem]) -> Any:
    """The record's custom values after applying `given` to `current`: every active field
    listed (tickets: [{id, value}]; users and organizations: {key: value})."""
    defs = custom_definitions(object_type)
    if object_type == "tickets":
        values = {item["id"]: item["value"] for item in current or ()}
        if given is not None:
            if not isinstance(given, list) or not all(
                isinstance(i, dict) and "id" in i for i in given
            ):
                problems.append(
                    Problem(
                        "custom_fields",
                        "Custom fields: must be a list of {id, value}",
                        "InvalidValue",
                    )
                )
                given = []
            for item in given:
                definition = defs.get(item["id"])
                if definition is None:
                    continue  # Zendesk ignores values for unknown or inactive fields
                values[item["id"]] = custom_value(
                    definition, item.get("value"), problems, "custom_fields"
                )
        return [{"id": fid, "value": values.get(fid)} for fid in defs]
    values = dict(current or {})
    if given is not None:
        if not isinstance(given, dict):
            problems.append(
                Problem(CUSTOM_CONTAINER[object_type], "must be an object", "InvalidValue")
            )
            given = {}
        for key, value in given.items():
            definition = defs.get(key)
            if definition is not None:
                values[key] = custom_value(definition, value, problems, key)
    return {key: values.get(key) for key in defs}

"""A stateful emulator of the Zendesk Support API, served under /zendesk by connectors.sandbox.

What it reproduces, each from Zendesk's public reference (named per endpoint below):

- Auth: Basic `{email}/token:{api_token}` for an active agent or admin, or `Bearer {oauth}`;
  anything else answers 401 {"error": "Couldn't authenticate you"}.
- Tickets, users and organizations with Zendesk's JSON shapes, custom ticket fields as
  `custom_fields: [{id, value}]` (every active field listed, numbers answered as strings),
  user and organization fields as `user_fields` / `organization_fields` maps.
- Validation as 422 {"error": "RecordInvalid", "description": "Record validation errors",
  "details": {field: [{"description", "error"}]}}; closed tickets refuse updates.
- The cursor-based incremental exports of tickets and users and the time-based export of
  organizations, with the export lag (items changed in the last minute are held back and a
  `start_time` within it is refused with Zendesk's 422 "Too recent start_time") and the
  limit of 10 export requests per minute (429 with Retry-After).
- `*_many` writes as background jobs with per-item results in /api/v2/job_statuses/{id};
  deleted tickets kept as `status: "deleted"` tombstones that only the export shows.
- Event-subscription webhooks (`zen:event-type:ticket.created`...), one delivery per event,
  signed as connectors.zendesk.webhooks describes.

Switches (PUT /_sandbox/settings {"zendesk": {...}}): `export_lag_seconds` (default 60),
`export_rate_limit` ([requests, window seconds], default [10, 60], applied to rate windows
created afterwards: every seed/reset starts new ones), `job_polls` (polls that still see a
job "working", default 1). A reset (and so every seed) restores these defaults.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shlex
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from connectors.sandbox.contract import ContractCase
from connectors.sandbox.core import (
    JSON,
    Delivery,
    HttpError,
    RateLimit,
    Request,
    Response,
    VendorSandbox,
    WebhookTarget,
    route,
)
from connectors.sandbox.data import FakeData
from connectors.zendesk import webhooks

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
_SINGULAR = {"tickets": "ticket", "users": "user", "organizations": "organization"}
_PLURAL = {v: k for k, v in _SINGULAR.items()}

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TICKET_TYPES = ("problem", "incident", "question", "task")
ROLES = ("end-user", "agent", "admin")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


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


def zendesk_error(status: int, error: str, description: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"error": error, "description": description}
    if details is not None:
        body["details"] = details
    return Response.json(status, body)


class Invalid(Exception):
    """A record failed validation; `details` is Zendesk's details map."""

    def __init__(self, details: dict[str, list[dict[str, str]]]) -> None:
        super().__init__(details)
        self.details = details

    def summary(self) -> str:
        return "; ".join(item["description"] for items in self.details.values() for item in items)


def _problem(details: dict[str, list[dict[str, str]]], field: str, text: str, error: str) -> None:
    details.setdefault(field, []).append({"description": text, "error": error})


class ZendeskSandbox(VendorSandbox):
    kind = "zendesk"
    # Enterprise plan: 700 requests a minute for the account; incremental exports: 10 a
    # minute (https://developer.zendesk.com/api-reference/introduction/rate-limits/).
    rate_limits = {
        "account": RateLimit(700, 60.0),
        "incremental": RateLimit(10, 60.0),
    }
    default_limits = ("account",)

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.reset()

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """An empty account with its owner, and the switches back at Zendesk's values."""
        now = self.context.now()
        self.export_lag_seconds = 60.0
        self.job_polls = 1
        self.rate_limits = dict(type(self).rate_limits)
        self.records: dict[str, dict[int, dict[str, Any]]] = {t: {} for t in TYPES}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_counter = 0
        self.seq = 0
        self.next_ticket_id = 1
        self.next_user_id = USER_ID_BASE + 1
        self.next_org_id = ORG_ID_BASE + 1
        self.api_tokens = [API_TOKEN]
        self.oauth_tokens = [OAUTH_TOKEN]
        # The account owner always exists: the credentials above belong to them.
        owner = self._new_user(
            {"name": "Sandbox Owner", "email": ADMIN_EMAIL, "role": "admin", "verified": True},
            now - 400 * 86400,
            record_id=ADMIN_ID,
        )
        self._store("users", owner, now - 400 * 86400)

    def dump(self) -> JSON:
        return {
            "records": {t: list(rs.values()) for t, rs in self.records.items()},
            "jobs": self.jobs,
            "seq": self.seq,
            "next": [self.next_ticket_id, self.next_user_id, self.next_org_id, self.job_counter],
            "settings": self.settings(),
        }

    def load(self, state: JSON) -> None:
        self.records = {t: {r["id"]: r for r in state["records"][t]} for t in TYPES}
        self.jobs = state["jobs"]
        self.seq = state["seq"]
        self.next_ticket_id, self.next_user_id, self.next_org_id, self.job_counter = state["next"]
        self.configure(state.get("settings", {}))

    def settings(self) -> dict[str, JSON]:
        limit = self.rate_limits["incremental"]
        return {
            "export_lag_seconds": self.export_lag_seconds,
            "export_rate_limit": [limit.requests, limit.window],
            "job_polls": self.job_polls,
        }

    def configure(self, values: Mapping[str, JSON]) -> None:
        from connectors.sandbox.core import BadRequest

        unknown = sorted(set(values) - {"export_lag_seconds", "export_rate_limit", "job_polls"})
        if unknown:
            raise BadRequest(f"zendesk has no settings {', '.join(unknown)}")
        if "export_lag_seconds" in values:
            lag = values["export_lag_seconds"]
            if not isinstance(lag, int | float) or lag < 0:
                raise BadRequest("export_lag_seconds must be a non-negative number")
            self.export_lag_seconds = float(lag)
        if "export_rate_limit" in values:
            pair = values["export_rate_limit"]
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not isinstance(pair[0], int)
                or not isinstance(pair[1], int | float)
                or pair[0] < 1
                or pair[1] <= 0
            ):
                raise BadRequest("export_rate_limit must be [requests, window seconds]")
            self.rate_limits["incremental"] = RateLimit(pair[0], float(pair[1]))
        if "job_polls" in values:
            polls = values["job_polls"]
            if not isinstance(polls, int) or polls < 0:
                raise BadRequest("job_polls must be a non-negative integer")
            self.job_polls = polls

    def _store(self, object_type: str, record: dict[str, Any], ts: float) -> None:
        """Save a record as changed at `ts`: it moves to the end of the export stream."""
        self.seq += 1
        record["_seq"] = self.seq
        record["_ts"] = ts
        record["updated_at"] = iso(ts)
        record.setdefault("url", self._url(f"/api/v2/{object_type}/{record['id']}.json"))
        self.records[object_type][record["id"]] = record

    @staticmethod
    def public(record: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_")}

    def _url(self, path: str) -> str:
        return f"https://concord-sandbox.zendesk.com{path}"

    # -- seed ------------------------------------------------------------------------------

    def seed(self, seed: int, counts: Mapping[str, int] | None = None) -> None:
        """Organizations, users (a tenth agents) and tickets over the last three months.

        `counts` keys: organizations (12), users (40), tickets (120), and among the tickets
        closed_tickets (15%) and deleted_tickets (one in 40).
        """
        self.reset()
        counts = {"organizations": 12, "users": 40, "tickets": 120, **(counts or {})}
        fake = FakeData(seed)
        now = self.context.now()
        horizon = now - 90 * 86400  # three months of history, all older than the export lag
        latest = now - 3600
        org_ids: list[int] = []
        names: set[str] = set()
        for n in range(counts["organizations"]):
            name, domain = fake.company()
            if name.lower() in names:
                name = f"{name} ({n + 1})"  # Zendesk keeps organization names unique
            names.add(name.lower())
            created = fake.timestamp(horizon, latest)
            org = self._seed_record(
                "organizations",
                self._new_org(
                    {
                        "name": name,
                        "domain_names": [domain],
                        "details": f"{fake.city()[0]} office",
                        "tags": [fake.choice(("customer", "partner", "prospect"))],
                        "organization_fields": {
                            "account_tier": fake.choice(
                                ("tier_bronze", "tier_silver", "tier_gold")
                            ),
                            "region": fake.choice(("EMEA", "AMER", "APAC")),
                            "contract_value": str(fake.amount(1000, 90000)),
                        },
                    },
                    created,
                ),
                created,
                fake.timestamp(created, latest),
            )
            org_ids.append(org["id"])
        agents: list[int] = [ADMIN_ID]
        end_users: list[tuple[int, int | None]] = []
        total_users = counts["users"]
        for n in range(total_users):
            first, last = fake.person()
            role = "agent" if n < max(1, total_users // 10) else "end-user"
            org_id = fake.choice(org_ids) if org_ids and role == "end-user" else None
            domain = "concord-sandbox.example" if role == "agent" else "customer.example"
            created = fake.timestamp(horizon, latest)
            user = self._seed_record(
                "users",
                self._new_user(
                    {
                        "name": f"{first} {last}",
                        "email": fake.email(first, last, domain, unique=n + 1),
                        "phone": fake.phone(),
                        "role": role,
                        "organization_id": org_id,
                        "verified": True,
                        "user_fields": {
                            "plan": fake.choice(("plan_free", "plan_team", "plan_enterprise")),
                            "seats": str(fake.random.randrange(1, 250)),
                            "vip": fake.random.random() < 0.15,
                            "customer_since": iso(created)[:10],
                        },
                    },
                    created,
                ),
                created,
                fake.timestamp(created, latest),
            )
            if role == "agent":
                agents.append(user["id"])
            else:
                end_users.append((user["id"], org_id))
        statuses = (
            ("new", 5),
            ("open", 30),
            ("pending", 15),
            ("hold", 5),
            ("solved", 45),
        )
        products = (
            "product_billing",
            "product_mobile",
            "product_api",
            "product_reports",
            "product_sso",
        )
        tickets: list[dict[str, Any]] = []
        closed_tickets = counts.get("closed_tickets", counts["tickets"] * 15 // 100)
        deleted_tickets = counts.get("deleted_tickets", counts["tickets"] // 40)
        for _ in range(counts["tickets"]):
            requester, org_id = fake.choice(end_users) if end_users else (ADMIN_ID, None)
            status = fake.weighted(statuses)
            created = fake.timestamp(horizon, latest)
            product = fake.choice(products)
            ticket = self._seed_record(
                "tickets",
                self._new_ticket(
                    {
                        "subject": fake.ticket_subject(),
                        "comment": {"body": fake.paragraph()},
                        "status": status,
                        "priority": fake.weighted(
                            (("low", 20), ("normal", 50), ("high", 20), ("urgent", 10))
                        ),
                        "type": fake.choice(TICKET_TYPES),
                        "requester_id": requester,
                        "assignee_id": None if status == "new" else fake.choice(agents),
                        "organization_id": org_id,
                        "tags": [product.removeprefix("product_")],
                        "custom_fields": [
                            {"id": PRODUCT_FIELD, "value": product},
                            {"id": AFFECTED_USERS_FIELD, "value": fake.random.randrange(1, 40)},
                            {"id": ESCALATED_FIELD, "value": fake.random.random() < 0.1},
                        ],
                    },
                    created,
                ),
                created,
                fake.timestamp(created, latest),
            )
            tickets.append(ticket)
        # Some tickets are closed (updates refused) and a few deleted (tombstones in the
        # export), as in a real account; the counts can be set for tests that write.
        shuffled = fake.random.sample(tickets, len(tickets))
        closing = [t for t in shuffled if t["assignee_id"] is not None][:closed_tickets]
        for ticket in closing:
            ticket["status"] = "closed"
        for ticket in [t for t in shuffled if t["status"] != "closed"][:deleted_tickets]:
            ticket["status"] = "deleted"
        # Number the export stream in time order, so that it matches updated_at.
        everything = [
            (r["_ts"], object_type, r["id"], r)
            for object_type in TYPES
            for r in self.records[object_type].values()
        ]
        for seq, (_, _, _, record) in enumerate(sorted(everything, key=lambda e: e[:3]), 1):
            record["_seq"] = seq
        self.seq = len(everything)

    def _seed_record(
        self, object_type: str, record: dict[str, Any], created: float, updated: float
    ) -> dict[str, Any]:
        record["id"] = self._allocate_id(object_type)
        record["created_at"] = iso(created)
        self._store(object_type, record, updated)
        return record

    # -- record construction and validation ------------------------------------------------

    def _custom_defs(self, object_type: str) -> dict[Any, dict[str, Any]]:
        key = "id" if object_type == "tickets" else "key"
        return {
            f[key]: f
            for f in FIELD_DEFINITIONS[object_type]
            if f["active"] and f.get("removable", True)
        }

    def _custom_value(
        self, definition: Mapping[str, Any], value: Any, details: dict[str, Any], label: str
    ) -> Any:
        """A custom value as Zendesk stores it: numbers as strings, tags for options."""
        if value is None or value == "" or value == []:
            return (
                []
                if definition["type"] == "multiselect"
                else (False if definition["type"] == "checkbox" else None)
            )
        kind = definition["type"]
        title = definition["title"]
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
                    str(int(number))
                    if number.is_integer() and "." not in str(value)
                    else repr(number)
                )
            if kind == "checkbox":
                if not isinstance(value, bool):
                    raise ValueError
                return value
            if kind == "date":
                if not isinstance(value, str) or not _DATE.match(value):
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
            _problem(
                details, label, f"{title}: {str(value)[:60]} is not a valid value", "InvalidValue"
            )
            return None

    def _custom_values(
        self, object_type: str, given: Any, current: Any, details: dict[str, Any]
    ) -> Any:
        defs = self._custom_defs(object_type)
        if object_type == "tickets":
            values = {item["id"]: item["value"] for item in current or ()}
            if given is not None:
                if not isinstance(given, list) or not all(
                    isinstance(i, dict) and "id" in i for i in given
                ):
                    _problem(
                        details,
                        "custom_fields",
                        "Custom fields: must be a list of {id, value}",
                        "InvalidValue",
                    )
                    given = []
                for item in given:
                    definition = defs.get(item["id"])
                    if definition is None:
                        continue  # Zendesk ignores values for unknown or inactive fields
                    values[item["id"]] = self._custom_value(
                        definition, item.get("value"), details, "custom_fields"
                    )
            return [{"id": fid, "value": values.get(fid)} for fid in defs]
        values = dict(current or {})
        if given is not None:
            if not isinstance(given, dict):
                _problem(
                    details, CUSTOM_CONTAINER[object_type], "must be an object", "InvalidValue"
                )
                given = {}
            for key, value in given.items():
                definition = defs.get(key)
                if definition is not None:
                    values[key] = self._custom_value(definition, value, details, key)
        return {key: values.get(key) for key in defs}

    def _check_enum(
        self,
        details: dict[str, Any],
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
                _problem(details, name, f"{label}: {value} is not valid", "InvalidValue")

    def _check_ref(
        self,
        details: dict[str, Any],
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
        target = self.records[object_type].get(value) if isinstance(value, int) else None
        alive = target is not None and target.get("active", True)
        if not alive or (agents_only and target.get("role") not in ("agent", "admin")):
            _problem(details, name, f"{label}: is invalid", "InvalidValue")

    def _apply_common(
        self,
        record: dict[str, Any],
        data: Mapping[str, Any],
        details: dict[str, Any],
        attrs: Iterable[str],
    ) -> None:
        for name in attrs:
            if name not in data:
                continue
            value = data[name]
            if name in ("tags", "domain_names"):
                if value is None:
                    value = []
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    _problem(details, name, f"{name}: must be a list of strings", "InvalidValue")
                    continue
                # Zendesk lower-cases tags and drops duplicates, keeping the first order.
                value = list(dict.fromkeys(v.lower() if name == "tags" else v for v in value))
            elif name in ("verified", "suspended", "shared_tickets", "shared_comments"):
                if not isinstance(value, bool):
                    _problem(details, name, f"{name}: must be true or false", "InvalidValue")
                    continue
            elif name in ("requester_id", "assignee_id", "organization_id"):
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    _problem(details, name, f"{name}: must be an id", "InvalidValue")
                    continue
            elif value is not None and not isinstance(value, str):
                _problem(details, name, f"{name}: must be a string", "InvalidValue")
                continue
            record[name] = value

    def _new_ticket(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        """Validate and build a ticket (not stored). Raises Invalid."""
        details: dict[str, Any] = {}
        comment = data.get("comment")
        body = comment.get("body") if isinstance(comment, dict) else None
        if not isinstance(body, str) or not body.strip():
            _problem(details, "description", "Description: cannot be blank", "BlankValue")
        record: dict[str, Any] = {
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
        self._ticket_changes(record, data, details, creating=True)
        if details:
            raise Invalid(details)
        return record

    def _ticket_changes(
        self,
        record: dict[str, Any],
        data: Mapping[str, Any],
        details: dict[str, Any],
        *,
        creating: bool,
    ) -> None:
        self._check_enum(details, data, "status", STATUSES, "Status", nullable=False)
        self._check_enum(details, data, "priority", PRIORITIES, "Priority")
        self._check_enum(details, data, "type", TICKET_TYPES, "Type")
        self._check_ref(details, data, "requester_id", "users", "Requester")
        self._check_ref(details, data, "assignee_id", "users", "Assignee", agents_only=True)
        self._check_ref(details, data, "organization_id", "organizations", "Organization")
        if (
            "subject" in data
            and data["subject"] is not None
            and not isinstance(data["subject"], str)
        ):
            _problem(details, "subject", "Subject: must be a string", "InvalidValue")
        if "due_at" in data and data["due_at"] is not None:
            try:
                datetime.fromisoformat(str(data["due_at"]).replace("Z", "+00:00"))
            except ValueError:
                _problem(details, "due_at", "Due at: is not a valid time", "InvalidValue")
        if details:
            return
        custom = self._custom_values(
            "tickets", data.get("custom_fields"), record.get("custom_fields"), details
        )
        if details:
            return
        self._apply_common(
            record,
            data,
            details,
            (
                "subject",
                "status",
                "priority",
                "type",
                "requester_id",
                "assignee_id",
                "organization_id",
                "tags",
                "external_id",
                "due_at",
            ),
        )
        record["custom_fields"] = custom
        record["subject"] = record.get("subject") or ""
        if record["status"] == "new" and record.get("assignee_id") and not creating:
            record["status"] = "open"  # assigning a new ticket opens it, as Zendesk does
        if record.get("due_at"):
            record["due_at"] = iso(
                datetime.fromisoformat(str(record["due_at"]).replace("Z", "+00:00")).timestamp()
            )

    def _new_user(
        self, data: Mapping[str, Any], now: float, *, record_id: int | None = None
    ) -> dict[str, Any]:
        details: dict[str, Any] = {}
        record: dict[str, Any] = {
            "id": record_id or 0,
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
        if not isinstance(data.get("name"), str) or not data["name"].strip():
            _problem(details, "name", "Name: is too short (minimum one character)", "ValueTooShort")
        self._user_changes(record, data, details)
        if details:
            raise Invalid(details)
        return record

    def _user_changes(
        self, record: dict[str, Any], data: Mapping[str, Any], details: dict[str, Any]
    ) -> None:
        self._check_enum(details, data, "role", ROLES, "Role", nullable=False)
        self._check_ref(details, data, "organization_id", "organizations", "Organization")
        if "name" in data and (not isinstance(data["name"], str) or not data["name"].strip()):
            _problem(details, "name", "Name: is too short (minimum one character)", "ValueTooShort")
        email = data.get("email")
        if email is not None:
            if not isinstance(email, str) or not _EMAIL.match(email):
                _problem(
                    details,
                    "email",
                    f"Email: {str(email)[:60]} is not properly formatted",
                    "InvalidFormat",
                )
            else:
                for other in self.records["users"].values():
                    if (
                        other["id"] != record["id"]
                        and other.get("active")
                        and (other.get("email") or "").lower() == email.lower()
                    ):
                        _problem(
                            details,
                            "email",
                            f"Email: {email} is already being used by another user",
                            "DuplicateValue",
                        )
                        break
        custom = self._custom_values(
            "users", data.get("user_fields"), record.get("user_fields"), details
        )
        if details:
            return
        self._apply_common(
            record,
            data,
            details,
            (
                "name",
                "email",
                "phone",
                "role",
                "organization_id",
                "external_id",
                "tags",
                "details",
                "notes",
                "time_zone",
                "locale",
                "verified",
                "suspended",
            ),
        )
        if record.get("email"):
            record["email"] = record["email"].lower()
        record["user_fields"] = custom

    def _new_org(self, data: Mapping[str, Any], now: float) -> dict[str, Any]:
        details: dict[str, Any] = {}
        record: dict[str, Any] = {
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
        if not isinstance(data.get("name"), str) or not data["name"].strip():
            _problem(details, "name", "Name: cannot be blank", "BlankValue")
        self._org_changes(record, data, details)
        if details:
            raise Invalid(details)
        return record

    def _org_changes(
        self, record: dict[str, Any], data: Mapping[str, Any], details: dict[str, Any]
    ) -> None:
        name = data.get("name")
        if "name" in data and (not isinstance(name, str) or not name.strip()):
            _problem(details, "name", "Name: cannot be blank", "BlankValue")
        elif isinstance(name, str):
            for other in self.records["organizations"].values():
                if other["id"] != record["id"] and other["name"].lower() == name.lower():
                    _problem(details, "name", "Name: has already been taken", "DuplicateValue")
                    break
        custom = self._custom_values(
            "organizations",
            data.get("organization_fields"),
            record.get("organization_fields"),
            details,
        )
        if details:
            return
        self._apply_common(
            record,
            data,
            details,
            (
                "name",
                "domain_names",
                "details",
                "notes",
                "external_id",
                "shared_tickets",
                "shared_comments",
                "tags",
            ),
        )
        record["organization_fields"] = custom

    def _allocate_id(self, object_type: str) -> int:
        if object_type == "tickets":
            self.next_ticket_id += 1
            return self.next_ticket_id - 1
        if object_type == "users":
            self.next_user_id += 1
            return self.next_user_id - 1
        self.next_org_id += 1
        return self.next_org_id - 1

    def _create(self, object_type: str, data: Any, now: float) -> dict[str, Any]:
        """Validate, store and announce one new record. Raises Invalid."""
        if not isinstance(data, dict):
            raise Invalid({"base": [{"description": "must be an object", "error": "InvalidValue"}]})
        builder = {
            "tickets": self._new_ticket,
            "users": self._new_user,
            "organizations": self._new_org,
        }[object_type]
        record = builder(data, now)
        record["id"] = self._allocate_id(object_type)
        self._store(object_type, record, now)
        self._announce(object_type, record, "created", {})
        return record

    def _update(self, object_type: str, record_id: Any, data: Any, now: float) -> dict[str, Any]:
        """Validate, store and announce an update. Raises Invalid or HttpError(404)."""
        record = self._live(object_type, record_id)
        if record is None:
            raise HttpError(zendesk_error(404, "RecordNotFound", "Not found"))
        if not isinstance(data, dict):
            raise Invalid({"base": [{"description": "must be an object", "error": "InvalidValue"}]})
        details: dict[str, Any] = {}
        if object_type == "tickets" and record["status"] == "closed":
            _problem(details, "status", "Status: closed prevents ticket update", "ClosedTicket")
            raise Invalid(details)
        before = dict(record)
        updated = dict(record)
        if object_type == "tickets":
            self._ticket_changes(updated, data, details, creating=False)
        elif object_type == "users":
            self._user_changes(updated, data, details)
        else:
            self._org_changes(updated, data, details)
        if details:
            raise Invalid(details)
        changed = {k for k in updated if not k.startswith("_") and updated[k] != before.get(k)}
        if changed or (object_type == "tickets" and isinstance(data.get("comment"), dict)):
            self._store(object_type, updated, now)
            self._announce(object_type, updated, "updated", {k: before.get(k) for k in changed})
        return updated

    def _delete(self, object_type: str, record_id: int, now: float) -> None:
        record = self._live(object_type, record_id)
        if record is None:
            raise HttpError(zendesk_error(404, "RecordNotFound", "Not found"))
        if object_type == "tickets":
            # Soft delete: the ticket leaves the API but stays in the export as a tombstone.
            record["status"] = "deleted"
            self._store(object_type, record, now)
        elif object_type == "users":
            if record["id"] == ADMIN_ID:
                raise Invalid(
                    {
                        "base": [
                            {
                                "description": "The account owner cannot be deleted",
                                "error": "InvalidValue",
                            }
                        ]
                    }
                )
            record["active"] = False
            self._store(object_type, record, now)
        else:
            del self.records[object_type][record_id]
        self._announce(object_type, record, "deleted", {})

    def _live(self, object_type: str, record_id: Any) -> dict[str, Any] | None:
        try:
            key = int(record_id)
        except (TypeError, ValueError):
            return None
        record = self.records[object_type].get(key)
        if record is None or record.get("status") == "deleted" or record.get("active") is False:
            return None
        return record

    # -- webhooks --------------------------------------------------------------------------

    _EVENT_ATTRS = {
        "status": "status_changed",
        "priority": "priority_changed",
        "subject": "subject_changed",
        "tags": "tags_changed",
        "assignee_id": "agent_assignment_changed",
        "custom_fields": "custom_field_changed",
        "user_fields": "custom_field_changed",
        "organization_fields": "custom_field_changed",
        "name": "name_changed",
        "email": "email_changed",
        "role": "role_changed",
        "organization_id": "organization_changed",
        "external_id": "external_id_changed",
    }

    def _announce(
        self, object_type: str, record: Mapping[str, Any], action: str, before: Mapping[str, Any]
    ) -> None:
        if not self.context.webhooks_wanted():
            return
        noun = _SINGULAR[object_type]
        if action == "created":
            kinds = ["created"]
        elif action == "deleted":
            kinds = ["soft_deleted" if object_type == "tickets" else "deleted"]
        else:
            kinds = sorted({self._EVENT_ATTRS.get(k, "updated") for k in before}) or [
                "comment_added"
            ]
        for kind in kinds:
            self.context.emit(
                {
                    "type": f"zen:event-type:{noun}.{kind}",
                    "id": str(uuid.uuid4()),
                    "subject": f"zen:{noun}:{record['id']}",
                    "time": iso(self.context.now()),
                    "detail": {
                        "id": str(record["id"]),
                        "updated_at": record.get("updated_at"),
                        **({"status": record["status"]} if "status" in record else {}),
                    },
                    "event": {
                        k.removesuffix("_id"): {"previous": before.get(k), "current": record.get(k)}
                        for k in sorted(before)
                        if not isinstance(record.get(k), list | dict)
                    },
                }
            )

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        """One signed POST per event, as Zendesk sends event-subscription webhooks.

        https://developer.zendesk.com/api-reference/webhooks/event-types/webhook-event-types/
        and https://developer.zendesk.com/documentation/webhooks/verifying/
        """
        deliveries = []
        for event in events:
            payload = {
                "account_id": 9_100_001,
                "zendesk_event_version": "2022-11-06",
                **event,
            }
            body = json.dumps(payload, separators=(",", ":")).encode()
            headers = webhooks.signed_headers(target.secret, body, now=now)
            headers["X-Zendesk-Webhook-Id"] = "01HSANDBOXWEBHOOK0000000001"
            headers[webhooks.INVOCATION_HEADER] = str(uuid.uuid4())
            headers["User-Agent"] = "Zendesk Webhook"
            deliveries.append(Delivery(target.url, body, headers, delivery_id=event["id"]))
        return deliveries

    # -- errors and auth -------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        if status == 404:
            return zendesk_error(404, "RecordNotFound", "Not found")
        if status == 422:
            return zendesk_error(
                422,
                "RecordInvalid",
                "Record validation errors",
                {"base": [{"description": message, "error": "InvalidValue"}]},
            )
        if status == 401:
            return Response.json(401, {"error": "Couldn't authenticate you"})
        if status >= 500:
            return zendesk_error(status, "InternalError", message)
        return zendesk_error(status, "InvalidEndpoint" if status == 405 else "BadRequest", message)

    def rate_limited(self, limit: str, retry_after: float) -> Response:
        """429 with Retry-After in whole seconds (Rate limits, Incremental Exports)."""
        seconds = max(1, int(retry_after + 0.999))
        what = "incremental export " if limit == "incremental" else ""
        response = zendesk_error(
            429,
            "APIRateLimitExceeded",
            f"Number of allowed {what}API requests per minute exceeded",
        )
        response.headers.append(("Retry-After", str(seconds)))
        response.headers.append(
            (
                "X-Rate-Limit",
                str(
                    self.rate_limits[
                        "incremental" if limit == "incremental" else "account"
                    ].requests
                ),
            )
        )
        response.headers.append(("X-Rate-Limit-Remaining", "0"))
        return response

    def authenticate(self, request: Request) -> str | Response:
        """Basic `{email}/token:{token}` or `Bearer {token}`.

        https://developer.zendesk.com/api-reference/introduction/security-and-auth/
        """
        header = request.header("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip() in self.oauth_tokens:
            return "oauth:" + value.strip()[-6:]
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                decoded = ""
            user, _, token = decoded.partition(":")
            email = user.removesuffix("/token")
            if user.endswith("/token") and token in self.api_tokens:
                with self.lock:  # called outside the handler lock; users may be changing
                    owner = self.records["users"].get(ADMIN_ID)
                    # The owner first: the common case stays O(1) on a large account.
                    if owner is not None and owner.get("email") == email.lower():
                        candidates = [owner]
                    else:
                        candidates = list(self.records["users"].values())
                for candidate in candidates:
                    if (
                        (candidate.get("email") or "").lower() == email.lower()
                        and candidate.get("active")
                        and candidate.get("role") in ("agent", "admin")
                    ):
                        return email.lower()
        return Response.json(401, {"error": "Couldn't authenticate you"})

    # -- helpers for handlers --------------------------------------------------------------

    @staticmethod
    def _ids(request: Request) -> list[int]:
        raw = request.args("ids")
        try:
            ids = [int(i) for i in raw]
        except ValueError:
            raise HttpError(zendesk_error(400, "InvalidValue", "ids must be numbers")) from None
        if not ids:
            raise HttpError(zendesk_error(400, "InvalidValue", "ids is required"))
        if len(ids) > MAX_MANY:
            raise HttpError(
                zendesk_error(400, "InvalidValue", f"ids: at most {MAX_MANY} values are allowed")
            )
        return ids

    def _job(self, job_type: str, results: list[dict[str, Any]] | dict[str, Any]) -> Response:
        self.job_counter += 1
        job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"zendesk-job-{self.job_counter}").hex
        total = len(results) if isinstance(results, list) else None
        job = {
            "id": job_id,
            "url": self._url(f"/api/v2/job_statuses/{job_id}.json"),
            "job_type": job_type,
            "total": total,
            "progress": 0 if total is not None else None,
            "status": "queued",
            "message": None,
            "results": None,
            "_results": results,
            "_polls_left": self.job_polls,
            "_done_at": iso(self.context.now()),
        }
        self.jobs[job_id] = job
        if len(self.jobs) > 100:  # Zendesk keeps the last 100 jobs
            del self.jobs[next(iter(self.jobs))]
        return Response.json(200, {"job_status": self.public(job)})

    def _batch(self, request: Request, root: str) -> list[Any]:
        body = request.json()
        items = body.get(root) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise HttpError(zendesk_error(400, "InvalidValue", f"{root} must be a list"))
        if len(items) > MAX_MANY:
            raise HttpError(
                zendesk_error(
                    400, "TooManyValues", f"{root}: at most {MAX_MANY} records per request"
                )
            )
        return items

    # -- endpoints: account and schema -----------------------------------------------------

    @route("GET", "/api/v2/users/me.json")
    def show_self(self, request: Request) -> Response:
        """Users: Show Self. https://developer.zendesk.com/api-reference/ticketing/users/users/#show-self"""
        email = request.identity if "@" in request.identity else ADMIN_EMAIL
        for user in self.records["users"].values():
            if user.get("email") == email:
                return Response.json(200, {"user": self.public(user)})
        return Response.json(401, {"error": "Couldn't authenticate you"})

    def _fields(self, object_type: str, root: str) -> Response:
        items = list(FIELD_DEFINITIONS[object_type])
        for item in items:
            item.setdefault("url", self._url(f"/api/v2/{root}/{item['id']}.json"))
        return Response.json(
            200, {root: items, "next_page": None, "previous_page": None, "count": len(items)}
        )

    @route("GET", "/api/v2/ticket_fields.json")
    def list_ticket_fields(self, request: Request) -> Response:
        """Ticket Fields: List. https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_fields/"""
        return self._fields("tickets", "ticket_fields")

    @route("GET", "/api/v2/user_fields.json")
    def list_user_fields(self, request: Request) -> Response:
        """User Fields: List. https://developer.zendesk.com/api-reference/ticketing/users/user_fields/"""
        return self._fields("users", "user_fields")

    @route("GET", "/api/v2/organization_fields.json")
    def list_organization_fields(self, request: Request) -> Response:
        """Organization Fields: List.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organization_fields/
        """
        return self._fields("organizations", "organization_fields")

    # -- endpoints: incremental exports ----------------------------------------------------

    def _horizon(self) -> float:
        return self.context.now() - self.export_lag_seconds

    def _start_time(self, request: Request) -> int:
        raw = request.arg("start_time")
        if raw is None or not raw.lstrip("-").isdigit():
            raise HttpError(
                zendesk_error(400, "InvalidValue", "start_time is required and must be a Unix time")
            )
        start = int(raw)
        if start > self._horizon():
            lag = int(self.export_lag_seconds // 60) or 1
            unit = "minute" if lag == 1 else "minutes"
            raise HttpError(
                zendesk_error(
                    422,
                    "InvalidValue",
                    f"Too recent start_time. Use a start_time older than {lag} {unit}",
                )
            )
        return start

    @staticmethod
    def _per_page(request: Request, default: int) -> int:
        raw = request.arg("per_page")
        if raw is None:
            return default
        if not raw.isdigit() or not 1 <= int(raw) <= EXPORT_MAX_PAGE:
            raise HttpError(
                zendesk_error(
                    400, "InvalidValue", f"per_page must be between 1 and {EXPORT_MAX_PAGE}"
                )
            )
        return int(raw)

    @staticmethod
    def encode_cursor(ts: float, seq: int) -> str:
        return base64.urlsafe_b64encode(f"{ts:.3f}||{seq}|".encode()).decode().rstrip("=")

    @staticmethod
    def decode_cursor(cursor: str) -> int:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            text = base64.urlsafe_b64decode(padded.encode()).decode()
            return int(text.split("||", 1)[1].rstrip("|"))
        except (binascii.Error, UnicodeDecodeError, ValueError, IndexError):
            raise HttpError(
                zendesk_error(400, "InvalidPaginationParameter", "cursor is invalid")
            ) from None

    def _cursor_export(self, request: Request, object_type: str) -> Response:
        per_page = self._per_page(request, EXPORT_MAX_PAGE)
        horizon = self._horizon()
        cursor = request.arg("cursor")
        stream = sorted(
            (r for r in self.records[object_type].values() if r["_ts"] <= horizon),
            key=lambda r: r["_seq"],
        )
        if cursor:
            after = self.decode_cursor(cursor)
            stream = [r for r in stream if r["_seq"] > after]
        else:
            start = self._start_time(request)
            stream = [r for r in stream if r["_ts"] >= start]
        page = stream[:per_page]
        if page:
            after_cursor: str | None = self.encode_cursor(page[-1]["_ts"], page[-1]["_seq"])
        else:
            after_cursor = cursor or None  # nothing new: the same place next time
        path = f"/api/v2/incremental/{object_type}/cursor.json"
        return Response.json(
            200,
            {
                object_type: [self.public(r) for r in page],
                "after_cursor": after_cursor,
                "after_url": self._url(f"{path}?{urlencode({'cursor': after_cursor})}")
                if after_cursor
                else None,
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": len(stream) <= per_page,
            },
        )

    @route("GET", "/api/v2/incremental/tickets/cursor.json", limits=("incremental",))
    def export_tickets(self, request: Request) -> Response:
        """Incremental Ticket Export, Cursor Based.
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-ticket-export-cursor-based
        """
        return self._cursor_export(request, "tickets")

    @route("GET", "/api/v2/incremental/users/cursor.json", limits=("incremental",))
    def export_users(self, request: Request) -> Response:
        """Incremental User Export, Cursor Based.
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-user-export-cursor-based
        """
        return self._cursor_export(request, "users")

    @route("GET", "/api/v2/incremental/organizations.json", limits=("incremental",))
    def export_organizations(self, request: Request) -> Response:
        """Incremental Organization Export (time based only).
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-organization-export

        Items with updated_at >= start_time, oldest first; a page that ends inside a second
        is extended to the end of that second, and `end_time` (the next start_time) is the
        last item's second, so the next page repeats that second (duplicates, as documented).
        """
        per_page = self._per_page(request, EXPORT_MAX_PAGE)
        start = self._start_time(request)
        horizon = self._horizon()
        stream = sorted(
            (
                r
                for r in self.records["organizations"].values()
                if int(r["_ts"]) >= start and r["_ts"] <= horizon
            ),
            key=lambda r: (r["_ts"], r["id"]),
        )
        page = stream[:per_page]
        if page and len(stream) > per_page:
            last_second = int(page[-1]["_ts"])
            page = [r for r in stream if int(r["_ts"]) <= last_second]
        end_of_stream = len(page) == len(stream)
        end_time = int(page[-1]["_ts"]) if page else start
        if not end_of_stream and end_time <= start:
            end_time = start + 1  # the whole second was returned; never loop on it
        path = "/api/v2/incremental/organizations.json"
        return Response.json(
            200,
            {
                "organizations": [self.public(r) for r in page],
                "count": len(page),
                "end_time": end_time,
                "next_page": self._url(f"{path}?{urlencode({'start_time': end_time})}"),
                "end_of_stream": end_of_stream,
            },
        )

    # -- endpoints: reads ------------------------------------------------------------------

    def _show_many(self, request: Request, object_type: str) -> Response:
        ids = self._ids(request)
        found = []
        for record_id in ids:
            record = self.records[object_type].get(record_id)
            if record is None or record.get("status") == "deleted":
                continue
            found.append(self.public(record))  # deleted users come back with active=false
        return Response.json(
            200,
            {object_type: found, "next_page": None, "previous_page": None, "count": len(found)},
        )

    @route("GET", "/api/v2/tickets/show_many.json")
    def show_many_tickets(self, request: Request) -> Response:
        """Tickets: Show Multiple Tickets.
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-multiple-tickets
        """
        return self._show_many(request, "tickets")

    @route("GET", "/api/v2/users/show_many.json")
    def show_many_users(self, request: Request) -> Response:
        """Users: Show Many Users.
        https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users
        """
        return self._show_many(request, "users")

    @route("GET", "/api/v2/organizations/show_many.json")
    def show_many_organizations(self, request: Request) -> Response:
        """Organizations: Show Many Organizations.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#show-many-organizations
        """
        return self._show_many(request, "organizations")

    def _show(self, request: Request, object_type: str) -> Response:
        record = self._live(object_type, request.params["id"].removesuffix(".json"))
        if record is None:
            return zendesk_error(404, "RecordNotFound", "Not found")
        return Response.json(200, {_SINGULAR[object_type]: self.public(record)})

    def _list(self, request: Request, object_type: str) -> Response:
        """Cursor pagination: page[size] (at most 100), page[after], meta and links."""
        raw_size = request.arg("page[size]", "100") or "100"
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
            return zendesk_error(
                400, "InvalidPaginationParameter", "page[size] must be between 1 and 100"
            )
        size = int(raw_size)
        after = request.arg("page[after]")
        items = sorted(
            (
                r
                for r in self.records[object_type].values()
                if r.get("status") != "deleted" and r.get("active", True)
            ),
            key=lambda r: r["id"],
        )
        if after:
            last_id = self.decode_cursor(after)
            items = [r for r in items if r["id"] > last_id]
        page = items[:size]
        has_more = len(items) > size
        after_cursor = self.encode_cursor(0, page[-1]["id"]) if page else None
        path = f"/api/v2/{object_type}.json"
        next_query = urlencode({"page[size]": size, "page[after]": after_cursor or ""})
        return Response.json(
            200,
            {
                object_type: [self.public(r) for r in page],
                "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": None},
                "links": {
                    "next": self._url(f"{path}?{next_query}") if has_more else None,
                    "prev": None,
                },
            },
        )

    @route("GET", "/api/v2/tickets.json")
    def list_tickets(self, request: Request) -> Response:
        """Tickets: List Tickets. https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-tickets"""
        return self._list(request, "tickets")

    @route("GET", "/api/v2/users.json")
    def list_users(self, request: Request) -> Response:
        """Users: List Users. https://developer.zendesk.com/api-reference/ticketing/users/users/#list-users"""
        return self._list(request, "users")

    @route("GET", "/api/v2/organizations.json")
    def list_organizations(self, request: Request) -> Response:
        """Organizations: List Organizations.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#list-organizations
        """
        return self._list(request, "organizations")

    # -- endpoints: search -----------------------------------------------------------------

    _TEXT_KEYS = frozenset({"subject", "description", "details", "notes"})

    def _matches(self, object_type: str, record: Mapping[str, Any], key: str, value: str) -> bool:
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
        if key in self._TEXT_KEYS:
            return wanted in str(current).lower()
        if isinstance(current, list):
            return wanted in [str(v).lower() for v in current]
        return str(current).lower() == wanted

    def _query(self, query: str, object_type: str | None) -> list[dict[str, Any]]:
        """Zendesk search syntax, the part Concord uses: `type:`, `key:value`, bare words."""
        try:
            tokens = shlex.split(query)
        except ValueError:
            raise HttpError(zendesk_error(400, "InvalidValue", "unbalanced quotes")) from None
        terms: list[tuple[str, str]] = []
        for token in tokens:
            key, sep, value = token.partition(":")
            if not sep:
                terms.append(("", token))
            elif key == "type":
                kind = _PLURAL.get(value.lower())
                if kind is None:
                    return []
                if object_type and object_type != kind:
                    return []
                object_type = kind
            else:
                terms.append((key.lower(), value))
        kinds = [object_type] if object_type else list(TYPES)
        found = []
        for kind in kinds:
            for record in sorted(self.records[kind].values(), key=lambda r: r["id"]):
                if record.get("status") == "deleted" or record.get("active") is False:
                    continue
                if all(
                    self._matches(kind, record, key, value)
                    if key
                    else any(
                        value.lower() in str(record.get(k) or "").lower()
                        for k in ("subject", "description", "name", "email")
                    )
                    for key, value in terms
                ):
                    found.append({**self.public(record), "result_type": _SINGULAR[kind]})
        return found

    def _paged(
        self, request: Request, items: list[dict[str, Any]], root: str, path: str
    ) -> Response:
        raw_page, raw_per = request.arg("page", "1") or "1", request.arg("per_page", "100") or "100"
        if not raw_page.isdigit() or not raw_per.isdigit() or not 1 <= int(raw_per) <= 100:
            return zendesk_error(400, "InvalidPaginationParameter", "page and per_page (1-100)")
        page, per_page = max(1, int(raw_page)), int(raw_per)
        if page * per_page > SEARCH_MAX_RESULTS and root == "results":
            return zendesk_error(
                422,
                "QueryResponseError",
                "Requested response size was greater than Search Response Limits",
            )
        chunk = items[(page - 1) * per_page : page * per_page]
        more = page * per_page < len(items)
        query = {k: v[0] for k, v in request.query.items()}
        next_page = self._url(f"{path}?{urlencode({**query, 'page': page + 1})}") if more else None
        return Response.json(
            200,
            {root: chunk, "next_page": next_page, "previous_page": None, "count": len(items)},
        )

    @route("GET", "/api/v2/search.json")
    def search(self, request: Request) -> Response:
        """Search: List Search Results.
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/#list-search-results
        """
        query = request.arg("query")
        if not query:
            return zendesk_error(400, "InvalidValue", "query is required")
        return self._paged(request, self._query(query, None), "results", "/api/v2/search.json")

    @route("GET", "/api/v2/users/search.json")
    def search_users(self, request: Request) -> Response:
        """Users: Search Users (`query` or `external_id`).
        https://developer.zendesk.com/api-reference/ticketing/users/users/#search-users
        """
        if request.arg("external_id"):
            found = self._query(f'external_id:"{request.arg("external_id")}"', "users")
        elif request.arg("query"):
            found = self._query(request.arg("query") or "", "users")
        else:
            return zendesk_error(400, "InvalidValue", "query or external_id is required")
        users = [{k: v for k, v in r.items() if k != "result_type"} for r in found]
        return self._paged(request, users, "users", "/api/v2/users/search.json")

    @route("GET", "/api/v2/organizations/search.json")
    def search_organizations(self, request: Request) -> Response:
        """Organizations: Search Organizations (`external_id` or `name`, exact).
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#search-organizations
        """
        for key in ("external_id", "name"):
            value = request.arg(key)
            if value:
                found = [
                    self.public(r)
                    for r in sorted(self.records["organizations"].values(), key=lambda r: r["id"])
                    if str(r.get(key) or "").lower() == value.lower()
                ]
                return self._paged(
                    request, found, "organizations", "/api/v2/organizations/search.json"
                )
        return zendesk_error(400, "InvalidValue", "external_id or name is required")

    # -- endpoints: writes -----------------------------------------------------------------

    def _create_many(self, request: Request, object_type: str) -> Response:
        items = self._batch(request, object_type)
        now = self.context.now()
        results: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                record = self._create(object_type, item, now)
            except Invalid as exc:
                results.append(
                    {
                        "index": index,
                        "status": "Failed",
                        "success": False,
                        "error": "RecordInvalid",
                        "details": exc.summary(),
                    }
                )
            else:
                result = {
                    "index": index,
                    "id": record["id"],
                    "status": "Created",
                    "success": True,
                    "action": "create",
                }
                if object_type == "users":
                    result["email"] = record.get("email")
                results.append(result)
        return self._job(f"Bulk Create {object_type.title()}", results)

    def _update_many(self, request: Request, object_type: str) -> Response:
        items = self._batch(request, object_type)
        now = self.context.now()
        results: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            record_id = item.get("id") if isinstance(item, dict) else None
            changes = (
                {k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item
            )
            base = {"index": index, "id": record_id, "action": "update"}
            try:
                self._update(object_type, record_id, changes, now)
            except Invalid as exc:
                results.append(
                    {
                        **base,
                        "success": False,
                        "status": "Failed",
                        "error": "RecordInvalid",
                        "details": exc.summary(),
                    }
                )
            except HttpError:
                results.append(
                    {
                        **base,
                        "success": False,
                        "status": "Failed",
                        "error": "RecordNotFound",
                        "details": "Not found",
                    }
                )
            else:
                results.append({**base, "success": True, "status": "Updated"})
        return self._job(f"Bulk Update {object_type.title()}", results)

    def _destroy_many(self, request: Request, object_type: str) -> Response:
        ids = self._ids(request)
        # Zendesk refuses the whole request when one id does not exist.
        if any(self._live(object_type, i) is None for i in ids):
            return zendesk_error(404, "RecordNotFound", "Not found")
        now = self.context.now()
        results = []
        for index, record_id in enumerate(ids):
            try:
                self._delete(object_type, record_id, now)
            except Invalid as exc:
                results.append(
                    {
                        "index": index,
                        "id": record_id,
                        "action": "delete",
                        "success": False,
                        "status": "Failed",
                        "error": "RecordInvalid",
                        "details": exc.summary(),
                    }
                )
            else:
                results.append(
                    {
                        "index": index,
                        "id": record_id,
                        "action": "delete",
                        "success": True,
                        "status": "Deleted",
                    }
                )
        return self._job(f"Bulk Delete {object_type.title()}", results)

    @route("POST", "/api/v2/tickets/create_many.json")
    def create_many_tickets(self, request: Request) -> Response:
        """Tickets: Create Many Tickets (up to 100; a job).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#create-many-tickets
        """
        return self._create_many(request, "tickets")

    @route("PUT", "/api/v2/tickets/update_many.json")
    def update_many_tickets(self, request: Request) -> Response:
        """Tickets: Update Many Tickets, batch form `{"tickets": [{id, ...}]}` (a job).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-many-tickets
        """
        return self._update_many(request, "tickets")

    @route("DELETE", "/api/v2/tickets/destroy_many.json")
    def destroy_many_tickets(self, request: Request) -> Response:
        """Tickets: Bulk Delete Tickets (soft delete; a job).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#bulk-delete-tickets
        """
        return self._destroy_many(request, "tickets")

    @route("POST", "/api/v2/users/create_many.json")
    def create_many_users(self, request: Request) -> Response:
        """Users: Create Many Users. https://developer.zendesk.com/api-reference/ticketing/users/users/#create-many-users"""
        return self._create_many(request, "users")

    @route("PUT", "/api/v2/users/update_many.json")
    def update_many_users(self, request: Request) -> Response:
        """Users: Update Many Users. https://developer.zendesk.com/api-reference/ticketing/users/users/#update-many-users"""
        return self._update_many(request, "users")

    @route("DELETE", "/api/v2/users/destroy_many.json")
    def destroy_many_users(self, request: Request) -> Response:
        """Users: Bulk Delete Users. https://developer.zendesk.com/api-reference/ticketing/users/users/#bulk-delete-users"""
        return self._destroy_many(request, "users")

    @route("POST", "/api/v2/organizations/create_many.json")
    def create_many_organizations(self, request: Request) -> Response:
        """Organizations: Create Many Organizations.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#create-many-organizations
        """
        return self._create_many(request, "organizations")

    @route("PUT", "/api/v2/organizations/update_many.json")
    def update_many_organizations(self, request: Request) -> Response:
        """Organizations: Update Many Organizations.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#update-many-organizations
        """
        return self._update_many(request, "organizations")

    @route("DELETE", "/api/v2/organizations/destroy_many.json")
    def destroy_many_organizations(self, request: Request) -> Response:
        """Organizations: Bulk Delete Organizations.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#bulk-delete-organizations
        """
        return self._destroy_many(request, "organizations")

    def _delete_one(self, request: Request, object_type: str) -> Response:
        record_id = request.params["id"].removesuffix(".json")
        if self._live(object_type, record_id) is None:
            return zendesk_error(404, "RecordNotFound", "Not found")
        try:
            self._delete(object_type, int(record_id), self.context.now())
        except Invalid as exc:
            return zendesk_error(422, "RecordInvalid", "Record validation errors", exc.details)
        return Response.empty(204)

    @route("DELETE", "/api/v2/tickets/{id}")
    def delete_ticket(self, request: Request) -> Response:
        """Tickets: Delete Ticket. https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#delete-ticket"""
        return self._delete_one(request, "tickets")

    @route("DELETE", "/api/v2/users/{id}")
    def delete_user(self, request: Request) -> Response:
        """Users: Delete User. https://developer.zendesk.com/api-reference/ticketing/users/users/#delete-user"""
        return self._delete_one(request, "users")

    @route("DELETE", "/api/v2/organizations/{id}")
    def delete_organization(self, request: Request) -> Response:
        """Organizations: Delete Organization.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#delete-organization
        """
        return self._delete_one(request, "organizations")

    # -- endpoints: single records (declared last: "/{id}" would also match
    # "search.json" and "show_many.json", and the first matching route wins) ------------

    @route("GET", "/api/v2/tickets/{id}")
    def show_ticket(self, request: Request) -> Response:
        """Tickets: Show Ticket. https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-ticket"""
        return self._show(request, "tickets")

    @route("GET", "/api/v2/users/{id}")
    def show_user(self, request: Request) -> Response:
        """Users: Show User. https://developer.zendesk.com/api-reference/ticketing/users/users/#show-user"""
        return self._show(request, "users")

    @route("GET", "/api/v2/organizations/{id}")
    def show_organization(self, request: Request) -> Response:
        """Organizations: Show Organization.
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#show-organization
        """
        return self._show(request, "organizations")

    @route("GET", "/api/v2/job_statuses/{id}")
    def show_job_status(self, request: Request) -> Response:
        """Job Statuses: Show Job Status. Reports "working" for `job_polls` polls, then done.
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#show-job-status
        """
        job = self.jobs.get(request.params["id"].removesuffix(".json"))
        if job is None:
            return zendesk_error(404, "RecordNotFound", "Not found")
        if job["_polls_left"] > 0:
            job["_polls_left"] -= 1
            job["status"] = "working"
            if job["total"]:
                job["progress"] = job["total"] // 2
        else:
            job["status"] = "completed"
            job["progress"] = job["total"]
            job["message"] = f"Completed at {job['_done_at'].replace('T', ' ').rstrip('Z')} +0000"
            job["results"] = job["_results"]
        return Response.json(200, {"job_status": self.public(job)})


CUSTOM_CONTAINER = {"users": "user_fields", "organizations": "organization_fields"}

SANDBOX = ZendeskSandbox


def contract() -> ContractCase:
    """Zendesk's facts for the shared contract suite: tickets, API token auth."""

    def config(base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "email": ADMIN_EMAIL, "api_token": API_TOKEN}

    def bad_config(base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "email": ADMIN_EMAIL, "api_token": "not-the-token"}

    def new_record(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract ticket {n}",
            "description": f"Created by the contract suite, number {n}.",
            "priority": "normal",
            "tags": f"contract n{n}",
        }

    def update(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract ticket {n} (updated)",
            "priority": "high",
            "status": "pending",
        }

    return ContractCase(
        object_type="tickets",
        config=config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=lambda: {
            "subject": "No such status",
            "description": "x",
            "status": "escalated",
        },
        update=update,
        stale_after=webhooks.REPLAY_WINDOW,
        # No closed tickets: the suite updates records it picks by position, and a closed
        # ticket refuses updates (tests/connectors/test_zendesk.py covers that).
        seed_counts={"tickets": 12, "users": 10, "organizations": 3, "closed_tickets": 0},
        # The contract suite reads right after it writes; the lag has its own tests.
        sandbox_settings={"export_lag_seconds": 0},
        write_method="POST",
    )

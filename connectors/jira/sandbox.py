"""A Jira Cloud site with one software project, emulated for tests and the demo.

Served under /jira by connectors.sandbox. Paths, payloads and errors follow Atlassian's
OpenAPI description of the platform REST API v3 (../shared/vendor-specs/jira/
swagger-v3.v3.json; every request and response the tests make is validated against it),
and each handler names its operation id. What it emulates:

- Basic auth with an account email and API token (401 otherwise), the account's time zone.
- Fields (/field), create metadata per issue type with required flags and allowed values,
  project statuses, user search.
- Issues with Jira's field shapes: ADF rich text, option objects, users by accountId,
  timestamps like "2025-11-03T09:15:02.417+1100" in the account's zone.
- Enhanced search (/search/jql, GET and POST) over a subset of JQL: `project`, `key`,
  `id`, `summary ~`, `status`, `priority`, `issuetype`, `assignee`, `reporter`, `labels`,
  `duedate`, `created`, `updated` (minute precision, in the account's zone) and `cf[N]`,
  with AND/OR/NOT, parentheses, `in`, `is EMPTY` and ORDER BY. Unbounded queries, unknown
  fields and values, and keys that do not exist are refused with 400, as Jira does. Pages
  follow `nextPageToken` (a keyset position, so writes between pages never shift a record
  past the reader; expires after 7 days like Jira's) and `isLast`.
- Bulk fetch, bulk create (50 per call, per-element errors with failedElementNumber), create,
  edit (status refused as a field), delete, comments (ADF bodies, `comment` field, added
  with addComment), and the workflow To Do -> In Progress -> Done
  (transitions 11 "Start Progress", 21 "Stop Progress", 31 "Done", 41 "Reopen").
- Errors as {"errorMessages": [...], "errors": {field: message}}; 429 with Retry-After,
  X-RateLimit-* and RateLimit-Reason; admin webhooks signed with X-Hub-Signature.

Atlassian publishes no fixed numbers for its burst limits; the sandbox's (see
`rate_limits`) are its own, chosen to be reachable in tests and invisible otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.jira import adf, webhooks
from connectors.sandbox import (
    ContractCase,
    Delivery,
    HttpError,
    RateLimit,
    Request,
    Response,
    VendorSandbox,
    WebhookTarget,
    route,
)
from connectors.sandbox.core import BadRequest
from connectors.sandbox.data import FakeData

JSON = Any

SANDBOX_EMAIL = "automation@northwind.example"
SANDBOX_TOKEN = "jira-sandbox-api-token"  # noqa: S105 - the sandbox's published test token
PROJECT = {"id": "10000", "key": "OPS", "name": "Operations", "projectTypeKey": "software"}
DEFAULT_TIME_ZONE = "Australia/Sydney"
TOKEN_LIFETIME = 7 * 24 * 3600.0  # "nextPageToken ... will expire in 7 days"
MAX_BULK_CREATE = 50
MAX_BULK_FETCH = 100
MAX_PAGE_FIELDS = 100  # issues per search page when fields are requested
MAX_PAGE_IDS = 5000  # "max 5000 issues" when only ids or keys are requested
SUMMARY_MAX = 255

STATUSES = {
    "10000": {"name": "To Do", "category": (2, "new", "blue-gray", "To Do")},
    "3": {"name": "In Progress", "category": (4, "indeterminate", "yellow", "In Progress")},
    "10001": {"name": "Done", "category": (3, "done", "green", "Done")},
}
INITIAL_STATUS = "10000"
# (transition id, name, from status ids, to status id)
WORKFLOW = (
    ("11", "Start Progress", ("10000",), "3"),
    ("21", "Stop Progress", ("3",), "10000"),
    ("31", "Done", ("3",), "10001"),
    ("41", "Reopen", ("10001",), "10000"),
)
ISSUE_TYPES = {
    "10001": {"name": "Task", "description": "A small, distinct piece of work."},
    "10002": {"name": "Bug", "description": "A problem or error."},
    "10003": {"name": "Story", "description": "A user story."},
}
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
DEFAULT_PRIORITY = "3"

_CUSTOM = "com.atlassian.jira.plugin.system.customfieldtypes:"
# id -> (name, custom type, schema, options {id: value})
CUSTOM_FIELDS: dict[str, tuple[str, str, dict[str, Any], dict[str, str]]] = {
    "customfield_10010": ("Customer Email", "textfield", {"type": "string"}, {}),
    "customfield_10011": (
        "Severity",
        "select",
        {"type": "option"},
        {
            "10100": "Sev 1 - Critical",
            "10101": "Sev 2 - Major",
            "10102": "Sev 3 - Minor",
            "10103": "Sev 4 - Cosmetic",
        },
    ),
    "customfield_10012": ("Story Points", "float", {"type": "number"}, {}),
    "customfield_10013": ("Root Cause", "textarea", {"type": "string"}, {}),
    "customfield_10014": (
        "Affected Areas",
        "multiselect",
        {"type": "array", "items": "option"},
        {
            "10110": "Billing",
            "10111": "Login",
            "10112": "API",
            "10113": "Mobile App",
            "10114": "Reporting",
            "10115": "Integrations",
        },
    ),
    "customfield_10015": ("Target Date", "datepicker", {"type": "date"}, {}),
    # Jira Software's sprint field: on the site, not on this project's screens.
    "customfield_10020": ("Sprint", "gh-sprint", {"type": "array", "items": "json"}, {}),
}
SYSTEM_FIELDS: dict[str, tuple[str, dict[str, Any]]] = {
    "summary": ("Summary", {"type": "string"}),
    "description": ("Description", {"type": "string"}),
    "issuetype": ("Issue Type", {"type": "issuetype"}),
    "project": ("Project", {"type": "project"}),
    "status": ("Status", {"type": "status"}),
    "priority": ("Priority", {"type": "priority"}),
    "assignee": ("Assignee", {"type": "user"}),
    "reporter": ("Reporter", {"type": "user"}),
    "labels": ("Labels", {"type": "array", "items": "string"}),
    "duedate": ("Due date", {"type": "date"}),
    "created": ("Created", {"type": "datetime"}),
    "updated": ("Updated", {"type": "datetime"}),
    "comment": ("Comment", {"type": "comments-page"}),
}
_COMMON_CREATE = (
    "summary",
    "issuetype",
    "project",
    "description",
    "priority",
    "assignee",
    "reporter",
    "labels",
    "duedate",
    "customfield_10010",
    "customfield_10013",
    "customfield_10014",
    "customfield_10015",
)
SCREENS: dict[str, tuple[str, ...]] = {
    "10001": _COMMON_CREATE,
    "10002": (*_COMMON_CREATE, "customfield_10011"),
    "10003": (*_COMMON_CREATE, "customfield_10012"),
}
REQUIRED: dict[str, frozenset[str]] = {
    "10001": frozenset({"summary", "issuetype", "project"}),
    "10002": frozenset({"summary", "issuetype", "project", "customfield_10011"}),
    "10003": frozenset({"summary", "issuetype", "project"}),
}
NOT_SETTABLE = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
ISSUE_MISSING = "Issue does not exist or you do not have permission to see it."
_SEED_WINDOW = (
    datetime(2025, 9, 1, tzinfo=UTC).timestamp(),
    datetime(2025, 11, 28, tzinfo=UTC).timestamp(),
)
_SEED_LABELS = ("customer", "regression", "billing", "ux", "backend", "mobile", "security")


class JqlError(Exception):
    """A JQL query Jira would refuse (answered 400 with the message)."""


class JiraSandbox(VendorSandbox):
    kind = "jira"
    rate_limits = {
        "jira-burst-based": RateLimit(200, 1.0),
        "jira-search": RateLimit(60, 1.0),
    }
    default_limits = ("jira-burst-based",)

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.time_zone = DEFAULT_TIME_ZONE
        self.users: list[dict[str, Any]] = []
        self.reset()

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.next_id = 10001
        self.next_number = 1
        self.next_comment_id = 10100
        self.event_seq = 0
        self.changelog_seq = 100000
        if not self.users:
            self.users = _default_users()

    def seed(self, seed: int, counts: Mapping[str, int] | None = None) -> None:
        unknown = sorted(set(counts or {}) - {"issues"})
        if unknown:
            raise BadRequest(f"jira seeds only issues, not {', '.join(unknown)}")
        self.reset()
        fake = FakeData(seed)
        self.users = _default_users()
        for _ in range(6):
            first, last = fake.person()
            n = len(self.users)
            self.users.append(
                {
                    "accountId": _account_id(f"user-{seed}-{n}"),
                    "displayName": f"{first} {last}",
                    "emailAddress": fake.email(first, last, "northwind.example", n),
                    "timeZone": fake.choice(("Europe/Berlin", "America/New_York", "Asia/Tokyo")),
                }
            )
        agents = [u["accountId"] for u in self.users]
        for _ in range((counts or {}).get("issues", 40)):
            created = fake.timestamp(*_SEED_WINDOW)
            updated = fake.timestamp(created, _SEED_WINDOW[1])
            type_id = fake.weighted((("10001", 5), ("10002", 3), ("10003", 2)))
            fields: dict[str, Any] = {
                "summary": fake.ticket_subject(),
                "description": adf.text_to_adf(_seed_description(fake)),
                "issuetype": type_id,
                "priority": fake.weighted((("1", 1), ("2", 3), ("3", 6), ("4", 3), ("5", 1))),
                "status": fake.weighted((("10000", 4), ("3", 3), ("10001", 3))),
                "assignee": fake.choice([*agents, None]),
                "reporter": fake.choice(agents),
                "labels": sorted(
                    {fake.choice(_SEED_LABELS) for _ in range(fake.random.randrange(3))}
                ),
                "duedate": None,
                "customfield_10010": None,
                "customfield_10013": None,
                "customfield_10014": [],
                "customfield_10015": None,
            }
            if fake.random.random() < 0.4:
                due = datetime.fromtimestamp(updated, UTC) + timedelta(
                    days=fake.random.randrange(3, 40)
                )
                fields["duedate"] = due.date().isoformat()
            if fake.random.random() < 0.6:
                first, last = fake.person()
                _, domain = fake.company()
                fields["customfield_10010"] = fake.email(first, last, domain)
            if type_id == "10002":
                fields["customfield_10011"] = fake.choice(
                    sorted(CUSTOM_FIELDS["customfield_10011"][3])
                )
                fields["customfield_10013"] = adf.text_to_adf(fake.paragraph(2))
                fields["customfield_10014"] = sorted(
                    {fake.choice(sorted(CUSTOM_FIELDS["customfield_10014"][3])) for _ in range(2)}
                )
            if type_id == "10003":
                fields["customfield_10012"] = float(fake.choice((1, 2, 3, 5, 8, 13)))
            issue = self._insert(fields, created, updated)
            for _ in range(fake.random.randrange(3)):
                when = fake.timestamp(created, updated)
                text = fake.paragraph(1)
                if fake.random.random() < 0.3:
                    text += "\n\nLogs: https://logs.northwind.example/q/" + str(issue["id"])
                self._add_comment(issue, fake.choice(agents), adf.text_to_adf(text), when)

    def _insert(self, fields: dict[str, Any], created: float, updated: float) -> dict[str, Any]:
        issue = {
            "id": self.next_id,
            "number": self.next_number,
            "created": round(created, 3),
            "updated": round(updated, 3),
            "fields": fields,
            "comments": [],
        }
        self.issues[self.next_id] = issue
        self.next_id += 1
        self.next_number += 1
        return issue

    def dump(self) -> JSON:
        return {
            "issues": list(self.issues.values()),
            "next_id": self.next_id,
            "next_number": self.next_number,
            "next_comment_id": self.next_comment_id,
            "users": self.users,
            "time_zone": self.time_zone,
            "event_seq": self.event_seq,
            "changelog_seq": self.changelog_seq,
        }

    def load(self, state: JSON) -> None:
        self.issues = {int(i["id"]): i for i in state["issues"]}
        self.next_id = int(state["next_id"])
        self.next_number = int(state["next_number"])
        self.next_comment_id = int(state.get("next_comment_id", 10100))
        for issue in self.issues.values():
            issue.setdefault("comments", [])
        self.users = list(state["users"])
        self.time_zone = str(state.get("time_zone", DEFAULT_TIME_ZONE))
        self.event_seq = int(state.get("event_seq", 0))
        self.changelog_seq = int(state.get("changelog_seq", 100000))

    def settings(self) -> dict[str, JSON]:
        return {"time_zone": self.time_zone}

    def configure(self, values: Mapping[str, JSON]) -> None:
        for name, value in values.items():
            if name != "time_zone":
                raise BadRequest(f"jira has no setting {name!r}; it has: time_zone")
            try:
                ZoneInfo(str(value))
            except (KeyError, ValueError) as exc:
                raise BadRequest(f"unknown time zone {value!r}") from exc
            self.time_zone = str(value)
            self.users[0]["timeZone"] = self.time_zone

    # -- protocol: auth, errors, limits ----------------------------------------------------

    def authenticate(self, request: Request) -> str | Response:
        header = request.header("authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                email, token = "", ""
            if email.casefold() == SANDBOX_EMAIL and token == SANDBOX_TOKEN:
                return email.casefold()
        # Jira Cloud answers a bad API token with a short plain-text 401.
        return Response(
            401,
            b"Client must be authenticated to access this resource.",
            [("Content-Type", "text/plain;charset=UTF-8")],
        )

    def error(self, status: int, message: str) -> Response:
        return Response.json(status, {"errorMessages": [message], "errors": {}})

    def rate_limited(self, limit: str, retry_after: float) -> Response:
        """Jira's 429 ("Rate limiting" page): Retry-After, X-RateLimit-*, RateLimit-Reason."""
        seconds = max(1, int(retry_after + 0.999))
        reset = datetime.fromtimestamp(self.context.now() + seconds, UTC)
        reason = limit if limit.startswith("jira-") else "jira-burst-based"
        headers = {
            "Retry-After": str(seconds),
            "X-RateLimit-Limit": str(self.rate_limits.get(limit, RateLimit(0, 1)).requests),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "RateLimit-Reason": reason,
        }
        return Response.json(
            429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers
        )

    # -- rendering -------------------------------------------------------------------------

    def _site(self, request: Request | None = None) -> str:
        if request is not None:
            host = request.header("host") or "127.0.0.1"
            self._site_url = f"http://{host}/jira"
        return getattr(self, "_site_url", "https://your-domain.atlassian.net")

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def _time(self, epoch: float, *, rfc3339: bool = False) -> str:
        moment = datetime.fromtimestamp(epoch, UTC).astimezone(self._zone())
        offset = moment.strftime("%z")
        if rfc3339:
            offset = offset[:3] + ":" + offset[3:]
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{offset}"

    def _now(self) -> float:
        return round(self.context.now(), 3)

    def _user(self, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        for user in self.users:
            if user["accountId"] == account_id:
                return self._user_bean(user)
        return None

    def _user_bean(self, user: Mapping[str, Any]) -> dict[str, Any]:
        site = self._site()
        avatar = f"{site}/secure/useravatar?ownerId={user['accountId']}"
        return {
            "self": f"{site}/rest/api/3/user?accountId={user['accountId']}",
            "accountId": user["accountId"],
            "accountType": "atlassian",
            "emailAddress": user["emailAddress"],
            "displayName": user["displayName"],
            "active": True,
            "timeZone": user["timeZone"],
            "avatarUrls": {s: f"{avatar}&size={s}" for s in ("16x16", "24x24", "32x32", "48x48")},
        }

    def _status_bean(self, status_id: str) -> dict[str, Any]:
        status = STATUSES[status_id]
        cat_id, cat_key, colour, cat_name = status["category"]
        site = self._site()
        return {
            "self": f"{site}/rest/api/3/status/{status_id}",
            "description": "",
            "iconUrl": f"{site}/images/icons/statuses/generic.png",
            "name": status["name"],
            "id": status_id,
            "statusCategory": {
                "self": f"{site}/rest/api/3/statuscategory/{cat_id}",
                "id": cat_id,
                "key": cat_key,
                "colorName": colour,
                "name": cat_name,
            },
        }

    def _issue_type_bean(self, type_id: str) -> dict[str, Any]:
        site = self._site()
        return {
            "self": f"{site}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "description": ISSUE_TYPES[type_id]["description"],
            "iconUrl": f"{site}/images/icons/issuetypes/{type_id}.svg",
            "name": ISSUE_TYPES[type_id]["name"],
            "subtask": False,
            "hierarchyLevel": 0,
        }

    def _priority_bean(self, priority_id: str) -> dict[str, Any]:
        site = self._site()
        return {
            "self": f"{site}/rest/api/3/priority/{priority_id}",
            "iconUrl": f"{site}/images/icons/priorities/{PRIORITIES[priority_id].lower()}.svg",
            "name": PRIORITIES[priority_id],
            "id": priority_id,
        }

    def _project_bean(self) -> dict[str, Any]:
        site = self._site()
        return {
            "self": f"{site}/rest/api/3/project/{PROJECT['id']}",
            "id": PROJECT["id"],
            "key": PROJECT["key"],
            "name": PROJECT["name"],
            "projectTypeKey": PROJECT["projectTypeKey"],
            "simplified": False,
        }

    def _option_bean(self, field_id: str, option_id: str) -> dict[str, Any]:
        return {
            "self": f"{self._site()}/rest/api/3/customFieldOption/{option_id}",
            "value": CUSTOM_FIELDS[field_id][3][option_id],
            "id": option_id,
        }

    def _field_value(self, issue: Mapping[str, Any], field_id: str) -> Any:
        stored = issue["fields"]
        if field_id == "project":
            return self._project_bean()
        if field_id == "created":
            return self._time(issue["created"])
        if field_id == "updated":
            return self._time(issue["updated"])
        value = stored.get(field_id)
        if field_id == "status":
            return self._status_bean(value)
        if field_id == "issuetype":
            return self._issue_type_bean(value)
        if field_id == "priority":
            return self._priority_bean(value) if value else None
        if field_id in ("assignee", "reporter"):
            return self._user(value)
        if field_id == "comment":
            comments = [self._comment_bean(issue, c) for c in issue.get("comments", [])]
            return {
                "comments": comments,
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            }
        if field_id == "labels":
            return list(value or [])
        if field_id == "customfield_10011":
            return self._option_bean(field_id, value) if value else None
        if field_id == "customfield_10014":
            return [self._option_bean(field_id, v) for v in value] if value else None
        return value

    def _issue_bean(self, issue: Mapping[str, Any], wanted: Iterable[str] | None) -> dict[str, Any]:
        """An IssueBean with the requested fields (None: every field)."""
        site = self._site()
        names = list(self._all_field_ids()) if wanted is None else list(wanted)
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,"
            "versionedRepresentations",
            "id": str(issue["id"]),
            "self": f"{site}/rest/api/3/issue/{issue['id']}",
            "key": _key(issue),
            "fields": {name: self._field_value(issue, name) for name in names},
        }

    def _all_field_ids(self) -> list[str]:
        return [*SYSTEM_FIELDS, *(f for f in CUSTOM_FIELDS if f != "customfield_10020")]

    def _select_fields(self, requested: list[str] | None, default: str) -> list[str] | None:
        """Field ids from a `fields` parameter; [] means ids only, None every field."""
        items = [r.strip() for r in (requested or [default]) if r.strip()] or [default]
        every = self._all_field_ids()
        chosen: list[str] = []
        include_all = False
        for item in items:
            if item in ("*all", "*navigable"):
                include_all = True
            elif item.startswith("-"):
                continue
            elif item in every and item not in chosen:
                chosen.append(item)
        if include_all:
            chosen = every
        excluded = {i[1:] for i in items if i.startswith("-")}
        if excluded and not include_all and not chosen:
            chosen = every  # "-description" alone: navigable fields except description
        return [c for c in chosen if c not in excluded]

    def _issue_out(self, issue: Mapping[str, Any], fields: list[str], keys: bool) -> dict[str, Any]:
        if not fields:
            out = {"id": str(issue["id"])}
            if keys:
                out["key"] = _key(issue)
            return out
        return self._issue_bean(issue, fields)

    # -- lookups ---------------------------------------------------------------------------

    def _find(self, id_or_key: str) -> dict[str, Any] | None:
        if id_or_key.isdigit():
            return self.issues.get(int(id_or_key))
        match = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)", id_or_key)
        if match and match[1].upper() == PROJECT["key"]:
            number = int(match[2])
            for issue in self.issues.values():
                if issue["number"] == number:
                    return issue
        return None

    def _require(self, id_or_key: str) -> dict[str, Any]:
        issue = self._find(id_or_key)
        if issue is None:
            raise HttpError(_errors(404, [ISSUE_MISSING]))
        return issue

    def _account(self, value: Any) -> str | None:
        if isinstance(value, dict):
            value = value.get("accountId", value.get("id"))
        if value is None:
            return None
        for user in self.users:
            if user["accountId"] == value:
                return str(value)
        raise ValueError(f"The user '{value}' does not exist.")

    # -- account and schema endpoints ------------------------------------------------------

    @route("GET", "/rest/api/3/myself")
    def myself(self, request: Request) -> Response:
        """getCurrentUser (Myself): the authenticated account, with its time zone."""
        self._site(request)
        user = self._user_bean(self.users[0])
        user["locale"] = "en_AU"
        return Response.json(200, user)

    @route("GET", "/rest/api/3/project/{project}")
    def project(self, request: Request) -> Response:
        """getProject (Projects)."""
        self._site(request)
        if request.params["project"] not in (PROJECT["key"], PROJECT["id"]):
            return _errors(
                404, ["No project could be found with key '{}'.".format(request.params["project"])]
            )
        bean = self._project_bean()
        bean["issueTypes"] = [self._issue_type_bean(t) for t in ISSUE_TYPES]
        bean["lead"] = self._user(self.users[0]["accountId"])
        bean["style"] = "classic"
        return Response.json(200, bean)

    @route("GET", "/rest/api/3/project/{project}/statuses")
    def project_statuses(self, request: Request) -> Response:
        """getAllStatuses (Projects): statuses per issue type of the project's workflow."""
        self._site(request)
        if request.params["project"] not in (PROJECT["key"], PROJECT["id"]):
            return _errors(
                404, ["No project could be found with key '{}'.".format(request.params["project"])]
            )
        site = self._site()
        return Response.json(
            200,
            [
                {
                    "self": f"{site}/rest/api/3/issueType/{type_id}",
                    "id": type_id,
                    "name": info["name"],
                    "subtask": False,
                    "statuses": [self._status_bean(s) for s in STATUSES],
                }
                for type_id, info in ISSUE_TYPES.items()
            ],
        )

    @route("GET", "/rest/api/3/field")
    def field_list(self, request: Request) -> Response:
        """getFields (Issue fields): every system and custom field of the site."""
        self._site(request)
        out = []
        for field_id, (name, schema) in SYSTEM_FIELDS.items():
            out.append(
                {
                    "id": field_id,
                    "key": field_id,
                    "name": name,
                    "custom": False,
                    "orderable": field_id not in ("created", "updated", "status"),
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [field_id],
                    "schema": {**schema, "system": field_id},
                }
            )
        for field_id, (name, custom_type, schema, _) in CUSTOM_FIELDS.items():
            number = int(field_id.removeprefix("customfield_"))
            plugin = (
                "com.pyxis.greenhopper.jira:gh-sprint"
                if custom_type == "gh-sprint"
                else _CUSTOM + custom_type
            )
            out.append(
                {
                    "id": field_id,
                    "key": field_id,
                    "name": name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{number}]", name],
                    "schema": {**schema, "custom": plugin, "customId": number},
                }
            )
        return Response.json(200, out)

    @route("GET", "/rest/api/3/issue/createmeta/{project}/issuetypes")
    def create_issue_types(self, request: Request) -> Response:
        """getCreateIssueMetaIssueTypes (Issues): issue types creatable in the project."""
        self._site(request)
        self._project_or_404(request.params["project"])
        start, limit = _page_args(request)
        types = [self._issue_type_bean(t) for t in ISSUE_TYPES]
        return Response.json(
            200,
            {
                "issueTypes": types[start : start + limit],
                "maxResults": limit,
                "startAt": start,
                "total": len(types),
            },
        )

    @route("GET", "/rest/api/3/issue/createmeta/{project}/issuetypes/{type_id}")
    def create_fields(self, request: Request) -> Response:
        """getCreateIssueMetaIssueTypeId (Issues): the create screen of one issue type."""
        self._site(request)
        self._project_or_404(request.params["project"])
        type_id = request.params["type_id"]
        if type_id not in ISSUE_TYPES:
            return _errors(400, [f"The issue type with id '{type_id}' does not exist."])
        start, limit = _page_args(request)
        items = [self._create_meta(type_id, f) for f in SCREENS[type_id]]
        return Response.json(
            200,
            {
                "fields": items[start : start + limit],
                "maxResults": limit,
                "startAt": start,
                "total": len(items),
            },
        )

    def _project_or_404(self, ref: str) -> None:
        if ref not in (PROJECT["key"], PROJECT["id"]):
            raise HttpError(_errors(404, [f"No project could be found with key '{ref}'."]))

    def _create_meta(self, type_id: str, field_id: str) -> dict[str, Any]:
        if field_id in SYSTEM_FIELDS:
            name, schema = SYSTEM_FIELDS[field_id]
            schema = {**schema, "system": field_id}
        else:
            name, custom_type, schema, _ = CUSTOM_FIELDS[field_id]
            schema = {
                **schema,
                "custom": _CUSTOM + custom_type,
                "customId": int(field_id.removeprefix("customfield_")),
            }
        item: dict[str, Any] = {
            "fieldId": field_id,
            "key": field_id,
            "name": name,
            "required": field_id in REQUIRED[type_id],
            "hasDefaultValue": field_id in ("priority", "reporter"),
            "operations": ["set"] if field_id not in ("labels",) else ["add", "set", "remove"],
            "schema": schema,
        }
        if field_id == "priority":
            item["allowedValues"] = [self._priority_bean(p) for p in PRIORITIES]
            item["defaultValue"] = self._priority_bean(DEFAULT_PRIORITY)
        elif field_id == "issuetype":
            item["allowedValues"] = [self._issue_type_bean(type_id)]
        elif field_id == "project":
            item["allowedValues"] = [self._project_bean()]
        elif field_id in ("assignee", "reporter"):
            item["autoCompleteUrl"] = f"{self._site()}/rest/api/3/user/search?query="
        elif field_id in CUSTOM_FIELDS and CUSTOM_FIELDS[field_id][3]:
            item["allowedValues"] = [
                self._option_bean(field_id, o) for o in CUSTOM_FIELDS[field_id][3]
            ]
        return item

    @route("GET", "/rest/api/3/user/search")
    def user_search(self, request: Request) -> Response:
        """findUsers (User search): users whose email or display name starts with `query`."""
        self._site(request)
        query = (request.arg("query") or "").casefold()
        account = request.arg("accountId")
        if not query and not account:
            return _errors(400, ["One of 'query' or 'accountId' parameters must be provided."])
        found = [
            self._user_bean(u)
            for u in self.users
            if (account and u["accountId"] == account)
            or (
                query
                and (
                    u["emailAddress"].casefold().startswith(query)
                    or any(p.casefold().startswith(query) for p in u["displayName"].split())
                )
            )
        ]
        start, limit = _page_args(request, default=50, cap=1000)
        return Response.json(200, found[start : start + limit])

    # -- search ----------------------------------------------------------------------------

    @route("GET", "/rest/api/3/search/jql", limits=("jira-search",))
    def search_get(self, request: Request) -> Response:
        """searchAndReconsileIssuesUsingJql (Issue search), GET form."""
        self._site(request)
        try:
            max_results = int(request.arg("maxResults", "50") or 50)
        except ValueError:
            return _errors(400, ["maxResults must be a number."])
        fields = request.args("fields") or None
        return self._search(
            request.arg("jql") or "", request.arg("nextPageToken"), max_results, fields
        )

    @route("POST", "/rest/api/3/search/jql", limits=("jira-search",))
    def search_post(self, request: Request) -> Response:
        """searchAndReconsileIssuesUsingJqlPost (Issue search), POST form."""
        self._site(request)
        body = _body(request)
        max_results = body.get("maxResults", 50)
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            return _errors(400, ["maxResults must be a number."])
        fields = body.get("fields")
        if fields is not None and not (
            isinstance(fields, list) and all(isinstance(f, str) for f in fields)
        ):
            return _errors(400, ["fields must be a list of field ids."])
        token = body.get("nextPageToken")
        return self._search(str(body.get("jql") or ""), token, max_results, fields)

    def _search(
        self, jql: str, token: str | None, max_results: int, requested: list[str] | None
    ) -> Response:
        try:
            query = parse_jql(jql)
            matcher = query.compile(self)
        except JqlError as exc:
            return _errors(400, [str(exc)])
        fields = self._select_fields(requested, "id")
        ids_only = not fields
        cap = MAX_PAGE_IDS if ids_only else MAX_PAGE_FIELDS
        limit = max(1, min(max_results, cap))
        keyed = sorted(
            ((query.sort_key(issue), issue) for issue in self.issues.values() if matcher(issue)),
            key=lambda pair: pair[0],
        )
        digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
        start = 0
        if token:
            after = self._read_token(token, digest)
            position = query.position(after)
            start = next((i for i, (k, _) in enumerate(keyed) if k > position), len(keyed))
        page = keyed[start : start + limit]
        wants_key = requested is not None and "key" in requested
        out: dict[str, Any] = {
            "issues": [self._issue_out(issue, fields, wants_key) for _, issue in page]
        }
        last = start + limit >= len(keyed)
        out["isLast"] = last
        if not last:
            out["nextPageToken"] = self._make_token(digest, query.raw_key(page[-1][1]))
        return Response.json(200, out)

    def _make_token(self, digest: str, after: list[Any]) -> str:
        data = {"q": digest, "after": after, "at": self._now()}
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    def _read_token(self, token: str, digest: str) -> list[Any]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded))
            after, made, query = data["after"], float(data["at"]), data["q"]
        except (ValueError, KeyError, TypeError):
            raise HttpError(_errors(400, ["The provided next page token is invalid."])) from None
        if query != digest:
            raise HttpError(
                _errors(400, ["The next page token does not belong to this JQL query."])
            )
        if self._now() - made > TOKEN_LIFETIME:
            raise HttpError(_errors(400, ["The provided next page token has expired."]))
        return list(after)

    @route("POST", "/rest/api/3/issue/bulkfetch")
    def bulk_fetch(self, request: Request) -> Response:
        """bulkFetchIssues (Issues): up to 100 issues by id or key; missing ones in issueErrors."""
        self._site(request)
        body = _body(request)
        refs = body.get("issueIdsOrKeys")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            return _errors(400, ["issueIdsOrKeys must be a list of issue ids or keys."])
        if len(refs) > MAX_BULK_FETCH:
            return _errors(
                400, [f"The number of issues requested exceeds the limit of {MAX_BULK_FETCH}."]
            )
        fields = self._select_fields(body.get("fields"), "*navigable")
        issues, errors, seen = [], [], set()
        for ref in refs:
            issue = self._find(ref)
            if issue is None:
                errors.append({"id": ref, "errorMessage": ISSUE_MISSING})
            elif issue["id"] not in seen:
                seen.add(issue["id"])
                issues.append(self._issue_out(issue, fields or [], keys=True))
        return Response.json(200, {"issues": issues, "issueErrors": errors})

    @route("GET", "/rest/api/3/issue/{issue}")
    def get_issue(self, request: Request) -> Response:
        """getIssue (Issues)."""
        self._site(request)
        issue = self._require(request.params["issue"])
        fields = self._select_fields(request.args("fields") or None, "*all")
        return Response.json(200, self._issue_bean(issue, fields))

    # -- writes ----------------------------------------------------------------------------

    @route("POST", "/rest/api/3/issue/bulk")
    def bulk_create(self, request: Request) -> Response:
        """createIssues (Issues): up to 50 issues; per-element errors by failedElementNumber."""
        self._site(request)
        body = _body(request)
        updates = body.get("issueUpdates")
        if not isinstance(updates, list) or not updates:
            return Response.json(
                400,
                {
                    "issues": [],
                    "errors": [_bulk_error(None, ["issueUpdates must be a non-empty list."], {})],
                },
            )
        if len(updates) > MAX_BULK_CREATE:
            message = f"The number of issues exceeds the limit of {MAX_BULK_CREATE} per request."
            return Response.json(400, {"issues": [], "errors": [_bulk_error(None, [message], {})]})
        created, errors = [], []
        for index, update in enumerate(updates):
            fields = update.get("fields") if isinstance(update, dict) else None
            try:
                issue = self._create(fields)
            except _Invalid as exc:
                errors.append(_bulk_error(index, exc.messages, exc.errors))
                continue
            created.append(self._created_bean(issue))
        return Response.json(201 if created else 400, {"issues": created, "errors": errors})

    @route("POST", "/rest/api/3/issue")
    def create_issue(self, request: Request) -> Response:
        """createIssue (Issues): one issue."""
        self._site(request)
        body = _body(request)
        try:
            issue = self._create(body.get("fields"))
        except _Invalid as exc:
            return Response.json(400, {"errorMessages": exc.messages, "errors": exc.errors})
        return Response.json(201, self._created_bean(issue))

    def _created_bean(self, issue: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": str(issue["id"]),
            "key": _key(issue),
            "self": f"{self._site()}/rest/api/3/issue/{issue['id']}",
        }

    def _create(self, fields: Any) -> dict[str, Any]:
        if not isinstance(fields, dict):
            raise _Invalid(["The issue has no 'fields'."], {})
        errors: dict[str, str] = {}
        type_id = self._ref_issue_type(fields.get("issuetype"), errors)
        project = fields.get("project")
        if not isinstance(project, dict) or (
            project.get("key") != PROJECT["key"] and project.get("id") != PROJECT["id"]
        ):
            errors["project"] = "Specify a valid project ID or key"
        if errors or type_id is None:
            raise _Invalid([], errors or {"issuetype": "Specify an issue type"})
        values: dict[str, Any] = {
            "issuetype": type_id,
            "status": INITIAL_STATUS,
            "priority": DEFAULT_PRIORITY,
            "reporter": self.users[0]["accountId"],
            "assignee": None,
            "labels": [],
        }
        for name, raw in fields.items():
            if name in ("project", "issuetype"):
                continue
            if name not in SCREENS[type_id]:
                errors[name] = NOT_SETTABLE.format(name)
                continue
            try:
                values[name] = self._convert(name, raw)
            except ValueError as exc:
                errors[name] = str(exc)
        for name in REQUIRED[type_id]:
            if name not in ("project", "issuetype") and values.get(name) in (None, "", []):
                errors.setdefault(name, _required_message(name))
        if errors:
            raise _Invalid([], errors)
        now = self._now()
        issue = self._insert(values, now, now)
        self._emit("jira:issue_created", "issue_created", issue, [])
        return issue

    def _ref_issue_type(self, ref: Any, errors: dict[str, str]) -> str | None:
        if not isinstance(ref, dict):
            errors["issuetype"] = "Specify an issue type"
            return None
        for type_id, info in ISSUE_TYPES.items():
            if ref.get("id") == type_id or (
                isinstance(ref.get("name"), str)
                and ref["name"].casefold() == info["name"].casefold()
            ):
                return type_id
        errors["issuetype"] = "The issue type selected is invalid."
        return None

    def _convert(self, name: str, raw: Any) -> Any:
        """A request value as stored. Raises ValueError with Jira's message for that field."""
        if name == "summary":
            if not isinstance(raw, str) or not raw.strip():
                raise ValueError("You must specify a summary of the issue.")
            if "\n" in raw or "\r" in raw:
                raise ValueError("The summary is invalid because it contains newline characters.")
            if len(raw) > SUMMARY_MAX:
                raise ValueError(f"Summary must be less than {SUMMARY_MAX} characters.")
            return raw
        if name in ("description", "customfield_10013"):
            if raw is None:
                return None
            _check_adf(raw)
            return raw
        if name == "customfield_10010":
            if raw is None:
                return None
            if not isinstance(raw, str) or len(raw) > SUMMARY_MAX:
                raise ValueError("Operation value must be a string of at most 255 characters")
            return raw
        if name == "priority":
            if not isinstance(raw, dict):
                raise ValueError("Specify the Priority (id or name) in the string format")
            for priority_id, label in PRIORITIES.items():
                if raw.get("id") == priority_id or raw.get("name") == label:
                    return priority_id
            raise ValueError("Specify a valid 'id' or 'name' for Priority")
        if name in ("assignee", "reporter"):
            return self._account(raw)
        if name == "labels":
            if raw is None:
                return []
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise ValueError("Operation value must be a list of labels")
            for label in raw:
                if not label or " " in label:
                    raise ValueError(f"The label '{label}' contains spaces which is invalid.")
                if len(label) > SUMMARY_MAX:
                    raise ValueError(f"The label '{label}' exceeds the 255 character limit.")
            return sorted(set(raw))
        if name in ("duedate", "customfield_10015"):
            if raw is None:
                return None
            try:
                return date.fromisoformat(str(raw)).isoformat()
            except ValueError:
                raise ValueError(f"Error parsing date string: {raw}") from None
        if name == "customfield_10012":
            if raw is None:
                return None
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise ValueError("Operation value must be a number")
            return float(raw)
        if name == "customfield_10011":
            return None if raw is None else self._option(name, raw)
        if name == "customfield_10014":
            if raw is None:
                return []
            if not isinstance(raw, list):
                raise ValueError("Operation value must be a list of options")
            return list(dict.fromkeys(self._option(name, v) for v in raw))
        raise ValueError(NOT_SETTABLE.format(name))

    def _option(self, field_id: str, raw: Any) -> str:
        options = CUSTOM_FIELDS[field_id][3]
        if isinstance(raw, dict):
            if raw.get("id") in options:
                return str(raw["id"])
            for option_id, value in options.items():
                if raw.get("value") == value:
                    return option_id
            shown = raw.get("value", raw.get("id"))
            raise ValueError(f"Option value '{shown}' is not valid")
        raise ValueError(f"Specify a valid 'id' or 'name' for {CUSTOM_FIELDS[field_id][0]}")

    @route("PUT", "/rest/api/3/issue/{issue}")
    def edit_issue(self, request: Request) -> Response:
        """editIssue (Issues): `fields` set values, `update` applies set/add/remove operations.

        Status is not a field here: "Issue transition is not supported and is ignored"; a
        `status` in `fields` is refused as not on the screen, as Jira does.
        """
        self._site(request)
        issue = self._require(request.params["issue"])
        body = _body(request)
        fields = body.get("fields") or {}
        updates = body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(updates, dict):
            return _errors(400, ["fields and update must be objects."])
        type_id = issue["fields"]["issuetype"]
        editable = {f for f in SCREENS[type_id] if f != "project"}
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        for name, raw in fields.items():
            if name not in editable:
                errors[name] = NOT_SETTABLE.format(name)
                continue
            try:
                if name == "issuetype":
                    new_type = self._ref_issue_type(raw, errors)
                    if new_type is not None:
                        changes[name] = new_type
                else:
                    changes[name] = self._convert(name, raw)
            except ValueError as exc:
                errors[name] = str(exc)
        for name, operations in updates.items():
            if name not in editable or name == "issuetype":
                errors[name] = NOT_SETTABLE.format(name)
                continue
            try:
                changes[name] = self._apply_operations(
                    name, changes.get(name, issue["fields"].get(name)), operations
                )
            except ValueError as exc:
                errors[name] = str(exc)
        if errors:
            return _errors(400, [], errors)
        if "issuetype" in changes:
            for name in REQUIRED[changes["issuetype"]]:
                value = changes.get(name, issue["fields"].get(name))
                if name not in ("project", "issuetype") and value in (None, "", []):
                    errors[name] = _required_message(name)
            if errors:
                return _errors(400, [], errors)
        self._change(issue, changes)
        if request.arg("returnIssue") == "true":
            return Response.json(200, self._issue_bean(issue, None))
        return Response.empty(204)

    def _apply_operations(self, name: str, current: Any, operations: Any) -> Any:
        if not isinstance(operations, list):
            raise ValueError("Operations must be a list")
        value = current
        for operation in operations:
            if not isinstance(operation, dict) or len(operation) != 1:
                raise ValueError("Each operation must have exactly one of set, add, remove")
            ((verb, argument),) = operation.items()
            if verb == "set":
                value = self._convert(name, argument)
            elif verb in ("add", "remove") and name in ("labels", "customfield_10014"):
                item = self._convert(name, [argument])
                merged = set(value or [])
                merged = merged | set(item) if verb == "add" else merged - set(item)
                value = sorted(merged)
            else:
                raise ValueError(f"The operation '{verb}' is not supported for {name}")
        return value

    def _change(self, issue: dict[str, Any], changes: Mapping[str, Any]) -> None:
        """Apply changes, bump `updated` and announce them (only if something changed)."""
        items = []
        for name, value in changes.items():
            before = issue["fields"].get(name)
            if before != value:
                items.append(self._changelog_item(name, before, value))
                issue["fields"][name] = value
        if items:
            issue["updated"] = max(self._now(), issue["updated"])
            self._emit("jira:issue_updated", "issue_generic", issue, items)

    def _changelog_item(self, name: str, before: Any, after: Any) -> dict[str, Any]:
        def text(value: Any) -> str | None:
            if value is None:
                return None
            if name == "status":
                return STATUSES[value]["name"]
            if name == "priority":
                return PRIORITIES[value]
            if name == "issuetype":
                return ISSUE_TYPES[value]["name"]
            if isinstance(value, dict):
                return adf.adf_to_text(value)
            if isinstance(value, list):
                return " ".join(str(v) for v in value)
            return str(value)

        custom = name.startswith("customfield_")
        return {
            "field": CUSTOM_FIELDS[name][0] if custom else name,
            "fieldtype": "custom" if custom else "jira",
            "fieldId": name,
            "from": before if isinstance(before, str) else None,
            "fromString": text(before),
            "to": after if isinstance(after, str) else None,
            "toString": text(after),
        }

    @route("GET", "/rest/api/3/issue/{issue}/transitions")
    def get_transitions(self, request: Request) -> Response:
        """getTransitions (Issues): the transitions available from the current status."""
        self._site(request)
        issue = self._require(request.params["issue"])
        status = issue["fields"]["status"]
        return Response.json(
            200,
            {
                "expand": "transitions",
                "transitions": [
                    {
                        "id": tid,
                        "name": name,
                        "to": self._status_bean(to),
                        "hasScreen": False,
                        "isGlobal": False,
                        "isInitial": False,
                        "isAvailable": True,
                        "isConditional": False,
                        "looped": False,
                    }
                    for tid, name, sources, to in WORKFLOW
                    if status in sources
                ],
            },
        )

    @route("POST", "/rest/api/3/issue/{issue}/transitions")
    def do_transition(self, request: Request) -> Response:
        """doTransition (Issues): move the issue along one available transition."""
        self._site(request)
        issue = self._require(request.params["issue"])
        body = _body(request)
        transition = body.get("transition")
        tid = transition.get("id") if isinstance(transition, dict) else None
        if not isinstance(tid, str) or not tid:
            return _errors(400, ["Missing 'transition' identifier"])
        status = issue["fields"]["status"]
        for candidate, _, sources, to in WORKFLOW:
            if candidate == tid and status in sources:
                self._change(issue, {"status": to})
                return Response.empty(204)
        return _errors(400, [f"Transition id '{tid}' is not valid for this issue."])

    @route("POST", "/rest/api/3/issue/{issue}/comment")
    def add_comment(self, request: Request) -> Response:
        """addComment (Issue comments): the body is ADF; the issue's `updated` moves."""
        self._site(request)
        issue = self._require(request.params["issue"])
        body = _body(request)
        try:
            _check_adf(body.get("body"))
        except ValueError as exc:
            return _errors(400, [], {"comment": str(exc)})
        if not adf.adf_to_text(body["body"]).strip():
            return _errors(400, [], {"comment": "Comment body can not be empty!"})
        comment = self._add_comment(issue, self.users[0]["accountId"], body["body"], self._now())
        issue["updated"] = max(self._now(), issue["updated"])
        self._emit("comment_created", "issue_commented", issue, [], comment=comment)
        return Response.json(201, self._comment_bean(issue, comment))

    def _add_comment(
        self, issue: dict[str, Any], author: str, body: dict[str, Any], when: float
    ) -> dict[str, Any]:
        comment = {"id": str(self.next_comment_id), "author": author, "body": body}
        comment["created"] = comment["updated"] = round(when, 3)
        self.next_comment_id += 1
        issue["comments"].append(comment)
        return comment

    def _comment_bean(self, issue: Mapping[str, Any], comment: Mapping[str, Any]) -> dict[str, Any]:
        author = self._user(comment["author"])
        return {
            "self": f"{self._site()}/rest/api/3/issue/{issue['id']}/comment/{comment['id']}",
            "id": comment["id"],
            "author": author,
            "body": comment["body"],
            "updateAuthor": author,
            # The spec types these `date-time` (RFC 3339, "+11:00"); its own examples and
            # issue fields use "+1100". The sandbox follows the schema here.
            "created": self._time(comment["created"], rfc3339=True),
            "updated": self._time(comment["updated"], rfc3339=True),
            "jsdPublic": True,
        }

    @route("DELETE", "/rest/api/3/issue/{issue}")
    def delete_issue(self, request: Request) -> Response:
        """deleteIssue (Issues)."""
        self._site(request)
        issue = self._require(request.params["issue"])
        del self.issues[issue["id"]]
        self._emit("jira:issue_deleted", "issue_deleted", issue, [])
        return Response.empty(204)

    # -- webhooks --------------------------------------------------------------------------

    def _emit(
        self,
        event: str,
        type_name: str,
        issue: Mapping[str, Any],
        items: list[Any],
        comment: Mapping[str, Any] | None = None,
    ) -> None:
        if not self.context.webhooks_wanted():
            return
        self.event_seq += 1
        payload: dict[str, Any] = {
            "timestamp": int(self._now() * 1000),
            "webhookEvent": event,
            "issue_event_type_name": type_name,
            "user": self._user_bean(self.users[0]),
            "issue": self._issue_bean(issue, None),
        }
        if items:
            self.changelog_seq += 1
            payload["changelog"] = {"id": str(self.changelog_seq), "items": items}
        if comment is not None:
            payload["comment"] = self._comment_bean(issue, comment)
        identifier = hashlib.sha256(
            f"{self.event_seq}:{payload['timestamp']}:{event}:{issue['id']}".encode()
        ).hexdigest()
        self.context.emit({"identifier": identifier[:32], "payload": payload})

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        """One POST per event, as Jira admin webhooks send them, signed with X-Hub-Signature."""
        out = []
        for event in events:
            body = json.dumps(event["payload"], separators=(",", ":")).encode()
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "X-Atlassian-Webhook-Identifier": event["identifier"],
                "X-Atlassian-Webhook-Flow": "Primary",
                webhooks.SIGNATURE_HEADER: webhooks.sign(body, target.secret),
            }
            out.append(Delivery(target.url, body, headers, delivery_id=event["identifier"]))
        return out


class _Invalid(Exception):
    def __init__(self, messages: list[str], errors: dict[str, str]) -> None:
        super().__init__("; ".join(messages + list(errors.values())))
        self.messages = messages
        self.errors = errors


def _errors(status: int, messages: list[str], errors: Mapping[str, str] | None = None) -> Response:
    return Response.json(status, {"errorMessages": messages, "errors": dict(errors or {})})


def _bulk_error(
    index: int | None, messages: list[str], errors: Mapping[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": 400,
        "elementErrors": {"errorMessages": messages, "errors": dict(errors)},
    }
    if index is not None:
        out["failedElementNumber"] = index
    return out


def _required_message(name: str) -> str:
    if name == "summary":
        return "You must specify a summary of the issue."
    label = CUSTOM_FIELDS[name][0] if name in CUSTOM_FIELDS else SYSTEM_FIELDS[name][0]
    return f"{label} is required."


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except BadRequest as exc:
        raise HttpError(_errors(400, [str(exc)])) from None
    if not isinstance(body, dict):
        raise HttpError(_errors(400, ["The request body must be a JSON object."]))
    return body


def _page_args(request: Request, *, default: int = 50, cap: int = 200) -> tuple[int, int]:
    try:
        start = int(request.arg("startAt", "0") or 0)
        limit = int(request.arg("maxResults", str(default)) or default)
    except ValueError:
        raise HttpError(_errors(400, ["startAt and maxResults must be numbers."])) from None
    if limit > cap:
        raise HttpError(_errors(400, [f"Parameter 'maxResults' must not exceed the limit '{cap}'"]))
    return max(0, start), max(1, limit)


def _check_adf(value: Any) -> None:
    if not (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    ):
        raise ValueError(
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        )

    def walk(node: Any) -> None:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            raise ValueError("Invalid ADF: every node needs a type")
        if node["type"] == "text" and not (isinstance(node.get("text"), str) and node["text"]):
            raise ValueError("Invalid ADF: text nodes must have non-empty text")
        for child in node.get("content") or []:
            walk(child)

    walk(value)


def _key(issue: Mapping[str, Any]) -> str:
    return f"{PROJECT['key']}-{issue['number']}"


def _account_id(seed_text: str) -> str:
    # Jira Cloud account ids look like "5b10a2844c20165700ede21g" (24 chars) or
    # "712020:<uuid>"; a stable hash keeps them deterministic.
    return "712020:" + hashlib.sha256(seed_text.encode()).hexdigest()[:32]


def _default_users() -> list[dict[str, Any]]:
    return [
        {
            "accountId": _account_id("automation"),
            "displayName": "Concord Automation",
            "emailAddress": SANDBOX_EMAIL,
            "timeZone": DEFAULT_TIME_ZONE,
        },
        {
            "accountId": _account_id("lead"),
            "displayName": "Priya Raman",
            "emailAddress": "priya.raman@northwind.example",
            "timeZone": "Europe/London",
        },
    ]


def _seed_description(fake: FakeData) -> str:
    parts = [fake.paragraph(2)]
    if fake.random.random() < 0.5:
        steps = ["Open the account settings", "Change the plan", "Save and reload the page"]
        parts.append(
            "Steps to reproduce:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1))
        )
    if fake.random.random() < 0.4:
        parts.append(f"- Affected accounts: {fake.random.randrange(1, 40)}\n- Workaround: none yet")
    if fake.random.random() < 0.3:
        parts.append("Runbook: [incident guide](https://runbooks.northwind.example/incidents)")
    return "\n\n".join(parts)


# -- JQL (the subset Concord and people use against this sandbox) ---------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~|\(|\)|,)
      | (?P<word>cf\[\d+\]|[A-Za-z0-9_.\-:@+]+(?:\(\))?)
    )""",
    re.VERBOSE,
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_ORDERABLE = {"updated", "created", "key", "issuekey", "id", "duedate", "summary", "priority"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise JqlError(
                f"Error in the JQL Query: The character '{text[position:].strip()[:1]}' is a "
                f"reserved JQL character (at character {position + 1})."
            )
        position = match.end()
        kind = match.lastgroup or ""
        value = match[kind]
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
    return out


class _Query:
    """A parsed JQL query: a clause tree and an ORDER BY list."""

    def __init__(self, where: Any, order: list[tuple[str, bool]]) -> None:
        self.where = where
        self.order = order or [("id", True)]  # no ORDER BY: newest issue first

    def compile(self, site: JiraSandbox) -> Callable[[dict[str, Any]], bool]:
        if self.where is None:
            raise JqlError(
                "Unbounded JQL queries are not allowed here. Please add a search restriction "
                "to your query."
            )
        return _compile(self.where, site)

    def raw_key(self, issue: Mapping[str, Any]) -> list[Any]:
        values = [_order_value(issue, name) for name, _ in self.order]
        return [*values, issue["id"]]

    def sort_key(self, issue: Mapping[str, Any]) -> tuple[Any, ...]:
        parts: list[Any] = []
        for name, descending in self.order:
            value = _order_value(issue, name)
            item = (value is None, value if value is not None else "")
            parts.append(_Reversed(item) if descending else item)
        parts.append(issue["id"])
        return tuple(parts)

    def position(self, raw: list[Any]) -> tuple[Any, ...]:
        if len(raw) != len(self.order) + 1:
            raise HttpError(_errors(400, ["The provided next page token is invalid."]))
        parts: list[Any] = []
        for (_, descending), value in zip(self.order, raw[:-1], strict=True):
            item = (value is None, value if value is not None else "")
            parts.append(_Reversed(item) if descending else item)
        parts.append(raw[-1])
        return tuple(parts)


class _Reversed:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Reversed) -> bool:
        return other.value > self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def _order_value(issue: Mapping[str, Any], name: str) -> Any:
    if name in ("updated", "created"):
        return issue[name]
    if name in ("key", "issuekey", "id"):
        return issue["number"]
    if name == "priority":
        return int(issue["fields"].get("priority") or 99)
    return issue["fields"].get(name)


def parse_jql(text: str) -> _Query:
    """Parse the supported JQL subset. Raises JqlError with Jira's wording."""
    tokens = _tokens(text)
    position = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        index = position + offset
        return tokens[index] if index < len(tokens) else None

    def is_word(token: tuple[str, str] | None, *words: str) -> bool:
        return token is not None and token[0] == "word" and token[1].lower() in words

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise JqlError("Error in the JQL Query: Expecting more input at the end of the query.")
        position += 1
        return tokens[position - 1]

    def expression() -> Any:
        node = conjunction()
        while is_word(peek(), "or"):
            take()
            node = ("or", node, conjunction())
        return node

    def conjunction() -> Any:
        node = negation()
        while is_word(peek(), "and"):
            take()
            node = ("and", node, negation())
        return node

    def negation() -> Any:
        token = peek()
        if is_word(token, "not"):
            take()
            return ("not", negation())
        if token == ("op", "("):
            take()
            node = expression()
            if take() != ("op", ")"):
                raise JqlError("Error in the JQL Query: Expecting ')' before the end of the query.")
            return node
        return clause()

    def value() -> str:
        kind, text_value = take()
        if kind not in ("string", "word"):
            raise JqlError(f"Error in the JQL Query: Expecting a value but got '{text_value}'.")
        return text_value

    def clause() -> Any:
        kind, field = take()
        if kind not in ("word", "string"):
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{field}'.")
        token = peek()
        if is_word(token, "in") or (is_word(token, "not") and is_word(peek(1), "in")):
            negated = take()[1].lower() == "not"
            if negated:
                take()
            if take() != ("op", "("):
                raise JqlError("Error in the JQL Query: Expecting '(' after 'in'.")
            values = [value()]
            while peek() == ("op", ","):
                take()
                values.append(value())
            if take() != ("op", ")"):
                raise JqlError("Error in the JQL Query: Expecting ')' to close the list.")
            return ("not in" if negated else "in", field, values)
        if is_word(token, "is"):
            take()
            negated = is_word(peek(), "not")
            if negated:
                take()
            if not is_word(take(), "empty", "null"):
                raise JqlError("Error in the JQL Query: Expecting EMPTY after 'is'.")
            return ("is not empty" if negated else "is empty", field, [])
        operator = take()
        if operator[0] != "op" or operator[1] in ("(", ")", ","):
            raise JqlError(
                f"Error in the JQL Query: Expecting an operator but got '{operator[1]}'."
            )
        return (operator[1], field, [value()])

    where = None
    if tokens and not is_word(peek(), "order"):
        where = expression()
    order: list[tuple[str, bool]] = []
    if is_word(peek(), "order"):
        take()
        if not is_word(take(), "by"):
            raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
        while True:
            _, name = take()
            name = name.lower()
            if name not in _ORDERABLE:
                raise JqlError(
                    f"Field '{name}' does not exist or you do not have permission to view it."
                )
            descending = False
            if is_word(peek(), "asc", "desc"):
                descending = take()[1].lower() == "desc"
            order.append((name, descending))
            if peek() != ("op", ","):
                break
            take()
    if position != len(tokens):
        raise JqlError(f"Error in the JQL Query: Unexpected '{tokens[position][1]}'.")
    return _Query(where, order)


def _compile(node: Any, site: JiraSandbox) -> Callable[[dict[str, Any]], bool]:
    kind = node[0]
    if kind in ("and", "or"):
        left, right = _compile(node[1], site), _compile(node[2], site)
        if kind == "and":
            return lambda issue: left(issue) and right(issue)
        return lambda issue: left(issue) or right(issue)
    if kind == "not":
        inner = _compile(node[1], site)
        return lambda issue: not inner(issue)
    operator, field, values = node
    return _clause(operator, field, values, site)


def _custom_field(name: str) -> str | None:
    match = re.fullmatch(r"cf\[(\d+)\]|customfield_(\d+)", name, re.IGNORECASE)
    if match:
        field_id = f"customfield_{match[1] or match[2]}"
        return field_id if field_id in CUSTOM_FIELDS else None
    for field_id, (label, *_rest) in CUSTOM_FIELDS.items():
        if label.casefold() == name.casefold():
            return field_id
    return None


def _clause(
    operator: str, name: str, values: list[str], site: JiraSandbox
) -> Callable[[dict[str, Any]], bool]:
    field = name.lower()
    field = {"issuekey": "key", "type": "issuetype", "due": "duedate"}.get(field, field)
    if field not in ("project", "key", "id", "summary", "description", "text", "status",
                     "priority", "issuetype", "assignee", "reporter", "labels", "duedate",
                     "created", "updated"):  # fmt: skip
        custom = _custom_field(name)
        if custom is None:
            raise JqlError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        field = custom
    emptiness = operator in ("is empty", "is not empty")

    def stored(issue: Mapping[str, Any]) -> Any:
        return issue["fields"].get(field)

    if emptiness:

        def empty(issue: dict[str, Any]) -> bool:
            return stored(issue) in (None, "", [])

        return empty if operator == "is empty" else (lambda issue: not empty(issue))

    if field in ("summary", "description", "text", "customfield_10010", "customfield_10013"):
        if operator not in ("~", "!~"):
            raise JqlError(f"The operator '{operator}' is not supported by the '{name}' field.")
        phrase = _phrase(values[0]).casefold()

        def contains(issue: dict[str, Any]) -> bool:
            names = (
                ("summary", "description", "customfield_10010", "customfield_10013")
                if field == "text"
                else (field,)
            )
            for item in names:
                value = issue["fields"].get(item)
                text = adf.adf_to_text(value) if isinstance(value, dict) else value
                if isinstance(text, str) and phrase in text.casefold():
                    return True
            return False

        return contains if operator == "~" else (lambda issue: not contains(issue))

    if field in ("created", "updated", "duedate", "customfield_10015"):
        if operator not in ("=", "!=", ">", ">=", "<", "<="):
            raise JqlError(f"The operator '{operator}' is not supported by the '{name}' field.")
        if field in ("created", "updated"):
            bound = _jql_time(values[0], name, site._zone())

            def moment(issue: dict[str, Any]) -> Any:
                return issue[field]
        else:
            bound = _jql_date(values[0], name)

            def moment(issue: dict[str, Any]) -> Any:
                return issue["fields"].get(field)

        compare = _COMPARE[operator]
        return lambda issue: moment(issue) is not None and compare(moment(issue), bound)

    if operator not in ("=", "!=", "in", "not in"):
        raise JqlError(f"The operator '{operator}' is not supported by the '{name}' field.")
    wanted = {_resolve(field, v, site) for v in values}

    def member(issue: dict[str, Any]) -> bool:
        if field == "project":
            return True  # one project on this site
        if field in ("key", "id"):
            return issue["id"] in wanted
        value = stored(issue)
        if isinstance(value, list):
            return bool(wanted & set(value))
        return value in wanted

    if field == "project":
        return lambda issue: (operator in ("=", "in")) == (PROJECT["id"] in wanted)
    return member if operator in ("=", "in") else (lambda issue: not member(issue))


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _phrase(value: str) -> str:
    """The text of a `~` value; a quoted phrase inside the JQL string is unescaped once more."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _jql_time(text: str, name: str, zone: ZoneInfo) -> float:
    """A JQL date(-time) literal as epoch seconds, read in the account's time zone."""
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone).timestamp()
    raise JqlError(
        f"Date value '{text}' for field '{name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


def _jql_date(text: str, name: str) -> str:
    for fmt in ("%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date().isoformat()
        except ValueError:
            continue
    raise JqlError(f"Date value '{text}' for field '{name}' is invalid.")


def _resolve(field: str, value: str, site: JiraSandbox) -> Any:
    """A JQL value as the stored form of `field`. Raises JqlError for unknown values."""
    folded = value.casefold()
    if field == "project":
        if folded in (PROJECT["key"].casefold(), PROJECT["id"], PROJECT["name"].casefold()):
            return PROJECT["id"]
        raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
    if field in ("key", "id"):
        issue = site._find(value.upper() if field == "key" else value)
        if issue is None:
            raise JqlError(f"An issue with key '{value}' does not exist for field '{field}'.")
        return issue["id"]
    tables = {"status": {k: v["name"] for k, v in STATUSES.items()}, "priority": PRIORITIES,
              "issuetype": {k: v["name"] for k, v in ISSUE_TYPES.items()}}  # fmt: skip
    if field in tables:
        for ident, label in tables[field].items():
            if folded in (ident, label.casefold()):
                return ident
        raise JqlError(f"The value '{value}' does not exist for the field '{field}'.")
    if field in ("assignee", "reporter"):
        for user in site.users:
            if value in (user["accountId"],) or folded == user["emailAddress"].casefold():
                return user["accountId"]
        raise JqlError(f"The value '{value}' does not exist for the field '{field}'.")
    if field == "labels":
        return value
    if field in CUSTOM_FIELDS:
        options = CUSTOM_FIELDS[field][3]
        if options:
            for ident, label in options.items():
                if folded in (ident, label.casefold()):
                    return ident
            raise JqlError(
                f"The option '{value}' for field '{CUSTOM_FIELDS[field][0]}' does not exist."
            )
        try:
            return float(value)
        except ValueError:
            raise JqlError(
                f"The value '{value}' is not a number for '{CUSTOM_FIELDS[field][0]}'."
            ) from None
    return value


SANDBOX = JiraSandbox


def contract() -> ContractCase:
    """The Jira facts the shared contract suite needs (tests/connectors/test_contract.py)."""

    def config(base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "email": SANDBOX_EMAIL,
            "api_token": SANDBOX_TOKEN,
            "project_key": PROJECT["key"],
        }

    def bad_config(base_url: str) -> dict[str, Any]:
        return {**config(base_url), "api_token": "revoked-token"}

    def new_record(n: int) -> dict[str, JSON]:
        return {
            "summary": f"Contract check {n}: export stalls at 99%",
            "description": f"Reported by account {n}.\n\n- Browser: Firefox\n- Plan: Business",
            "priority": "High",
            "labels": [f"contract-{n}"],
        }

    def invalid_record() -> dict[str, JSON]:
        return {"summary": "Refused: no such priority", "priority": "Catastrophic"}

    def update(n: int) -> dict[str, JSON]:
        return {
            "summary": f"Contract check {n}: updated",
            "description": f"Updated text {n}.\n\n1. First\n2. Second",
            "priority": "Low",
            "labels": [f"updated-{n}"],
        }

    return ContractCase(
        object_type="issues",
        config=config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=invalid_record,
        update=update,
        stale_after=webhooks.REPLAY_WINDOW,
        seed_counts={"issues": 12},
        write_method="POST",
    )

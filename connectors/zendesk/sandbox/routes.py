"""The Zendesk sandbox's HTTP side: authentication, errors, rate limits, webhooks, and the
endpoints for one record at a time (show, create, update, delete, create-or-update,
comments, counts) and the account and its fields. Many-record endpoints are in bulk.py,
lists, exports and search in exports.py.

Each handler names its page of Zendesk's reference (developer.zendesk.com/api-reference).
Paths work with and without ".json", as on Zendesk.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from connectors.sandbox.core import (
    JSON,
    Delivery,
    HttpError,
    RateLimit,
    Request,
    Response,
    ValidationError,
    VendorSandbox,
    WebhookTarget,
    record_page,
    route,
)
from connectors.sandbox.records import Row
from connectors.zendesk.sandbox import webhooks
from connectors.zendesk.sandbox.bulk import BulkRoutes
from connectors.zendesk.sandbox.exports import ExportRoutes
from connectors.zendesk.sandbox.hooks import WebhookRoutes
from connectors.zendesk.sandbox.schema import (
    ADMIN_EMAIL,
    API_TOKEN,
    FIELD_DEFINITIONS,
    OAUTH_TOKEN,
    SINGULAR,
    iso,
)
from connectors.zendesk.sandbox.state import ZendeskState, connection_config, html_of
from connectors.zendesk.sandbox.views import (
    body_object,
    for_types,
    not_found,
    public,
    zendesk_error,
)

ACCOUNT_LIMIT = RateLimit(700, 60.0)
UNAUTHENTICATED = {"error": "Couldn't authenticate you"}
UPDATE_CONFLICT = (
    "Safe Update prevented the update due to outdated ticket data. "
    "Please fetch the latest ticket data and try again."
)


WEB_RECORD = re.compile(r"^/agent/(?P<type>tickets|users|organizations)/(?P<id>[0-9]+)/?$")


class ZendeskSandbox(BulkRoutes, ExportRoutes, WebhookRoutes, VendorSandbox):
    kind = "zendesk"
    # Enterprise plan: 700 requests a minute for the account; incremental exports: 10 a
    # minute (https://developer.zendesk.com/api-reference/introduction/rate-limits/).
    default_limits = ("account",)
    state_class = ZendeskState
    state: ZendeskState

    @property  # type: ignore[override]
    def rate_limits(self) -> dict[str, RateLimit]:
        # The export limit is a setting (export_rate_limit): it lives in the state.
        return {"account": ACCOUNT_LIMIT, "incremental": self.state.export_limit}

    # -- protocol hooks --------------------------------------------------------------------

    def canonical_path(self, path: str) -> str:
        """Zendesk answers "/api/v2/tickets" and "/api/v2/tickets.json" alike."""
        return path if path.endswith(".json") else path + ".json"

    def connection_config(self, base_url: str) -> dict[str, JSON]:
        return connection_config(base_url)

    def web_page(self, request: Request) -> Response | None:
        """A record's page in the agent interface: /agent/{tickets|users|organizations}/{id}
        (the path arrives with the ".json" canonical_path adds to every path)."""
        found = WEB_RECORD.match(request.path.removesuffix(".json"))
        if found is None:
            return None
        object_type, record_id = found["type"], found["id"]
        with self.lock:
            row = self.state.table.get(object_type, int(record_id))
            data = dict(row.data) if row is not None and row.live else None
        return record_page("Zendesk", f"{object_type[:-1].title()} {record_id}", data)

    def authenticate(self, request: Request) -> str | Response:
        """Basic `{email}/token:{token}` for an active agent or admin, or `Bearer {token}`.

        https://developer.zendesk.com/api-reference/introduction/security-and-auth/
        """
        header = request.header("authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip() == OAUTH_TOKEN:
            return "oauth:" + value.strip()[-6:]
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError, ValueError):
                decoded = ""
            user, _, token = decoded.partition(":")
            email = user.removesuffix("/token").lower()
            if user.endswith("/token") and token == API_TOKEN:
                with self.lock:  # called outside the handler lock; users may be changing
                    found = self.state.table.find("users", email)
                    if found is not None and found.data.get("role") in ("agent", "admin"):
                        return email
        return Response.json(401, UNAUTHENTICATED)

    def error(self, status: int, message: str) -> Response:
        if status == 404:
            return not_found()
        if status == 422:
            return zendesk_error(
                422,
                "RecordInvalid",
                "Record validation errors",
                {"base": [{"description": message, "error": "InvalidValue"}]},
            )
        if status == 401:
            return Response.json(401, UNAUTHENTICATED)
        if status >= 500:
            return zendesk_error(status, "InternalError", message)
        return zendesk_error(status, "InvalidEndpoint" if status == 405 else "BadRequest", message)

    def refuse(self, error: ValidationError) -> Response:
        """A record's problems as 422 RecordInvalid with `details`; a malformed request as
        400 with the problem's own error name."""
        fields = error.fields()
        if fields:
            details = {
                name: [{"description": p.message, "error": p.code} for p in problems]
                for name, problems in fields.items()
            }
            return zendesk_error(422, "RecordInvalid", "Record validation errors", details)
        code = error.problems[0].code if error.problems else ""
        return zendesk_error(400, code or "BadRequest", str(error))

    def rate_limited(self, limit: str, retry_after: float) -> Response:
        """429 with Retry-After in whole seconds (Rate limits, Incremental Exports)."""
        seconds = max(1, int(retry_after + 0.999))
        exports = limit == "incremental"
        what = "incremental export " if exports else ""
        response = zendesk_error(
            429, "APIRateLimitExceeded", f"Number of allowed {what}API requests per minute exceeded"
        )
        allowed = self.rate_limits["incremental" if exports else "account"].requests
        response.headers.append(("Retry-After", str(seconds)))
        response.headers.append(("X-Rate-Limit", str(allowed)))
        response.headers.append(("X-Rate-Limit-Remaining", "0"))
        return response

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        """One signed POST per event, as Zendesk sends event-subscription webhooks."""
        return webhooks.deliveries(events, target, now)

    # -- account and schema ----------------------------------------------------------------

    @route("GET", "/api/v2/users/me.json")
    def show_self(self, request: Request) -> Response:
        """Users: Show Self. https://developer.zendesk.com/api-reference/ticketing/users/users/#show-self"""
        # An OAuth token is the owner's.
        email = request.identity if "@" in request.identity else ADMIN_EMAIL
        user = self.state.table.find("users", email)
        if user is None:
            return Response.json(401, UNAUTHENTICATED)
        return Response.json(200, {"user": public(user, request.base_url)})

    @route("GET", "/api/v2/ticket_fields.json", params={"type": "tickets"})
    @route("GET", "/api/v2/user_fields.json", params={"type": "users"})
    @route("GET", "/api/v2/organization_fields.json", params={"type": "organizations"})
    def list_fields(self, request: Request) -> Response:
        """Ticket Fields, User Fields, Organization Fields: List.
        https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_fields/
        """
        object_type = request.params["type"]
        root = f"{SINGULAR[object_type]}_fields"
        items = [
            {**item, "url": f"{request.base_url}/api/v2/{root}/{item['id']}.json"}
            for item in FIELD_DEFINITIONS[object_type]
        ]
        return Response.json(
            200, {root: items, "next_page": None, "previous_page": None, "count": len(items)}
        )

    # -- one record --------------------------------------------------------------------------

    @for_types("GET", "/api/v2/<type>/{id}")
    def show(self, request: Request) -> Response:
        """Tickets: Show Ticket; Users: Show User; Organizations: Show Organization.
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#show-ticket
        """
        row = self._one(request)
        return Response.json(200, {SINGULAR[row.type]: public(row, request.base_url)})

    @for_types("POST", "/api/v2/<type>.json")
    def create(self, request: Request) -> Response:
        """Tickets: Create Ticket; Users: Create User; Organizations: Create Organization.
        201 with the record (and a ticket's audit), or 422 RecordInvalid.
        https://developer.zendesk.com/api-reference/ticketing/users/users/#create-user
        """
        object_type = request.params["type"]
        data = body_object(request, SINGULAR[object_type])
        row = self.state.create(object_type, data, self.state.now())
        return self._answer(request, row, {}, data, 201)

    @for_types("PUT", "/api/v2/<type>/{id}")
    def update(self, request: Request) -> Response:
        """Tickets: Update Ticket (with `safe_update` and `updated_stamp`: 409 when the
        ticket changed since); Users: Update User; Organizations: Update Organization.
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket
        """
        row = self._one(request)
        data = body_object(request, SINGULAR[row.type])
        stale = data.get("updated_stamp") != row.data["updated_at"]
        if row.type == "tickets" and data.get("safe_update") and stale:
            return zendesk_error(409, "UpdateConflict", UPDATE_CONFLICT)
        changes = {k: v for k, v in data.items() if k not in ("safe_update", "updated_stamp")}
        before = dict(row.data)
        self.state.update(row, changes, self.state.now())
        return self._answer(request, row, before, changes, 200)

    @for_types("DELETE", "/api/v2/<type>/{id}")
    def delete(self, request: Request) -> Response:
        """Tickets: Delete Ticket (soft: 204); Users: Delete User (200 with the user, now
        inactive); Organizations: Delete Organization (204).
        https://developer.zendesk.com/api-reference/ticketing/users/users/#delete-user
        """
        row = self._one(request)
        self.state.delete(row, self.state.now())
        if row.type == "users":
            return Response.json(200, {"user": public(row, request.base_url)})
        return Response.empty(204)

    @for_types("POST", "/api/v2/<type>/create_or_update.json", ("users", "organizations"))
    def create_or_update(self, request: Request) -> Response:
        """Users: Create Or Update User (matched on email or external_id); Organizations:
        Create Or Update Organization (on id or external_id). 201 created, 200 updated.
        https://developer.zendesk.com/api-reference/ticketing/users/users/#create-or-update-user
        """
        object_type = request.params["type"]
        data = body_object(request, SINGULAR[object_type])
        row, created = self.state.upsert(object_type, data, self.state.now())
        return Response.json(
            201 if created else 200, {SINGULAR[object_type]: public(row, request.base_url)}
        )

    @for_types("GET", "/api/v2/<type>/count.json")
    def count(self, request: Request) -> Response:
        """Tickets: Count Tickets; Users: Count Users; Organizations: Count Organizations.
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#count-tickets
        """
        value = self.state.table.count(request.params["type"])
        return Response.json(
            200, {"count": {"value": value, "refreshed_at": iso(self.state.now())}}
        )

    @route("GET", "/api/v2/tickets/{id}/comments.json", params={"type": "tickets"})
    def list_comments(self, request: Request) -> Response:
        """Ticket Comments: List Comments (oldest first; the first is the description).
        https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/
        """
        row = self._one(request)
        comments = [{"html_body": html_of(c["body"]), **c} for c in row.data.get("_comments", [])]
        if request.arg("sort_order") == "desc":
            comments.reverse()
        body: dict[str, Any] = {
            "comments": comments,
            "next_page": None,
            "previous_page": None,
            "count": len(comments),
        }
        if "users" in (request.arg("include") or "").split(","):
            # Side-loading: the comments' authors (Side-Loading, "users").
            authors = sorted({c["author_id"] for c in comments})
            body["users"] = [
                {"id": u.id, "name": u.data.get("name"), "email": u.data.get("email")}
                for u in (self.state.table.get("users", a) for a in authors)
                if u is not None
            ]
        return Response.json(200, body)

    # -- helpers -----------------------------------------------------------------------------

    def _one(self, request: Request) -> Row:
        row = self.state.live(request.params["type"], request.params["id"].removesuffix(".json"))
        if row is None:
            raise HttpError(not_found())
        return row

    def _answer(
        self, request: Request, row: Row, before: dict[str, Any], data: dict[str, Any], status: int
    ) -> Response:
        noun = SINGULAR[row.type]
        body: dict[str, Any] = {noun: public(row, request.base_url)}
        if row.type == "tickets":
            body["audit"] = _audit(row, before, data)
        headers = {"Location": body[noun]["url"]} if status == 201 else None
        return Response.json(status, body, headers)


def _audit(row: Row, before: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The ticket audit of a write: a Create or Change event per attribute set, a Comment
    event for a comment (Ticket Audits)."""
    kind = "Change" if before else "Create"
    events: list[dict[str, Any]] = []
    for name, value in row.data.items():
        if name.startswith("_") or name in ("updated_at", "created_at", "id"):
            continue
        if name not in data and not (kind == "Create" and value not in (None, "", [])):
            continue
        if kind == "Change" and before.get(name) == value:
            continue
        event = {"id": row.version * 100 + len(events), "type": kind, "field_name": name}
        event["value"] = value
        if kind == "Change":
            event["previous_value"] = before.get(name)
        events.append(event)
    comment = data.get("comment")
    if isinstance(comment, dict) and row.data.get("_comments"):
        last = row.data["_comments"][-1]
        events.append(
            {"id": last["id"], "type": "Comment", "body": last["body"],
             "html_body": last["html_body"], "plain_body": last["plain_body"],
             "public": last["public"], "author_id": last["author_id"],
             "created_at": last["created_at"], "attachments": []}
        )  # fmt: skip
    return {
        "id": row.version,
        "ticket_id": row.id,
        "created_at": row.data["updated_at"],
        "author_id": row.data.get("submitter_id"),
        "metadata": {},
        "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
        "events": events,
    }

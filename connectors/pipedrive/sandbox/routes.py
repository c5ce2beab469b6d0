"""The Pipedrive sandbox's HTTP side: API v2 persons, organizations and their field lists,
v1 users; authentication by API token, Pipedrive's error bodies and its 429s.

Paths are below the sandbox prefix as below https://api.pipedrive.com: /v1/... and
/api/v2/... . Each handler names its page of Pipedrive's API reference
(developers.pipedrive.com/docs/api/v1 and /v2).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from connectors.pipedrive.sandbox import webhooks
from connectors.pipedrive.sandbox.schema import (
    ADMIN_TOKEN,
    COMPANY_DOMAIN,
    COMPANY_ID,
    COMPANY_NAME,
    CUSTOM_FIELDS,
    SYSTEM_FIELDS,
    USER_BY_TOKEN,
    USERS,
    parse_rfc3339,
    v1_time,
)
from connectors.pipedrive.sandbox.state import PipedriveState
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
    route,
)
from connectors.sandbox.records import Row

LIMIT_MAX = 500
IDS_MAX = 100
CUSTOM_FIELDS_MAX = 15
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
SORTS = ("id", "update_time", "add_time")
TYPES = ("persons", "organizations")


class PipedriveSandbox(VendorSandbox):
    kind = "pipedrive"
    # Burst limit: a rolling 2-second window per token (Pipedrive's "Rate limiting" page;
    # the number depends on the plan, 40 is the sandbox's choice).
    rate_limits = {"burst": RateLimit(40, 2.0)}
    default_limits = ("burst",)
    state_class = PipedriveState
    state: PipedriveState

    # -- protocol hooks --------------------------------------------------------------------

    def connection_config(self, base_url: str) -> dict[str, JSON]:
        return {"base_url": base_url, "api_token": ADMIN_TOKEN}

    def authenticate(self, request: Request) -> str | Response:
        """The `x-api-token` header (the spec's `api_key` scheme), or the legacy
        `api_token` query parameter."""
        token = request.header("x-api-token") or request.arg("api_token") or ""
        if token not in USER_BY_TOKEN:
            return _error(401, "unauthorized access")
        if request.path.startswith("/api/v2/") and not USER_BY_TOKEN[token].get("contacts", True):
            return _error(403, "You do not have access to persons and organizations.")
        return token

    def error(self, status: int, message: str) -> Response:
        return _error(status, message)

    def refuse(self, error: ValidationError) -> Response:
        return _error(400, str(error))

    def rate_limited(self, limit: str, retry_after: float) -> Response:
        """429 with the x-ratelimit-* headers and no Retry-After: the seconds to wait are in
        `x-ratelimit-reset`."""
        seconds = max(1, int(retry_after + 0.999))
        limit_value = str(self.rate_limits["burst"].requests)
        return Response.json(
            429,
            {"success": False, "error": "Request over limit", "errorCode": 429,
             "error_info": ERROR_INFO, "data": None, "additional_data": None},
            {"x-ratelimit-limit": limit_value, "x-ratelimit-remaining": "0",
             "x-ratelimit-reset": str(seconds)},
        )  # fmt: skip

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        return webhooks.deliveries(events, target)

    # -- helpers ---------------------------------------------------------------------------

    def _require_write(self, request: Request, object_type: str) -> None:
        user = USER_BY_TOKEN[request.identity]
        if not user["admin"]:
            raise HttpError(
                _error(403, f"You do not have permission to edit or delete {object_type}.")
            )

    def _live(self, object_type: str, record_id: str) -> Row:
        row = self.state.get(object_type, record_id)
        if row is None:
            raise HttpError(_error(404, f"{object_type[:-1].capitalize()} not found"))
        return row

    # -- v1: users -------------------------------------------------------------------------

    @route("GET", "/v1/users/me")
    def me(self, request: Request) -> Response:
        """Reference: v1 "Users | Get current user data"."""
        user = USER_BY_TOKEN[request.identity]
        data = {
            **_user(user),
            "is_you": True,
            "company_id": COMPANY_ID,
            "company_name": COMPANY_NAME,
            "company_domain": COMPANY_DOMAIN,
            "company_country": "DE",
            "company_industry": "Software",
            "language": {"language_code": "en", "country_code": "US"},
        }
        return Response.json(200, {"success": True, "data": data})

    @route("GET", "/v1/users")
    def users(self, request: Request) -> Response:
        """Reference: v1 "Users | Get all users"."""
        return Response.json(200, {"success": True, "data": [_user(u) for u in USERS]})

    # -- v2: field lists -------------------------------------------------------------------

    @route("GET", "/api/v2/personFields", params={"object_type": "persons"})
    @route("GET", "/api/v2/organizationFields", params={"object_type": "organizations"})
    def field_list(self, request: Request) -> Response:
        """Reference: v2 "PersonFields | Get all person fields" and "OrganizationFields |
        Get all organization fields", cursor-paged."""
        object_type = request.params["object_type"]
        fields = [
            _field(code, label, ftype, options, custom=False)
            for code, label, ftype, options in SYSTEM_FIELDS[object_type]
        ] + [
            _field(code, label, ftype, options, custom=True)
            for code, label, ftype, options in CUSTOM_FIELDS[object_type]
        ]
        limit = _limit(request)
        start = _decode_cursor(request.arg("cursor"))[0] if request.arg("cursor") else 0
        if not isinstance(start, int) or start < 0:
            raise ValidationError("Invalid cursor")
        page = fields[start : start + limit]
        following = start + limit if start + limit < len(fields) else None
        return Response.json(
            200,
            {
                "success": True,
                "data": page,
                "additional_data": {
                    "next_cursor": _encode_cursor([following]) if following is not None else None
                },
            },
        )

    # -- v2: persons and organizations -----------------------------------------------------

    @route("GET", "/api/v2/{object_type}")
    def list_records(self, request: Request) -> Response:
        """Reference: v2 "Persons | Get all persons" / "Organizations | Get all
        organizations": filters `ids`, `owner_id`, `org_id` (persons), `updated_since` and
        `updated_until`; `sort_by` id, update_time or add_time, `sort_direction`; `limit` up
        to 500 and an opaque `cursor` (the first item of the next page). Deleted records are
        not listed."""
        object_type = _object_type(request)
        limit = _limit(request)
        sort_by = request.arg("sort_by") or "id"
        direction = request.arg("sort_direction") or "asc"
        if sort_by not in SORTS or direction not in ("asc", "desc"):
            raise ValidationError("Invalid sort_by or sort_direction")
        custom = _custom_keys(request, object_type)
        rows = self.state.table.rows(object_type)
        ids = request.arg("ids")
        if ids is not None:
            wanted = _ints(ids, "ids")
            if len(wanted) > IDS_MAX:
                raise ValidationError(f"ids accepts up to {IDS_MAX} ids")
            rows = [r for r in rows if r.id in set(wanted)]
        for name, key in (("owner_id", "owner_id"), ("org_id", "org_id")):
            value = request.arg(name)
            if value is not None:
                if name == "org_id" and object_type != "persons":
                    raise ValidationError(f"Unknown parameter {name}")
                number = _ints(value, name)[0]
                rows = [r for r in rows if r.data.get(key) == number]
        since, until = request.arg("updated_since"), request.arg("updated_until")
        if since is not None:
            moment = parse_rfc3339(since)
            if moment is None:
                raise ValidationError("updated_since must be an RFC3339 date-time")
            rows = [r for r in rows if r.modified >= moment]
        if until is not None:
            moment = parse_rfc3339(until)
            if moment is None:
                raise ValidationError("updated_until must be an RFC3339 date-time")
            rows = [r for r in rows if r.modified < moment]

        def key(row: Row) -> list[int]:
            if sort_by == "update_time":
                return [int(row.modified), row.id]
            if sort_by == "add_time":
                return [int(row.created), row.id]
            return [row.id]

        rows.sort(key=key, reverse=direction == "desc")
        cursor = request.arg("cursor")
        if cursor:
            marker = _decode_cursor(cursor)
            if len(marker) != (1 if sort_by == "id" else 2):
                raise ValidationError("Invalid cursor")
            if direction == "asc":
                rows = [r for r in rows if key(r) >= marker]
            else:
                rows = [r for r in rows if key(r) <= marker]
        page = rows[:limit]
        following = _encode_cursor(key(rows[limit])) if len(rows) > limit else None
        return Response.json(
            200,
            {
                "success": True,
                "data": [self.state.render(object_type, r, custom) for r in page],
                "additional_data": {"next_cursor": following},
            },
        )

    @route("GET", "/api/v2/{object_type}/{record_id}")
    def get_record(self, request: Request) -> Response:
        """Reference: v2 "Get details of a person" / "of an organization": 404 for a deleted
        one, as for one that never existed."""
        object_type = _object_type(request)
        row = self._live(object_type, request.params["record_id"])
        custom = _custom_keys(request, object_type)
        return Response.json(
            200, {"success": True, "data": self.state.render(object_type, row, custom)}
        )

    @route("POST", "/api/v2/{object_type}")
    def create_record(self, request: Request) -> Response:
        """Reference: v2 "Add a new person" / "Add a new organization"."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        clean = self.state.validate(object_type, request.json(), creating=True)
        row = self.state.create(object_type, clean)
        return Response.json(200, {"success": True, "data": self.state.render(object_type, row)})

    @route("PATCH", "/api/v2/{object_type}/{record_id}")
    def update_record(self, request: Request) -> Response:
        """Reference: v2 "Update a person" / "Update an organization": only the fields sent
        change; `custom_fields` merges key by key; `emails` and `phones` replace the list."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        row = self._live(object_type, request.params["record_id"])
        clean = self.state.validate(object_type, request.json(), creating=False)
        self.state.update(object_type, row, clean)
        return Response.json(200, {"success": True, "data": self.state.render(object_type, row)})

    @route("DELETE", "/api/v2/{object_type}/{record_id}")
    def delete_record(self, request: Request) -> Response:
        """Reference: v2 "Delete a person": "Marks a person as deleted. After 30 days, the
        person will be permanently deleted." A record already deleted answers 404."""
        object_type = _object_type(request)
        self._require_write(request, object_type)
        row = self._live(object_type, request.params["record_id"])
        self.state.delete(object_type, row)
        return Response.json(200, {"success": True, "data": {"id": row.id}})

    @route("GET", "/api/v2/{object_type}/search")
    def search(self, request: Request) -> Response:
        """Reference: v2 "Search persons" / "Search organizations": `term` (2 characters at
        least, 1 with `exact_match`), `fields` to search in, `exact_match` (whole value,
        case-insensitive), cursor-paged, ranked by score (here: then by id)."""
        object_type = _object_type(request)
        term = (request.arg("term") or "").strip()
        exact = (request.arg("exact_match") or "false").lower() == "true"
        if len(term) < (1 if exact else 2):
            raise ValidationError("term must be at least 2 characters long (1 if exact_match)")
        allowed = (
            ("custom_fields", "email", "notes", "phone", "name")
            if object_type == "persons"
            else ("address", "custom_fields", "notes", "name")
        )
        fields = request.args("fields") or list(allowed)
        if any(f not in allowed for f in fields):
            raise ValidationError(f"fields must be among {', '.join(allowed)}")
        limit = _limit(request)
        hits = [
            row
            for row in self.state.table.rows(object_type)
            if _matches(object_type, row, fields, term.lower(), exact)
        ]
        start = _decode_cursor(request.arg("cursor"))[0] if request.arg("cursor") else 0
        page = hits[start : start + limit]
        following = _encode_cursor([start + limit]) if start + limit < len(hits) else None
        return Response.json(
            200,
            {
                "success": True,
                "data": {"items": [_search_item(object_type, self.state, r) for r in page]},
                "additional_data": {"next_cursor": following},
            },
        )


# -- Pipedrive's bodies ----------------------------------------------------------------------


def _error(status: int, message: str) -> Response:
    return Response.json(
        status,
        {"success": False, "error": message, "error_info": ERROR_INFO, "data": None,
         "additional_data": None},
    )  # fmt: skip


def _user(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": user["id"],
        "name": user["name"],
        "default_currency": "EUR",
        "locale": "en_US",
        "lang": 1,
        "email": user["email"],
        "phone": None,
        "activated": True,
        "last_login": v1_time(1_735_689_600),
        "created": v1_time(1_704_067_200),
        "modified": None,
        "has_created_company": user["admin"],
        "access": [{"app": "sales", "admin": user["admin"], "permission_set_id": "1"}],
        "active_flag": True,
        "timezone_name": "Europe/Berlin",
        "timezone_offset": "+01:00",
        "role_id": 1,
        "icon_url": None,
        "is_you": False,
        "is_deleted": False,
    }


def _field(
    code: str, label: str, ftype: str, options: list[tuple[int, str]], *, custom: bool
) -> dict[str, Any]:
    return {
        "field_name": label,
        "field_code": code,
        "field_type": ftype,
        "options": [{"id": i, "label": text} for i, text in options] if options else None,
        "subfields": None,
        "is_custom_field": custom,
        "is_optional_response_field": False,
    }


def _search_item(object_type: str, state: PipedriveState, row: Row) -> dict[str, Any]:
    data = row.data
    customs = [str(v) for v in (data.get("custom_fields") or {}).values() if isinstance(v, str)]
    item: dict[str, Any] = {
        "id": row.id,
        "type": object_type[:-1],
        "name": data["name"],
        "visible_to": data["visible_to"],
        "owner": {"id": data["owner_id"]},
        "custom_fields": customs,
        "notes": [],
    }
    if object_type == "persons":
        item["phones"] = [p["value"] for p in data["phones"]]
        item["emails"] = [e["value"] for e in data["emails"]]
        org = state.table.get("organizations", data["org_id"]) if data.get("org_id") else None
        if org is not None:
            item["organization"] = {"id": org.id, "name": org.data["name"]}
    else:
        item["address"] = (data.get("address") or {}).get("value")
    return {"result_score": 1.0, "item": item}


def _matches(object_type: str, row: Row, fields: list[str], term: str, exact: bool) -> bool:
    data = row.data
    values: list[str] = []
    for name in fields:
        if name == "name":
            values.append(data["name"])
        elif name == "email" and object_type == "persons":
            values.extend(e["value"] for e in data["emails"])
        elif name == "phone" and object_type == "persons":
            values.extend(p["value"] for p in data["phones"])
        elif name == "address" and object_type == "organizations":
            values.append((data.get("address") or {}).get("value") or "")
        elif name == "custom_fields":
            values.extend(
                str(v) for v in (data.get("custom_fields") or {}).values() if v is not None
            )
    lowered = [v.lower() for v in values]
    return term in lowered if exact else any(term in v for v in lowered)


# -- request parsing -------------------------------------------------------------------------


def _object_type(request: Request) -> str:
    name = request.params["object_type"]
    if name not in TYPES:
        raise HttpError(_error(404, f"no such endpoint {request.path}"))
    return name


def _limit(request: Request) -> int:
    text = request.arg("limit") or "100"
    try:
        limit = int(text)
    except ValueError:
        raise ValidationError(f"limit must be an integer, got {text!r}") from None
    if not 1 <= limit <= LIMIT_MAX:
        raise ValidationError(f"limit must be between 1 and {LIMIT_MAX}")
    return limit


def _ints(text: str, name: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValidationError(f"{name} must be integers separated by commas") from None


def _custom_keys(request: Request, object_type: str) -> list[str] | None:
    keys = request.args("custom_fields")
    if not keys:
        return None
    if len(keys) > CUSTOM_FIELDS_MAX:
        raise ValidationError(f"custom_fields accepts up to {CUSTOM_FIELDS_MAX} keys")
    return keys


def _encode_cursor(marker: list[int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(marker).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> list[int]:
    try:
        padded = (cursor or "") + "=" * (-len(cursor or "") % 4)
        marker = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        raise ValidationError("Invalid cursor") from None
    if not isinstance(marker, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in marker
    ):
        raise ValidationError("Invalid cursor")
    return marker

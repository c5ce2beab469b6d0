"""The Redmine sandbox's HTTP side: API-key authentication, the REST endpoints Concord
calls, and Redmine's error shapes (https://www.redmine.org/projects/redmine/wiki/Rest_api).

Redmine answers a wrong key and a missing record with an empty body (401, 404), a refused
write with 422 {"errors": [...]}, a PUT or DELETE with 204 and no body. It has no rate limit
and sends no webhooks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any

from connectors.redmine.sandbox.state import (
    ADMIN_KEY,
    CLOSED,
    CUSTOM_FIELDS,
    DEFAULT_PRIORITY,
    DEVELOPER_ROLE,
    MEMBERS,
    PRIORITIES,
    PROJECTS,
    STATUSES,
    TRACKERS,
    USERS,
    RedmineState,
    User,
    project_by_ref,
    stamp,
    user_by_key,
)
from connectors.sandbox.core import (
    JSON,
    HttpError,
    Request,
    Response,
    ValidationError,
    VendorSandbox,
    record_page,
    route,
)
from connectors.sandbox.records import Row

PAGE_MAX = 100
PAGE_DEFAULT = 25
_MOMENT = re.compile(r"^(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}Z?)?$")


def connection_config(base_url: str) -> dict[str, JSON]:
    return {"base_url": base_url, "api_key": ADMIN_KEY, "project": "sync-test", "tracker": ""}


class RedmineSandbox(VendorSandbox):
    kind = "redmine"
    state_class = RedmineState
    state: RedmineState

    def connection_config(self, base_url: str) -> dict[str, JSON]:
        return connection_config(base_url)

    def authenticate(self, request: Request) -> str | Response:
        """The X-Redmine-API-Key header or the `key` parameter; 401 with no body otherwise
        (the server requires a login, as start-redmine.sh sets it up)."""
        user = user_by_key(request.header("x-redmine-api-key") or request.arg("key"))
        if user is None:
            return Response(401, b"", [("Content-Type", "application/json; charset=utf-8")])
        return user.login

    def error(self, status: int, message: str) -> Response:
        if status == 422:
            return Response.json(422, {"errors": [message]})
        return Response(status, b"", [("Content-Type", "application/json; charset=utf-8")])

    def refuse(self, error: ValidationError) -> Response:
        return Response.json(422, {"errors": [p.message for p in error.problems]})

    def web_page(self, request: Request) -> Response | None:
        """An issue's page: /issues/{id} (no .json)."""
        found = re.fullmatch(r"/issues/(\d+)", request.path.rstrip("/"))
        if found is None:
            return None
        with self.lock:
            row = self.state.table.get("issues", int(found.group(1)))
            data = self.state.issue_json(row, listing=False) if row is not None else None
        return record_page("Redmine", f"Issue #{found.group(1)}", data)

    def _user(self, request: Request) -> User:
        user = next(u for u in USERS if u.login == request.identity)
        return user

    # -- account and schema ----------------------------------------------------------------

    @route("GET", "/users/current.json")
    def current_user(self, request: Request) -> Response:
        """Rest_Users: GET /users/current.json, with include=memberships the projects and
        roles of the user's memberships."""
        user = self._user(request)
        out = _user_json(user, user)
        if "memberships" in request.args("include"):
            role = {"id": DEVELOPER_ROLE["id"], "name": DEVELOPER_ROLE["name"]}
            out["memberships"] = [
                {"id": project["id"] * 100 + user.id,
                 "project": {"id": project["id"], "name": project["name"]}, "roles": [role]}
                for project in PROJECTS
                if user.id in MEMBERS.get(project["id"], ())
            ]  # fmt: skip
        return Response.json(200, {"user": out})

    @route("GET", "/roles/{id}.json")
    def show_role(self, request: Request) -> Response:
        """Rest_Roles: GET /roles/{id}.json, for any user over the API."""
        if request.params["id"] != str(DEVELOPER_ROLE["id"]):
            raise HttpError(self.error(404, "not found"))
        role = {
            "id": DEVELOPER_ROLE["id"],
            "name": DEVELOPER_ROLE["name"],
            "assignable": True,
            "issues_visibility": "default",
            "time_entries_visibility": "all",
            "users_visibility": "all",
            "permissions": list(DEVELOPER_ROLE["permissions"]),
        }
        return Response.json(200, {"role": role})

    @route("GET", "/users/{id}.json")
    def show_user(self, request: Request) -> Response:
        """Rest_Users: GET /users/{id}.json; email only for administrators and oneself."""
        viewer = self._user(request)
        user = next((u for u in USERS if str(u.id) == request.params["id"]), None)
        if user is None:
            raise HttpError(self.error(404, "not found"))
        return Response.json(200, {"user": _user_json(user, viewer)})

    @route("GET", "/users.json")
    def list_users(self, request: Request) -> Response:
        """Rest_Users: GET /users.json?name= (administrators only, 403 otherwise)."""
        viewer = self._user(request)
        if not viewer.admin:
            raise HttpError(self.error(403, "forbidden"))
        text = (request.arg("name") or "").casefold()
        found = [
            _user_json(u, viewer)
            for u in USERS
            if not text
            or text in u.login.casefold()
            or text in u.mail.casefold()
            or text in u.name.casefold()
        ]
        return Response.json(
            200, {"users": found, "total_count": len(found), "offset": 0, "limit": 25}
        )

    @route("GET", "/projects/{id}.json")
    def show_project(self, request: Request) -> Response:
        """Rest_Projects: GET /projects/{id}.json?include=trackers,issue_custom_fields.
        404 for a project that does not exist or the user may not see."""
        project = self._visible_project(request.params["id"], self._user(request))
        out: dict[str, Any] = {
            "id": project["id"],
            "name": project["name"],
            "identifier": project["identifier"],
            "description": None,
            "homepage": "",
            "status": 1,
            "is_public": True,
            "inherit_members": False,
        }
        includes = request.args("include")
        if "trackers" in includes:
            out["trackers"] = [{"id": t, "name": TRACKERS[t]} for t in project["trackers"]]
        if "issue_custom_fields" in includes:
            out["issue_custom_fields"] = []  # every custom field here is "for all projects"
        return Response.json(200, {"project": out})

    @route("GET", "/trackers.json")
    def trackers(self, request: Request) -> Response:
        """Rest_Trackers: GET /trackers.json."""
        items = [{"id": i, "name": n, "default_status": {"id": 1, "name": "New"},
                  "description": None} for i, n in TRACKERS.items()]  # fmt: skip
        return Response.json(200, {"trackers": items})

    @route("GET", "/issue_statuses.json")
    def statuses(self, request: Request) -> Response:
        """Rest_IssueStatuses: GET /issue_statuses.json."""
        items = [{"id": i, "name": n, "is_closed": i in CLOSED} for i, n in STATUSES.items()]
        return Response.json(200, {"issue_statuses": items})

    @route("GET", "/enumerations/issue_priorities.json")
    def priorities(self, request: Request) -> Response:
        """Rest_Enumerations: GET /enumerations/issue_priorities.json."""
        items = [{"id": i, "name": n, "is_default": i == DEFAULT_PRIORITY, "active": True}
                 for i, n in PRIORITIES.items()]  # fmt: skip
        return Response.json(200, {"issue_priorities": items})

    @route("GET", "/custom_fields.json")
    def custom_fields(self, request: Request) -> Response:
        """Rest_CustomFields: GET /custom_fields.json, administrators only (403)."""
        if not self._user(request).admin:
            raise HttpError(self.error(403, "forbidden"))
        items = []
        for field in CUSTOM_FIELDS:
            item: dict[str, Any] = {
                "id": field["id"],
                "name": field["name"],
                "customized_type": "issue",
                "field_format": field["field_format"],
                "regexp": "",
                "min_length": None,
                "max_length": None,
                "is_required": False,
                "is_filter": True,
                "searchable": False,
                "multiple": field["multiple"],
                "default_value": None,
                "visible": True,
            }
            if "possible_values" in field:
                item["possible_values"] = [
                    {"value": v, "label": v} for v in field["possible_values"]
                ]
            item["trackers"] = [{"id": i, "name": n} for i, n in TRACKERS.items()]
            item["roles"] = []
            items.append(item)
        return Response.json(200, {"custom_fields": items})

    # -- issues ----------------------------------------------------------------------------

    @route("GET", "/issues.json")
    def list_issues(self, request: Request) -> Response:
        """Rest_Issues: GET /issues.json with the filters Concord uses (project_id,
        subproject_id, status_id, issue_id, updated_on, subject, tracker_id, priority_id,
        assigned_to_id, cf_N), `sort`, `limit` (capped at 100) and `offset`. Without
        `status_id` only open issues are listed. An unknown project is a 404."""
        user = self._user(request)
        rows = [r for r in self.state.table.rows("issues") if self._visible(r, user)]
        if request.arg("project_id") is not None:
            project = self._visible_project(request.arg("project_id") or "", user)
            rows = [r for r in rows if r.data["project_id"] == project["id"]]
        rows = [r for r in rows if _status_filter(request.arg("status_id"), r)]
        rows = _apply_filters(request, rows)
        rows = _sorted(rows, request.arg("sort") or "id:desc")
        limit = min(max(_number(request.arg("limit"), PAGE_DEFAULT), 1), PAGE_MAX)
        offset = max(_number(request.arg("offset"), 0), 0)
        page = rows[offset : offset + limit]
        return Response.json(
            200,
            {
                "issues": [self.state.issue_json(r, listing=True) for r in page],
                "total_count": len(rows),
                "offset": offset,
                "limit": limit,
            },
            # The server's time, as every Redmine answer carries it (by the sandbox's clock,
            # which the admin API may have moved).
            {"Date": formatdate(self.context.now(), usegmt=True)},
        )

    @route("POST", "/issues.json")
    def create_issue(self, request: Request) -> Response:
        """Rest_Issues: POST /issues.json {"issue": {...}}: 201 with the issue. Without a
        JSON content type Redmine ignores the body (and so answers 422)."""
        values = self._issue_body(request)
        project = project_by_ref(values.get("project_id")) if values.get("project_id") else None
        if project is not None:
            self._visible_project(str(project["id"]), self._user(request))
        row = self.state.create(self._user(request), values)
        issue = self.state.issue_json(row, listing=False)
        location = f"{request.base_url}/issues/{row.id}.json"
        return Response.json(201, {"issue": issue}, {"Location": location})

    @route("GET", "/issues/{id}.json")
    def show_issue(self, request: Request) -> Response:
        """Rest_Issues: GET /issues/{id}.json, with `include=journals` the issue's journals
        (notes and changes, oldest first)."""
        row = self._issue(request)
        issue = self.state.issue_json(row, listing=False)
        if "journals" in request.args("include"):
            issue["journals"] = self.state.journals_json(row)
        return Response.json(200, {"issue": issue})

    @route("PUT", "/journals/{id}.json")
    def update_journal(self, request: Request) -> Response:
        """JournalsController#update (no page of the REST reference, but API-enabled in
        Redmine 5.0): {"journal": {"notes", "private_notes"}}: 204; blank notes on a
        journal without changes delete it; 404 for a journal gone or not visible."""
        wanted = request.params["id"]
        found = self.state.journal_find(int(wanted)) if wanted.isdigit() else None
        user = self._user(request)
        if found is None or not self._visible(found[0], user):
            raise HttpError(self.error(404, "not found"))
        if not user.admin:  # the Developer role may not edit notes, not even its own
            raise HttpError(self.error(403, "forbidden"))
        body = request.json() if "json" in (request.header("content-type") or "") else {}
        values = body.get("journal") if isinstance(body, dict) else None
        self.state.journal_edit(found[0], found[1], values if isinstance(values, dict) else {})
        return Response.empty(204)

    @route("PUT", "/issues/{id}.json")
    def update_issue(self, request: Request) -> Response:
        """Rest_Issues: PUT /issues/{id}.json: 204 with no body."""
        row = self._issue(request)
        self.state.update(self._user(request), row, self._issue_body(request))
        return Response.empty(204)

    @route("DELETE", "/issues/{id}.json")
    def delete_issue(self, request: Request) -> Response:
        """Rest_Issues: DELETE /issues/{id}.json: 204; the issue is gone (404 after), and
        listings show no trace of it."""
        row = self._issue(request)
        self.state.table.purge(row)
        return Response.empty(204)

    # -- helpers ---------------------------------------------------------------------------

    def _issue_body(self, request: Request) -> dict[str, Any]:
        if "json" not in (request.header("content-type") or ""):
            return {}
        body = request.json()
        issue = body.get("issue") if isinstance(body, dict) else None
        return issue if isinstance(issue, dict) else {}

    def _issue(self, request: Request) -> Row:
        row = None
        if request.params["id"].isdigit():
            row = self.state.table.get("issues", int(request.params["id"]))
        if row is None or not self._visible(row, self._user(request)):
            raise HttpError(self.error(404, "not found"))
        return row

    def _visible(self, row: Row, user: User) -> bool:
        return user.admin or user.id in MEMBERS.get(row.data["project_id"], ())

    def _visible_project(self, ref: str, user: User) -> dict[str, Any]:
        project = project_by_ref(ref)
        if project is None or not (user.admin or user.id in MEMBERS.get(project["id"], ())):
            raise HttpError(self.error(404, "not found"))
        return project


def _user_json(user: User, viewer: User) -> dict[str, JSON]:
    out: dict[str, JSON] = {
        "id": user.id,
        "login": user.login,
        "admin": user.admin,
        "firstname": user.firstname,
        "lastname": user.lastname,
    }
    if viewer.admin or viewer.id == user.id:
        out["mail"] = user.mail  # others hide their address (Redmine's default)
    out.update({"created_on": "2025-01-06T09:00:00Z", "status": 1})
    return out


def _number(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _status_filter(value: str | None, row: Row) -> bool:
    status = row.data["status_id"]
    if value is None or value in ("o", "open"):
        return status not in CLOSED
    if value == "*":
        return True
    if value in ("c", "closed"):
        return status in CLOSED
    return str(status) in value.replace(",", "|").split("|")


def _moment(text: str, *, end: bool = False) -> float:
    """A filter's date or time in epoch seconds; 422 "Updated is invalid" otherwise."""
    found = _MOMENT.match(text)
    if found is None:
        raise ValidationError("Updated is invalid")
    if found.group(2):
        when = datetime.strptime(text.rstrip("Z"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        return when.timestamp()
    day = datetime.strptime(found.group(1), "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    return day + 86400 if end else day


def _apply_filters(request: Request, rows: list[Row]) -> list[Row]:
    issue_ids = request.arg("issue_id")
    if issue_ids:
        if issue_ids.startswith(">="):
            low = _number(issue_ids[2:], 0)
            rows = [r for r in rows if r.id >= low]
        else:
            wanted = {int(i) for i in re.split(r"[,|]", issue_ids) if i.strip().isdigit()}
            rows = [r for r in rows if r.id in wanted]
    updated = request.arg("updated_on")
    if updated:
        # Redmine implements ">=T" as "after T minus one second" (stored times have
        # fractions of a second): a query re-reads up to a second before T.
        if updated.startswith(">="):
            low = _moment(updated[2:]) - (1 if "T" in updated else 0)
            rows = [r for r in rows if r.modified >= low]
        elif updated.startswith("<="):
            high = _moment(updated[2:], end=True)
            rows = [r for r in rows if r.modified <= high]
        elif updated.startswith("><"):
            first, _, second = updated[2:].partition("|")
            low, high = _moment(first) - 1, _moment(second, end=True)
            rows = [r for r in rows if low <= r.modified <= high]
        else:
            raise ValidationError("Updated is invalid")
    subject = request.arg("subject")
    if subject:
        if subject.startswith("~"):
            words = [w.casefold() for w in subject[1:].split("|")]
            rows = [r for r in rows if any(w in r.data["subject"].casefold() for w in words)]
        else:
            exact = subject.removeprefix("=").split("|")
            rows = [r for r in rows if r.data["subject"] in exact]
    for name, key in (("tracker_id", "tracker_id"), ("priority_id", "priority_id"),
                      ("assigned_to_id", "assigned_to_id")):  # fmt: skip
        value = request.arg(name)
        if value:
            wanted_ids = value.removeprefix("=").split("|")
            rows = [r for r in rows if str(r.data.get(key)) in wanted_ids]
    for field in CUSTOM_FIELDS:
        value = request.arg(f"cf_{field['id']}")
        if value:
            wanted_values = value.removeprefix("=").split("|")
            rows = [r for r in rows if _custom_matches(r, field, wanted_values)]
    return rows


def _custom_matches(row: Row, field: dict[str, Any], wanted: list[str]) -> bool:
    stored = row.data["custom"].get(str(field["id"]))
    values = stored if isinstance(stored, list) else [stored]
    return any(str(v) in wanted for v in values if v not in (None, ""))


def _sorted(rows: list[Row], sort: str) -> list[Row]:
    """Redmine's `sort`: comma-separated columns, each with an optional ":desc"."""
    keys = {"id": lambda r: r.id, "updated_on": lambda r: r.modified,
            "created_on": lambda r: r.created, "priority": lambda r: r.data["priority_id"],
            "status": lambda r: r.data["status_id"]}  # fmt: skip
    for part in reversed([p for p in sort.split(",") if p]):
        column, _, direction = part.partition(":")
        key = keys.get(column.strip())
        if key is not None:
            rows = sorted(rows, key=key, reverse=direction.strip() == "desc")
    return rows


__all__ = ["RedmineSandbox", "connection_config", "stamp"]

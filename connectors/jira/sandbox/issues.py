"""The Jira sandbox's issue endpoints: read, create (one or a bulk of 50), edit, assign,
delete, transitions, comments, the change history and the edit screen.

Each handler names its operation id in Atlassian's OpenAPI description of the platform REST
API v3; the tests validate every exchange against it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from connectors.jira.sandbox import schema
from connectors.jira.sandbox.beans import Beans, select_fields
from connectors.jira.sandbox.schema import ISSUE_MISSING, SCREENS
from connectors.jira.sandbox.state import JiraState
from connectors.jira.sandbox.views import (
    body,
    bulk_error,
    errors,
    page_args,
    page_bean,
)
from connectors.sandbox.core import HttpError, Request, Response, ValidationError, route
from connectors.sandbox.records import Row

MAX_BULK_CREATE = 50
MAX_BULK_FETCH = 100
MAX_CHANGELOG_ISSUES = 1000
MAX_CHANGELOG_FIELDS = 10
COMMENT_MISSING = "Can not find a comment for the id: {}."


class IssueRoutes:
    state: JiraState

    def _issue(self, request: Request) -> Row:
        row = self.state.find(request.params["issue"])
        if row is None:
            raise HttpError(errors(404, [ISSUE_MISSING]))
        return row

    # -- reads -----------------------------------------------------------------------------

    @route("GET", "/rest/api/3/issue/{issue}")
    def get_issue(self, request: Request) -> Response:
        """getIssue (Issues)."""
        row = self._issue(request)
        fields = select_fields(request.args("fields") or None, "*all")
        return Response.json(200, Beans(self.state, request.base_url).issue(row, fields))

    @route("POST", "/rest/api/3/issue/bulkfetch")
    def bulk_fetch(self, request: Request) -> Response:
        """bulkFetchIssues (Issues): up to 100 issues by id or key; missing ones in issueErrors."""
        data = body(request)
        refs = data.get("issueIdsOrKeys")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            return errors(400, ["issueIdsOrKeys must be a list of issue ids or keys."])
        if len(refs) > MAX_BULK_FETCH:
            return errors(
                400, [f"The number of issues requested exceeds the limit of {MAX_BULK_FETCH}."]
            )
        fields = select_fields(data.get("fields"), "*navigable")
        beans = Beans(self.state, request.base_url)
        issues, missing, seen = [], [], set()
        for ref in refs:
            row = self.state.find(ref)
            if row is None:
                missing.append({"id": ref, "errorMessage": ISSUE_MISSING})
            elif row.id not in seen:
                seen.add(row.id)
                issues.append(beans.issue_out(row, fields, keys=True))
        return Response.json(200, {"issues": issues, "issueErrors": missing})

    @route("GET", "/rest/api/3/issue/{issue}/editmeta")
    def edit_meta(self, request: Request) -> Response:
        """getEditIssueMeta (Issues): the fields editIssue accepts for this issue."""
        row = self._issue(request)
        type_id = row.data["fields"]["issuetype"]
        beans = Beans(self.state, request.base_url)
        fields = {
            f: beans.field_metadata(type_id, f, create=False)
            for f in SCREENS[type_id]
            if f != "project"
        }
        return Response.json(200, {"fields": fields})

    # -- writes ----------------------------------------------------------------------------

    @route("POST", "/rest/api/3/issue")
    def create_issue(self, request: Request) -> Response:
        """createIssue (Issues): one issue."""
        row = self.state.create(body(request).get("fields"), request.base_url)
        return Response.json(201, Beans(self.state, request.base_url).created(row))

    @route("POST", "/rest/api/3/issue/bulk")
    def bulk_create(self, request: Request) -> Response:
        """createIssues (Issues): up to 50 issues; per-element errors by failedElementNumber."""
        updates = body(request).get("issueUpdates")
        if not isinstance(updates, list) or not updates:
            refused = ValidationError("issueUpdates must be a non-empty list.")
            return Response.json(400, {"issues": [], "errors": [bulk_error(None, refused)]})
        if len(updates) > MAX_BULK_CREATE:
            refused = ValidationError(
                f"The number of issues exceeds the limit of {MAX_BULK_CREATE} per request."
            )
            return Response.json(400, {"issues": [], "errors": [bulk_error(None, refused)]})
        beans = Beans(self.state, request.base_url)
        created, failed = [], []
        for index, update in enumerate(updates):
            fields = update.get("fields") if isinstance(update, dict) else None
            try:
                row = self.state.create(fields, request.base_url)
            except ValidationError as exc:
                failed.append(bulk_error(index, exc))
                continue
            created.append(beans.created(row))
        return Response.json(201 if created else 400, {"issues": created, "errors": failed})

    @route("PUT", "/rest/api/3/issue/{issue}")
    def edit_issue(self, request: Request) -> Response:
        """editIssue (Issues): `fields` set values, `update` applies set/add/remove operations.

        Status is not a field here: "Issue transition is not supported and is ignored"; a
        `status` in `fields` is refused as not on the screen, as Jira does.
        """
        row = self._issue(request)
        data = body(request)
        fields, updates = data.get("fields") or {}, data.get("update") or {}
        self.state.edit(row, fields, updates, request.base_url)
        if request.arg("returnIssue") == "true":
            return Response.json(200, Beans(self.state, request.base_url).issue(row))
        return Response.empty(204)

    @route("PUT", "/rest/api/3/issue/{issue}/assignee")
    def assign_issue(self, request: Request) -> Response:
        """assignIssue (Issues): `accountId` to assign, null (or "-1", the project default,
        none here) to unassign."""
        row = self._issue(request)
        account = body(request).get("accountId")
        try:
            assignee = None if account in (None, "-1") else self.state.account(account)
        except ValueError as exc:
            return errors(400, [], {"assignee": str(exc)})
        self.state.change(row, {"assignee": assignee}, request.base_url)
        return Response.empty(204)

    @route("DELETE", "/rest/api/3/issue/{issue}")
    def delete_issue(self, request: Request) -> Response:
        """deleteIssue (Issues)."""
        self.state.delete(self._issue(request), request.base_url)
        return Response.empty(204)

    # -- transitions -----------------------------------------------------------------------

    @route("GET", "/rest/api/3/issue/{issue}/transitions")
    def get_transitions(self, request: Request) -> Response:
        """getTransitions (Issues): the transitions available from the current status."""
        row = self._issue(request)
        status = row.data["fields"]["status"]
        beans = Beans(self.state, request.base_url)
        transitions = [
            {
                "id": tid,
                "name": name,
                "to": beans.status(to),
                "hasScreen": False,
                "isGlobal": False,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "looped": False,
            }
            for tid, name, sources, to in schema.WORKFLOW  # looked up now: tests vary it
            if status in sources
        ]
        return Response.json(200, {"expand": "transitions", "transitions": transitions})

    @route("POST", "/rest/api/3/issue/{issue}/transitions")
    def do_transition(self, request: Request) -> Response:
        """doTransition (Issues): move the issue along one available transition."""
        row = self._issue(request)
        transition = body(request).get("transition")
        tid = transition.get("id") if isinstance(transition, dict) else None
        if not isinstance(tid, str) or not tid:
            return errors(400, ["Missing 'transition' identifier"])
        if not self.state.transition(row, tid, request.base_url):
            return errors(400, [f"Transition id '{tid}' is not valid for this issue."])
        return Response.empty(204)

    # -- comments --------------------------------------------------------------------------

    @route("GET", "/rest/api/3/issue/{issue}/comment")
    def get_comments(self, request: Request) -> Response:
        """getComments (Issue comments): oldest first, or newest with orderBy=-created."""
        row = self._issue(request)
        start, limit = page_args(request, default=5000, cap=5000)
        comments = list(row.data["comments"])
        if (request.arg("orderBy") or "").lstrip("+") == "-created":
            comments.reverse()
        beans = Beans(self.state, request.base_url)
        page = [beans.comment(row, c) for c in comments[start : start + limit]]
        return Response.json(
            200, {"comments": page, "maxResults": limit, "startAt": start, "total": len(comments)}
        )

    @route("POST", "/rest/api/3/issue/{issue}/comment")
    def add_comment(self, request: Request) -> Response:
        """addComment (Issue comments): the body is ADF; the issue's `updated` moves. A
        `visibility` ({"type": "role"|"group", "value": name}) restricts who sees it."""
        row = self._issue(request)
        data = body(request)
        comment = self.state.add_comment(row, data.get("body"), request.base_url)
        if isinstance(data.get("visibility"), dict):
            comment["visibility"] = dict(data["visibility"])
        return Response.json(201, Beans(self.state, request.base_url).comment(row, comment))

    @route("GET", "/rest/api/3/issue/{issue}/comment/{id}")
    def get_comment(self, request: Request) -> Response:
        """getComment (Issue comments)."""
        row, comment = self._comment(request)
        return Response.json(200, Beans(self.state, request.base_url).comment(row, comment))

    @route("PUT", "/rest/api/3/issue/{issue}/comment/{id}")
    def update_comment(self, request: Request) -> Response:
        """updateComment (Issue comments): a new ADF body."""
        row, comment = self._comment(request)
        self.state.update_comment(row, comment, body(request).get("body"), request.base_url)
        return Response.json(200, Beans(self.state, request.base_url).comment(row, comment))

    @route("DELETE", "/rest/api/3/issue/{issue}/comment/{id}")
    def delete_comment(self, request: Request) -> Response:
        """deleteComment (Issue comments)."""
        row, comment = self._comment(request)
        self.state.delete_comment(row, comment, request.base_url)
        return Response.empty(204)

    def _comment(self, request: Request) -> tuple[Row, dict[str, Any]]:
        row = self._issue(request)
        wanted = request.params["id"]
        for comment in row.data["comments"]:
            if comment["id"] == wanted:
                return row, comment
        raise HttpError(errors(404, [COMMENT_MISSING.format(wanted)]))

    # -- change history --------------------------------------------------------------------

    @route("GET", "/rest/api/3/issue/{issue}/changelog")
    def get_changelog(self, request: Request) -> Response:
        """getChangeLogs (Issues): the issue's changes, oldest first, as a PageBean whose
        `nextPage` leads back to this sandbox."""
        row = self._issue(request)
        start, limit = page_args(request, default=100, cap=100)
        beans = Beans(self.state, request.base_url)
        values = [beans.changelog(entry) for entry in row.data["changelog"]]
        return Response.json(200, page_bean(request, values, start, limit))

    @route("POST", "/rest/api/3/changelog/bulkfetch")
    def bulk_changelog(self, request: Request) -> Response:
        """getBulkChangelogs (Issues): the changes of up to 1,000 issues, optionally only
        of up to 10 fields, paged by `nextPageToken`."""
        data = body(request)
        refs = data.get("issueIdsOrKeys")
        field_ids = data.get("fieldIds") or []
        limit = data.get("maxResults", 1000)
        if not isinstance(refs, list) or not refs or len(refs) > MAX_CHANGELOG_ISSUES:
            return errors(400, ["issueIdsOrKeys must list 1 to 1000 issue ids or keys."])
        if not isinstance(field_ids, list) or len(field_ids) > MAX_CHANGELOG_FIELDS:
            return errors(400, ["fieldIds can name at most 10 fields."])
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10000:
            return errors(400, ["maxResults must be between 1 and 10000."])
        skip = _token_offset(data.get("nextPageToken"))
        beans = Beans(self.state, request.base_url)
        histories: list[tuple[str, dict[str, Any]]] = []
        for ref in refs:
            row = self.state.find(str(ref))
            for entry in row.data["changelog"] if row else ():
                items = [i for i in entry["items"] if not field_ids or i["fieldId"] in field_ids]
                if items:
                    histories.append((str(row.id), beans.changelog({**entry, "items": items})))
        page = histories[skip : skip + limit]
        grouped: dict[str, list[dict[str, Any]]] = {}
        for issue_id, history in page:
            grouped.setdefault(issue_id, []).append(history)
        out: dict[str, Any] = {
            "issueChangeLogs": [{"issueId": i, "changeHistories": h} for i, h in grouped.items()]
        }
        if skip + limit < len(histories):
            out["nextPageToken"] = _offset_token(skip + limit)
        return Response.json(200, out)


def _offset_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _token_offset(token: Any) -> int:
    if token in (None, ""):
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(str(token)))["offset"])
    except (ValueError, KeyError, TypeError):
        raise HttpError(errors(400, ["The provided next page token is invalid."])) from None

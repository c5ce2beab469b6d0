"""The Redmine REST API calls Concord makes, over connectors.http.HttpClient.

Redmine publishes no OpenAPI description; each call names its page of the REST API
reference (https://www.redmine.org/projects/redmine/wiki/Rest_api) and was checked against a
real Redmine 5.0 (../shared/peers/start-redmine.sh; tests/connectors/redmine/).

What the calls rely on, as the real server behaves:

- Authentication by the `X-Redmine-API-Key` header; a wrong key answers 401 with no body.
- Writes need `Content-Type: application/json` (requests sets it for `json=`); without it
  Redmine ignores the body and answers 422 as if every field were blank.
- POST /issues.json answers 201 with the issue; PUT answers 204 with no body; DELETE 204;
  a missing issue 404 with no body. Refusals are 422 {"errors": ["Subject cannot be blank"]}.
- Errors are those of HttpClient: FatalError subclasses, TransientError, RecordError.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from connectors.answers import items, need
from connectors.base import CallObserver, RateLimiter
from connectors.errors import PermissionDenied, RecordError
from connectors.http import HttpClient

SYSTEM = "Redmine"
PAGE_MAX = 100  # Redmine caps `limit` at 100 without an error (the answer says "limit":100)
# Redmine has no rate limit of its own; it is often one small server. This in-process budget
# (used only when no shared limiter is injected) keeps one connection gentle with it.
DEFAULT_RATE = (20, 1.0)
ISSUES_CALL = "GET /issues.json"


class RedmineClient:
    """One Redmine server for one connection, authenticated by a user's API key."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        rate_limiter: RateLimiter | None = None,
        budget_key: str | None = None,
        on_call: CallObserver | None = None,
        **http_options: Any,
    ) -> None:
        http_options.setdefault("default_rate", DEFAULT_RATE)
        self.http = HttpClient(
            system=SYSTEM,
            base_url=base_url,
            headers={"X-Redmine-API-Key": api_key},
            secrets=(api_key,),
            rate_limiter=rate_limiter,
            budget_key=budget_key,
            on_call=on_call,
            **http_options,
        )

        # The server's time (its Date header) when the last listing was answered, if it said.
        self.listed_at: datetime | None = None

    def close(self) -> None:
        self.http.close()

    # -- account and schema (Rest_Users, Rest_Projects, Rest_Trackers, ...) ----------------

    def current_user(self, *, memberships: bool = False) -> dict[str, Any]:
        """GET /users/current.json: the key's user (401 for a wrong key), with their
        project memberships and roles when asked (include=memberships)."""
        params = {"include": "memberships"} if memberships else None
        return self._object(self.http.get("/users/current.json", params=params), "user")

    def role_permissions(self, role_id: int) -> list[str]:
        """GET /roles/{id}.json (Rest_Roles; any user may read it over the API): the
        role's permission names."""
        role = self._object(self.http.get(f"/roles/{role_id}.json"), "role")
        found = need(role, "permissions", list, system=SYSTEM, call="GET /roles/{id}.json")
        return [str(p) for p in found]

    def project(self, project: str) -> dict[str, Any]:
        """GET /projects/{id}.json?include=trackers,issue_custom_fields (Rest_Projects).

        NotFound when the project does not exist, is archived or closed to this user.
        """
        response = self.http.get(
            f"/projects/{project}.json", params={"include": "trackers,issue_custom_fields"}
        )
        return self._object(response, "project")

    def trackers(self) -> list[dict[str, Any]]:
        """GET /trackers.json (Rest_Trackers)."""
        return self._list(self.http.get("/trackers.json"), "trackers")

    def statuses(self) -> list[dict[str, Any]]:
        """GET /issue_statuses.json (Rest_IssueStatuses)."""
        return self._list(self.http.get("/issue_statuses.json"), "issue_statuses")

    def priorities(self) -> list[dict[str, Any]]:
        """GET /enumerations/issue_priorities.json (Rest_Enumerations)."""
        return self._list(self.http.get("/enumerations/issue_priorities.json"), "issue_priorities")

    def custom_fields(self) -> list[dict[str, Any]] | None:
        """GET /custom_fields.json (Rest_CustomFields): every custom field with its format
        and possible values. Only administrators may read it: None for anyone else (403)."""
        try:
            response = self.http.get("/custom_fields.json")
        except PermissionDenied:
            return None
        return self._list(response, "custom_fields")

    def user(self, user_id: int) -> dict[str, Any] | None:
        """GET /users/{id}.json (Rest_Users); None when hidden (403) or gone (404), or when
        the id is a group's (issues may be assigned to groups)."""
        response = self.http.get(f"/users/{user_id}.json", accept=(403, 404))
        if response.status_code != 200:
            return None
        return self._object(response, "user")

    def users_named(self, text: str) -> list[dict[str, Any]] | None:
        """GET /users.json?name= (Rest_Users): users whose login, name or email matches.
        Administrators only: None for anyone else (403)."""
        response = self.http.get("/users.json", params={"name": text}, accept=(403,))
        if response.status_code == 403:
            return None
        return self._list(response, "users")

    # -- issues (Rest_Issues) --------------------------------------------------------------

    def issues(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET /issues.json with filters, `sort`, `limit` and `offset`: one page, as
        {"issues": [...], "total_count", "offset", "limit"}. Only open issues unless
        `status_id` says otherwise; `limit` is capped at 100 by Redmine."""
        response = self.http.get("/issues.json", params=dict(params))
        self.listed_at = server_time(response)
        answer = self.http.json(response)
        if not isinstance(answer, dict):
            return {"issues": answer}  # answers.items() names the shape problem
        return answer

    def issue(self, issue_id: str) -> dict[str, Any] | None:
        """GET /issues/{id}.json; None when it does not exist (or is not visible)."""
        response = self.http.get(f"/issues/{issue_id}.json", accept=(404,))
        if response.status_code == 404:
            return None
        return self._object(response, "issue")

    def create(self, fields: dict[str, Any]) -> dict[str, Any]:
        """POST /issues.json: 201 with the issue. RecordError for a 422. Never retried after
        it may have reached Redmine (a retry could create the issue twice)."""
        response = self.http.post(
            "/issues.json", json_body={"issue": fields}, accept=(422,), idempotent=False
        )
        _raise_refused(response, None, "POST /issues.json")
        return self._object(response, "issue")

    def update(self, issue_id: str, fields: dict[str, Any]) -> None:
        """PUT /issues/{id}.json: 204 with no body (read the issue again for its new
        `updated_on`). RecordError for a 422 or a missing issue (404)."""
        response = self.http.put(
            f"/issues/{issue_id}.json", json_body={"issue": fields}, accept=(404, 422)
        )
        _raise_refused(response, issue_id, "PUT /issues/{id}.json")

    def delete(self, issue_id: str) -> bool:
        """DELETE /issues/{id}.json: True if deleted, False if it was already gone (404)."""
        response = self.http.delete(f"/issues/{issue_id}.json", accept=(404, 422))
        if response.status_code == 404:
            return False
        _raise_refused(response, issue_id, "DELETE /issues/{id}.json")
        return True

    # -- journals (Rest_Issues include=journals; JournalsController#update) -----------------

    def journals(self, issue_id: str) -> list[dict[str, Any]]:
        """GET /issues/{id}.json?include=journals: the issue's journals, oldest first (notes
        and field changes; private notes only for users who may view them). RecordError
        when the issue does not exist or is not visible (404)."""
        call = "GET /issues/{id}.json"
        response = self.http.get(
            f"/issues/{issue_id}.json", params={"include": "journals"}, accept=(404,)
        )
        _raise_refused(response, issue_id, call)
        issue = self._object(response, "issue")
        return items(issue, "journals", system=SYSTEM, call=call)

    def add_notes(self, issue_id: str, notes: str, *, private: bool) -> None:
        """PUT /issues/{id}.json {"issue": {"notes", "private_notes"}}: a new journal with
        the notes (204, no body). RecordError for a 422 or a missing issue. Never retried
        once it may have reached Redmine (a retry could add the notes twice)."""
        response = self.http.put(
            f"/issues/{issue_id}.json",
            json_body={"issue": {"notes": notes, "private_notes": private}},
            accept=(404, 422),
            idempotent=False,
        )
        _raise_refused(response, issue_id, "PUT /issues/{id}.json")

    def update_journal(self, issue_id: str, journal_id: str, notes: str) -> bool:
        """PUT /journals/{id}.json {"journal": {"notes"}} (Redmine 5.0 accepts it over the
        API though its REST reference has no page for it): 204. Blank notes delete a journal
        that records no field change. False when the journal is gone (404); RecordError
        when the user may not edit it (403: the edit_issue_notes or edit_own_issue_notes
        permission) or the notes are refused (422)."""
        call = "PUT /journals/{id}.json"
        response = self.http.put(
            f"/journals/{journal_id}.json",
            json_body={"journal": {"notes": notes}},
            accept=(403, 404, 422),
        )
        if response.status_code == 404:
            return False
        if response.status_code == 403:
            raise RecordError(
                f"this user may not edit the notes of journal {journal_id} (Redmine's "
                "\"Edit notes\" permission)", record_id=issue_id, system=SYSTEM, call=call,
                status=403,
            )  # fmt: skip
        _raise_refused(response, issue_id, call)
        return True

    # -- answers ---------------------------------------------------------------------------

    def _object(self, response: requests.Response, key: str) -> dict[str, Any]:
        call = f"{response.request.method} {response.request.path_url.split('?', 1)[0]}"
        return need(self.http.json(response), key, dict, system=SYSTEM, call=call)

    def _list(self, response: requests.Response, key: str) -> list[dict[str, Any]]:
        call = f"{response.request.method} {response.request.path_url.split('?', 1)[0]}"
        return items(self.http.json(response), key, system=SYSTEM, call=call)


def server_time(response: requests.Response) -> datetime | None:
    """The answer's Date header as an aware datetime (None when absent or malformed)."""
    try:
        moment = parsedate_to_datetime(response.headers.get("Date") or "")
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def error_messages(response: requests.Response) -> list[str]:
    """Redmine's {"errors": [...]} as a list of messages (empty when the body is not that)."""
    try:
        data = response.json()
    except ValueError:
        return []
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e) for e in errors if e]


def _raise_refused(response: requests.Response, issue_id: str | None, call: str) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 404:
        message = "the issue does not exist or is not visible to this user"
    else:
        message = "; ".join(error_messages(response)) or f"refused with {status}"
    raise RecordError(message, record_id=issue_id, system=SYSTEM, call=call, status=status)

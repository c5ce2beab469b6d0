"""The Jira Cloud platform REST API v3 calls Concord makes, over connectors.http.HttpClient.

Every method is one documented operation of Atlassian's OpenAPI description
(../shared/vendor-specs/jira/swagger-v3.v3.json); the operation id is named in each
docstring. Requests are shaped to validate against that description (the tests check it).
Errors are those of HttpClient: FatalError subclasses, TransientError, RecordError.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import requests

from connectors.base import CallObserver, RateLimiter
from connectors.errors import RecordError
from connectors.http import HttpClient

SYSTEM = "Jira Cloud"
SEARCH_PAGE = 100  # issues with fields per search page (Jira answers fewer if it must)
ID_PAGE = 5000  # "max 5000" when only ids are requested (searchAndReconsileIssuesUsingJql)
BULK_FETCH_MAX = 100  # POST /rest/api/3/issue/bulkfetch
BULK_CREATE_MAX = 50  # POST /rest/api/3/issue/bulk: "upto 50 issues"
CREATEMETA_PAGE = 200  # createmeta maxResults limit
# Jira Cloud does not publish fixed numbers for its burst limits; this in-process budget
# (used only when no shared limiter is injected) keeps one connection well below them.
DEFAULT_RATE = (50, 1.0)


class JiraClient:
    """One Jira site for one connection: basic auth with the account email and API token."""

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        api_token: str,
        rate_limiter: RateLimiter | None = None,
        budget_key: str | None = None,
        on_call: CallObserver | None = None,
        **http_options: Any,
    ) -> None:
        http_options.setdefault("default_rate", DEFAULT_RATE)
        self.http = HttpClient(
            system=SYSTEM,
            base_url=base_url,
            auth=(email, api_token),
            secrets=(api_token,),
            rate_limiter=rate_limiter,
            budget_key=budget_key,
            on_call=on_call,
            **http_options,
        )

    def close(self) -> None:
        self.http.close()

    # -- account and schema ----------------------------------------------------------------

    def myself(self) -> dict[str, Any]:
        """getCurrentUser: GET /rest/api/3/myself (the account, with its time zone)."""
        return self.http.json(self.http.get("/rest/api/3/myself"))

    def project(self, key: str) -> dict[str, Any]:
        """getProject: GET /rest/api/3/project/{projectIdOrKey}. NotFound if not visible."""
        return self.http.json(self.http.get(f"/rest/api/3/project/{key}"))

    def project_statuses(self, key: str) -> list[dict[str, Any]]:
        """getAllStatuses: GET /rest/api/3/project/{projectIdOrKey}/statuses."""
        return self.http.json(self.http.get(f"/rest/api/3/project/{key}/statuses"))

    def fields(self) -> list[dict[str, Any]]:
        """getFields: GET /rest/api/3/field (system and custom fields of the site)."""
        return self.http.json(self.http.get("/rest/api/3/field"))

    def create_issue_types(self, project: str) -> list[dict[str, Any]]:
        """getCreateIssueMetaIssueTypes: every page of .../createmeta/{project}/issuetypes."""
        return list(self._paged(f"/rest/api/3/issue/createmeta/{project}/issuetypes", "issueTypes"))

    def create_fields(self, project: str, issue_type_id: str) -> list[dict[str, Any]]:
        """getCreateIssueMetaIssueTypeId: every page of .../issuetypes/{issueTypeId}."""
        return list(
            self._paged(
                f"/rest/api/3/issue/createmeta/{project}/issuetypes/{issue_type_id}",
                "fields",
                "results",
            )
        )

    def _paged(self, path: str, *keys: str) -> Iterator[dict[str, Any]]:
        start = 0
        while True:
            page = self.http.json(
                self.http.get(path, params={"startAt": start, "maxResults": CREATEMETA_PAGE})
            )
            items: list[dict[str, Any]] = []
            for key in keys:
                if isinstance(page.get(key), list):
                    items = page[key]
                    break
            yield from items
            start += len(items)
            total = page.get("total")
            if not items or (isinstance(total, int) and start >= total):
                return

    def find_users(self, query: str) -> list[dict[str, Any]]:
        """findUsers: GET /rest/api/3/user/search?query= (matches email and display name)."""
        return self.http.json(
            self.http.get("/rest/api/3/user/search", params={"query": query, "maxResults": 50})
        )

    # -- reading issues --------------------------------------------------------------------

    def search(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        max_results: int = SEARCH_PAGE,
        next_page_token: str | None = None,
    ) -> dict[str, Any]:
        """searchAndReconsileIssuesUsingJqlPost: POST /rest/api/3/search/jql, one page.

        The answer has `issues`, `isLast` and, unless it is the last page, `nextPageToken`.
        """
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": max_results}
        if next_page_token is not None:
            body["nextPageToken"] = next_page_token
        return self.http.json(self.http.post("/rest/api/3/search/jql", json_body=body))

    def bulk_fetch(self, ids_or_keys: Sequence[str], fields: Sequence[str]) -> dict[str, Any]:
        """bulkFetchIssues: POST /rest/api/3/issue/bulkfetch (at most 100 ids or keys).

        Missing or invisible issues come back in `issueErrors`, not as an error status.
        """
        if len(ids_or_keys) > BULK_FETCH_MAX:
            raise ValueError(f"bulk fetch takes at most {BULK_FETCH_MAX} issues")
        body = {"issueIdsOrKeys": list(ids_or_keys), "fields": list(fields)}
        return self.http.json(self.http.post("/rest/api/3/issue/bulkfetch", json_body=body))

    # -- writing issues --------------------------------------------------------------------

    def bulk_create(self, issues: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """createIssues: POST /rest/api/3/issue/bulk with at most 50 `{"fields": ...}`.

        Answers CreatedIssues: `issues` created (in input order, failures left out) and
        `errors` with `failedElementNumber` (the 0-based input index). When every element
        fails Jira answers 400 with the same body, which is returned here too, as is a 409 or
        422 ErrorCollection refusing the whole call; `_status` holds the status. Not retried
        after it may have reached Jira (a retry could create the issues twice).
        """
        if len(issues) > BULK_CREATE_MAX:
            raise ValueError(f"bulk create takes at most {BULK_CREATE_MAX} issues")
        response = self.http.post(
            "/rest/api/3/issue/bulk",
            json_body={"issueUpdates": list(issues)},
            accept=(400, 409, 422),
            idempotent=False,
        )
        answer = self.http.json(response)
        if not isinstance(answer, dict):
            answer = {"errorMessages": [f"unexpected answer {answer!r:.200}"]}
        answer["_status"] = response.status_code
        return answer

    def edit(self, issue_id: str, fields: dict[str, Any]) -> None:
        """editIssue: PUT /rest/api/3/issue/{issueIdOrKey}. RecordError for 400/404."""
        response = self.http.put(
            f"/rest/api/3/issue/{issue_id}", json_body={"fields": fields}, accept=_REFUSED
        )
        _raise_refused(response, issue_id, "PUT /rest/api/3/issue/{issueIdOrKey}")

    def transitions(self, issue_id: str) -> list[dict[str, Any]]:
        """getTransitions: GET /rest/api/3/issue/{issueIdOrKey}/transitions.

        Only the transitions available from the issue's current status are returned.
        """
        response = self.http.get(f"/rest/api/3/issue/{issue_id}/transitions", accept=(404,))
        _raise_refused(response, issue_id, "GET /rest/api/3/issue/{issueIdOrKey}/transitions")
        return self.http.json(response).get("transitions") or []

    def transition(self, issue_id: str, transition_id: str) -> None:
        """doTransition: POST /rest/api/3/issue/{issueIdOrKey}/transitions."""
        response = self.http.post(
            f"/rest/api/3/issue/{issue_id}/transitions",
            json_body={"transition": {"id": transition_id}},
            accept=_REFUSED,
        )
        _raise_refused(response, issue_id, "POST /rest/api/3/issue/{issueIdOrKey}/transitions")

    def delete(self, issue_id: str) -> bool:
        """deleteIssue: DELETE /rest/api/3/issue/{issueIdOrKey}. False if it was already gone.

        Subtasks are not deleted along (no `deleteSubtasks`): Jira then refuses with 400,
        which is a RecordError for that issue.
        """
        response = self.http.delete(f"/rest/api/3/issue/{issue_id}", accept=_REFUSED)
        if response.status_code == 404:
            return False
        _raise_refused(response, issue_id, "DELETE /rest/api/3/issue/{issueIdOrKey}")
        return True

    # -- comments ----------------------------------------------------------------------------
    def comments(self, issue_id: str) -> list[dict[str, Any]]:
        """getComments: GET /rest/api/3/issue/{issueIdOrKey}/comment, every page, oldest
        first. RecordError (404) when the issue is gone."""
        call = "GET /rest/api/3/issue/{issueIdOrKey}/comment"
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            response = self.http.get(
                f"/rest/api/3/issue/{issue_id}/comment",
                params={"startAt": start, "maxResults": COMMENT_PAGE, "orderBy": "created"},
                accept=(404,),
            )
            _raise_refused(response, issue_id, call)
            page = self.http.json(response)
            items = page.get("comments") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise RecordError(
                    f"unexpected answer without comments: {page!r:.200}",
                    record_id=issue_id, system=SYSTEM, call=call,
                )  # fmt: skip
            out.extend(c for c in items if isinstance(c, dict))
            start += len(items)
            total = page.get("total")
            if not items or not isinstance(total, int) or start >= total:
                return out

    def add_comment(self, issue_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """addComment: POST /rest/api/3/issue/{issueIdOrKey}/comment. Not retried once it
        may have reached Jira (a retry could add the comment twice)."""
        response = self.http.post(
            f"/rest/api/3/issue/{issue_id}/comment",
            json_body={"body": body},
            accept=_REFUSED,
            idempotent=False,
        )
        _raise_refused(response, issue_id, "POST /rest/api/3/issue/{issueIdOrKey}/comment")
        return self.http.json(response)

    def update_comment(self, issue_id: str, comment_id: str, body: dict[str, Any]) -> dict:
        """updateComment: PUT /rest/api/3/issue/{issueIdOrKey}/comment/{id}."""
        response = self.http.put(
            f"/rest/api/3/issue/{issue_id}/comment/{comment_id}",
            json_body={"body": body},
            accept=_REFUSED,
        )
        _raise_refused(response, issue_id, "PUT /rest/api/3/issue/{issueIdOrKey}/comment/{id}")
        return self.http.json(response)

    def delete_comment(self, issue_id: str, comment_id: str) -> None:
        """deleteComment: DELETE /rest/api/3/issue/{issueIdOrKey}/comment/{id}; a comment
        already gone counts as deleted."""
        response = self.http.delete(
            f"/rest/api/3/issue/{issue_id}/comment/{comment_id}", accept=_REFUSED
        )
        if response.status_code == 404:
            return
        _raise_refused(response, issue_id, "DELETE /rest/api/3/issue/{issueIdOrKey}/comment/{id}")


_REFUSED = (400, 404, 409, 422)
COMMENT_PAGE = 100


def error_collection(data: Any) -> tuple[str, dict[str, str]]:
    """(message, {field: complaint}) from Jira's ErrorCollection body."""
    if not isinstance(data, dict):
        return "", {}
    messages = [str(m) for m in data.get("errorMessages") or [] if m]
    errors = data.get("errors") if isinstance(data.get("errors"), dict) else {}
    fields = {str(k): str(v) for k, v in errors.items()}
    parts = messages + [f"{k}: {v}" for k, v in fields.items()]
    return "; ".join(parts), fields


def _raise_refused(response: requests.Response, issue_id: str, call: str) -> None:
    """RecordError for a per-issue refusal (400/404/409/422), with Jira's field errors."""
    status = response.status_code
    if status < 400:
        return
    if status == 404:
        message, fields = "the issue does not exist or is not visible to this account", {}
    else:
        try:
            message, fields = error_collection(response.json())
        except ValueError:
            message, fields = "", {}
    raise RecordError(
        message or f"refused with {status}",
        record_id=issue_id,
        fields=fields,
        system=SYSTEM,
        call=call,
        status=status,
    )

"""The GitHub sandbox's HTTP side: tokens, errors, rate limits, webhooks, and the endpoints
the connector uses. Each handler names its operation id in GitHub's OpenAPI description
(../shared/vendor-specs/github/api.github.com.json).
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from connectors.github.sandbox import apps, beans, webhooks
from connectors.github.sandbox.schema import (
    APP_ID,
    DOCS,
    INSTALLATION_ID,
    INSTALLATION_TOKEN_LIFETIME,
    ISSUE_TYPES,
    REPOS,
    TOKENS,
    Repo,
)
from connectors.github.sandbox.state import FieldRefused, GitHubState, connection_config
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

MAX_PER_PAGE = 100
CORE_LIMIT = 5000  # requests an hour for a personal access token
SEARCH_LIMIT = 30  # search requests a minute
_QUALIFIER = re.compile(r'(-?)([a-z_]+):("[^"]*"|\S+)|"([^"]*)"|(\S+)')


class GitHubSandbox(VendorSandbox):
    kind = "github"
    rate_limits = {
        "core": RateLimit(CORE_LIMIT, 3600.0),
        "search": RateLimit(SEARCH_LIMIT, 60.0),
        # GitHub's secondary limit: 900 points a minute for REST (a GET is one point).
        "secondary": RateLimit(900, 60.0),
    }
    default_limits = ("core", "secondary")
    state_class = GitHubState
    state: GitHubState

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._used: dict[str, tuple[float, int]] = {}  # token -> (window start, calls)
        self._issued: dict[str, float] = {}  # installation token -> when it expires

    # -- protocol --------------------------------------------------------------------------

    def connection_config(self, base_url: str) -> dict[str, JSON]:
        return connection_config(base_url)

    def authenticate(self, request: Request) -> str | Response:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "token"):
            return self.error(401, "Requires authentication")
        if token in TOKENS or self._issued.get(token, 0) > time.time():
            return token
        if token.count(".") == 2:  # a GitHub App's JWT
            problem = apps.jwt_problem(token, now=time.time())
            if problem is None:
                return "app:" + APP_ID
            return self.error(401, problem)
        return self.error(401, "Bad credentials")

    def _permission(self, identity: str) -> str:
        """What the caller may do: "write", "read" or "metadata" (an App's JWT: nothing)."""
        if identity in self._issued:
            return "write"
        return TOKENS.get(identity, "none")

    def error(self, status: int, message: str) -> Response:
        body: dict[str, Any] = {
            "message": message,
            "documentation_url": DOCS,
            "status": str(status),
        }
        return Response.json(status, body)

    def refuse(self, error: ValidationError) -> Response:
        """GitHub's 422: {"message": "Validation Failed", "errors": [{resource, field, code}]}."""
        problems = []
        for problem in error.problems:
            item: dict[str, Any] = {"resource": "Issue", "code": problem.code or "invalid"}
            if problem.field is not None:
                item["field"] = problem.field
            if problem.code not in ("missing_field", "invalid"):
                item["code"] = "custom"
            item["message"] = problem.message
            if isinstance(error, FieldRefused) and isinstance(error.value, str | int):
                item["value"] = error.value
            problems.append(item)
        if not any(p.field for p in error.problems):
            return self.error(400, str(error) or "Problems parsing JSON")
        return Response.json(
            422,
            {
                "message": "Validation Failed",
                "errors": problems,
                "documentation_url": DOCS,
                "status": "422",
            },
        )

    def rate_limited(self, limit: str, retry_after: float) -> Response:
        """A spent primary limit answers 403 with x-ratelimit-remaining 0 and the reset
        time; a secondary limit (and an injected one) 429 with retry-after."""
        seconds = max(1, int(retry_after + 0.999))
        reset = str(int(time.time()) + seconds)
        if limit in ("core", "search"):
            headers = {
                "x-ratelimit-limit": str(self.rate_limits[limit].requests),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(self.rate_limits[limit].requests),
                "x-ratelimit-reset": reset,
                "x-ratelimit-resource": limit,
            }
            response = self.error(403, "API rate limit exceeded for user ID 583231.")
        else:
            headers = {"retry-after": str(seconds)}
            response = self.error(
                429,
                "You have exceeded a secondary rate limit. Please wait a few minutes "
                "before you try again.",
            )
        response.headers.extend(headers.items())
        return response

    def web_page(self, request: Request) -> Response | None:
        """An issue's page: /{owner}/{repo}/issues/{number}."""
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[2] != "issues" or parts[0] in ("repos", "search"):
            return None
        repo = REPOS.get(f"{parts[0]}/{parts[1]}".casefold())
        with self.lock:
            row = self.state.find(repo, int(parts[3])) if repo and parts[3].isdigit() else None
            data = dict(row.data) if row is not None and row.live else None
        return record_page("GitHub", f"{parts[0]}/{parts[1]}#{parts[3]}", data)

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        return webhooks.deliveries(events, target)

    # -- helpers ---------------------------------------------------------------------------

    def _answer(self, request: Request, status: int, data: JSON, **headers: str) -> Response:
        """A JSON answer with the primary rate limit headers GitHub sends on every answer."""
        resource = "search" if request.path.startswith("/search/") else "core"
        limit = SEARCH_LIMIT if resource == "search" else CORE_LIMIT
        window = 60.0 if resource == "search" else 3600.0
        key = f"{resource}:{request.identity}"
        started, used = self._used.get(key, (time.time(), 0))
        if time.time() - started >= window:
            started, used = time.time(), 0
        used += 1
        self._used[key] = (started, used)
        all_headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-used": str(used),
            "x-ratelimit-reset": str(int(started + window)),
            "x-ratelimit-resource": resource,
            "x-github-api-version-selected": request.header("x-github-api-version") or "2022-11-28",
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }
        return Response.json(status, data, all_headers)

    def _repo(self, request: Request, *, issues: bool = True, write: bool = False) -> Repo:
        repo = REPOS.get(f"{request.params['owner']}/{request.params['repo']}".casefold())
        if repo is None:
            raise HttpError(self.error(404, "Not Found"))
        permission = self._permission(request.identity)
        if permission == "none":
            raise HttpError(self.error(403, "Resource not accessible by integration"))
        if issues and permission == "metadata":
            raise HttpError(self.error(403, "Resource not accessible by personal access token"))
        if write and permission != "write":
            raise HttpError(self.error(403, "Resource not accessible by personal access token"))
        if issues and not repo.has_issues:
            raise HttpError(self.error(410, "Issues are disabled for this repo"))
        if write and repo.archived:
            raise HttpError(self.error(403, "Repository was archived so is read-only."))
        return repo

    def _page(self, request: Request, items: list[Any]) -> Response:
        """One page of a list, with the Link header GitHub pages by."""
        chunk, headers = self._slice(request, items)
        return self._answer(request, 200, chunk, **headers)

    def _slice(self, request: Request, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        """The page of `items` that page/per_page ask for, and the Link header for it."""
        try:
            per_page = min(MAX_PER_PAGE, max(1, int(request.arg("per_page") or 30)))
            page = max(1, int(request.arg("page") or 1))
        except ValueError as exc:
            raise ValidationError(f"per_page and page are numbers: {exc}") from None
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links.append(f'<{self._url(request, page + 1)}>; rel="next"')
            links.append(f'<{self._url(request, last)}>; rel="last"')
        if page > 1:
            links.append(f'<{self._url(request, 1)}>; rel="first"')
            links.append(f'<{self._url(request, page - 1)}>; rel="prev"')
        return chunk, ({"Link": ", ".join(links)} if links else {})

    def _url(self, request: Request, page: int) -> str:
        query = [(k, v) for k, vs in request.query.items() for v in vs if k != "page"]
        query.append(("page", str(page)))
        return f"{request.base_url}{request.path}?{urlencode(query)}"

    def _bean(self, request: Request, repo: Repo, row: Any) -> dict[str, Any]:
        labels = {k: v for k, v in self.state.labels(repo).items()}
        return beans.issue(
            request.base_url,
            request.base_url,
            repo,
            row.data,
            row.id,
            row.created,
            row.modified,
            labels,
            self.state.milestones(repo),
        )

    def _emit(self, request: Request, repo: Repo, row: Any, action: str) -> None:
        if self.context.webhooks_wanted():
            open_count = self.state.open_count(repo)
            self.context.emit(
                webhooks.event(
                    "issues",
                    action,
                    self._bean(request, repo, row),
                    beans.repository(
                        request.base_url, request.base_url, repo, open_count, self.context.now()
                    ),
                    beans.user_by_login(request.base_url, "concord-bot"),
                    self.state.table.version,
                )
            )

    # -- a GitHub App ----------------------------------------------------------------------

    @route("POST", "/app/installations/{installation_id}/access_tokens")
    def create_installation_token(self, request: Request) -> Response:
        """apps/create-installation-access-token: an hour's token for the installation,
        asked for with the App's JWT."""
        if not request.identity.startswith("app:"):
            return self.error(
                401, "A JSON web token could not be decoded: authenticate as the GitHub App"
            )
        if request.params["installation_id"] != INSTALLATION_ID:
            return self.error(404, "Not Found")
        token = "ghs_" + secrets.token_hex(18)
        expires = time.time() + INSTALLATION_TOKEN_LIFETIME
        self._issued = {t: e for t, e in self._issued.items() if e > time.time()}
        self._issued[token] = expires
        answer = {
            "token": token,
            "expires_at": beans.iso(expires),
            "permissions": {"issues": "write", "metadata": "read"},
            "repository_selection": "selected",
        }
        return self._answer(request, 201, answer)

    # -- repositories ----------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{repo}")
    def get_repository(self, request: Request) -> Response:
        """repos/get."""
        repo = self._repo(request, issues=False)
        count = self.state.open_count(repo)
        bean = beans.repository(request.base_url, request.base_url, repo, count, self.context.now())
        return self._answer(request, 200, bean)

    @route("GET", "/repos/{owner}/{repo}/labels")
    def list_labels(self, request: Request) -> Response:
        """issues/list-labels-for-repo."""
        repo = self._repo(request, issues=False)
        labels = [
            beans.label(request.base_url, repo.full_name, *entry)
            for entry in self.state.labels(repo).values()
        ]
        return self._page(request, labels)

    @route("GET", "/repos/{owner}/{repo}/milestones")
    def list_milestones(self, request: Request) -> Response:
        """issues/list-milestones (every milestone is open here)."""
        repo = self._repo(request, issues=False)
        if request.arg("state") == "closed":
            return self._page(request, [])
        items = [
            beans.milestone(request.base_url, request.base_url, repo, n, title, (1, 0))
            for title, n in self.state.milestones(repo).items()
        ]
        return self._page(request, items)

    @route("GET", "/repos/{owner}/{repo}/assignees")
    def list_assignees(self, request: Request) -> Response:
        """issues/list-assignees."""
        repo = self._repo(request, issues=False)
        return self._page(
            request, [beans.user_by_login(request.base_url, u) for u in repo.assignable]
        )

    @route("GET", "/repos/{owner}/{repo}/issue-types")
    def list_issue_types(self, request: Request) -> Response:
        """repos/list-issue-types: an organization's types; 404 for a personal repository."""
        repo = self._repo(request, issues=False)
        if not repo.org:
            return self.error(404, "Not Found")
        return self._answer(request, 200, [beans.issue_type(t[1]) for t in ISSUE_TYPES])

    # -- issues ----------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{repo}/issues")
    def list_issues(self, request: Request) -> Response:
        """issues/list-for-repo: filters state, since (updated at or after), labels; sort
        created/updated, direction; paged by page/per_page with a Link header."""
        repo = self._repo(request)
        state = request.arg("state") or "open"
        if state not in ("open", "closed", "all"):
            raise ValidationError("state must be open, closed or all")
        since = request.arg("since")
        floor = None
        if since:
            try:
                floor = beans.parse_iso(since)
            except ValueError:
                return self._answer(
                    request,
                    422,
                    {"message": "Validation Failed", "documentation_url": DOCS,
                     "errors": [{"resource": "Issue", "field": "since", "code": "invalid"}]},
                )  # fmt: skip
        sort = request.arg("sort") or "created"
        descending = (request.arg("direction") or "desc") == "desc"
        rows = [
            r
            for r in self.state.issues(repo)
            if (state == "all" or r.data["state"] == state)
            and (floor is None or r.modified >= floor)
        ]
        key = {
            "updated": lambda r: (r.modified, r.id),
            "comments": lambda r: (r.data["comments"], r.id),
        }
        rows.sort(key=key.get(sort, lambda r: (r.created, r.id)), reverse=descending)
        wanted = {n.casefold() for n in request.args("labels")}
        if wanted:
            rows = [r for r in rows if wanted <= {n.casefold() for n in r.data["labels"]}]
        return self._page(request, [self._bean(request, repo, r) for r in rows])

    @route("POST", "/repos/{owner}/{repo}/issues")
    def create_issue(self, request: Request) -> Response:
        """issues/create."""
        repo = self._repo(request, write=True)
        body = request.json()
        if not isinstance(body, dict):
            raise ValidationError("Problems parsing JSON")
        row = self.state.create(repo, body, "concord-bot")
        self._emit(request, repo, row, "opened")
        bean = self._bean(request, repo, row)
        return self._answer(request, 201, bean, Location=bean["url"])

    @route("GET", "/repos/{owner}/{repo}/issues/{issue_number}")
    def get_issue(self, request: Request) -> Response:
        """issues/get: 410 for a deleted issue."""
        repo = self._repo(request)
        row = self._issue(repo, request)
        return self._answer(request, 200, self._bean(request, repo, row))

    @route("PATCH", "/repos/{owner}/{repo}/issues/{issue_number}")
    def update_issue(self, request: Request) -> Response:
        """issues/update."""
        repo = self._repo(request, write=True)
        row = self._issue(repo, request)
        body = request.json()
        if not isinstance(body, dict):
            raise ValidationError("Problems parsing JSON")
        if body.get("state") not in (None, "open", "closed"):
            raise ValidationError("state must be open or closed")
        for action in self.state.update(repo, row, body, "concord-bot"):
            self._emit(request, repo, row, action)
        return self._answer(request, 200, self._bean(request, repo, row))

    # -- comments ----------------------------------------------------------------------------

    @route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def list_comments(self, request: Request) -> Response:
        """issues/list-comments: oldest first, `since` (updated at or after), paged."""
        repo = self._repo(request)
        row = self._issue(repo, request)
        thread = list(row.data.get("thread") or [])
        since = request.arg("since")
        if since:
            try:
                floor = beans.parse_iso(since)
            except ValueError:
                raise ValidationError("since is not an ISO 8601 time") from None
            thread = [c for c in thread if c["updated"] >= floor]
        items = [self._comment_bean(request, repo, row, c) for c in thread]
        return self._page(request, items)

    @route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def create_comment(self, request: Request) -> Response:
        """issues/create-comment: 201 with the comment; the issue's `updated_at` moves."""
        repo = self._repo(request, write=True)
        row = self._issue(repo, request)
        body = request.json()
        comment = self.state.comment_add(
            row, body.get("body") if isinstance(body, dict) else None, "concord-bot"
        )
        bean = self._comment_bean(request, repo, row, comment)
        self._emit_comment(request, repo, row, "created", bean)
        return self._answer(request, 201, bean, Location=bean["url"])

    @route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def get_comment(self, request: Request) -> Response:
        """issues/get-comment."""
        repo = self._repo(request)
        row, comment = self._comment(repo, request)
        return self._answer(request, 200, self._comment_bean(request, repo, row, comment))

    @route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def update_comment(self, request: Request) -> Response:
        """issues/update-comment: a new body."""
        repo = self._repo(request, write=True)
        row, comment = self._comment(repo, request)
        before = comment["body"]
        body = request.json()
        self.state.comment_edit(row, comment, body.get("body") if isinstance(body, dict) else None)
        bean = self._comment_bean(request, repo, row, comment)
        self._emit_comment(request, repo, row, "edited", bean, {"body": {"from": before}})
        return self._answer(request, 200, bean)

    @route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def delete_comment(self, request: Request) -> Response:
        """issues/delete-comment: 204; 404 for one already gone (as GitHub answers)."""
        repo = self._repo(request, write=True)
        row, comment = self._comment(repo, request)
        bean = self._comment_bean(request, repo, row, comment)
        self.state.comment_remove(row, comment)
        self._emit_comment(request, repo, row, "deleted", bean)
        return Response.empty(204)

    def _comment(self, repo: Repo, request: Request) -> tuple[Any, dict[str, Any]]:
        wanted = request.params["comment_id"]
        found = self.state.comment_find(int(wanted)) if wanted.isdigit() else None
        if found is None or found[0].data["repo"] != repo.full_name.casefold():
            raise HttpError(self.error(404, "Not Found"))
        return found

    def _comment_bean(
        self, request: Request, repo: Repo, row: Any, comment: dict[str, Any]
    ) -> dict[str, Any]:
        number = row.data["number"]
        return beans.comment(request.base_url, request.base_url, repo, number, comment)

    def _emit_comment(
        self,
        request: Request,
        repo: Repo,
        row: Any,
        action: str,
        comment: dict[str, Any],
        changes: dict[str, Any] | None = None,
    ) -> None:
        """An `issue_comment` event: the issue, the comment and, for an edit, `changes`."""
        if self.context.webhooks_wanted():
            extra: dict[str, Any] = {"comment": comment}
            if changes is not None:
                extra["changes"] = changes
            self.context.emit(
                webhooks.event(
                    "issue_comment",
                    action,
                    self._bean(request, repo, row),
                    beans.repository(
                        request.base_url,
                        request.base_url,
                        repo,
                        self.state.open_count(repo),
                        self.context.now(),
                    ),
                    beans.user_by_login(request.base_url, "concord-bot"),
                    self.state.table.version,
                    **extra,
                )
            )

    def _issue(self, repo: Repo, request: Request) -> Any:
        number = request.params["issue_number"]
        row = self.state.find(repo, int(number)) if number.isdigit() else None
        if row is None:
            raise HttpError(self.error(404, "Not Found"))
        if not row.live:
            raise HttpError(self.error(410, "This issue was deleted"))
        return row

    # -- search and GraphQL ----------------------------------------------------------------

    @route("GET", "/search/issues", limits=("search",))
    def search_issues(self, request: Request) -> Response:
        """search/issues-and-pull-requests, over a subset of the query syntax: repo:,
        is:issue/is:pr, state:, label:, assignee:, milestone:, type:, in:title/in:body
        with quoted phrases (matched as case-insensitive substrings)."""
        query = request.arg("q") or ""
        if not query.strip():
            return self._answer(
                request,
                422,
                {"message": "Validation Failed", "documentation_url": DOCS,
                 "errors": [{"resource": "Search", "field": "q", "code": "missing"}]},
            )  # fmt: skip
        repos: list[Repo] = []
        filters: list[tuple[str, str]] = []
        phrases: list[str] = []
        where = ("title", "body")
        for _negate, name, value, phrase, word in _QUALIFIER.findall(query):
            if name:
                value = value.strip('"')
                if name == "repo":
                    repo = REPOS.get(value.casefold())
                    if repo is None:
                        return self._answer(
                            request,
                            422,
                            {"message": "Validation Failed", "documentation_url": DOCS,
                             "errors": [{"resource": "Search", "field": "q", "code": "invalid",
                                         "message": "The listed users and repositories cannot "
                                         "be searched"}]},
                        )  # fmt: skip
                    repos.append(repo)
                elif name == "in":
                    where = tuple(value.split(","))
                else:
                    filters.append((name, value.casefold()))
            else:
                phrases.append((phrase or word).casefold())
        rows = [
            (repo, row)
            for repo in (repos or [r for r in REPOS.values() if r.has_issues])
            for row in self.state.issues(repo)
        ]
        found = []
        for repo, row in rows:
            data = row.data
            text = {"title": data["title"] or "", "body": data.get("body") or ""}
            if not all(any(p in text.get(w, "").casefold() for w in where) for p in phrases):
                continue
            if all(_search_filter(name, value, data) for name, value in filters):
                bean = self._bean(request, repo, row)
                bean["score"] = 1.0
                if bean.get("body") is None:
                    # issue-search-result-item declares `body` a plain string (an issue's
                    # is nullable): an issue without a body leaves the key out here.
                    bean.pop("body", None)
                found.append(bean)
        found.sort(key=lambda b: b["number"])
        chunk, headers = self._slice(request, found)
        wrapped = {
            "total_count": len(found),
            "incomplete_results": False,
            "items": chunk,
            "search_type": "lexical",
        }
        return self._answer(request, 200, wrapped, **headers)

    @route("POST", "/graphql")
    def graphql(self, request: Request) -> Response:
        """GraphQL, only the mutation `deleteIssue(input: {issueId})` the connector uses
        (REST cannot delete an issue); anything else is answered with a GraphQL error."""
        body = request.json()
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or "deleteIssue" not in query:
            return Response.json(
                200, {"errors": [{"message": "the sandbox answers only deleteIssue"}]}
            )
        node = (body.get("variables") or {}).get("id")
        row = self.state.by_node(str(node)) if node else None
        if row is None:
            return Response.json(200, {"data": {"deleteIssue": None}, "errors": [{
                "type": "NOT_FOUND", "path": ["deleteIssue"],
                "message": f"Could not resolve to a node with the global id of '{node}'",
            }]})  # fmt: skip
        if self._permission(request.identity) != "write":
            return Response.json(200, {"data": {"deleteIssue": None}, "errors": [{
                "type": "FORBIDDEN", "path": ["deleteIssue"],
                "message": "concord-bot does not have the correct permissions to execute "
                "`DeleteIssue`",
            }]})  # fmt: skip
        repo = REPOS[row.data["repo"]]
        self._emit(request, repo, row, "deleted")
        self.state.delete(row)
        return Response.json(200, {"data": {"deleteIssue": {"clientMutationId": None}}})


def _search_filter(name: str, value: str, data: dict[str, Any]) -> bool:
    if name == "is":
        return {"issue": not data.get("pull"), "pr": bool(data.get("pull")),
                "open": data["state"] == "open", "closed": data["state"] == "closed"}.get(
            value, True
        )  # fmt: skip
    if name == "state":
        return data["state"] == value
    if name == "label":
        return value in {n.casefold() for n in data["labels"]}
    if name == "assignee":
        return value in {n.casefold() for n in data["assignees"]}
    if name == "milestone":
        return (data.get("milestone") or "").casefold() == value
    if name == "type":
        return (data.get("type") or "").casefold() == value
    return True

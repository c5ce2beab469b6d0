"""The Jira sandbox's HTTP side: authentication, errors, rate limits, webhooks, and the
endpoints for the account, the project, fields, users and JQL search. Issue endpoints are
in issues.py.

Each handler names its operation id in Atlassian's OpenAPI description of the platform REST
API v3 (../shared/vendor-specs/jira/swagger-v3.v3.json).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from connectors.jira.sandbox import query, webhooks
from connectors.jira.sandbox.beans import Beans, select_fields
from connectors.jira.sandbox.issues import IssueRoutes
from connectors.jira.sandbox.schema import (
    CUSTOM_FIELDS,
    ISSUE_TYPES,
    PROJECT,
    SANDBOX_EMAIL,
    SANDBOX_TOKEN,
    SCREENS,
    STATUSES,
    SYSTEM_FIELDS,
)
from connectors.jira.sandbox.state import JiraState, connection_config
from connectors.jira.sandbox.views import body, error_fields, errors, page_args, page_bean
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

TOKEN_LIFETIME = 7 * 24 * 3600.0  # "nextPageToken ... will expire in 7 days"
MAX_PAGE_FIELDS = 100  # issues per search page when fields are requested
MAX_PAGE_IDS = 5000  # "max 5000 issues" when only ids or keys are requested
UNAUTHENTICATED = b"Client must be authenticated to access this resource."


class JiraSandbox(IssueRoutes, VendorSandbox):
    kind = "jira"
    # Atlassian publishes no fixed numbers for its burst limits; these are the sandbox's
    # own, chosen to be reachable in tests and invisible otherwise.
    rate_limits = {
        "jira-burst-based": RateLimit(200, 1.0),
        "jira-search": RateLimit(60, 1.0),
    }
    default_limits = ("jira-burst-based",)
    state_class = JiraState
    state: JiraState

    # -- protocol: auth, errors, limits, webhooks ------------------------------------------

    def connection_config(self, base_url: str) -> dict[str, JSON]:
        return connection_config(base_url)

    def web_page(self, request: Request) -> Response | None:
        """An issue's page: /browse/{key}."""
        if not request.path.startswith("/browse/"):
            return None
        key = request.path.removeprefix("/browse/").strip("/")
        with self.lock:
            row = self.state.find(key) if key else None
            data = dict(row.data) if row is not None and row.live else None
        return record_page("Jira", f"Issue {key}", data)

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
        return Response(401, UNAUTHENTICATED, [("Content-Type", "text/plain;charset=UTF-8")])

    def error(self, status: int, message: str) -> Response:
        return errors(status, [message])

    def refuse(self, error: ValidationError) -> Response:
        return errors(400, error.messages(), error_fields(error))

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

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        """One POST per event, as Jira admin webhooks send them, signed with X-Hub-Signature."""
        return webhooks.deliveries(events, target)

    # -- account, project, schema ----------------------------------------------------------

    @route("GET", "/rest/api/3/myself")
    def myself(self, request: Request) -> Response:
        """getCurrentUser (Myself): the authenticated account, with its time zone."""
        user = Beans(self.state, request.base_url).user_bean(self.state.users[0])
        user["locale"] = "en_AU"
        return Response.json(200, user)

    @route("GET", "/rest/api/3/user")
    def get_user(self, request: Request) -> Response:
        """getUser (Users): one user by `accountId`."""
        found = self.state.user(request.arg("accountId") or "")
        if found is None:
            return errors(404, ["The user with the given accountId does not exist."])
        return Response.json(200, Beans(self.state, request.base_url).user_bean(found))

    @route("GET", "/rest/api/3/user/search")
    def user_search(self, request: Request) -> Response:
        """findUsers (User search): users whose email or display name starts with `query`."""
        text = (request.arg("query") or "").casefold()
        account = request.arg("accountId")
        if not text and not account:
            return errors(400, ["One of 'query' or 'accountId' parameters must be provided."])
        beans = Beans(self.state, request.base_url)
        found = [
            beans.user_bean(u)
            for u in self.state.users
            if (account and u["accountId"] == account)
            or (
                text
                and (
                    u["emailAddress"].casefold().startswith(text)
                    or any(p.casefold().startswith(text) for p in u["displayName"].split())
                )
            )
        ]
        start, limit = page_args(request, default=50, cap=1000)
        return Response.json(200, found[start : start + limit])

    @route("GET", "/rest/api/3/project/{project}")
    def project(self, request: Request) -> Response:
        """getProject (Projects)."""
        _project_or_404(request.params["project"])
        beans = Beans(self.state, request.base_url)
        bean = beans.project()
        bean["issueTypes"] = [beans.issue_type(t) for t in ISSUE_TYPES]
        bean["lead"] = beans.user(self.state.me)
        bean["style"] = "classic"
        return Response.json(200, bean)

    @route("GET", "/rest/api/3/project/{project}/statuses")
    def project_statuses(self, request: Request) -> Response:
        """getAllStatuses (Projects): statuses per issue type of the project's workflow."""
        _project_or_404(request.params["project"])
        beans = Beans(self.state, request.base_url)
        return Response.json(
            200,
            [
                {
                    "self": f"{request.base_url}/rest/api/3/issueType/{type_id}",
                    "id": type_id,
                    "name": info["name"],
                    "subtask": False,
                    "statuses": [beans.status(s) for s in STATUSES],
                }
                for type_id, info in ISSUE_TYPES.items()
            ],
        )

    @route("GET", "/rest/api/3/field")
    def field_list(self, request: Request) -> Response:
        """getFields (Issue fields): every system and custom field of the site."""
        beans = Beans(self.state, request.base_url)
        return Response.json(
            200, [beans.field_details(f) for f in (*SYSTEM_FIELDS, *CUSTOM_FIELDS)]
        )

    @route("GET", "/rest/api/3/field/search")
    def field_search(self, request: Request) -> Response:
        """getFieldsPaginated (Issue fields): fields filtered by `type` (custom, system),
        `id` and `query` (in the name), as a PageBean whose `nextPage` is on the sandbox."""
        start, limit = page_args(request, default=50, cap=100)
        kinds = set(request.args("type"))
        ids = set(request.args("id"))
        text = (request.arg("query") or "").casefold()
        beans = Beans(self.state, request.base_url)
        values = [
            beans.field(f)
            for f in (*SYSTEM_FIELDS, *CUSTOM_FIELDS)
            if (not kinds or ("custom" if f in CUSTOM_FIELDS else "system") in kinds)
            and (not ids or f in ids)
            and (not text or text in beans.field(f)["name"].casefold())
        ]
        return Response.json(200, page_bean(request, values, start, limit))

    @route("GET", "/rest/api/3/issue/createmeta/{project}/issuetypes")
    def create_issue_types(self, request: Request) -> Response:
        """getCreateIssueMetaIssueTypes (Issues): issue types creatable in the project."""
        _project_or_404(request.params["project"])
        start, limit = page_args(request)
        beans = Beans(self.state, request.base_url)
        types = [beans.issue_type(t) for t in ISSUE_TYPES]
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
        _project_or_404(request.params["project"])
        type_id = request.params["type_id"]
        if type_id not in ISSUE_TYPES:
            return errors(400, [f"The issue type with id '{type_id}' does not exist."])
        start, limit = page_args(request)
        beans = Beans(self.state, request.base_url)
        items = [beans.field_metadata(type_id, f, create=True) for f in SCREENS[type_id]]
        return Response.json(
            200,
            {
                "fields": items[start : start + limit],
                "maxResults": limit,
                "startAt": start,
                "total": len(items),
            },
        )

    # -- search ----------------------------------------------------------------------------

    @route("GET", "/rest/api/3/search/jql", limits=("jira-search",))
    def search_get(self, request: Request) -> Response:
        """searchAndReconsileIssuesUsingJql (Issue search), GET form."""
        try:
            max_results = int(request.arg("maxResults", "50") or 50)
        except ValueError:
            return errors(400, ["maxResults must be a number."])
        fields = request.args("fields") or None
        return self._search(
            request, request.arg("jql") or "", request.arg("nextPageToken"), max_results, fields
        )

    @route("POST", "/rest/api/3/search/jql", limits=("jira-search",))
    def search_post(self, request: Request) -> Response:
        """searchAndReconsileIssuesUsingJqlPost (Issue search), POST form."""
        data = body(request)
        max_results = data.get("maxResults", 50)
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            return errors(400, ["maxResults must be a number."])
        fields = data.get("fields")
        if fields is not None and not (
            isinstance(fields, list) and all(isinstance(f, str) for f in fields)
        ):
            return errors(400, ["fields must be a list of field ids."])
        token = data.get("nextPageToken")
        return self._search(request, str(data.get("jql") or ""), token, max_results, fields)

    @route("POST", "/rest/api/3/search/approximate-count", limits=("jira-search",))
    def count(self, request: Request) -> Response:
        """countIssues (Issue search): how many issues a bounded JQL query matches."""
        parsed = query.parse_jql(str(body(request).get("jql") or ""))
        matches = parsed.compile(self.state)
        return Response.json(
            200, {"count": sum(1 for row in self.state.table.rows("issues") if matches(row))}
        )

    def _search(
        self,
        request: Request,
        jql: str,
        token: str | None,
        max_results: int,
        requested: list[str] | None,
    ) -> Response:
        """One page of the issues matching `jql`, paged by a keyset token (so writes between
        pages never shift a record past the reader) that expires after 7 days like Jira's."""
        parsed = query.parse_jql(jql)
        matches = parsed.compile(self.state)
        fields = select_fields(requested, "id")
        limit = max(1, min(max_results, MAX_PAGE_FIELDS if fields else MAX_PAGE_IDS))
        keyed = sorted(
            (
                (parsed.sort_key(row), row)
                for row in self.state.table.rows("issues")
                if matches(row)
            ),
            key=lambda pair: pair[0],
        )
        digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
        start = 0
        if token:
            position = parsed.position(self._read_token(token, digest))
            start = next((i for i, (k, _) in enumerate(keyed) if k > position), len(keyed))
        page = keyed[start : start + limit]
        wants_key = requested is not None and "key" in requested
        beans = Beans(self.state, request.base_url)
        out: dict[str, Any] = {
            "issues": [beans.issue_out(row, fields, wants_key) for _, row in page]
        }
        out["isLast"] = start + limit >= len(keyed)
        if not out["isLast"]:
            out["nextPageToken"] = self._make_token(digest, parsed.raw_key(page[-1][1]))
        return Response.json(200, out)

    def _make_token(self, digest: str, after: list[Any]) -> str:
        data = {"q": digest, "after": after, "at": self.state.now()}
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    def _read_token(self, token: str, digest: str) -> list[Any]:
        try:
            padded = token + "=" * (-len(token) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded))
            after, made, jql = data["after"], float(data["at"]), data["q"]
        except (ValueError, KeyError, TypeError):
            raise HttpError(errors(400, ["The provided next page token is invalid."])) from None
        if jql != digest:
            raise HttpError(errors(400, ["The next page token does not belong to this JQL query."]))
        if self.state.now() - made > TOKEN_LIFETIME:
            raise HttpError(errors(400, ["The provided next page token has expired."]))
        return list(after)


def _project_or_404(ref: str) -> None:
    if ref not in (PROJECT["key"], PROJECT["id"]):
        raise HttpError(errors(404, [f"No project could be found with key '{ref}'."]))

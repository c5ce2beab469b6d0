"""The GitHub REST API calls Concord makes, over connectors.http.HttpClient.

Every method is one operation of GitHub's OpenAPI description
(../shared/vendor-specs/github/api.github.com.json), named by its operation id; the tests
validate each request and answer against that description. The one exception is
`delete_issue`: GitHub's REST API cannot delete an issue, only the GraphQL mutation
`deleteIssue` can, so that call goes to POST /graphql (not part of the REST description).

Authentication is `Authorization: Bearer <token>` for a fine-grained personal access token
and for a GitHub App installation token alike. With a GitHub App's id, installation id and
private key instead (`AppTokens`), the client makes its own installation tokens: a JWT signed
RS256 with the key (issued 60 s in the past against clock drift, valid 9 minutes; GitHub
allows 10) buys one at POST /app/installations/{installation_id}/access_tokens, and a new one
is bought five minutes before the last expires (they live an hour).

Rate limits (GitHub's "Rate limits for the REST API" page): a primary limit answers 403 or
429 with `x-ratelimit-remaining: 0` (wait until `x-ratelimit-reset`, epoch seconds), a
secondary limit 403 or 429 with a message saying so and maybe `retry-after` (else wait at
least a minute). Both are RateLimited with `retry_after`; a 403 with none of those signs
is a permission problem (PermissionDenied).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import requests

from connectors.base import CallObserver, RateLimiter
from connectors.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermissionDenied,
    RateLimited,
    RecordError,
    UnexpectedAnswer,
)
from connectors.http import HttpClient, parse_retry_after, readable_body

SYSTEM = "GitHub"
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
MAX_PER_PAGE = 100  # "The number of results per page (max 100)"
# GitHub's secondary limit for REST is 900 points a minute (a GET costs 1, a write 5). This
# in-process budget is used only when no shared limiter is injected.
DEFAULT_RATE = (900, 60.0)
# With neither retry-after nor a spent primary limit, GitHub says to wait at least a minute.
SECONDARY_WAIT = 60.0
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_RATE_LIMIT_WORDS = re.compile(r"rate limit|abuse detection", re.IGNORECASE)


JWT_BACKDATE = 60.0  # GitHub: "set this 60 seconds in the past to allow for clock drift"
JWT_LIFETIME = 540.0  # at most 10 minutes after issue; 9 leaves room for drift the other way
TOKEN_MARGIN = 300.0  # buy a new installation token this long before the last one expires
ACCESS_TOKENS_CALL = "POST /app/installations/{installation_id}/access_tokens"
_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


def normalise_pem(text: str) -> str:
    """A PEM private key as pasted, with its line breaks restored: a one-line form field
    turns them into spaces (or drops them), which the PEM reader refuses. Raises ValueError
    when `text` holds no PEM block."""
    found = _PEM.search(text.replace("\\n", "\n"))
    if found is None:
        raise ValueError("must be a PEM private key (-----BEGIN RSA PRIVATE KEY----- ...)")
    label, body = found.group(1), "".join(found.group(2).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def app_jwt(app_id: str, private_key_pem: str, *, now: float) -> str:
    """The JWT a GitHub App authenticates as itself with (RS256, `iss` the app's id or
    client id). Raises ConfigurationError for a key that is not an RSA private key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    except (TypeError, ValueError):
        raise ConfigurationError(
            "the GitHub App private key cannot be read: paste the whole .pem file GitHub "
            "gave (Settings, Developer settings, GitHub Apps, your app, Private keys)",
            system=SYSTEM,
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("a GitHub App private key is an RSA key", system=SYSTEM)
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    claims = {"iat": int(now - JWT_BACKDATE), "exp": int(now + JWT_LIFETIME), "iss": app_id}
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64url(signature)}"


class AppTokens:
    """Installation tokens of one GitHub App installation, bought and renewed as needed."""

    def __init__(
        self, app_id: str, installation_id: str, private_key_pem: str, *, now: Callable[[], float]
    ) -> None:
        self.app_id = app_id
        self.installation_id = installation_id
        self.private_key_pem = private_key_pem
        self._now = now
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def current(self, http: GitHubHttp) -> str:
        """A token valid for at least TOKEN_MARGIN seconds more, bought over `http`."""
        with self._lock:
            if self._token is None or self._now() > self._expires - TOKEN_MARGIN:
                self._token, self._expires = self._buy(http)
            return self._token

    def _buy(self, http: GitHubHttp) -> tuple[str, float]:
        jwt = app_jwt(self.app_id, self.private_key_pem, now=self._now())
        try:
            response = http.post(
                f"/app/installations/{self.installation_id}/access_tokens",
                headers={"Authorization": f"Bearer {jwt}"},
                idempotent=False,
            )
        except AuthenticationError as exc:
            raise AuthenticationError(
                "GitHub refused the App's signed token: check the App id and the private key",
                system=SYSTEM,
                call=exc.call,
                status=exc.status,
                body=exc.body_excerpt,
            ) from None
        except ConnectorError as exc:
            if exc.status != 404:
                raise
            raise ConfigurationError(
                f"installation {self.installation_id} of this GitHub App does not exist "
                "(the App's installations are under its settings, Install App)",
                system=SYSTEM,
                call=exc.call,
                status=exc.status,
            ) from None
        answer = http.json(response)
        token = answer.get("token") if isinstance(answer, dict) else None
        expires = answer.get("expires_at") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not isinstance(expires, str):
            raise UnexpectedAnswer(
                "the installation token answer has no token or expires_at",
                field="token",
                system=SYSTEM,
                call=ACCESS_TOKENS_CALL,
            )
        http.secrets = (*http.secrets, token)
        moment = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp()
        return token, moment


class GitHubHttp(HttpClient):
    """HttpClient with GitHub's reading of 403 and 429 (see the module docstring), and,
    for a GitHub App, an installation token put on every call."""

    def __init__(
        self,
        *,
        now: Callable[[], float] = time.time,
        app_tokens: AppTokens | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._now = now
        self.app_tokens = app_tokens

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if self.app_tokens is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.app_tokens.current(self)}"
        return super().request(method, path, headers=headers or None, **kwargs)

    def _map_error(
        self, response: requests.Response, call: str, per_record: bool, record_id: str | None
    ) -> ConnectorError:
        status = response.status_code
        if status in (403, 429):
            wait = rate_limit_wait(response.headers, response.text or "", now=self._now())
            if wait is None and status == 429:
                wait = SECONDARY_WAIT  # a 429 is a limit even when it says nothing more
            body = readable_body(response, secrets=self.secrets)
            common: dict[str, Any] = {"system": self.system, "call": call, "status": status}
            if wait is not None:
                return RateLimited(
                    "rate limited (GitHub's primary or secondary limit)",
                    retry_after=wait,
                    body=body,
                    **common,
                )
            if status == 403:
                return PermissionDenied(
                    "the token lacks a permission for this call (a fine-grained token needs "
                    "Issues: read and write and Metadata: read on each repository)",
                    body=body,
                    **common,
                )
        return super()._map_error(response, call, per_record, record_id)


def rate_limit_wait(headers: Mapping[str, str], body: str, *, now: float) -> float | None:
    """Seconds to wait when a 403/429 is a rate limit, else None (a real refusal).

    `retry-after` wins; then a spent primary limit waits for `x-ratelimit-reset`; then a
    message naming a rate limit waits SECONDARY_WAIT. A 429 is always a rate limit.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = parse_retry_after(lowered.get("retry-after"), now=now)
    if retry_after is not None:
        return retry_after
    if lowered.get("x-ratelimit-remaining", "").strip() == "0":
        try:
            return max(0.0, float(lowered.get("x-ratelimit-reset", "")) - now)
        except ValueError:
            return SECONDARY_WAIT
    if _RATE_LIMIT_WORDS.search(body):
        return SECONDARY_WAIT
    return None


def next_link(response: requests.Response) -> str | None:
    """The URL of the next page from the Link header ("<url>; rel=\"next\""), or None."""
    header = response.headers.get("Link") or ""
    for part in header.split(","):
        found = _NEXT_LINK.search(part)
        if found:
            return found.group(1)
    return None


class GitHubClient:
    """The repositories of one connection, with one token."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str | None = None,
        app: tuple[str, str, str] | None = None,
        rate_limiter: RateLimiter | None = None,
        budget_key: str | None = None,
        on_call: CallObserver | None = None,
        **http_options: Any,
    ) -> None:
        """`token` (a personal access or installation token), or `app`: (app id,
        installation id, PEM private key) to make installation tokens with."""
        if (token is None) == (app is None):
            raise ValueError("give a token or a GitHub App, not both")
        http_options.setdefault("default_rate", DEFAULT_RATE)
        headers = {"Accept": MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.http = GitHubHttp(
            system=SYSTEM,
            base_url=base_url,
            headers=headers,
            app_tokens=AppTokens(*app, now=time.time) if app is not None else None,
            secrets=(token,) if token is not None else (),
            rate_limiter=rate_limiter,
            budget_key=budget_key,
            on_call=on_call,
            **http_options,
        )

    def close(self) -> None:
        self.http.close()

    # -- repositories and their schema -----------------------------------------------------

    def repository(self, repo: str) -> dict[str, Any]:
        """repos/get: GET /repos/{owner}/{repo}. NotFound when it does not exist or the
        token cannot see it (GitHub answers 404 for both)."""
        return self.http.json(self.http.get(f"/repos/{repo}"))

    def labels(self, repo: str) -> list[dict[str, Any]]:
        """issues/list-labels-for-repo: every page of GET /repos/{owner}/{repo}/labels."""
        return self._every_page(f"/repos/{repo}/labels", {})

    def milestones(self, repo: str) -> list[dict[str, Any]]:
        """issues/list-milestones: every page, open and closed."""
        return self._every_page(f"/repos/{repo}/milestones", {"state": "all"})

    def assignees(self, repo: str) -> list[dict[str, Any]]:
        """issues/list-assignees: every user who can be assigned issues in the repository."""
        return self._every_page(f"/repos/{repo}/assignees", {})

    def issue_types(self, repo: str) -> list[dict[str, Any]] | None:
        """repos/list-issue-types: the organization's issue types, or None where the
        repository has none (a personal repository answers 404)."""
        response = self.http.get(f"/repos/{repo}/issue-types", accept=(404,))
        if response.status_code == 404:
            return None
        return self.http.json(response)

    def _every_page(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.http.get(
                path, params={**params, "per_page": MAX_PER_PAGE, "page": page}
            )
            items = self.http.json(response)
            if not isinstance(items, list):
                break
            out.extend(i for i in items if isinstance(i, dict))
            if not items or next_link(response) is None:
                break
            page += 1
        return out

    # -- issues ----------------------------------------------------------------------------

    def list_issues(
        self, repo: str, *, since: str | None, per_page: int, page: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """issues/list-for-repo: one page of issues (and pull requests) of every state,
        least recently updated first, updated at or after `since`; and whether the Link
        header names a next page."""
        params: dict[str, Any] = {
            "state": "all",
            "sort": "updated",
            "direction": "asc",
            "per_page": per_page,
            "page": page,
        }
        if since is not None:
            params["since"] = since
        response = self.http.get(f"/repos/{repo}/issues", params=params)
        return self.http.json(response), next_link(response) is not None

    def issue(self, repo: str, number: int) -> dict[str, Any] | None:
        """issues/get: GET /repos/{owner}/{repo}/issues/{issue_number}.

        None when the issue is gone: 404 (deleted, or never there), 410 (deleted) or 301
        (transferred to another repository: it is no longer this repository's issue).
        """
        response = self.http.get(f"/repos/{repo}/issues/{number}", accept=(301, 404, 410))
        if response.status_code != 200:
            return None
        return self.http.json(response)

    def create_issue(self, repo: str, body: dict[str, Any]) -> dict[str, Any]:
        """issues/create: POST /repos/{owner}/{repo}/issues. RecordError for 400/410/422.

        Never retried after it may have reached GitHub (a retry could open a duplicate).
        """
        response = self.http.post(
            f"/repos/{repo}/issues", json_body=body, per_record=True, idempotent=False
        )
        return self.http.json(response)

    def update_issue(self, repo: str, number: int, body: dict[str, Any]) -> dict[str, Any]:
        """issues/update: PATCH /repos/{owner}/{repo}/issues/{issue_number}.

        RecordError for 404/410 (the issue is gone) and 422 (a value refused).
        """
        call = "PATCH /repos/{owner}/{repo}/issues/{issue_number}"
        record_id = f"{repo}#{number}"
        response = self.http.patch(
            f"/repos/{repo}/issues/{number}",
            json_body=body,
            per_record=True,
            record_id=record_id,
            accept=(301, 404, 410),
        )
        if response.status_code in (301, 404, 410):
            raise RecordError(
                "the issue was deleted or moved to another repository",
                record_id=record_id,
                system=SYSTEM,
                call=call,
                status=response.status_code,
            )
        return self.http.json(response)

    # -- comments --------------------------------------------------------------------------

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """issues/list-comments: every page of GET /repos/{owner}/{repo}/issues/
        {issue_number}/comments, oldest first. RecordError when the issue is gone (404, 410)
        or was transferred (301)."""
        call = "GET /repos/{owner}/{repo}/issues/{issue_number}/comments"
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            response = self.http.get(
                f"/repos/{repo}/issues/{number}/comments",
                params={"per_page": MAX_PER_PAGE, "page": page},
                accept=(301, 404, 410),
            )
            _raise_gone(response, repo, number, call)
            items = self.http.json(response)
            if not isinstance(items, list):
                raise UnexpectedAnswer("expected a list of comments", system=SYSTEM, call=call)
            out.extend(i for i in items if isinstance(i, dict))
            if not items or next_link(response) is None:
                return out
            page += 1

    def create_comment(self, repo: str, number: int, body: str) -> dict[str, Any]:
        """issues/create-comment: POST /repos/{owner}/{repo}/issues/{issue_number}/comments.
        RecordError when the issue is gone or the body is refused (422). Never retried once
        it may have reached GitHub (a retry could comment twice)."""
        call = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments"
        response = self.http.post(
            f"/repos/{repo}/issues/{number}/comments",
            json_body={"body": body},
            per_record=True,
            record_id=f"{repo}#{number}",
            idempotent=False,
            accept=(301, 404, 410),
        )
        _raise_gone(response, repo, number, call)
        return self.http.json(response)

    def update_comment(self, repo: str, number: int, comment_id: str, body: str) -> dict:
        """issues/update-comment: PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}.
        RecordError when the comment is gone (404) or the body is refused (422)."""
        call = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}"
        response = self.http.patch(
            f"/repos/{repo}/issues/comments/{comment_id}",
            json_body={"body": body},
            per_record=True,
            record_id=f"{repo}#{number}",
            accept=(404, 410),
        )
        if response.status_code in (404, 410):
            raise RecordError(
                f"comment {comment_id} was deleted", record_id=f"{repo}#{number}",
                system=SYSTEM, call=call, status=response.status_code,
            )  # fmt: skip
        return self.http.json(response)

    def delete_comment(self, repo: str, comment_id: str) -> None:
        """issues/delete-comment: DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}.
        A comment already gone (GitHub answers 404, which its description leaves out)
        counts as deleted."""
        self.http.delete(f"/repos/{repo}/issues/comments/{comment_id}", accept=(404, 410))

    def search_issues(self, query: str, *, page: int) -> tuple[dict[str, Any], bool]:
        """search/issues-and-pull-requests: one page of GET /search/issues?q=."""
        response = self.http.get(
            "/search/issues", params={"q": query, "per_page": MAX_PER_PAGE, "page": page}
        )
        return self.http.json(response), next_link(response) is not None

    def delete_issue(self, node_id: str) -> list[str]:
        """GraphQL `deleteIssue` (POST /graphql): REST has no way to delete an issue.

        Needs admin rights on the repository. Returns GraphQL's error messages (empty when
        the issue was deleted); transport errors raise as for any call.
        """
        answer = self.http.json(
            self.http.post(
                "/graphql",
                json_body={
                    "query": "mutation($id: ID!) { deleteIssue(input: {issueId: $id}) "
                    "{ clientMutationId } }",
                    "variables": {"id": node_id},
                },
            )
        )
        errors = answer.get("errors") if isinstance(answer, dict) else None
        return [str(e.get("message", e)) for e in errors or [] if isinstance(e, dict)]


def _raise_gone(response: requests.Response, repo: str, number: int, call: str) -> None:
    """RecordError for an issue that is gone (404, 410) or moved to another repository (301)."""
    if response.status_code in (301, 404, 410):
        raise RecordError(
            "the issue was deleted or moved to another repository",
            record_id=f"{repo}#{number}",
            system=SYSTEM,
            call=call,
            status=response.status_code,
        )

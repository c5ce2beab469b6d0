"""Validate Jira traffic against Atlassian's OpenAPI description of the REST API v3.

`JiraTrafficRecorder` is a WSGI middleware put in front of the sandbox server's app: it
records every request under /jira/ and the answer the sandbox gave. `check_exchange`
validates one recorded exchange with openapi-core against the operation the spec
describes for that method and path:

- the request (path, query parameters, JSON body) must validate, and carry basic auth;
- the response must validate against the operation's response for its status. A status the
  operation does not document (429 and 5xx are described on Atlassian's rate-limiting page,
  not per operation; injected faults can answer anything) is reported as undocumented, for
  the caller to judge.

The spec is 2.4 MB; it is loaded once per process (`jira_openapi`). It is used with spec
validation off, because Atlassian's published file has a default outside its own enum
(ProjectClassification status ''), which openapi-spec-validator rejects.
"""

from __future__ import annotations

import io
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

# Beside the clone, as in ../shared/vendor-specs/SOURCES.md; CONCORD_JIRA_SPEC points elsewhere.
SPEC_PATH = Path(
    os.environ.get(
        "CONCORD_JIRA_SPEC",
        Path(__file__).resolve().parents[3] / "shared/vendor-specs/jira/swagger-v3.v3.json",
    )
)
SPEC_MISSING = f"Atlassian's OpenAPI description is not at {SPEC_PATH}"
SPEC_SERVER = "https://your-domain.atlassian.net"  # the spec's `servers` entry
PREFIX = "/jira"


@cache
def jira_spec() -> dict[str, Any]:
    with SPEC_PATH.open() as handle:
        return json.load(handle)


@cache
def jira_openapi() -> OpenAPI:
    return OpenAPI.from_dict(jira_spec(), config=Config(spec_validator_cls=None))


@dataclass
class Exchange:
    """One request to the Jira sandbox and its answer, as they went over the wire."""

    method: str
    path: str  # below the /jira prefix
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""

    @property
    def call(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Finding:
    exchange: Exchange
    operation: str | None = None  # "POST /rest/api/3/search/jql" as the spec names it
    problems: list[str] = field(default_factory=list)
    undocumented_status: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


class _Request:
    """openapi_core.protocols.Request for a recorded exchange, moved onto the spec's server."""

    def __init__(self, exchange: Exchange) -> None:
        self.host_url = SPEC_SERVER
        self.path = exchange.path
        self.method = exchange.method.lower()
        self.body = exchange.request_body or None
        self.content_type = exchange.request_headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(exchange.query, keep_blank_values=True)),
            header=Headers(exchange.request_headers),
            cookie=ImmutableMultiDict(),
        )

    @property
    def full_url_pattern(self) -> str:
        return self.host_url + self.path


class _Response:
    def __init__(self, exchange: Exchange) -> None:
        self.status_code = exchange.status
        self.data = exchange.response_body
        self.headers = Headers(exchange.response_headers)
        self.content_type = exchange.response_headers.get("content-type", "application/json")


def _describe(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    for error in getattr(cause, "schema_errors", None) or getattr(exc, "schema_errors", None) or []:
        where = "/".join(str(p) for p in error.absolute_path)
        parts.append(f"  at {where or '(root)'}: {error.message}")
    return "\n".join(parts)


def _operation(exchange: Exchange) -> tuple[str | None, dict[str, Any] | None]:
    """The spec's path template and operation object for a concrete method and path."""
    segments = exchange.path.strip("/").split("/")
    best: tuple[int, str, dict[str, Any]] | None = None
    for template, item in jira_spec()["paths"].items():
        parts = template.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        literal = 0
        for pattern, actual in zip(parts, segments, strict=True):
            if pattern.startswith("{"):
                continue
            if pattern != actual:
                break
            literal += 1
        else:
            operation = item.get(exchange.method.lower())
            if operation is not None and (best is None or literal > best[0]):
                best = (literal, template, operation)
    if best is None:
        return None, None
    return best[1], best[2]


def check_exchange(exchange: Exchange) -> Finding:
    """Validate one exchange against the spec (see the module docstring)."""
    openapi = jira_openapi()
    template, operation = _operation(exchange)
    finding = Finding(exchange, f"{exchange.method} {template}" if template else None)
    if operation is None:
        finding.problems.append(f"{exchange.call}: no such operation in the OpenAPI description")
        return finding
    request = _Request(exchange)
    authorization = exchange.request_headers.get("authorization", "")
    if not authorization.lower().startswith("basic "):
        finding.problems.append(f"{exchange.call}: request without basic auth")
    try:
        with warnings.catch_warnings():
            # openapi-core cannot check the OAuth2 alternative and says so on every call.
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            openapi.validate_request(request)
    except Exception as exc:  # openapi-core raises a family of validation errors
        finding.problems.append(f"{exchange.call} request: {_describe(exc)}")
    documented = operation.get("responses", {})
    if str(exchange.status) not in documented and "default" not in documented:
        finding.undocumented_status = True
        return finding
    if exchange.status == 204 and not exchange.response_body:
        return finding  # no content; the spec's `schema: {}` for 204 accepts nothing else
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
            openapi.validate_response(request, _Response(exchange))
    except Exception as exc:
        finding.problems.append(
            f"{exchange.call} -> {exchange.status}: {_describe(exc)}\n"
            f"  body: {exchange.response_body[:400]!r}"
        )
    return finding


def check_all(exchanges: Iterable[Exchange]) -> list[Finding]:
    return [check_exchange(e) for e in exchanges]


class JiraTrafficRecorder:
    """WSGI middleware recording every exchange under /jira/ (thread-safe)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []
        self.expected_undocumented: set[int] = set()  # statuses a test provoked on purpose
        self._lock = threading.Lock()
        self._server: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX + "/"):
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        exchange = Exchange(
            method=environ["REQUEST_METHOD"].upper(),
            path=path[len(PREFIX) :],
            query=environ.get("QUERY_STRING", ""),
            request_headers=headers,
            request_body=body,
        )

        def capture(status: str, response_headers: list[tuple[str, str]], *args: Any) -> Any:
            exchange.status = int(status.split(" ", 1)[0])
            exchange.response_headers = {k.lower(): v for k, v in response_headers}
            return start_response(status, response_headers, *args)

        chunks = list(self.app(environ, capture))
        exchange.response_body = b"".join(chunks)
        with self._lock:
            self.exchanges.append(exchange)
        return chunks

    @classmethod
    def install(cls, server: Any) -> JiraTrafficRecorder:
        """Put a recorder in front of a running SandboxServer's app; `uninstall` undoes it."""
        httpd = server.httpd
        if hasattr(httpd, "set_app"):  # a wsgiref server
            recorder = cls(httpd.get_app())
            httpd.set_app(recorder)
        else:  # connectors.sandbox.server's own server calls `httpd.app`
            recorder = cls(httpd.app)
            httpd.app = recorder
        recorder._server = server
        return recorder

    def uninstall(self) -> None:
        httpd = self._server.httpd
        if hasattr(httpd, "set_app"):
            httpd.set_app(self.app)
        else:
            httpd.app = self.app

    def take(self) -> list[Exchange]:
        with self._lock:
            taken, self.exchanges = self.exchanges, []
        return taken

"""Validate a sandbox's traffic against a vendor's own OpenAPI description.

A `VendorSpec` names one vendor's description (a file under the shared vendor-specs folder),
the sandbox's URL prefix for that vendor and the spec's server URL. `TrafficRecorder` is a
WSGI middleware put in front of the sandbox server's app: it records every request under the
prefix and the answer the sandbox gave. `check_exchange` validates one recorded exchange with
openapi-core against the operation the spec describes for that method and path:

- the request (path, query parameters, JSON body) must validate, and carry the vendor's
  authentication (`VendorSpec.auth_problem`);
- the response must validate against the operation's response for its status. A status the
  operation does not document (vendors describe 429 and 5xx on their rate-limit pages, not
  per operation; injected faults can answer anything) is reported as undocumented, for the
  caller to judge.

Where the descriptions live: CONCORD_VENDOR_SPECS if set, else `shared/vendor-specs` beside
the clone (../shared/vendor-specs/SOURCES.md). Each spec is loaded once per process; spec
validation is off, because the vendors' published files do not all pass
openapi-spec-validator (Atlassian's has a default outside its own enum).
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
from urllib.parse import parse_qsl, urlsplit

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def specs_required() -> bool:
    """CI sets CONCORD_REQUIRE_VENDOR_SPECS: a missing description fails there, not skips."""
    return os.environ.get("CONCORD_REQUIRE_VENDOR_SPECS", "") not in ("", "0")


def vendor_specs_dir() -> Path:
    configured = os.environ.get("CONCORD_VENDOR_SPECS")
    if configured:
        return Path(configured)
    return REPO_ROOT.parent / "shared" / "vendor-specs"


@dataclass(frozen=True)
class VendorSpec:
    """One vendor's OpenAPI description and where its sandbox answers."""

    name: str
    path: Path
    prefix: str  # the sandbox's URL prefix for this vendor, e.g. "/jira"
    server: str  # the spec's `servers` entry the recorded paths are moved onto
    auth_problem: Callable[[dict[str, str]], str | None]  # request headers -> problem or None
    # Operations keyed by the path below the spec's server (prefix stripped); a vendor whose
    # server URL carries a path (Pipedrive's /api/v2) strips it from recorded paths here.
    strip: str = ""

    @property
    def missing(self) -> str:
        return f"{self.name}'s OpenAPI description is not at {self.path}"

    def exists(self) -> bool:
        """Whether to validate. Where the description is required (CI), a missing file
        counts as present, so that loading it fails the test instead of skipping it."""
        return self.path.exists() or specs_required()

    def needed(self) -> pytest.MarkDecorator:
        """Mark a test that means nothing without the description (skips, visibly, when it
        is missing, unless it is required)."""
        return pytest.mark.skipif(not self.exists(), reason=self.missing)

    def document(self) -> dict[str, Any]:
        return _load(self.path)

    def openapi(self) -> OpenAPI:
        return _openapi(self.path)


@cache
def _load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            return yaml.safe_load(handle)
        return json.load(handle)


@cache
def _openapi(path: Path) -> OpenAPI:
    return OpenAPI.from_dict(_load(path), config=Config(spec_validator_cls=None))


@dataclass
class Exchange:
    """One request to a vendor's sandbox and its answer, as they went over the wire."""

    method: str
    path: str  # below the vendor's prefix
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

    def __init__(self, spec: VendorSpec, exchange: Exchange) -> None:
        # openapi-core wants the origin here and the server's own path (Pipedrive's
        # /api/v2) in front of the operation's path, to find the server and the operation.
        server = urlsplit(spec.server)
        self.host_url = f"{server.scheme}://{server.netloc}"
        self.path = server.path.rstrip("/") + exchange.path
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


def operation_for(
    spec: VendorSpec, method: str, path: str
) -> tuple[str | None, dict[str, Any] | None]:
    """The spec's path template and operation object for a concrete method and path (the
    template with the most literal segments wins: /issues/search over /issues/{id})."""
    segments = path.strip("/").split("/")
    best: tuple[int, str, dict[str, Any]] | None = None
    for template, item in spec.document()["paths"].items():
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
            operation = item.get(method.lower())
            if operation is not None and (best is None or literal > best[0]):
                best = (literal, template, operation)
    if best is None:
        return None, None
    return best[1], best[2]


def _quiet_validate(call: Callable[[], Any]) -> None:
    with warnings.catch_warnings():
        # openapi-core cannot check some security schemes (OAuth2) and says so on every call.
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
        call()


def check_exchange(spec: VendorSpec, exchange: Exchange) -> Finding:
    """Validate one exchange against the spec (see the module docstring)."""
    openapi = spec.openapi()
    template, operation = operation_for(spec, exchange.method, exchange.path)
    finding = Finding(exchange, f"{exchange.method} {template}" if template else None)
    if operation is None:
        finding.problems.append(f"{exchange.call}: no such operation in the OpenAPI description")
        return finding
    request = _Request(spec, exchange)
    auth = spec.auth_problem(exchange.request_headers)
    if auth:
        finding.problems.append(f"{exchange.call}: {auth}")
    try:
        _quiet_validate(lambda: openapi.validate_request(request))
    except Exception as exc:  # openapi-core raises a family of validation errors
        finding.problems.append(f"{exchange.call} request: {_describe(exc)}")
    documented = operation.get("responses", {})
    if str(exchange.status) not in documented and "default" not in documented:
        finding.undocumented_status = True
        return finding
    if exchange.status in (204, 304) and not exchange.response_body:
        return finding  # no content; a spec's `schema: {}` for 204 accepts nothing else
    try:
        _quiet_validate(lambda: openapi.validate_response(request, _Response(exchange)))
    except Exception as exc:
        finding.problems.append(
            f"{exchange.call} -> {exchange.status}: {_describe(exc)}\n"
            f"  body: {exchange.response_body[:400]!r}"
        )
    return finding


def check_all(spec: VendorSpec, exchanges: Iterable[Exchange]) -> list[Finding]:
    return [check_exchange(spec, e) for e in exchanges]


def assert_valid(spec: VendorSpec, exchanges: Iterable[Exchange], expected: set[int]) -> None:
    """Every exchange matches the spec; statuses it does not document only if `expected`."""
    findings = check_all(spec, exchanges)
    problems = [p for f in findings for p in f.problems]
    unexpected = [
        f.exchange.call + f" -> {f.exchange.status}"
        for f in findings
        if f.undocumented_status and f.exchange.status not in expected
    ]
    assert not problems, "\n".join(problems)
    assert not unexpected, f"statuses the spec does not document: {unexpected}"


class TrafficRecorder:
    """WSGI middleware recording every exchange under one vendor's prefix (thread-safe)."""

    spec: VendorSpec  # set by each vendor's subclass

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []
        self.expected_undocumented: set[int] = set()  # statuses a test provoked on purpose
        self._lock = threading.Lock()
        self._server: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        prefix = self.spec.prefix + self.spec.strip
        if not path.startswith(prefix + "/"):
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
            path=path[len(prefix) :],
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
    def install(cls, server: Any) -> TrafficRecorder:
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

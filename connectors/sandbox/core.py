"""The pieces a vendor sandbox is made of: requests, responses, routes, the plug-in base class.

See the package docstring (connectors.sandbox) for the protocol a vendor implements.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs

JSON = Any


@dataclass
class Request:
    """One request as a vendor handler sees it.

    `path` is below the vendor prefix ("/crm/v3/objects/contacts", not "/hubspot/crm/...").
    `headers` has lower-case keys. `params` holds the route's path parameters.
    `identity` is what `authenticate` returned (the rate-limit key, e.g. the token).
    """

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    identity: str = ""
    _query: dict[str, list[str]] | None = field(default=None, repr=False)

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_qs(self.query_string, keep_blank_values=True)
        return self._query

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """Every value of a query parameter, comma-separated values split."""
        out: list[str] = []
        for value in self.query.get(name, []):
            out.extend(v for v in value.split(",") if v)
        return out

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> JSON:
        """The parsed JSON body. Raises BadRequest (400) for an empty or malformed body."""
        if not self.body:
            raise BadRequest("the request has no body")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, data: JSON, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(data, separators=(",", ":")).encode()
        hdrs = [("Content-Type", "application/json; charset=utf-8")]
        hdrs.extend((headers or {}).items())
        return cls(status, body, hdrs)

    @classmethod
    def html(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
        hdrs = [("Content-Type", "text/html; charset=utf-8")]
        hdrs.extend((headers or {}).items())
        return cls(status, text.encode(), hdrs)

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
        return cls(status, b"", list((headers or {}).items()))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


class HttpError(Exception):
    """Raised by a handler to answer with a ready response (usually the vendor's error)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class BadRequest(Exception):
    """Malformed input found by a framework helper; the vendor turns it into its own 400."""


@dataclass(frozen=True)
class RateLimit:
    """`requests` per `window` seconds, counted per identity (sliding window)."""

    requests: int
    window: float


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str


@dataclass
class Delivery:
    """One webhook POST the framework will send. Built and signed by the vendor."""

    url: str
    body: bytes
    headers: dict[str, str]
    method: str = "POST"
    delivery_id: str = ""


Handler = Callable[[Any, Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    limits: tuple[str, ...]
    regex: re.Pattern[str]


def route(
    method: str, pattern: str, *, limits: tuple[str, ...] = ()
) -> Callable[[Handler], Handler]:
    """Mark a VendorSandbox method as the handler of `method pattern`.

    `pattern` is a path below the vendor prefix with `{name}` placeholders for one path
    segment each ("/crm/v3/objects/{object_type}/search"); the values arrive in
    `request.params`. `limits` names the entries of `rate_limits` this endpoint spends, in
    addition to the vendor's `default_limits`.
    """

    def mark(func: Handler) -> Handler:
        routes = list(getattr(func, "_sandbox_routes", []))
        routes.append((method.upper(), pattern, tuple(limits)))
        func._sandbox_routes = routes  # type: ignore[attr-defined]
        return func

    return mark


def _compile(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[a-zA-Z_][a-zA-Z0-9_]*\})", pattern)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


class Context:
    """What the framework offers a vendor: the sandbox clock and webhook emission."""

    def __init__(
        self,
        kind: str,
        now: Callable[[], float],
        emit: Callable[[str, JSON], None],
        has_target: Callable[[str], bool],
    ) -> None:
        self.kind = kind
        self._now = now
        self._emit = emit
        self._has_target = has_target

    def now(self) -> float:
        """Sandbox time in epoch seconds (wall clock plus any offset set by the admin API)."""
        return self._now()

    def emit(self, event: JSON) -> None:
        """Queue one change event for webhook delivery (no-op without a registered target).

        The event is any JSON the vendor's `webhook_deliveries` understands; call this while
        holding the vendor lock, in the order the changes happened.
        """
        self._emit(self.kind, event)

    def webhooks_wanted(self) -> bool:
        """Whether a target is registered, so vendors can skip building events otherwise."""
        return self._has_target(self.kind)


class VendorSandbox:
    """Base class of a vendor's emulator. Subclass it in connectors/<kind>/sandbox.py.

    See the package docstring for the protocol. The framework holds `self.lock` around every
    handler call and around seed/reset/dump/load/configure, so vendor code is single-threaded.
    """

    kind: ClassVar[str]
    rate_limits: ClassVar[dict[str, RateLimit]] = {}
    default_limits: ClassVar[tuple[str, ...]] = ()
    _routes: ClassVar[list[Route]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collected: list[Route] = []
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                for method, pattern, limits in getattr(value, "_sandbox_routes", ()):
                    collected.append(Route(method, pattern, value, limits, _compile(pattern)))
        cls._routes = collected

    def __init__(self, context: Context) -> None:
        self.context = context
        self.lock = threading.RLock()

    # -- routing (framework side) ----------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, path_known). path_known is True when only the method differs."""
        path_known = False
        for candidate in self._routes:
            found = candidate.regex.match(path)
            if found is None:
                continue
            if candidate.method == method:
                return candidate, found.groupdict(), True
            path_known = True
        return None, {}, path_known

    # -- the protocol (vendor side) --------------------------------------------------------

    def reset(self) -> None:
        """Forget every record and restore default settings: an empty account."""
        raise NotImplementedError

    def seed(self, seed: int, counts: Mapping[str, int] | None = None) -> None:
        """Reset, then fill with realistic data fully determined by `seed`.

        `counts` overrides how many records of each object type to create.
        """
        raise NotImplementedError

    def dump(self) -> JSON:
        """The whole state as JSON (for the state file)."""
        raise NotImplementedError

    def load(self, state: JSON) -> None:
        """Replace the state with one `dump` produced."""
        raise NotImplementedError

    def authenticate(self, request: Request) -> str | Response:
        """The caller's identity (rate-limit key), or the vendor's 401 response."""
        raise NotImplementedError

    def error(self, status: int, message: str) -> Response:
        """The vendor's error body for `status` (used for 404/405 and injected faults)."""
        return Response.json(status, {"message": message})

    def rate_limited(self, limit: str, retry_after: float) -> Response:
        """The vendor's 429 for the named limit, with Retry-After in whole seconds."""
        seconds = max(1, int(retry_after + 0.999))
        return Response.json(
            429, {"message": f"rate limit {limit} exceeded"}, {"Retry-After": str(seconds)}
        )

    def webhook_deliveries(
        self, events: list[JSON], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        """Turn queued events into signed deliveries to `target` (batched as the vendor does)."""
        return []

    def settings(self) -> dict[str, JSON]:
        """Vendor-specific switches (e.g. a search cap), shown by GET /_sandbox/settings."""
        return {}

    def configure(self, values: Mapping[str, JSON]) -> None:
        """Change vendor-specific switches. Raise BadRequest for unknown names or values."""
        if values:
            raise BadRequest(f"{self.kind} has no settings: {', '.join(values)}")

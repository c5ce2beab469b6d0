"""The pieces a vendor sandbox is made of: requests, responses, routes, the plug-in base class.

See the package docstring (connectors.sandbox) for the protocol a vendor implements.
"""

from __future__ import annotations

import html
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
    `base_url` is the vendor's root as this request reached it ("http://127.0.0.1:8100/
    zendesk"): links a vendor answers with (paging, `self`, `url`) start with it, so they
    lead back to the sandbox and not to the real system.
    """

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    identity: str = ""
    base_url: str = ""
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
        """The parsed JSON body. Raises ValidationError for an empty or malformed body."""
        if not self.body:
            raise ValidationError("the request has no body")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ValidationError(f"the body is not valid JSON: {exc}") from None


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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: the field it concerns (None: the input as a whole),
    the vendor's words for it and, where the vendor has one, its error code."""

    field: str | None
    message: str
    code: str = ""


class ValidationError(Exception):
    """Input a sandbox refuses, from a malformed body to one bad field of one record.

    The one validation error of every sandbox: the framework and the admin API raise it for
    malformed requests, vendor code for records the system would refuse. Handlers may let it
    escape; the framework then answers `VendorSandbox.refuse(error)`, the vendor's own 4xx.
    Strings given to the constructor are problems of the input as a whole.
    """

    def __init__(self, *problems: Problem | str) -> None:
        self.problems = tuple(p if isinstance(p, Problem) else Problem(None, p) for p in problems)
        super().__init__("; ".join(p.message for p in self.problems))

    def messages(self) -> list[str]:
        """The problems that concern the input as a whole."""
        return [p.message for p in self.problems if p.field is None]

    def fields(self) -> dict[str, list[Problem]]:
        """The problems per field, in the order they were found."""
        out: dict[str, list[Problem]] = {}
        for problem in self.problems:
            if problem.field is not None:
                out.setdefault(problem.field, []).append(problem)
        return out


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
    fixed: tuple[tuple[str, str], ...] = ()

    @property
    def specificity(self) -> tuple[int, int]:
        """Sort key: routes with fewer path parameters, then more literal text, match first,
        so "/tickets/show_many.json" wins over "/tickets/{id}" whatever the declaration order."""
        parameters = self.pattern.count("{")
        literal = len(re.sub(r"\{[^}]*\}", "", self.pattern))
        return parameters, -literal


def route(
    method: str,
    pattern: str,
    *,
    limits: tuple[str, ...] = (),
    params: Mapping[str, str] | None = None,
) -> Callable[[Handler], Handler]:
    """Mark a VendorSandbox method as the handler of `method pattern` (stackable: one
    handler may serve several routes).

    `pattern` is a path below the vendor prefix with `{name}` placeholders for one path
    segment each ("/crm/v3/objects/{object_type}/search"); the values arrive in
    `request.params`, with the fixed `params` this route adds (e.g. which object type a
    literal path is about). `limits` names the entries of `rate_limits` this endpoint
    spends, in addition to the vendor's `default_limits`.
    """
    fixed = tuple(sorted((params or {}).items()))

    def mark(func: Handler) -> Handler:
        routes = list(getattr(func, "_sandbox_routes", []))
        routes.append((method.upper(), pattern, tuple(limits), fixed))
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
        targets: Callable[[str], list[WebhookTarget]] | None = None,
        send: Callable[[str, Delivery], int | None] | None = None,
    ) -> None:
        self.kind = kind
        self._now = now
        self._emit = emit
        self._has_target = has_target
        self._targets = targets
        self._send = send

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

    def webhook_targets(self) -> list[WebhookTarget]:
        """The registered subscriptions (target URL and secret), for a vendor that lists its
        webhooks through its own API."""
        return self._targets(self.kind) if self._targets is not None else []

    def deliver_now(self, delivery: Delivery) -> int | None:
        """POST one delivery at once, one attempt, and return the status the target answered
        (None when it could not be reached): for a vendor's "test this webhook" endpoint,
        which answers with the target's answer. Recorded in the delivery log like the rest.
        The vendor lock is held meanwhile, so the target must not call this vendor back
        within the request (Concord's receiver acknowledges first and works later)."""
        return self._send(self.kind, delivery) if self._send is not None else None


class VendorSandbox:
    """Base class of a vendor's emulator. Subclass it in connectors/<kind>/sandbox/.

    See the package docstring for the protocol. The framework holds `self.lock` around every
    handler call and around seed/reset/dump/load/configure, so vendor code is single-threaded.

    A vendor that keeps its records in a connectors.sandbox.records.RecordState sets
    `state_class`; reset, seed, dump, load, settings and configure then work on `self.state`
    (a fresh one on every reset) and need no code of their own.
    """

    kind: ClassVar[str]
    rate_limits: ClassVar[dict[str, RateLimit]] = {}
    default_limits: ClassVar[tuple[str, ...]] = ()
    state_class: ClassVar[Any] = None  # a RecordState subclass
    _routes: ClassVar[list[Route]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collected: list[Route] = []
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                for method, pattern, limits, fixed in getattr(value, "_sandbox_routes", ()):
                    collected.append(
                        Route(method, pattern, value, limits, _compile(pattern), fixed)
                    )
        cls._routes = sorted(collected, key=lambda r: r.specificity)

    def __init__(self, context: Context) -> None:
        self.context = context
        self.lock = threading.RLock()
        if self.state_class is not None:
            self.reset()

    # -- routing (framework side) ----------------------------------------------------------

    def canonical_path(self, path: str) -> str:
        """The path as the routes spell it (e.g. Zendesk's optional ".json" added)."""
        return path

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, path_known). path_known is True when only the method differs."""
        path_known = False
        for candidate in self._routes:
            found = candidate.regex.match(path)
            if found is None:
                continue
            if candidate.method == method:
                return candidate, {**dict(candidate.fixed), **found.groupdict()}, True
            path_known = True
        return None, {}, path_known

    # -- the protocol (vendor side) --------------------------------------------------------

    def reset(self) -> None:
        """Forget every record and restore default settings: an empty account."""
        if self.state_class is None:
            raise NotImplementedError
        self.state = self.state_class(self.context)

    def seed(self, seed: int, counts: Mapping[str, int] | None = None) -> None:
        """Reset, then fill with realistic data fully determined by `seed`.

        `counts` overrides how many records of each object type to create.
        """
        if self.state_class is None:
            raise NotImplementedError
        self.reset()
        self.state.seed(seed, dict(counts or {}))

    def dump(self) -> JSON:
        """The whole state as JSON (for the state file)."""
        if self.state_class is None:
            raise NotImplementedError
        return self.state.dump()

    def load(self, state: JSON) -> None:
        """Replace the state with one `dump` produced."""
        if self.state_class is None:
            raise NotImplementedError
        self.reset()
        self.state.load(state)

    def authenticate(self, request: Request) -> str | Response:
        """The caller's identity (rate-limit key), or the vendor's 401 response."""
        raise NotImplementedError

    def error(self, status: int, message: str) -> Response:
        """The vendor's error body for `status` (used for 404/405 and injected faults)."""
        return Response.json(status, {"message": message})

    def refuse(self, error: ValidationError) -> Response:
        """The vendor's answer to input it refuses (a ValidationError a handler let escape)."""
        return self.error(400, str(error))

    def web_page(self, request: Request) -> Response | None:
        """The vendor's web interface for a person, where it has one here: a record's page at
        the path the real system's web app uses (so links Concord shows lead somewhere), or
        None for an API path. No credentials: a person opening it is logged in to the real
        system. Called outside the vendor lock; take it to read the state."""
        return None

    def connection_config(self, base_url: str) -> dict[str, JSON]:
        """Config values for a connector of this kind pointed at `base_url`, with credentials
        this sandbox accepts (the demo reads them from GET /_sandbox/connections)."""
        return {"base_url": base_url}

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
        return self.state.settings() if self.state_class is not None else {}

    def configure(self, values: Mapping[str, JSON]) -> None:
        """Change vendor-specific switches. Raise ValidationError for unknown names or values."""
        if self.state_class is not None:
            self.state.configure(values)
        elif values:
            raise ValidationError(f"{self.kind} has no settings: {', '.join(values)}")


def record_page(system: str, title: str, data: Mapping[str, JSON] | None) -> Response:
    """A plain page showing one record's stored values, standing in for a vendor's record
    page in its web app (404 when there is no such record)."""
    if data is None:
        body = f"<h1>{html.escape(system)}: no such record</h1><p>{html.escape(title)}</p>"
        return Response.html(404, _page(f"{system} sandbox", body))
    rows = "".join(
        f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(_shown(value))}</td></tr>"
        for name, value in sorted(data.items())
    )
    body = (
        f"<p>{html.escape(system)} sandbox: the record as the sandbox stores it</p>"
        f"<h1>{html.escape(title)}</h1><table>{rows}</table>"
    )
    return Response.html(200, _page(f"{title} · {system} sandbox", body))


def _shown(value: JSON) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 300 else text[:299] + "…"


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>body{{font:15px system-ui;margin:2rem}}"
        "th,td{text-align:left;padding:.2rem .8rem;border-bottom:1px solid #ddd;"
        "vertical-align:top}</style></head>"
        f"<body>{body}</body></html>"
    )

"""The WSGI application that hosts every vendor sandbox and the /_sandbox/ admin API."""

from __future__ import annotations

import collections
import importlib
import json
import logging
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import unquote, urlencode

from connectors.sandbox.core import (
    JSON,
    Context,
    HttpError,
    Request,
    Response,
    ValidationError,
    VendorSandbox,
    WebhookTarget,
)
from connectors.sandbox.delivery import WebhookSender

log = logging.getLogger("connectors.sandbox")

REQUEST_LOG_SIZE = 2000
# The state file's format. A file of another version is not loaded: the server starts from
# its seed instead (records of an older layout cannot be read back faithfully).
STATE_VERSION = 2

BAD_GATEWAY_PAGE = """<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><center><h1>502 Bad Gateway</h1></center>
<hr><center>The upstream server did not answer (injected by the Concord sandbox)</center>
</body></html>
"""


@dataclass
class Faults:
    """Injected faults for one vendor. Shares are probabilities in [0, 1].

    `queue` holds one-shot faults consumed in order by the first request each matches:
    {"status": 429, "retry_after": 1, "method": "GET", "path": "/crm/v3/properties",
    "count": 1, "html": false, "timeout": false}. `method` and `path` (a prefix of the path
    below the vendor prefix) are optional filters. `status` 5xx with `html` answers an HTML
    gateway page; `timeout` holds the request for `timeout_seconds` without answering;
    with `after_write` as well, the request is served first (a write is applied) and the
    answer then held back the same way: the client times out on a write that happened.

    `paging` and `shape` are lasting faults, each a list of rules with optional `method`
    and `path` filters, applied to the JSON the vendor answers:

    - paging {"mode": "endless"}: every list in the answer emptied and its paging fields
      saying more follow, with a fresh cursor each time (empty pages without end);
      {"mode": "repeat"}: the answer's records kept, its paging fields pointing at the same
      cursor every time. The vendors' paging fields are rewritten wherever they appear:
      HubSpot `paging.next.after`, Zendesk `after_cursor`/`end_of_stream`, `end_time`,
      `next_page`, `meta.has_more`/`meta.after_cursor`/`links.next`, Jira
      `nextPageToken`/`isLast`; a bare list (GitHub) gets a `Link` header's next page.
    - shape {"drop": "results.id"}: the field removed from the answer (a dotted path; lists
      on the way apply to each item); with "value" it is set to that value instead (a field
      of the wrong type).

    `hidden` [{"id": "51", "seconds": 5}] plays a record the system has made but does not
    return yet (a webhook that arrives before the record is readable): for `seconds` after
    the rule is set, reads (GET, and POST searches and batch reads) leave out every object
    with that `id`, and a GET of its own path answers 404. Writes see it as usual.

    `webhook_concurrency` is how many of the vendor's deliveries are in flight at once: 1
    (the default) sends them one at a time in the order they happened; more plays a vendor
    sending from several servers at once, as Zendesk and HubSpot do (HubSpot's default
    concurrency limit per app is 10), so under sustained load the sandbox's own sending does
    not become the bottleneck. Each vendor sends from its own thread either way.
    """

    latency_ms: float = 0.0
    error_429_share: float = 0.0
    retry_after: float = 1.0
    error_5xx_share: float = 0.0
    timeout_share: float = 0.0
    timeout_seconds: float = 30.0
    webhook_drop_share: float = 0.0
    webhook_duplicate_share: float = 0.0
    webhook_reorder_share: float = 0.0
    webhook_concurrency: int = 1
    queue: list[dict[str, Any]] = field(default_factory=list)
    paging: list[dict[str, Any]] = field(default_factory=list)
    shape: list[dict[str, Any]] = field(default_factory=list)
    hidden: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, values: Mapping[str, Any], base: Faults | None = None) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError(f"unknown fault settings: {', '.join(unknown)}")
        merged = asdict(base) if base else {}
        merged.update(values)
        faults = cls(**merged)
        for name in (
            "error_429_share",
            "error_5xx_share",
            "timeout_share",
            "webhook_drop_share",
            "webhook_duplicate_share",
            "webhook_reorder_share",
        ):
            value = getattr(faults, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValidationError(f"{name} must be a number between 0 and 1")
        for name in ("latency_ms", "retry_after", "timeout_seconds"):
            value = getattr(faults, name)
            if not isinstance(value, int | float) or value < 0:
                raise ValidationError(f"{name} must be a non-negative number")
        concurrency = faults.webhook_concurrency
        if isinstance(concurrency, bool) or not isinstance(concurrency, int):
            raise ValidationError("webhook_concurrency must be an integer from 1 to 64")
        if not 1 <= concurrency <= 64:
            raise ValidationError("webhook_concurrency must be an integer from 1 to 64")
        if not isinstance(faults.queue, list) or not all(isinstance(q, dict) for q in faults.queue):
            raise ValidationError("queue must be a list of objects")
        for item in faults.queue:
            extra = set(item) - {"status", "retry_after", "method", "path", "count", "html",
                                 "timeout", "message", "after_write"}  # fmt: skip
            if extra:
                raise ValidationError(f"unknown keys in a queued fault: {', '.join(sorted(extra))}")
            if not item.get("timeout") and not isinstance(item.get("status"), int):
                raise ValidationError("a queued fault needs an integer status or timeout: true")
            item.setdefault("count", 1)
            if isinstance(item["count"], bool) or not isinstance(item["count"], int):
                raise ValidationError("a queued fault's count must be a positive integer")
            if item["count"] < 1:
                raise ValidationError("a queued fault's count must be a positive integer")
        for name, keys in (("paging", {"mode", "method", "path"}),
                           ("shape", {"drop", "value", "method", "path"})):  # fmt: skip
            rules = getattr(faults, name)
            if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
                raise ValidationError(f"{name} must be a list of objects")
            for rule in rules:
                extra = set(rule) - keys
                if extra:
                    raise ValidationError(f"unknown keys in a {name} fault: {sorted(extra)}")
        for rule in faults.paging:
            if rule.get("mode") not in ("endless", "repeat"):
                raise ValidationError('a paging fault\'s mode is "endless" or "repeat"')
        for rule in faults.shape:
            if not isinstance(rule.get("drop"), str) or not rule["drop"]:
                raise ValidationError("a shape fault needs drop: a dotted path in the answer")
        hidden = faults.hidden
        if not isinstance(hidden, list) or not all(isinstance(r, dict) for r in hidden):
            raise ValidationError("hidden must be a list of objects")
        for rule in faults.hidden:
            if set(rule) - {"id", "seconds", "until"} or not isinstance(rule.get("id"), str | int):
                raise ValidationError('a hidden fault is {"id": …, "seconds": …}')
            if "until" not in rule:
                seconds = rule.get("seconds")
                if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                    raise ValidationError("a hidden fault's seconds must be a number")
                rule["until"] = time.time() + seconds
        return faults


class SlidingWindow:
    """Counts requests per key over the last `window` seconds (exact, timestamps kept)."""

    def __init__(self, requests: int, window: float) -> None:
        self.requests = requests
        self.window = window
        self._hits: dict[str, collections.deque[float]] = {}

    def hit(self, key: str, now: float) -> float | None:
        """Record a request; None if allowed, else the seconds until one would be."""
        hits = self._hits.setdefault(key, collections.deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.requests:
            return hits[0] + self.window - now
        hits.append(now)
        return None


@dataclass
class VendorSlot:
    """A vendor and what the framework keeps for it.

    `subscriptions` are the webhook registrations, one per target URL: each gets every
    event, signed with its own secret (registering a URL again replaces its secret).
    """

    sandbox: VendorSandbox
    faults: Faults = field(default_factory=Faults)
    rate_limits_on: bool = True
    windows: dict[str, SlidingWindow] = field(default_factory=dict)
    subscriptions: dict[str, WebhookTarget] = field(default_factory=dict)


def discover(kinds: Iterable[str] | None = None) -> dict[str, type[VendorSandbox]]:
    """Each installed connector's sandbox class (the package connectors.<kind>.sandbox's
    SANDBOX).

    A kind whose package does not exist yet is skipped; a sandbox module that exists but
    fails to import raises, so a broken sandbox is never silently missing.
    """
    if kinds is None:
        from connectors.registry import kinds as registered

        kinds = registered()
    found: dict[str, type[VendorSandbox]] = {}
    for kind in kinds:
        name = f"connectors.{kind}.sandbox"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in (name, f"connectors.{kind}"):
                continue
            raise
        found[kind] = module.SANDBOX
    return found


class SandboxApp:
    """A WSGI app: /<kind>/... to each vendor, /_sandbox/... to the admin API.

    Thread-safe: vendor state under each vendor's lock, framework state under `self._lock`.
    """

    def __init__(
        self,
        vendors: Mapping[str, type[VendorSandbox]] | None = None,
        *,
        state_file: str | None = None,
        fault_seed: int = 0,
    ) -> None:
        classes = discover() if vendors is None else dict(vendors)
        self._lock = threading.Lock()
        self._clock_offset = 0.0
        self._fault_random = random.Random(fault_seed)
        self.sender = WebhookSender(self)
        self.slots: dict[str, VendorSlot] = {}
        for kind, cls in classes.items():
            context = Context(
                kind,
                self.now,
                self._emit,
                self._has_target,
                targets=self._targets,
                send=self.sender.send_now,
            )
            self.slots[kind] = VendorSlot(cls(context))
        self.state_file = state_file
        self._dirty = False
        self._endpoint_counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self._request_log: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=REQUEST_LOG_SIZE
        )
        self._stopping = threading.Event()
        self._fault_pages = 0
        self._fault_pages_seen: dict[str, str] = {}  # per vendor: the last page a fault made

    # -- lifecycle -------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self._clock_offset

    def start(self) -> bool:
        """Start delivering webhooks; load the state file if there is a usable one.

        Returns whether state was loaded (the caller seeds otherwise).
        """
        loaded = False
        if self.state_file and os.path.exists(self.state_file):
            loaded = self.load_state(self.state_file)
        self.sender.start()
        if self.state_file:
            threading.Thread(target=self._autosave, name="sandbox-autosave", daemon=True).start()
        return loaded

    def stop(self) -> None:
        self._stopping.set()
        self.sender.stop()
        if self.state_file:
            self.save_state(self.state_file)

    def _autosave(self) -> None:
        while not self._stopping.wait(1.0):
            if self._dirty and self.state_file:
                self.save_state(self.state_file)

    def save_state(self, path: str) -> None:
        """Write every vendor's state and the webhook subscriptions atomically to `path`."""
        self._dirty = False
        state: dict[str, Any] = {"version": STATE_VERSION, "vendors": {}, "subscriptions": []}
        for kind, slot in self.slots.items():
            with slot.sandbox.lock:
                state["vendors"][kind] = slot.sandbox.dump()
            for target in list(slot.subscriptions.values()):
                state["subscriptions"].append({"vendor": kind, **asdict(target)})
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sandbox-state-")
        with os.fdopen(fd, "w") as handle:
            json.dump(state, handle)
        os.replace(tmp, path)

    def load_state(self, path: str) -> bool:
        """Load what save_state wrote. False (nothing loaded) for a file of another version."""
        with open(path) as handle:
            state = json.load(handle)
        if state.get("version") != STATE_VERSION:
            log.warning(
                "%s is a sandbox state file of version %s, not %s: starting afresh",
                path, state.get("version"), STATE_VERSION,
            )  # fmt: skip
            return False
        for kind, data in state.get("vendors", {}).items():
            slot = self.slots.get(kind)
            if slot is not None:
                with slot.sandbox.lock:
                    slot.sandbox.load(data)
        for item in state.get("subscriptions", []):
            slot = self.slots.get(item["vendor"])
            if slot is not None:
                slot.subscriptions[item["url"]] = WebhookTarget(item["url"], item["secret"])
        return True

    def seed(self, seed: int, counts: Mapping[str, Mapping[str, int]] | None = None) -> None:
        for kind, slot in self.slots.items():
            with slot.sandbox.lock:
                slot.sandbox.seed(seed, (counts or {}).get(kind))
        self._dirty = True

    def reset(self) -> None:
        """Empty every vendor and forget faults, targets, rate windows, stats and clock."""
        self.sender.clear()
        for kind, slot in self.slots.items():
            with slot.sandbox.lock:
                slot.sandbox.reset()
            slot.faults = Faults()
            self._fault_pages_seen.pop(kind, None)
            slot.rate_limits_on = True
            slot.windows = {}
            slot.subscriptions = {}
        with self._lock:
            self._endpoint_counts.clear()
            self._request_log.clear()
            self._clock_offset = 0.0
        self._dirty = True

    # -- webhooks --------------------------------------------------------------------------

    def _has_target(self, kind: str) -> bool:
        return bool(self.slots[kind].subscriptions)

    def _targets(self, kind: str) -> list[WebhookTarget]:
        return list(self.slots[kind].subscriptions.values())

    def _emit(self, kind: str, event: JSON) -> None:
        if self.slots[kind].subscriptions:
            self.sender.enqueue(kind, event)

    # -- WSGI ------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.time()
        method = environ["REQUEST_METHOD"].upper()
        path = environ.get("PATH_INFO", "") or "/"
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        root = _root_url(environ)
        request = Request(
            method, path, environ.get("QUERY_STRING", ""), headers, body, base_url=root
        )
        endpoint = f"{method} {path}"
        vendor = ""
        try:
            if path.startswith("/_sandbox/") or path == "/_sandbox":
                endpoint = f"{method} {path}"
                response = self._admin(request)
            else:
                vendor, _, rest = path.lstrip("/").partition("/")
                slot = self.slots.get(vendor)
                if slot is None:
                    vendor = ""
                    response = Response.json(
                        404, {"message": f"no sandbox at /{path.lstrip('/').split('/')[0]}"}
                    )
                else:
                    request.path = slot.sandbox.canonical_path("/" + rest)
                    request.base_url = f"{root}/{vendor}"
                    response, endpoint = self._vendor(slot, request)
        except Exception:  # a sandbox bug must answer 500, not kill the server thread
            log.exception("sandbox error on %s %s", method, path)
            response = Response.json(500, {"message": "internal sandbox error"})
        if vendor:
            with self._lock:
                self._endpoint_counts[(endpoint, response.status)] += 1
                self._request_log.append(
                    {
                        "t": started,
                        "vendor": vendor,
                        "method": method,
                        "path": path,
                        "endpoint": endpoint,
                        "status": response.status,
                    }
                )
        reason = _REASONS.get(response.status, "Status")
        headers_out = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}", headers_out)
        return [response.body]

    def _vendor(self, slot: VendorSlot, request: Request) -> tuple[Response, str]:
        sandbox = slot.sandbox
        route, params, path_known = sandbox.match(request.method, request.path)
        endpoint = (
            f"{request.method} /{sandbox.kind}{route.pattern}"
            if route
            else f"{request.method} /{sandbox.kind}{request.path}"
        )
        fault = self._fault(slot, request)
        if isinstance(fault, Response):
            return fault, endpoint
        hidden = _hidden_ids(slot.faults, request)
        if request.method == "GET" and request.path.rstrip("/").rsplit("/", 1)[-1] in hidden:
            return sandbox.error(404, "not found"), endpoint
        cached = self._fault_pages_seen.get(slot.sandbox.kind)
        if cached is not None and _carries_fault_token(request):
            # A cursor only the fault made up: the vendor would refuse it; answer as before.
            response = Response.json(200, json.loads(cached))
        else:
            response, endpoint = self._serve(slot, request, route, params, path_known, endpoint)
        if fault is not None:  # a timeout after the write: served, then held back
            self._stopping.wait(slot.faults.timeout_seconds)
            return _gateway_timeout(), endpoint
        if hidden and response.status < 300:
            response = _without_ids(response, hidden)
        return self._reshape(slot, request, response), endpoint

    def _serve(
        self,
        slot: VendorSlot,
        request: Request,
        route: Any,
        params: dict[str, str],
        path_known: bool,
        endpoint: str,
    ) -> tuple[Response, str]:
        sandbox = slot.sandbox
        if request.method == "GET":
            page = sandbox.web_page(request)
            if page is not None:
                return page, f"GET /{sandbox.kind} web page"
        identity = sandbox.authenticate(request)
        if isinstance(identity, Response):
            return identity, endpoint
        request.identity = identity
        if route is None:
            status = 405 if path_known else 404
            message = "method not allowed" if path_known else f"no such endpoint {request.path}"
            return sandbox.error(status, message), endpoint
        request.params = params
        if slot.rate_limits_on:
            limited = self._rate_limit(slot, identity, (*sandbox.default_limits, *route.limits))
            if limited is not None:
                return limited, endpoint
        try:
            with sandbox.lock:
                response = route.handler(sandbox, request)
        except HttpError as exc:
            response = exc.response
        except ValidationError as exc:
            response = sandbox.refuse(exc)
        if request.method != "GET":
            self._dirty = True
        return response, endpoint

    def _rate_limit(self, slot: VendorSlot, identity: str, names: Iterable[str]) -> Response | None:
        now = time.monotonic()
        with self._lock:
            for name in names:
                limit = slot.sandbox.rate_limits[name]
                window = slot.windows.get(name)
                if window is None:
                    window = slot.windows[name] = SlidingWindow(limit.requests, limit.window)
                wait = window.hit(identity, now)
                if wait is not None:
                    return slot.sandbox.rate_limited(name, wait)
        return None

    def _reshape(self, slot: VendorSlot, request: Request, response: Response) -> Response:
        """Apply the lasting paging and shape faults to a JSON answer (see Faults)."""
        faults = slot.faults
        paging = [r for r in faults.paging if _applies(r, request)]
        shape = [r for r in faults.shape if _applies(r, request)]
        if not (paging or shape) or response.status >= 300:
            return response
        try:
            data = json.loads(response.body)
        except ValueError:
            return response
        if not isinstance(data, dict | list):
            return response
        headers = [(k, v) for k, v in response.headers if k.lower() != "content-type"]
        for rule in paging:
            with self._lock:
                self._fault_pages += 1
                serial = self._fault_pages
            if isinstance(data, list):  # a bare list paged by its Link header (GitHub)
                data, link = _rewrite_link_paging(data, request, rule["mode"], serial)
                headers = [(k, v) for k, v in headers if k.lower() != "link"] + [link]
            else:
                _rewrite_paging(data, request, rule["mode"], serial)
            self._fault_pages_seen[slot.sandbox.kind] = json.dumps(data)
        for rule in shape:
            _reshape_field(data, rule["drop"].split("."), rule)
        rebuilt = Response.json(response.status, data)
        rebuilt.headers.extend(headers)
        return rebuilt

    def _fault(self, slot: VendorSlot, request: Request) -> Response | dict[str, Any] | None:
        """The injected fault this request meets: an answer, or (for a timeout after the
        write) the queued fault itself for the caller to apply once it has served it."""
        faults = slot.faults
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        chosen: dict[str, Any] | None = None
        with self._lock:
            for item in faults.queue:
                if item.get("method") and item["method"].upper() != request.method:
                    continue
                if item.get("path") and not request.path.startswith(item["path"]):
                    continue
                chosen = dict(item)
                item["count"] -= 1
                if item["count"] <= 0:
                    faults.queue.remove(item)
                break
            if chosen is None:
                roll = self._fault_random.random()
                if roll < faults.timeout_share:
                    chosen = {"timeout": True}
                elif roll < faults.timeout_share + faults.error_429_share:
                    chosen = {"status": 429, "retry_after": faults.retry_after}
                elif roll < faults.timeout_share + faults.error_429_share + faults.error_5xx_share:
                    chosen = {"status": 502, "html": True}
        if chosen is None:
            return None
        sandbox = slot.sandbox
        if chosen.get("timeout") and chosen.get("after_write"):
            return chosen
        if chosen.get("timeout"):
            # Hold the request past any sane client read timeout, then give up like a
            # gateway would; the client has long since stopped listening.
            self._stopping.wait(faults.timeout_seconds)
            return _gateway_timeout()
        status = int(chosen["status"])
        message = chosen.get("message") or f"injected fault {status}"
        if status == 429:
            return sandbox.rate_limited(
                "injected", float(chosen.get("retry_after", faults.retry_after))
            )
        if chosen.get("html"):
            page = (
                BAD_GATEWAY_PAGE
                if status == 502
                else (
                    f"<html><head><title>{status} {_REASONS.get(status, 'Error')}</title></head>"
                    f"<body><h1>{message}</h1></body></html>"
                )
            )
            return Response.html(status, page)
        response = sandbox.error(status, message)
        if chosen.get("retry_after") is not None:
            response.headers.append(("Retry-After", str(chosen["retry_after"])))
        return response

    # -- admin API -------------------------------------------------------------------------

    def _admin(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        method = request.method
        try:
            if path == "/_sandbox/seed" and method == "POST":
                body = json.loads(request.body or b"{}")
                seed = body.get("seed", 1)
                if isinstance(seed, bool) or not isinstance(seed, int):
                    raise ValidationError("seed must be an integer")
                counts = body.get("counts") or {}
                self._per_vendor(counts)
                for kind, per_type in counts.items():
                    if not isinstance(per_type, dict) or not all(
                        isinstance(n, int) and not isinstance(n, bool) and n >= 0
                        for n in per_type.values()
                    ):
                        raise ValidationError(f"counts.{kind} must map object types to counts")
                self.reset()
                self.seed(seed, body.get("counts"))
                return Response.json(200, {"seeded": seed, "vendors": sorted(self.slots)})
            if path == "/_sandbox/reset" and method == "POST":
                self.reset()
                return Response.json(200, {"reset": sorted(self.slots)})
            if path == "/_sandbox/faults":
                if method == "PUT":
                    body = request.json()
                    self._per_vendor(body)
                    with self._lock:
                        for kind, values in body.items():
                            slot = self.slots[kind]
                            slot.faults = Faults.from_json(values, slot.faults)
                elif method != "GET":
                    return _admin_error(405, "use GET or PUT")
                return Response.json(
                    200, {kind: asdict(slot.faults) for kind, slot in self.slots.items()}
                )
            if path == "/_sandbox/rate-limits":
                if method == "PUT":
                    body = request.json()
                    self._per_vendor(body)
                    for kind, enabled in body.items():
                        if not isinstance(enabled, bool):
                            raise ValidationError(f"{kind}: expected true or false")
                        self.slots[kind].rate_limits_on = enabled
                        self.slots[kind].windows = {}
                elif method != "GET":
                    return _admin_error(405, "use GET or PUT")
                return Response.json(200, self._rate_limit_view())
            if path == "/_sandbox/settings":
                if method == "PUT":
                    body = request.json()
                    self._per_vendor(body)
                    for kind, values in body.items():
                        sandbox = self.slots[kind].sandbox
                        with sandbox.lock:
                            sandbox.configure(values)
                elif method != "GET":
                    return _admin_error(405, "use GET or PUT")
                return Response.json(200, {k: s.sandbox.settings() for k, s in self.slots.items()})
            if path == "/_sandbox/webhooks":
                return self._admin_webhooks(request)
            if path == "/_sandbox/connections" and method == "GET":
                return Response.json(200, self._connections(request.base_url))
            if path == "/_sandbox/webhooks/flush" and method == "POST":
                body = json.loads(request.body or b"{}")
                drained = self.sender.flush(float(body.get("timeout", 10)))
                if not drained:
                    return _admin_error(504, "webhook deliveries still pending")
                return Response.json(200, self.sender.summary())
            if path == "/_sandbox/clock" and method in ("GET", "POST"):
                if method == "POST":
                    advance = request.json().get("advance", 0)
                    if not isinstance(advance, int | float):
                        raise ValidationError("advance must be a number of seconds")
                    with self._lock:
                        self._clock_offset += advance
                return Response.json(200, {"now": self.now(), "offset": self._clock_offset})
            if path == "/_sandbox/changes" and method == "GET":
                return Response.json(200, self._changes(request))
            if path == "/_sandbox/stats" and method == "GET":
                return Response.json(200, self.stats(request.arg("vendor")))
            if path == "/_sandbox/state" and method == "POST":
                if not self.state_file:
                    return _admin_error(409, "the server was started without --state")
                self.save_state(self.state_file)
                return Response.json(200, {"saved": self.state_file})
            return _admin_error(404, f"no admin endpoint {method} {path}")
        except ValidationError as exc:
            return _admin_error(400, str(exc))
        except ValueError as exc:
            return _admin_error(400, f"malformed JSON: {exc}")

    def _per_vendor(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ValidationError("expected an object keyed by vendor")
        unknown = sorted(set(body) - set(self.slots))
        if unknown:
            raise ValidationError(f"unknown vendors: {', '.join(unknown)}")

    def _rate_limit_view(self) -> dict[str, Any]:
        return {
            kind: {
                "enabled": slot.rate_limits_on,
                "limits": {
                    name: {"requests": lim.requests, "window": lim.window}
                    for name, lim in slot.sandbox.rate_limits.items()
                },
            }
            for kind, slot in self.slots.items()
        }

    def _changes(self, request: Request) -> dict[str, Any]:
        """GET /_sandbox/changes?vendor=&type=&after=: the rows of one object type written
        after table version `after`, in version order, and the table's version now.

        An observer (a benchmark waiting for a write to land) polls this instead of the
        vendor's API: it costs the rows returned, spends no rate limit and leaves the
        vendor's request counts alone. A row written twice between two polls shows once.
        """
        kind, type_ = request.arg("vendor"), request.arg("type")
        if kind not in self.slots:
            raise ValidationError(f"vendor must be one of {', '.join(sorted(self.slots))}")
        sandbox = self.slots[kind].sandbox
        if sandbox.state_class is None:
            raise ValidationError(f"{kind} keeps no record table")
        try:
            after = int(request.arg("after") or 0)
        except ValueError:
            raise ValidationError("after must be an integer table version") from None
        with sandbox.lock:
            table = sandbox.state.table
            if type_ not in table.types:
                raise ValidationError(f"type must be one of {', '.join(table.types)}")
            rows = [
                {"id": r.id, "version": r.version, "deleted": r.deleted is not None,
                 "data": r.data}
                for r in table.changes(type_, after)
            ]  # fmt: skip
            return {"version": table.version, "rows": json.loads(json.dumps(rows))}

    def _connections(self, root: str) -> dict[str, Any]:
        """Per vendor, the config of a connector pointed at this server as it was reached."""
        out = {}
        for kind, slot in self.slots.items():
            base_url = f"{root}/{kind}"
            out[kind] = {
                "base_url": base_url,
                "config": slot.sandbox.connection_config(base_url),
            }
        return out

    def _admin_webhooks(self, request: Request) -> Response:
        """POST registers one subscription (a target URL with its own secret; the same URL
        again replaces its secret), DELETE ?vendor=[&url=] removes one or all of a vendor's,
        GET lists them with the delivery log."""
        if request.method == "POST":
            body = request.json()
            if not isinstance(body, dict):
                raise ValidationError("expected an object with vendor, url and secret")
            kind, url, secret = body.get("vendor"), body.get("url"), body.get("secret")
            if kind not in self.slots:
                raise ValidationError(f"vendor must be one of {', '.join(sorted(self.slots))}")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValidationError("url must be an http(s) URL")
            if not isinstance(secret, str) or not secret:
                raise ValidationError("secret must be a non-empty string")
            with self._lock:
                self.slots[kind].subscriptions[url] = WebhookTarget(url, secret)
            self._dirty = True
        elif request.method == "DELETE":
            kind, url = request.arg("vendor"), request.arg("url")
            if kind not in self.slots:
                raise ValidationError("pass ?vendor=<kind> (and &url= for one subscription)")
            with self._lock:
                subscriptions = self.slots[kind].subscriptions
                if url is None:
                    subscriptions.clear()
                elif subscriptions.pop(url, None) is None:
                    return _admin_error(404, f"no {kind} subscription for {url}")
            self._dirty = True
        elif request.method != "GET":
            return _admin_error(405, "use GET, POST or DELETE")
        with self._lock:
            subscriptions = [
                {"vendor": kind, "url": target.url}
                for kind, slot in self.slots.items()
                for target in slot.subscriptions.values()
            ]
        return Response.json(200, {"subscriptions": subscriptions, **self.sender.summary()})

    def stats(self, vendor: str | None = None) -> dict[str, Any]:
        with self._lock:
            endpoints: dict[str, dict[str, Any]] = {}
            for (endpoint, status), count in sorted(self._endpoint_counts.items()):
                if vendor and not endpoint.split(" ", 1)[1].startswith(f"/{vendor}/"):
                    continue
                entry = endpoints.setdefault(endpoint, {"count": 0, "statuses": {}})
                entry["count"] += count
                entry["statuses"][str(status)] = count
            requests_ = [r for r in self._request_log if not vendor or r["vendor"] == vendor]
        return {
            "total": sum(e["count"] for e in endpoints.values()),
            "endpoints": endpoints,
            "requests": requests_,
            "webhooks": self.sender.summary(),
        }


def _admin_error(status: int, message: str) -> Response:
    return Response.json(status, {"error": message})


def _root_url(environ: Mapping[str, Any]) -> str:
    """The server's root as the client addressed it: scheme, Host header, SCRIPT_NAME."""
    host = environ.get("HTTP_HOST")
    if not host:
        host = f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}"
    scheme = environ.get("wsgi.url_scheme", "http")
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '').rstrip('/')}"


_REASONS = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 207: "Multi-Status",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large",
    422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


def _gateway_timeout() -> Response:
    return Response.html(504, "<html><head><title>504 Gateway Time-out</title></head></html>")


FAULT_CURSOR = "sandbox-fault-"


def _carries_fault_token(request: Request) -> bool:
    return FAULT_CURSOR in unquote(request.query_string) or FAULT_CURSOR.encode() in request.body


def _applies(rule: Mapping[str, Any], request: Request) -> bool:
    if rule.get("method") and str(rule["method"]).upper() != request.method:
        return False
    return not rule.get("path") or request.path.startswith(str(rule["path"]))


def _rewrite_paging(data: dict[str, Any], request: Request, mode: str, serial: int) -> None:
    """Make `data` a page that says more follow: empty with a fresh cursor ("endless"), or
    as it is with the same cursor every time ("repeat"). See Faults."""
    token = f"{FAULT_CURSOR}{serial}" if mode == "endless" else f"{FAULT_CURSOR}repeat"
    if mode == "endless":
        for key, value in data.items():
            if isinstance(value, list):
                data[key] = []
    query = [(k, v) for k, vs in request.query.items() for v in vs if not k.startswith("page")]
    link = f"{request.base_url}{request.path}?" + urlencode([*query, ("page[after]", token)])
    if "paging" in data or "results" in data:  # HubSpot
        data["paging"] = {"next": {"after": token, "link": link}}
    if "isLast" in data or "nextPageToken" in data or "issues" in data:  # Jira
        data["isLast"] = False
        data["nextPageToken"] = token
    if "end_of_stream" in data:  # Zendesk incremental exports
        data["end_of_stream"] = False
        if "after_cursor" in data:
            data["after_cursor"] = token
        if "end_time" in data and mode == "repeat":
            data["end_time"] = int(request.arg("start_time") or 0)
    if "meta" in data and isinstance(data["meta"], dict):  # Zendesk cursor pagination
        data["meta"]["has_more"] = True
        data["meta"]["after_cursor"] = token
        data["links"] = {**(data.get("links") or {}), "next": link}
    elif "next_page" in data:  # Zendesk offset pagination
        data["next_page"] = link


def _rewrite_link_paging(
    data: list[Any], request: Request, mode: str, serial: int
) -> tuple[list[Any], tuple[str, str]]:
    """A bare list's page made to say more follow by its Link header: emptied with a fresh
    next link ("endless"), or kept with the same next link every time ("repeat")."""
    token = f"{FAULT_CURSOR}{serial}" if mode == "endless" else f"{FAULT_CURSOR}repeat"
    query = [(k, v) for k, vs in request.query.items() for v in vs if k != "page"]
    link = f"{request.base_url}{request.path}?" + urlencode([*query, ("page", token)])
    return ([] if mode == "endless" else data), ("Link", f'<{link}>; rel="next"')


def _hidden_ids(faults: Faults, request: Request) -> set[str]:
    """The ids a read leaves out now (see Faults.hidden); none for a write."""
    reading = request.method == "GET" or (
        request.method == "POST" and request.path.rstrip("/").endswith(("/search", "/read"))
    )
    if not reading or not faults.hidden:
        return set()
    now = time.time()
    return {str(r["id"]) for r in faults.hidden if r["until"] > now}


def _without_ids(response: Response, ids: set[str]) -> Response:
    try:
        data = json.loads(response.body)
    except ValueError:
        return response

    def prune(node: Any) -> Any:
        if isinstance(node, list):
            return [
                prune(item)
                for item in node
                if not (isinstance(item, dict) and str(item.get("id")) in ids)
            ]
        if isinstance(node, dict):
            return {key: prune(value) for key, value in node.items()}
        return node

    headers = [(k, v) for k, v in response.headers if k.lower() != "content-type"]
    rebuilt = Response.json(response.status, prune(data))
    rebuilt.headers.extend(headers)
    return rebuilt


def _reshape_field(node: Any, path: list[str], rule: Mapping[str, Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _reshape_field(item, path, rule)
        return
    if not isinstance(node, dict) or not path:
        return
    head, rest = path[0], path[1:]
    if rest:
        _reshape_field(node.get(head), rest, rule)
    elif "value" in rule:
        node[head] = rule["value"]
    else:
        node.pop(head, None)

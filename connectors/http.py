"""Outbound HTTP for connectors: one session, timeouts, bounded retries, readable errors.

Every connector talks to its system through one `HttpClient`. What the client guarantees:

- One `requests.Session` per client (so per connector instance), closed by `close()`.
- A connect and a read timeout on every call.
- Transient failures (429, 5xx, timeouts, connection resets) are retried with exponential
  backoff and full jitter, bounded both in attempts (`max_attempts`) and in total time
  (`max_elapsed`). `Retry-After` (seconds or an HTTP date) is obeyed exactly: the next attempt
  is never sent before it has elapsed. When it asks for more than the remaining time budget,
  `RateLimited` is raised at once with `retry_after` set, instead of sleeping.
- Every attempt first takes one request from the rate limiter (the injected one, or an
  in-process `TokenBucket`), and is reported to the `on_call` observer afterwards.
- Answers are mapped to connectors.errors: 401 AuthenticationError, 403 PermissionDenied,
  404 NotFound (unless the call accepts 404), 400/409/422 RecordError for per-record calls
  (FatalError otherwise: the request itself is wrong), 429 RateLimited, 5xx and HTML error
  pages TransientError with a readable excerpt.
- Messages name the system, the call as "METHOD /path" (never the query string, never a
  header) and the status; configured secrets are scrubbed from every excerpt.
- With an `address_policy` (connectors.netpolicy), every connection is made to an address
  the policy allowed at that moment, redirects included; a refused address raises
  AddressNotAllowed before anything is sent.
"""

from __future__ import annotations

import email.utils
import html
import json
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from connectors.base import CallObserver, RateLimiter
from connectors.errors import (
    AuthenticationError,
    ConnectorError,
    FatalError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RecordError,
    TransientError,
    excerpt,
)
from connectors.netguard import guarded_session
from connectors.netpolicy import AddressNotAllowed, AddressPolicy

DEFAULT_CONNECT_TIMEOUT = 5.0
# Below a run's lease (CONCORD_RUN_LOCK_TTL, 20 s by default) with the connect timeout: a
# call that hangs ends, and its run notices a lost lease, before another worker may take it.
DEFAULT_READ_TIMEOUT = 14.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_ELAPSED = 60.0
DEFAULT_BACKOFF_BASE = 0.5
DEFAULT_BACKOFF_CAP = 20.0

RECORD_STATUSES = frozenset({400, 409, 422})
_TAG = re.compile(r"<[^>]+>")
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1>", re.IGNORECASE | re.DOTALL)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class TokenBucket:
    """An in-process RateLimiter: `rate` requests per second, bursts up to `capacity`.

    One bucket per key, thread-safe. `acquire` blocks until a token is available, or raises
    RateLimited (with `retry_after`) when that would take longer than `max_wait` seconds.
    """

    def __init__(
        self,
        rate: float,
        capacity: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("TokenBucket needs rate > 0 and capacity >= 1")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated)

    @classmethod
    def per_window(cls, requests_: int, window: float, **kwargs: Any) -> TokenBucket:
        """A bucket that never lets more than `requests_` through in any `window` seconds.

        A bucket passes at most capacity + rate * window requests in a window, so half the
        budget is the burst and the other half refills over the window.
        """
        capacity = max(1, requests_ // 2)
        return cls(max(requests_ - capacity, 1) / window, capacity, **kwargs)

    def acquire(self, key: str, *, max_wait: float) -> None:
        while True:
            with self._lock:
                now = self._clock()
                tokens, updated = self._buckets.get(key, (self.capacity, now))
                tokens = min(self.capacity, tokens + (now - updated) * self.rate)
                if tokens >= 1:
                    self._buckets[key] = (tokens - 1, now)
                    return
                self._buckets[key] = (tokens, now)
                wait = (1 - tokens) / self.rate
            if wait > max_wait:
                raise RateLimited(
                    f"local request budget of {self.rate:g}/s is spent",
                    retry_after=wait,
                    system="concord",
                    call=key,
                )
            self._sleep(wait)
            max_wait -= wait


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def readable_body(response: requests.Response, *, secrets: Iterable[str] = ()) -> str:
    """A short single-line excerpt of an answer that a person can read.

    HTML pages are reduced to their title and visible text; JSON error bodies to their
    message where they have one (the full JSON otherwise). Secrets are replaced by "***".
    """
    text = response.text or ""
    content_type = response.headers.get("Content-Type", "").lower()
    if "html" in content_type or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        title = _TITLE.search(text)
        body = _TAG.sub(" ", _SCRIPT.sub(" ", text))
        visible = html.unescape(" ".join(body.split()))
        if title:
            heading = html.unescape(" ".join(title.group(1).split()))
            if visible.startswith(heading):
                visible = visible[len(heading) :].strip()
            text = f"{heading}: {visible}" if visible else heading
        else:
            text = visible or "(empty HTML page)"
    elif "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            pass
        else:
            message = _json_message(data)
            if message:
                text = message
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return excerpt(text)


def _json_message(data: Any) -> str | None:
    if isinstance(data, dict):
        for key in ("message", "error_description", "description", "error"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict):
                nested = _json_message(value)
                if nested:
                    return nested
        messages = data.get("errorMessages")
        if isinstance(messages, list) and messages:
            return "; ".join(str(m) for m in messages)
    return None


def _is_html(response: requests.Response) -> bool:
    return "html" in response.headers.get("Content-Type", "").lower()


class HttpClient:
    """HTTP to one system for one connector instance. See the module docstring.

    `base_url` is joined with each call's path; `headers` (e.g. Authorization) are sent with
    every call and never appear in an error. `secrets` are scrubbed from error excerpts.
    `sleep`, `clock` and `rng` are injectable so tests can observe backoff without waiting.
    """

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        secrets: Iterable[str] = (),
        rate_limiter: RateLimiter | None = None,
        budget_key: str | None = None,
        on_call: CallObserver | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_elapsed: float = DEFAULT_MAX_ELAPSED,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_cap: float = DEFAULT_BACKOFF_CAP,
        default_rate: tuple[int, float] = (100, 10.0),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        address_policy: AddressPolicy | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.secrets = tuple(s for s in secrets if s)
        self.rate_limiter: RateLimiter = rate_limiter or TokenBucket.per_window(*default_rate)
        self.budget_key = budget_key or f"{system}:{self.base_url}"
        self.on_call = on_call
        self.timeout = (connect_timeout, read_timeout)
        self.max_attempts = max_attempts
        self.max_elapsed = max_elapsed
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        # With a policy, every connection (each redirect hop too) is resolved once, judged,
        # and made to the address judged: see connectors.netpolicy.
        self.session = guarded_session(address_policy)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "Concord"})
        if headers:
            self.session.headers.update(headers)
        if auth is not None:
            self.session.auth = auth

    def close(self) -> None:
        self.session.close()

    # -- the one entry point ---------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        accept: Collection[int] = (),
        per_record: bool = False,
        record_id: str | None = None,
        idempotent: bool = True,
        limiter_key: str | None = None,
    ) -> requests.Response:
        """Send one call, retrying transient failures; return the 2xx (or accepted) answer.

        `path` is relative to base_url and must not carry a query string: pass `params`.
        `accept` lists statuses returned as they are instead of raised (e.g. 404 for a
        get-by-id). With `per_record`, 400/409/422 raise RecordError (with `record_id`).
        With `idempotent=False` (creates), a failure that may have happened after the system
        received the request (read timeout, reset, 5xx) is raised, not retried, so a retry
        can never create a second record; 429 and connect failures are still retried.

        Raises FatalError subclasses, RecordError or TransientError (RateLimited for 429
        and for an exhausted budget).
        """
        method = method.upper()
        clean_path = "/" + path.split("?", 1)[0].lstrip("/")
        call = f"{method} {clean_path}"
        url = self.base_url + clean_path
        key = limiter_key or self.budget_key
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            remaining = self.max_elapsed - (self._clock() - started)
            self.rate_limiter.acquire(key, max_wait=max(0.0, remaining))
            error: TransientError
            sent = self._clock()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    data=data,
                    headers=dict(headers) if headers else None,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except AddressNotAllowed as exc:
                # Nothing was sent; retrying cannot help until the operator or DNS changes.
                self._observe(call, None, sent)
                raise exc.at(system=self.system, call=call) from None
            except requests.ConnectTimeout as exc:
                self._observe(call, None, sent)
                error = TransientError(
                    f"connect timeout after {self.timeout[0]:g}s ({type(exc).__name__})",
                    system=self.system,
                    call=call,
                )
                safe_to_retry = True
            except requests.Timeout:
                self._observe(call, None, sent)
                error = TransientError(
                    f"no answer within the read timeout of {self.timeout[1]:g}s",
                    system=self.system,
                    call=call,
                )
                safe_to_retry = idempotent
            except requests.exceptions.ChunkedEncodingError:
                # The connection broke while the answer was being read: the system got
                # the request, so this is as ambiguous as a read timeout.
                self._observe(call, None, sent)
                error = TransientError(
                    "the connection broke while reading the answer",
                    system=self.system,
                    call=call,
                )
                safe_to_retry = idempotent
            except requests.ConnectionError as exc:
                self._observe(call, None, sent)
                error = TransientError(
                    f"connection failed ({_connection_reason(exc)})",
                    system=self.system,
                    call=call,
                )
                # A refused connection never reached the system; a reset might have.
                safe_to_retry = idempotent or _never_sent(exc)
            else:
                self._observe(call, response.status_code, sent)
                status = response.status_code
                if status in accept or (200 <= status < 300 and not _is_html_error(response)):
                    return response
                mapped = self._map_error(response, call, per_record, record_id)
                if not isinstance(mapped, TransientError):
                    raise mapped
                error = mapped
                safe_to_retry = status == 429 or idempotent

            if not safe_to_retry or attempt >= self.max_attempts:
                raise error
            elapsed = self._clock() - started
            remaining = self.max_elapsed - elapsed
            if error.retry_after is not None:
                if error.retry_after > remaining:
                    raise RateLimited(
                        f"{error.message}; asked to wait {error.retry_after:g}s, more than the "
                        f"{max(remaining, 0):.1f}s left of the retry budget",
                        retry_after=error.retry_after,
                        system=self.system,
                        call=call,
                        status=error.status,
                    )
                delay = error.retry_after
            else:
                ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
                delay = self._rng() * ceiling  # full jitter
                if delay > remaining:
                    raise error
            self._sleep(delay)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def json(self, response: requests.Response) -> Any:
        """The JSON body of an answer; TransientError if the system sent something else.

        A proxy or maintenance page can answer 200 with HTML; that is not the system's data.
        """
        call = f"{response.request.method} {_path_of(response.request.path_url)}"
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                "answered with a body that is not JSON",
                system=self.system,
                call=call,
                status=response.status_code,
                body=readable_body(response, secrets=self.secrets),
            ) from None

    # -- helpers ---------------------------------------------------------------------------

    def _observe(self, call: str, status: int | None, sent: float) -> None:
        if self.on_call is not None:
            self.on_call(system=self.system, call=call, status=status, seconds=self._clock() - sent)

    def _map_error(
        self, response: requests.Response, call: str, per_record: bool, record_id: str | None
    ) -> ConnectorError:
        status = response.status_code
        body = readable_body(response, secrets=self.secrets)
        common: dict[str, Any] = {"system": self.system, "call": call, "status": status}
        if status == 429:
            return RateLimited(
                "rate limited",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                body=body,
                **common,
            )
        if status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return TransientError(_reason(response), retry_after=retry_after, body=body, **common)
        if status == 401:
            return AuthenticationError(
                "the credentials were rejected; check the token", body=body, **common
            )
        if status == 403:
            return PermissionDenied(
                "the credentials lack a permission or scope for this call", body=body, **common
            )
        if status == 404:
            return NotFound("not found", body=body, **common)
        if _is_html(response):
            # An HTML page instead of the system's JSON error: a proxy or gateway answered.
            return TransientError(_reason(response), body=body, **common)
        if per_record and status in RECORD_STATUSES:
            return RecordError(body or _reason(response), record_id=record_id, **common)
        return FatalError(f"refused the request ({_reason(response)})", body=body, **common)


def _reason(response: requests.Response) -> str:
    return response.reason or f"HTTP {response.status_code}"


def _is_html_error(response: requests.Response) -> bool:
    """A 2xx HTML page where JSON was asked for: a proxy's or a maintenance page."""
    return _is_html(response) and "json" in response.request.headers.get("Accept", "")


def _path_of(path_url: str) -> str:
    return path_url.split("?", 1)[0]


def _never_sent(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


def _connection_reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Connection reset",
        "Connection aborted",
        "RemoteDisconnected",
        "Name or service not known",
    ):
        if marker in text:
            return marker
    return type(exc).__name__


def http_date(ts: float) -> str:
    """An HTTP date (for Retry-After and tests)."""
    return email.utils.format_datetime(datetime.fromtimestamp(ts, UTC), usegmt=True)

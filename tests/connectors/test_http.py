"""connectors.http against a scripted local HTTP server: retries, Retry-After, error mapping."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.errors import (
    AuthenticationError,
    FatalError,
    NotFound,
    PermissionDenied,
    RateLimited,
    RecordError,
    TransientError,
)
from connectors.http import HttpClient, TokenBucket, http_date, parse_retry_after

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"

BAD_GATEWAY = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title>"
    "<style>body{color:red}</style></head>"
    "<body><h1>Bad Gateway</h1><p>The upstream server is down &amp; will be back.</p></body>"
    "</html>"
)


@dataclass
class Scripted:
    status: int = 200
    body: str = '{"ok": true}'
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay: float = 0.0


@dataclass
class ScriptServer:
    url: str
    script: list[Scripted] = field(default_factory=list)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def then(self, *answers: Scripted) -> ScriptServer:
        self.script.extend(answers)
        return self


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    lock = threading.Lock()
    state: ScriptServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with lock:
                state.seen.append((self.command, self.path, dict(self.headers.items())))
                answer = state.script.pop(0) if state.script else Scripted()
            if answer.delay:
                time.sleep(answer.delay)
            body = answer.body.encode()
            self.send_response(answer.status)
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = ScriptServer(f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


class FakeTime:
    """A clock that only moves when the client sleeps, so backoff is observed exactly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def client(url: str, fake: FakeTime | None = None, **kwargs) -> HttpClient:
    fake = fake or FakeTime()
    options = {
        "system": "Acme",
        "base_url": url,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "secrets": [TOKEN],
        "sleep": fake.sleep,
        "clock": fake.clock,
        "rng": lambda: 1.0,
        "read_timeout": 5.0,
    }
    options.update(kwargs)
    return HttpClient(**options)


def test_retries_transient_answers_then_returns_the_success(server: ScriptServer):
    fake = FakeTime()
    server.then(Scripted(503), Scripted(500), Scripted(200, '{"n": 1}'))
    http = client(server.url, fake, backoff_base=0.5)
    answer = http.get("/things")
    assert http.json(answer) == {"n": 1}
    assert len(server.seen) == 3
    assert fake.sleeps == [0.5, 1.0]  # exponential; rng=1.0 takes the top of the jitter range


def test_full_jitter_draws_between_zero_and_the_ceiling(server: ScriptServer):
    fake = FakeTime()
    server.then(Scripted(503), Scripted(503), Scripted(200))
    draws = iter([0.25, 0.5])
    http = client(server.url, fake, backoff_base=2.0, rng=lambda: next(draws))
    http.get("/x")
    assert fake.sleeps == [0.5, 2.0]  # 0.25 * 2, 0.5 * 4


def test_attempts_are_bounded_in_count(server: ScriptServer):
    fake = FakeTime()
    server.then(*[Scripted(503, "down")] * 10)
    http = client(server.url, fake, max_attempts=3, backoff_base=0.1)
    with pytest.raises(TransientError) as caught:
        http.get("/x")
    assert len(server.seen) == 3
    assert fake.sleeps == [0.1, 0.2]
    assert caught.value.status == 503


def test_attempts_are_bounded_in_total_time(server: ScriptServer):
    fake = FakeTime()
    server.then(*[Scripted(502)] * 10)
    http = client(server.url, fake, max_attempts=10, max_elapsed=3.0, backoff_base=1.0)
    with pytest.raises(TransientError):
        http.get("/x")
    assert fake.sleeps == [1.0, 2.0]  # the next 4s would pass the 3s budget: give up
    assert len(server.seen) == 3


def test_retry_after_seconds_is_obeyed_instead_of_backoff(server: ScriptServer):
    fake = FakeTime()
    server.then(Scripted(429, "{}", {"Retry-After": "3"}), Scripted(200))
    http = client(server.url, fake, backoff_base=0.1)
    http.get("/x")
    assert fake.sleeps == [3.0]


def test_retry_after_http_date_is_obeyed(server: ScriptServer):
    fake = FakeTime()
    when = http_date(time.time() + 30)
    server.then(Scripted(503, "{}", {"Retry-After": when}), Scripted(200))
    http = client(server.url, fake, max_elapsed=120)
    http.get("/x")
    assert len(fake.sleeps) == 1
    assert 28 <= fake.sleeps[0] <= 30


def test_retry_after_beyond_the_budget_raises_at_once(server: ScriptServer):
    fake = FakeTime()
    json_type = {"Retry-After": "600", "Content-Type": "application/json"}
    server.then(Scripted(429, '{"message": "slow down"}', json_type))
    http = client(server.url, fake, max_elapsed=60)
    with pytest.raises(RateLimited) as caught:
        http.get("/x")
    assert caught.value.retry_after == 600
    assert fake.sleeps == []
    assert len(server.seen) == 1
    assert "asked to wait 600s" in str(caught.value)


def test_error_mapping(server: ScriptServer):
    http = client(server.url)
    server.then(Scripted(401, '{"message": "expired"}'))
    with pytest.raises(AuthenticationError, match="Acme GET /me answered 401"):
        http.get("/me")
    server.then(Scripted(403))
    with pytest.raises(PermissionDenied):
        http.get("/me")
    server.then(Scripted(404))
    with pytest.raises(NotFound):
        http.get("/things/1")
    server.then(Scripted(404))
    assert http.get("/things/1", accept=(404,)).status_code == 404
    server.then(Scripted(422, '{"message": "email is invalid"}'))
    with pytest.raises(RecordError) as caught:
        http.post("/things", json_body={}, per_record=True, record_id="7")
    assert caught.value.record_id == "7"
    assert caught.value.message == "email is invalid"
    server.then(Scripted(409))
    with pytest.raises(RecordError):
        http.post("/things", json_body={}, per_record=True)
    server.then(Scripted(400, '{"message": "bad filter"}'))
    with pytest.raises(FatalError) as fatal:
        http.post("/search", json_body={})
    assert not isinstance(fatal.value, RecordError)
    assert len(server.seen) == 7  # none of these is retried


def test_html_502_is_transient_with_a_readable_message(server: ScriptServer):
    server.then(*[Scripted(502, BAD_GATEWAY, {"Content-Type": "text/html"})] * 2)
    http = client(server.url, max_attempts=2)
    with pytest.raises(TransientError) as caught:
        http.get("/crm/v3/objects/contacts")
    text = str(caught.value)
    assert text == (
        "Acme GET /crm/v3/objects/contacts answered 502: Bad Gateway — 502 Bad Gateway: "
        "Bad Gateway The upstream server is down & will be back."
    )


def test_html_page_with_200_is_not_taken_for_data(server: ScriptServer):
    server.then(*[Scripted(200, "<html><title>Maintenance</title></html>",
                           {"Content-Type": "text/html"})] * 2)  # fmt: skip
    http = client(server.url, max_attempts=2)
    with pytest.raises(TransientError, match="Maintenance"):
        http.get("/x")


def test_messages_carry_no_secret_query_string_or_header(server: ScriptServer):
    echo = f'{{"message": "token {TOKEN} is not valid for this portal"}}'
    server.then(Scripted(401, echo))
    http = client(server.url)
    with pytest.raises(AuthenticationError) as caught:
        http.get(f"/crm/v3/owners?hapikey={TOKEN}")
    text = str(caught.value) + repr(caught.value.as_dict())
    assert TOKEN not in text
    assert "hapikey" not in text
    assert "Bearer" not in text
    assert caught.value.call == "GET /crm/v3/owners"
    assert "token *** is not valid" in text
    # the secret did go over the wire, in the header: only the message omits it
    assert server.seen[0][2]["Authorization"] == f"Bearer {TOKEN}"


def test_creates_are_not_retried_after_a_5xx_but_are_after_a_429(server: ScriptServer):
    fake = FakeTime()
    server.then(Scripted(502))
    http = client(server.url, fake)
    with pytest.raises(TransientError):
        http.post("/things/batch/create", json_body={}, idempotent=False)
    assert len(server.seen) == 1
    server.then(Scripted(429, "{}", {"Retry-After": "1"}), Scripted(201))
    assert http.post("/things/batch/create", json_body={}, idempotent=False).status_code == 201
    assert len(server.seen) == 3


def test_read_timeout_is_transient_and_retried(server: ScriptServer):
    server.then(Scripted(200, delay=1.0), Scripted(200, '{"late": false}'))
    http = client(server.url, read_timeout=0.2, backoff_base=0.01)
    assert http.json(http.get("/slow")) == {"late": False}
    assert len(server.seen) == 2


def test_connection_refused_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = client(f"http://127.0.0.1:{port}", max_attempts=2, backoff_base=0.01)
    with pytest.raises(TransientError, match="connection failed"):
        http.get("/x")


def test_observer_sees_every_attempt_and_limiter_every_request(server: ScriptServer):
    calls: list[tuple[str, str, int | None]] = []
    keys: list[str] = []

    class Limiter:
        def acquire(self, key: str, *, max_wait: float) -> None:
            keys.append(key)

    def observe(*, system: str, call: str, status: int | None, seconds: float) -> None:
        calls.append((system, call, status))

    server.then(Scripted(503), Scripted(200))
    http = client(server.url, on_call=observe, rate_limiter=Limiter(), budget_key="conn-9")
    http.get("/things?secret=1")
    assert calls == [("Acme", "GET /things", 503), ("Acme", "GET /things", 200)]
    assert keys == ["conn-9", "conn-9"]


def test_limiter_refusal_propagates_as_rate_limited(server: ScriptServer):
    class Spent:
        def acquire(self, key: str, *, max_wait: float) -> None:
            raise RateLimited("budget spent", retry_after=42)

    http = client(server.url, rate_limiter=Spent())
    with pytest.raises(RateLimited) as caught:
        http.get("/x")
    assert caught.value.retry_after == 42
    assert server.seen == []


def test_token_bucket_waits_then_refuses_beyond_max_wait():
    fake = FakeTime()
    bucket = TokenBucket(rate=2, capacity=2, clock=fake.clock, sleep=fake.sleep)
    bucket.acquire("k", max_wait=10)
    bucket.acquire("k", max_wait=10)
    bucket.acquire("k", max_wait=10)
    assert fake.sleeps == [0.5]
    bucket.acquire("other", max_wait=0)  # keys have separate budgets
    with pytest.raises(RateLimited) as caught:
        bucket.acquire("k", max_wait=0.1)
    assert caught.value.retry_after == pytest.approx(0.5)


def test_parse_retry_after():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(http_date(1_000_060), now=1_000_000) == 60.0
    assert parse_retry_after(http_date(999_000), now=1_000_000) == 0.0

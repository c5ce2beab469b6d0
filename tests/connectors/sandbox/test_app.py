"""The sandbox framework itself, driven over HTTP through a small vendor plug-in defined here
(its notes kept on the shared record table, as the real vendors keep theirs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from connectors.sandbox import (
    Delivery,
    Problem,
    RateLimit,
    RecordState,
    Request,
    Response,
    Row,
    ValidationError,
    VendorSandbox,
    WebhookTarget,
    route,
)
from connectors.sandbox.app import discover
from connectors.sandbox.client import SandboxAdmin, SandboxAdminError
from connectors.sandbox.data import FakeData
from connectors.sandbox.server import SandboxServer, start_in_thread
from tests.sandbox_fixtures import WebhookReceiver


class NotesState(RecordState):
    """Notes with a title on the shared record table: what a vendor's state looks like."""

    first_ids = {"notes": 1}

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        for _ in range(counts.get("notes", 3)):
            self.table.insert("notes", {"title": fake.ticket_subject()}, created=self.now())


class NotesSandbox(VendorSandbox):
    """A minimal vendor: notes with a title, a token, a 3-per-window write limit."""

    kind = "notes"
    rate_limits = {"writes": RateLimit(3, 60.0)}
    state_class = NotesState
    state: NotesState

    def _note(self, row: Row) -> dict[str, Any]:
        return {"id": str(row.id), "title": row.data["title"]}

    def _add(self, title: str) -> dict[str, Any]:
        row = self.state.table.insert("notes", {"title": title}, created=self.context.now())
        self.context.emit({"id": str(row.id), "at": self.context.now()})
        return self._note(row)

    def authenticate(self, request: Request) -> str | Response:
        if request.header("authorization") != "Bearer good":
            return Response.json(401, {"error": "bad token"})
        return "good"

    @route("GET", "/notes")
    def list_notes(self, request: Request) -> Response:
        notes = [self._note(r) for r in self.state.table.rows("notes")]
        following = f"{request.base_url}/notes?after={notes[-1]['id']}" if notes else None
        return Response.json(200, {"notes": notes, "next": following})

    # Declared before /notes/count on purpose: the route with fewer parameters wins anyway.
    @route("GET", "/notes/{note_id}")
    def get_note(self, request: Request) -> Response:
        key = request.params["note_id"]
        row = self.state.table.get("notes", int(key)) if key.isdigit() else None
        if row is None:
            return self.error(404, "no such note")
        return Response.json(200, self._note(row))

    @route("GET", "/notes/count")
    def count_notes(self, request: Request) -> Response:
        return Response.json(200, {"count": self.state.table.count("notes")})

    @route("POST", "/notes", limits=("writes",))
    def create_note(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body.get("title"), str):
            raise ValidationError(Problem("title", "a note needs a title"))
        return Response.json(201, self._add(body["title"]))

    @route("POST", "/notes/bulk")
    def create_notes(self, request: Request) -> Response:
        return Response.json(201, {"notes": [self._add(t) for t in request.json()["titles"]]})

    def webhook_deliveries(
        self, events: list[Any], target: WebhookTarget, now: float
    ) -> list[Delivery]:
        out = []
        for event in events:
            body = json.dumps(event).encode()
            sig = hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()
            out.append(Delivery(target.url, body, {"X-Sig": sig}, delivery_id=event["id"]))
        return out


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    srv = start_in_thread(vendors={"notes": NotesSandbox})
    yield srv
    srv.stop()


@pytest.fixture
def admin(server: SandboxServer) -> Iterator[SandboxAdmin]:
    client = SandboxAdmin(server.url)
    client.seed(7)
    yield client
    client.close()


def _get(server: SandboxServer, path: str, token: str = "good") -> requests.Response:
    return requests.get(
        f"{server.url}/notes{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def _post(server: SandboxServer, title: str) -> requests.Response:
    return requests.post(
        f"{server.url}/notes/notes",
        json={"title": title},
        headers={"Authorization": "Bearer good"},
        timeout=10,
    )


def test_routes_path_parameters_and_seeded_data(server: SandboxServer, admin: SandboxAdmin):
    listed = _get(server, "/notes").json()["notes"]
    assert [n["id"] for n in listed] == ["1", "2", "3"]
    assert _get(server, "/notes/2").json() == listed[1]
    assert _get(server, "/notes/9").status_code == 404
    assert _get(server, "/nowhere").status_code == 404
    assert (
        requests.delete(
            f"{server.url}/notes/notes", headers={"Authorization": "Bearer good"}, timeout=10
        ).status_code
        == 405
    )


def test_seed_is_deterministic(server: SandboxServer, admin: SandboxAdmin):
    first = _get(server, "/notes").json()
    admin.seed(7)
    assert _get(server, "/notes").json() == first
    admin.seed(8, {"notes": {"notes": 5}})
    assert len(_get(server, "/notes").json()["notes"]) == 5


def test_authentication_comes_from_the_vendor(server: SandboxServer, admin: SandboxAdmin):
    answer = _get(server, "/notes", token="wrong")
    assert answer.status_code == 401
    assert answer.json() == {"error": "bad token"}


def test_rate_limit_is_per_endpoint_class_and_switchable(
    server: SandboxServer, admin: SandboxAdmin
):
    assert [_post(server, f"n{i}").status_code for i in range(4)] == [201, 201, 201, 429]
    limited = _post(server, "again")
    assert int(limited.headers["Retry-After"]) >= 59
    assert _get(server, "/notes").status_code == 200  # reads spend no write budget
    admin.set_rate_limits("notes", False)
    assert _post(server, "unlimited").status_code == 201


def test_queued_faults_match_method_and_path_then_run_out(
    server: SandboxServer, admin: SandboxAdmin
):
    admin.queue_fault("notes", status=503, method="GET", path="/notes/", count=2)
    admin.queue_fault("notes", status=502, html=True)
    assert _get(server, "/notes").status_code == 502  # the 503 wants /notes/..., not /notes
    assert _get(server, "/notes/1").status_code == 503
    assert _get(server, "/notes/1").status_code == 503
    assert _get(server, "/notes/1").status_code == 200
    page = _get(server, "/notes")
    assert page.status_code == 200
    assert admin.faults()["notes"]["queue"] == []


def test_injected_502_is_an_html_gateway_page(server: SandboxServer, admin: SandboxAdmin):
    admin.queue_fault("notes", status=502, html=True)
    answer = _get(server, "/notes")
    assert answer.status_code == 502
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<title>502 Bad Gateway</title>" in answer.text


def test_fault_shares_are_validated(server: SandboxServer, admin: SandboxAdmin):
    with pytest.raises(SandboxAdminError, match="error_5xx_share must be a number between"):
        admin.set_faults("notes", error_5xx_share=2)
    with pytest.raises(SandboxAdminError, match="unknown fault settings: bogus"):
        admin.set_faults("notes", bogus=1)
    with pytest.raises(SandboxAdminError, match="unknown vendors: nope"):
        admin._call("PUT", "faults", {"nope": {}})


def test_every_request_share_of_429_carries_retry_after(server: SandboxServer, admin: SandboxAdmin):
    admin.set_faults("notes", error_429_share=1.0, retry_after=7)
    answer = _get(server, "/notes")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"


def test_stats_count_per_endpoint_template_and_status(server: SandboxServer, admin: SandboxAdmin):
    _get(server, "/notes/1")
    _get(server, "/notes/2")
    _get(server, "/notes/99")
    stats = admin.stats("notes")
    assert stats["endpoints"]["GET /notes/notes/{note_id}"] == {
        "count": 3,
        "statuses": {"200": 2, "404": 1},
    }
    assert [r["path"] for r in stats["requests"]] == [
        "/notes/notes/1",
        "/notes/notes/2",
        "/notes/notes/99",
    ]
    assert stats["requests"][0]["t"] <= stats["requests"][2]["t"]


def test_webhooks_are_signed_by_the_vendor_and_delivered(
    server: SandboxServer, admin: SandboxAdmin, webhook_receiver: WebhookReceiver
):
    admin.register_webhook("notes", webhook_receiver.url, "s3cret")
    _post(server, "hello")
    admin.flush_webhooks()
    assert len(webhook_receiver.requests) == 1
    delivery = webhook_receiver.requests[0]
    assert json.loads(delivery.body)["id"] == "4"
    expected = hmac.new(b"s3cret", delivery.body, hashlib.sha256).hexdigest()
    assert delivery.header("x-sig") == expected


def test_delivery_log_carries_each_posts_round_trip(
    server: SandboxServer, admin: SandboxAdmin, webhook_receiver: WebhookReceiver
):
    admin.register_webhook("notes", webhook_receiver.url, "s3cret")
    admin.set_faults("notes", webhook_drop_share=1.0)
    _post(server, "dropped")
    admin.flush_webhooks()
    admin.set_faults("notes", webhook_drop_share=0.0)
    _post(server, "sent")
    [dropped, sent] = admin.flush_webhooks()["deliveries"][-2:]
    assert (dropped["outcome"], dropped["elapsed_ms"]) == ("dropped", None)
    assert sent["outcome"] == "delivered"
    assert sent["elapsed_ms"] > 0


def test_changes_feed_lists_rows_written_after_a_version_without_counting_calls(
    server: SandboxServer, admin: SandboxAdmin
):
    start = admin.changes("notes", "notes")
    assert [r["data"]["title"] for r in start["rows"]][:3] == [
        _get(server, f"/notes/{n}").json()["title"] for n in (1, 2, 3)
    ]
    calls = admin.stats("notes")["total"]
    _post(server, "first")
    _post(server, "second")
    later = admin.changes("notes", "notes", after=start["version"])
    assert [(r["id"], r["data"]["title"], r["deleted"]) for r in later["rows"]] == [
        (4, "first", False),
        (5, "second", False),
    ]
    assert later["version"] == later["rows"][-1]["version"] > start["version"]
    assert admin.changes("notes", "notes", after=later["version"])["rows"] == []
    assert admin.stats("notes")["total"] == calls + 2  # the two writes, not the feed


def test_changes_feed_refuses_an_unknown_vendor_type_or_version(admin: SandboxAdmin):
    for kind, type_, after in (
        ("nope", "notes", 0),
        ("notes", "pages", 0),
        ("notes", "notes", "x"),
    ):
        with pytest.raises(SandboxAdminError, match="400"):
            admin.changes(kind, type_, after)  # type: ignore[arg-type]


def test_webhook_faults_drop_and_duplicate(
    server: SandboxServer, admin: SandboxAdmin, webhook_receiver: WebhookReceiver
):
    admin.set_rate_limits("notes", False)
    admin.register_webhook("notes", webhook_receiver.url, "s3cret")
    admin.set_faults("notes", webhook_drop_share=1.0)
    _post(server, "dropped")
    summary = admin.flush_webhooks()
    assert webhook_receiver.requests == []
    assert summary["counters"]["notes:dropped"] == 1
    admin.set_faults("notes", webhook_drop_share=0.0, webhook_duplicate_share=1.0)
    _post(server, "twice")
    admin.flush_webhooks()
    assert [json.loads(r.body)["id"] for r in webhook_receiver.requests] == ["5", "5"]


def test_clock_moves_forward_for_vendors(server: SandboxServer, admin: SandboxAdmin):
    before = admin.advance_clock(0)
    after = admin.advance_clock(3600)
    assert after - before >= 3600


def test_state_file_survives_a_restart(tmp_path):
    state = str(tmp_path / "state.json")
    first = SandboxServer(vendors={"notes": NotesSandbox}, state_file=state, seed=3)
    first.start_in_thread()
    _post(first, "kept across restarts")
    first.stop()
    second = start_in_thread(vendors={"notes": NotesSandbox}, state_file=state, seed=3)
    try:
        titles = [n["title"] for n in _get(second, "/notes").json()["notes"]]
    finally:
        second.stop()
    assert titles[-1] == "kept across restarts"
    assert len(titles) == 4


def test_discover_skips_packages_that_do_not_exist_yet():
    assert discover(["surely_not_a_connector"]) == {}


def test_fake_data_is_deterministic():
    a, b = FakeData(42), FakeData(42)
    assert [a.person() for _ in range(5)] == [b.person() for _ in range(5)]
    assert a.company() == b.company()
    first, last = a.person()
    _name, domain = a.company()
    assert a.email(first, last, domain, 3).endswith("3@" + domain)


def test_timeout_fault_holds_the_request_past_the_client_timeout(
    server: SandboxServer, admin: SandboxAdmin
):
    admin.set_faults("notes", timeout_seconds=1.0)
    admin.queue_fault("notes", timeout=True)
    with pytest.raises(requests.ReadTimeout):
        requests.get(
            f"{server.url}/notes/notes", headers={"Authorization": "Bearer good"}, timeout=0.2
        )
    assert _get(server, "/notes").status_code == 200


def test_admin_rejects_malformed_input(server: SandboxServer, admin: SandboxAdmin):
    with pytest.raises(SandboxAdminError, match="seed must be an integer"):
        admin._call("POST", "seed", {"seed": "one"})
    with pytest.raises(SandboxAdminError, match="url must be an http"):
        admin.register_webhook("notes", "ftp://example.org", "s")
    with pytest.raises(SandboxAdminError, match="needs an integer status or timeout"):
        admin.set_faults("notes", queue=[{"method": "GET"}])
    with pytest.raises(SandboxAdminError, match="no admin endpoint"):
        admin._call("GET", "nothing-here")


def test_webhook_reorder_fault_reverses_a_batch_of_deliveries(
    server: SandboxServer, admin: SandboxAdmin, webhook_receiver: WebhookReceiver
):
    admin.register_webhook("notes", webhook_receiver.url, "s3cret")
    admin.set_faults("notes", webhook_reorder_share=1.0)
    answer = requests.post(
        f"{server.url}/notes/notes/bulk",
        json={"titles": ["a", "b", "c"]},
        headers={"Authorization": "Bearer good"},
        timeout=10,
    )
    assert answer.status_code == 201
    summary = admin.flush_webhooks()
    assert [json.loads(r.body)["id"] for r in webhook_receiver.requests] == ["6", "5", "4"]
    assert summary["counters"]["notes:reordered"] == 1


def test_a_literal_route_wins_over_a_parameter_whatever_the_declaration_order(
    server: SandboxServer, admin: SandboxAdmin
):
    assert _get(server, "/notes/count").json() == {"count": 3}
    assert _get(server, "/notes/3").json()["id"] == "3"


def test_links_lead_back_to_the_address_the_request_reached(
    server: SandboxServer, admin: SandboxAdmin
):
    direct = _get(server, "/notes").json()
    assert direct["next"] == f"{server.url}/notes/notes?after=3"
    proxied = requests.get(
        f"{server.url}/notes/notes",
        headers={"Authorization": "Bearer good", "Host": "sandbox.example:9000"},
        timeout=10,
    ).json()
    assert proxied["next"] == "http://sandbox.example:9000/notes/notes?after=3"


def test_a_refused_input_is_answered_by_the_vendor(server: SandboxServer, admin: SandboxAdmin):
    answer = requests.post(
        f"{server.url}/notes/notes",
        json={"title": 5},
        headers={"Authorization": "Bearer good"},
        timeout=10,
    )
    assert (answer.status_code, answer.json()) == (400, {"message": "a note needs a title"})
    malformed = requests.post(
        f"{server.url}/notes/notes",
        data=b"{not json",
        headers={"Authorization": "Bearer good"},
        timeout=10,
    )
    assert malformed.status_code == 400
    assert malformed.json()["message"].startswith("the body is not valid JSON")


def test_each_subscription_gets_every_event_signed_with_its_own_secret(
    server: SandboxServer, admin: SandboxAdmin, webhook_receiver: WebhookReceiver
):
    one, two = f"{webhook_receiver.origin}/one", f"{webhook_receiver.origin}/two"
    admin.register_webhook("notes", one, "first-secret")
    admin.register_webhook("notes", two, "old-secret")
    admin.register_webhook("notes", two, "second-secret")  # the same URL: a new secret
    assert admin.subscriptions() == [
        {"vendor": "notes", "url": one},
        {"vendor": "notes", "url": two},
    ]

    _post(server, "for both")
    admin.flush_webhooks()

    by_url = {r.url: r for r in webhook_receiver.requests}
    assert sorted(by_url) == [one, two]
    for url, secret in ((one, b"first-secret"), (two, b"second-secret")):
        delivery = by_url[url]
        assert json.loads(delivery.body)["id"] == "4"
        expected = hmac.new(secret, delivery.body, hashlib.sha256).hexdigest()
        assert delivery.header("x-sig") == expected

    admin.unregister_webhook("notes", one)
    webhook_receiver.clear()
    _post(server, "for the second only")
    admin.flush_webhooks()
    assert [r.url for r in webhook_receiver.requests] == [two]
    with pytest.raises(SandboxAdminError, match="no notes subscription"):
        admin.unregister_webhook("notes", one)


def test_connections_hands_out_a_config_per_vendor_for_the_address_reached(
    server: SandboxServer, admin: SandboxAdmin
):
    assert admin.connections() == {
        "notes": {"base_url": f"{server.url}/notes", "config": {"base_url": f"{server.url}/notes"}}
    }


def test_a_state_file_of_another_version_is_left_for_a_fresh_seed(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"version": 1, "vendors": {"notes": {"notes": {}}}}))
    fresh = start_in_thread(vendors={"notes": NotesSandbox}, state_file=str(state), seed=3)
    try:
        titles = [n["title"] for n in _get(fresh, "/notes").json()["notes"]]
    finally:
        fresh.stop()
    assert len(titles) == 3
    assert json.loads(state.read_text())["version"] == 2  # saved anew at stop


class _MeetingReceiver:
    """Webhook targets where a delivery to /wait is held until a delivery to /meet has
    arrived (or 5 s pass): it records whether the two were in flight at the same time."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=5)
        self.met: list[bool] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    receiver.barrier.wait()
                    receiver.met.append(True)
                except threading.BrokenBarrierError:
                    receiver.met.append(False)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_each_vendor_sends_from_its_own_thread_so_one_never_waits_behind_another():
    srv = start_in_thread(vendors={"notes": NotesSandbox, "memos": NotesSandbox})
    meeting = _MeetingReceiver()
    client = SandboxAdmin(srv.url)
    try:
        client.register_webhook("notes", f"{meeting.url}/wait", "a")
        client.register_webhook("memos", f"{meeting.url}/meet", "b")
        for kind in ("notes", "memos"):
            requests.post(
                f"{srv.url}/{kind}/notes",
                json={"title": kind},
                headers={"Authorization": "Bearer good"},
                timeout=10,
            ).raise_for_status()
        client.flush_webhooks(timeout=20)
        # One sender for every vendor held the memo behind the held note: the wait broke.
        assert meeting.met == [True, True]
    finally:
        client.close()
        meeting.close()
        srv.stop()


def test_webhook_concurrency_puts_a_vendors_deliveries_in_flight_together(
    server: SandboxServer, admin: SandboxAdmin
):
    meeting = _MeetingReceiver()
    try:
        admin.register_webhook("notes", f"{meeting.url}/both", "s3cret")
        # Every delivery sent twice: two deliveries of one batch, which meet only when both
        # are in flight at once.
        admin.set_faults("notes", webhook_duplicate_share=1.0, webhook_concurrency=2)
        _post(server, "twice")
        admin.flush_webhooks(timeout=20)
        assert meeting.met == [True, True]
    finally:
        admin.set_faults("notes", webhook_duplicate_share=0.0, webhook_concurrency=1)
        admin.unregister_webhook("notes")
        meeting.close()


@pytest.mark.parametrize("value", [0, 65, "4", True, 1.5])
def test_webhook_concurrency_must_be_a_small_whole_number(admin: SandboxAdmin, value: object):
    with pytest.raises(SandboxAdminError, match="webhook_concurrency must be an integer"):
        admin.set_faults("notes", webhook_concurrency=value)

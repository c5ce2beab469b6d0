"""The sandbox framework itself, driven over HTTP through a small vendor plug-in defined here."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests

from connectors.sandbox import (
    Delivery,
    RateLimit,
    Request,
    Response,
    VendorSandbox,
    WebhookTarget,
    route,
)
from connectors.sandbox.app import discover
from connectors.sandbox.client import SandboxAdmin, SandboxAdminError
from connectors.sandbox.data import FakeData
from connectors.sandbox.server import SandboxServer, start_in_thread
from tests.sandbox_fixtures import WebhookReceiver


class NotesSandbox(VendorSandbox):
    """A minimal vendor: notes with a title, a token, a 3-per-window write limit."""

    kind = "notes"
    rate_limits = {"writes": RateLimit(3, 60.0)}

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.notes: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        self.notes = {}

    def seed(self, seed: int, counts: Mapping[str, int] | None = None) -> None:
        self.reset()
        fake = FakeData(seed)
        for n in range(1, (counts or {}).get("notes", 3) + 1):
            self.notes[str(n)] = {"id": str(n), "title": fake.ticket_subject()}

    def dump(self) -> Any:
        return {"notes": self.notes}

    def load(self, state: Any) -> None:
        self.notes = state["notes"]

    def authenticate(self, request: Request) -> str | Response:
        if request.header("authorization") != "Bearer good":
            return Response.json(401, {"error": "bad token"})
        return "good"

    @route("GET", "/notes")
    def list_notes(self, request: Request) -> Response:
        return Response.json(200, {"notes": sorted(self.notes.values(), key=lambda n: n["id"])})

    @route("GET", "/notes/{note_id}")
    def get_note(self, request: Request) -> Response:
        note = self.notes.get(request.params["note_id"])
        if note is None:
            return self.error(404, "no such note")
        return Response.json(200, note)

    @route("POST", "/notes", limits=("writes",))
    def create_note(self, request: Request) -> Response:
        body = request.json()
        note = {"id": str(len(self.notes) + 1), "title": body["title"]}
        self.notes[note["id"]] = note
        self.context.emit({"id": note["id"], "at": self.context.now()})
        return Response.json(201, note)

    @route("POST", "/notes/bulk")
    def create_notes(self, request: Request) -> Response:
        created = []
        for title in request.json()["titles"]:
            note = {"id": str(len(self.notes) + 1), "title": title}
            self.notes[note["id"]] = note
            self.context.emit({"id": note["id"], "at": self.context.now()})
            created.append(note)
        return Response.json(201, {"notes": created})

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

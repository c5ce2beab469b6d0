"""The contract every connector passes, run against its sandbox over real HTTP.

Parametrised over connectors.registry.kinds(). A kind whose package, connector or sandbox
module does not exist yet, or whose sandbox has no `contract` hook yet, is skipped (so work
in progress elsewhere never breaks this suite); a module that exists but fails to import
fails the suite.

The hook
--------
`connectors/<kind>/sandbox/__init__.py` defines `def contract() -> ContractCase`
(connectors.sandbox.contract.ContractCase; its docstring lists every field). The suite uses:
`object_type`, `config(base_url)` / `bad_config(base_url)` for connectors pointed at
"<sandbox>/<kind>", `new_record(n)`, `invalid_record()`, `update(n)`, `webhook_secret`,
`stale_after`, `seed_counts`, `sandbox_settings` and `write_method`.

Conventions the suite relies on
-------------------------------
- The connector reaches HTTP through a connectors.http.HttpClient at `connector.http` or
  `connector.<attribute>.http`, so the suite can shorten backoff for speed.
- If a connector exposes `page_size`, the suite lowers it to force several pages (the
  "writes between pages" test is skipped otherwise).
- Changes made through the connector make the sandbox emit webhooks to the target
  registered with POST /_sandbox/webhooks.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import replace

import pytest

from connectors import registry
from connectors.base import CommentSupport, Connector, NewComment, RecordUpdate, WebhookRequest
from connectors.errors import AuthenticationError, RecordError, TransientError
from connectors.errors import WebhookVerificationError as Unverified
from connectors.http import HttpClient
from connectors.sandbox.contract import ContractCase
from tests.sandbox_fixtures import Sandbox, WebhookReceiver


@pytest.fixture(params=registry.kinds())
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def case(kind: str, sandbox: Sandbox) -> ContractCase:
    # Every registered connector must ship a sandbox with a contract() hook: a missing one
    # fails here rather than skipping the whole suite for that connector.
    module = importlib.import_module(f"connectors.{kind}.sandbox")
    found: ContractCase = module.contract()
    sandbox.admin.seed(1, {kind: found.seed_counts} if found.seed_counts else None)
    if found.sandbox_settings:
        sandbox.admin.configure(kind, **found.sandbox_settings)
    return found


def build(kind: str, sandbox: Sandbox, values: dict) -> Connector:
    connector = registry.build(kind, values)
    http = http_client_of(connector)
    # The tests need the retry policy, not its real-world patience.
    http.backoff_base = 0.01
    http.max_attempts = 3
    return connector


def http_client_of(connector: Connector) -> HttpClient:
    """The connector's HttpClient: `connector.http`, or one attribute further down."""
    direct = getattr(connector, "http", None)
    if isinstance(direct, HttpClient):
        return direct
    for value in vars(connector).values():
        nested = getattr(value, "http", None)
        if isinstance(nested, HttpClient):
            return nested
    raise AssertionError(f"{type(connector).__name__} must reach HTTP through connectors.http")


@pytest.fixture
def connector(kind: str, case: ContractCase, sandbox: Sandbox) -> Connector:
    made = build(kind, sandbox, case.config(sandbox.url_for(kind)))
    yield made
    made.close()


def requests_seen(sandbox: Sandbox, kind: str) -> list[dict]:
    return sandbox.admin.stats(kind)["requests"]


def read_all(connector: Connector, object_type: str, cursor=None):
    """(records in order, the last page's cursor)."""
    records = []
    last = cursor
    for page in connector.changes(object_type, cursor):
        records.extend(page.records)
        last = page.cursor
    return records, last


# -- check and discovery ------------------------------------------------------------------


def test_check_passes_with_valid_credentials(connector: Connector, kind: str, sandbox: Sandbox):
    connector.check()
    assert {r["status"] for r in requests_seen(sandbox, kind)} == {200}


def test_401_is_fatal_and_not_retried(kind: str, case: ContractCase, sandbox: Sandbox):
    bad = build(kind, sandbox, case.bad_config(sandbox.url_for(kind)))
    with pytest.raises(AuthenticationError) as caught:
        bad.check()
    assert caught.value.status == 401
    assert [r["status"] for r in requests_seen(sandbox, kind)] == [401]


def test_the_catalogue_tells_what_can_sync_before_any_credentials(connector: Connector, kind: str):
    """A page offers the connector before a connection exists: the class says what it syncs,
    and its config schema gives each field a label and help for the form built from it."""
    assert connector.object_types() == list(type(connector).object_types_offered)
    schema = registry.config_schema(kind)
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"{kind}.{name} has no help text in its schema"


def test_field_discovery(connector: Connector, case: ContractCase):
    types = {t.name for t in connector.object_types()}
    assert case.object_type in types
    specs = connector.fields(case.object_type)
    names = [s.name for s in specs]
    assert len(names) == len(set(names))
    by_name = {s.name: s for s in specs}
    for name in [*case.new_record(1), *case.update(1)]:
        assert name in by_name, f"{name} is written by the contract but not discovered"
        assert by_name[name].writable
    enums = [s for s in specs if s.type.value in ("enum", "multi_enum")]
    assert any(s.options for s in enums), "picklist options must be discovered"
    assert any(s.custom for s in specs), "custom fields must be discovered"


# -- incremental reads ----------------------------------------------------------------------


def test_incremental_read_returns_exactly_the_changed_records(
    connector: Connector, case: ContractCase
):
    everything, cursor = read_all(connector, case.object_type)
    ids = list(dict.fromkeys(r.id for r in everything))
    assert len(ids) >= 5
    changed = ids[:2] + ids[-1:]
    results = connector.update(
        case.object_type, [RecordUpdate(i, case.update(n)) for n, i in enumerate(changed)]
    )
    assert all(r.ok for r in results), [str(r.error) for r in results]
    created = connector.create(case.object_type, [case.new_record(1)])
    assert created[0].ok, str(created[0].error)

    later, cursor2 = read_all(connector, case.object_type, cursor)
    assert {r.id for r in later} == {*changed, created[0].record.id}
    again, _ = read_all(connector, case.object_type, cursor2)
    assert again == []


def test_incremental_read_under_writes_between_pages(connector: Connector, case: ContractCase):
    if not hasattr(connector, "page_size"):
        pytest.skip("the connector exposes no page_size to force several pages")
    everything, _ = read_all(connector, case.object_type)
    all_ids = {r.id for r in everything}
    connector.page_size = 3
    pages = connector.changes(case.object_type, None)
    first = next(pages)
    assert first.has_more
    seen = {r.id for r in first.records}
    already = first.records[0].id
    not_yet = next(i for i in [r.id for r in everything] if i not in seen)
    results = connector.update(
        case.object_type,
        [RecordUpdate(already, case.update(1)), RecordUpdate(not_yet, case.update(2))],
    )
    assert all(r.ok for r in results), [str(r.error) for r in results]
    latest = {}
    last_cursor = first.cursor
    for page in pages:
        for record in page.records:
            seen.add(record.id)
            latest[record.id] = record
        last_cursor = page.cursor
    follow, _ = read_all(connector, case.object_type, last_cursor)
    for record in follow:
        latest[record.id] = record
    assert seen >= all_ids, f"skipped: {sorted(all_ids - seen)}"
    for record_id, n in ((already, 1), (not_yet, 2)):
        assert record_id in latest, f"{record_id} changed mid-read but never came back"
        for name, value in case.update(n).items():
            assert latest[record_id].fields[name] == value


# -- writes --------------------------------------------------------------------------------


def test_create_update_delete_round_trip(connector: Connector, case: ContractCase):
    created = connector.create(case.object_type, [case.new_record(1), case.new_record(2)])
    assert all(r.ok for r in created), [str(r.error) for r in created]
    ids = [r.record.id for r in created]
    assert len(set(ids)) == 2
    assert sorted(r.id for r in connector.get(case.object_type, ids)) == sorted(ids)

    updated = connector.update(
        case.object_type,
        [RecordUpdate(ids[0], case.update(1)), RecordUpdate(ids[1], case.update(2))],
    )
    assert all(r.ok for r in updated), [str(r.error) for r in updated]
    fetched = {r.id: r for r in connector.get(case.object_type, ids)}
    for n, record_id in enumerate(ids, start=1):
        for name, value in case.update(n).items():
            assert fetched[record_id].fields[name] == value
            assert updated[n - 1].record.fields[name] == value

    deleted = connector.delete(case.object_type, ids)
    assert all(r.ok for r in deleted), [str(r.error) for r in deleted]
    assert connector.get(case.object_type, ids) == []
    again = connector.delete(case.object_type, ids[:1])
    assert again[0].ok, "deleting a record already gone counts as deleted"


# -- comments (object types that declare them) ---------------------------------------------

RICH_COMMENT = """Ann Lee on 3 Dec 2026, 14:02 (Zendesk):

Hello @Bo Chen, see [the runbook](https://docs.example.com/run) and `restart()`.
A second line.

- check the tray
- then:
  - restart

```
def f():
    return 1 < 2
```"""


def comment_support(connector: Connector, case: ContractCase) -> CommentSupport:
    [offered] = [t for t in connector.object_types() if t.name == case.object_type]
    if offered.comments is None:
        pytest.skip(f"{case.object_type} has no comments")
    return offered.comments


def test_comments_round_trip_keeping_paragraphs_lists_links_code_and_mentions(
    connector: Connector, case: ContractCase
):
    support = comment_support(connector, case)
    [made] = connector.create(case.object_type, [case.new_record(1)])
    assert made.ok, str(made.error)
    record_id = made.record.id
    before = connector.comments(case.object_type, record_id)
    assert before == []  # a new record has no comment (Zendesk's description is not one)

    created = connector.comment_create(case.object_type, record_id, NewComment(RICH_COMMENT))
    listed = connector.comments(case.object_type, record_id)
    assert [c.id for c in listed] == [created.id]
    assert listed[0].body == RICH_COMMENT  # the system's format and back, nothing lost
    assert created.body == RICH_COMMENT
    assert listed[0].author_name
    assert listed[0].created_at is not None
    assert listed[0].internal is False

    if support.edit:
        edited = connector.comment_update(
            case.object_type, record_id, created.id, NewComment("Edited.")
        )
        assert edited.body == "Edited."
        assert [c.body for c in connector.comments(case.object_type, record_id)] == ["Edited."]
    if support.delete:
        connector.comment_delete(case.object_type, record_id, created.id)
        assert connector.comments(case.object_type, record_id) == []
        connector.comment_delete(case.object_type, record_id, created.id)  # already gone
    if support.internal:
        note = connector.comment_create(
            case.object_type, record_id, NewComment("agents only", internal=True)
        )
        [found] = [c for c in connector.comments(case.object_type, record_id) if c.id == note.id]
        assert found.internal is True


def test_a_comment_moves_its_record_into_the_feed(connector: Connector, case: ContractCase):
    comment_support(connector, case)
    [made] = connector.create(case.object_type, [case.new_record(1)])
    _, cursor = read_all(connector, case.object_type)
    connector.comment_create(case.object_type, made.record.id, NewComment("new comment"))
    records, _ = read_all(connector, case.object_type, cursor)
    assert made.record.id in [r.id for r in records]


def test_comments_of_a_missing_record_are_a_record_error(connector: Connector, case: ContractCase):
    comment_support(connector, case)
    [made] = connector.create(case.object_type, [case.new_record(1)])
    [gone] = connector.delete(case.object_type, [made.record.id])
    assert gone.ok
    with pytest.raises(RecordError):
        connector.comments(case.object_type, made.record.id)
    with pytest.raises(RecordError):
        connector.comment_create(case.object_type, made.record.id, NewComment("too late"))


def test_one_invalid_record_in_a_batch_fails_alone(connector: Connector, case: ContractCase):
    results = connector.create(
        case.object_type, [case.new_record(1), case.invalid_record(), case.new_record(2)]
    )
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, RecordError)
    stored = connector.get(case.object_type, [results[0].record.id, results[2].record.id])
    assert len(stored) == 2


def test_422_is_a_per_record_error(
    connector: Connector, kind: str, case: ContractCase, sandbox: Sandbox
):
    connector.fields(case.object_type)  # discovery first, so the fault hits the write
    sandbox.admin.queue_fault(kind, status=422, method=case.write_method, message="rejected")
    results = connector.create(case.object_type, [case.new_record(1)])
    assert not results[0].ok
    assert isinstance(results[0].error, RecordError)
    assert results[0].error.status == 422


# -- transient failures --------------------------------------------------------------------


def test_429_is_retried_only_after_retry_after(connector: Connector, kind: str, sandbox: Sandbox):
    sandbox.admin.queue_fault(kind, status=429, retry_after=1)
    connector.check()
    seen = requests_seen(sandbox, kind)
    assert seen[0]["status"] == 429
    assert seen[1]["status"] == 200
    assert seen[1]["t"] - seen[0]["t"] >= 1.0, "retried before Retry-After elapsed"


def test_502_html_page_is_transient_with_a_readable_message(
    connector: Connector, kind: str, sandbox: Sandbox
):
    sandbox.admin.queue_fault(kind, status=502, html=True, count=10)
    with pytest.raises(TransientError) as caught:
        connector.check()
    message = str(caught.value)
    assert caught.value.status == 502
    assert "502 Bad Gateway" in message
    assert "<" not in message
    assert connector.label in message
    assert len(requests_seen(sandbox, kind)) == 3  # bounded: max_attempts


# -- webhooks -------------------------------------------------------------------------------


def skip_if_polling_only(connector: Connector) -> None:
    if not any(t.webhooks for t in connector.object_types()):
        pytest.skip(f"{connector.label} sends no webhooks (polling only)")


def test_a_polling_only_connector_refuses_every_delivery(connector: Connector, case: ContractCase):
    """A system without webhooks has nothing to verify a delivery with: a request to its
    connection's webhook URL is refused, whatever it carries."""
    if any(t.webhooks for t in connector.object_types()):
        pytest.skip(f"{connector.label} sends webhooks (the tests below verify them)")
    forged = WebhookRequest("POST", "http://127.0.0.1/hooks/x/", {"X-Signature": "0"}, b"{}")
    with pytest.raises(Unverified):
        connector.parse_webhook(forged, case.webhook_secret)


@pytest.fixture
def delivery(
    connector: Connector,
    kind: str,
    case: ContractCase,
    sandbox: Sandbox,
    webhook_receiver: WebhookReceiver,
) -> tuple[WebhookRequest, str]:
    """A real delivery the sandbox sent after a create, and the created record's id."""
    skip_if_polling_only(connector)
    sandbox.admin.register_webhook(kind, webhook_receiver.url, case.webhook_secret)
    created = connector.create(case.object_type, [case.new_record(1)])
    assert created[0].ok, str(created[0].error)
    sandbox.admin.flush_webhooks()
    assert webhook_receiver.requests, "the sandbox sent no webhook for a create"
    return webhook_receiver.requests[0], created[0].record.id


def test_valid_webhook_is_verified_and_names_the_record(
    connector: Connector, case: ContractCase, delivery
):
    request, record_id = delivery
    result = connector.parse_webhook(request, case.webhook_secret)
    assert (case.object_type, record_id) in {(e.object_type, e.record_id) for e in result.events}


def test_tampered_webhook_is_refused(connector: Connector, case: ContractCase, delivery):
    request, _ = delivery
    tampered = replace(request, body=request.body + b" ")
    if case.body_signed:
        with pytest.raises(Unverified):
            connector.parse_webhook(tampered, case.webhook_secret)
    with pytest.raises(Unverified):
        connector.parse_webhook(request, case.webhook_secret + "x")


def test_stale_webhook_is_refused(connector: Connector, case: ContractCase, delivery):
    if case.stale_after is None:
        pytest.skip("this system's signature carries no timestamp")
    request, _ = delivery
    connector.parse_webhook(request, case.webhook_secret, now=time.time() + 5)
    with pytest.raises(Unverified):
        connector.parse_webhook(
            request, case.webhook_secret, now=time.time() + case.stale_after + 60
        )


def test_unsigned_webhook_is_refused(connector: Connector, case: ContractCase, delivery):
    request, _ = delivery
    plain = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "host")}
    with pytest.raises(Unverified):
        connector.parse_webhook(replace(request, headers=plain), case.webhook_secret)


def test_two_registrations_both_receive_each_signed_with_its_own_secret(
    connector: Connector,
    kind: str,
    case: ContractCase,
    sandbox: Sandbox,
    webhook_receiver: WebhookReceiver,
):
    """Two connections (two workspaces) subscribed to one sandbox: each gets the delivery,
    and the connector verifies each with that connection's secret, and only with it."""
    skip_if_polling_only(connector)
    secrets = {
        f"{webhook_receiver.origin}/workspace-{name}": f"secret-of-workspace-{name}"
        for name in ("a", "b")
    }
    for url, secret in secrets.items():
        sandbox.admin.register_webhook(kind, url, secret)
    created = connector.create(case.object_type, [case.new_record(1)])
    assert created[0].ok, str(created[0].error)
    sandbox.admin.flush_webhooks()

    received = {url: [r for r in webhook_receiver.requests if r.url == url] for url in secrets}
    assert all(received.values()), f"a subscription got nothing: {received}"
    for url, secret in secrets.items():
        other = next(s for s in secrets.values() if s != secret)
        for delivery in received[url]:
            with pytest.raises(Unverified):
                connector.parse_webhook(delivery, other)
        named = {
            (e.object_type, e.record_id)
            for delivery in received[url]
            for e in connector.parse_webhook(delivery, secret).events
        }
        assert (case.object_type, created[0].record.id) in named


def test_the_config_the_sandbox_hands_out_works(kind: str, case: ContractCase, sandbox: Sandbox):
    handed_out = sandbox.admin.connections()[kind]
    assert handed_out["base_url"] == sandbox.url_for(kind)
    assert handed_out["config"] == case.config(sandbox.url_for(kind))
    build(kind, sandbox, handed_out["config"]).check()

"""Answers a connector cannot follow: endless paging, a repeated cursor, a wrong shape.

Each vendor's sandbox misbehaves through its admin API (connectors.sandbox.app.Faults:
`paging`, `shape`); every paging loop of every connector must stop with an error naming the
system and the call, and a missing field must be named, never surface as a KeyError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors import registry
from connectors.answers import MAX_EMPTY_PAGES, PageGuard
from connectors.base import Connector, FieldSpec, FieldType
from connectors.errors import EndlessPaging, UnexpectedAnswer
from connectors.memory.connector import MemoryConnector, reset_stores, store_for
from tests.sandbox_fixtures import Sandbox

# kind: (object type, path of its change feed, of its id listing, of its match search)
FEEDS = {
    # A first read lists contacts (then searches from before the listing began).
    "hubspot": ("contacts", "/crm/v3/objects/contacts", "/crm/v3/objects/contacts"),
    "zendesk": ("organizations", "/api/v2/incremental/organizations", "/api/v2/organizations"),
    "jira": ("issues", "/rest/api/3/search/jql", "/rest/api/3/search/jql"),
}
SYSTEMS = {"hubspot": "HubSpot", "zendesk": "Zendesk", "jira": "Jira Cloud"}


@pytest.fixture
def connect(sandbox: Sandbox) -> Iterator[Callable[[str], Connector]]:
    made: list[Connector] = []
    handed_out = sandbox.admin.connections()
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    for kind in FEEDS:
        sandbox.admin.set_rate_limits(kind, False)  # Zendesk's exports allow 10 a minute

    def build(kind: str) -> Connector:
        connector = registry.build(kind, handed_out[kind]["config"])
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def _read_changes(connector: Connector, object_type: str) -> int:
    return sum(len(page.records) for page in connector.changes(object_type, None))


def _read_ids(connector: Connector, object_type: str) -> int:
    return sum(len(page) for page in connector.list_ids(object_type))


@pytest.mark.parametrize("kind", sorted(FEEDS))
@pytest.mark.parametrize("reader", ["changes", "list_ids"])
def test_endless_empty_pages_stop_with_a_clear_error(sandbox, connect, kind, reader):
    object_type, feed, listing = FEEDS[kind]
    path = feed if reader == "changes" else listing
    sandbox.admin.set_faults(kind, paging=[{"mode": "endless", "path": path}])
    connector = connect(kind)
    read = _read_changes if reader == "changes" else _read_ids
    with pytest.raises(EndlessPaging) as caught:
        read(connector, object_type)
    message = str(caught.value)
    assert message.startswith(SYSTEMS[kind])
    assert path.split("?")[0] in message
    assert "empty pages" in message or "same page cursor" in message
    calls = sum(e["count"] for e in sandbox.admin.stats(kind)["endpoints"].values())
    assert calls <= MAX_EMPTY_PAGES + 10, "the loop went on past the bound"


@pytest.mark.parametrize("kind", sorted(FEEDS))
def test_a_repeated_cursor_stops_with_a_clear_error(sandbox, connect, kind):
    object_type, _, listing = FEEDS[kind]
    sandbox.admin.set_faults(kind, paging=[{"mode": "repeat", "path": listing}])
    with pytest.raises(EndlessPaging, match="same page cursor twice") as caught:
        _read_ids(connect(kind), object_type)
    assert str(caught.value).startswith(SYSTEMS[kind])


def test_zendesk_search_that_pages_without_end_stops(sandbox, connect):
    sandbox.admin.set_faults(
        "zendesk", paging=[{"mode": "endless", "path": "/api/v2/users/search"}]
    )
    with pytest.raises(EndlessPaging, match=r"Zendesk GET /api/v2/users/search.json: answered 50"):
        connect("zendesk").find("users", "email", ["someone@example.com"])


def test_hubspot_find_with_a_repeated_cursor_stops(sandbox, connect):
    sandbox.admin.set_faults(
        "hubspot", paging=[{"mode": "repeat", "path": "/crm/v3/objects/contacts/search"}]
    )
    connector = connect("hubspot")
    email = next(iter(connector.changes("contacts", None))).records[0].fields["email"]
    with pytest.raises(EndlessPaging, match="HubSpot POST /crm/v3/objects/contacts/search"):
        connector.find("contacts", "email", [email])


@pytest.mark.parametrize(
    ("kind", "drop", "field"),
    [
        ("hubspot", "results.id", "results[0].id"),
        ("zendesk", "organizations.id", "organizations[0].id"),
        ("jira", "issues.id", "issues[0].id"),
    ],
)
def test_a_record_without_its_id_names_system_call_and_field(sandbox, connect, kind, drop, field):
    object_type, feed, _ = FEEDS[kind]
    sandbox.admin.set_faults(kind, shape=[{"drop": drop, "path": feed}])
    with pytest.raises(UnexpectedAnswer) as caught:
        _read_changes(connect(kind), object_type)
    assert not isinstance(caught.value, EndlessPaging)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{SYSTEMS[kind]} ")
    assert f"has no '{field}'" in str(caught.value)


def test_a_field_of_the_wrong_type_is_named(sandbox, connect):
    sandbox.admin.set_faults("hubspot", shape=[{"drop": "results.id", "value": {"x": 1}}])
    with pytest.raises(UnexpectedAnswer, match=r"'results\[0\].id' is dict, expected text or a"):
        _read_ids(connect("hubspot"), "contacts")


# -- the memory connector ---------------------------------------------------------------------


@pytest.fixture
def memory() -> Iterator[MemoryConnector]:
    reset_stores()
    store = store_for("paging")
    store.define("items", [FieldSpec("name", "Name", FieldType.STRING)])
    for n in range(5):
        store.insert("items", {"name": f"item {n}"})
    connector = MemoryConnector(
        registry.parse_config(
            "memory", {"base_url": "memory://", "store": "paging", "page_size": 2}
        )
    )
    yield connector
    reset_stores()


@pytest.mark.parametrize("fault", ["endless", "repeat_cursor"])
def test_the_memory_connector_stops_a_feed_that_never_ends(memory, fault):
    memory.store.feed_faults.add(fault)
    with pytest.raises(EndlessPaging, match=r"^memory changes: "):
        _read_changes(memory, "items")


def test_the_interrupt_hook_is_called_on_every_page_and_may_stop_the_loop(memory):
    class Stop(Exception):
        pass

    calls: list[int] = []

    def interrupt() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Stop

    memory.interrupt = interrupt
    memory.store.feed_faults.add("endless")
    with pytest.raises(Stop):
        _read_changes(memory, "items")
    assert len(calls) == 2


def test_a_guard_counts_only_empty_pages_in_a_row() -> None:
    guard = PageGuard("S", "GET /x", max_empty=3)
    positions: Iterator[Any] = iter(range(100))
    for count in (0, 0, 1, 0, 0, 1):
        guard.page(count, next(positions))
    guard.page(0, next(positions))
    guard.page(0, next(positions))
    with pytest.raises(EndlessPaging, match="answered 3 empty pages"):
        guard.page(0, next(positions))

"""A side's connector: its errors come out as a SideFailure naming the side."""

from __future__ import annotations

import pytest

from apps.connections.services import connection_create, connection_fields, connector_for
from apps.syncs.engine.sides import SideConnector, SideFailure
from apps.syncs.engine.types import Side
from connectors.base import RecordUpdate
from connectors.errors import TransientError
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from tests.syncs import factories as f


class Broken:
    """Answers one page, then fails like a system that went away."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.asked: list[str] = []

    def changes(self, object_type, cursor):
        self.asked.append(object_type)
        yield "page 1"
        raise self.error

    def get(self, object_type, ids):
        self.asked.append(object_type)
        raise self.error


def test_a_failed_call_carries_its_side_and_the_original_error():
    error = TransientError("upstream 503", system="memory", call="get", status=503)
    connector = Broken(error)
    side = SideConnector(Side.B, connector, "users")

    with pytest.raises(SideFailure) as failure:
        side.get(["b1"])

    assert failure.value.side is Side.B
    assert failure.value.error is error
    assert connector.asked == ["users"]


def test_a_feed_that_fails_after_a_page_carries_its_side():
    error = TransientError("upstream 503", system="memory", call="changes", status=503)
    pages = SideConnector(Side.A, Broken(error), "contacts").changes(None)

    assert next(pages) == "page 1"
    with pytest.raises(SideFailure) as failure:
        next(pages)
    assert (failure.value.side, failure.value.error) == (Side.A, error)


def test_other_exceptions_pass_unchanged():
    with pytest.raises(ValueError, match="a bug"):
        SideConnector(Side.A, Broken(ValueError("a bug")), "contacts").get(["a1"])


@pytest.mark.django_db
def test_a_write_refused_over_a_field_forgets_the_discovered_fields(sandbox):
    hubspot = connection_create(
        workspace=f.workspace(),
        name="HubSpot",
        kind="hubspot",
        values={"base_url": sandbox.url_for("hubspot"), "access_token": SANDBOX_TOKEN},
        webhook_secret="sandbox-hubspot-app-client-secret",
    )

    def discoveries() -> int:
        endpoint = sandbox.admin.stats("hubspot")["endpoints"].get(
            "GET /hubspot/crm/v3/properties/{object_type}", {}
        )
        return endpoint.get("count", 0)

    connection_fields(hubspot, "contacts")
    connection_fields(hubspot, "contacts")
    assert discoveries() == 1  # the second came from the cache

    connector = connector_for(hubspot)
    contact = next(iter(connector.changes("contacts", None))).records[0]
    side = SideConnector(Side.A, connector, "contacts")
    [result] = side.update([RecordUpdate(contact.id, {"no_such_property": "x"})])
    assert result.error is not None
    assert "no_such_property" in result.error.fields

    connection_fields(hubspot, "contacts")
    assert discoveries() == 2  # the refusal dropped what was cached

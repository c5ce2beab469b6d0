"""The HubSpot sandbox's endpoints beyond what the connector calls (connectors/hubspot/
sandbox/), over HTTP: lists paged by links back to the sandbox, upsert, merge, GDPR delete,
reads by a unique property and of one property's definition."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors import registry
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

SECRET = "hubspot-client-secret"


def call(sandbox: Sandbox, method: str, path: str, body: Any = None, **params: Any):
    return requests.request(
        method,
        sandbox.url_for("hubspot") + path,
        json=body,
        params=params or None,
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        timeout=10,
    )


def new_contact(sandbox: Sandbox, **properties: str) -> dict[str, Any]:
    answer = call(sandbox, "POST", "/crm/v3/objects/contacts", {"properties": properties})
    assert answer.status_code == 201, answer.text
    return answer.json()


def merge(sandbox: Sandbox, primary: str, other: str) -> requests.Response:
    body = {"primaryObjectId": primary, "objectIdToMerge": other}
    return call(sandbox, "POST", "/crm/v3/objects/contacts/merge", body)


def upsert(sandbox: Sandbox, *inputs: dict[str, Any]) -> requests.Response:
    return call(sandbox, "POST", "/crm/v3/objects/contacts/batch/upsert", {"inputs": inputs})


@pytest.fixture
def hubspot(sandbox: Sandbox) -> HubSpotConnector:
    connector = registry.build(
        "hubspot", {"base_url": sandbox.url_for("hubspot"), "access_token": SANDBOX_TOKEN}
    )
    assert isinstance(connector, HubSpotConnector)
    yield connector
    connector.close()


def test_list_pages_follow_links_back_to_the_sandbox(sandbox: Sandbox):
    first = call(sandbox, "GET", "/crm/v3/objects/companies", limit=6, properties="name").json()
    link = first["paging"]["next"]["link"]
    assert link.startswith(sandbox.url_for("hubspot") + "/crm/v3/objects/companies?")

    names = [r["properties"]["name"] for r in first["results"]]
    while link:
        page = requests.get(link, headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"}, timeout=10)
        data = page.json()
        assert all(set(r["properties"]) >= {"name"} for r in data["results"])  # kept properties
        names.extend(r["properties"]["name"] for r in data["results"])
        link = data.get("paging", {}).get("next", {}).get("link")

    everything = call(sandbox, "GET", "/crm/v3/objects/companies", limit=100).json()["results"]
    assert len(names) == len(everything) == 15


def test_batch_upsert_by_email_updates_a_match_and_creates_the_rest(sandbox: Sandbox):
    existing = call(sandbox, "GET", "/crm/v3/objects/contacts", limit=1).json()["results"][0]
    email = existing["properties"]["email"]

    answer = upsert(
        sandbox,
        {"idProperty": "email", "id": email.upper(), "properties": {"jobtitle": "CFO"}},
        {
            "idProperty": "email",
            "id": "New.Person@Upsert.example",
            "properties": {"firstname": "N"},
        },
    )

    assert answer.status_code == 200
    results = {r["id"]: r for r in answer.json()["results"]}
    assert results[existing["id"]]["new"] is False
    assert results[existing["id"]]["properties"]["jobtitle"] == "CFO"
    [created] = [r for r in results.values() if r["new"]]
    assert created["properties"]["email"] == "new.person@upsert.example"
    by_email = call(
        sandbox, "GET", "/crm/v3/objects/contacts/new.person@upsert.example", idProperty="email"
    )
    assert by_email.json()["id"] == created["id"]

    not_unique = upsert(sandbox, {"idProperty": "firstname", "id": "Ada", "properties": {}})
    assert not_unique.status_code == 400
    assert not_unique.json()["category"] == "VALIDATION_ERROR"


def test_merge_keeps_the_primary_and_announces_both_ids(
    sandbox: Sandbox, hubspot: HubSpotConnector, webhook_receiver: WebhookReceiver
):
    primary = new_contact(sandbox, email="primary@merge.example", firstname="Prime")
    merged = new_contact(sandbox, email="second@merge.example", firstname="Second", jobtitle="CTO")
    sandbox.admin.register_webhook("hubspot", webhook_receiver.url, SECRET)

    answer = merge(sandbox, primary["id"], merged["id"])
    sandbox.admin.flush_webhooks()

    assert answer.status_code == 200
    assert answer.json()["id"] == primary["id"]
    path = f"/crm/v3/objects/contacts/{primary['id']}"
    kept = call(sandbox, "GET", path, properties="firstname,jobtitle").json()
    assert kept["properties"]["firstname"] == "Prime"  # the primary's value stays
    assert kept["properties"]["jobtitle"] == "CTO"  # a blank is filled from the merged one
    assert call(sandbox, "GET", f"/crm/v3/objects/contacts/{merged['id']}").status_code == 404
    [delivery] = webhook_receiver.requests
    events = hubspot.parse_webhook(delivery, SECRET).events
    assert {(e.record_id, e.action) for e in events} == {
        (merged["id"], "deleted"),
        (primary["id"], "updated"),
    }
    assert merge(sandbox, primary["id"], primary["id"]).status_code == 400


def test_gdpr_delete_leaves_nothing_not_even_an_archived_record(
    sandbox: Sandbox, hubspot: HubSpotConnector, webhook_receiver: WebhookReceiver
):
    contact = new_contact(sandbox, email="forget.me@gdpr.example")
    sandbox.admin.register_webhook("hubspot", webhook_receiver.url, SECRET)

    forget = {"objectId": "forget.me@gdpr.example", "idProperty": "email"}
    answer = call(sandbox, "POST", "/crm/v3/objects/contacts/gdpr-delete", forget)
    sandbox.admin.flush_webhooks()

    assert answer.status_code == 204
    assert call(sandbox, "GET", f"/crm/v3/objects/contacts/{contact['id']}").status_code == 404
    archived = call(sandbox, "GET", f"/crm/v3/objects/contacts/{contact['id']}", archived="true")
    assert archived.status_code == 404
    events = [e for d in webhook_receiver.requests for e in hubspot.parse_webhook(d, SECRET).events]
    assert {(e.record_id, e.action) for e in events} == {(contact["id"], "deleted")}
    again = call(
        sandbox, "POST", "/crm/v3/objects/contacts/gdpr-delete", {"objectId": contact["id"]}
    )
    assert again.status_code == 404


def test_one_property_is_read_by_name(sandbox: Sandbox):
    answer = call(sandbox, "GET", "/crm/v3/properties/contacts/lifecyclestage")
    assert answer.status_code == 200
    assert answer.json()["name"] == "lifecyclestage"
    assert "customer" in [o["value"] for o in answer.json()["options"]]
    missing = call(sandbox, "GET", "/crm/v3/properties/contacts/shoe_size")
    assert (missing.status_code, missing.json()["category"]) == (404, "OBJECT_NOT_FOUND")


def test_the_resumed_change_feed_answers_as_the_general_search(sandbox: Sandbox):
    """The fast path for "modified > x, or = x and not one of these ids" (the connector's
    resumed listing) gives the general search's records, order, totals and pages."""
    sandbox.admin.set_rate_limits("hubspot", False)
    inputs = [{"properties": {"email": f"tie{i}@feed.example"}} for i in range(6)]
    answer = call(sandbox, "POST", "/crm/v3/objects/contacts/batch/create", {"inputs": inputs})
    assert answer.status_code == 201, answer.text
    tied = answer.json()["results"]
    assert len({r["properties"]["lastmodifieddate"] for r in tied}) == 1  # one millisecond
    later = new_contact(sandbox, email="later@feed.example")
    since = str(tied[0]["properties"]["lastmodifieddate"])
    excluded = [tied[1]["id"], tied[4]["id"]]
    groups = [
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": since}]},
        {
            "filters": [
                {"propertyName": "lastmodifieddate", "operator": "EQ", "value": since},
                {"propertyName": "hs_object_id", "operator": "NOT_IN", "values": excluded},
            ]
        },
    ]
    # A group that matches nothing takes the search off the fast path.
    nothing = {"filters": [{"propertyName": "email", "operator": "EQ", "value": "no@body"}]}
    sorts = [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]

    def page(groups: list[Any], after: int) -> dict[str, Any]:
        body = {"filterGroups": groups, "sorts": sorts, "limit": 3, "after": after}
        answer = call(sandbox, "POST", "/crm/v3/objects/contacts/search", body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    for after in (0, 3):
        fast, general = page(groups, after), page([*groups, nothing], after)
        assert [r["id"] for r in fast["results"]] == [r["id"] for r in general["results"]]
        assert fast["total"] == general["total"] == 5
        assert fast.get("paging") == general.get("paging")
    listed = [r["id"] for after in (0, 3) for r in page(groups, after)["results"]]
    assert set(listed) == {r["id"] for r in tied} - set(excluded) | {later["id"]}
    assert listed[-1] == later["id"]

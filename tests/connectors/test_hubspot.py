"""HubSpot's hard parts, against its sandbox over HTTP: the 10,000 search cap, cursor
boundaries, batch splitting, 207 partial failures, normalisation and signature v3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from connectors import registry
from connectors.base import RecordUpdate, WebhookRequest
from connectors.errors import ConfigurationError, PermissionDenied, TransientError
from connectors.errors import WebhookVerificationError as Unverified
from connectors.http import TokenBucket
from connectors.hubspot import connector as hubspot_connector
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.sandbox import READONLY_TOKEN, SANDBOX_TOKEN
from connectors.hubspot.webhooks import sign_v3
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

SECRET = "hubspot-client-secret"


def make(sandbox: Sandbox, token: str = SANDBOX_TOKEN) -> HubSpotConnector:
    connector = registry.build(
        "hubspot", {"base_url": sandbox.url_for("hubspot"), "access_token": token}
    )
    assert isinstance(connector, HubSpotConnector)
    connector.http.backoff_base = 0.01
    return connector


@pytest.fixture
def hubspot(sandbox: Sandbox) -> Iterator[HubSpotConnector]:
    connector = make(sandbox)
    yield connector
    connector.close()


def calls(sandbox: Sandbox, endpoint_suffix: str) -> list[int]:
    """Statuses of the requests whose path ends with `endpoint_suffix`, in order."""
    return [
        r["status"]
        for r in sandbox.admin.stats("hubspot")["requests"]
        if r["path"].endswith(endpoint_suffix)
    ]


def raw(sandbox: Sandbox, method: str, path: str, body=None, token: str = SANDBOX_TOKEN):
    return requests.request(
        method,
        sandbox.url_for("hubspot") + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def contacts(n: int, tag: str = "c") -> list[dict]:
    return [{"email": f"{tag}{i}@batch.example", "firstname": f"N{i}"} for i in range(n)]


def read_ids(connector: HubSpotConnector, cursor=None) -> tuple[list[str], dict]:
    ids: list[str] = []
    last = cursor
    for page in connector.changes("contacts", cursor):
        ids.extend(r.id for r in page.records)
        last = page.cursor
    return ids, last


# -- the 10,000-result search cap ----------------------------------------------------------


def test_sandbox_refuses_to_page_past_10000_results(sandbox: Sandbox):
    sandbox.admin.seed(1, {"hubspot": {"contacts": 10_050}})
    sandbox.admin.set_rate_limits("hubspot", False)
    near = raw(sandbox, "POST", "/crm/v3/objects/contacts/search", {"limit": 100, "after": 9900})
    assert near.status_code == 200
    assert near.json()["total"] == 10_050
    assert "paging" not in near.json() or near.json()["paging"]["next"]["after"] == "10000"
    past = raw(sandbox, "POST", "/crm/v3/objects/contacts/search", {"limit": 100, "after": 10000})
    assert past.status_code == 400
    assert past.json()["category"] == "VALIDATION_ERROR"
    assert past.json()["status"] == "error"


def test_changes_read_more_than_10000_records_exactly_once(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    sandbox.admin.seed(1, {"hubspot": {"contacts": 10_050}})
    sandbox.admin.set_rate_limits("hubspot", False)
    hubspot.client.search_bucket = TokenBucket(10_000, 10_000)
    # From a cursor, as a read after a bulk import is: a first read lists instead (below).
    ids, cursor = read_ids(hubspot, {"since": 0, "ids": []})
    assert len(ids) == 10_050
    assert len(set(ids)) == 10_050
    statuses = calls(sandbox, "/contacts/search")
    assert set(statuses) == {200}
    assert len(statuses) <= 60  # ~200 per page: cost grows with the records, not more
    again, _ = read_ids(hubspot, cursor)
    assert again == []


# -- the first read: the list endpoint, then the change feed from before it began -----------


def listed_pages(sandbox: Sandbox) -> list[str]:
    return [
        r["path"]
        for r in sandbox.admin.stats("hubspot")["requests"]
        if r["path"].split("?")[0].endswith("/crm/v3/objects/contacts")
    ]


def test_a_first_read_lists_every_record_once_without_search_paging(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    sandbox.admin.seed(1, {"hubspot": {"contacts": 1_050}})
    sandbox.admin.set_rate_limits("hubspot", False)
    ids, cursor = read_ids(hubspot)
    assert len(ids) == len(set(ids)) == 1_050
    assert len(calls(sandbox, "/crm/v3/objects/contacts")) == 11  # 100 a page
    # One search: the change feed from just before the listing began finds nothing new
    # (the seeded records were modified long before) and gives the exact cursor.
    assert calls(sandbox, "/contacts/search") == [200]
    assert set(cursor) == {"since", "ids"}
    again, _ = read_ids(hubspot, cursor)
    assert again == []
    assert calls(sandbox, "/contacts/search") == [200, 200]


def test_a_listing_resumes_from_the_cursor_of_any_page(sandbox: Sandbox, hubspot: HubSpotConnector):
    sandbox.admin.seed(1, {"hubspot": {"contacts": 250}})
    sandbox.admin.set_rate_limits("hubspot", False)
    hubspot.page_size = 40
    pages = list(hubspot.changes("contacts", None))
    in_order = [r.id for page in pages for r in page.records]
    assert len(in_order) == len(set(in_order)) == 250
    for k, page in enumerate(pages[:-1]):
        # A run that stored pages 0..k and crashed resumes with exactly the rest.
        done = sum(len(p.records) for p in pages[: k + 1])
        rest, _ = read_ids(hubspot, page.cursor)
        assert rest == in_order[done:], k


def test_a_record_changed_after_it_was_listed_comes_back_with_its_change(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    sandbox.admin.seed(1, {"hubspot": {"contacts": 300}})
    sandbox.admin.set_rate_limits("hubspot", False)
    pages = hubspot.changes("contacts", None)
    first = next(pages)
    assert first.cursor.get("listing")
    changed = first.records[0].id
    hubspot.update("contacts", [RecordUpdate(changed, {"jobtitle": "Changed mid-listing"})])
    rest = [r for page in pages for r in page.records]
    assert rest[-1].id == changed
    assert rest[-1].fields["jobtitle"] == "Changed mid-listing"


def test_an_account_with_too_many_properties_for_a_url_reads_first_through_search(
    sandbox: Sandbox, hubspot: HubSpotConnector, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(hubspot_connector, "LIST_PROPERTIES_MAX_CHARS", 10)
    ids, _ = read_ids(hubspot)
    assert ids
    assert listed_pages(sandbox) == []
    assert calls(sandbox, "/contacts/search")


def test_a_damaged_listing_cursor_is_a_configuration_error(hubspot: HubSpotConnector):
    with pytest.raises(ConfigurationError, match="listing"):
        read_ids(hubspot, {"listing": {"after": "", "anchor": "yesterday"}})


def test_one_millisecond_larger_than_a_page_is_paged_inside_the_query(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    _, cursor = read_ids(hubspot)
    created = hubspot.create("contacts", contacts(60, "tie"))  # one batch: one millisecond
    new_ids = {r.record.id for r in created}
    assert len({r.record.modified_at for r in created}) == 1
    hubspot.page_size = 20
    ids, _ = read_ids(hubspot, cursor)
    assert sorted(ids) == sorted(new_ids)


def test_a_millisecond_larger_than_the_cap_is_read_by_leaving_out_what_was_read(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    _, cursor = read_ids(hubspot)
    created = [r.record.id for r in hubspot.create("contacts", contacts(60, "cap"))]
    sandbox.admin.configure("hubspot", search_cap=50)
    hubspot.page_size = 20
    hubspot.search_cap = 50
    ids, _ = read_ids(hubspot, cursor)
    assert sorted(ids) == sorted(created)


def test_more_records_in_one_millisecond_than_the_cap_raise_instead_of_skipping(
    sandbox: Sandbox, hubspot: HubSpotConnector, monkeypatch: pytest.MonkeyPatch
):
    # More records read at one millisecond than a NOT_IN filter takes: paged inside the
    # plain query, up to the cap.
    monkeypatch.setattr(hubspot_connector, "NOT_IN_MAX", 10)
    _, cursor = read_ids(hubspot)
    hubspot.create("contacts", contacts(60, "cap"))
    sandbox.admin.configure("hubspot", search_cap=50)
    hubspot.page_size = 20
    hubspot.search_cap = 50
    with pytest.raises(TransientError, match="share the modified time"):
        read_ids(hubspot, cursor)


def test_cursor_keeps_records_of_the_boundary_millisecond(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    _, cursor = read_ids(hubspot)
    created = [r.record.id for r in hubspot.create("contacts", contacts(5, "edge"))]
    hubspot.page_size = 2  # the 5 share one millisecond, so every page boundary splits it
    pages = list(hubspot.changes("contacts", cursor))
    in_order = [r.id for page in pages for r in page.records]
    assert sorted(in_order) == sorted(created)
    assert len(pages) >= 3
    for k, page in enumerate(pages):
        # A caller that stored pages 0..k and resumes from page k's cursor gets exactly
        # the rest: nothing of the shared millisecond is skipped or repeated.
        done = sum(len(p.records) for p in pages[: k + 1])
        rest, _ = read_ids(hubspot, page.cursor)
        assert rest == in_order[done:]


def test_a_listing_of_batch_written_records_reads_each_record_once(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    """Each batch create gives its 100 records one millisecond: a page ending inside a
    millisecond resumes after the records it read instead of reading them again."""
    sandbox.admin.set_rate_limits("hubspot", False)
    _, cursor = read_ids(hubspot)
    created = [r.record.id for r in hubspot.create("contacts", contacts(300, "once"))]
    before = len(calls(sandbox, "/contacts/search"))
    hubspot.page_size = 150  # every other page ends in the middle of a batch's millisecond
    ids, _ = read_ids(hubspot, cursor)
    assert sorted(ids) == sorted(created)
    assert len(calls(sandbox, "/contacts/search")) - before == 2


def test_a_record_updated_between_pages_is_neither_skipped_nor_lost(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    everything, _ = read_ids(hubspot)
    hubspot.page_size = 5
    pages = hubspot.changes("contacts", None)
    first = next(pages)
    hubspot.update("contacts", [RecordUpdate(first.records[0].id, {"jobtitle": "CTO"})])
    rest = [r for page in pages for r in page.records]
    seen = [r.id for r in first.records] + [r.id for r in rest]
    assert set(seen) == set(everything)
    assert rest[-1].id == first.records[0].id
    assert rest[-1].fields["jobtitle"] == "CTO"


# -- batches -------------------------------------------------------------------------------


def test_writes_are_split_into_batches_of_100(sandbox: Sandbox, hubspot: HubSpotConnector):
    sandbox.admin.set_rate_limits("hubspot", False)
    items = contacts(250, "split")
    created = hubspot.create("contacts", items)
    assert [r.record.fields["email"] for r in created] == [i["email"] for i in items]
    assert calls(sandbox, "/contacts/batch/create") == [201, 201, 201]
    ids = [r.record.id for r in created]
    updated = hubspot.update("contacts", [RecordUpdate(i, {"city": "Oslo"}) for i in ids[:150]])
    assert all(r.ok for r in updated)
    assert [r.record.id for r in updated] == ids[:150]
    assert calls(sandbox, "/contacts/batch/update") == [200, 200]
    assert len(hubspot.get("contacts", ids)) == 250
    assert calls(sandbox, "/contacts/batch/read") == [200, 200, 200]
    assert all(r.ok for r in hubspot.delete("contacts", ids))
    assert calls(sandbox, "/contacts/batch/archive") == [204, 204, 204]
    assert hubspot.get("contacts", ids) == []


def test_sandbox_refuses_batches_over_100(sandbox: Sandbox):
    answer = raw(
        sandbox,
        "POST",
        "/crm/v3/objects/contacts/batch/create",
        {"inputs": [{"properties": c} for c in contacts(101)]},
    )
    assert answer.status_code == 400
    assert "limit is 100" in answer.json()["message"]


def test_207_partial_failure_fails_only_the_bad_inputs(sandbox: Sandbox, hubspot: HubSpotConnector):
    taken = hubspot.create("contacts", [{"email": "taken@example.org"}])[0].record.id
    results = hubspot.create(
        "contacts",
        [
            {"email": "ok1@example.org"},
            {"email": "broken"},
            {"email": "ok2@example.org", "lifecyclestage": "not-a-stage"},
            {"email": "TAKEN@example.org"},
            {"email": "ok3@example.org", "nps_score": 9},
        ],
    )
    assert [r.ok for r in results] == [True, False, False, False, True]
    assert results[0].record.fields["email"] == "ok1@example.org"
    assert results[4].record.fields["email"] == "ok3@example.org"
    assert results[4].record.fields["nps_score"] == 9
    assert results[1].error.fields == {"email": "Email address broken is invalid"}
    assert set(results[2].error.fields) == {"lifecyclestage"}
    assert f"Existing ID: {taken}" in results[3].error.message
    assert all(r.error.status == 207 for r in results[1:4])
    assert calls(sandbox, "/contacts/batch/create") == [201, 207]


def test_207_names_missing_ids_on_update(sandbox: Sandbox, hubspot: HubSpotConnector):
    existing = hubspot.create("contacts", [{"email": "here@example.org"}])[0].record.id
    results = hubspot.update(
        "contacts",
        [
            RecordUpdate("99999999", {"firstname": "Ghost"}),
            RecordUpdate(existing, {"firstname": "Here"}),
        ],
    )
    assert not results[0].ok
    assert results[0].error.record_id == "99999999"
    assert "OBJECT_NOT_FOUND" in results[0].error.message
    assert results[1].ok
    assert results[1].record.fields["firstname"] == "Here"


def test_whole_batch_refusal_is_retried_one_by_one(sandbox: Sandbox, hubspot: HubSpotConnector):
    hubspot.fields("contacts")
    sandbox.admin.queue_fault("hubspot", status=400, path="/crm/v3/objects/contacts/batch/create")
    results = hubspot.create("contacts", contacts(3, "solo"))
    assert all(r.ok for r in results)
    assert calls(sandbox, "/contacts/batch/create") == [400, 201, 201, 201]


def test_duplicate_ids_in_one_update_go_to_separate_batches(
    sandbox: Sandbox, hubspot: HubSpotConnector
):
    record_id = hubspot.create("contacts", [{"email": "twice@example.org"}])[0].record.id
    results = hubspot.update(
        "contacts",
        [RecordUpdate(record_id, {"firstname": "One"}), RecordUpdate(record_id, {"city": "Lyon"})],
    )
    assert all(r.ok for r in results)
    stored = hubspot.get("contacts", [record_id])[0]
    assert (stored.fields["firstname"], stored.fields["city"]) == ("One", "Lyon")


def test_values_are_normalised_like_hubspot(hubspot: HubSpotConnector):
    created = hubspot.create(
        "contacts",
        [
            {
                "email": "  Mixed.Case@Example.ORG ",
                "nps_score": 7.0,
                "vip": True,
                "preferred_channels": ["email", "chat"],
                "renewal_date": "2027-03-01",
            }
        ],
    )[0].record
    stored = hubspot.get("contacts", [created.id])[0].fields
    assert stored["email"] == "mixed.case@example.org"
    assert stored["nps_score"] == 7
    assert stored["vip"] is True
    assert stored["preferred_channels"] == ["email", "chat"]
    assert stored["renewal_date"] == "2027-03-01"
    found = hubspot.find("contacts", "email", ["MIXED.case@example.org"])
    assert [r.id for r in found] == [created.id]


def test_field_discovery_maps_types_options_and_custom_properties(hubspot: HubSpotConnector):
    specs = {s.name: s for s in hubspot.fields("contacts")}
    assert specs["email"].type.value == "email"
    assert specs["lifecyclestage"].type.value == "enum"
    assert "customer" in specs["lifecyclestage"].option_values()
    assert specs["preferred_channels"].type.value == "multi_enum"
    assert specs["preferred_channels"].custom
    assert specs["vip"].type.value == "boolean"
    assert specs["lastmodifieddate"].writable is False
    deal_specs = {s.name: s for s in hubspot.fields("deals")}
    assert deal_specs["dealname"].required
    assert deal_specs["amount"].type.value == "number"


def test_read_only_token_cannot_write(sandbox: Sandbox):
    connector = make(sandbox, READONLY_TOKEN)
    connector.check()
    with pytest.raises(PermissionDenied, match="answered 403"):
        connector.create("contacts", contacts(1))


def test_unknown_object_type_is_a_configuration_error(hubspot: HubSpotConnector):
    with pytest.raises(ConfigurationError, match="no object type 'widgets'"):
        hubspot.fields("widgets")


def test_burst_and_search_limits_are_emulated(sandbox: Sandbox):
    searches = [
        raw(sandbox, "POST", "/crm/v3/objects/contacts/search", {"limit": 1}).status_code
        for _ in range(6)
    ]
    assert searches[:5] == [200] * 5
    assert searches[5] == 429
    limited = raw(sandbox, "POST", "/crm/v3/objects/contacts/search", {"limit": 1})
    assert limited.json()["policyName"] == "SECONDLY"
    assert int(limited.headers["Retry-After"]) >= 1
    statuses = [raw(sandbox, "GET", "/crm/v3/properties/contacts").status_code for _ in range(95)]
    assert statuses.count(429) == 2  # 7 searches + 93 reads fill the 100 per 10 s
    assert statuses[-1] == 429


# -- signature v3 --------------------------------------------------------------------------


@pytest.fixture
def delivered(
    sandbox: Sandbox, hubspot: HubSpotConnector, webhook_receiver: WebhookReceiver
) -> tuple[list[WebhookRequest], list[str]]:
    """Deliveries the sandbox sent for a create, an update of two properties and a delete."""
    webhook_receiver.url += "?portal=14000001&tag=a%3Ab"
    sandbox.admin.register_webhook("hubspot", webhook_receiver.url, SECRET)
    created = hubspot.create("contacts", [{"email": "hook@example.org"}])[0].record.id
    sandbox.admin.flush_webhooks()
    hubspot.update("contacts", [RecordUpdate(created, {"firstname": "A", "city": "Pune"})])
    sandbox.admin.flush_webhooks()
    hubspot.delete("contacts", [created])
    sandbox.admin.flush_webhooks()
    return list(webhook_receiver.requests), [created]


def test_deliveries_parse_into_creation_property_change_and_deletion(
    hubspot: HubSpotConnector, delivered
):
    requests_, (record_id,) = delivered
    assert len(requests_) == 3
    parsed = [hubspot.parse_webhook(r, SECRET) for r in requests_]
    actions = [[(e.object_type, e.record_id, e.action) for e in p.events] for p in parsed]
    assert actions == [
        [("contacts", record_id, "created")],
        [("contacts", record_id, "updated"), ("contacts", record_id, "updated")],
        [("contacts", record_id, "deleted")],
    ]
    assert len({p.delivery_id for p in parsed}) == 3
    body = json.loads(requests_[1].body)
    assert {e["propertyName"] for e in body} == {"firstname", "city"}
    assert body[0]["eventId"] != body[1]["eventId"]


def test_query_string_with_encoded_characters_is_part_of_the_signed_uri(
    hubspot: HubSpotConnector, delivered
):
    request = delivered[0][0]
    assert "a%3Ab" in request.url
    hubspot.parse_webhook(request, SECRET)
    moved = replace(request, url=request.url.replace("tag=a%3Ab", "tag=other"))
    with pytest.raises(Unverified, match="mismatch"):
        hubspot.parse_webhook(moved, SECRET)


def test_replay_window_is_five_minutes(hubspot: HubSpotConnector, delivered):
    request = delivered[0][0]
    stamp = int(request.header("X-HubSpot-Request-Timestamp")) / 1000
    hubspot.parse_webhook(request, SECRET, now=stamp + 299)
    with pytest.raises(Unverified, match="stale"):
        hubspot.parse_webhook(request, SECRET, now=stamp + 301)
    with pytest.raises(Unverified, match="future"):
        hubspot.parse_webhook(request, SECRET, now=stamp - 301)


def test_signature_edge_cases_are_refused(hubspot: HubSpotConnector, delivered):
    request = delivered[0][0]
    headers = dict(request.headers)
    with pytest.raises(Unverified, match="mismatch"):
        hubspot.parse_webhook(replace(request, method="PUT"), SECRET)
    legacy_only = {k: v for k, v in headers.items() if k.lower() != "x-hubspot-signature-v3"}
    assert any(k.lower() == "x-hubspot-signature" for k in legacy_only)
    with pytest.raises(Unverified, match="unsigned"):
        hubspot.parse_webhook(replace(request, headers=legacy_only), SECRET)
    garbled = {**legacy_only, "X-HubSpot-Signature-v3": "%%% not base64 %%%"}
    with pytest.raises(Unverified, match="not base64"):
        hubspot.parse_webhook(replace(request, headers=garbled), SECRET)
    bad_stamp = {**headers}
    for key in list(bad_stamp):
        if key.lower() == "x-hubspot-request-timestamp":
            bad_stamp[key] = "yesterday"
    with pytest.raises(Unverified, match="not a number"):
        hubspot.parse_webhook(replace(request, headers=bad_stamp), SECRET)
    with pytest.raises(Unverified, match="no HubSpot client secret"):
        hubspot.parse_webhook(request, "")
    lower = {k.lower(): v for k, v in headers.items()}
    assert hubspot.parse_webhook(replace(request, headers=lower), SECRET).events


def _signed(body: bytes, url: str = "https://concord.example/hooks/7/") -> WebhookRequest:
    stamp = str(int(time.time() * 1000))
    return WebhookRequest(
        "POST",
        url,
        {
            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body, stamp),
            "X-HubSpot-Request-Timestamp": stamp,
        },
        body,
    )


def test_generic_merge_and_unknown_events(hubspot: HubSpotConnector):
    events = [
        {"eventId": 1, "subscriptionType": "object.creation", "objectTypeId": "0-5",
         "objectId": 77, "occurredAt": 1_700_000_000_000},
        {"eventId": 2, "subscriptionType": "contact.merge", "primaryObjectId": 5,
         "mergedObjectIds": [6, 8], "objectId": 5},
        {"eventId": 3, "subscriptionType": "contact.associationChange", "objectId": 5},
        {"eventId": 4, "subscriptionType": "line_item.creation", "objectId": 9},
        {"eventId": 5, "subscriptionType": "company.privacyDeletion", "objectId": 3},
    ]  # fmt: skip
    result = hubspot.parse_webhook(_signed(json.dumps(events).encode()), SECRET)
    assert [(e.object_type, e.record_id, e.action) for e in result.events] == [
        ("tickets", "77", "created"),
        ("contacts", "6", "deleted"),
        ("contacts", "8", "deleted"),
        ("contacts", "5", "updated"),
        ("companies", "3", "deleted"),
    ]
    assert result.events[0].occurred_at.year == 2023
    same_events_again = hubspot.parse_webhook(_signed(json.dumps(events[::-1]).encode()), SECRET)
    assert same_events_again.delivery_id == result.delivery_id
    single = hubspot.parse_webhook(_signed(json.dumps(events[:1]).encode()), SECRET)
    assert single.delivery_id == "1"


def test_non_utf8_or_non_array_bodies_are_refused(hubspot: HubSpotConnector):
    not_utf8 = replace(_signed(b"[]"), body=b"\xff\xfe")
    with pytest.raises(Unverified, match="not UTF-8"):
        hubspot.parse_webhook(not_utf8, SECRET)
    with pytest.raises(Unverified, match="array"):
        hubspot.parse_webhook(_signed(b'{"eventId": 1}'), SECRET)


def test_duplicated_delivery_keeps_its_delivery_id(
    sandbox: Sandbox, hubspot: HubSpotConnector, webhook_receiver: WebhookReceiver
):
    sandbox.admin.register_webhook("hubspot", webhook_receiver.url, SECRET)
    sandbox.admin.set_faults("hubspot", webhook_duplicate_share=1.0)
    hubspot.create("contacts", [{"email": "dup@example.org"}])
    sandbox.admin.flush_webhooks()
    ids = [hubspot.parse_webhook(r, SECRET).delivery_id for r in webhook_receiver.requests]
    assert len(ids) == 2
    assert ids[0] == ids[1]

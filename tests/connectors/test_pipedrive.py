"""Pipedrive: the hard parts, over real HTTP against the sandbox.

Every test that talks to the sandbox goes through the `pipedrive_traffic` recorder, whose
teardown validates each request the connector sent and each answer the sandbox gave
against Pipedrive's OpenAPI descriptions, v1 and v2 (tests/connectors/pipedrive_openapi.py,
with its listed corrections). The shared contract suite runs the same way in a child
pytest (the last test here).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from connectors import registry
from connectors.base import FieldType, RecordUpdate, WebhookRequest
from connectors.errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDenied,
    RateLimited,
    WebhookVerificationError,
)
from connectors.pipedrive import sandbox as pipedrive_sandbox
from connectors.pipedrive.connector import PipedriveConnector
from connectors.pipedrive.sandbox.schema import (
    ADMIN_TOKEN,
    INDUSTRY,
    INTERESTS,
    NPS,
    REGULAR_TOKEN,
    RENEWAL,
    SUPPORT_NOTES,
    TIER,
)
from tests.connectors.contract_run import contract_run
from tests.connectors.pipedrive_openapi import PIPEDRIVE_V1, PIPEDRIVE_V2, PipedriveTraffic
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

CASE = pipedrive_sandbox.contract()
SECRET = "pipedrive-webhook-password-0123456789"
ROSA = "rosa.costa@concord-sandbox.example"


def build(sandbox: Sandbox, token: str = ADMIN_TOKEN) -> PipedriveConnector:
    connector = registry.build(
        "pipedrive", {"base_url": sandbox.url_for("pipedrive"), "api_token": token}
    )
    assert isinstance(connector, PipedriveConnector)
    connector.http.backoff_base = 0.01
    return connector


@pytest.fixture
def pipedrive(
    sandbox: Sandbox, pipedrive_traffic: PipedriveTraffic
) -> Iterator[PipedriveConnector]:
    connector = build(sandbox)
    yield connector
    connector.close()


def raw(sandbox: Sandbox, method: str, path: str, **kwargs) -> requests.Response:
    """A call to the sandbox as any Pipedrive client would make it (recorded too)."""
    return requests.request(
        method,
        f"{sandbox.url_for('pipedrive')}{path}",
        headers={"x-api-token": ADMIN_TOKEN},
        timeout=10,
        **kwargs,
    )


def calls(traffic: PipedriveTraffic, method: str, fragment: str) -> list:
    return [e for e in traffic.exchanges if e.method == method and fragment in e.path]


# -- discovery ----------------------------------------------------------------------------------


def test_field_discovery_names_custom_fields_by_hash_with_their_labels(
    pipedrive: PipedriveConnector,
):
    specs = {s.name: s for s in pipedrive.fields("persons")}
    notes = specs[SUPPORT_NOTES]
    assert (notes.label, notes.type, notes.custom, notes.writable) == (
        "Notes for support", FieldType.TEXT, True, True,
    )  # fmt: skip
    assert len(SUPPORT_NOTES) == 40
    assert [(o.value, o.label) for o in specs[TIER].options] == [
        ("31", "Gold"), ("32", "Silver"), ("33", "Bronze"),
    ]  # fmt: skip
    assert specs[INTERESTS].type is FieldType.MULTI_ENUM
    assert (specs["email"].type, specs["owner_id"].type) == (FieldType.EMAIL, FieldType.USER)
    assert specs["org_id"].reference_to == "organizations"
    assert specs["label_ids"].option_values() == ["1", "2", "3", "4"]
    assert specs["name"].required
    assert not specs["update_time"].writable
    assert "visible_to" not in specs  # a field Concord does not sync is left out
    orgs = {s.name: s for s in pipedrive.fields("organizations")}
    assert orgs[INDUSTRY].label == "Industry"
    assert "email" not in orgs


def test_check_with_a_bad_token_is_one_401_with_a_clear_message(
    sandbox: Sandbox, pipedrive_traffic: PipedriveTraffic
):
    connector = build(sandbox, "pd-not-a-token")
    with pytest.raises(AuthenticationError) as caught:
        connector.check()
    assert caught.value.status == 401
    assert "Pipedrive GET /v1/users/me answered 401" in str(caught.value)
    assert "unauthorized access" in str(caught.value)
    assert [e.status for e in pipedrive_traffic.exchanges] == [401]
    assert pipedrive_traffic.exchanges[0].request_headers["x-api-token"] == "pd-not-a-token"
    assert "api_token" not in pipedrive_traffic.exchanges[0].query  # never in the URL


def test_a_user_without_edit_permission_reads_but_a_write_is_fatal(
    sandbox: Sandbox, pipedrive_traffic: PipedriveTraffic
):
    pipedrive_traffic.expected_undocumented = {403}
    connector = build(sandbox, REGULAR_TOKEN)
    connector.check()
    with pytest.raises(PermissionDenied) as caught:
        connector.create("persons", [{"name": "Not Allowed"}])
    assert "permission" in str(caught.value)
    assert connector.get("persons", ["1"])[0].id == "1"


# -- emails, phones, owner, labels, custom fields ---------------------------------------------


def test_the_primary_email_is_the_field_and_writes_keep_the_other_entries(
    pipedrive: PipedriveConnector, sandbox: Sandbox
):
    created = pipedrive.create("persons", [{"name": "Ada Lists", "email": "ada@one.example"}])
    person_id = created[0].record.id
    answer = raw(
        sandbox, "PATCH", f"/api/v2/persons/{person_id}",
        json={"emails": [
            {"value": "ada@one.example", "primary": True, "label": "work"},
            {"value": "ada@home.example", "primary": False, "label": "home"},
        ]},
    )  # fmt: skip
    assert answer.status_code == 200

    updated = pipedrive.update("persons", [RecordUpdate(person_id, {"email": "ada@two.example"})])
    assert updated[0].record.fields["email"] == "ada@two.example"
    stored = raw(sandbox, "GET", f"/api/v2/persons/{person_id}").json()["data"]["emails"]
    assert stored == [
        {"value": "ada@two.example", "primary": True, "label": "work"},
        {"value": "ada@home.example", "primary": False, "label": "home"},
    ]
    # A value already on the list becomes the primary; the old primary stays.
    pipedrive.update("persons", [RecordUpdate(person_id, {"email": "ADA@home.example"})])
    stored = raw(sandbox, "GET", f"/api/v2/persons/{person_id}").json()["data"]["emails"]
    assert [(e["value"], e["primary"]) for e in stored] == [
        ("ada@two.example", False), ("ada@home.example", True),
    ]  # fmt: skip
    # None removes the primary entry; the next one becomes primary.
    result = pipedrive.update("persons", [RecordUpdate(person_id, {"email": None})])
    assert result[0].record.fields["email"] == "ada@two.example"


def test_owner_is_synced_by_email_and_custom_values_round_trip(
    pipedrive: PipedriveConnector, pipedrive_traffic: PipedriveTraffic
):
    values = {
        "name": "Grace Fields",
        "phone": "+49 30 1234",
        "owner_id": ROSA.upper(),
        "label_ids": ["2", "1"],
        TIER: "32",
        INTERESTS: ["43", "41"],
        NPS: 9,
        RENEWAL: "2027-03-01",
    }
    result = pipedrive.create("persons", [values])
    assert result[0].ok, result[0].error
    record = pipedrive.get("persons", [result[0].record.id])[0]
    assert record.fields["owner_id"] == ROSA
    assert record.fields["phone"] == "+49 30 1234"
    assert record.fields["label_ids"] == ["2", "1"]
    assert (record.fields[TIER], record.fields[INTERESTS]) == ("32", ["41", "43"])
    assert (record.fields[NPS], record.fields[RENEWAL]) == (9, "2027-03-01")
    posted = json.loads(calls(pipedrive_traffic, "POST", "/persons")[-1].request_body)
    assert posted["owner_id"] == 18_002
    assert posted["custom_fields"][TIER] == 32

    refused = pipedrive.create(
        "persons",
        [{"name": "A", "owner_id": "nobody@example.org"}, {"name": "B", TIER: "99"}],
    )
    assert [r.ok for r in refused] == [False, False]
    assert "no Pipedrive user has the email" in str(refused[0].error)
    assert "not one of its options" in str(refused[1].error)
    assert len(calls(pipedrive_traffic, "POST", "/persons")) == 1  # refused before sending


def test_a_value_pipedrive_refuses_fails_that_record_alone(
    pipedrive: PipedriveConnector, pipedrive_traffic: PipedriveTraffic
):
    pipedrive_traffic.expected_undocumented = {404}
    results = pipedrive.update(
        "persons",
        [RecordUpdate("1", {"name": "Fine"}), RecordUpdate("2", {"name": "   "}),
         RecordUpdate("999999", {"name": "Gone"})],
    )  # fmt: skip
    assert [r.ok for r in results] == [True, False, False]
    assert "name must not be empty" in str(results[1].error)
    assert results[2].error.status == 404
    assert "no longer exists" in str(results[2].error)


# -- changes ------------------------------------------------------------------------------------


def test_a_change_within_the_cursors_second_is_not_lost(
    pipedrive: PipedriveConnector, sandbox: Sandbox
):
    created = pipedrive.create("persons", [{"name": "Same Second"}])
    person_id = created[0].record.id
    _, cursor = _read(pipedrive, None)
    assert cursor["seen"].get(person_id), cursor
    # Back in time: the update lands in the second the cursor stopped at.
    sandbox.admin.advance_clock(-5)
    pipedrive.update("persons", [RecordUpdate(person_id, {"name": "Same Second Again"})])
    sandbox.admin.advance_clock(5)
    later, cursor2 = _read(pipedrive, cursor)
    assert [(r.id, r.fields["name"]) for r in later] == [(person_id, "Same Second Again")]
    assert cursor2["since"] == cursor["since"]
    assert _read(pipedrive, cursor2)[0] == []


def test_changes_page_with_the_cursor_and_ask_updated_since(
    pipedrive: PipedriveConnector, pipedrive_traffic: PipedriveTraffic
):
    pipedrive.page_size = 5
    everything, cursor = _read(pipedrive, None)
    assert len({r.id for r in everything}) == 40
    listings = calls(pipedrive_traffic, "GET", "/persons")
    assert len(listings) == 8  # 40 seeded persons, 5 a page
    assert "cursor=" in listings[1].query
    assert "updated_since" not in listings[0].query
    pipedrive.update("persons", [RecordUpdate("3", {"name": "Moved On"})])
    later, _ = _read(pipedrive, cursor)
    assert [r.id for r in later] == ["3"]
    assert "updated_since=" in calls(pipedrive_traffic, "GET", "/persons")[-1].query


def _read(connector: PipedriveConnector, cursor):
    records, last = [], cursor
    for page in connector.changes("persons", cursor):
        records.extend(page.records)
        last = page.cursor
    return records, last


# -- deletes ----------------------------------------------------------------------------------


def test_a_deleted_person_leaves_the_listing_and_a_webhook_announces_it(
    pipedrive: PipedriveConnector,
    sandbox: Sandbox,
    webhook_receiver: WebhookReceiver,
    pipedrive_traffic: PipedriveTraffic,
):
    pipedrive_traffic.expected_undocumented = {404}
    _, cursor = _read(pipedrive, None)
    sandbox.admin.register_webhook("pipedrive", webhook_receiver.url, SECRET)
    assert pipedrive.delete("persons", ["4"])[0].ok
    sandbox.admin.flush_webhooks()

    assert pipedrive.get("persons", ["4"]) == []
    assert raw(sandbox, "GET", "/api/v2/persons/4").status_code == 404
    assert "4" not in {i for page in pipedrive.list_ids("persons") for i in page}
    assert _read(pipedrive, cursor)[0] == []  # the v2 listing does not show deletions
    assert pipedrive.delete("persons", ["4"])[0].ok  # gone already: 404, counted as deleted

    [delivery] = webhook_receiver.requests
    body = json.loads(delivery.body)
    assert (body["meta"]["action"], body["data"], body["previous"]["id"]) == ("delete", None, 4)
    result = pipedrive.parse_webhook(delivery, SECRET)
    assert [(e.object_type, e.record_id, e.action) for e in result.events] == [
        ("persons", "4", "deleted")
    ]
    assert result.delivery_id == body["meta"]["id"]


# -- webhooks -----------------------------------------------------------------------------------


def test_webhooks_are_verified_by_their_basic_credentials_only(
    pipedrive: PipedriveConnector, sandbox: Sandbox, webhook_receiver: WebhookReceiver
):
    sandbox.admin.register_webhook("pipedrive", webhook_receiver.url, SECRET)
    pipedrive.update("organizations", [RecordUpdate("2", {"name": "Renamed Org"})])
    sandbox.admin.flush_webhooks()
    [delivery] = webhook_receiver.requests
    result = pipedrive.parse_webhook(delivery, SECRET)
    assert [(e.object_type, e.record_id, e.action) for e in result.events] == [
        ("organizations", "2", "updated")
    ]
    assert result.events[0].occurred_at is not None

    def with_auth(value: str | None) -> WebhookRequest:
        headers = {k: v for k, v in delivery.headers.items() if k.lower() != "authorization"}
        if value is not None:
            headers["Authorization"] = value
        return replace(delivery, headers=headers)

    def basic(text: str) -> str:
        return "Basic " + base64.b64encode(text.encode()).decode()

    for refused in (
        with_auth(None),
        with_auth(basic(f"someone:{SECRET}")),
        with_auth(basic("concord:guess")),
        with_auth(basic(f"concord{SECRET}")),
        with_auth("Basic %%%"),
        with_auth(f"Bearer {SECRET}"),
    ):
        with pytest.raises(WebhookVerificationError):
            pipedrive.parse_webhook(refused, SECRET)
    with pytest.raises(WebhookVerificationError):
        pipedrive.parse_webhook(delivery, "")
    # A verified body of another format or entity names nothing, and is not an error.
    v1 = replace(delivery, body=b'{"meta": {"v": 1, "action": "updated", "object": "person"}}')
    assert pipedrive.parse_webhook(v1, SECRET).events == []
    deal = json.loads(delivery.body)
    deal["meta"]["entity"] = "deal"
    other = replace(delivery, body=json.dumps(deal).encode())
    assert pipedrive.parse_webhook(other, SECRET).events == []


# -- find -------------------------------------------------------------------------------------


def test_find_by_email_uses_exact_search_and_keeps_exact_matches(
    pipedrive: PipedriveConnector, pipedrive_traffic: PipedriveTraffic
):
    target = pipedrive.get("persons", ["5"])[0]
    found = pipedrive.find("persons", "email", [target.fields["email"].upper(), "no@example.org"])
    assert [r.id for r in found] == ["5"]
    searches = calls(pipedrive_traffic, "GET", "/persons/search")
    assert all("exact_match=true" in e.query and "fields=email" in e.query for e in searches)
    with pytest.raises(ConfigurationError, match="cannot search persons by Owner"):
        pipedrive.find("persons", "owner_id", [ROSA])


# -- rate limits ------------------------------------------------------------------------------


def test_429_waits_for_x_ratelimit_reset_or_says_how_long(
    pipedrive: PipedriveConnector, sandbox: Sandbox, pipedrive_traffic: PipedriveTraffic
):
    pipedrive_traffic.expected_undocumented = {429}
    sandbox.admin.queue_fault("pipedrive", status=429, retry_after=1, path="/api/v2/persons")
    pipedrive.get("persons", ["1"])
    listed = calls(pipedrive_traffic, "GET", "/persons")
    assert [e.status for e in listed] == [429, 200]
    assert listed[0].response_headers["x-ratelimit-reset"] == "1"
    assert "retry-after" not in listed[0].response_headers
    seen = [r for r in sandbox.admin.stats("pipedrive")["requests"] if "/persons" in r["path"]]
    assert seen[1]["t"] - seen[0]["t"] >= 1.0

    sandbox.admin.queue_fault("pipedrive", status=429, retry_after=30, path="/api/v2/persons")
    pipedrive.http.max_elapsed = 5
    with pytest.raises(RateLimited) as caught:
        pipedrive.get("persons", ["1"])
    assert caught.value.retry_after == 30


# -- configuration -----------------------------------------------------------------------------


def test_config_is_validated_and_the_token_is_secret():
    config = registry.parse_config(
        "pipedrive",
        {"base_url": "https://acme.pipedrive.com/api/v2/", "api_token": "t0ken",
         "company_domain": "Acme.pipedrive.com"},
    )  # fmt: skip
    assert (config.base_url, config.company_domain) == ("https://acme.pipedrive.com", "acme")
    assert "t0ken" not in repr(config)
    schema = registry.config_schema("pipedrive")
    assert schema["properties"]["api_token"]["secret"] is True
    assert schema["required"] == ["api_token"]
    with pytest.raises(ConfigurationError, match=r"base_url.*api_token.*webhook_user"):
        registry.parse_config(
            "pipedrive", {"base_url": "acme", "api_token": " ", "webhook_user": "a:b"}
        )
    connector = registry.build("pipedrive", {"api_token": "t", "company_domain": "acme"})
    assert connector.record_url("persons", "12") == "https://acme.pipedrive.com/person/12"
    assert connector.record_url("organizations", "3") == "https://acme.pipedrive.com/organization/3"


# -- the contract run, validated against the descriptions ---------------------------------------


@PIPEDRIVE_V1.needed()
@PIPEDRIVE_V2.needed()
def test_contract_run_traffic_validates_against_the_openapi_descriptions(tmp_path: Path) -> None:
    """Run the shared contract suite for Pipedrive with every exchange recorded and
    validated against the v1 and v2 descriptions."""
    report = tmp_path / "pipedrive-traffic.json"
    data = contract_run(
        "pipedrive",
        plugin="tests.connectors.pipedrive_openapi_plugin",
        report=report,
        env={"PIPEDRIVE_TRAFFIC_REPORT": str(report)},
    )
    v1, v2 = data[PIPEDRIVE_V1.name], data[PIPEDRIVE_V2.name]
    assert v1["problems"] == []
    assert v2["problems"] == []
    assert v1["exchanges"] >= 10
    assert v2["exchanges"] >= 40
    assert set(v2["operations"]) >= {
        "GET /personFields", "GET /persons", "POST /persons", "PATCH /persons/{id}",
        "DELETE /persons/{id}",
    }  # fmt: skip
    # Undocumented statuses may only be the faults the suite provokes on purpose.
    statuses = {key.rsplit(" ", 1)[1] for entry in (v1, v2) for key in entry["undocumented"]}
    assert statuses <= {"404", "422", "429", "502"}, statuses

"""Zendesk: the parts the shared contract suite does not reach, against the sandbox over HTTP.

The cursor stream across pages and end_of_stream, the export lag, the 10-a-minute export
limit, job-status results per record, deleted tickets, custom fields in both directions,
configuration errors and the webhook signature's edge cases.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests

from connectors import registry
from connectors.base import FieldType, RecordUpdate, WebhookRequest
from connectors.errors import (
    AuthenticationError,
    ConfigurationError,
    OutcomeUnknown,
    RateLimited,
    WebhookVerificationError,
)
from connectors.zendesk import webhooks
from connectors.zendesk.connector import ZendeskConnector
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN, OAUTH_TOKEN
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
EXPORT = "/zendesk/api/v2/incremental/tickets/cursor.json"


def seed(sandbox: Sandbox, **counts: int) -> None:
    sandbox.admin.seed(1, {"zendesk": {"tickets": 25, "users": 8, "organizations": 3, **counts}})


def connect(sandbox: Sandbox, **kwargs: Any) -> ZendeskConnector:
    http_options = {"job_poll_interval": 0.01, **kwargs.pop("http_options", {})}
    config = {"base_url": sandbox.url_for("zendesk"), "email": ADMIN_EMAIL, "api_token": API_TOKEN}
    connector = registry.build("zendesk", config, http_options=http_options, **kwargs)
    assert isinstance(connector, ZendeskConnector)
    return connector


def raw_get(sandbox: Sandbox, path: str, **params: Any) -> requests.Response:
    return requests.get(
        sandbox.url + path,
        params=params,
        auth=(f"{ADMIN_EMAIL}/token", API_TOKEN),
        timeout=10,
    )


def endpoint_statuses(sandbox: Sandbox, endpoint: str) -> dict[str, int]:
    return sandbox.admin.stats("zendesk")["endpoints"].get(endpoint, {}).get("statuses", {})


def all_ids(pages: list[Any]) -> list[str]:
    return [r.id for page in pages for r in page.records]


# -- the cursor stream -----------------------------------------------------------------------


def test_cursor_export_pages_until_end_of_stream_and_resumes_after_cursor(
    sandbox: Sandbox,
) -> None:
    seed(sandbox)
    zendesk = connect(sandbox, page_size=10)

    pages = list(zendesk.changes("tickets", None))

    assert [len(p.records) for p in pages] == [10, 10, 5]
    assert [p.has_more for p in pages] == [True, True, False]
    assert sorted(all_ids(pages), key=int) == [str(n) for n in range(1, 26)]
    # Oldest change first: modification times never go backwards along the stream.
    times = [r.modified_at for page in pages for r in page.records]
    assert times == sorted(times)
    assert endpoint_statuses(sandbox, "GET " + EXPORT) == {"200": 3}

    cursor = pages[-1].cursor
    assert set(cursor) == {"after_cursor"}
    zendesk.update("tickets", [RecordUpdate("3", {"priority": "urgent"})])
    created = zendesk.create("tickets", [{"subject": "New", "description": "Printer on fire"}])
    sandbox.admin.advance_clock(61)

    after = list(zendesk.changes("tickets", cursor))

    assert all_ids(after) == ["3", created[0].record.id]
    assert after[-1].has_more is False
    quiet = list(zendesk.changes("tickets", after[-1].cursor))
    assert [(p.records, p.cursor, p.has_more) for p in quiet] == [([], after[-1].cursor, False)]


def test_writes_between_pages_are_read_later_never_skipped(sandbox: Sandbox) -> None:
    seed(sandbox)
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    zendesk = connect(sandbox, page_size=10)
    stream = zendesk.changes("tickets", None)

    first = next(stream)
    read = {r.id for r in first.records}
    listed = raw_get(sandbox, "/zendesk/api/v2/tickets.json", **{"page[size]": 100}).json()
    editable = [str(t["id"]) for t in listed["tickets"] if t["status"] != "closed"]
    already_read = next(i for i in editable if i in read)
    not_yet_read = next(i for i in editable if i not in read)
    edits = zendesk.update(
        "tickets",
        [
            RecordUpdate(already_read, {"subject": "Edited after it was read"}),
            RecordUpdate(not_yet_read, {"subject": "Edited before it was read"}),
        ],
    )
    assert all(r.ok for r in edits)
    rest = list(stream)

    ids = all_ids([first, *rest])
    assert set(ids) == {str(n) for n in range(1, 26)}
    assert ids.count(already_read) == 2  # read again after its change: at-least-once
    assert ids[-2:] == [already_read, not_yet_read]
    last = {r.id: r for page in rest for r in page.records}
    assert last[not_yet_read].fields["subject"] == "Edited before it was read"


# -- the one-minute lag ----------------------------------------------------------------------


def test_export_holds_back_the_last_minute(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    cursor = list(zendesk.changes("tickets", None))[-1].cursor
    created = zendesk.create("tickets", [{"subject": "Fresh", "description": "Just now"}])
    new_id = created[0].record.id

    assert all_ids(list(zendesk.changes("tickets", cursor))) == []
    sandbox.admin.advance_clock(30)
    assert all_ids(list(zendesk.changes("tickets", cursor))) == []
    sandbox.admin.advance_clock(31)
    assert all_ids(list(zendesk.changes("tickets", cursor))) == [new_id]


def test_a_recent_start_time_is_refused_with_zendesks_error(sandbox: Sandbox) -> None:
    seed(sandbox)
    answer = raw_get(sandbox, EXPORT, start_time=int(time.time()) - 10)

    assert answer.status_code == 422
    assert answer.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than 1 minute",
    }


def test_connector_moves_a_recent_start_time_back_a_minute(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    created = zendesk.create("tickets", [{"subject": "Two minutes ago", "description": "x"}])
    sandbox.admin.advance_clock(120)
    moment = int(time.time()) + 120 - 5  # five seconds after the ticket, in sandbox time

    pages = list(zendesk.changes("tickets", {"start_time": moment}))

    # The request went out with start_time a minute back, so it was accepted and found the
    # ticket written two minutes before the (advanced) sandbox clock.
    assert all_ids(pages) == [created[0].record.id]
    assert endpoint_statuses(sandbox, "GET " + EXPORT) == {"200": 1}


def test_clock_skew_inside_the_lag_reads_as_no_changes_yet(sandbox: Sandbox) -> None:
    seed(sandbox)
    # This connector's clock runs an hour ahead of Zendesk's: its "a minute ago" is Zendesk's
    # future, which Zendesk refuses with 422. That means nothing to read yet, not a failure.
    zendesk = connect(sandbox, wall_clock=lambda: time.time() + 3600)
    start = int(time.time()) + 3000

    pages = list(zendesk.changes("tickets", {"start_time": start}))

    assert [(p.records, p.cursor, p.has_more) for p in pages] == [
        ([], {"start_time": start}, False)
    ]
    assert endpoint_statuses(sandbox, "GET " + EXPORT) == {"422": 1}


# -- the export rate limit -------------------------------------------------------------------


def test_export_limit_answers_429_with_retry_after(sandbox: Sandbox) -> None:
    seed(sandbox)
    answers = [raw_get(sandbox, EXPORT, start_time=0) for _ in range(11)]

    assert [a.status_code for a in answers] == [200] * 10 + [429]
    limited = answers[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"] == "APIRateLimitExceeded"
    # The limit is the export's own: other endpoints still answer.
    assert raw_get(sandbox, "/zendesk/api/v2/users/me.json").status_code == 200


def test_connector_waits_out_the_export_limit_as_retry_after_says(sandbox: Sandbox) -> None:
    seed(sandbox)
    sandbox.admin.configure("zendesk", export_rate_limit=[3, 2])
    for _ in range(3):
        assert raw_get(sandbox, EXPORT, start_time=0).status_code == 200
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    zendesk = connect(sandbox, http_options={"sleep": sleep})

    pages = list(zendesk.changes("tickets", None))

    assert len(all_ids(pages)) == 25
    # One 429, one wait of exactly the Retry-After (whole seconds, at most the window), then
    # the retry was accepted: the window had really moved on.
    assert len(slept) == 1
    assert slept[0] in (1.0, 2.0)
    assert endpoint_statuses(sandbox, "GET " + EXPORT) == {"200": 4, "429": 1}


def test_a_retry_after_beyond_the_budget_is_raised_not_slept(sandbox: Sandbox) -> None:
    seed(sandbox)
    for _ in range(10):
        raw_get(sandbox, EXPORT, start_time=0)
    slept: list[float] = []
    zendesk = connect(sandbox, http_options={"sleep": slept.append, "max_elapsed": 5.0})

    with pytest.raises(RateLimited) as raised:
        list(zendesk.changes("tickets", None))

    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 5
    assert slept == []


# -- jobs and per-record results -------------------------------------------------------------


def test_job_results_are_mapped_per_record_after_polling(sandbox: Sandbox) -> None:
    seed(sandbox)
    sandbox.admin.configure("zendesk", job_polls=2)
    zendesk = connect(sandbox, sync_write_max=0)

    results = zendesk.create(
        "tickets",
        [
            {"subject": "First", "description": "one", "priority": "low"},
            {"subject": "Broken", "description": "two", "status": "escalated"},
            {"subject": "Third", "description": "three", "type": "task"},
        ],
    )

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is not None
    assert results[1].error.fields == {"status": "escalated is not valid"}
    assert "Status: escalated is not valid" in str(results[1].error)
    assert results[0].record is not None
    assert results[2].record is not None
    assert results[0].record.fields["priority"] == "low"
    assert results[2].record.fields["type"] == "task"
    # The job said "working" twice before it completed (polled with show_many).
    assert endpoint_statuses(sandbox, "GET /zendesk/api/v2/job_statuses/show_many.json") == {
        "200": 3
    }


def test_settle_later_answers_jobs_as_pending_and_settles_them_with_one_poll(
    sandbox: Sandbox,
) -> None:
    seed(sandbox)
    sandbox.admin.configure("zendesk", jobs_held=True, job_polls=0)
    zendesk = connect(sandbox)
    zendesk.settle_later = True
    taken = zendesk.create("users", [{"name": "Taken", "email": "taken@example.com"}])[0]
    assert taken.ok
    assert taken.record is not None

    results = zendesk.create(
        "users",
        [{"name": f"Queued {n}", "email": f"queued{n}@example.com"} for n in range(4)]
        + [{"name": "Clash", "email": "clash@example.com"}],
    )

    assert all(r.in_flight and r.record is None and r.ok for r in results)
    handles = [r.pending for r in results]
    # Held: nothing exists yet, and settling says so without waiting.
    assert zendesk.find("users", "email", ["queued0@example.com"]) == []
    assert all(r.in_flight for r in zendesk.settle("users", handles))
    # Someone takes an email the job will try to use, then Zendesk does the job.
    zendesk.settle_later = False
    zendesk.create("users", [{"name": "Early", "email": "clash@example.com"}])
    sandbox.admin.configure("zendesk", jobs_held=False)

    settled = zendesk.settle("users", handles)

    assert [r.record.fields["name"] for r in settled[:4] if r.record] == [
        f"Queued {n}" for n in range(4)
    ]
    assert settled[4].error is not None
    assert not settled[4].in_flight
    assert "email" in str(settled[4].error).lower()
    polls = endpoint_statuses(sandbox, "GET /zendesk/api/v2/job_statuses/show_many.json")
    assert polls == {"200": 2}  # one call per settle, never a wait
    assert endpoint_statuses(sandbox, "GET /zendesk/api/v2/job_statuses/{id}") == {}


def test_settling_a_job_zendesk_forgot_says_the_outcome_is_unknown(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)

    (result,) = zendesk.settle(
        "users", [{"job": "f" * 32, "action": "create", "index": 0, "id": None}]
    )

    assert isinstance(result.error, OutcomeUnknown)
    assert "no longer knows" in str(result.error)


def test_settle_later_updates_and_deletes(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    made = zendesk.create(
        "users", [{"name": f"U{n}", "email": f"u{n}@example.com"} for n in range(9)]
    )
    ids = [r.record.id for r in made if r.record]
    sandbox.admin.configure("zendesk", jobs_held=True, job_polls=0)
    zendesk.settle_later = True

    updates = zendesk.update("users", [RecordUpdate(i, {"name": f"New {i}"}) for i in ids[:4]])
    (small,) = zendesk.delete("users", [ids[8]])  # one record: no job, done at once
    deletes = zendesk.delete("users", ids[4:8])
    assert small.ok
    assert small.record is not None
    assert small.record.deleted
    assert all(r.in_flight for r in updates + deletes)
    assert len(zendesk.get("users", ids)) == 8
    sandbox.admin.configure("zendesk", jobs_held=False)

    settled = zendesk.settle("users", [r.pending for r in updates + deletes])

    assert [r.record.fields["name"] for r in settled[:4] if r.record] == [
        f"New {i}" for i in ids[:4]
    ]
    assert all(r.record is not None and r.record.deleted for r in settled[4:])
    assert [r.id for r in zendesk.get("users", ids)] == ids[:4]


def test_batches_are_split_at_one_hundred(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)

    results = zendesk.create("organizations", [{"name": f"Batch Org {n}"} for n in range(150)])

    assert all(r.ok for r in results)
    assert [r.record.fields["name"] for r in results if r.record] == [
        f"Batch Org {n}" for n in range(150)
    ]
    assert endpoint_statuses(sandbox, "POST /zendesk/api/v2/organizations/create_many.json") == {
        "200": 2
    }


def test_the_jobs_of_one_write_run_together_and_are_polled_together(sandbox: Sandbox) -> None:
    seed(sandbox)
    sandbox.admin.configure("zendesk", job_polls=2)
    zendesk = connect(sandbox)

    results = zendesk.create("organizations", [{"name": f"Many Org {n}"} for n in range(250)])

    assert [r.record.fields["name"] for r in results if r.record] == [
        f"Many Org {n}" for n in range(250)
    ]
    # Three jobs submitted before any is polled; each round polls all three in one call.
    create = "POST /zendesk/api/v2/organizations/create_many.json"
    assert endpoint_statuses(sandbox, create) == {"200": 3}
    assert endpoint_statuses(sandbox, "GET /zendesk/api/v2/job_statuses/show_many.json") == {
        "200": 3
    }
    assert endpoint_statuses(sandbox, "GET /zendesk/api/v2/job_statuses/{id}") == {}


def test_a_refused_batch_request_fails_each_of_its_records(sandbox: Sandbox) -> None:
    seed(sandbox)
    sandbox.admin.queue_fault("zendesk", status=422, method="POST")
    zendesk = connect(sandbox, sync_write_max=0)

    results = zendesk.create("tickets", [{"subject": "a", "description": "a"}] * 2)
    retried = zendesk.create("tickets", [{"subject": "b", "description": "b"}])

    assert [(r.ok, r.error.status if r.error else None) for r in results] == [
        (False, 422),
        (False, 422),
    ]
    assert retried[0].ok


def test_closed_ticket_refuses_its_update_alone(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    made = zendesk.create("tickets", [{"subject": "A", "description": "a"}] * 2)
    first, second = (r.record.id for r in made if r.record)
    zendesk.update("tickets", [RecordUpdate(first, {"status": "closed"})])

    results = zendesk.update(
        "tickets",
        [RecordUpdate(first, {"subject": "Reopen?"}), RecordUpdate(second, {"subject": "Fine"})],
    )

    assert results[0].error is not None
    assert results[0].error.record_id == first
    assert results[0].error.fields == {"status": "closed prevents ticket update"}
    assert results[1].record is not None
    assert results[1].record.fields["subject"] == "Fine"


def test_a_small_batch_is_written_without_a_job(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    made = zendesk.create("users", [{"name": "Ada One", "email": "ada.one@example.org"}])
    assert made[0].record is not None

    results = zendesk.update(
        "users",
        [
            RecordUpdate(made[0].record.id, {"name": "Ada Renamed"}),
            RecordUpdate("999999", {"name": "Nobody"}),
        ],
    )

    assert results[0].record is not None
    assert results[0].record.fields["name"] == "Ada Renamed"
    assert results[0].record.modified_at is not None
    assert results[1].error is not None
    assert results[1].error.record_id == "999999"
    endpoints = sandbox.admin.stats("zendesk")["endpoints"]
    assert not [e for e in endpoints if "_many" in e or "job_statuses" in e]
    assert sum(e["count"] for n, e in endpoints.items() if n.startswith("PUT ")) == 2


def test_a_larger_batch_is_one_job(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox, sync_write_max=1)

    results = zendesk.create(
        "users", [{"name": f"Batch {n}", "email": f"batch{n}@example.org"} for n in range(2)]
    )

    assert all(r.ok for r in results)
    endpoints = sandbox.admin.stats("zendesk")["endpoints"]
    posted = [n for n in endpoints if n.startswith("POST ")]
    assert posted == ["POST /zendesk/api/v2/users/create_many.json"]


def test_connector_side_refusals_never_reach_zendesk(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)

    created = zendesk.create("tickets", [{"subject": "No description"}])
    updated = zendesk.update("tickets", [RecordUpdate("1", {"description": "rewritten"})])

    assert created[0].error is not None
    assert created[0].error.fields == {"description": "required"}
    assert updated[0].error is not None
    assert "cannot be changed after creation" in updated[0].error.fields["description"]
    stats = sandbox.admin.stats("zendesk")["endpoints"]
    assert not [e for e in stats if "_many" in e]


def test_users_duplicate_email_fails_alone(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)

    results = zendesk.create(
        "users",
        [
            {"name": "Grace Hopper", "email": "grace@example.org", "custom_plan": "plan_team"},
            {"name": "Owner Twin", "email": ADMIN_EMAIL.upper()},
        ],
    )

    assert results[0].record is not None
    assert results[0].record.fields["custom_plan"] == "plan_team"
    assert results[1].error is not None
    assert results[1].error.fields == {
        "email": f"{ADMIN_EMAIL.upper()} is already being used by another user"
    }
    found = zendesk.find("users", "email", ["GRACE@example.org"])
    assert [r.id for r in found] == [results[0].record.id]


# -- deletions -------------------------------------------------------------------------------


def test_deleted_tickets_arrive_in_the_export_as_tombstones(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    cursor = list(zendesk.changes("tickets", None))[-1].cursor

    results = zendesk.delete("tickets", ["4", "5"])
    sandbox.admin.advance_clock(61)
    changed = [r for p in zendesk.changes("tickets", cursor) for r in p.records]

    assert [(r.record.id, r.record.deleted) for r in results if r.record] == [
        ("4", True),
        ("5", True),
    ]
    assert [(r.id, r.deleted, r.fields["status"]) for r in changed] == [
        ("4", True, None),
        ("5", True, None),
    ]
    assert [r.id for r in zendesk.get("tickets", ["3", "4", "5"])] == ["3"]


def test_deleting_a_ticket_already_gone_counts_as_deleted(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    zendesk.delete("tickets", ["6"])

    results = zendesk.delete("tickets", ["6", "7"])

    assert [(r.ok, r.record.deleted if r.record else None) for r in results] == [
        (True, True),
        (True, True),
    ]
    # Zendesk refused the batch because of the missing id; each id was then deleted alone.
    assert endpoint_statuses(sandbox, "DELETE /zendesk/api/v2/tickets/destroy_many.json") == {
        "200": 1,
        "404": 1,
    }
    assert endpoint_statuses(sandbox, "DELETE /zendesk/api/v2/tickets/{id}") == {
        "404": 1,
        "204": 1,
    }
    assert zendesk.get("tickets", ["6", "7"]) == []


def test_deleted_users_are_tombstones_and_organizations_are_reconciled_by_ids(
    sandbox: Sandbox,
) -> None:
    seed(sandbox)
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    zendesk = connect(sandbox)
    user_cursor = list(zendesk.changes("users", None))[-1].cursor
    user = zendesk.create("users", [{"name": "Temp", "email": "temp@example.org"}])[0].record
    org_ids_before = [i for page in zendesk.list_ids("organizations") for i in page]
    assert user is not None

    zendesk.delete("users", [user.id])
    zendesk.delete("organizations", [org_ids_before[0]])

    changed = [(r.id, r.deleted) for p in zendesk.changes("users", user_cursor) for r in p.records]
    assert changed[-1] == (user.id, True)
    assert zendesk.get("users", [user.id]) == []
    org_ids_after = [i for page in zendesk.list_ids("organizations") for i in page]
    assert org_ids_after == org_ids_before[1:]


# -- organizations: the time-based export ----------------------------------------------------


def test_organization_export_extends_a_page_to_the_end_of_its_second(sandbox: Sandbox) -> None:
    seed(sandbox, organizations=0)
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    zendesk = connect(sandbox, page_size=2)
    made = zendesk.create("organizations", [{"name": f"Same Second {n}"} for n in range(5)])
    ids = [r.record.id for r in made if r.record]

    pages = list(zendesk.changes("organizations", None))

    # All five share one second: the page holds all of them although per_page is 2.
    assert [sorted(r.id for r in p.records) for p in pages] == [sorted(ids)]
    assert pages[-1].has_more is False
    again = list(zendesk.changes("organizations", pages[-1].cursor))
    # The next export starts at that second again: repeats, never gaps.
    assert sorted(all_ids(again)) == sorted(ids)


# -- custom fields ---------------------------------------------------------------------------


def test_field_discovery_maps_custom_field_types_and_options(sandbox: Sandbox) -> None:
    zendesk = connect(sandbox)

    specs = {f.name: f for f in zendesk.fields("tickets")}

    assert specs["status"].option_values() == [
        "new", "open", "pending", "hold", "solved", "closed",
    ]  # fmt: skip
    assert specs["custom_360001"].type is FieldType.ENUM
    assert specs["custom_360001"].option_values() == [
        "product_billing", "product_mobile", "product_api", "product_reports", "product_sso",
    ]  # fmt: skip
    assert specs["custom_360001"].label == "Product area"
    assert [(n, specs[n].type) for n in sorted(specs) if specs[n].custom] == [
        ("custom_360001", FieldType.ENUM),
        ("custom_360002", FieldType.INTEGER),
        ("custom_360003", FieldType.NUMBER),
        ("custom_360004", FieldType.BOOLEAN),
        ("custom_360005", FieldType.DATE),
        ("custom_360006", FieldType.MULTI_ENUM),
        ("custom_360007", FieldType.STRING),
        ("custom_360008", FieldType.TEXT),
    ]  # the inactive "Legacy code" field is left out
    assert specs["requester_id"].reference_to == "users"
    assert specs["updated_at"].writable is False
    users = {f.name: f for f in zendesk.fields("users")}
    assert users["custom_plan"].option_values() == ["plan_free", "plan_team", "plan_enterprise"]
    orgs = {f.name: f for f in zendesk.fields("organizations")}
    assert orgs["custom_contract_value"].type is FieldType.NUMBER


def test_custom_fields_round_trip(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    values = {
        "subject": "Custom everything",
        "description": "All the custom fields",
        "tags": "vip billing",
        "custom_360001": "product_billing",
        "custom_360002": 42,
        "custom_360003": 19.99,
        "custom_360004": True,
        "custom_360005": "2026-03-01",
        "custom_360006": ["platform_web", "platform_android"],
        "custom_360007": "ORD-1001",
        "custom_360008": "Line one\n\nLine two",
    }

    created = zendesk.create("tickets", [values])[0].record
    assert created is not None
    raw = raw_get(sandbox, f"/zendesk/api/v2/tickets/{created.id}.json").json()["ticket"]
    fetched = zendesk.get("tickets", [created.id])[0]
    zendesk.update(
        "tickets",
        [RecordUpdate(created.id, {"custom_360002": None, "custom_360006": ["platform_ios"]})],
    )
    after = zendesk.get("tickets", [created.id])[0]

    assert {k: fetched.fields[k] for k in values if k != "description"} == {
        k: v for k, v in values.items() if k != "description"
    }
    # On the wire: Zendesk's shape, numbers as strings, every active custom field listed.
    assert {"id": 360002, "value": "42"} in raw["custom_fields"]
    assert {"id": 360003, "value": "19.99"} in raw["custom_fields"]
    assert len(raw["custom_fields"]) == 8
    assert raw["tags"] == ["vip", "billing"]
    assert after.fields["custom_360002"] is None
    assert after.fields["custom_360006"] == ["platform_ios"]
    assert after.fields["custom_360001"] == "product_billing"


def test_invalid_custom_option_fails_the_record(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)

    results = zendesk.create(
        "tickets",
        [
            {"subject": "x", "description": "x", "custom_360001": "product_teleport"},
            {"subject": "x", "description": "x", "custom_360002": "many"},
        ],
    )

    assert results[0].error is not None
    assert "Product area: product_teleport is not a valid value" in str(results[0].error)
    assert results[1].error is not None
    assert results[1].error.fields == {"custom_360002": "expected an integer"}


def test_find_tickets_by_custom_field_and_external_id(sandbox: Sandbox) -> None:
    seed(sandbox)
    zendesk = connect(sandbox)
    made = zendesk.create(
        "tickets",
        [
            {"subject": "a", "description": "a", "external_id": "crm-1", "custom_360007": "O-9"},
            {"subject": "b", "description": "b", "external_id": "crm-2"},
        ],
    )
    first = made[0].record.id if made[0].record else ""

    assert [r.id for r in zendesk.find("tickets", "external_id", ["crm-1", "crm-404"])] == [first]
    assert [r.id for r in zendesk.find("tickets", "custom_360007", ["O-9"])] == [first]
    with pytest.raises(ConfigurationError):
        zendesk.find("tickets", "no_such_field", ["x"])


# -- configuration and auth ------------------------------------------------------------------


def test_config_needs_exactly_one_auth_method() -> None:
    with pytest.raises(ConfigurationError, match="not both"):
        registry.parse_config(
            "zendesk",
            {"subdomain": "acme", "email": "a@b.c", "api_token": "t", "oauth_token": "o"},
        )
    with pytest.raises(ConfigurationError, match="no credentials"):
        registry.parse_config("zendesk", {"subdomain": "acme"})
    with pytest.raises(ConfigurationError, match="needs the email"):
        registry.parse_config("zendesk", {"subdomain": "acme", "api_token": "t"})
    with pytest.raises(ConfigurationError, match="subdomain must be"):
        registry.parse_config("zendesk", {"subdomain": "acme.zendesk.com", "oauth_token": "o"})
    config = registry.parse_config("zendesk", {"subdomain": "acme", "oauth_token": "o"})
    assert config.base_url == "https://acme.zendesk.com"
    schema = registry.config_schema("zendesk")
    assert schema["properties"]["api_token"]["secret"] is True
    assert schema["properties"]["oauth_token"]["writeOnly"] is True
    assert "secret-oauth" not in repr(
        registry.parse_config("zendesk", {"subdomain": "acme", "oauth_token": "secret-oauth"})
    )


def test_oauth_bearer_and_bad_credentials(sandbox: Sandbox) -> None:
    url = sandbox.url_for("zendesk")
    registry.build("zendesk", {"base_url": url, "oauth_token": OAUTH_TOKEN}).check()

    bad = registry.build("zendesk", {"base_url": url, "oauth_token": "revoked-token"})
    with pytest.raises(AuthenticationError) as raised:
        bad.check()

    assert raised.value.status == 401
    assert "Couldn't authenticate you" in str(raised.value)
    assert "revoked-token" not in str(raised.value)


# -- webhooks --------------------------------------------------------------------------------


def signed(body: bytes, *, at: float, secret: str = SECRET, **extra: str) -> WebhookRequest:
    headers = webhooks.signed_headers(secret, body, now=at)
    headers.update(extra)
    return WebhookRequest("POST", "https://concord.example/hooks/1/", headers, body)


TRIGGER_BODY = b'{"ticket_id": "35436", "event": "updated", "updated_at": "2024-05-01T10:00:00Z"}'


def test_signature_matches_zendesks_documented_scheme() -> None:
    # base64(HMAC-SHA256(secret, timestamp + body)) computed independently of the module.
    import hashlib
    import hmac

    timestamp = "2024-05-01T10:00:00Z"
    expected = base64.b64encode(
        hmac.new(SECRET.encode(), timestamp.encode() + TRIGGER_BODY, hashlib.sha256).digest()
    ).decode()

    assert webhooks.sign(SECRET, timestamp, TRIGGER_BODY) == expected


def test_trigger_payload_is_parsed_after_verification() -> None:
    now = 1_714_557_600.0
    request = signed(TRIGGER_BODY, at=now, **{webhooks.INVOCATION_HEADER: "inv-1"})

    result = webhooks.parse_webhook(request, SECRET, now=now + 10)

    assert [(e.object_type, e.record_id, e.action) for e in result.events] == [
        ("tickets", "35436", "updated")
    ]
    # The key is a digest of what the signature covers; the invocation id is not signed.
    assert result.delivery_id == webhooks.signed_digest(request)
    assert result.delivery_id.startswith("sha256:")
    replay = signed(TRIGGER_BODY, at=now, **{webhooks.INVOCATION_HEADER: "inv-2"})
    assert webhooks.parse_webhook(replay, SECRET, now=now + 10).delivery_id == result.delivery_id
    later = signed(TRIGGER_BODY, at=now + 1, **{webhooks.INVOCATION_HEADER: "inv-1"})
    assert webhooks.parse_webhook(later, SECRET, now=now + 10).delivery_id != result.delivery_id


def test_event_subscription_payload_is_parsed() -> None:
    now = 1_714_557_600.0
    body = json.dumps(
        {
            "type": "zen:event-type:ticket.status_changed",
            "id": "cbe4028c-7239-495d-b020-f22348516046",
            "time": "2024-05-01T10:00:00Z",
            "detail": {"id": "35436"},
        }
    ).encode()

    result = webhooks.parse_webhook(signed(body, at=now), SECRET, now=now)

    assert [(e.object_type, e.record_id, e.action) for e in result.events] == [
        ("tickets", "35436", "updated")
    ]
    assert result.delivery_id == "cbe4028c-7239-495d-b020-f22348516046"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda r: WebhookRequest(r.method, r.url, r.headers, r.body + b" "), "does not match"),
        (
            lambda r: WebhookRequest(
                r.method,
                r.url,
                {k: v for k, v in r.headers.items() if "Timestamp" not in k},
                r.body,
            ),
            "unsigned",
        ),
        (
            lambda r: WebhookRequest(
                r.method, r.url, {**r.headers, webhooks.SIGNATURE_HEADER: "not base64!"}, r.body
            ),
            "not base64",
        ),
        (
            lambda r: WebhookRequest(
                r.method,
                r.url,
                {**r.headers, webhooks.TIMESTAMP_HEADER: "2024-05-01T10:00:01Z"},
                r.body,
            ),
            "does not match",
        ),
    ],
    ids=["tampered-body", "no-timestamp", "garbage-signature", "timestamp-swapped"],
)
def test_tampered_or_unsigned_deliveries_are_refused(mutate: Any, reason: str) -> None:
    now = 1_714_557_600.0
    request = mutate(signed(TRIGGER_BODY, at=now))

    with pytest.raises(WebhookVerificationError, match=reason):
        webhooks.parse_webhook(request, SECRET, now=now)


def test_wrong_secret_stale_and_future_deliveries_are_refused() -> None:
    now = 1_714_557_600.0
    request = signed(TRIGGER_BODY, at=now)

    with pytest.raises(WebhookVerificationError, match="does not match"):
        webhooks.parse_webhook(request, "another-secret", now=now)
    with pytest.raises(WebhookVerificationError, match="stale"):
        webhooks.parse_webhook(request, SECRET, now=now + webhooks.REPLAY_WINDOW + 1)
    with pytest.raises(WebhookVerificationError, match="stale"):
        webhooks.parse_webhook(request, SECRET, now=now - webhooks.REPLAY_WINDOW - 1)
    with pytest.raises(WebhookVerificationError, match="no signing secret"):
        webhooks.parse_webhook(request, "", now=now)
    # Exactly at the edge of the window is still accepted.
    assert webhooks.parse_webhook(request, SECRET, now=now + webhooks.REPLAY_WINDOW).events


def test_signed_but_unusable_bodies() -> None:
    now = 1_714_557_600.0
    # An empty body (GET/DELETE webhooks) and unknown event types are accepted and ignored.
    assert webhooks.parse_webhook(signed(b"", at=now), SECRET, now=now).events == []
    article = b'{"type": "zen:event-type:article.published", "id": "x", "detail": {"id": "9"}}'
    assert webhooks.parse_webhook(signed(article, at=now), SECRET, now=now).events == []
    # A body that is not JSON, or names a record id that is not an id, is refused.
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        webhooks.parse_webhook(signed(b"ticket=1", at=now), SECRET, now=now)
    with pytest.raises(WebhookVerificationError, match="malformed record id"):
        webhooks.parse_webhook(signed(b'{"ticket_id": "{{ticket.id}}"}', at=now), SECRET, now=now)


def test_sandbox_sends_signed_event_webhooks_for_changes(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    seed(sandbox)
    sandbox.admin.register_webhook("zendesk", webhook_receiver.url, SECRET)
    zendesk = connect(sandbox)

    ticket = zendesk.create("tickets", [{"subject": "Hook", "description": "me"}])[0].record
    assert ticket is not None
    zendesk.update("tickets", [RecordUpdate(ticket.id, {"status": "solved"})])
    zendesk.delete("tickets", [ticket.id])
    sandbox.admin.flush_webhooks()

    parsed = [zendesk.parse_webhook(r, SECRET) for r in webhook_receiver.requests]
    events = [(e.record_id, e.action) for p in parsed for e in p.events]
    assert events == [(ticket.id, "created"), (ticket.id, "updated"), (ticket.id, "deleted")]
    assert len({p.delivery_id for p in parsed}) == 3
    kinds = [json.loads(r.body)["type"] for r in webhook_receiver.requests]
    assert kinds == [
        "zen:event-type:ticket.created",
        "zen:event-type:ticket.status_changed",
        "zen:event-type:ticket.soft_deleted",
    ]
    with pytest.raises(WebhookVerificationError):
        zendesk.parse_webhook(webhook_receiver.requests[0], "not-the-secret")


# -- sandbox state ---------------------------------------------------------------------------


def test_sandbox_state_survives_a_dump_and_load_through_json() -> None:
    from connectors.sandbox.core import Context
    from connectors.zendesk.sandbox import ZendeskSandbox

    def context() -> Context:
        return Context("zendesk", lambda: 1_800_000_000.0, lambda kind, event: None, bool)

    original = ZendeskSandbox(context())
    original.seed(7, {"tickets": 30, "users": 6, "organizations": 2})
    original.configure({"export_lag_seconds": 5, "job_polls": 3})
    state = json.loads(json.dumps(original.dump()))

    restored = ZendeskSandbox(context())
    restored.load(state)

    assert restored.dump() == original.dump()
    assert restored.state.table.get("tickets", 1) == original.state.table.get("tickets", 1)
    assert restored.settings()["job_polls"] == 3
    statuses = [t.data["status"] for t in restored.state.table.rows("tickets", "all")]
    assert statuses.count("closed") == 4  # 15% of 30, as the seed documents


# -- a test delivery on request (Webhooks API: List Webhooks, Test Webhook) -------------------


def test_send_test_webhook_finds_the_webhook_for_the_url_and_zendesk_sends_a_signed_request(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.admin.register_webhook("zendesk", "http://127.0.0.1:9/elsewhere/", "other-secret")
    sandbox.admin.register_webhook("zendesk", webhook_receiver.url, SECRET)
    webhook_receiver.status = 202
    zendesk = connect(sandbox)
    assert zendesk.sends_test_webhooks
    assert zendesk.send_test_webhook(webhook_receiver.url) == 202
    [delivery] = webhook_receiver.requests
    # Signed with that webhook's own secret, and a delivery without records to sync.
    result = zendesk.parse_webhook(delivery, SECRET)
    assert result.events == []
    assert result.delivery_id == webhooks.signed_digest(delivery)
    with pytest.raises(WebhookVerificationError):
        zendesk.parse_webhook(delivery, "other-secret")


def test_send_test_webhook_without_a_webhook_for_the_url_says_what_to_do(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver
) -> None:
    zendesk = connect(sandbox)
    with pytest.raises(ConfigurationError, match="no webhook in this Zendesk account sends to"):
        zendesk.send_test_webhook(webhook_receiver.url)
    assert webhook_receiver.requests == []


def test_send_test_webhook_reports_an_unreachable_endpoint_as_no_status(sandbox: Sandbox) -> None:
    sandbox.admin.register_webhook("zendesk", "http://127.0.0.1:9/hooks/x/", SECRET)
    assert connect(sandbox).send_test_webhook("http://127.0.0.1:9/hooks/x/") is None


def test_sandbox_lists_webhooks_in_cursor_pages(sandbox: Sandbox) -> None:
    urls = {f"http://127.0.0.1:9/hooks/{n}/" for n in range(3)}
    for url in urls:
        sandbox.admin.register_webhook("zendesk", url, SECRET)
    first = raw_get(sandbox, "/zendesk/api/v2/webhooks", **{"page[size]": 2}).json()
    assert (len(first["webhooks"]), first["meta"]["has_more"]) == (2, True)
    assert "signing_secret" not in first["webhooks"][0]
    auth = (f"{ADMIN_EMAIL}/token", API_TOKEN)
    rest = requests.get(first["links"]["next"], auth=auth, timeout=10).json()
    assert rest["meta"]["has_more"] is False
    hooks = first["webhooks"] + rest["webhooks"]
    assert {h["endpoint"] for h in hooks} == urls
    assert [h["id"] for h in hooks] == sorted(h["id"] for h in hooks)


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        ({"response": {"status": 202, "headers": [], "body": ""}}, 202),
        ({"test": {"status": "failed", "response_code": 401}}, 401),
        ({"response": {"status": None}}, None),
        ({}, None),
        ("not an object", None),
    ],
)
def test_the_test_answer_is_read_in_either_documented_shape(answer: Any, status: int | None):
    assert webhooks.test_answer_status(answer) == status

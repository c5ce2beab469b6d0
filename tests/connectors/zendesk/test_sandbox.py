"""The Zendesk sandbox's endpoints beyond what the connector calls (connectors/zendesk/
sandbox/), over HTTP: single-record writes, create-or-update, bulk updates by ids, counts,
comments, deleted tickets and users, the time-based exports, and every paging link leading
back to the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN
from tests.sandbox_fixtures import Sandbox

AUTH = (f"{ADMIN_EMAIL}/token", API_TOKEN)


def call(sandbox: Sandbox, method: str, path: str, body: Any = None, **params: Any):
    return requests.request(
        method,
        sandbox.url_for("zendesk") + path,
        json=body,
        params=params or None,
        auth=AUTH,
        timeout=10,
    )


def follow(link: str) -> dict[str, Any]:
    answer = requests.get(link, auth=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def write(sandbox: Sandbox, method: str, path: str, **ticket: Any) -> requests.Response:
    return call(sandbox, method, path, {"ticket": ticket})


@pytest.fixture
def zendesk(sandbox: Sandbox) -> Sandbox:
    sandbox.admin.seed(1, {"zendesk": {"tickets": 25, "users": 8, "organizations": 3}})
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    return sandbox


def test_a_single_user_is_created_shown_updated_and_deleted(zendesk: Sandbox):
    grace = {
        "name": "Grace Hopper",
        "email": "Grace@Navy.example",
        "role": "end-user",
        "user_fields": {"plan": "plan_team"},
    }
    answer = call(zendesk, "POST", "/api/v2/users.json", {"user": grace})

    assert answer.status_code == 201
    user = answer.json()["user"]
    assert (user["email"], user["user_fields"]["plan"]) == ("grace@navy.example", "plan_team")
    assert user["url"] == f"{zendesk.url_for('zendesk')}/api/v2/users/{user['id']}.json"
    assert answer.headers["Location"] == user["url"]
    shown = call(zendesk, "GET", f"/api/v2/users/{user['id']}").json()["user"]  # no ".json"
    assert shown == user

    updated = call(zendesk, "PUT", f"/api/v2/users/{user['id']}.json", {"user": {"phone": "+1"}})
    assert updated.status_code == 200
    assert updated.json()["user"]["phone"] == "+1"

    other = {"name": "Other", "email": "grace@navy.example"}
    duplicate = call(zendesk, "POST", "/api/v2/users", {"user": other})
    assert duplicate.status_code == 422
    assert duplicate.json()["details"]["email"][0]["error"] == "DuplicateValue"
    nameless = call(zendesk, "POST", "/api/v2/users.json", {"user": {"email": "x@y.example"}})
    assert (nameless.status_code, nameless.json()["error"]) == (422, "RecordInvalid")

    deleted = call(zendesk, "DELETE", f"/api/v2/users/{user['id']}.json")
    assert (deleted.status_code, deleted.json()["user"]["active"]) == (200, False)
    assert call(zendesk, "GET", f"/api/v2/users/{user['id']}.json").status_code == 404
    gone = call(zendesk, "GET", "/api/v2/deleted_users.json").json()["deleted_users"]
    assert [u["id"] for u in gone] == [user["id"]]
    assert call(zendesk, "DELETE", f"/api/v2/deleted_users/{user['id']}.json").status_code == 200
    assert call(zendesk, "GET", f"/api/v2/deleted_users/{user['id']}.json").status_code == 404


def test_create_or_update_matches_users_on_email_and_organizations_on_external_id(
    zendesk: Sandbox,
):
    body = {"user": {"name": "Ada", "email": "ada@lovelace.example"}}
    first = call(zendesk, "POST", "/api/v2/users/create_or_update.json", body)
    body["user"]["name"] = "Ada Lovelace"
    second = call(zendesk, "POST", "/api/v2/users/create_or_update.json", body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["user"]["id"] == second.json()["user"]["id"]
    assert second.json()["user"]["name"] == "Ada Lovelace"

    org = {"organization": {"name": "Analytical Engines", "external_id": "ae-1"}}
    created = call(zendesk, "POST", "/api/v2/organizations/create_or_update.json", org)
    org["organization"] = {"external_id": "ae-1", "notes": "steam powered"}
    matched = call(zendesk, "POST", "/api/v2/organizations/create_or_update.json", org)
    assert (created.status_code, matched.status_code) == (201, 200)
    assert matched.json()["organization"]["notes"] == "steam powered"
    by_external = call(zendesk, "GET", "/api/v2/organizations/show_many.json", external_ids="ae-1")
    assert [o["id"] for o in by_external.json()["organizations"]] == [
        created.json()["organization"]["id"]
    ]


def test_a_ticket_create_and_update_answer_with_an_audit_and_keep_comments(zendesk: Sandbox):
    answer = write(
        zendesk,
        "POST",
        "/api/v2/tickets.json",
        subject="Printer",
        comment={"body": "It is on fire"},
        priority="high",
    )
    assert answer.status_code == 201
    ticket, audit = answer.json()["ticket"], answer.json()["audit"]
    assert ticket["subject"] == "Printer"
    assert (ticket["description"], ticket["status"]) == ("It is on fire", "new")
    assert audit["ticket_id"] == ticket["id"]
    assert {"field_name": "priority", "value": "high"}.items() <= next(
        e for e in audit["events"] if e.get("field_name") == "priority"
    ).items()

    path = f"/api/v2/tickets/{ticket['id']}.json"
    zendesk.admin.advance_clock(5)  # the ticket's updated_at moves on
    comment = {"body": "Extinguished", "public": False}
    changed = write(zendesk, "PUT", path, status="pending", comment=comment)
    assert changed.status_code == 200
    events = changed.json()["audit"]["events"]
    change = {"type": "Change", "field_name": "status", "value": "pending", "previous_value": "new"}
    assert change.items() <= events[0].items()
    assert events[-1]["type"] == "Comment"
    comments = call(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}/comments").json()
    assert [(c["body"], c["public"]) for c in comments["comments"]] == [
        ("It is on fire", True),
        ("Extinguished", False),
    ]

    stale = write(
        zendesk, "PUT", path, subject="Late", safe_update=True, updated_stamp=ticket["updated_at"]
    )
    assert (stale.status_code, stale.json()["error"]) == (409, "UpdateConflict")
    current = changed.json()["ticket"]["updated_at"]
    fresh = write(zendesk, "PUT", path, subject="On time", safe_update=True, updated_stamp=current)
    assert fresh.json()["ticket"]["subject"] == "On time"


def test_update_many_by_ids_applies_one_change_to_each(zendesk: Sandbox):
    listed = call(zendesk, "GET", "/api/v2/tickets.json").json()["tickets"]
    ids = [t["id"] for t in listed if t["status"] not in ("closed", "solved")][:3]

    job = call(
        zendesk,
        "PUT",
        "/api/v2/tickets/update_many.json",
        {"ticket": {"priority": "urgent"}},
        ids=",".join(map(str, [*ids, 999_999])),
    ).json()["job_status"]
    assert job["url"].startswith(zendesk.url_for("zendesk") + "/api/v2/job_statuses/")
    done = follow(job["url"])
    while done["job_status"]["status"] != "completed":
        done = follow(job["url"])

    results = done["job_status"]["results"]
    assert [(r["id"], r["success"]) for r in results] == [
        *[(i, True) for i in ids],
        (999_999, False),
    ]
    shown = call(zendesk, "GET", "/api/v2/tickets/show_many.json", ids=",".join(map(str, ids)))
    assert {t["priority"] for t in shown.json()["tickets"]} == {"urgent"}
    listed_jobs = call(zendesk, "GET", "/api/v2/job_statuses.json").json()["job_statuses"]
    assert listed_jobs[0]["id"] == job["id"]


def test_counts(zendesk: Sandbox):
    counts = {
        kind: call(zendesk, "GET", f"/api/v2/{kind}/count.json").json()["count"]["value"]
        for kind in ("tickets", "users", "organizations")
    }
    # 25 tickets seeded, none deleted (one in 40); 8 users and the account owner.
    assert counts == {"tickets": 25, "users": 9, "organizations": 3}


def test_a_deleted_ticket_is_listed_restored_and_purged(zendesk: Sandbox):
    ticket = call(zendesk, "GET", "/api/v2/tickets.json").json()["tickets"][0]
    assert call(zendesk, "DELETE", f"/api/v2/tickets/{ticket['id']}.json").status_code == 204

    deleted = call(zendesk, "GET", "/api/v2/deleted_tickets.json").json()["deleted_tickets"]
    assert [(t["id"], t["previous_state"]) for t in deleted] == [(ticket["id"], ticket["status"])]
    restored = call(zendesk, "PUT", f"/api/v2/deleted_tickets/{ticket['id']}/restore.json")
    assert restored.status_code == 200
    back = call(zendesk, "GET", f"/api/v2/tickets/{ticket['id']}.json").json()["ticket"]
    assert back["status"] == ticket["status"]

    call(zendesk, "DELETE", f"/api/v2/tickets/{ticket['id']}.json")
    purged = call(zendesk, "DELETE", f"/api/v2/deleted_tickets/{ticket['id']}.json")
    assert purged.json()["job_status"]["job_type"] == "Bulk Permanent Delete Tickets"
    assert call(zendesk, "GET", "/api/v2/deleted_tickets.json").json()["deleted_tickets"] == []


def test_every_paging_link_leads_back_to_the_sandbox(zendesk: Sandbox):
    base = zendesk.url_for("zendesk")

    # Cursor pagination of a list.
    listed = call(zendesk, "GET", "/api/v2/tickets.json", **{"page[size]": 10}).json()
    ids = [t["id"] for t in listed["tickets"]]
    while listed["meta"]["has_more"]:
        assert listed["links"]["next"].startswith(base + "/api/v2/tickets.json?")
        listed = follow(listed["links"]["next"])
        ids.extend(t["id"] for t in listed["tickets"])
    assert len(ids) == len(set(ids)) == 25

    # The cursor export.
    path = "/api/v2/incremental/tickets/cursor.json"
    export = call(zendesk, "GET", path, start_time=0, per_page=10).json()
    exported = [t["id"] for t in export["tickets"]]
    while not export["end_of_stream"]:
        assert export["after_url"].startswith(base + "/api/v2/incremental/tickets/cursor.json?")
        export = follow(export["after_url"])
        exported.extend(t["id"] for t in export["tickets"])
    assert sorted(exported) == sorted(ids)

    # Search, offset pages.
    found = call(zendesk, "GET", "/api/v2/search.json", query="type:ticket", per_page=10).json()
    assert found["next_page"].startswith(base + "/api/v2/search.json?")
    second = follow(found["next_page"])
    assert second["previous_page"].startswith(base + "/api/v2/search.json?")
    assert {r["id"] for r in second["results"]}.isdisjoint(r["id"] for r in found["results"])
    assert all(r["url"].startswith(base + "/api/v2/tickets/") for r in found["results"])


def test_time_based_exports_of_tickets_and_users(zendesk: Sandbox):
    base = zendesk.url_for("zendesk")
    for kind, expected in (("tickets", 25), ("users", 9)):
        page = call(zendesk, "GET", f"/api/v2/incremental/{kind}.json", start_time=0).json()
        assert page["end_of_stream"] is True
        assert page["count"] == len(page[kind]) == expected
        assert page["next_page"] == (
            f"{base}/api/v2/incremental/{kind}.json?start_time={page['end_time']}"
        )
    too_recent = call(zendesk, "GET", "/api/v2/incremental/users.json", start_time=2**40)
    assert too_recent.status_code == 422


def test_organizations_autocomplete_by_name_prefix(zendesk: Sandbox):
    names = [
        o["name"] for o in call(zendesk, "GET", "/api/v2/organizations").json()["organizations"]
    ]
    prefix = names[0][:3]
    found = call(zendesk, "GET", "/api/v2/organizations/autocomplete.json", name=prefix).json()
    assert [o["name"] for o in found["organizations"]] == [
        n for n in names if n.lower().startswith(prefix.lower())
    ]
    assert call(zendesk, "GET", "/api/v2/organizations/autocomplete", name="a").status_code == 400

"""The in-memory connector the engine tests stand on: contract behaviour and fault injection."""

from __future__ import annotations

import pytest

from connectors import registry
from connectors.base import RecordUpdate, WebhookRequest
from connectors.errors import ConfigurationError, WebhookVerificationError
from connectors.memory.connector import SimulatedCrash, sign_webhook
from tests.syncs import factories as f


def connector(store, page_size: int = 2):
    return registry.build(
        "memory", {"base_url": f.MEMORY_URL, "store": store.name, "page_size": page_size}
    )


def ids(pages):
    return [[r.id for r in page.records] for page in pages]


def test_feed_is_incremental_with_latest_state_once_and_deletes_as_tombstones():
    crm, _ = f.stores()
    c = connector(crm)
    a, b, d = (crm.insert("contacts", {"email": f"{n}@x.com"}) for n in "abd")
    pages = list(c.changes("contacts", None))
    assert ids(pages) == [[a.id, b.id], [d.id]]
    assert [p.has_more for p in pages] == [True, False]
    cursor = pages[-1].cursor
    assert ids(c.changes("contacts", cursor)) == [[]]
    crm.edit("contacts", a.id, {"name": "A"})
    crm.edit("contacts", a.id, {"name": "AA"})
    crm.remove("contacts", b.id)
    [page] = list(c.changes("contacts", cursor))
    assert [(r.id, r.deleted, r.fields.get("name")) for r in page.records] == [
        (a.id, False, "AA"),
        (b.id, True, None),
    ]
    assert c.get("contacts", [a.id, b.id, "nope"])[0].id == a.id
    assert len(c.get("contacts", [a.id, b.id, "nope"])) == 1


def test_versions_and_modification_times_increase_across_stores():
    crm, desk = f.stores()
    first = crm.insert("contacts", {"email": "a@x.com"})
    second = desk.insert("users", {"email": "b@x.com"})
    third = crm.edit("contacts", first.id, {"name": "x"})
    assert first.modified_at < second.modified_at < third.modified_at
    assert int(first.version) < int(second.version) < int(third.version)


def test_feed_faults_repeat_and_reorder_but_never_skip():
    crm, _ = f.stores()
    records = [crm.insert("contacts", {"email": f"{i}@x.com"}) for i in range(5)]
    crm.feed_faults = {"duplicate", "overlap"}
    pages = ids(connector(crm).changes("contacts", None))
    r = [x.id for x in records]
    assert pages == [r[0:2], r[0:2], [r[1], *r[2:4]], [r[1], *r[2:4]], [r[3], r[4]], [r[3], r[4]]]
    crm.feed_faults = {"reorder"}
    seen = [i for page in ids(connector(crm).changes("contacts", None)) for i in page]
    assert sorted(seen) == sorted(r)


def test_normalising_store_trims_lowercases_and_reformats():
    _, desk = f.stores(normalise_b=True)
    record = desk.insert(
        "users",
        {"email": " Ann@X.com ", "full_name": " Ann ", "renewal": "2026-03-01T10:00:00+02:00"},
    )
    assert record.fields == {
        "email": "ann@x.com",
        "full_name": "Ann",
        "renewal": "2026-03-01T08:00:00Z",
    }


def test_writes_validate_and_injected_record_faults_fail_only_their_record():
    crm, _ = f.stores()
    c = connector(crm)
    crm.fail("create", when=lambda fields: fields.get("name") == "bad", message="no bad names")
    results = c.create(
        "contacts",
        [
            {"email": "a@x.com", "name": "bad"},
            {"email": "b@x.com"},
            {"name": "no email"},
            {"email": "c@x.com", "status": "weird"},
            {"email": "d@x.com", "created": "2026-01-01T00:00:00Z"},
        ],
    )
    assert [r.ok for r in results] == [False, True, False, False, False]
    assert "no bad names" in str(results[0].error)
    assert "required" in str(results[2].error)
    assert "not an option" in str(results[3].error)
    assert "read-only" in str(results[4].error)
    [missing] = c.update("contacts", [RecordUpdate("nope", {"name": "x"})])
    assert "no such record" in str(missing.error)
    with pytest.raises(ConfigurationError):
        c.get("tickets", ["1"])


@pytest.mark.parametrize("after", [False, True])
def test_crash_hook_raises_at_the_nth_write(after):
    crm, _ = f.stores()
    c = connector(crm)
    crm.crash_on_write(2, after=after)
    with pytest.raises(SimulatedCrash):
        c.create("contacts", [{"email": "a@x.com"}, {"email": "b@x.com"}, {"email": "c@x.com"}])
    assert len(crm.all("contacts")) == (2 if after else 1)
    assert crm.writes == (2 if after else 1)
    assert [ch.by for ch in crm.history] == ["connector"] * crm.writes


def test_find_compares_strings_trimmed_and_case_insensitively():
    crm, _ = f.stores()
    a = crm.insert("contacts", {"email": "Ann@X.com"})
    crm.insert("contacts", {"email": "bob@x.com"})
    assert [r.id for r in connector(crm).find("contacts", "email", [" ann@x.COM"])] == [a.id]


def test_webhooks_are_verified_before_parsing():
    crm, _ = f.stores()
    c = connector(crm)
    events = [{"object_type": "contacts", "record_id": "crm-1", "action": "updated"}]
    headers, body = sign_webhook("s3cret", events, now=1_000_000)
    request = WebhookRequest("POST", "http://x/hooks/1/", headers, body)
    result = c.parse_webhook(request, "s3cret", now=1_000_010)
    assert [(e.record_id, e.action) for e in result.events] == [("crm-1", "updated")]
    assert result.delivery_id
    with pytest.raises(WebhookVerificationError, match="mismatch"):
        c.parse_webhook(request, "other", now=1_000_010)
    with pytest.raises(WebhookVerificationError, match="replay window"):
        c.parse_webhook(request, "s3cret", now=1_000_400)
    tampered = WebhookRequest(
        "POST", "http://x/hooks/1/", headers, body.replace(b"crm-1", b"crm-2")
    )
    with pytest.raises(WebhookVerificationError):
        c.parse_webhook(tampered, "s3cret", now=1_000_010)

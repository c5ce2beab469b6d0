"""Planning a batch: echoes are dropped before any call, and only what is needed is read."""

from __future__ import annotations

import pytest

from apps.syncs.engine.recorder import Outcome
from tests.syncs.factories import memory_sync, only, run

pytestmark = pytest.mark.django_db


def test_own_writes_coming_back_cost_nothing():
    s, crm, desk = memory_sync()
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run(s)
    b = only(desk, "users")
    crm.calls.clear()
    desk.calls.clear()

    report, recorder = run(s)  # the create on B comes back in B's feed

    assert recorder.events == []
    assert (crm.writes, desk.writes) == (0, 1)
    assert set(crm.calls) | set(desk.calls) == {"changes"}
    assert report.outcome is Outcome.SUCCEEDED

    # ... and as a webhook naming the record: one get, nothing else.
    desk.calls.clear()
    _, recorder = run(s, record_ids={"b": [b.id]})
    assert recorder.events == []
    assert dict(desk.calls) == {"get": 1}
    assert desk.writes == 1


# --- matching: from a full listing's index, or by one batched find ---------------------------
def _links(s):
    from apps.syncs.models import RecordLink

    return sorted(
        (link.a_id, link.b_id) for link in RecordLink.objects.filter(sync=s, status="linked")
    )


def test_a_first_run_matches_from_its_listings_without_any_find():
    s, crm, desk = memory_sync(page_size=2)
    contacts = [crm.insert("contacts", {"email": f"p{i}@x.com", "name": f"P{i}"}) for i in range(5)]
    users = [desk.insert("users", {"email": "P1@X.com", "full_name": "P1"})]
    users.append(desk.insert("users", {"email": "p3@x.com", "full_name": "P3"}))

    report, recorder = run(s)

    assert report.outcome is Outcome.SUCCEEDED
    assert crm.calls["find"] == desk.calls["find"] == 0
    assert len(desk.all("users")) == 5  # two matched, three created
    assert (contacts[1].id, users[0].id) in _links(s)
    assert (contacts[3].id, users[1].id) in _links(s)
    assert len(_links(s)) == 5
    assert sum(e.action == "matched" for e in recorder.events) == 2


def test_a_run_from_a_cursor_matches_with_one_find_per_batch():
    s, crm, desk = memory_sync(page_size=2)
    crm.insert("contacts", {"email": "first@x.com"})
    run(s)
    users = [desk.insert("users", {"email": f"n{i}@x.com", "full_name": "N"}) for i in range(3)]
    contacts = [crm.insert("contacts", {"email": f"n{i}@x.com"}) for i in range(3)]
    crm.calls.clear()
    desk.calls.clear()

    run(s)

    # A's three new contacts (two pages, one batch): one find on B, one reverse find on A.
    assert (desk.calls["find"], crm.calls["find"]) == (1, 1)
    assert len(desk.all("users")) == 4
    for contact, user in zip(contacts, users, strict=True):
        assert (contact.id, user.id) in _links(s)


def test_two_records_of_a_batch_with_one_key_are_ambiguous_and_nothing_is_created():
    s, crm, desk = memory_sync()
    twins = [crm.insert("contacts", {"email": e}) for e in ("ann@x.com", "ANN@x.com")]
    user = desk.insert("users", {"email": "ann@x.com", "full_name": "Ann"})

    _, recorder = run(s)

    skipped = {
        e.record_id_a or e.record_id_b: e.code for e in recorder.events if e.action == "skipped"
    }
    assert skipped == {twins[0].id: "ambiguous", twins[1].id: "ambiguous", user.id: "ambiguous"}
    assert _links(s) == []
    assert [u.id for u in desk.all("users")] == [user.id]  # nothing created for either
    assert len(crm.all("contacts")) == 2  # nor for the user on A


def test_a_key_present_twice_on_the_other_side_is_ambiguous():
    s, crm, desk = memory_sync()
    ann = crm.insert("contacts", {"email": "ann@x.com"})
    for email in ("ann@x.com", " Ann@X.com"):
        desk.insert("users", {"email": email, "full_name": "Ann"})

    _, recorder = run(s)

    assert [(e.record_id_a, e.code) for e in recorder.events if e.action == "skipped"][:1] == [
        (ann.id, "ambiguous")
    ]
    assert _links(s) == []
    assert len(desk.all("users")) == 2
    assert len(crm.all("contacts")) == 1


def test_the_index_follows_records_the_run_writes():
    from apps.syncs.engine.batch import MatchIndex
    from apps.syncs.engine.plan_types import MatchPair, SyncSpec
    from apps.syncs.engine.types import Side
    from connectors.base import Record

    spec = SyncSpec(mappings=(), match_rule=(MatchPair("email", "email"),))
    index = MatchIndex(spec, Side.B)
    index.add(Record(id="1", fields={"email": "Ann@x.com"}))
    index.add(Record(id="2", fields={"email": None}))  # no key: never a candidate
    contact = Record(id="a", fields={"email": " ann@X.com"})
    assert [r.id for r in index.lookup([index.key(contact, Side.A)])] == ["1"]

    index.add(Record(id="3", fields={"email": "ann@x.com"}))  # created by the run
    assert sorted(r.id for r in index.lookup([index.key(contact, Side.A)])) == ["1", "3"]
    index.add(Record(id="1", fields={"email": "bob@x.com"}))  # its email was written
    index.add(Record(id="3", deleted=True))
    assert index.lookup([index.key(contact, Side.A)]) == []
    assert len(index) == 1

"""Planning a batch: echoes are dropped before any call, and only what is needed is read."""

from __future__ import annotations

import pytest

from apps.syncs.engine.recorder import Action, Outcome
from tests.syncs.factories import memory_sync, only, run, three_systems, workspace

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


# --- three systems: the other syncs' links are the identity ----------------------------------
def _linked(s) -> set[tuple[str, str]]:
    return set(_links(s))


def test_a_triangle_without_match_rule_links_what_the_other_syncs_joined_instead_of_creating():
    stores, syncs = three_systems(workspace(), match=False)
    x = stores["x"].insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run(syncs["xy"])
    run(syncs["xz"])
    [y] = stores["y"].all("contacts")
    [z] = stores["z"].all("contacts")

    _, recorder = run(syncs["yz"])  # y and z are both new to yz: no rule says they match

    assert _linked(syncs["yz"]) == {(y.id, z.id)}
    assert [len(stores[s].all("contacts")) for s in "xyz"] == [1, 1, 1]
    assert [e.action for e in recorder.events] == ["matched"]
    assert stores["y"].writes == stores["z"].writes == 1  # the two creates, nothing more
    assert x.id not in {y.id, z.id}


def test_a_triangle_matching_by_email_survives_an_email_change_between_the_creates():
    # The defect an earlier attempt found: x's email changed after xy copied it and before
    # xz did, so y and z were created with different emails and yz created each a twin.
    stores, syncs = three_systems(workspace())
    x = stores["x"].insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run(syncs["xy"])
    stores["x"].edit("contacts", x.id, {"email": "ann@new.com"})
    run(syncs["xz"])
    [y] = stores["y"].all("contacts")
    [z] = stores["z"].all("contacts")
    assert (y.fields["email"], z.fields["email"]) == ("ann@x.com", "ann@new.com")

    run(syncs["yz"])  # y is new to yz (its email matches nothing on z), and so is z
    for _ in range(2):
        for name in ("xy", "yz", "xz"):
            run(syncs[name])

    assert _linked(syncs["yz"]) == {(y.id, z.id)}
    assert [len(stores[s].all("contacts")) for s in "xyz"] == [1, 1, 1]
    assert {stores[s].all("contacts")[0].fields["email"] for s in "xyz"} == {"ann@new.com"}


def test_mirrored_twins_are_not_matched_across_two_records_of_one_system():
    # Two contacts of x share an email; xy copies each to y, xz copies one of them to z.
    # By email y's second copy would match z's record, which xz joins to the other
    # contact of x: linking them would make one entity of two contacts of x.
    stores, syncs = three_systems(workspace())
    first = stores["x"].insert("contacts", {"email": "ann@x.com", "name": "One"})
    second = stores["x"].insert("contacts", {"email": "ann@x.com", "name": "Two"})
    run(syncs["xy"])
    run(syncs["xz"], record_ids={"a": [second.id]})
    [z] = stores["z"].all("contacts")
    ys = {r.fields["name"]: r.id for r in stores["y"].all("contacts")}
    assert sorted(ys) == ["One", "Two"]

    _, recorder = run(syncs["yz"], record_ids={"a": [ys["One"]]})  # One alone first

    assert _linked(syncs["yz"]) == set()
    [skip] = recorder.of(Action.SKIPPED)
    assert (skip.code, skip.record_id_a) == ("already_linked", ys["One"])
    run(syncs["yz"])
    assert _linked(syncs["yz"]) == {(ys["Two"], z.id)}
    assert first.id != second.id


def test_a_create_does_not_chase_a_propagated_delete_round_a_triangle():
    # x's contact reached z, then was deleted before xy ran. yz would copy z's record to y,
    # xy that copy back to x, xz it to z again, each a step ahead of the propagated delete,
    # forever: a record joined to one another sync deleted is no source of a create.
    propagate = {"delete_policy": "propagate"}
    stores, syncs = three_systems(
        workspace(), match=False, policies=dict.fromkeys(("xy", "yz", "xz"), propagate)
    )
    x = stores["x"].insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run(syncs["xz"])
    stores["x"].remove("contacts", x.id)

    for _ in range(3):
        for name in ("yz", "xy", "xz"):
            run(syncs[name])

    assert [stores[s].all("contacts") for s in "xyz"] == [[], [], []]
    # y: its copy of z, deleted again; z: the create, the delete
    assert (stores["y"].writes, stores["z"].writes) == (2, 2)


def test_the_survivors_of_an_unlinked_delete_are_linked_not_copied_to_each_other():
    # x's contact reached y and z through xy and xz, then was deleted: both unlink. yz
    # never ran while the three were joined, so y's and z's records are new to it; the
    # pairs since unlinked still say they are one contact.
    stores, syncs = three_systems(workspace(), match=False)
    x = stores["x"].insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run(syncs["xy"])
    run(syncs["xz"])
    stores["x"].remove("contacts", x.id)
    run(syncs["xy"])
    run(syncs["xz"])
    [y] = stores["y"].all("contacts")
    [z] = stores["z"].all("contacts")

    run(syncs["yz"])

    assert _linked(syncs["yz"]) == {(y.id, z.id)}
    assert [len(stores[s].all("contacts")) for s in "xyz"] == [0, 1, 1]


def test_a_record_taken_up_again_reaches_its_survivor_down_a_chain_not_a_second_copy():
    # The chain x-y-z: x's contact reached y, then z. y's copy was deleted: both syncs
    # unlink, x's and z's records survive. x's record is edited, so xy takes it up again
    # and makes a new y copy; that copy's way to z runs through x, the deleted y record
    # and yz's own unlinked pair: it is linked to z's survivor, not copied a second time.
    stores, syncs = three_systems(workspace(), ("xy", "yz"), match=False)
    x = stores["x"].insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run(syncs["xy"])
    run(syncs["yz"])
    [z] = stores["z"].all("contacts")
    stores["y"].remove("contacts", stores["y"].all("contacts")[0].id)
    run(syncs["xy"])
    run(syncs["yz"])
    stores["x"].edit("contacts", x.id, {"phone": "555"})

    run(syncs["xy"])
    run(syncs["yz"])
    run(syncs["yz"])

    [y] = stores["y"].all("contacts")
    assert [r.id for r in stores["z"].all("contacts")] == [z.id]
    assert _linked(syncs["yz"]) == {(y.id, z.id)}
    assert stores["z"].record("contacts", z.id).fields["phone"] == "555"

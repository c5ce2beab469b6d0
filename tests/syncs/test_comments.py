"""Comments of linked records, through the engine against two in-memory systems.

The stores' "contacts" (A) and "users" (B) are given comments here; a comment write moves
its record in the change log, as a new comment moves a ticket in the real systems, so the
record's feed brings the pair into the next run.
"""

from __future__ import annotations

import re

import pytest

from apps.core.errors import Invalid
from apps.syncs.engine.comments import copy_text, fingerprint, header, same_text, strip_header
from apps.syncs.engine.recorder import Action
from apps.syncs.models import CommentLink
from apps.syncs.services import sync_update
from connectors.base import Comment, CommentSupport
from connectors.memory.connector import MemoryStore, SimulatedCrash, tick_time
from tests.syncs import factories as f
from tests.syncs.factories import linked_pair, run

pytestmark = pytest.mark.django_db

FULL = CommentSupport(edit=True, delete=True, internal=True)


def comment_sync(
    *, a: CommentSupport | None = FULL, b: CommentSupport | None = FULL, **kw
) -> tuple:
    ws = f.workspace()
    crm, desk = f.stores()
    crm.define("contacts", f.CRM_FIELDS, comments=a)
    desk.define("users", f.DESK_FIELDS, comments=b)
    kw.setdefault("comments", "both")
    s = f.sync(ws, crm, desk, **kw)
    ra, rb = linked_pair(s, crm, desk)
    return s, crm, desk, ra.id, rb.id


def bodies(store: MemoryStore, object_type: str, record_id: str) -> list[str]:
    return [c.body for c in store.comment_list(object_type, record_id)]


def comment_events(recorder, action: Action) -> list:
    return [e for e in recorder.of(action) if e.code == "comment"]


def test_a_comment_is_copied_once_with_its_author_and_time_and_never_echoed():
    s, crm, desk, a, b = comment_sync()
    original = crm.add_comment("contacts", a, "Printer is on fire.\n\n- tray 1\n- tray 2")

    _, recorder = run(s)

    [copy] = desk.comment_list("users", b)
    assert copy.body == copy_text(original, "In-memory")
    assert re.match(
        r"Ann Lee on \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d \(In-memory\):\n\n", copy.body
    )
    assert copy.body.endswith("Printer is on fire.\n\n- tray 1\n- tray 2")
    [event] = comment_events(recorder, Action.CREATED)
    assert (event.side, event.record_id_a, event.record_id_b) == ("b", a, b)
    assert f"copied from In-memory comment {original.id} by Ann Lee" in event.message
    # The copy moved B's record: the next runs read it, and neither side gets a new comment.
    for _ in range(3):
        _, recorder = run(s)
        assert comment_events(recorder, Action.CREATED) == []
    assert len(crm.comment_list("contacts", a)) == 1
    assert len(desk.comment_list("users", b)) == 1
    row = CommentLink.objects.get()
    assert (row.a_id, row.b_id, row.status, row.source) == (original.id, copy.id, "linked", "a")


def test_a_reply_on_b_comes_back_to_a_once():
    s, crm, desk, a, b = comment_sync()
    crm.add_comment("contacts", a, "Is it plugged in?")
    run(s)
    reply = desk.add_comment("users", b, "Yes, it is.", author="Bo Chen")
    run(s)
    run(s)
    assert bodies(crm, "contacts", a) == ["Is it plugged in?", copy_text(reply, "In-memory")]
    assert len(desk.comment_list("users", b)) == 2


def test_comments_of_a_record_created_by_the_run_are_copied_with_it():
    ws = f.workspace()
    crm, desk = f.stores()
    crm.define("contacts", f.CRM_FIELDS, comments=FULL)
    desk.define("users", f.DESK_FIELDS, comments=FULL)
    s = f.sync(ws, crm, desk, comments="both")
    record = crm.insert("contacts", {"email": "zoe@x.com", "name": "Zoe"})
    crm.add_comment("contacts", record.id, "first")
    crm.add_comment("contacts", record.id, "second")
    run(s)
    created = f.only(desk, "users")
    assert [b.split("\n\n", 1)[1] for b in bodies(desk, "users", created.id)] == [
        "first",
        "second",
    ]


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "answer-lost"])
def test_a_crash_around_the_write_never_duplicates_the_copy(after):
    s, crm, desk, a, b = comment_sync()
    crm.add_comment("contacts", a, "Only once, please.")
    desk.crash_on_write(1, after=after)
    with pytest.raises(SimulatedCrash):
        run(s)
    row = CommentLink.objects.get()
    assert row.status == "pending_b"
    assert len(desk.comment_list("users", b)) == (1 if after else 0)

    _, recorder = run(s)
    run(s)

    [copy] = desk.comment_list("users", b)
    assert copy.body.endswith("Only once, please.")
    row.refresh_from_db()
    assert (row.status, row.b_id) == ("linked", copy.id)
    if after:  # found by its text and linked, not written again
        assert comment_events(recorder, Action.MATCHED)
        assert comment_events(recorder, Action.CREATED) == []
    assert len(crm.comment_list("contacts", a)) == 1  # and never echoed to A


def test_an_edit_of_the_original_is_written_to_the_copy_and_back_edits_lose_the_header():
    s, crm, desk, a, b = comment_sync()
    original = crm.add_comment("contacts", a, "Version 1")
    run(s)
    crm.edit_comment("contacts", a, original.id, "Version 2")
    _, recorder = run(s)
    [copy] = desk.comment_list("users", b)
    assert copy.body == copy_text(original, "In-memory").replace("Version 1", "Version 2")
    assert [e.side for e in comment_events(recorder, Action.UPDATED)] == ["b"]
    # A person edits the copy on B: the original takes the new body, without the header.
    desk.edit_comment("users", b, copy.id, copy.body.replace("Version 2", "Version 3"))
    run(s)
    assert bodies(crm, "contacts", a) == ["Version 3"]
    _, recorder = run(s)
    assert comment_events(recorder, Action.UPDATED) == []  # settled: no ping-pong


def test_an_edit_is_not_copied_where_the_other_system_cannot_edit():
    s, crm, desk, a, b = comment_sync(b=CommentSupport())
    original = crm.add_comment("contacts", a, "Version 1")
    run(s)
    crm.edit_comment("contacts", a, original.id, "Version 2")
    _, recorder = run(s)
    assert bodies(desk, "users", b)[0].endswith("Version 1")
    [skip] = comment_events(recorder, Action.SKIPPED)
    assert "cannot be edited" in skip.message
    _, recorder = run(s)
    assert comment_events(recorder, Action.SKIPPED) == []  # reported once


def test_a_delete_propagates_under_the_propagate_policy():
    s, crm, desk, a, b = comment_sync(delete_policy="propagate")
    original = crm.add_comment("contacts", a, "Oops, wrong ticket")
    run(s)
    crm.delete_comment("contacts", a, original.id)
    _, recorder = run(s)
    assert desk.comment_list("users", b) == []
    assert [e.side for e in comment_events(recorder, Action.DELETED)] == ["b"]
    assert CommentLink.objects.get().status == "deleted"


@pytest.mark.parametrize("policy", ["unlink", "ignore"])
def test_a_delete_under_other_policies_leaves_the_copy_and_never_copies_it_again(policy):
    s, crm, desk, a, b = comment_sync(delete_policy=policy)
    crm.add_comment("contacts", a, "Keep me on B")
    run(s)
    [copy] = desk.comment_list("users", b)
    crm.delete_comment("contacts", a, crm.comment_list("contacts", a)[0].id)
    _, recorder = run(s)
    run(s)
    assert desk.comment_list("users", b) == [copy]
    assert crm.comment_list("contacts", a) == []  # the copy is not copied back
    [event] = comment_events(recorder, Action.UNLINKED)
    assert f"delete policy is {policy}" in event.message


def test_a_delete_of_the_copy_is_not_recreated():
    s, crm, desk, a, b = comment_sync(delete_policy="unlink")
    crm.add_comment("contacts", a, "Agent deletes the copy")
    run(s)
    desk.delete_comment("users", b, desk.comment_list("users", b)[0].id)
    run(s)
    run(s)
    assert desk.comment_list("users", b) == []
    assert len(crm.comment_list("contacts", a)) == 1


def test_private_notes_are_left_out_unless_the_sync_includes_them():
    s, crm, desk, a, b = comment_sync()
    crm.add_comment("contacts", a, "internal only", internal=True)
    crm.add_comment("contacts", a, "public")
    run(s)
    assert [c.body.endswith("public") for c in desk.comment_list("users", b)] == [True]

    sync_update(s, comments_internal=True)
    run(s, full=True)
    notes = {c.body.split("\n\n", 1)[1]: c.internal for c in desk.comment_list("users", b)}
    assert notes == {"public": False, "internal only": True}


def test_private_notes_never_go_to_a_system_without_them():
    s, crm, desk, a, b = comment_sync(
        b=CommentSupport(edit=True, delete=True), comments_internal=True
    )
    crm.add_comment("contacts", a, "secret", internal=True)
    run(s)
    assert desk.comment_list("users", b) == []


def test_one_way_comments_are_not_copied_back():
    s, crm, desk, a, b = comment_sync(comments="a_to_b")
    crm.add_comment("contacts", a, "from A")
    desk.add_comment("users", b, "from B")
    run(s)
    run(s)
    assert len(desk.comment_list("users", b)) == 2
    assert bodies(crm, "contacts", a) == ["from A"]


def test_a_refused_copy_is_an_error_for_that_comment_and_the_run_goes_on():
    s, crm, desk, a, b = comment_sync()
    crm.add_comment("contacts", a, "refused")
    fault = desk.fail("comment", record_id=b, message="body too long")
    report, recorder = run(s)
    [error] = comment_events(recorder, Action.ERROR)
    assert "body too long" in error.message
    assert report.outcome == "partial"
    assert CommentLink.objects.count() == 0  # nothing pending: the next run tries again
    desk.record_faults.remove(fault)
    crm.edit("contacts", a, {"phone": "2"})  # the record comes up in the feed again
    run(s)
    assert bodies(desk, "users", b)[0].endswith("refused")


def test_comments_off_reads_no_comment():
    s, crm, desk, a, b = comment_sync(comments="off")
    crm.add_comment("contacts", a, "not synced")
    run(s)
    assert desk.comment_list("users", b) == []
    assert crm.calls["comments"] == 0
    assert desk.calls["comments"] == 0


def test_comments_cannot_be_switched_on_for_a_type_without_them():
    s, *_ = comment_sync(b=None, comments="off")
    with pytest.raises(Invalid) as error:
        sync_update(s, comments="both")
    assert error.value.field == "comments"
    assert "has no comments on users" in str(error.value)


def test_header_and_text_helpers():
    comment = Comment(
        id="1", body="Hi", author_name="Ann Lee", created_at=tick_time(0).replace(
            year=2026, month=12, day=3, hour=14, minute=2
        ),
    )  # fmt: skip
    assert header(comment, "Zendesk") == "Ann Lee on 3 Dec 2026, 14:02 (Zendesk):"
    text = copy_text(comment, "Zendesk")
    assert strip_header(text, "Zendesk") == "Hi"
    assert strip_header("No header here\n\nHi", "Zendesk") == "No header here\n\nHi"
    assert same_text("Ann Lee on 3 Dec 2026, 14:02 (Zendesk):\n\n*Hi* ", text)
    assert not same_text("Hi", text)
    assert fingerprint("a  b\n") == fingerprint("a b")

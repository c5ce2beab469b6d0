"""Recognising an echo of a sync's own write from the time its webhook announces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apps.syncs.echoes import echoes, not_newer
from apps.syncs.models import RecordLink
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db

AT = datetime(2026, 12, 6, 12, 0, 1, tzinfo=UTC)


def test_a_change_no_later_than_the_stored_copy_is_an_echo():
    assert not_newer(AT, AT)
    assert not_newer(AT - timedelta(milliseconds=1), AT)
    assert not not_newer(AT + timedelta(milliseconds=1), AT + timedelta(microseconds=500))


def test_whole_second_copies_are_compared_at_whole_seconds():
    # Zendesk stores 12:00:01; its event for that write says 12:00:01.4.
    assert not_newer(AT + timedelta(milliseconds=400), AT)
    assert not not_newer(AT + timedelta(seconds=1), AT)


def test_echoes_are_the_linked_records_whose_announced_change_is_not_newer():
    sync, crm, desk = f.memory_sync()
    _, b = f.linked_pair(sync, crm, desk)
    link = RecordLink.objects.get(sync=sync)
    assert link.b_modified_at is not None
    stored = link.b_modified_at

    assert echoes(sync, "b", {b.id: stored}) == {b.id}
    assert echoes(sync, "b", {b.id: stored + timedelta(seconds=2)}) == set()
    assert echoes(sync, "b", {b.id: None}) == set()  # no time: never an echo
    assert echoes(sync, "b", {"unknown": stored}) == set()  # not linked
    assert echoes(sync, "a", {b.id: stored}) == set()  # that id is on B, not A


def test_a_link_that_is_not_linked_never_makes_an_echo():
    sync, crm, desk = f.memory_sync()
    _, b = f.linked_pair(sync, crm, desk)
    link = RecordLink.objects.get(sync=sync)
    RecordLink.objects.filter(pk=link.pk).update(status="unlinked")

    assert echoes(sync, "b", {b.id: link.b_modified_at}) == set()


def test_another_syncs_link_is_not_this_syncs_echo():
    sync, crm, desk = f.memory_sync()
    _, b = f.linked_pair(sync, crm, desk)
    other, _, _ = f.memory_sync()
    stored = RecordLink.objects.get(sync=sync).b_modified_at

    assert echoes(other, "b", {b.id: stored}) == set()


def test_a_side_must_be_a_or_b():
    sync, _, _ = f.memory_sync()
    with pytest.raises(ValueError, match="side"):
        echoes(sync, "c", {})

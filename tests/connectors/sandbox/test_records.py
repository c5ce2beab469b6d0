"""The record table every vendor sandbox keeps its records in (connectors.sandbox.records).

A data structure, tested directly; test_app.py drives a vendor built on it over HTTP, and
each vendor's tests drive theirs.
"""

from __future__ import annotations

import json

import pytest

from connectors.sandbox.records import RecordTable, Row


def notes_and_tags() -> RecordTable:
    return RecordTable(
        {"notes": 1, "tags": 100}, unique={"notes": lambda row: row.data.get("slug") or None}
    )


def add(table: RecordTable, slug: str, modified: float = 10.0, **kwargs) -> Row:
    return table.insert("notes", {"slug": slug}, created=1.0, modified=modified, **kwargs)


def test_ids_are_allocated_per_type_from_their_first_id_and_never_reused():
    table = notes_and_tags()
    first, second = add(table, "a"), add(table, "b")
    tag = table.insert("tags", {}, created=1.0)
    assert (first.id, second.id, tag.id) == (1, 2, 100)

    table.purge(second)
    assert add(table, "c").id == 3
    fixed = add(table, "d", record_id=50)
    assert fixed.id == 50
    assert add(table, "e").id == 51
    with pytest.raises(ValueError, match="notes 50 exists already"):
        add(table, "f", record_id=50)


def test_every_write_takes_the_next_version_and_the_feed_resumes_after_one():
    table = notes_and_tags()
    first, second = add(table, "a"), add(table, "b")
    assert (first.version, second.version, table.version) == (1, 2, 2)

    table.save(first, modified=20.0)

    assert (first.version, first.modified) == (3, 20.0)
    assert table.changes("notes") == [second, first]
    assert table.changes("notes", after=2) == [first]
    assert table.changes("notes", after=3) == []
    assert table.rows("notes") == [first, second]  # lists stay in id order


def test_soft_delete_leaves_a_tombstone_in_the_feed_and_restore_brings_it_back():
    table = notes_and_tags()
    note, other = add(table, "a"), add(table, "b")

    table.delete(note, 30.0)

    assert table.get("notes", note.id) is None
    assert table.get("notes", note.id, deleted=True) is note
    assert (note.deleted, note.live) == (30.0, False)
    assert table.rows("notes") == [other]
    assert table.rows("notes", "deleted") == [note]
    assert table.rows("notes", "all") == [note, other]
    assert table.count("notes") == 1
    assert table.changes("notes", after=2) == [note]
    assert list(table.by_modified("notes")) == [other]

    table.restore(note, modified=40.0)

    assert table.get("notes", note.id) is note
    assert (note.deleted, note.modified) == (None, 40.0)
    assert list(table.by_modified("notes")) == [other, note]

    table.purge(note)
    assert table.get("notes", note.id, deleted=True) is None
    assert table.rows("notes", "all") == [other]
    assert note not in table.changes("notes")


def test_modified_order_finds_the_first_row_at_or_after_a_time():
    table = notes_and_tags()
    rows = [
        add(table, s, modified=m) for s, m in (("a", 30.0), ("b", 10.0), ("c", 20.0), ("d", 20.0))
    ]
    order = table.by_modified("notes")

    assert list(order) == [rows[1], rows[2], rows[3], rows[0]]
    assert order.position(20.0) == 1
    assert order.position(20.0, inclusive=False) == 3
    assert order.position(5.0) == 0
    assert order.position(99.0) == 4
    assert order[1:3] == [rows[2], rows[3]]
    assert len(order) == 4


def test_unique_keys_follow_writes_and_deletes_of_live_rows():
    table = notes_and_tags()
    note = add(table, "a")
    assert table.find("notes", "a") is note

    note.data["slug"] = "b"
    table.save(note)
    assert table.find("notes", "a") is None
    assert table.find("notes", "b") is note

    table.delete(note, 20.0)
    assert table.find("notes", "b") is None
    replacement = add(table, "b")  # the key is free again
    assert table.find("notes", "b") is replacement


def test_dump_and_load_round_trip_through_json():
    table = notes_and_tags()
    kept, gone = add(table, "a"), add(table, "b")
    table.delete(gone, 20.0)
    table.save(kept, modified=30.0)
    table.insert("tags", {"name": "x"}, created=2.0)

    restored = notes_and_tags()
    restored.load(json.loads(json.dumps(table.dump())))

    assert restored.dump() == table.dump()
    assert restored.changes("notes") == table.changes("notes")
    assert restored.find("notes", "a") == kept
    assert restored.get("notes", gone.id, deleted=True) == gone
    assert add(restored, "c").id == 3  # the id counters came along


def test_renumber_puts_the_feed_in_order_of_modification_time():
    table = notes_and_tags()
    late = add(table, "late", modified=50.0)
    early = add(table, "early", modified=10.0)
    tag = table.insert("tags", {}, created=1.0, modified=30.0)

    table.renumber()

    assert (early.version, tag.version, late.version) == (1, 2, 3)
    assert table.changes("notes") == [early, late]
    assert table.version == 3


def test_an_unknown_object_type_is_an_error():
    table = notes_and_tags()
    with pytest.raises(KeyError, match="no object type 'users'"):
        table.insert("users", {}, created=1.0)
    with pytest.raises(ValueError, match="unique keys for unknown object types"):
        RecordTable({"notes": 1}, unique={"users": lambda row: None})

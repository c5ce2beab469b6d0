"""The in-memory connector: the full connector contract over an in-process store.

Two connections whose config names different stores are two independent "systems"; two
connections naming the same store see the same records. Stores live for the life of the
process (module-level registry); tests call `reset_stores()` between examples.

How tests use it::

    from connectors.base import FieldSpec, FieldType
    from connectors.memory.connector import store_for

    crm = store_for("crm", normalise=True)          # lowercases emails, trims strings
    crm.define("contacts", [FieldSpec("email", "Email", FieldType.EMAIL, required=True)])
    rec = crm.insert("contacts", {"email": "Ann@Example.com"})   # a user's edit
    crm.edit("contacts", rec.id, {"email": "ann@example.org"})
    crm.remove("contacts", rec.id)

    connector = registry.build("memory", {"base_url": "http://127.0.0.1/memory", "store": "crm"})

What a store guarantees:

- Every write (by the connector or by `insert`/`edit`/`remove`) takes the next tick of one
  clock shared by all stores, so versions and `modified_at` increase strictly across systems
  and `newest` comparisons between two stores are meaningful.
- `changes()` is incremental: an append-only log of (tick, id), read from the cursor
  (`{"seq": tick}`) with a bisect; a record edited twice appears once, at its latest tick.
  The feed stops at the log's end as it was when `changes()` was called.
- Deletions are tombstones that appear in the feed (`deleted=True`) and vanish from `get`
  and `find`.
- Comments (object types defined with `comments=CommentSupport(...)`): a user adds, edits
  or deletes them with `add_comment`/`edit_comment`/`delete_comment`, the connector with
  `comment_create`/`comment_update`/`comment_delete`; every comment write moves its record
  to the end of the change log, as a new comment moves a ticket's updated time in the real
  systems. Bodies are stored as given (canonical Markdown). Comment writes through the
  connector count as record writes for `crash_on_write` and `writes`.

Background jobs (off by default): with `store.background` on, a connector whose caller
settles later (`settle_later`) answers every write as pending (a handle naming a job) and
only queues it; `store.run_jobs()` does the queued writes, in order, as the system's job
queue would; `settle()` answers each handle's outcome once its job ran, "still pending"
before, `OutcomeUnknown` for a job the store never queued. Job writes count for `writes`
when they run, not when they are queued.

Fault injection (all off by default):

- `store.feed_faults`: a set of "duplicate" (every page is delivered twice), "overlap"
  (each page repeats the last record of the previous one) and "reorder" (records within a
  page are shuffled with `store.random`). These never skip a record after the cursor, so
  they stay within the contract's at-least-once promise. Two more break the contract, as a
  misbehaving system would: "endless" (after the last page, empty pages that say more
  follow, forever) and "repeat_cursor" (the last page says more follow and points back at
  itself); the connector's page guard stops both with EndlessPaging.
- `store.fail(op, ...)`: per-record RecordErrors for "create", "update" or "delete", by record
  id or by a predicate over the written fields, until `store.record_faults.clear()`. With
  `partial=True` (create and update only) the write is applied without the fault's `field`
  and the answer carries both the stored record and the error: a write that happened but
  whose follow-up step failed (Jira creating an issue it cannot move to the wanted status).
- `store.on_write(op, callback)`: `callback(record_id)` runs inside every connector write of
  `op`, after the values are stored and before the answer is read back, so a user's edit it
  makes (`store.edit`) is in the returned record, as when a user edits concurrently with a
  write. Until `store.write_hooks.clear()`.
- `store.crash_on_write(n, after=False)`: the n-th record write from now raises
  `SimulatedCrash` (a BaseException, so nothing catches it as an ordinary error) before the
  write is applied, or after it is applied with the answer lost (`after=True`).
- `store.writes` counts record writes made through connectors; `store.calls` counts
  connector calls by method name; `store.history` lists every write (values as stored,
  after normalisation) with its tick and whether a user or a connector made it.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field

from connectors.base import (
    JSON,
    ChangePage,
    Comment,
    CommentSupport,
    Connector,
    ConnectorConfig,
    Cursor,
    FieldSpec,
    FieldType,
    NewComment,
    ObjectType,
    Record,
    RecordUpdate,
    WebhookEvent,
    WebhookRequest,
    WebhookResult,
    WriteResult,
    webhook_json,
)
from connectors.errors import (
    ConfigurationError,
    OutcomeUnknown,
    RecordError,
    WebhookVerificationError,
)

SYSTEM = "memory"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
SIGNATURE_HEADER = "X-Memory-Signature"
REPLAY_WINDOW_SECONDS = 300


class SimulatedCrash(BaseException):
    """The process "died" at an injected point. Deliberately not an Exception subclass."""


_clock = itertools.count(1)
_clock_lock = threading.Lock()


def _tick() -> int:
    with _clock_lock:
        return next(_clock)


def tick_time(tick: int) -> datetime:
    """The `modified_at` a store gives a write made at `tick` (one second per tick)."""
    return EPOCH + timedelta(seconds=tick)


@dataclass
class _Row:
    id: str
    fields: dict[str, JSON]
    seq: int
    deleted: bool = False

    def as_record(self) -> Record:
        return Record(
            id=self.id,
            fields=json.loads(json.dumps(self.fields)),  # callers never share our dicts
            modified_at=tick_time(self.seq),
            version=str(self.seq),
            deleted=self.deleted,
        )


@dataclass
class _CommentRow:
    id: str
    body: str
    author_name: str
    author_email: str | None
    created: int  # ticks
    updated: int
    internal: bool = False

    def as_comment(self) -> Comment:
        return Comment(
            id=self.id,
            body=self.body,
            author_name=self.author_name,
            author_email=self.author_email,
            created_at=tick_time(self.created),
            updated_at=tick_time(self.updated),
            internal=self.internal,
            raw=self.body,
        )


@dataclass
class _Table:
    object_type: ObjectType
    specs: dict[str, FieldSpec]
    rows: dict[str, _Row] = field(default_factory=dict)
    # Per record id, its comments oldest first.
    comments: dict[str, list[_CommentRow]] = field(default_factory=dict)
    log_seqs: list[int] = field(default_factory=list)
    log_ids: list[str] = field(default_factory=list)
    next_id: int = 1


@dataclass(frozen=True)
class Change:
    """One entry of a store's history: who wrote which values to which record, when."""

    seq: int
    object_type: str
    record_id: str
    values: dict[str, JSON]
    by: str  # "user" (insert/edit/remove) or "connector"
    deleted: bool = False


@dataclass
class RecordFault:
    """Refuse matching writes of `op` with a RecordError carrying `message`."""

    op: str
    record_id: str | None = None
    when: Callable[[dict[str, JSON]], bool] | None = None
    message: str = "refused by the injected fault"
    field: str | None = None
    partial: bool = False  # apply the write without `field`, answer with record and error

    def matches(self, op: str, record_id: str | None, fields: dict[str, JSON]) -> bool:
        if op != self.op:
            return False
        if self.record_id is not None and self.record_id != record_id:
            return False
        return self.when is None or self.when(fields)


class MemoryStore:
    """One in-memory "system": object types with field specs, records, a change log, faults."""

    def __init__(self, name: str, *, normalise: bool = False, seed: int = 0) -> None:
        self.name = name
        self.normalise = normalise
        self.tables: dict[str, _Table] = {}
        self.feed_faults: set[str] = set()
        self.record_faults: list[RecordFault] = []
        self.write_hooks: list[tuple[str, Callable[[str], None]]] = []
        self.random = random.Random(seed)
        self.writes = 0
        self.calls: Counter[str] = Counter()
        self.history: list[Change] = []
        self.comment_seq = 0
        # Who the connector's API user is: the author of the comments it writes.
        self.api_user = ("Concord", "concord@example.com")
        self._crash_countdown: int | None = None
        self._crash_after = False
        self.lock = threading.RLock()
        # Background jobs (see the module docstring): queued writes and finished ones.
        self.background = False
        self.jobs: list[tuple[str, str, str, str | None, dict[str, JSON]]] = []
        self.job_results: dict[str, WriteResult] = {}
        self._job_seq = itertools.count(1)

    # --- schema ------------------------------------------------------------------------
    def define(
        self,
        object_type: str,
        fields: Sequence[FieldSpec],
        *,
        label: str | None = None,
        deletes_in_feed: bool = True,
        comments: CommentSupport | None = None,
        people: bool = False,
    ) -> None:
        """Declare (or redeclare, keeping records) an object type and its fields. `people`:
        its records are people (with an "email" field), as a system's users are."""
        with self.lock:
            spec_map = {spec.name: spec for spec in fields}
            existing = self.tables.get(object_type)
            ot = ObjectType(
                name=object_type,
                label=label or object_type.title(),
                deletes_in_feed=deletes_in_feed,
                comments=comments,
                people=people,
            )
            if existing is None:
                self.tables[object_type] = _Table(ot, spec_map)
            else:
                existing.object_type = ot
                existing.specs = spec_map

    def table(self, object_type: str) -> _Table:
        try:
            return self.tables[object_type]
        except KeyError:
            raise ConfigurationError(
                f"the store {self.name!r} has no object type {object_type!r}",
                system=SYSTEM,
            ) from None

    # --- faults ------------------------------------------------------------------------
    def fail(
        self,
        op: str,
        *,
        record_id: str | None = None,
        when: Callable[[dict[str, JSON]], bool] | None = None,
        message: str = "refused by the injected fault",
        field: str | None = None,
        partial: bool = False,
    ) -> RecordFault:
        """Make writes of `op` ("create", "update", "delete", or "comment": any comment write
        on the record) that match fail per record.

        With `partial`, a matching create or update is still applied, minus `field`, and its
        answer carries the stored record and the error. Raises ValueError for an unknown op
        or a partial delete.
        """
        if op not in ("create", "update", "delete", "comment"):
            raise ValueError(f"unknown write operation {op!r}")
        if partial and op in ("delete", "comment"):
            raise ValueError("a delete cannot fail partly")
        fault = RecordFault(op, record_id, when, message, field, partial)
        self.record_faults.append(fault)
        return fault

    def on_write(self, op: str, callback: Callable[[str], None]) -> None:
        """Call `callback(record_id)` inside each connector write of `op` ("create" or
        "update"), after the values are stored and before the answer is read back."""
        if op not in ("create", "update"):
            raise ValueError(f"write hooks are for create or update, not {op!r}")
        self.write_hooks.append((op, callback))

    def crash_on_write(self, n: int, *, after: bool = False) -> None:
        """Raise SimulatedCrash at the n-th record write from now (1 = the next one)."""
        if n < 1:
            raise ValueError("n counts from 1")
        self._crash_countdown = n
        self._crash_after = after

    def cancel_crash(self) -> None:
        self._crash_countdown = None

    def _crash_point(self) -> bool:
        """Count one record write; True when this is the one that crashes."""
        if self._crash_countdown is None:
            return False
        self._crash_countdown -= 1
        if self._crash_countdown > 0:
            return False
        self._crash_countdown = None
        return True

    def run_jobs(self) -> int:
        """Do every queued background write, in order; how many ran."""
        with self.lock:
            queued, self.jobs = self.jobs, []
            for job_id, op, object_type, record_id, values in queued:
                table = self.table(object_type)
                self.job_results[job_id] = _write_one(self, op, table, record_id, values)
                self.writes += 1
        return len(queued)

    # --- storage primitives ------------------------------------------------------------
    def _normalised(self, table: _Table, values: dict[str, JSON]) -> dict[str, JSON]:
        if not self.normalise:
            return dict(values)
        out: dict[str, JSON] = {}
        for name, value in values.items():
            spec = table.specs.get(name)
            if isinstance(value, str) and spec is not None:
                if spec.type in (FieldType.EMAIL, FieldType.USER):
                    value = value.strip().lower()
                elif spec.type in (FieldType.STRING, FieldType.TEXT):
                    value = value.strip()
                elif spec.type is FieldType.DATETIME:
                    value = _normalise_datetime(value)
            out[name] = value
        return out

    def _append(self, table: _Table, row: _Row) -> None:
        row.seq = _tick()
        table.log_seqs.append(row.seq)
        table.log_ids.append(row.id)

    def _put(
        self, table: _Table, record_id: str | None, values: dict[str, JSON], *, by: str
    ) -> _Row:
        values = self._normalised(table, values)
        if record_id is None:
            record_id = f"{self.name[:3]}-{table.next_id}"
            table.next_id += 1
            row = _Row(record_id, {}, 0)
            table.rows[record_id] = row
        else:
            row = table.rows[record_id]
        row.fields.update(values)
        self._append(table, row)
        self.history.append(
            Change(row.seq, table.object_type.name, row.id, json.loads(json.dumps(values)), by)
        )
        return row

    def _tombstone(self, table: _Table, row: _Row, *, by: str) -> None:
        row.deleted = True
        self._append(table, row)
        self.history.append(Change(row.seq, table.object_type.name, row.id, {}, by, True))

    # --- a user's edits (not connector writes: no faults, not counted) ------------------
    def insert(self, object_type: str, fields: dict[str, JSON]) -> Record:
        with self.lock:
            table = self.table(object_type)
            self._check_fields(table, None, fields, op="create")
            return self._put(table, None, fields, by="user").as_record()

    def edit(self, object_type: str, record_id: str, fields: dict[str, JSON]) -> Record:
        with self.lock:
            table = self.table(object_type)
            row = table.rows.get(record_id)
            if row is None or row.deleted:
                raise KeyError(f"{self.name}/{object_type}/{record_id} does not exist")
            return self._put(table, record_id, fields, by="user").as_record()

    def remove(self, object_type: str, record_id: str) -> None:
        with self.lock:
            table = self.table(object_type)
            row = table.rows.get(record_id)
            if row is not None and not row.deleted:
                self._tombstone(table, row, by="user")

    # --- comments (a user's, or the connector's through the methods below) -------------
    def add_comment(
        self,
        object_type: str,
        record_id: str,
        body: str,
        *,
        author: str = "Ann Lee",
        email: str | None = "ann@example.com",
        internal: bool = False,
    ) -> Comment:
        """A person comments on the record; the record moves in the change log."""
        with self.lock:
            table, row = self._commentable(object_type, record_id)
            return self._comment_put(table, row, None, body, author, email, internal)

    def edit_comment(self, object_type: str, record_id: str, comment_id: str, body: str) -> Comment:
        with self.lock:
            table, row = self._commentable(object_type, record_id)
            found = self._comment_row(table, record_id, comment_id)
            return self._comment_put(table, row, found, body, "", None, found.internal)

    def delete_comment(self, object_type: str, record_id: str, comment_id: str) -> None:
        with self.lock:
            table, row = self._commentable(object_type, record_id)
            self._comment_remove(table, row, comment_id)

    def comment_list(self, object_type: str, record_id: str) -> list[Comment]:
        """The record's comments as stored, oldest first."""
        table = self.table(object_type)
        return [c.as_comment() for c in table.comments.get(record_id, [])]

    def _commentable(self, object_type: str, record_id: str) -> tuple[_Table, _Row]:
        table = self.table(object_type)
        if table.object_type.comments is None:
            raise ConfigurationError(f"{object_type} has no comments", system=SYSTEM)
        row = table.rows.get(record_id)
        if row is None or row.deleted:
            raise RecordError(f"no such record {record_id}", record_id=record_id, system=SYSTEM)
        return table, row

    def _comment_row(self, table: _Table, record_id: str, comment_id: str) -> _CommentRow:
        for comment in table.comments.get(record_id, []):
            if comment.id == comment_id:
                return comment
        raise RecordError(f"no comment {comment_id} on {record_id}", record_id=record_id)

    def _comment_put(
        self,
        table: _Table,
        row: _Row,
        existing: _CommentRow | None,
        body: str,
        author: str,
        email: str | None,
        internal: bool,
    ) -> Comment:
        self._append(table, row)  # the record's updated time moves with its comments
        if existing is None:
            self.comment_seq += 1
            existing = _CommentRow(
                f"{self.name[:3]}-c{self.comment_seq}", body, author, email, row.seq, row.seq,
                internal,
            )  # fmt: skip
            table.comments.setdefault(row.id, []).append(existing)
        else:
            existing.body = body
            existing.updated = row.seq
        return existing.as_comment()

    def _comment_remove(self, table: _Table, row: _Row, comment_id: str) -> None:
        comments = table.comments.get(row.id, [])
        kept = [c for c in comments if c.id != comment_id]
        if len(kept) != len(comments):
            table.comments[row.id] = kept
            self._append(table, row)

    def record(self, object_type: str, record_id: str) -> Record | None:
        """The record as stored (None if absent or deleted)."""
        row = self.table(object_type).rows.get(record_id)
        return None if row is None or row.deleted else row.as_record()

    def all(self, object_type: str) -> list[Record]:
        """Every live record, in creation order."""
        return [r.as_record() for r in self.table(object_type).rows.values() if not r.deleted]

    # --- validation --------------------------------------------------------------------
    def _check_fields(
        self, table: _Table, record_id: str | None, fields: dict[str, JSON], *, op: str
    ) -> None:
        """Raise RecordError naming the field when a value cannot be stored."""
        for name, value in fields.items():
            spec = table.specs.get(name)
            if spec is None:
                raise RecordError(
                    f"unknown field {name!r}", record_id=record_id, fields={name: "unknown"}
                )
            problem = _type_problem(spec, value)
            if problem:
                raise RecordError(f"{name}: {problem}", record_id=record_id, fields={name: problem})
        if op == "create":
            missing = [
                s.name
                for s in table.specs.values()
                if s.required and fields.get(s.name) in (None, "", [])
            ]
            if missing:
                raise RecordError(
                    "required fields are empty: " + ", ".join(missing),
                    record_id=record_id,
                    fields={m: "required" for m in missing},
                )


def _normalise_datetime(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _type_problem(spec: FieldSpec, value: JSON) -> str | None:
    """Why `value` cannot be stored in `spec` (None when it can). Empty is always allowed."""
    if value is None or value == "" or value == []:
        return None
    t = spec.type
    if t in (FieldType.NUMBER, FieldType.INTEGER):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{value!r} is not a number"
        if t is FieldType.INTEGER and not float(value).is_integer():
            return f"{value!r} is not an integer"
    elif t is FieldType.BOOLEAN:
        if not isinstance(value, bool):
            return f"{value!r} is not a boolean"
    elif t is FieldType.ENUM:
        if not isinstance(value, str) or value not in spec.option_values():
            return f"{value!r} is not an option"
    elif t is FieldType.MULTI_ENUM:
        if not isinstance(value, list) or any(v not in spec.option_values() for v in value):
            return f"{value!r} holds a value that is not an option"
    elif t is FieldType.DATE:
        try:
            datetime.strptime(str(value), "%Y-%m-%d")
        except ValueError:
            return f"{value!r} is not a YYYY-MM-DD date"
    elif t is FieldType.DATETIME:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return f"{value!r} is not an ISO 8601 date-time"
        if parsed.tzinfo is None:
            return f"{value!r} has no UTC offset"
    elif t in (FieldType.EMAIL, FieldType.USER):
        if not isinstance(value, str) or "@" not in value:
            return f"{value!r} is not an email address"
    elif not isinstance(value, str):
        return f"{value!r} is not text"
    return None


_stores: dict[str, MemoryStore] = {}
_stores_lock = threading.Lock()


def _write_one(
    store: MemoryStore, op: str, table: _Table, record_id: str | None, values: dict[str, JSON]
) -> WriteResult:
    """One record's write, as the connector (or a background job) does it."""
    partial: RecordError | None = None
    for fault in store.record_faults:
        if fault.matches(op, record_id, values):
            fields = {fault.field: fault.message} if fault.field else {}
            error = RecordError(
                fault.message, record_id=record_id, fields=fields, system=SYSTEM, call=op
            )
            if not fault.partial:
                return WriteResult(error=error)
            partial = error
            values = {k: v for k, v in values.items() if k != fault.field}
            break
    try:
        if op == "delete":
            row = table.rows.get(record_id or "")
            if row is not None and not row.deleted:
                store._tombstone(table, row, by="connector")
            return WriteResult(record=Record(id=record_id or "", deleted=True))
        if op == "update":
            row = table.rows.get(record_id or "")
            if row is None or row.deleted:
                raise RecordError("no such record", record_id=record_id)
        store._check_fields(table, record_id, values, op=op)
        read_only = [n for n in values if not table.specs[n].writable]
        if read_only:
            raise RecordError(
                "read-only fields: " + ", ".join(read_only),
                record_id=record_id,
                fields={n: "read-only" for n in read_only},
            )
        row = store._put(table, record_id, values, by="connector")
        for hook_op, callback in list(store.write_hooks):
            if hook_op == op:
                callback(row.id)
        if partial is not None:
            partial.record_id = row.id
        return WriteResult(record=row.as_record(), error=partial)
    except RecordError as exc:
        exc.system, exc.call = SYSTEM, op
        return WriteResult(error=exc)


def store_for(name: str, *, normalise: bool | None = None, seed: int = 0) -> MemoryStore:
    """The store called `name`, created on first use. `normalise` (if given) is applied."""
    with _stores_lock:
        store = _stores.get(name)
        if store is None:
            store = _stores[name] = MemoryStore(name, normalise=bool(normalise), seed=seed)
        elif normalise is not None:
            store.normalise = normalise
        return store


def reset_stores() -> None:
    """Forget every store (tests call it between examples)."""
    with _stores_lock:
        _stores.clear()


def sign_webhook(
    secret: str, events: Sequence[dict[str, str]], *, now: float | None = None
) -> tuple[dict[str, str], bytes]:
    """Build (headers, body) for a memory webhook delivery, as the "system" would send it."""
    body = json.dumps(
        {
            "delivery_id": hashlib.sha256(repr(events).encode()).hexdigest()[:16],
            "events": list(events),
        }
    ).encode()
    ts = int(time.time() if now is None else now)
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {SIGNATURE_HEADER: f"t={ts},v1={digest}"}, body


class MemoryConfig(ConnectorConfig):
    store: str = Field(min_length=1, max_length=100)
    page_size: int = Field(default=100, ge=1, le=1000)


class MemoryConnector(Connector):
    """The connector contract over a MemoryStore named by `config.store`."""

    kind = "memory"
    label = "In-memory"
    config_class = MemoryConfig

    @property
    def store(self) -> MemoryStore:
        return store_for(self.config.store)  # type: ignore[attr-defined]

    def _observe(self, call: str) -> None:
        self.store.calls[call] += 1
        if self.on_call is not None:
            self.on_call(system=SYSTEM, call=call, status=200, seconds=0.0)

    def check(self) -> None:
        self._observe("check")

    def object_types(self) -> list[ObjectType]:
        self._observe("object_types")
        return [t.object_type for t in self.store.tables.values()]

    def fields(self, object_type: str) -> list[FieldSpec]:
        self._observe("fields")
        return list(self.store.table(object_type).specs.values())

    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        store = self.store
        table = store.table(object_type)
        page_size: int = self.config.page_size  # type: ignore[attr-defined]
        after = 0
        if cursor is not None:
            try:
                after = int(cursor["seq"])
            except (KeyError, TypeError, ValueError):
                raise ConfigurationError(f"malformed memory cursor {cursor!r}") from None
        # Snapshot the end: writes made while the caller walks the pages come next time.
        with store.lock:
            end = len(table.log_seqs)
            start = bisect.bisect_right(table.log_seqs, after, 0, end)
        position = start
        carried: Record | None = None
        last_seq = after
        guard = self.page_guard("changes", start=position, system=SYSTEM)
        while True:
            self._observe("changes")
            records: list[Record] = []
            with store.lock:
                while position < end and len(records) < page_size:
                    seq, record_id = table.log_seqs[position], table.log_ids[position]
                    position += 1
                    last_seq = seq
                    row = table.rows[record_id]
                    if row.seq != seq:  # superseded by a later entry of the same record
                        continue
                    records.append(row.as_record())
            has_more = position < end
            if not has_more and "endless" in store.feed_faults:
                has_more, position = True, max(position, end) + 1  # an empty page past the end
            elif not has_more and "repeat_cursor" in store.feed_faults:
                has_more = True  # the same position again
            guard.page(len(records), position if has_more else None)
            if carried is not None and "overlap" in store.feed_faults:
                records.insert(0, carried)  # on top of a full page, so the feed progresses
            if "reorder" in store.feed_faults:
                store.random.shuffle(records)
            page = ChangePage(records=records, cursor={"seq": last_seq}, has_more=has_more)
            yield page
            if "duplicate" in store.feed_faults:
                self._observe("changes")
                yield ChangePage(
                    records=[_copy(r) for r in records], cursor=dict(page.cursor), has_more=has_more
                )
            if not has_more:
                return
            carried = _copy(records[-1]) if records else None

    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        self._observe("get")
        table = self.store.table(object_type)
        out = []
        for record_id in dict.fromkeys(ids):
            row = table.rows.get(record_id)
            if row is not None and not row.deleted:
                out.append(row.as_record())
        return out

    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        """Like most search APIs, strings compare trimmed and case-insensitively."""
        self._observe("find")
        table = self.store.table(object_type)
        if field not in table.specs:
            raise ConfigurationError(f"{object_type} has no field {field!r}", system=SYSTEM)
        wanted = {_search_key(v) for v in values}
        return [
            row.as_record()
            for row in table.rows.values()
            if not row.deleted and _search_key(row.fields.get(field)) in wanted
        ]

    def _write(
        self,
        op: str,
        object_type: str,
        items: Sequence[tuple[str | None, dict[str, JSON]]],
    ) -> list[WriteResult]:
        self._observe(op)
        store = self.store
        table = store.table(object_type)
        results: list[WriteResult] = []
        if store.background and self.settle_later:
            with store.lock:
                for record_id, values in items:
                    job_id = f"job-{next(store._job_seq)}"
                    store.jobs.append((job_id, op, object_type, record_id, values))
                    results.append(WriteResult(pending={"job": job_id}))
            return results
        for record_id, values in items:
            with store.lock:
                crash = store._crash_point()
                if crash and not store._crash_after:
                    raise SimulatedCrash(f"{store.name}: crash before {op} of {record_id}")
                results.append(_write_one(store, op, table, record_id, values))
                store.writes += 1
                if crash:
                    raise SimulatedCrash(f"{store.name}: crash after {op} of {record_id}")
        return results

    def settle(self, object_type: str, handles: Sequence[JSON]) -> list[WriteResult]:
        self._observe("settle")
        store = self.store
        results: list[WriteResult] = []
        with store.lock:
            queued = {job[0] for job in store.jobs}
            for handle in handles:
                job_id = handle.get("job") if isinstance(handle, dict) else None
                if job_id in store.job_results:
                    results.append(store.job_results[job_id])
                elif job_id in queued:
                    results.append(WriteResult(pending=handle))
                else:
                    results.append(
                        WriteResult(error=OutcomeUnknown(f"no job {job_id!r}", system=SYSTEM))
                    )
        return results

    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]:
        return self._write("create", object_type, [(None, dict(item)) for item in items])

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        return self._write("update", object_type, [(i.id, dict(i.fields)) for i in items])

    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        return self._write("delete", object_type, [(i, {}) for i in ids])

    # --- comments ---
    def comments(self, object_type: str, record_id: str) -> list[Comment]:
        self._observe("comments")
        store = self.store
        with store.lock:
            store._commentable(object_type, record_id)
            return store.comment_list(object_type, record_id)

    def _comment_write(self, op: str, record_id: str, write: Callable[[], Comment | None]) -> Any:
        self._observe(op)
        store = self.store
        for fault in store.record_faults:
            if fault.matches("comment", record_id, {}):
                raise RecordError(fault.message, record_id=record_id, system=SYSTEM, call=op)
        with store.lock:
            crash = store._crash_point()
            if crash and not store._crash_after:
                raise SimulatedCrash(f"{store.name}: crash before {op} on {record_id}")
            result = write()
            store.writes += 1
            if crash:
                raise SimulatedCrash(f"{store.name}: crash after {op} on {record_id}")
            return result

    def comment_create(self, object_type: str, record_id: str, comment: NewComment) -> Comment:
        store = self.store
        table, row = store._commentable(object_type, record_id)
        support = table.object_type.comments
        assert support is not None
        if comment.internal and not support.internal:
            raise RecordError("this object type has no internal comments", record_id=record_id)
        name, email = store.api_user
        return self._comment_write(
            "comment_create",
            record_id,
            lambda: store._comment_put(table, row, None, comment.body, name, email,
                                       comment.internal),
        )  # fmt: skip

    def comment_update(
        self, object_type: str, record_id: str, comment_id: str, comment: NewComment
    ) -> Comment:
        store = self.store
        table, row = store._commentable(object_type, record_id)
        support = table.object_type.comments
        if support is None or not support.edit:
            raise NotImplementedError(f"{object_type} comments cannot be edited")
        found = store._comment_row(table, record_id, comment_id)
        return self._comment_write(
            "comment_update",
            record_id,
            lambda: store._comment_put(table, row, found, comment.body, "", None, found.internal),
        )

    def comment_delete(self, object_type: str, record_id: str, comment_id: str) -> None:
        store = self.store
        table, row = store._commentable(object_type, record_id)
        support = table.object_type.comments
        if support is None or not support.delete:
            raise NotImplementedError(f"{object_type} comments cannot be deleted")
        self._comment_write(
            "comment_delete", record_id, lambda: store._comment_remove(table, row, comment_id)
        )

    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        """Verify `X-Memory-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t." + body>`."""
        header = request.header(SIGNATURE_HEADER)
        if not header:
            raise WebhookVerificationError("missing signature header")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            ts = int(parts["t"])
            given = parts["v1"]
        except (KeyError, ValueError):
            raise WebhookVerificationError("malformed signature header") from None
        current = time.time() if now is None else now
        if abs(current - ts) > REPLAY_WINDOW_SECONDS:
            raise WebhookVerificationError("signature timestamp outside the replay window")
        expected = hmac.new(
            secret.encode(), f"{ts}.".encode() + request.body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected, given):
            raise WebhookVerificationError("signature mismatch")
        try:
            payload = webhook_json(request.body)
            events = [
                WebhookEvent(
                    object_type=str(e["object_type"]),
                    record_id=str(e["record_id"]),
                    action=str(e.get("action", "updated")),
                    occurred_at=(
                        datetime.fromisoformat(e["occurred_at"]) if e.get("occurred_at") else None
                    ),
                )
                for e in payload.get("events", [])
            ]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise WebhookVerificationError("verified body is not a memory delivery") from None
        return WebhookResult(events=events, delivery_id=payload.get("delivery_id"))


def _copy(record: Record) -> Record:
    return Record(
        id=record.id,
        fields=json.loads(json.dumps(record.fields)),
        modified_at=record.modified_at,
        version=record.version,
        deleted=record.deleted,
    )


def _search_key(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, list):
        return tuple(value)
    return value


CONNECTOR = MemoryConnector

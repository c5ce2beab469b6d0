"""The in-memory record table every vendor sandbox keeps its records in, and the state
object around it.

A vendor keeps its own representation of a record in `Row.data` (any JSON); the table owns
what every system needs and every sandbox used to re-implement:

- ids: allocated per object type from a first id, never reused (explicit ids are allowed
  for fixed records such as an account owner);
- a modification index: every write gives the row the next table-wide `version`, so the
  rows of a type in version order are a change feed that resumes after a version (what
  Zendesk's export cursor is), and live rows are also kept sorted by (modified, id) for
  "modified since" queries in O(log n) (what HubSpot's search by last-modified date is);
- soft delete (`delete` keeps the row as a tombstone in the change feed, `restore` brings
  it back) and hard delete (`purge`);
- optional unique keys per type over live rows (a contact's email);
- `dump` and `load` for the state file, and `renumber`, the seeding hook: seeded rows get
  versions in order of their modification time, as if they had been written then.

`RecordState` is the base of each vendor's state: the table plus what a vendor keeps beside
it (settings, jobs, users), reset, seed, dump and load. connectors.sandbox.core's
VendorSandbox delegates to it when the vendor sets `state_class`.

Nothing here is thread-safe on its own: the framework holds the vendor's lock around every
call (see connectors.sandbox).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, overload

from connectors.sandbox.core import JSON, Context, ValidationError
from connectors.sandbox.data import FakeData


@dataclass
class Row:
    """One record of one object type.

    `created` and `modified` are the vendor's timestamps in whatever unit it keeps (epoch
    seconds, milliseconds): the table only compares them. `version` is the table-wide
    change number of the row's last write. `deleted` is when it was soft-deleted.
    """

    type: str
    id: int
    data: dict[str, Any]
    created: float
    modified: float
    version: int = 0
    deleted: float | None = None

    @property
    def live(self) -> bool:
        return self.deleted is None


UniqueKey = Callable[[Row], str | None]
Which = Literal["live", "deleted", "all"]


class ModifiedOrder(Sequence[Row]):
    """The live rows of one type sorted by (modified, id): a view, valid until the next write."""

    def __init__(self, keys: list[tuple[float, int]], rows: dict[int, Row]) -> None:
        self._keys = keys
        self._rows = rows

    def __len__(self) -> int:
        return len(self._keys)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self._rows[i] for _, i in self._keys[index]]
        return self._rows[self._keys[index][1]]

    def position(self, modified: float, *, inclusive: bool = True) -> int:
        """Index of the first row modified at or after (`inclusive`) or after `modified`."""
        if inclusive:
            return bisect.bisect_left(self._keys, (modified, float("-inf")))
        return bisect.bisect_right(self._keys, (modified, float("inf")))


class RecordTable:
    """Rows per object type (see the module docstring). Object types are fixed at creation."""

    def __init__(
        self, first_ids: Mapping[str, int], *, unique: Mapping[str, UniqueKey] | None = None
    ) -> None:
        self.first_ids = dict(first_ids)
        self.unique_keys = dict(unique or {})
        unknown = set(self.unique_keys) - set(self.first_ids)
        if unknown:
            raise ValueError(f"unique keys for unknown object types: {sorted(unknown)}")
        self.clear()

    def clear(self) -> None:
        """Forget every row; ids start again from the first ids."""
        # Per type: id -> row in version order (a write moves the row to the end).
        self._rows: dict[str, dict[int, Row]] = {t: {} for t in self.first_ids}
        self._next_ids = dict(self.first_ids)
        self._version = 0
        self._modified: dict[str, list[tuple[float, int]]] = {t: [] for t in self.first_ids}
        self._unique: dict[str, dict[str, int]] = {t: {} for t in self.unique_keys}
        self._unique_of: dict[str, dict[int, str]] = {t: {} for t in self.unique_keys}
        # Per type: every id in order, built when a listing pages by id (see rows_after);
        # dropped when a row is added or purged.
        self._id_order: dict[str, list[int]] = {}

    @property
    def types(self) -> list[str]:
        return list(self.first_ids)

    @property
    def version(self) -> int:
        """The version of the latest write (0 for an empty table)."""
        return self._version

    # -- writes ----------------------------------------------------------------------------

    def allocate(self, type_: str) -> int:
        """The next id of `type_` (used by `insert`; ids are never reused)."""
        record_id = self._next_ids[self._known(type_)]
        self._next_ids[type_] = record_id + 1
        return record_id

    def insert(
        self,
        type_: str,
        data: dict[str, Any],
        *,
        created: float,
        modified: float | None = None,
        record_id: int | None = None,
    ) -> Row:
        """Add a live row with the next id (or `record_id`, which must be free)."""
        self._known(type_)
        if record_id is None:
            record_id = self.allocate(type_)
        elif record_id in self._rows[type_]:
            raise ValueError(f"{type_} {record_id} exists already")
        else:
            self._next_ids[type_] = max(self._next_ids[type_], record_id + 1)
        row = Row(type_, record_id, data, created, created if modified is None else modified)
        self._id_order.pop(type_, None)
        self._bump(row)
        self._index(row)
        return row

    def save(self, row: Row, *, modified: float | None = None) -> None:
        """Record a write to `row.data`: a new version and, if given, a new modified time."""
        self._unindex(row)
        if modified is not None:
            row.modified = modified
        self._bump(row)
        self._index(row)

    def delete(self, row: Row, when: float, *, modified: float | None = None) -> None:
        """Soft-delete: the row leaves the live rows and stays in the change feed."""
        self._unindex(row)
        row.deleted = when
        if modified is not None:
            row.modified = modified
        self._bump(row)

    def restore(self, row: Row, *, modified: float | None = None) -> None:
        """Undo a soft delete."""
        row.deleted = None
        self.save(row, modified=modified)

    def purge(self, row: Row) -> None:
        """Delete for good: the row is gone from every view (its id is not reused)."""
        self._unindex(row)
        del self._rows[row.type][row.id]
        self._id_order.pop(row.type, None)

    def renumber(self) -> None:
        """Give every row a new version in order of (modified, type, id).

        The seeding hook: seeded rows are inserted in whatever order the generator makes
        them, with made-up modification times; afterwards the change feed must read as if
        they had been written at those times.
        """
        everything = sorted(
            (row for rows in self._rows.values() for row in rows.values()),
            key=lambda r: (r.modified, r.type, r.id),
        )
        self._rows = {t: {} for t in self.first_ids}
        for version, row in enumerate(everything, 1):
            row.version = version
            self._rows[row.type][row.id] = row
        self._version = len(everything)

    # -- reads -----------------------------------------------------------------------------

    def get(self, type_: str, record_id: int, *, deleted: bool = False) -> Row | None:
        """The live row with this id; with `deleted`, a soft-deleted one too."""
        row = self._rows[self._known(type_)].get(record_id)
        if row is None or (row.deleted is not None and not deleted):
            return None
        return row

    def rows(self, type_: str, which: Which = "live") -> list[Row]:
        """Rows of a type in id order: live ones, soft-deleted ones, or all."""
        rows = self._rows[self._known(type_)].values()
        if which == "live":
            chosen = [r for r in rows if r.deleted is None]
        elif which == "deleted":
            chosen = [r for r in rows if r.deleted is not None]
        else:
            chosen = list(rows)
        return sorted(chosen, key=lambda r: r.id)

    def rows_after(
        self, type_: str, floor: int, limit: int, which: Which = "live"
    ) -> tuple[list[Row], bool]:
        """Up to `limit` rows with ids above `floor` in id order, and whether more follow.

        What a listing paged by the last id seen reads: without sorting the whole table
        for every page, which made listing 100,000 records quadratic.
        """
        table = self._rows[self._known(type_)]
        order = self._id_order.get(type_)
        if order is None:
            order = self._id_order[type_] = sorted(table)
        page: list[Row] = []
        for record_id in order[bisect.bisect_right(order, floor) :]:
            row = table[record_id]
            if (which == "live" and row.deleted is not None) or (
                which == "deleted" and row.deleted is None
            ):
                continue
            if len(page) == limit:
                return page, True
            page.append(row)
        return page, False

    def count(self, type_: str, which: Which = "live") -> int:
        if which == "live":
            return len(self._modified[self._known(type_)])
        return len(self.rows(type_, which))

    def changes(self, type_: str, after: int = 0) -> list[Row]:
        """Rows written after version `after`, soft-deleted ones included, in version order.

        Costs the number of rows returned, not the size of the table.
        """
        newer: list[Row] = []
        for row in reversed(self._rows[self._known(type_)].values()):
            if row.version <= after:
                break
            newer.append(row)
        newer.reverse()
        return newer

    def by_modified(self, type_: str) -> ModifiedOrder:
        """Live rows ordered by (modified, id)."""
        return ModifiedOrder(self._modified[self._known(type_)], self._rows[type_])

    def find(self, type_: str, key: str) -> Row | None:
        """The live row whose unique key (see `unique`) is `key`."""
        record_id = self._unique[type_].get(key)
        return None if record_id is None else self._rows[type_][record_id]

    def __iter__(self) -> Iterator[Row]:
        for rows in self._rows.values():
            yield from rows.values()

    # -- the state file --------------------------------------------------------------------

    def dump(self) -> JSON:
        """Every row, in version order per type, and the id and version counters."""
        return {
            "version": self._version,
            "next_ids": dict(self._next_ids),
            "rows": {
                t: [
                    [r.id, r.created, r.modified, r.version, r.deleted, r.data]
                    for r in rows.values()
                ]
                for t, rows in self._rows.items()
            },
        }

    def load(self, state: JSON) -> None:
        """Replace everything with what `dump` returned."""
        self.clear()
        self._version = int(state["version"])
        self._next_ids.update({t: int(n) for t, n in state["next_ids"].items()})
        for type_, rows in state["rows"].items():
            self._known(type_)
            for record_id, created, modified, version, deleted, data in rows:
                row = Row(type_, int(record_id), data, created, modified, int(version), deleted)
                self._rows[type_][row.id] = row
                if row.deleted is None:
                    self._index(row)

    # -- internals -------------------------------------------------------------------------

    def _known(self, type_: str) -> str:
        if type_ not in self._rows:
            raise KeyError(f"no object type {type_!r} in this table")
        return type_

    def _bump(self, row: Row) -> None:
        self._version += 1
        row.version = self._version
        rows = self._rows[row.type]
        rows.pop(row.id, None)
        rows[row.id] = row  # to the end: the dict stays in version order

    def _index(self, row: Row) -> None:
        if row.deleted is not None:
            return
        bisect.insort(self._modified[row.type], (row.modified, row.id))
        key_of = self.unique_keys.get(row.type)
        if key_of is not None:
            key = key_of(row)
            if key:
                self._unique[row.type][key] = row.id
                self._unique_of[row.type][row.id] = key

    def _unindex(self, row: Row) -> None:
        order = self._modified[row.type]
        entry = (row.modified, row.id)
        at = bisect.bisect_left(order, entry)
        if at < len(order) and order[at] == entry:
            del order[at]
        if row.type in self._unique_of:
            key = self._unique_of[row.type].pop(row.id, None)
            if key is not None and self._unique[row.type].get(key) == row.id:
                del self._unique[row.type][key]


class RecordState:
    """A vendor sandbox's state: its RecordTable and what it keeps beside it.

    Subclasses set `first_ids` (object type -> first id) and `unique`, and override:

    - `start()`: what an empty account holds (called on creation, so also on every reset);
    - `populate(fake, counts)`: the seeding hook, after which the table is renumbered;
    - `settings()` and `configure(values)`: the vendor's switches (reset restores defaults);
    - `extra()` and `restore(extra)`: JSON of what is not a record, for the state file.

    `context` is the framework's (clock and webhook emission; see connectors.sandbox.core).
    """

    first_ids: ClassVar[Mapping[str, int]] = {}
    unique: ClassVar[Mapping[str, UniqueKey]] = {}

    def __init__(self, context: Context) -> None:
        self.context = context
        self.table = RecordTable(self.first_ids, unique=self.unique)
        self.start()

    def now(self) -> float:
        return self.context.now()

    def start(self) -> None:
        """Fill an empty account with what it always holds."""

    def seed(self, seed: int, counts: Mapping[str, int]) -> None:
        """Fill the (fresh) state with data fully determined by `seed`."""
        self.populate(FakeData(seed), counts)
        self.table.renumber()

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        raise NotImplementedError

    def settings(self) -> dict[str, JSON]:
        return {}

    def configure(self, values: Mapping[str, JSON]) -> None:
        if values:
            raise ValidationError(f"{self.context.kind} has no settings: {', '.join(values)}")

    def extra(self) -> dict[str, JSON]:
        return {}

    def restore(self, extra: Mapping[str, JSON]) -> None:
        """Take back what `extra` returned."""

    def dump(self) -> JSON:
        return {"records": self.table.dump(), "settings": self.settings(), "extra": self.extra()}

    def load(self, state: JSON) -> None:
        self.table.load(state["records"])
        self.configure(state.get("settings") or {})
        self.restore(state.get("extra") or {})

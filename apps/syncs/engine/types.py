"""The engine's vocabulary: sides, directions, policies and link states.

Plain enums, no Django and no I/O. The planner decides in these terms and the models take
their choices from here, so the database and the planner can never disagree on a value: the
values are stored, and changing one needs a data migration.
"""

from __future__ import annotations

import enum


class Side(enum.StrEnum):
    """One of the two record sets a sync joins."""

    A = "a"
    B = "b"

    @property
    def other(self) -> Side:
        return Side.B if self is Side.A else Side.A

    @property
    def label(self) -> str:
        return self.value.upper()


class Direction(enum.StrEnum):
    """Which way a field mapping writes."""

    BOTH = "both"
    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"


class ConflictPolicy(enum.StrEnum):
    """Who decides a field that both sides changed differently."""

    MANUAL = "manual"
    PREFER_A = "prefer_a"
    PREFER_B = "prefer_b"
    NEWEST = "newest"


class InitialPolicy(enum.StrEnum):
    """Which side wins a field of a pair that has no base yet (just matched, new mapping)."""

    A_WINS = "a_wins"
    B_WINS = "b_wins"
    CONFLICT = "conflict"


class DeletePolicy(enum.StrEnum):
    """What a delete on one side does to its partner."""

    IGNORE = "ignore"
    UNLINK = "unlink"
    PROPAGATE = "propagate"


class LinkStatus(enum.StrEnum):
    LINKED = "linked"
    PENDING_CREATE_A = "pending_create_a"
    PENDING_CREATE_B = "pending_create_b"
    UNLINKED = "unlinked"
    DELETED = "deleted"


# A record is in at most one link with one of these statuses.
ACTIVE_STATUSES = frozenset(
    {LinkStatus.LINKED, LinkStatus.PENDING_CREATE_A, LinkStatus.PENDING_CREATE_B}
)

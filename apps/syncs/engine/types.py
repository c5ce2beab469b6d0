"""The engine's vocabulary: sides, directions, policies, link states and merge outcomes.

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


class CommentDirection(enum.StrEnum):
    """Whether a sync copies comments, and which way."""

    OFF = "off"
    BOTH = "both"
    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"

    def copies_from(self, side: Side) -> bool:
        if self is CommentDirection.OFF:
            return False
        if self is CommentDirection.BOTH:
            return True
        return (self is CommentDirection.A_TO_B) == (side is Side.A)


class CommentLinkStatus(enum.StrEnum):
    LINKED = "linked"
    PENDING_A = "pending_a"  # the copy on A is being written
    PENDING_B = "pending_b"
    DELETED = "deleted"  # one side's comment is gone; the pair is never copied again


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


class ConflictChoice(enum.StrEnum):
    """How a field both sides changed differently is decided: held for a person, or the
    value of A or of B taken by the conflict policy. A and B are stored as the resolved
    Conflict's resolution."""

    MANUAL = "manual"
    A = "a"
    B = "b"

    @property
    def loser(self) -> Side | None:
        """The side whose value was overwritten (None while a person has to decide)."""
        if self is ConflictChoice.A:
            return Side.B
        if self is ConflictChoice.B:
            return Side.A
        return None


class FieldOutcome(enum.StrEnum):
    """What the three-way merge decides for one mapped field of a pair."""

    SETTLE = "settle"  # nothing to write; the base takes the values as they are
    KEEP = "keep"  # nothing to write; the base stays as it is
    WRITE_A = "write_a"  # B's value is written to A
    WRITE_B = "write_b"  # A's value is written to B
    POLICY_A = "policy_a"  # both changed; the conflict policy takes A's value, written to B
    POLICY_B = "policy_b"  # both changed; the conflict policy takes B's value, written to A
    CONFLICT = "conflict"  # both changed; held for a person

    @property
    def target(self) -> Side | None:
        """The side this outcome writes to (None: it writes nothing)."""
        if self in (FieldOutcome.WRITE_A, FieldOutcome.POLICY_B):
            return Side.A
        if self in (FieldOutcome.WRITE_B, FieldOutcome.POLICY_A):
            return Side.B
        return None

    @property
    def choice(self) -> ConflictChoice | None:
        """How the field's conflict is decided (None: the field is not in conflict)."""
        if self is FieldOutcome.POLICY_A:
            return ConflictChoice.A
        if self is FieldOutcome.POLICY_B:
            return ConflictChoice.B
        if self is FieldOutcome.CONFLICT:
            return ConflictChoice.MANUAL
        return None

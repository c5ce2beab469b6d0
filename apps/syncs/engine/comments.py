"""Comments of linked records: copied once to the other side, edits and deletes followed.

A sync with comments on (`Sync.comments`: both, a_to_b, b_to_a) looks at the comments of
every linked pair a run touches, after the batch that touched it is applied and before that
batch's cursor is stored. No separate feed is needed: a new comment moves its record's
updated time in every system Concord supports (Jira, Zendesk, GitHub, Redmine, the memory
connector), so the record's own feed brings the pair into a run. An edit or a deletion does
so in Jira and the memory connector; GitHub announces it by its `issue_comment` webhook,
and Redmine not at all (its notes' edits are seen the next time the issue changes).

Per pair, both sides' comments are listed and joined by CommentLink rows:

1. Pending rows first. A copy is stored as pending (with the text sent) before it is
   written, and confirmed with the new comment's id after. A pending row found here means a
   run stopped between the two (a crash, a lost answer): the copy is looked for among the
   target's unlinked comments by its text (header and body) and linked if found, else written
   now. A copy is therefore written once, whatever the retries.
2. Linked rows: a comment gone from one side is a delete, handled by the sync's delete
   policy (`propagate` deletes the copy where the system allows it; otherwise the pair is
   only marked deleted, and neither comment is copied again). A fingerprint that changed on
   one side is an edit, written to the other side where that system allows editing.
3. Comments in no row are new: copied to the other side (if the direction allows) with a
   header naming their author, time and system, since no system lets an API user write a
   comment as someone else at another time. The copy is linked as it is written, so when
   the target's feed brings it back it is already known: no echo.

Private notes are copied only when the sync says so, and only to a system that has private
notes (as private notes there); a comment a system marks restricted never goes where it would
be public.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.syncs.engine.recorder import Action, EngineEvent, Recorder
from apps.syncs.engine.sides import SideConnector, SideFailure
from apps.syncs.engine.types import (
    CommentDirection,
    CommentLinkStatus,
    DeletePolicy,
    LinkStatus,
    Side,
)
from apps.syncs.models import CommentLink, RecordLink, Sync
from connectors.base import Comment, CommentSupport, Connector, NewComment
from connectors.errors import RecordError

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CODE = "comment"


def header(comment: Comment, system: str) -> str:
    """The line a copy starts with: "Ann Lee on 3 Dec 2026, 14:02 (Zendesk):" (UTC)."""
    author = comment.author_name.strip() or comment.author_email or "Someone"
    when = comment.created_at
    if when is None:
        return f"{author} ({system}):"
    when = when.astimezone(UTC)
    stamp = f"{when.day} {MONTHS[when.month - 1]} {when.year}, {when:%H:%M}"
    return f"{author} on {stamp} ({system}):"


def copy_text(comment: Comment, system: str) -> str:
    return f"{header(comment, system)}\n\n{comment.body.strip()}"


def strip_header(text: str, system: str) -> str:
    """The body of a copy without the header it was written with (edits flowing back)."""
    first, sep, rest = text.strip().partition("\n")
    if sep and first.rstrip().endswith(f"({system}):"):
        return rest.strip()
    return text.strip()


def fingerprint(text: str) -> str:
    """Whitespace does not count: systems re-wrap and trim what they store."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()


_LOOSE = re.compile(r"[\W_]+", re.UNICODE)


def same_text(stored: str, sent: str) -> bool:
    """Whether a comment a system stored is the copy Concord sent, whatever formatting the
    system's round trip changed (markup characters and whitespace are ignored)."""
    return _LOOSE.sub("", stored).casefold() == _LOOSE.sub("", sent).casefold()


def comment_support(connector: Connector, object_type: str) -> CommentSupport | None:
    """The type's comment support, from the catalogue when it says, else from the system."""
    for offered in type(connector).object_types_offered:
        if offered.name == object_type:
            return offered.comments
    for found in connector.object_types():
        if found.name == object_type:
            return found.comments
    return None


@dataclass(frozen=True)
class CommentRules:
    direction: CommentDirection
    internal: bool
    delete_policy: DeletePolicy


class CommentSyncer:
    """Syncs the comments of linked pairs for one run (see the module docstring)."""

    def __init__(
        self,
        *,
        sync: Sync,
        rules: CommentRules,
        sides: Mapping[Side, SideConnector],
        support: Mapping[Side, CommentSupport],
        recorder: Recorder,
        counters: Counter[str],
    ) -> None:
        self.sync = sync
        self.rules = rules
        self.sides = sides
        self.support = support
        self.labels = {side: sides[side].connector.label for side in Side}
        self.recorder = recorder
        self.counters = counters
        # Pairs done in this run: both records of a pair may come up in one run's feeds.
        self.done: set[int] = set()

    @classmethod
    def for_sync(
        cls,
        sync: Sync,
        sides: Mapping[Side, SideConnector],
        recorder: Recorder,
        counters: Counter[str],
    ) -> CommentSyncer | None:
        """The syncer of a sync with comments on, or None (off, or a side without them)."""
        direction = CommentDirection(sync.comments or CommentDirection.OFF)
        if direction is CommentDirection.OFF:
            return None
        support: dict[Side, CommentSupport] = {}
        for side in Side:
            found = comment_support(sides[side].connector, sides[side].object_type)
            if found is None:
                return None
            support[side] = found
        rules = CommentRules(direction, sync.comments_internal, DeletePolicy(sync.delete_policy))
        return cls(
            sync=sync,
            rules=rules,
            sides=sides,
            support=support,
            recorder=recorder,
            counters=counters,
        )

    # --- entry points ---
    def sync_records(self, side: Side, record_ids: Iterable[str]) -> None:
        """Sync the comments of the linked pairs of these records of `side`."""
        ids = list(dict.fromkeys(record_ids))
        if not ids:
            return
        field = "a_id__in" if side is Side.A else "b_id__in"
        links = RecordLink.objects.filter(
            sync=self.sync, status=LinkStatus.LINKED, **{field: ids}
        ).order_by("id")
        for link in links:
            if link.pk not in self.done:
                self.done.add(link.pk)
                self.sync_pair(link)

    def sync_pair(self, link: RecordLink) -> None:
        record_ids = {Side.A: str(link.a_id), Side.B: str(link.b_id)}
        listed: dict[Side, list[Comment]] = {}
        for side in Side:
            try:
                listed[side] = self.sides[side].comments(record_ids[side])
            except SideFailure as failure:
                if not isinstance(failure.error, RecordError):
                    raise
                self._error(link, side, f"could not read the comments: {failure.error}")
                return
        pair = _Pair(self, link, record_ids, listed)
        pair.run()

    # --- reporting ---
    def emit(self, event: EngineEvent) -> None:
        self.recorder.event(event)
        if event.action is Action.CREATED:
            self.counters[f"comments_created_{event.side}"] += 1

    def _error(self, link: RecordLink, side: Side, message: str) -> None:
        self.counters[f"errors_{side}"] += 1
        self.emit(
            EngineEvent(
                Action.ERROR, side, link.a_id, link.b_id, message=f"{side.label}: {message}",
                code=CODE,
            )
        )  # fmt: skip


class _Pair:
    """The comments of one linked pair, joined and brought into agreement."""

    def __init__(
        self,
        syncer: CommentSyncer,
        link: RecordLink,
        record_ids: dict[Side, str],
        listed: dict[Side, list[Comment]],
    ) -> None:
        self.syncer = syncer
        self.link = link
        self.record_ids = record_ids
        self.listed = listed
        self.by_id = {side: {c.id: c for c in listed[side]} for side in Side}
        ids = {side: list(self.by_id[side]) for side in Side}
        self.rows = list(
            CommentLink.objects.filter(sync=syncer.sync)
            .filter(Q(link=link) | Q(a_id__in=ids[Side.A]) | Q(b_id__in=ids[Side.B]))
            .order_by("id")
        )
        # Every comment id some row names (any status): those are never copied as new.
        self.known = {
            Side.A: {r.a_id for r in self.rows if r.a_id},
            Side.B: {r.b_id for r in self.rows if r.b_id},
        }

    def run(self) -> None:
        # Rows linked before this pass: one recovered below names a comment the listing
        # predates, so it is followed from the next pass on.
        linked = [r for r in self.rows if r.status == CommentLinkStatus.LINKED]
        for row in self.rows:
            if row.status in (CommentLinkStatus.PENDING_A, CommentLinkStatus.PENDING_B):
                self._recover(row)
        for row in linked:
            self._follow(row)
        for side in Side:
            if not self.syncer.rules.direction.copies_from(side):
                continue
            for comment in self.listed[side]:
                if comment.id not in self.known[side] and self._eligible(comment, side.other):
                    self._copy(side, comment, None)

    # --- new comments ---
    def _eligible(self, comment: Comment, target: Side) -> bool:
        if not comment.internal:
            return True
        return self.syncer.rules.internal and self.syncer.support[target].internal

    def _copy(self, source: Side, comment: Comment, row: CommentLink | None) -> None:
        target = source.other
        label = self.syncer.labels[source]
        text = copy_text(comment, label)
        if row is None:
            row = CommentLink(
                sync=self.syncer.sync,
                link=self.link,
                source=source.value,
                status=_pending(target),
                pending_text=text,
                **{_id_field(source): comment.id},
            )
            try:
                with transaction.atomic():
                    row.save()
            except IntegrityError:
                return  # another run holds this comment already
            self.known[source].add(comment.id)
        try:
            created = self.syncer.sides[target].comment_create(
                self.record_ids[target], NewComment(text, internal=comment.internal)
            )
        except SideFailure as failure:
            if not isinstance(failure.error, RecordError):
                raise  # the copy may or may not exist: the pending row finds out next time
            row.delete()
            self.syncer._error(
                self.link, target, f"refused the copy of {label} comment {comment.id}: "
                f"{failure.error}",
            )  # fmt: skip
            return
        self._confirm(row, target, created, comment)
        self.syncer.emit(
            EngineEvent(
                Action.CREATED,
                target,
                self.link.a_id,
                self.link.b_id,
                changes={"comment": {"before": None, "after": text}},
                message=f"comment {created.id} copied from {label} comment {comment.id} "
                f"by {comment.author_name or comment.author_email or 'someone'}",
                code=CODE,
            )
        )

    def _confirm(self, row: CommentLink, target: Side, copy: Comment, original: Comment) -> None:
        setattr(row, _id_field(target), copy.id)
        setattr(row, f"fingerprint_{target}", fingerprint(copy.body))
        setattr(row, f"fingerprint_{target.other}", fingerprint(original.body))
        row.status = CommentLinkStatus.LINKED
        row.pending_text = ""
        row.save()
        self.known[target].add(copy.id)

    # --- an interrupted copy ---
    def _recover(self, row: CommentLink) -> None:
        target = Side.A if row.status == CommentLinkStatus.PENDING_A else Side.B
        source = target.other
        original_id = getattr(row, _id_field(source)) or ""
        original = self.by_id[source].get(original_id)
        for candidate in self.listed[target]:
            if candidate.id in self.known[target]:
                continue
            if same_text(candidate.body, row.pending_text):
                if original is None:  # deleted since: keep the pair, the delete follows
                    original = Comment(id=original_id, body="")
                self._confirm(row, target, candidate, original)
                self.syncer.emit(
                    EngineEvent(
                        Action.MATCHED, target, self.link.a_id, self.link.b_id,
                        message=f"comment {candidate.id} is the copy an interrupted run wrote "
                        f"of {self.syncer.labels[source]} comment {original_id}",
                        code=CODE,
                    )
                )  # fmt: skip
                return
        if original is None:
            row.delete()  # nothing was written and there is nothing left to copy
            return
        self._copy(source, original, row)

    # --- edits and deletes of linked comments ---
    def _follow(self, row: CommentLink) -> None:
        current = {side: self.by_id[side].get(getattr(row, _id_field(side)) or "") for side in Side}
        missing = [side for side in Side if current[side] is None]
        if missing:
            self._deleted(row, missing, current)
            return
        a, b = current[Side.A], current[Side.B]
        assert a is not None
        assert b is not None
        prints = {Side.A: fingerprint(a.body), Side.B: fingerprint(b.body)}
        unknown = [s for s in Side if not getattr(row, f"fingerprint_{s}")]
        for side in unknown:  # a row confirmed before its fingerprint was known
            setattr(row, f"fingerprint_{side}", prints[side])
        if unknown:
            row.save(update_fields=[f"fingerprint_{s}" for s in unknown] + ["updated_at"])
        changed = [side for side in Side if prints[side] != getattr(row, f"fingerprint_{side}")]
        if not changed:
            return
        winner = changed[0]
        if len(changed) == 2:  # edited on both sides since: the later edit wins
            stamps = {side: current[side].updated_at or _EPOCH for side in Side}  # type: ignore[union-attr]
            winner = Side.B if stamps[Side.B] > stamps[Side.A] else Side.A
        self._edit(row, winner, current, prints)

    def _edit(
        self,
        row: CommentLink,
        winner: Side,
        current: dict[Side, Comment | None],
        prints: dict[Side, str],
    ) -> None:
        loser = winner.other
        edited, stale = current[winner], current[loser]
        assert edited is not None
        assert stale is not None
        source = Side(row.source)
        label = self.syncer.labels[winner]
        if (
            not self.syncer.rules.direction.copies_from(winner)
            or not self.syncer.support[loser].edit
        ):
            setattr(row, f"fingerprint_{winner}", prints[winner])
            row.save(update_fields=[f"fingerprint_{winner}", "updated_at"])
            reason = (
                f"{self.syncer.labels[loser]} comments cannot be edited"
                if not self.syncer.support[loser].edit
                else "the sync copies comments the other way only"
            )
            self.syncer.emit(
                EngineEvent(
                    Action.SKIPPED, winner, self.link.a_id, self.link.b_id,
                    message=f"the edit of {label} comment {edited.id} is not copied: {reason}",
                    code=CODE,
                )
            )  # fmt: skip
            return
        if winner is source:
            text = copy_text(edited, label)
        else:  # a person edited the copy: the original takes the new body, without header
            text = strip_header(edited.body, self.syncer.labels[source])
        try:
            stored = self.syncer.sides[loser].comment_update(
                self.record_ids[loser], stale.id, NewComment(text, internal=stale.internal)
            )
        except SideFailure as failure:
            if not isinstance(failure.error, RecordError):
                raise
            self.syncer._error(
                self.link, loser, f"refused the edit of comment {stale.id}: {failure.error}"
            )
            return
        setattr(row, f"fingerprint_{winner}", prints[winner])
        setattr(row, f"fingerprint_{loser}", fingerprint(stored.body))
        row.save()
        self.syncer.emit(
            EngineEvent(
                Action.UPDATED,
                loser,
                self.link.a_id,
                self.link.b_id,
                changes={"comment": {"before": stale.body, "after": stored.body}},
                message=f"comment {stale.id} follows the edit of {label} comment {edited.id}",
                code=CODE,
            )
        )

    def _deleted(
        self, row: CommentLink, missing: list[Side], current: dict[Side, Comment | None]
    ) -> None:
        row.status = CommentLinkStatus.DELETED
        if len(missing) == 2:
            row.save(update_fields=["status", "updated_at"])
            return
        gone = missing[0]
        left = gone.other
        remaining = current[left]
        assert remaining is not None
        gone_id = getattr(row, _id_field(gone))
        rules, support = self.syncer.rules, self.syncer.support
        if (
            rules.delete_policy is DeletePolicy.PROPAGATE
            and rules.direction.copies_from(gone)
            and support[left].delete
        ):
            try:
                self.syncer.sides[left].comment_delete(self.record_ids[left], remaining.id)
            except SideFailure as failure:
                if not isinstance(failure.error, RecordError):
                    raise
                self.syncer._error(
                    self.link, left, f"refused to delete comment {remaining.id}: {failure.error}"
                )
                return
            row.save(update_fields=["status", "updated_at"])
            self.syncer.emit(
                EngineEvent(
                    Action.DELETED, left, self.link.a_id, self.link.b_id,
                    message=f"comment {remaining.id} deleted: {self.syncer.labels[gone]} "
                    f"comment {gone_id} was deleted",
                    code=CODE,
                )
            )  # fmt: skip
            return
        row.save(update_fields=["status", "updated_at"])
        if rules.delete_policy is DeletePolicy.PROPAGATE:
            why = (
                f"{self.syncer.labels[left]} comments cannot be deleted"
                if not support[left].delete
                else "the sync copies comments the other way only"
            )
        else:
            why = f"the sync's delete policy is {rules.delete_policy}"
        self.syncer.emit(
            EngineEvent(
                Action.UNLINKED, gone, self.link.a_id, self.link.b_id,
                message=f"{self.syncer.labels[gone]} comment {gone_id} was deleted; comment "
                f"{remaining.id} on {self.syncer.labels[left]} stays ({why})",
                code=CODE,
            )
        )  # fmt: skip


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _pending(target: Side) -> CommentLinkStatus:
    return CommentLinkStatus.PENDING_A if target is Side.A else CommentLinkStatus.PENDING_B


def _id_field(side: Side) -> str:
    return "a_id" if side is Side.A else "b_id"

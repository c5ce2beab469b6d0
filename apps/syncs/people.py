"""The people table: one person on two systems, for the pairs email cannot match.

A reference to a person (a ticket's requester, an issue's assignee) is translated by email
where both systems expose it (apps/syncs/engine/references.py). For the rest (a GitHub
login, a Jira account without a visible email, two addresses of one person) a person
enters the pair here. Each pair of connections has one table; entries win over email.

A change to a table makes the references that wait for an unknown person due: the next
run of each sync between those connections reads their records again.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.core.errors import Invalid
from apps.syncs.models import PersonMapping, Sync, WaitingReference


def _ordered(
    connection_a: Connection, connection_b: Connection, value_a: str, value_b: str
) -> tuple[Connection, Connection, str, str]:
    """The pair with the lower connection id as A (how the table is stored)."""
    if connection_a.pk > connection_b.pk:
        return connection_b, connection_a, value_b, value_a
    return connection_a, connection_b, value_a, value_b


def _clean(value: str, field: str) -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid("say how the person appears on this system", field=field)
    if len(value) > 255:
        raise Invalid("at most 255 characters", field=field)
    return value


def person_mapping_create(
    *,
    workspace: Workspace,
    connection_a: Connection,
    connection_b: Connection,
    value_a: str,
    value_b: str,
) -> PersonMapping:
    """Add an entry to the people table of two connections of the workspace.

    `value_a` is how the person appears on `connection_a` (an email, a login, or a user id),
    `value_b` on `connection_b`. Raises Invalid (`connection_b`, `value_a`, `value_b`) for
    two equal or foreign connections, an empty value, or a person already in the table.
    """
    for field, connection in (("connection_a", connection_a), ("connection_b", connection_b)):
        if connection.workspace_id != workspace.pk:
            raise Invalid("that connection is not in this workspace", field=field)
    if connection_a.pk == connection_b.pk:
        raise Invalid("choose two different connections", field="connection_b")
    value_a = _clean(value_a, "value_a")
    value_b = _clean(value_b, "value_b")
    low, high, on_low, on_high = _ordered(connection_a, connection_b, value_a, value_b)
    flipped = low.pk != connection_a.pk
    for value, column, field in (
        (on_low, "value_a", "value_b" if flipped else "value_a"),
        (on_high, "value_b", "value_a" if flipped else "value_b"),
    ):
        taken = PersonMapping.objects.filter(
            connection_a=low, connection_b=high, **{f"{column}__iexact": value}
        ).first()
        if taken is not None:
            raise Invalid(
                f"{value} is already in this table (as {taken.value_a} = {taken.value_b})",
                field=field,
            )
    try:
        with transaction.atomic():
            row = PersonMapping.objects.create(
                workspace=workspace,
                connection_a=low,
                connection_b=high,
                value_a=on_low,
                value_b=on_high,
            )
            _waits_due(low, high)
    except IntegrityError:  # added meanwhile by someone else
        raise Invalid("that person is already in this table", field="value_a") from None
    return row


def person_mapping_delete(row: PersonMapping) -> None:
    """Remove an entry. References written with it stay as they are."""
    row.delete()


def _waits_due(low: Connection, high: Connection) -> None:
    """References waiting for an unknown person, of the syncs between these connections,
    are read again by the next run of their sync."""
    syncs = Sync.objects.filter(
        Q(connection_a=low, connection_b=high) | Q(connection_a=high, connection_b=low)
    )
    WaitingReference.objects.filter(sync__in=syncs, code="unknown_user").update(due=True)

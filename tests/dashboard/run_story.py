"""A sync with a short, realistic history, run the way a worker runs it (tests/running.py),
for the run log's tests and its screenshot: CRM contacts (A, memory) <-> help desk users (B).

1. "first": three contacts on A are created on B.
2. "second": Ann's name and phone change on A (updated on B); Bob's phone changes on A but
   B refuses it (an error, in B's words); Cleo's name changes on both sides (a conflict a
   person decides); Dan is new on A (created on B).
3. "decision": a person takes B's name for Cleo; the run that writes it resolves it.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.syncs.conflicts import conflict_decide
from apps.syncs.models import Conflict, Sync
from connectors.memory.connector import MemoryStore
from tests.running import run_now
from tests.syncs import factories as f

REFUSAL = "phone: 'not a number' is not a valid phone number (E.164 expected)"


@dataclass
class Story:
    sync: Sync
    crm: MemoryStore
    desk: MemoryStore
    first: SyncRun
    second: SyncRun
    decision: SyncRun
    ids: dict[str, tuple[str, str]]  # name -> (id on A, id on B)
    conflict: Conflict


def story(ws: Workspace) -> Story:
    crm, desk = f.stores()
    sync = f.sync(ws, crm, desk)
    Sync.objects.filter(pk=sync.pk).update(name="CRM contacts ↔ Help desk users")
    Connection.objects.filter(pk=sync.connection_a_id).update(name="CRM")
    Connection.objects.filter(pk=sync.connection_b_id).update(name="Help desk")
    sync.refresh_from_db()
    people = {
        "ann": {"email": "ann@acme.example", "name": "Ann Lee", "phone": "+44 20 7946 0001"},
        "bob": {"email": "bob@acme.example", "name": "Bob Ray", "phone": "+44 20 7946 0002"},
        "cleo": {"email": "cleo@acme.example", "name": "Cleo Park", "phone": "+44 20 7946 0003"},
    }
    a_ids = {name: crm.insert("contacts", fields).id for name, fields in people.items()}
    first = run_now(sync)
    b_by_email = {r.fields["email"]: r.id for r in desk.all("users")}
    ids = {name: (a_ids[name], b_by_email[people[name]["email"]]) for name in people}

    crm.edit("contacts", ids["ann"][0], {"name": "Ann Lee-Smith", "phone": "+44 20 7946 0100"})
    crm.edit("contacts", ids["bob"][0], {"phone": "not a number"})
    desk.fail("update", record_id=ids["bob"][1], message=REFUSAL)
    crm.edit("contacts", ids["cleo"][0], {"name": "Cleo Park-Jones"})
    dan = crm.insert(
        "contacts", {"email": "dan@acme.example", "name": "Dan Wu", "phone": "+44 20 7946 0004"}
    )
    desk.edit("users", ids["cleo"][1], {"full_name": "Cleo P. Jones"})
    second = run_now(sync)

    ids["dan"] = (
        dan.id,
        next(r.id for r in desk.all("users") if r.fields["email"] == dan.fields["email"]),
    )

    conflict = Conflict.objects.get(sync=sync, link__a_id=ids["cleo"][0])
    queued = conflict_decide(conflict, resolution="b")
    assert queued is not None
    run_execute(queued.pk)
    decision = SyncRun.objects.get(pk=queued.pk)
    conflict.refresh_from_db()
    return Story(sync, crm, desk, first, second, decision, ids, conflict)

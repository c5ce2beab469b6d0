"""The demo's activity simulator: people at work in the demo's HubSpot, Zendesk and Jira.

`make run` seeds the demo (apps.dashboard.demo); in development Celery beat also sends
`dashboard.demo_activity` every CONCORD_DEMO_ACTIVITY_EVERY seconds (5 by default), and each
of those ticks makes one realistic edit in a sandbox, so that a newcomer sees runs complete
and changes flow both ways without touching anything. CONCORD_DEMO_ACTIVITY=false switches
it off (it is off in production, where setting it on is refused).

Every edit goes through Concord's own connectors with the demo connections' credentials:
the sandboxes' vendor APIs, exactly as a person's edit in HubSpot would arrive. Concord
does not recognise its own writes by who made them but by their values (an echo is a
record whose mapped values equal the pair's base, apps.syncs.engine.merge.is_echo), so
these edits are outside changes like any other: the sandbox sends its webhook, and a run
carries the change to the other side.

The edits (one per tick, weighted; each picks linked records of the demo syncs, so that it
flows somewhere):

- HubSpot: a new contact (becomes a Zendesk end user), a changed phone, a VIP flag set or
  cleared.
- Zendesk: a user's changed phone (flows back to HubSpot), a new ticket from a customer
  (becomes a Jira issue), a ticket reprioritised (flows to Jira).
- Jira: an issue moved on, To Do -> In Progress -> Done (its ticket follows: open ->
  pending -> solved; a ticket's status is one-way, Jira -> Zendesk, in the demo sync), an
  issue reprioritised (flows to Zendesk).

Now and then (the FIRST_CONFLICT_TICK-th tick, then every CONFLICT_EVERY_TICKS ticks, while
fewer than MAX_OPEN_CONFLICTS conflicts wait) the conflict maker changes the phone of one
linked contact on both sides, to different numbers, between two runs: the demo's contacts
sync leaves conflicts to a person (policy "manual"), so one waits on the review screen.

A tick does nothing (and says so at DEBUG) when the setting is off, the demo is not seeded
or its sandbox does not answer. Which tick it is lives in the cache (shared by every
process), keyed by the demo workspace.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.core.cache import cache

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.connections.services import connector_for
from apps.dashboard.demo import CONTACTS_SYNC, DEMO_CONNECTIONS, TICKETS_SYNC, demo_workspace
from apps.runs.models import SyncRun
from apps.syncs.models import Conflict, RecordLink, Sync
from connectors.base import JSON, Connector, Record, RecordUpdate
from connectors.errors import ConnectorError, TransientError

logger = logging.getLogger(__name__)

FIRST_CONFLICT_TICK = 3  # about 15 s after beat starts, once the first runs linked the pairs
CONFLICT_EVERY_TICKS = 10  # then one every 10 ticks (50 s at the default pace) ...
MAX_OPEN_CONFLICTS = 3  # ... while fewer than this many wait for a person
MAX_LINKS = 200  # no more new contacts or tickets once a demo sync links this many pairs
PROBE_TIMEOUT = 2.0  # seconds to wait for the sandbox to answer at all
CANDIDATES = 5  # linked pairs tried before an edit gives up for this tick

FIRST_NAMES = (
    "Aiko", "Amir", "Anna", "Bruno", "Clara", "Dario", "Eva", "Femi", "Greta", "Hiro",
    "Ingrid", "Jonas", "Kofi", "Lena", "Marco", "Nina", "Oskar", "Paula", "Rahul", "Selin",
    "Tomas", "Vera", "Wen", "Yara",
)  # fmt: skip
LAST_NAMES = (
    "Almeida", "Berg", "Carter", "Dahl", "Egan", "Fujita", "Haas", "Ibrahim", "Jensen",
    "Khan", "Lindqvist", "Mendes", "Novak", "Olsen", "Park", "Reyes", "Sato", "Vogel",
    "Ward", "Young",
)  # fmt: skip
COMPANIES = (
    ("Lakeside Dental Group", "lakesidedental.example"),
    ("Northbeam Logistics", "northbeam.example"),
    ("Quarry Hill Software", "quarryhill.example"),
    ("Saltmarsh Foods", "saltmarsh.example"),
    ("Tinderbox Studios", "tinderbox.example"),
    ("Upland Energy", "uplandenergy.example"),
)
JOB_TITLES = ("Operations Manager", "IT Lead", "Head of Support", "Buyer", "CFO", "Team Lead")
TICKET_SUBJECTS = (
    "Password reset email never arrives",
    "Invoice PDF is blank",
    "Cannot invite a colleague to our account",
    "Export stops at 10,000 rows",
    "App logs me out every few minutes",
    "Wrong currency on the latest invoice",
    "Calendar sync shows events twice",
    "Error 502 when saving a report",
)
TICKET_BODIES = (
    "Since this morning several of us see this. Could you have a look?",
    "This blocks our month-end close, please treat it as urgent.",
    "We tried another browser and cleared the cache, same result.",
    "Screenshots attached. It worked fine last week.",
)
ZENDESK_PRIORITIES = ("low", "normal", "high", "urgent")
JIRA_PRIORITIES = ("Highest", "High", "Medium", "Low")  # "Lowest" maps back as "Low"
JIRA_NEXT_STATUS = {"To Do": "In Progress", "In Progress": "Done", "Done": "To Do"}


class Skip(Exception):
    """This edit has nothing to act on now (no linked pairs yet, a sync was deleted)."""


@dataclass(frozen=True)
class Written:
    """The values one edit wrote to one record."""

    kind: str  # "hubspot"
    object_type: str  # "contacts"
    record_id: str
    values: dict[str, JSON]


@dataclass
class Activity:
    """One simulated edit: what kind, a sentence that says what happened, what it wrote."""

    kind: str
    summary: str
    writes: list[Written] = field(default_factory=list)


@dataclass
class Demo:
    """The demo workspace, its sandbox connections by kind and its two syncs (when they
    still exist), with connectors opened on first use and closed at the end."""

    workspace: Workspace
    connections: dict[str, Connection]
    contacts: Sync | None
    tickets: Sync | None
    _connectors: dict[str, Connector] = field(default_factory=dict)

    def connector(self, kind: str) -> Connector:
        if kind not in self.connections:
            raise Skip(f"the demo has no {kind} connection")
        if kind not in self._connectors:
            self._connectors[kind] = connector_for(self.connections[kind])
        return self._connectors[kind]

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()
        self._connectors.clear()

    def get(self, kind: str, object_type: str, record_id: str) -> Record:
        found = self.connector(kind).get(object_type, [record_id])
        if not found or found[0].deleted:
            raise Skip(f"{kind} {object_type} {record_id} is gone")
        return found[0]

    def update(self, kind: str, object_type: str, record_id: str, **values: JSON) -> Written:
        (result,) = self.connector(kind).update(object_type, [RecordUpdate(record_id, values)])
        if result.error is not None:
            raise result.error
        return Written(kind, object_type, record_id, values)

    def create(self, kind: str, object_type: str, **values: JSON) -> Written:
        (result,) = self.connector(kind).create(object_type, [values])
        if result.error is not None:
            raise result.error
        assert result.record is not None
        return Written(kind, object_type, result.record.id, values)


def demo_find() -> Demo | None:
    """The seeded demo, or None when there is no demo workspace or it has no connections."""
    workspace = demo_workspace()
    if workspace is None:
        return None
    rows = Connection.objects.for_workspace(workspace).filter(name__in=list(DEMO_CONNECTIONS))
    connections = {c.kind: c for c in rows if DEMO_CONNECTIONS[c.name] == c.kind}
    if not connections:
        return None
    syncs = {s.name: s for s in Sync.objects.for_workspace(workspace)}
    return Demo(workspace, connections, syncs.get(CONTACTS_SYNC), syncs.get(TICKETS_SYNC))


@contextmanager
def demo_open() -> Iterator[Demo | None]:
    demo = demo_find()
    try:
        yield demo
    finally:
        if demo is not None:
            demo.close()


def sandbox_answers(demo: Demo) -> bool:
    """Whether the demo's sandbox answers at all (any HTTP status will do)."""
    base_url = next(iter(demo.connections.values())).config.get("base_url", "")
    try:
        requests.get(base_url, timeout=PROBE_TIMEOUT, allow_redirects=False)
    except requests.RequestException:
        return False
    return True


# --- the tick -------------------------------------------------------------------------------
def activity_tick(*, rng: random.Random | None = None) -> Activity | None:
    """Make one simulated edit in the demo's sandboxes (or, when one is due, a conflict);
    what was done, or None when nothing was (setting off, no demo, sandbox down)."""
    if not settings.CONCORD_DEMO_ACTIVITY:
        logger.debug("demo activity: switched off (CONCORD_DEMO_ACTIVITY)")
        return None
    rng = rng or random.Random()
    with demo_open() as demo:
        if demo is None:
            logger.debug("demo activity: the demo is not seeded")
            return None
        if not sandbox_answers(demo):
            logger.debug("demo activity: the demo's sandbox does not answer")
            return None
        tick = _tick_next(demo.workspace)
        try:
            activity = None
            if _conflict_due(demo, tick):
                activity = conflict_make(demo, rng)
                if activity is not None:
                    cache.set(_key(demo.workspace, "last-conflict"), tick, timeout=None)
            if activity is None:
                activity = edit_random(demo, rng)
        except TransientError as exc:
            logger.debug("demo activity: the sandbox did not answer in time: %s", exc)
            return None
        except ConnectorError as exc:
            logger.warning("demo activity: a sandbox refused an edit: %s", exc)
            return None
    if activity is None:
        logger.debug("demo activity: nothing to edit yet")
    else:
        logger.info("demo activity: %s", activity.summary)
    return activity


def _key(workspace: Workspace, name: str) -> str:
    # The creation time tells a new database's demo workspace from an old one with its pk.
    return f"demo-activity:{workspace.pk}:{workspace.created_at.timestamp():.0f}:{name}"


def _tick_next(workspace: Workspace) -> int:
    key = _key(workspace, "ticks")
    cache.add(key, 0, timeout=None)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=None)
        return 1


def _conflict_due(demo: Demo, tick: int) -> bool:
    if tick < FIRST_CONFLICT_TICK:
        return False
    last = cache.get(_key(demo.workspace, "last-conflict"))
    if last is not None and tick - last < CONFLICT_EVERY_TICKS:
        return False
    waiting = Conflict.objects.for_workspace(demo.workspace).filter(
        status__in=[Conflict.Status.OPEN, Conflict.Status.DECIDED]
    )
    return waiting.count() < MAX_OPEN_CONFLICTS


# --- edits ----------------------------------------------------------------------------------
def edit_random(demo: Demo, rng: random.Random) -> Activity | None:
    """One edit chosen at random by weight among those that have something to act on."""
    kinds = list(EDITS)
    weights = [EDITS[k][1] for k in kinds]
    while kinds:
        (kind,) = rng.choices(kinds, weights=weights)
        try:
            return EDITS[kind][0](demo, rng)
        except Skip as skipped:
            logger.debug("demo activity: no %s now: %s", kind, skipped)
        index = kinds.index(kind)
        del kinds[index], weights[index]
    return None


def edit(kind: str, demo: Demo, rng: random.Random | None = None) -> Activity:
    """The edit of that kind (tests, and `manage.py shell` demos). Raises Skip."""
    return EDITS[kind][0](demo, rng or random.Random())


def _links(sync: Sync | None, rng: random.Random) -> list[RecordLink]:
    """A few linked pairs of `sync` in random order, none with a conflict waiting."""
    if sync is None:
        raise Skip("the demo sync was deleted")
    busy = Conflict.objects.filter(
        sync=sync, status__in=[Conflict.Status.OPEN, Conflict.Status.DECIDED]
    ).values("link_id")
    ids = list(
        RecordLink.objects.filter(sync=sync, status="linked")
        .exclude(pk__in=busy)
        .values_list("pk", flat=True)
    )
    if not ids:
        raise Skip(f"{sync.name} has no linked pairs yet")
    chosen = rng.sample(ids, min(CANDIDATES, len(ids)))
    links = RecordLink.objects.in_bulk(chosen)
    return [links[pk] for pk in chosen if pk in links]


def _room(sync: Sync | None) -> None:
    if sync is not None and RecordLink.objects.filter(sync=sync).count() >= MAX_LINKS:
        raise Skip(f"{sync.name} has {MAX_LINKS} pairs: enough new records")


def _phone(rng: random.Random) -> str:
    return f"+1 555 {rng.randrange(100, 1000)} {rng.randrange(1000, 10000)}"


def contact_create(demo: Demo, rng: random.Random) -> Activity:
    _room(demo.contacts)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    company, domain = rng.choice(COMPANIES)
    email = f"{first.lower()}.{last.lower()}{rng.randrange(10, 1000)}@{domain}"
    written = demo.create(
        "hubspot",
        "contacts",
        firstname=first,
        lastname=last,
        email=email,
        phone=_phone(rng),
        company=company,
        jobtitle=rng.choice(JOB_TITLES),
        lifecyclestage="lead",
    )
    return Activity(
        "contact_create",
        f"HubSpot: new contact {first} {last} <{email}>",
        [written],
    )


def contact_phone(demo: Demo, rng: random.Random) -> Activity:
    link = _links(demo.contacts, rng)[0]
    contact = demo.get("hubspot", "contacts", link.a_id)
    phone = _phone(rng)
    written = demo.update("hubspot", "contacts", link.a_id, phone=phone)
    name = contact.fields.get("firstname") or contact.fields.get("email")
    return Activity("contact_phone", f"HubSpot: {name}'s phone changed to {phone}", [written])


def contact_vip(demo: Demo, rng: random.Random) -> Activity:
    link = _links(demo.contacts, rng)[0]
    contact = demo.get("hubspot", "contacts", link.a_id)
    vip = not contact.fields.get("vip")
    written = demo.update("hubspot", "contacts", link.a_id, vip=vip)
    name = contact.fields.get("firstname") or contact.fields.get("email")
    said = "is now a VIP" if vip else "is no longer a VIP"
    return Activity("contact_vip", f"HubSpot: {name} {said}", [written])


def user_phone(demo: Demo, rng: random.Random) -> Activity:
    link = _links(demo.contacts, rng)[0]
    user = demo.get("zendesk", "users", link.b_id)
    phone = _phone(rng)
    written = demo.update("zendesk", "users", link.b_id, phone=phone)
    return Activity(
        "user_phone", f"Zendesk: {user.fields.get('name')}'s phone changed to {phone}", [written]
    )


def ticket_create(demo: Demo, rng: random.Random) -> Activity:
    _room(demo.tickets)
    values: dict[str, JSON] = {
        "subject": rng.choice(TICKET_SUBJECTS),
        "description": rng.choice(TICKET_BODIES),
        "priority": rng.choice(ZENDESK_PRIORITIES),
    }
    requester = ""
    try:
        link = _links(demo.contacts, rng)[0]
        values["requester_id"] = link.b_id
        requester = f" from {demo.get('zendesk', 'users', link.b_id).fields.get('name')}"
    except Skip:
        pass  # the account owner files it
    written = demo.create("zendesk", "tickets", **values)
    return Activity(
        "ticket_create",
        f"Zendesk: new {values['priority']} ticket{requester}: {values['subject']}",
        [written],
    )


def ticket_priority(demo: Demo, rng: random.Random) -> Activity:
    link = _links(demo.tickets, rng)[0]
    ticket = demo.get("zendesk", "tickets", link.b_id)
    current = ticket.fields.get("priority")
    priority = rng.choice([p for p in ZENDESK_PRIORITIES if p != current])
    written = demo.update("zendesk", "tickets", link.b_id, priority=priority)
    return Activity(
        "ticket_priority",
        f"Zendesk: ticket #{link.b_id} reprioritised {current} -> {priority}",
        [written],
    )


def issue_move(demo: Demo, rng: random.Random) -> Activity:
    links = _links(demo.tickets, rng)
    # Work moves forward: prefer an issue that is not done; reopen one only if all are.
    issues = [demo.get("jira", "issues", link.a_id) for link in links]
    open_issues = [i for i in issues if i.fields.get("status") != "Done"]
    issue = (open_issues or issues)[0]
    current = str(issue.fields.get("status"))
    status = JIRA_NEXT_STATUS.get(current, "In Progress")
    written = demo.update("jira", "issues", issue.id, status=status)
    return Activity(
        "issue_move",
        f"Jira: {issue.fields.get('key')} moved {current} -> {status}",
        [written],
    )


def issue_priority(demo: Demo, rng: random.Random) -> Activity:
    link = _links(demo.tickets, rng)[0]
    issue = demo.get("jira", "issues", link.a_id)
    current = issue.fields.get("priority")
    priority = rng.choice([p for p in JIRA_PRIORITIES if p != current])
    written = demo.update("jira", "issues", link.a_id, priority=priority)
    return Activity(
        "issue_priority",
        f"Jira: {issue.fields.get('key')} reprioritised {current} -> {priority}",
        [written],
    )


Edit = Callable[[Demo, random.Random], Activity]
EDITS: dict[str, tuple[Edit, int]] = {
    "contact_create": (contact_create, 2),
    "contact_phone": (contact_phone, 3),
    "contact_vip": (contact_vip, 1),
    "user_phone": (user_phone, 2),
    "ticket_create": (ticket_create, 1),
    "ticket_priority": (ticket_priority, 2),
    "issue_move": (issue_move, 3),
    "issue_priority": (issue_priority, 2),
}


# --- the conflict maker ---------------------------------------------------------------------
def conflict_make(demo: Demo, rng: random.Random) -> Activity | None:
    """Change one linked contact's phone on both sides, to different numbers, between two
    runs; None when there is no pair to do it on now (try again at the next tick).

    Both writes go out back to back, within milliseconds, while no run of the contacts sync
    is queued or running: the first webhook takes longer than that to come back as a run
    (the sandbox batches for 50 ms, then the inbox, a task and the run's own task), so the
    run that reads the pair finds both changed since the base: a conflict, which the
    contacts sync's "manual" policy leaves open for a person.
    """
    sync = demo.contacts
    if sync is None or not sync.enabled or sync.paused_reason:
        return None
    busy = SyncRun.objects.filter(
        sync=sync, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
    )
    if busy.exists():
        return None
    try:
        links = _links(sync, rng)
    except Skip:
        return None
    for link in links:
        try:
            contact = demo.get("hubspot", "contacts", link.a_id)
            user = demo.get("zendesk", "users", link.b_id)
        except Skip:
            continue
        if contact.fields.get("phone") != user.fields.get("phone"):
            continue  # a change of this pair is still on its way: not a clean base
        phone_a = _phone(rng)
        phone_b = _phone(rng)
        while phone_b == phone_a:
            phone_b = _phone(rng)
        written = [
            demo.update("hubspot", "contacts", link.a_id, phone=phone_a),
            demo.update("zendesk", "users", link.b_id, phone=phone_b),
        ]
        name = contact.fields.get("firstname") or contact.fields.get("email")
        return Activity(
            "conflict",
            f"conflict in the making: {name}'s phone set to {phone_a} in HubSpot and to "
            f"{phone_b} in Zendesk",
            written,
        )
    return None

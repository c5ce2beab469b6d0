"""Factories for engine tests: a workspace, memory connections, a sync with mappings.

Two memory stores stand for two systems: "crm" (side A, object type "contacts") and "desk"
(side B, object type "users"), with fields of every conversion kind.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth import get_user_model

from apps.accounts.models import Workspace
from apps.accounts.services import workspace_create
from apps.connections.models import Connection
from apps.syncs.engine.recorder import CountingRecorder, RunReport
from apps.syncs.models import FieldMapping, Sync
from apps.syncs.services import sync_create, sync_engine_run
from connectors.base import FieldOption, FieldSpec, FieldType, Record
from connectors.memory.connector import MemoryStore, store_for

MEMORY_URL = "http://127.0.0.1/memory"
_seq = itertools.count(1)


def _options(*values: str) -> tuple[FieldOption, ...]:
    return tuple(FieldOption(v, v.title()) for v in values)


CRM_FIELDS = [
    FieldSpec("email", "Email", FieldType.EMAIL, required=True),
    FieldSpec("name", "Name", FieldType.STRING),
    FieldSpec("phone", "Phone", FieldType.STRING),
    FieldSpec("status", "Status", FieldType.ENUM, options=_options("open", "closed")),
    FieldSpec("score", "Score", FieldType.NUMBER),
    FieldSpec("vip", "VIP", FieldType.BOOLEAN),
    FieldSpec("renewal", "Renewal", FieldType.DATE),
    FieldSpec("owner", "Owner", FieldType.USER),
    FieldSpec("tags", "Tags", FieldType.MULTI_ENUM, options=_options("a", "b", "c")),
    FieldSpec("region", "Region", FieldType.STRING),
    FieldSpec("created", "Created", FieldType.DATETIME, writable=False),
]
DESK_FIELDS = [
    FieldSpec("email", "Email", FieldType.EMAIL, required=True),
    FieldSpec("full_name", "Full name", FieldType.STRING),
    FieldSpec("phone", "Phone", FieldType.STRING),
    FieldSpec("state", "State", FieldType.ENUM, options=_options("To Do", "Done")),
    FieldSpec("score", "Score", FieldType.STRING),
    FieldSpec("vip", "VIP", FieldType.BOOLEAN),
    FieldSpec("renewal", "Renewal", FieldType.DATETIME),
    FieldSpec("owner", "Owner", FieldType.USER),
    FieldSpec("labels", "Labels", FieldType.MULTI_ENUM, options=_options("a", "b", "c")),
    FieldSpec("notes", "Notes", FieldType.TEXT),
    FieldSpec("ticket_count", "Tickets", FieldType.INTEGER, writable=False),
]

STATUS_MAP = {"open": "To Do", "closed": "Done"}
STATUS_BACK = {"To Do": "open", "Done": "closed"}
STATUS_MAPPING: dict[str, Any] = {
    "field_a": "status",
    "field_b": "state",
    "value_map_a_to_b": STATUS_MAP,
    "value_map_b_to_a": STATUS_BACK,
}
BASIC_MAPPINGS: list[dict[str, Any]] = [
    {"field_a": "email", "field_b": "email"},
    {"field_a": "name", "field_b": "full_name"},
    {"field_a": "phone", "field_b": "phone"},
]


def user(email: str | None = None) -> Any:
    email = email or f"user{next(_seq)}@example.com"
    return get_user_model().objects.create_user(username=email, email=email, password="x" * 12)


def workspace(name: str = "Acme") -> Workspace:
    return workspace_create(name=name, owner=user())


def stores(
    *, normalise_a: bool = False, normalise_b: bool = False
) -> tuple[MemoryStore, MemoryStore]:
    """Two fresh stores with the standard schemas (unique names per call)."""
    n = next(_seq)
    crm = store_for(f"crm{n}", normalise=normalise_a)
    crm.define("contacts", CRM_FIELDS)
    desk = store_for(f"desk{n}", normalise=normalise_b)
    desk.define("users", DESK_FIELDS)
    return crm, desk


def memory_connection(ws: Workspace, store: MemoryStore, *, page_size: int = 100) -> Connection:
    return Connection.objects.create(
        workspace=ws,
        name=f"{store.name} connection {next(_seq)}",
        kind="memory",
        config={"base_url": MEMORY_URL, "store": store.name, "page_size": page_size},
    )


def sync(
    ws: Workspace,
    crm: MemoryStore,
    desk: MemoryStore,
    *,
    mappings: Sequence[Mapping[str, Any]] = BASIC_MAPPINGS,
    match_rule: Sequence[Mapping[str, Any]] = ({"a": "email", "b": "email"},),
    filters: Sequence[Mapping[str, Any]] = (),
    page_size: int = 100,
    **settings: Any,
) -> Sync:
    """A sync crm/contacts (A) <-> desk/users (B). Safety limit off unless given."""
    settings.setdefault("safety_limit_share", None)
    settings.setdefault("safety_limit_count", None)
    settings.setdefault("enabled", True)
    return sync_create(
        workspace=ws,
        name=f"sync {next(_seq)}",
        connection_a=memory_connection(ws, crm, page_size=page_size),
        object_type_a="contacts",
        connection_b=memory_connection(ws, desk, page_size=page_size),
        object_type_b="users",
        mappings=mappings,
        match_rule=match_rule,
        filters=filters,
        **settings,
    )


def mapping(s: Sync, field_a: str) -> FieldMapping:
    return s.mappings.get(field_a=field_a)


# --- running the engine against the two stores --------------------------------------------
def memory_sync(*, normalise_b: bool = False, **kw: Any) -> tuple[Sync, MemoryStore, MemoryStore]:
    """A sync between two fresh stores in a new workspace: (sync, crm, desk)."""
    ws = workspace()
    crm, desk = stores(normalise_b=normalise_b)
    return sync(ws, crm, desk, **kw), crm, desk


def run(s: Sync, **kw: Any) -> tuple[RunReport, CountingRecorder]:
    """The engine alone over the sync, with a recorder that keeps the events: no run row,
    no outcome recorded (tests/running.run_now runs it the way a worker does)."""
    recorder = CountingRecorder()
    kw.setdefault("trigger", "manual")
    report = sync_engine_run(s, recorder=recorder, **kw)
    return report, recorder


def only(store: MemoryStore, object_type: str) -> Record:
    [record] = store.all(object_type)
    return record


def linked_pair(
    s: Sync, crm: MemoryStore, desk: MemoryStore, **a_fields: Any
) -> tuple[Record, Record]:
    """Ann on A, created on B by a run: the two records, linked."""
    fields = {"email": "ann@x.com", "name": "Ann", "phone": "1", **a_fields}
    a = crm.insert("contacts", fields)
    run(s)
    return a, only(desk, "users")


# --- three systems ---------------------------------------------------------------------------
THREE_SIDES = {"xy": ("x", "y"), "yz": ("y", "z"), "xz": ("x", "z")}
THREE_MAPPINGS: list[dict[str, Any]] = [
    {"field_a": "email", "field_b": "email"},
    {"field_a": "name", "field_b": "name"},
    {"field_a": "phone", "field_b": "phone"},
]


def three_systems(
    ws: Workspace,
    names: Sequence[str] = ("xy", "yz", "xz"),
    *,
    match: bool = True,
    normalise: str | None = None,
    page_size: int = 100,
    policies: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[dict[str, MemoryStore], dict[str, Sync]]:
    """Three systems x, y, z (memory stores of "contacts", one connection each, shared by
    the syncs as a workspace shares its connections) and the syncs `names` between them
    (by default the triangle xy, yz, xz), mapping email, name and phone both ways, matching
    by email if `match`. `policies` gives per sync name its conflict/delete policies."""
    n = next(_seq)
    stores: dict[str, MemoryStore] = {}
    connections: dict[str, Connection] = {}
    for system in "xyz":
        store = store_for(f"{system}{n}", normalise=normalise == system)
        store.define("contacts", CRM_FIELDS)
        stores[system] = store
        connections[system] = memory_connection(ws, store, page_size=page_size)
    syncs: dict[str, Sync] = {}
    for name in names:
        a, b = THREE_SIDES[name]
        syncs[name] = sync_create(
            workspace=ws,
            name=f"{name} {n}",
            connection_a=connections[a],
            object_type_a="contacts",
            connection_b=connections[b],
            object_type_b="contacts",
            mappings=THREE_MAPPINGS,
            match_rule=[{"a": "email", "b": "email"}] if match else [],
            safety_limit_share=None,
            safety_limit_count=None,
            enabled=True,
            **(policies or {}).get(name, {}),
        )
    return stores, syncs

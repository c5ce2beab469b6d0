"""A sync's definition as one document: replace it as a whole, export it, import it.

The document is what a person writes down to describe a sync: its two sides, settings,
match rule, field mappings and filters. Run state (links, cursors, pauses, errors) is never
part of it. The same shape serves three purposes:

- `sync_document_update` replaces a sync's definition in one transaction, so a sync is
  saved complete or not at all. Mappings keep their identity by field pair: a mapping whose
  (field_a, field_b) pair stays keeps its id, so the base values of every linked pair (keyed
  by mapping id) and its open conflicts survive an edit of its direction or value maps.
- `sync_export` writes the definition with connections referenced by name, so it can live
  in version control and move between workspaces.
- `sync_import` reads such a document into a workspace, resolving connection names there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.core.errors import Invalid
from apps.syncs import services
from apps.syncs.models import FieldMapping, Sync
from apps.syncs.validation import mappings_validate

DOCUMENT_KIND = "concord.sync"
DOCUMENT_VERSION = 1

# What a mapping is made of in a document (options come from field discovery, ids from
# the database: neither is part of a definition).
MAPPING_KEYS = (
    "field_a",
    "field_b",
    "direction",
    "kind_a",
    "kind_b",
    "value_map_a_to_b",
    "value_map_b_to_a",
    "default_a",
    "default_b",
)
FILTER_KEYS = ("side", "field", "operator", "value")
# The sync's settings in a document. `enabled` is state, not definition: an imported sync
# starts disabled, so a definition moved between workspaces never starts writing unasked.
DOCUMENT_SETTINGS = tuple(s for s in services.SETTINGS if s not in ("name", "enabled"))


# --- replacing a definition -------------------------------------------------------------
@transaction.atomic
def sync_document_update(
    sync: Sync,
    *,
    mappings: Sequence[Mapping[str, Any]] | None = None,
    filters: Sequence[Mapping[str, Any]] | None = None,
    match_rule: Sequence[Mapping[str, Any]] | None = None,
    **settings: Any,
) -> Sync:
    """Change a sync's settings and replace, when given, its mappings, filters and match
    rule, validated as a whole against field discovery; nothing is saved unless all of it
    is valid.

    Mappings are matched to the stored ones by (field_a, field_b): a kept pair is updated in
    place (its base values and open conflicts stay), a new pair is added, a pair left out is
    removed with its conflicts. Adding or changing a mapping asks the next run for a full
    read, as `mapping_add` does. Raises Invalid naming the input (`mappings.1.direction`),
    or UpstreamError when a system's fields cannot be read.
    """
    if mappings is not None:
        checked = mappings_validate(mappings, services.sync_fields(sync))
    services.sync_update(sync, filters=filters, match_rule=match_rule, **settings)
    if mappings is not None and _mappings_replace(sync, checked):
        Sync.objects.filter(pk=sync.pk).update(resync_requested=True)
    sync.refresh_from_db()
    return sync


def _mappings_replace(sync: Sync, checked: list[dict[str, Any]]) -> bool:
    """Make the stored mappings these; True when one was added or changed."""
    existing = {(m.field_a, m.field_b): m for m in sync.mappings.all()}
    wanted = {(values["field_a"], values["field_b"]): values for values in checked}
    changed = False
    for pair, mapping in existing.items():
        if pair not in wanted:
            services.mapping_remove(mapping)
    for pair, values in wanted.items():
        current = existing.get(pair)
        if current is None:
            FieldMapping.objects.create(sync=sync, **values)
            changed = True
            continue
        if any(getattr(current, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(current, key, value)
            current.save()
            changed = True
    return changed


# --- export ---------------------------------------------------------------------------------
def sync_export(sync: Sync) -> dict[str, Any]:
    """The sync's definition as a JSON-ready document, connections referenced by name."""
    return {
        "kind": DOCUMENT_KIND,
        "version": DOCUMENT_VERSION,
        "name": sync.name,
        "connection_a": sync.connection_a.name,
        "object_type_a": sync.object_type_a,
        "connection_b": sync.connection_b.name,
        "object_type_b": sync.object_type_b,
        **{name: getattr(sync, name) for name in DOCUMENT_SETTINGS},
        "match_rule": list(sync.match_rule or []),
        "mappings": [{k: getattr(m, k) for k in MAPPING_KEYS} for m in sync.mappings.all()],
        "filters": [{k: getattr(f, k) for k in FILTER_KEYS} for f in sync.filters.all()],
    }


# --- import ---------------------------------------------------------------------------------
def _connection_named(workspace: Workspace, name: Any, side: str) -> Connection:
    key = f"connection_{side}"
    if not isinstance(name, str) or not name.strip():
        raise Invalid(f"{key} must name a connection", field=key)
    connection = Connection.objects.for_workspace(workspace).filter(name=name.strip()).first()
    if connection is None:
        raise Invalid(
            f"this workspace has no connection named {name.strip()!r} (side {side.upper()}); "
            "create it, or rename the document's connection to an existing one",
            field=key,
        )
    return connection


@transaction.atomic
def sync_import(
    workspace: Workspace, document: Mapping[str, Any], *, name: str | None = None
) -> Sync:
    """Create a sync in `workspace` from an exported document, disabled.

    Connections are looked up by name in `workspace`. `name` overrides the document's name
    (to import the same definition twice). Raises Invalid for a document of another kind or
    version, a connection name the workspace lacks, and anything sync_create refuses; the
    field paths are the document's own (`connection_b`, `mappings.0.direction`).
    """
    if document.get("kind") != DOCUMENT_KIND:
        raise Invalid(
            f"not a sync document: its kind is {document.get('kind')!r}, not {DOCUMENT_KIND!r}",
            field="kind",
        )
    if document.get("version") != DOCUMENT_VERSION:
        raise Invalid(
            f"unsupported document version {document.get('version')!r} "
            f"(this Concord reads version {DOCUMENT_VERSION})",
            field="version",
        )
    settings = {k: document[k] for k in DOCUMENT_SETTINGS if k in document}
    return services.sync_create(
        workspace=workspace,
        name=str(name if name is not None else document.get("name", "")),
        connection_a=_connection_named(workspace, document.get("connection_a"), "a"),
        object_type_a=str(document.get("object_type_a", "")),
        connection_b=_connection_named(workspace, document.get("connection_b"), "b"),
        object_type_b=str(document.get("object_type_b", "")),
        mappings=[{k: m[k] for k in MAPPING_KEYS if k in m} for m in document.get("mappings", [])],
        filters=[{k: f[k] for k in FILTER_KEYS if k in f} for f in document.get("filters", [])],
        match_rule=list(document.get("match_rule", [])),
        enabled=False,
        **settings,
    )

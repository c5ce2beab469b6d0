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

`sync_document_effects` says what saving a document over a sync would do (a new mapping
reads everything again, a new scope unlinks what leaves it, ...), for a person to read
before saving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.core.errors import Invalid
from apps.syncs import services
from apps.syncs.engine.types import Side
from apps.syncs.models import Conflict, FieldMapping, Sync
from apps.syncs.validation import (
    Sides,
    filters_validate,
    mappings_validate,
    match_rule_validate,
)
from connectors.base import FieldSpec

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
    "create_referenced",
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
        checked = mappings_validate(mappings, services.sync_fields(sync), sides=Sides.of(sync))
    services.sync_update(sync, filters=filters, match_rule=match_rule, **settings)
    if mappings is not None and _mappings_replace(sync, checked):
        Sync.objects.filter(pk=sync.pk).update(resync_requested=True)
    sync.refresh_from_db()
    return sync


def _mappings_compare(
    sync: Sync, checked: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[FieldMapping, dict[str, Any]]], list[FieldMapping]]:
    """Checked mappings against the stored ones, by field pair: (added, changed as (stored,
    new values), removed). A kept pair whose values are all equal is in none of them."""
    existing = {(m.field_a, m.field_b): m for m in sync.mappings.all()}
    wanted = {(values["field_a"], values["field_b"]): values for values in checked}
    added = [values for pair, values in wanted.items() if pair not in existing]
    changed = [
        (existing[pair], values)
        for pair, values in wanted.items()
        if pair in existing
        and any(getattr(existing[pair], key) != value for key, value in values.items())
    ]
    removed = [mapping for pair, mapping in existing.items() if pair not in wanted]
    return added, changed, removed


def _mappings_replace(sync: Sync, checked: list[dict[str, Any]]) -> bool:
    """Make the stored mappings these; True when one was added or changed."""
    added, changed, removed = _mappings_compare(sync, checked)
    for mapping in removed:
        services.mapping_remove(mapping)
    for values in added:
        FieldMapping.objects.create(sync=sync, **values)
    resync = bool(added) or any(_rereads(current, values) for current, values in changed)
    for current, values in changed:
        for key, value in values.items():
            setattr(current, key, value)
        current.save()
    return resync


# Mapping values that change what a run asks for, not what it writes: no full read.
_RUN_ONLY = ("create_referenced",)


def _rereads(stored: FieldMapping, values: Mapping[str, Any]) -> bool:
    """Whether changing `stored` to `values` needs the next run to read everything."""
    return any(
        getattr(stored, key) != value for key, value in values.items() if key not in _RUN_ONLY
    )


# --- what a new definition would do ----------------------------------------------------------
@dataclass(frozen=True)
class Effect:
    """One consequence of saving a new definition over a sync, for a person to read first.
    `resync`: it makes the next run read both sides in full."""

    code: str
    message: str
    resync: bool = False


_POLICY_WORDS = {
    "conflict_policy": {
        "manual": "a person decides",
        "prefer_a": "side A wins",
        "prefer_b": "side B wins",
        "newest": "the newest change wins",
    },
    "initial_policy": {
        "conflict": "they are conflicts, decided by the conflict policy",
        "a_wins": "side A's value wins",
        "b_wins": "side B's value wins",
    },
    "delete_policy": {
        "unlink": "the partner is unlinked and kept",
        "propagate": "the partner is deleted too",
        "ignore": "the partner is kept and stays linked to the deleted record",
    },
}


def _mapping_label(values: Mapping[str, Any]) -> str:
    arrow = {"both": "<->", "a_to_b": "->", "b_to_a": "<-"}[values["direction"]]
    return f"{values['field_a']} {arrow} {values['field_b']}"


def _what_changed(stored: FieldMapping, values: Mapping[str, Any]) -> str:
    parts = []
    if stored.direction != values["direction"]:
        parts.append(
            f"direction {stored.direction.replace('_', ' ')} to "
            f"{values['direction'].replace('_', ' ')}"
        )
    if (stored.value_map_a_to_b, stored.value_map_b_to_a) != (
        values["value_map_a_to_b"],
        values["value_map_b_to_a"],
    ):
        parts.append("value map")
    if (stored.kind_a, stored.kind_b) != (values["kind_a"], values["kind_b"]):
        parts.append("conversion type")
    if (stored.default_a, stored.default_b) != (values["default_a"], values["default_b"]):
        parts.append("default")
    if (stored.options_a, stored.options_b) != (values["options_a"], values["options_b"]):
        parts.append("options reported by the systems")
    return ", ".join(parts)


def sync_document_effects(
    sync: Sync,
    document: Mapping[str, Any],
    fields: Mapping[Side, Mapping[str, FieldSpec]] | None = None,
) -> list[Effect]:
    """What `sync_document_update` with this document would do to the sync, in the order a
    person cares about: mappings added, changed and removed, the scope, the match rule,
    policies, schedule, safety limit and name. [] when nothing would change.

    `fields` is both systems' field discovery (read from the systems when not given).
    Raises Invalid, as the update would, for a document that cannot be saved.
    """
    fields = fields if fields is not None else services.sync_fields(sync)
    effects: list[Effect] = []
    checked = mappings_validate(document.get("mappings", []), fields, sides=Sides.of(sync))
    added, changed, removed = _mappings_compare(sync, checked)
    initial = _POLICY_WORDS["initial_policy"][document.get("initial_policy", sync.initial_policy)]
    for values in added:
        effects.append(
            Effect(
                "mapping_added",
                f"{_mapping_label(values)} is new: the next run reads both sides in full, and "
                f"where a linked pair's values differ, {initial}.",
                resync=True,
            )
        )
    for stored, values in changed:
        if not _rereads(stored, values):
            how = "is" if values.get("create_referenced") else "is no longer"
            effects.append(
                Effect(
                    "mapping_changed",
                    f"{_mapping_label(values)}: a referenced record not linked yet {how} "
                    "created through its sync first.",
                )
            )
            continue
        effects.append(
            Effect(
                "mapping_changed",
                f"{_mapping_label(values)} changes ({_what_changed(stored, values)}): the next "
                "run reads both sides in full; linked pairs keep their last agreed values.",
                resync=True,
            )
        )
    for mapping in removed:
        open_conflicts = mapping_open_conflicts(mapping)
        also = (
            ""
            if not open_conflicts
            else "; its open conflict is removed"
            if open_conflicts == 1
            else f"; its {open_conflicts} open conflicts are removed"
        )
        effects.append(
            Effect(
                "mapping_removed",
                f"{mapping} stops syncing{also}. The values already written stay.",
            )
        )
    new_filters = filters_validate(document.get("filters", []), fields)
    if new_filters != services.sync_filter_values(sync):
        effects.append(
            Effect(
                "filters_changed",
                "The scope changes: the next run reads both sides in full; linked records "
                "that leave the scope are unlinked (never deleted), records that enter it are "
                "matched or created.",
                resync=True,
            )
        )
    if match_rule_validate(document.get("match_rule", []), fields) != list(sync.match_rule or []):
        effects.append(
            Effect(
                "match_rule_changed",
                "The match rule changes: it applies to records not linked yet; pairs already "
                "linked stay linked.",
            )
        )
    effects.extend(_settings_effects(sync, document))
    return effects


def _settings_effects(sync: Sync, document: Mapping[str, Any]) -> list[Effect]:
    out = []
    new = {k: document[k] for k in DOCUMENT_SETTINGS if k in document}
    for key, words in _POLICY_WORDS.items():
        if key in new and new[key] != getattr(sync, key):
            what = {
                "conflict_policy": "When both sides change a field differently from now on",
                "initial_policy": "When a pair without agreed values differs",
                "delete_policy": "When a record is deleted from now on",
            }[key]
            extra = "; open conflicts stay open" if key == "conflict_policy" else ""
            out.append(Effect(f"{key}_changed", f"{what}, {words[new[key]]}{extra}."))
    if "interval_seconds" in new and int(new["interval_seconds"]) != sync.interval_seconds:
        out.append(
            Effect(
                "schedule_changed",
                f"The sync runs every {interval_words(int(new['interval_seconds']))} instead "
                f"of every {interval_words(sync.interval_seconds)}.",
            )
        )
    limit = ("safety_limit_count", "safety_limit_share")
    if any(k in new and new[k] != getattr(sync, k) for k in limit):
        out.append(Effect("safety_limit_changed", "The safety limit changes from the next run."))
    name = str(document.get("name", sync.name)).strip()
    if name and name != sync.name:
        out.append(Effect("renamed", f"The sync is renamed to {name!r}."))
    return out


def mapping_open_conflicts(mapping: FieldMapping) -> int:
    return Conflict.objects.filter(
        mapping=mapping, status__in=[Conflict.Status.OPEN, Conflict.Status.DECIDED]
    ).count()


def interval_words(seconds: int) -> str:
    """A schedule interval as people say it: "30 seconds", "5 minutes", "2 hours", "day"."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


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

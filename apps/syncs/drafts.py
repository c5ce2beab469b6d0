"""A sync definition being built step by step (the sync builder): the sync document plus
what both systems reported, checked part by part, saved through the same services as the
API (`services.sync_create` for a new sync, `transfer.sync_document_update` for an edit).

A draft is a JSON-ready dict, so a client can keep it between requests (the dashboard keeps
it in the session). Its definition has the shape of `transfer.sync_export`'s document,
except that `connection_a`/`connection_b` hold connection ids rather than names:

    {"sync": the public id of the sync being edited, or None for a new one,
     "original": that sync's document when the draft was made (to notice a change made
                 meanwhile through the API or by someone else), or None,
     "name", "connection_a", "object_type_a", "connection_b", "object_type_b",
     "interval_seconds", "conflict_policy", ... (transfer.DOCUMENT_SETTINGS),
     "match_rule": [...], "mappings": [...], "filters": [...],
     "discovered": {"a": {"connection", "object_type", "fields": [FieldSpec as JSON]}, "b": ...},
     "object_types": {"a": {"connection", "types": [{"name", "label"}]}, "b": ...}}

Field discovery is cached in the draft, so that checking a step never calls the systems;
`draft_refresh` reads them again. Saving reads them once more, so a field that vanished
meanwhile is refused then, by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.connections.services import connection_object_types
from apps.core.errors import DomainError, Invalid, Refused
from apps.syncs import services, suggestions, transfer
from apps.syncs.engine.filters import LIST_OPERATORS, VALUELESS_OPERATORS
from apps.syncs.engine.types import Direction, Side
from apps.syncs.models import Sync
from apps.syncs.validation import (
    Sides,
    fields_discover,
    filters_problems,
    mappings_problems,
    match_rule_problems,
    settings_validate,
)
from connectors.base import FieldOption, FieldSpec, FieldType

Draft = dict[str, Any]
Fields = dict[Side, dict[str, FieldSpec]]

STEPS = ("sides", "fields", "scope", "review")
SIDES_KEYS = ("name", "connection_a", "object_type_a", "connection_b", "object_type_b")
SETTING_KEYS = transfer.DOCUMENT_SETTINGS


def step_of(path: str) -> str:
    """The builder step where the input at a dotted path is entered (`mappings.2.direction`
    -> "fields"); errors a service raises at saving are shown on that step."""
    head = path.split(".", 1)[0]
    if head in SIDES_KEYS or head in ("kind", "version"):
        return "sides"
    if head == "mappings":
        return "fields"
    return "scope"


# --- making a draft ------------------------------------------------------------------------
def draft_new() -> Draft:
    """An empty draft with the settings a new sync gets by default."""
    defaults = {name: Sync._meta.get_field(name).get_default() for name in SETTING_KEYS}
    return {
        "sync": None,
        "original": None,
        "name": "",
        "connection_a": None,
        "object_type_a": "",
        "connection_b": None,
        "object_type_b": "",
        **defaults,
        "match_rule": [],
        "mappings": [],
        "filters": [],
        "discovered": {"a": None, "b": None},
        "object_types": {"a": None, "b": None},
        # The sides the mappings were made for: choosing others starts them again.
        "mapped_sides": None,
        # The mappings are the suggestions, untouched yet.
        "suggested": False,
    }


def draft_for_sync(sync: Sync) -> Draft:
    """A draft of an existing sync's definition (its sides cannot change). Reads nothing
    from the systems: discovery happens when a step first needs the fields."""
    document = transfer.sync_export(sync)
    draft = draft_new()
    draft.update({k: v for k, v in document.items() if k not in ("kind", "version")})
    draft.update(
        sync=str(sync.public_id),
        original=document,
        connection_a=str(sync.connection_a.public_id),
        connection_b=str(sync.connection_b.public_id),
    )
    draft["mapped_sides"] = _sides(draft)
    return draft


def draft_document(draft: Draft) -> dict[str, Any]:
    """The definition part of the draft, as `transfer.sync_document_update` takes it."""
    return {
        "name": draft["name"],
        **{k: draft[k] for k in SETTING_KEYS},
        "match_rule": draft["match_rule"],
        "mappings": draft["mappings"],
        "filters": draft["filters"],
    }


# --- connections, object types and fields, cached --------------------------------------------
def draft_connection(draft: Draft, workspace: Workspace, side: Side) -> Connection | None:
    public_id = draft[f"connection_{side}"]
    if not public_id:
        return None
    return Connection.objects.for_workspace(workspace).filter(public_id=public_id).first()


def draft_object_types(draft: Draft, workspace: Workspace, side: Side) -> list[dict[str, str]]:
    """The object types of the side's connection ([] without one), read once per
    connection. Raises UpstreamError when the system cannot be read."""
    connection = draft_connection(draft, workspace, side)
    if connection is None:
        return []
    cached = draft["object_types"][side]
    if cached and cached["connection"] == str(connection.public_id):
        return cached["types"]
    types = [{"name": t.name, "label": t.label} for t in connection_object_types(connection)]
    draft["object_types"][side] = {"connection": str(connection.public_id), "types": types}
    return types


def draft_fields(draft: Draft, workspace: Workspace, *, fresh: bool = False) -> Fields | None:
    """Both sides' fields, discovered once for the draft's sides; None until both sides
    are chosen. Raises UpstreamError when a system cannot be read, Invalid
    (`object_type_a`) when it has no such object type."""
    out: Fields = {}
    for side in Side:
        connection = draft_connection(draft, workspace, side)
        object_type = draft[f"object_type_{side}"]
        if connection is None or not object_type:
            return None
        cached = draft["discovered"][side]
        if not (
            cached
            and cached["connection"] == str(connection.public_id)
            and cached["object_type"] == object_type
        ):
            specs = fields_discover(connection, object_type, side, fresh=fresh)
            cached = {
                "connection": str(connection.public_id),
                "object_type": object_type,
                "fields": [spec_json(s) for s in specs.values()],
            }
            draft["discovered"][side] = cached
        out[side] = {d["name"]: spec_from_json(d) for d in cached["fields"]}
    return out


def draft_refresh(draft: Draft, workspace: Workspace) -> Fields | None:
    """Read the object types and fields from the systems again (a field was added there)."""
    draft["discovered"] = {"a": None, "b": None}
    draft["object_types"] = {"a": None, "b": None}
    return draft_fields(draft, workspace, fresh=True)


def spec_json(spec: FieldSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "label": spec.label,
        "type": spec.type.value,
        "writable": spec.writable,
        "required": spec.required,
        "options": [[o.value, o.label] for o in spec.options],
        "custom": spec.custom,
        "reference_to": spec.reference_to,
    }


def spec_from_json(data: Mapping[str, Any]) -> FieldSpec:
    return FieldSpec(
        name=data["name"],
        label=data["label"],
        type=FieldType(data["type"]),
        writable=data["writable"],
        required=data["required"],
        options=tuple(FieldOption(v, label) for v, label in data["options"]),
        custom=data["custom"],
        reference_to=data["reference_to"],
    )


# --- step 1: the sides --------------------------------------------------------------------
def draft_sides_set(draft: Draft, workspace: Workspace, **values: Any) -> dict[str, str]:
    """Set the name and (for a new sync) the two sides; return the problems by field.

    Once both sides are chosen their fields are discovered; when the fields are those of
    other sides than before, the mappings and match rule start again from the suggestions
    and the filters are dropped (they named the old fields). Raises UpstreamError when a
    system cannot be read.
    """
    problems: dict[str, str] = {}
    if draft["sync"] is None:
        for side in Side:
            key = f"connection_{side}"
            changed = (values.get(key) or None) != draft[key]
            draft[key] = values.get(key) or None
            object_type = str(values.get(f"object_type_{side}") or "")
            if draft[key] and draft_connection(draft, workspace, side) is None:
                problems[key] = "no such connection in this workspace"
                draft[key] = None
            elif draft[key] and changed and object_type:
                # The type chosen for the previous connection, unless this one has it too.
                names = [t["name"] for t in draft_object_types(draft, workspace, side)]
                object_type = object_type if object_type in names else ""
            draft[f"object_type_{side}"] = object_type
    problems.update(_sides_problems(draft, workspace, missing=False))
    complete = not problems and all(draft[f"object_type_{side}"] for side in Side)
    fields = draft_fields(draft, workspace) if complete else None
    if fields is not None and draft["mapped_sides"] != _sides(draft):
        draft["mappings"] = suggestions.mappings_suggest(fields[Side.A], fields[Side.B])
        draft["match_rule"] = suggestions.match_rule_suggest(draft["mappings"], fields)
        draft["filters"] = []
        draft["mapped_sides"] = _sides(draft)
        draft["suggested"] = True
    draft["name"] = str(values.get("name", draft["name"]) or "").strip()
    if not draft["name"] and fields is not None:
        draft["name"] = _default_name(draft, workspace)
    if draft["name"]:
        try:
            services.sync_name_check(workspace, draft["name"], sync=draft_sync(draft, workspace))
        except Invalid as exc:
            problems.update(exc.problems())
    return problems


def _sides(draft: Draft) -> list[Any]:
    """The sides the mappings, filters and match rule were made for."""
    return [draft[f"{key}_{side}"] for side in Side for key in ("connection", "object_type")]


def _sides_problems(draft: Draft, workspace: Workspace, *, missing: bool) -> dict[str, str]:
    problems: dict[str, str] = {}
    for side in Side:
        connection = draft_connection(draft, workspace, side)
        if connection is None:
            if missing:
                problems[f"connection_{side}"] = f"choose the connection of side {side.label}"
            continue
        object_type = draft[f"object_type_{side}"]
        if not object_type:
            if missing:
                problems[f"object_type_{side}"] = f"choose what to sync on side {side.label}"
            continue
        names = [t["name"] for t in draft_object_types(draft, workspace, side)]
        if object_type not in names:
            problems[f"object_type_{side}"] = (
                f"{connection.name} has no object type {object_type!r} "
                f"(it has: {', '.join(names) or 'none'})"
            )
    return problems


def _default_name(draft: Draft, workspace: Workspace) -> str:
    parts = []
    for side in Side:
        connection = draft_connection(draft, workspace, side)
        parts.append(f"{connection.name if connection else '?'} {draft[f'object_type_{side}']}")
    return f"{parts[0]} and {parts[1]}"


def draft_sync(draft: Draft, workspace: Workspace) -> Sync | None:
    """The sync the draft edits (None for a new one, or when it was deleted meanwhile)."""
    if draft["sync"] is None:
        return None
    return Sync.objects.for_workspace(workspace).filter(public_id=draft["sync"]).first()


# --- step 2: the fields ---------------------------------------------------------------------
def draft_mappings_set(draft: Draft, fields: Fields, rows: Sequence[Mapping[str, Any]]) -> None:
    """Replace the mappings with `rows` as a form sends them: `field_a`, `field_b`,
    `direction`, the value maps its editor showed (None where it showed none),
    `create_referenced` where the row showed that checkbox (a records reference), and
    `was`, the index of the mapping the row was drawn from (None for a new row).

    A row that keeps its field pair keeps what the form does not show (conversion kinds,
    defaults) and its value maps unless the editor changed what they do, so that saving an
    untouched mapping changes nothing. A row with a new pair starts with the value maps
    suggested for it; a direction that starts writing an enum gets its suggested map.
    """
    before = draft["mappings"]
    out = []
    for row in rows:
        was = row.get("was")
        previous = before[was] if was is not None and 0 <= was < len(before) else None
        field_a, field_b = str(row.get("field_a") or ""), str(row.get("field_b") or "")
        mapping: dict[str, Any] = {
            "field_a": field_a,
            "field_b": field_b,
            "direction": str(row.get("direction") or Direction.BOTH.value),
        }
        same_pair = previous is not None and (previous["field_a"], previous["field_b"]) == (
            field_a,
            field_b,
        )
        if same_pair:
            for key in ("kind_a", "kind_b", "default_a", "default_b"):
                if key in previous:
                    mapping[key] = previous[key]
        # Where the row showed its checkbox, what it says; else a kept pair keeps its own.
        create = (
            row["create_referenced"]
            if "create_referenced" in row
            else (same_pair and bool(previous.get("create_referenced")))
        )
        if create:
            mapping["create_referenced"] = True
        spec_a, spec_b = fields[Side.A].get(field_a), fields[Side.B].get(field_b)
        for target in (Side.B, Side.A):
            source = target.other
            key = f"value_map_{source}_to_{target}"
            kept = dict(previous.get(key) or {}) if same_pair else None
            posted = row.get(key)
            if kept is not None and posted is not None and spec_a and spec_b:
                specs = {Side.A: spec_a, Side.B: spec_b}
                effective = suggestions.value_map_effective(kept, specs[source], specs[target])
                if posted != effective:
                    kept = dict(posted)
            if kept:
                mapping[key] = kept
        if spec_a is not None and spec_b is not None:
            try:
                wanted = suggestions.value_maps_suggest(spec_a, spec_b, mapping["direction"])
            except ValueError:  # an unknown direction: validation says so on the row
                wanted = {}
            for key, suggested in wanted.items():
                mapping.setdefault(key, suggested)
        out.append(mapping)
    draft["mappings"] = out
    draft["suggested"] = False


# --- step 3: scope and rules ----------------------------------------------------------------
def draft_scope_set(
    draft: Draft,
    *,
    filters: Sequence[Mapping[str, Any]],
    match_rule: Sequence[Mapping[str, Any]],
    settings: Mapping[str, Any],
) -> None:
    """Replace the filters, the match rule and the settings (checked by draft_problems)."""
    draft["filters"] = [dict(f) for f in filters]
    draft["match_rule"] = [dict(p) for p in match_rule]
    for key in SETTING_KEYS:
        if key in settings:
            draft[key] = settings[key]


# --- checking and saving ----------------------------------------------------------------------
def draft_problems(
    draft: Draft,
    workspace: Workspace,
    fields: Fields | None,
    step: str | None = None,
    *,
    missing: bool = True,
) -> dict[str, str]:
    """The draft's problems by dotted path, for one step or all of them ({} when it can be
    saved as far as the cached fields tell; saving checks against fresh ones).

    `missing=False` leaves out what is merely not chosen yet (a side, a row's field): a
    step being filled in shows what is wrong, "continue" and the review show both.
    """
    steps = [step] if step else list(STEPS)
    problems: dict[str, str] = {}
    if "sides" in steps:
        problems.update(_sides_problems(draft, workspace, missing=missing))
        if missing and not draft["name"]:
            problems["name"] = "a sync needs a name"
    if fields is None:
        if missing and {"fields", "scope"} & set(steps):
            problems.setdefault("", "choose both sides first")
        return problems
    if "fields" in steps:
        problems.update(
            _mappings_problems(
                draft["mappings"], fields, missing=missing, sides=draft_sides(draft, workspace)
            )
        )
    if "scope" in steps:
        problems.update(_filters_problems(draft["filters"], fields, missing=missing))
        problems.update(_match_rule_problems(draft["match_rule"], fields, missing=missing))
        try:
            settings_validate({k: draft[k] for k in SETTING_KEYS}, allowed=SETTING_KEYS)
        except Invalid as exc:
            problems.update(exc.problems())
    return problems


def draft_sides(draft: Draft, workspace: Workspace) -> Sides | None:
    """The draft's two sides as reference checks need them (None until both are chosen)."""
    connections = {side: draft_connection(draft, workspace, side) for side in Side}
    types = {side: draft[f"object_type_{side}"] for side in Side}
    if any(c is None for c in connections.values()) or not all(types.values()):
        return None
    return Sides(
        workspace.pk,
        {side: c for side, c in connections.items() if c is not None},
        types,
        draft_sync(draft, workspace),
    )


def _mappings_problems(
    mappings: Sequence[Mapping[str, Any]],
    fields: Fields,
    *,
    missing: bool,
    sides: Sides | None = None,
) -> dict[str, str]:
    """A row still waiting for a field says which to choose (rather than "no field ''"),
    or nothing while `missing` is off; every other row says what is wrong with it."""
    problems = {}
    blank = set()
    for index, m in enumerate(mappings):
        for side in Side:
            if not m.get(f"field_{side}"):
                blank.add(index)
                if missing:
                    problems[f"mappings.{index}.field_{side}"] = f"choose a field of {side.label}"
    for path, message in mappings_problems(mappings, fields, sides).items():
        parts = path.split(".")
        if len(parts) > 1 and parts[1].isdigit() and int(parts[1]) in blank:
            continue
        if path == "mappings" and not mappings and not missing:
            continue
        problems[path] = message
    return problems


def _filters_problems(
    filters: Sequence[Mapping[str, Any]], fields: Fields, *, missing: bool
) -> dict[str, str]:
    """As for mappings: a filter without its field or value yet says what to choose."""
    problems = {}
    for index, f in enumerate(filters):
        path = f"filters.{index}"
        if not f.get("field"):
            if missing:
                problems[path] = "choose the field to filter on"
            continue
        operator = f.get("operator")
        takes_value = operator not in VALUELESS_OPERATORS and operator not in LIST_OPERATORS
        if takes_value and f.get("value") in (None, ""):
            if missing:
                problems[path] = f"choose the value the filter on {f['field']} compares with"
            continue
        for key, message in filters_problems([f], fields).items():
            problems[path + key.removeprefix("filters.0")] = message
    return problems


def _match_rule_problems(
    rule: Sequence[Mapping[str, Any]], fields: Fields, *, missing: bool
) -> dict[str, str]:
    problems = {}
    for index, pair in enumerate(rule):
        blank = [side for side in Side if not pair.get(side.value)]
        for side in blank:
            if missing:
                problems[f"match_rule.{index}.{side}"] = f"choose a field of {side.label}"
        if not blank:
            for key, message in match_rule_problems([pair], fields).items():
                problems[f"match_rule.{index}" + key.removeprefix("match_rule.0")] = message
    return problems


def draft_effects(draft: Draft, workspace: Workspace, fields: Fields) -> list[transfer.Effect]:
    """For a draft of an existing sync: what saving it would do (transfer's effects)."""
    sync = draft_sync(draft, workspace)
    if sync is None:
        return []
    return transfer.sync_document_effects(sync, draft_document(draft), fields)


def draft_save(draft: Draft, workspace: Workspace) -> Sync:
    """Save the draft: a new sync is created disabled; an existing one gets the new
    definition with `transfer.sync_document_update` (mappings kept by field pair).

    Raises Invalid naming the input (`mappings.1.direction`; see step_of), UpstreamError
    when a system cannot be read, Refused (`sync_changed`) when the sync was
    changed elsewhere since the draft was made (saving would silently undo that change).
    """
    document = draft_document(draft)
    if draft["sync"] is None:
        connections = {side: draft_connection(draft, workspace, side) for side in Side}
        for side, connection in connections.items():
            if connection is None:
                raise Invalid(
                    f"choose the connection of side {side.label}", field=f"connection_{side}"
                )
        return services.sync_create(
            workspace=workspace,
            name=document["name"],
            connection_a=connections[Side.A],
            object_type_a=draft["object_type_a"],
            connection_b=connections[Side.B],
            object_type_b=draft["object_type_b"],
            mappings=document["mappings"],
            filters=document["filters"],
            match_rule=document["match_rule"],
            enabled=False,
            **{k: document[k] for k in SETTING_KEYS},
        )
    sync = draft_sync(draft, workspace)
    if sync is None:
        raise Refused("this sync no longer exists", code="sync_gone")
    if transfer.sync_export(sync) != draft["original"]:
        raise Refused(
            "this sync was changed since you opened it (through the API or by someone "
            "else); start editing it again to see that change",
            code="sync_changed",
        )
    return transfer.sync_document_update(
        sync,
        mappings=document["mappings"],
        filters=document["filters"],
        match_rule=document["match_rule"],
        name=document["name"],
        **{k: document[k] for k in SETTING_KEYS},
    )


def problems_by_step(exc: DomainError) -> dict[str, dict[str, str]]:
    """A service's refusal split by the builder step each problem belongs to."""
    out: dict[str, dict[str, str]] = {}
    for path, message in (exc.problems() or {"": exc.message}).items():
        out.setdefault(step_of(path) if path else "review", {})[path] = message
    return out

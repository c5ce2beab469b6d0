"""Checking a sync's definition against both systems' field discovery.

Every refusal is an `Invalid` naming the input by its dotted path, as the API and the
dashboard show it: `mappings.2.direction`, `match_rule.0.b`, `interval_seconds`; a filter's
problems name the filter (`filters.0`). A service that validates part of a larger input
puts its errors under a prefix with `DomainError.at()` (an imported document's fields are
under `document.`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from apps.connections.models import Connection
from apps.connections.services import connection_fields, connection_object_types
from apps.core.errors import Invalid
from apps.syncs.engine.filters import (
    LIST_OPERATORS,
    OPERATORS_BY_KIND,
    VALUELESS_OPERATORS,
    Operator,
)
from apps.syncs.engine.types import (
    CommentDirection,
    ConflictPolicy,
    DeletePolicy,
    Direction,
    InitialPolicy,
    Side,
)
from apps.syncs.engine.values import (
    KIND_OF_FIELD_TYPE,
    ConversionError,
    Kind,
    Normalise,
    compatible,
    convert,
    map_key,
)
from apps.syncs.models import MIN_INTERVAL_SECONDS, Sync
from connectors.base import FieldSpec, FieldType

Fields = Mapping[str, FieldSpec]


def fields_discover(
    connection: Connection, object_type: str, side: Side, *, fresh: bool = False
) -> dict[str, FieldSpec]:
    """The fields of `object_type` on `connection`, by name (`fresh`: not from the
    discovery cache).

    Raises Invalid (`object_type_a`/`object_type_b`) when the system has no such object
    type, and UpstreamError when the system cannot be read.
    """
    types = {t.name for t in connection_object_types(connection)}
    if object_type not in types:
        raise Invalid(
            f"{connection.name} has no object type {object_type!r} "
            f"(it has: {', '.join(sorted(types)) or 'none'})",
            field=f"object_type_{side}",
        )
    return {spec.name: spec for spec in connection_fields(connection, object_type, fresh=fresh)}


def _kind(spec: FieldSpec, explicit: str | None, label: str, field: str) -> Kind:
    natural = KIND_OF_FIELD_TYPE[spec.type]
    if not explicit:
        return natural
    try:
        kind = Kind(explicit)
    except ValueError:
        raise Invalid(
            f"{label}: unknown conversion type {explicit!r}", code="invalid_mapping", field=field
        ) from None
    if not compatible(natural, kind):
        raise Invalid(
            f"{label}: a {spec.type} field cannot be treated as {kind}",
            code="invalid_mapping",
            field=field,
        )
    return kind


def _mapping_error(label: str, message: str, field: str | None = None) -> Invalid:
    return Invalid(f"{label}: {message}", code="invalid_mapping", field=field)


def mapping_validate(data: Mapping[str, Any], fields_a: Fields, fields_b: Fields) -> dict[str, Any]:
    """Check one mapping against field discovery; return the FieldMapping values.

    Raises Invalid (`invalid_mapping`) naming the reason and the key of the mapping it
    concerns (`field_b`, `direction`, `value_map_a_to_b`, ...; none when it is the pair as a
    whole): an unknown field, a read-only target, incompatible types, an enum option with no
    counterpart (and no value-map entry), a value-map entry that is not an option of its
    target, or a default the target cannot hold. Callers place it with `.at("mappings.<n>")`.
    """
    field_a, field_b = str(data.get("field_a", "")), str(data.get("field_b", ""))
    label = f"{field_a} <-> {field_b}"
    try:
        direction = Direction(data.get("direction", Direction.BOTH))
    except ValueError:
        raise _mapping_error(
            label, f"unknown direction {data.get('direction')!r}", "direction"
        ) from None
    spec_a, spec_b = fields_a.get(field_a), fields_b.get(field_b)
    if spec_a is None:
        raise _mapping_error(label, f"side A has no field {field_a!r}", "field_a")
    if spec_b is None:
        raise _mapping_error(label, f"side B has no field {field_b!r}", "field_b")
    specs = {Side.A: spec_a, Side.B: spec_b}
    kinds = {
        Side.A: _kind(spec_a, data.get("kind_a"), label, "kind_a"),
        Side.B: _kind(spec_b, data.get("kind_b"), label, "kind_b"),
    }
    options = {side: spec.option_values() for side, spec in specs.items()}
    maps = {
        Side.B: dict(data.get("value_map_a_to_b") or {}),
        Side.A: dict(data.get("value_map_b_to_a") or {}),
    }
    defaults = {Side.A: data.get("default_a"), Side.B: data.get("default_b")}
    targets = [
        s for s in (Side.B, Side.A) if direction is Direction.BOTH or direction.value.endswith(s)
    ]
    for target in targets:
        source = target.other
        t_spec, s_spec = specs[target], specs[source]
        where = f"{target.label}.{t_spec.name}"
        map_field = f"value_map_{source}_to_{target}"
        if not t_spec.writable:
            raise _mapping_error(
                label,
                f"{where} is read-only, so it cannot receive values (direction {direction})",
                "direction",
            )
        if not compatible(kinds[source], kinds[target]):
            raise _mapping_error(
                label,
                f"incompatible types: {source.label}.{s_spec.name} is {kinds[source]}, "
                f"{where} is {kinds[target]}",
            )
        value_map = maps[target]
        enum_target = kinds[target] in (Kind.ENUM, Kind.MULTI_ENUM) and options[target]
        if value_map and enum_target:
            for key, value in value_map.items():
                for item in value if isinstance(value, list) else [value]:
                    if item not in options[target]:
                        raise _mapping_error(
                            label,
                            f"the value map sends {key!r} to {item!r}, which is not an option "
                            f"of {where}",
                            map_field,
                        )
        if options[source] and (value_map or enum_target):
            known = set(value_map) if value_map else set(options[target])
            missing = [o for o in options[source] if map_key(o) not in known]
            if missing:
                fix = "add it to the value map" if value_map else "add a value map"
                raise _mapping_error(
                    label,
                    f"option {missing[0]!r} of {source.label}.{s_spec.name} has no counterpart "
                    f"in {where}; {fix}",
                    map_field,
                )
        if defaults[target] is not None:
            try:
                convert(defaults[target], kinds[target], kinds[target], options=options[target])
            except ConversionError as exc:
                raise _mapping_error(
                    label, f"the default for {where} is invalid: {exc}", f"default_{target}"
                ) from None
    create = data.get("create_referenced", False)
    if not isinstance(create, bool):
        raise _mapping_error(label, "create_referenced must be true or false", "create_referenced")
    if create and any(spec.type is not FieldType.REFERENCE for spec in specs.values()):
        raise _mapping_error(label, _CREATE_ONLY_RECORDS, "create_referenced")
    return {
        "field_a": field_a,
        "field_b": field_b,
        "direction": direction.value,
        "create_referenced": create,
        "kind_a": kinds[Side.A].value,
        "kind_b": kinds[Side.B].value,
        "options_a": options[Side.A],
        "options_b": options[Side.B],
        "value_map_a_to_b": maps[Side.B] if Side.B in targets else {},
        "value_map_b_to_a": maps[Side.A] if Side.A in targets else {},
        "default_a": defaults[Side.A],
        "default_b": defaults[Side.B],
    }


@dataclass(frozen=True)
class Sides:
    """The two sides of a sync, for what a mapping needs beyond field discovery: whether a
    reference field's target is synced by another sync of the workspace. `sync` is the
    sync being changed (None while it is being created)."""

    workspace_id: int
    connections: Mapping[Side, Connection]
    object_types: Mapping[Side, str]
    sync: Sync | None = None

    @classmethod
    def of(cls, sync: Sync) -> Sides:
        return cls(
            sync.workspace_id,
            {Side.A: sync.connection_a, Side.B: sync.connection_b},
            {Side.A: sync.object_type_a, Side.B: sync.object_type_b},
            sync,
        )


def _people_types(connection: Connection) -> set[str]:
    return {t.name for t in connection_object_types(connection) if t.people}


_CREATE_ONLY_RECORDS = (
    "only a mapping of two record references can have the referenced record created "
    "through its sync"
)


def reference_validate(
    checked: Mapping[str, Any], fields_a: Fields, fields_b: Fields, sides: Sides
) -> dict[str, Any]:
    """How a checked mapping treats references: the FieldMapping values `reference`,
    `reference_via`, `users_a` and `users_b` (none for a plain mapping). `create_referenced`
    (checked by mapping_validate to need a reference on both sides) is refused for people.

    - A reference field (the id of another record of its system) on both sides: the
      referenced object types must be joined by another sync of the workspace, whose links
      translate the values; otherwise Invalid says which sync is missing.
    - People on both sides (a user field, or a reference to the system's user records; an
      email field beside a user reference): translated through the people table and email.
    - A reference on one side only: Invalid, since its raw id would mean nothing on the
      other system.
    """
    specs = {Side.A: fields_a[checked["field_a"]], Side.B: fields_b[checked["field_b"]]}
    refs = {side: spec for side, spec in specs.items() if spec.type is FieldType.REFERENCE}
    users = {side: spec for side, spec in specs.items() if spec.type is FieldType.USER}
    if not refs and len(users) < 2:
        return {}
    label = f"{checked['field_a']} <-> {checked['field_b']}"
    names = {side: sides.connections[side].name for side in Side}
    people: dict[Side, str] = {}  # side -> its user object type, for a reference to people
    for side, spec in refs.items():
        if spec.reference_to is None:
            raise _mapping_error(
                label,
                f"{side.label}.{spec.name} points to records Concord cannot read, so it cannot "
                "be translated for the other system",
            )
        if spec.reference_to in _people_types(sides.connections[side]):
            people[side] = spec.reference_to
    personal = {
        side
        for side, spec in specs.items()
        if side in people
        or spec.type is FieldType.USER
        or (spec.type is FieldType.EMAIL and people)
    }
    if len(personal) == 2:
        if checked.get("create_referenced"):
            raise _mapping_error(
                label, f"{_CREATE_ONLY_RECORDS}; people are not created", "create_referenced"
            )
        return {
            "reference": "people",
            "reference_via": None,
            "users_a": people.get(Side.A, ""),
            "users_b": people.get(Side.B, ""),
        }
    if len(refs) < 2:
        side = next(iter(refs.keys() - personal), None) or next(iter(refs))
        other = side.other
        spec = refs[side]
        raise _mapping_error(
            label,
            f"{side.label}.{spec.name} holds the id of a record of {spec.reference_to} on "
            f"{names[side]}, which means nothing on {names[other]}; map it to a reference "
            f"field of {other.label} (or, for a person, to a user field)",
        )
    target = {side: str(refs[side].reference_to) for side in Side}
    conn = {side: sides.connections[side].pk for side in Side}
    via = (
        Sync.objects.filter(workspace_id=sides.workspace_id)
        .filter(
            Q(
                connection_a_id=conn[Side.A],
                object_type_a=target[Side.A],
                connection_b_id=conn[Side.B],
                object_type_b=target[Side.B],
            )
            | Q(
                connection_a_id=conn[Side.B],
                object_type_a=target[Side.B],
                connection_b_id=conn[Side.A],
                object_type_b=target[Side.A],
            )
        )
        .exclude(pk=sides.sync.pk if sides.sync is not None else None)
        .order_by("id")
        .first()
    )
    if via is None:
        raise _mapping_error(
            label,
            f"it refers to {target[Side.A]} on {names[Side.A]} and {target[Side.B]} on "
            f"{names[Side.B]}, and no sync of this workspace joins those yet; create that "
            "sync first, then map this field (its links translate the values)",
        )
    return {"reference": "records", "reference_via": via, "users_a": "", "users_b": ""}


def mappings_validate(
    mappings: Sequence[Mapping[str, Any]],
    fields: Mapping[Side, Fields],
    *,
    existing: Sequence[Mapping[str, Any]] = (),
    sides: Sides | None = None,
) -> list[dict[str, Any]]:
    """Check a list of mappings (`mappings.<n>`), and that no field is written by two of
    them (together with `existing` ones, which keep no index). With `sides`, reference
    mappings are checked too and get their translation (`reference_validate`); without,
    a reference field is refused (there is nothing to translate it with)."""
    if not mappings and not existing:
        raise Invalid(
            "a sync needs at least one field mapping", code="invalid_mapping", field="mappings"
        )
    checked = []
    for index, mapping in enumerate(mappings):
        try:
            values = mapping_validate(mapping, fields[Side.A], fields[Side.B])
            if sides is not None:
                values.update(reference_validate(values, fields[Side.A], fields[Side.B], sides))
            elif _references(values, fields):
                raise _mapping_error(
                    f"{values['field_a']} <-> {values['field_b']}",
                    "a reference field cannot be checked without the sync's connections",
                )
            checked.append(values)
        except Invalid as exc:
            raise exc.at(f"mappings.{index}") from None
    _targets_check(checked, existing)
    pairs: set[tuple[str, str]] = set()
    for index, values in enumerate(checked):
        pair = (values["field_a"], values["field_b"])
        if pair in pairs:
            raise Invalid(
                f"{pair[0]} <-> {pair[1]}: the pair is mapped twice",
                code="invalid_mapping",
                field=f"mappings.{index}",
            )
        pairs.add(pair)
    return checked


def _references(values: Mapping[str, Any], fields: Mapping[Side, Fields]) -> bool:
    return any(fields[side][values[f"field_{side}"]].type is FieldType.REFERENCE for side in Side)


def _targets_check(
    checked: Sequence[Mapping[str, Any]], existing: Iterable[Mapping[str, Any]]
) -> None:
    """No field may be written by two mappings: they would overwrite each other."""
    seen: dict[tuple[str, str], str] = {}
    for m in [*existing, *checked]:
        label = f"{m['field_a']} <-> {m['field_b']}"
        for side in Side:
            direction = m["direction"]
            if direction == Direction.BOTH or direction.endswith(side.value):
                key = (side.value, m[f"field_{side.value}"])
                if key in seen:
                    raise Invalid(
                        f"{side.label}.{key[1]} is written by two mappings "
                        f"({seen[key]} and {label})",
                        code="invalid_mapping",
                        field="mappings",
                    )
                seen[key] = label


def filters_validate(
    filters: Iterable[Mapping[str, Any]], fields: Mapping[Side, Fields]
) -> list[dict[str, Any]]:
    """Check the filters (each problem named `filters.<n>`); return their values.

    An operator must suit the field's kind (OPERATORS_BY_KIND: no `greater` on a yes/no);
    values of numbers, yes/no fields, dates and date-times must be such values, and are
    returned in that kind (`"true"` becomes `true`, `"5"` becomes `5`), so that a filter
    typed into a form compares as the same filter sent as JSON does.
    """
    out = []
    for index, f in enumerate(filters):
        path = f"filters.{index}"
        side = str(f.get("side", "")).lower()
        if side not in ("a", "b"):
            raise Invalid(f"a filter's side is 'a' or 'b', not {side!r}", field=path)
        name = str(f.get("field", ""))
        spec = fields[Side(side)].get(name)
        if spec is None:
            raise Invalid(f"side {side.upper()} has no field {name!r} to filter on", field=path)
        try:
            operator = Operator(f.get("operator"))
        except ValueError:
            raise Invalid(
                f"unknown operator {f.get('operator')!r} for the filter on {name}", field=path
            ) from None
        kind = KIND_OF_FIELD_TYPE[spec.type]
        allowed = OPERATORS_BY_KIND[kind]
        if operator not in allowed:
            raise Invalid(
                f"the filter on {name}: {operator.replace('_', ' ')} does not apply to a "
                f"{kind.replace('_', ' ')} field (it takes: "
                f"{', '.join(o.replace('_', ' ') for o in allowed)})",
                field=path,
            )
        value = f.get("value")
        if operator in LIST_OPERATORS and not isinstance(value, list):
            raise Invalid(f"the filter on {name}: {operator} needs a list of values", field=path)
        needs_value = operator not in VALUELESS_OPERATORS and operator not in LIST_OPERATORS
        if needs_value and (value is None or value == ""):
            raise Invalid(f"the filter on {name}: {operator} needs a value", field=path)
        if operator in VALUELESS_OPERATORS:
            value = None
        elif isinstance(value, list):
            value = [_filter_value(v, kind, name, path) for v in value]
        else:
            value = _filter_value(value, kind, name, path)
        out.append({"side": side, "field": name, "operator": operator.value, "value": value})
    return out


# The kinds whose filter values are converted (and so checked) before they are stored.
_TYPED_FILTER_KINDS = (Kind.NUMBER, Kind.BOOLEAN, Kind.DATE, Kind.DATETIME)


def _filter_value(value: Any, kind: Kind, name: str, path: str) -> Any:
    if kind not in _TYPED_FILTER_KINDS:
        return value
    try:
        converted = convert(value, Kind.TEXT if isinstance(value, str) else kind, kind)
    except ConversionError as exc:
        raise Invalid(f"the filter on {name}: {exc}", field=path) from None
    if kind in (Kind.DATE, Kind.DATETIME):
        return str(value).strip()  # checked; compared as an instant, kept as written
    return converted


def match_rule_validate(
    rule: Iterable[Mapping[str, Any]], fields: Mapping[Side, Fields]
) -> list[dict[str, str]]:
    """Check the match rule (`match_rule.<n>.a|b|normalise`); return its pairs."""
    out = []
    for index, pair in enumerate(rule):
        path = f"match_rule.{index}"
        names = {Side.A: str(pair.get("a", "")), Side.B: str(pair.get("b", ""))}
        for side, name in names.items():
            if name not in fields[side]:
                raise Invalid(
                    f"side {side.label} has no field {name!r} to match on",
                    field=f"{path}.{side.value}",
                )
        try:
            normalise = Normalise(pair.get("normalise", Normalise.EMAIL))
        except ValueError:
            raise Invalid(
                f"unknown normalisation {pair.get('normalise')!r}", field=f"{path}.normalise"
            ) from None
        out.append({"a": names[Side.A], "b": names[Side.B], "normalise": normalise.value})
    return out


# --- every problem at once, for a form -----------------------------------------------------
# The *_validate functions stop at the first problem, as an API answer does. A form shows
# each row's problem on its row while the rest is being filled in: these check each item on
# its own, then (when every item is fine) what concerns them together.


def mappings_problems(
    mappings: Sequence[Mapping[str, Any]],
    fields: Mapping[Side, Fields],
    sides: Sides | None = None,
) -> dict[str, str]:
    """Every mapping's problem by dotted path (`mappings.2.direction`, `mappings.0`), then,
    when each works on its own, the problems of the set (`mappings`: a field written
    twice, or no mapping at all); {} when `mappings_validate` would accept them."""
    problems: dict[str, str] = {}
    for index, mapping in enumerate(mappings):
        try:
            values = mapping_validate(mapping, fields[Side.A], fields[Side.B])
            if sides is not None:
                reference_validate(values, fields[Side.A], fields[Side.B], sides)
        except Invalid as exc:
            problems.update(exc.at(f"mappings.{index}").problems())
    if not problems:
        try:
            mappings_validate(mappings, fields, sides=sides)
        except Invalid as exc:
            problems.update(exc.problems())
    return problems


def filters_problems(
    filters: Sequence[Mapping[str, Any]], fields: Mapping[Side, Fields]
) -> dict[str, str]:
    """Every filter's problem by path (`filters.<n>`); {} when `filters_validate` accepts."""
    return _each_problem(filters, fields, filters_validate, "filters")


def match_rule_problems(
    rule: Sequence[Mapping[str, Any]], fields: Mapping[Side, Fields]
) -> dict[str, str]:
    """Every pair's problem by path (`match_rule.<n>.a`); {} when `match_rule_validate`
    accepts the rule."""
    return _each_problem(rule, fields, match_rule_validate, "match_rule")


def _each_problem(
    items: Sequence[Mapping[str, Any]],
    fields: Mapping[Side, Fields],
    validate: Any,
    prefix: str,
) -> dict[str, str]:
    problems: dict[str, str] = {}
    for index, item in enumerate(items):
        try:
            validate([item], fields)
        except Invalid as exc:
            # The one item was checked as item 0: put its problems under its own index.
            for path, message in exc.problems().items():
                rest = path.removeprefix(f"{prefix}.0")
                problems[f"{prefix}.{index}{rest}"] = message
    return problems


def settings_validate(values: Mapping[str, Any], *, allowed: Iterable[str]) -> None:
    """Check a sync's settings (policies, schedule, safety limit), each by its own name."""
    unknown = set(values) - set(allowed)
    if unknown:
        raise Invalid(f"unknown settings: {', '.join(sorted(unknown))}")
    checks = {
        "comments": CommentDirection,
        "conflict_policy": ConflictPolicy,
        "initial_policy": InitialPolicy,
        "delete_policy": DeletePolicy,
    }
    for name, enum_cls in checks.items():
        if name in values:
            try:
                enum_cls(values[name])
            except ValueError:
                raise Invalid(f"unknown {name} {values[name]!r}", field=name) from None
    if "interval_seconds" in values and int(values["interval_seconds"]) < MIN_INTERVAL_SECONDS:
        raise Invalid(
            f"the schedule interval is at least {MIN_INTERVAL_SECONDS} seconds",
            field="interval_seconds",
        )
    share = values.get("safety_limit_share")
    if share is not None and not 0 < float(share) <= 1:
        raise Invalid("the safety share is a fraction in (0, 1]", field="safety_limit_share")


def comments_validate(direction: str, sides: Mapping[Side, tuple[Connection, str]]) -> None:
    """Comments can be switched on only where both object types have them. Raises Invalid
    (`comments`) naming the side that has none, UpstreamError when a system cannot be read."""
    if CommentDirection(direction) is CommentDirection.OFF:
        return
    for side, (connection, object_type) in sides.items():
        found = {t.name: t for t in connection_object_types(connection)}.get(object_type)
        if found is None or found.comments is None:
            raise Invalid(
                f"{connection.name} has no comments on {object_type} ({side.label} side): "
                "comments can be synced only between two object types that have them",
                field="comments",
                code="comments_unsupported",
            )


# A loop of syncs: a conflict a policy settles can travel round it for ever (docs/engine.md,
# "Three systems"). Paths are enumerated up to this many (workspaces hold tens of syncs).
LOOP_PATHS_MAX = 1000


def loop_validate(
    workspace_id: int,
    *,
    ends: tuple[tuple[int, str], tuple[int, str]],
    conflict_policy: str,
    initial_policy: str,
    exclude: int | None = None,
) -> None:
    """Refuse a sync that would sit on a loop of syncs unless every sync of that loop
    leaves conflicts to a person.

    `ends` are the sync's two endpoints (connection id, object type); the loop is any path
    between them through the workspace's other syncs (`exclude`: the sync itself, when it
    exists). In a loop a policy that lets a side win (or a first sync that lets one win)
    can send two values round it for ever, each sync settling its pair the other way; a
    manual conflict is held and closes itself once the other syncs agree. Raises Invalid
    (`conflict_policy`, code `loop_policy`) naming the loop and the syncs to change.
    """
    start, goal = ends
    if start == goal:
        return
    others = Sync.objects.for_workspace(workspace_id).values_list(
        "pk",
        "name",
        "connection_a_id",
        "object_type_a",
        "connection_b_id",
        "object_type_b",
        "conflict_policy",
        "initial_policy",
    )
    if exclude is not None:
        others = others.exclude(pk=exclude)
    edges: dict[tuple[int, str], list[tuple[tuple[int, str], tuple[Any, ...]]]] = {}
    for row in others:
        a, b = (row[2], row[3]), (row[4], row[5])
        edges.setdefault(a, []).append((b, row))
        edges.setdefault(b, []).append((a, row))
    on_loop: dict[int, tuple[Any, ...]] = {}
    paths = 0
    # Every simple path from one end to the other: each is a loop with this sync.
    stack: list[tuple[tuple[int, str], frozenset[tuple[int, str]], tuple[tuple[Any, ...], ...]]]
    stack = [(start, frozenset([start]), ())]
    while stack and paths < LOOP_PATHS_MAX:
        node, seen, via = stack.pop()
        for following, row in edges.get(node, []):
            if row in via:
                continue
            if following == goal:
                paths += 1
                on_loop.update((r[0], r) for r in (*via, row))
            elif following not in seen:
                stack.append((following, seen | {following}, (*via, row)))
    if not on_loop:
        return
    settles = ConflictPolicy(conflict_policy) is not ConflictPolicy.MANUAL or (
        InitialPolicy(initial_policy) is not InitialPolicy.CONFLICT
    )
    others_settling = sorted(
        row[1]
        for row in on_loop.values()
        if row[6] != ConflictPolicy.MANUAL or row[7] != InitialPolicy.CONFLICT
    )
    if not settles and not others_settling:
        return
    change = (["this sync"] if settles else []) + [repr(name) for name in others_settling]
    loop = ", ".join(repr(row[1]) for row in sorted(on_loop.values(), key=lambda r: r[1]))
    raise Invalid(
        f"this sync and {loop} form a loop: in a loop of syncs every sync must leave "
        "conflicts to a person (who wins a conflict: manual; differing values on a first "
        "sync: conflict), or two values could go round the loop for ever. "
        f"Change {' and '.join(change)}",
        field="conflict_policy",
        code="loop_policy",
    )

"""What the sync builder proposes from two systems' field discovery: field mappings, value
maps for enum fields, and what a definition still leaves out.

Proposals only: nothing here is saved, and everything it proposes is checked by
validation.py like any input (a suggested enum mapping may still lack a value-map entry:
the builder shows it on its row). Pure functions over `FieldSpec`s, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from apps.syncs.engine.types import Direction, Side
from apps.syncs.engine.values import KIND_OF_FIELD_TYPE, Kind, compatible, map_key
from connectors.base import FieldSpec, FieldType

Fields = Mapping[str, FieldSpec]

# Ids of another record mean nothing in the other system, even under the same name.
_NEVER_SUGGESTED = frozenset({FieldType.REFERENCE})
_ENUM_KINDS = (Kind.ENUM, Kind.MULTI_ENUM)


def kind_of(spec: FieldSpec) -> Kind:
    return KIND_OF_FIELD_TYPE[spec.type]


def _words(text: str) -> str:
    """A name or label as a comparable key: "First Name", "first_name" -> "firstname"."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def _direction(spec_a: FieldSpec, spec_b: FieldSpec) -> Direction | None:
    """Both ways where both sides take values; one way towards the side that does; None
    when neither does (never a read-only target)."""
    if spec_a.writable and spec_b.writable:
        return Direction.BOTH
    if spec_b.writable:
        return Direction.A_TO_B
    if spec_a.writable:
        return Direction.B_TO_A
    return None


def _pairs(fields_a: Fields, fields_b: Fields) -> list[tuple[FieldSpec, FieldSpec]]:
    """Candidate pairs, best first, each field used once: email with email, then the same
    name, then the same label."""
    specs_a = [s for s in fields_a.values() if s.type not in _NEVER_SUGGESTED]
    specs_b = [s for s in fields_b.values() if s.type not in _NEVER_SUGGESTED]
    used_a: set[str] = set()
    used_b: set[str] = set()
    pairs: list[tuple[FieldSpec, FieldSpec]] = []

    def take(a: FieldSpec, b: FieldSpec) -> None:
        used_a.add(a.name)
        used_b.add(b.name)
        pairs.append((a, b))

    def emails(specs: list[FieldSpec]) -> list[FieldSpec]:
        found = [s for s in specs if s.type is FieldType.EMAIL]
        return sorted(found, key=lambda s: _words(s.name) != "email")  # "email" first

    email_a, email_b = emails(specs_a), emails(specs_b)
    if email_a and email_b:
        take(email_a[0], email_b[0])
    for key in (lambda s: _words(s.name), lambda s: _words(s.label)):
        by_key: dict[str, FieldSpec] = {}
        for spec in specs_b:
            by_key.setdefault(key(spec), spec)
        for a in specs_a:
            b = by_key.get(key(a))
            if a.name in used_a or b is None or b.name in used_b:
                continue
            if compatible(kind_of(a), kind_of(b)) and _direction(a, b) is not None:
                take(a, b)
    return pairs


def mappings_suggest(fields_a: Fields, fields_b: Fields) -> list[dict[str, Any]]:
    """Mappings for two field lists, in side A's field order: email with email, then fields
    of the same name, then of the same label; only pairs of compatible kinds, each way a
    value can be written (never towards a read-only field), each field in one mapping at
    most. Enum pairs come with the value maps `value_map_suggest` finds."""
    order = {name: index for index, name in enumerate(fields_a)}
    out = []
    for a, b in sorted(_pairs(fields_a, fields_b), key=lambda p: order[p[0].name]):
        direction = _direction(a, b)
        assert direction is not None  # _pairs keeps only writable pairs
        mapping: dict[str, Any] = {
            "field_a": a.name,
            "field_b": b.name,
            "direction": direction.value,
        }
        mapping.update(value_maps_suggest(a, b, direction))
        out.append(mapping)
    return out


def value_maps_suggest(
    spec_a: FieldSpec, spec_b: FieldSpec, direction: Direction | str
) -> dict[str, dict[str, Any]]:
    """The value maps a mapping of these two fields needs, pre-filled where options match
    (`value_map_a_to_b`, `value_map_b_to_a`; only those its direction writes, only for an
    enum target whose options do not all match by value already)."""
    direction = Direction(direction)
    out: dict[str, dict[str, Any]] = {}
    specs = {Side.A: spec_a, Side.B: spec_b}
    for target in (Side.B, Side.A):
        if direction is not Direction.BOTH and not direction.value.endswith(target.value):
            continue
        source = target.other
        if not needs_value_map(specs[source], specs[target]):
            continue
        out[f"value_map_{source}_to_{target}"] = value_map_suggest(specs[source], specs[target])
    return out


def needs_value_map(source: FieldSpec, target: FieldSpec) -> bool:
    """Whether values of `source` need a value map to be written to `target`: both have
    options, the target is an enum, and some option of the source is not one of the
    target by value."""
    if not (source.options and target.options and kind_of(target) in _ENUM_KINDS):
        return False
    targets = set(target.option_values())
    return any(map_key(value) not in targets for value in source.option_values())


def has_value_map_editor(spec_a: FieldSpec, spec_b: FieldSpec) -> bool:
    """Both fields offer options, one of them an enum: a value map can translate them."""
    kinds = (kind_of(spec_a), kind_of(spec_b))
    return bool(spec_a.options and spec_b.options) and any(k in _ENUM_KINDS for k in kinds)


def value_map_suggest(source: FieldSpec, target: FieldSpec) -> dict[str, str]:
    """Each option of `source` sent to the option of `target` with the same value, else the
    same label (case and punctuation aside), else whose value is the other's label.
    Options with no counterpart are left out: a person decides them."""
    by_value = {_words(o.value): o.value for o in target.options}
    by_label = {_words(o.label): o.value for o in target.options}
    out: dict[str, str] = {}
    for option in source.options:
        found = (
            by_value.get(_words(option.value))
            or by_label.get(_words(option.label))
            or by_value.get(_words(option.label))
            or by_label.get(_words(option.value))
        )
        if found is not None:
            out[map_key(option.value)] = found
    return out


def value_map_effective(
    value_map: Mapping[str, Any], source: FieldSpec, target: FieldSpec
) -> dict[str, Any]:
    """What a value map does to each option of `source`: its own entries, or without
    entries, each option sent to the target option of the same value (as conversion
    does). An option with no counterpart is absent."""
    if value_map:
        return dict(value_map)
    targets = set(target.option_values())
    return {map_key(v): v for v in source.option_values() if map_key(v) in targets}


def value_map_gaps(value_map: Mapping[str, Any], source: FieldSpec, target: FieldSpec) -> list[str]:
    """The options of `source` that a mapping with this value map cannot write to
    `target` (validation refuses the mapping until each has a counterpart)."""
    known = value_map_effective(value_map, source, target)
    return [v for v in source.option_values() if map_key(v) not in known]


def required_unmapped(
    mappings: Sequence[Mapping[str, Any]], fields: Mapping[Side, Fields]
) -> dict[Side, list[FieldSpec]]:
    """Per side, the fields its system requires on create that no mapping writes: records
    created on that side would be refused. (A sync whose other side never creates records
    there may not care: this is advice, not a validation.)"""
    written: dict[Side, set[str]] = {Side.A: set(), Side.B: set()}
    for m in mappings:
        direction = str(m.get("direction", Direction.BOTH))
        for side in Side:
            if direction == Direction.BOTH or direction.endswith(side.value):
                written[side].add(str(m.get(f"field_{side.value}", "")))
    return {
        side: [s for s in fields[side].values() if s.required and s.name not in written[side]]
        for side in Side
    }


def match_rule_suggest(
    mappings: Sequence[Mapping[str, Any]], fields: Mapping[Side, Fields]
) -> list[dict[str, str]]:
    """A match rule from the mappings: the first pair of email (or user) fields, compared
    trimmed and case-insensitively; [] when there is none (every record is then created on
    the other side by the first run)."""
    for m in mappings:
        spec_a = fields[Side.A].get(str(m.get("field_a")))
        spec_b = fields[Side.B].get(str(m.get("field_b")))
        if spec_a is None or spec_b is None:
            continue
        if kind_of(spec_a) is Kind.USER and kind_of(spec_b) is Kind.USER:
            return [{"a": spec_a.name, "b": spec_b.name, "normalise": "email"}]
    return []

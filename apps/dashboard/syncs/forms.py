"""The sync builder's forms: what a posted step means as draft input, and the rows a
template lays out (each with the problems the services found for it).

Translation only: which mappings are suggested, which operators a field takes and whether
a definition works are decided in apps.syncs (suggestions, validation, drafts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.http import QueryDict

from apps.core.errors import Invalid
from apps.syncs import suggestions
from apps.syncs.drafts import Fields
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
from apps.syncs.engine.values import Kind, Normalise, map_key
from apps.syncs.transfer import interval_words
from apps.syncs.validation import Sides, reference_validate
from connectors.base import FieldSpec

# --- words --------------------------------------------------------------------------------
OPERATOR_WORDS = {
    Operator.EQUALS: "is",
    Operator.NOT_EQUALS: "is not",
    Operator.IN: "is one of",
    Operator.NOT_IN: "is none of",
    Operator.CONTAINS: "contains",
    Operator.EMPTY: "is empty",
    Operator.NOT_EMPTY: "is not empty",
    Operator.GREATER: "is more than",
    Operator.LESS: "is less than",
}
# Dates and times are ordered by when, not by size.
TIME_OPERATOR_WORDS = {Operator.GREATER: "is after", Operator.LESS: "is before"}
NORMALISE_WORDS = {
    Normalise.EMAIL: "any case, trimmed",
    Normalise.TRIM: "same case, trimmed",
    Normalise.EXACT: "exactly",
}
CONFLICT_CHOICES = [
    (
        ConflictPolicy.MANUAL.value,
        "A person decides",
        "The field waits on the conflicts page; the rest of the record still syncs.",
    ),
    (
        ConflictPolicy.PREFER_A.value,
        "A wins",
        "Side A's value is written to B; B's is kept in the log.",
    ),
    (
        ConflictPolicy.PREFER_B.value,
        "B wins",
        "Side B's value is written to A; A's is kept in the log.",
    ),
    (
        ConflictPolicy.NEWEST.value,
        "The newest change wins",
        "Compared by the systems' own modification times; a tie waits for a person.",
    ),
]
INITIAL_CHOICES = [
    (InitialPolicy.CONFLICT.value, "Ask, as a conflict", "The conflict policy above decides."),
    (InitialPolicy.A_WINS.value, "A wins", "Side A's value is written to B."),
    (InitialPolicy.B_WINS.value, "B wins", "Side B's value is written to A."),
]
DELETE_CHOICES = [
    (
        DeletePolicy.UNLINK.value,
        "Unlink the partner",
        "It stays, no longer synced; it is treated as new if it changes later.",
    ),
    (
        DeletePolicy.PROPAGATE.value,
        "Delete the partner too",
        "Mass deletes are held by the safety limit first.",
    ),
    (
        DeletePolicy.IGNORE.value,
        "Keep the partner",
        "It stays linked to the deleted record and is never re-created.",
    ),
]
COMMENT_CHOICES = [
    (CommentDirection.OFF.value, "Off", "Only the mapped fields are synced."),
    (
        CommentDirection.BOTH.value,
        "Both ways",
        "A comment on either record appears once on its partner, with its author and time "
        "in a first line where the system cannot set them.",
    ),
    (CommentDirection.A_TO_B.value, "From A to B only", "Comments on B stay on B."),
    (CommentDirection.B_TO_A.value, "From B to A only", "Comments on A stay on A."),
]
INTERVALS = [30, 60, 300, 900, 3600, 6 * 3600, 86400]


DIRECTION_CHOICES = [
    (Direction.BOTH.value, "⇄ both ways"),
    (Direction.A_TO_B.value, "→ only A to B"),
    (Direction.B_TO_A.value, "← only B to A"),
]


def _kind(spec: FieldSpec | None) -> Kind | None:
    return suggestions.kind_of(spec) if spec is not None else None


def rows_edit(
    rows: list[dict[str, Any]],
    action: str,
    name: str,
    blank: Mapping[str, Any],
    *,
    remove: str | None = None,
) -> None:
    """Apply a row button of a step to its posted rows: `add-<name>` appends `blank`,
    `remove-<remove or name>-<n>` drops row n."""
    if action == f"add-{name}":
        rows.append(dict(blank))
        return
    prefix = f"remove-{remove or name}-"
    if action.startswith(prefix):
        index = _int(action.removeprefix(prefix))
        if index is not None and 0 <= index < len(rows):
            rows.pop(index)


# --- step 1: sides --------------------------------------------------------------------------
class SidesForm(forms.Form):
    """The sync's name and its two sides. Choices come from the workspace's connections
    and from each connection's object types."""

    name = forms.CharField(
        max_length=120,
        required=False,
        help_text="Left empty, it is named after its sides.",
    )
    connection_a = forms.ChoiceField(label="Connection of side A", required=False)
    object_type_a = forms.ChoiceField(label="What to sync on side A", required=False)
    connection_b = forms.ChoiceField(label="Connection of side B", required=False)
    object_type_b = forms.ChoiceField(label="What to sync on side B", required=False)

    def __init__(
        self,
        *args: Any,
        connections: list[tuple[str, str]],
        object_types: Mapping[str, list[dict[str, str]]],
        locked: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        for side in ("a", "b"):
            self.fields[f"connection_{side}"].choices = [("", "Choose a connection…"), *connections]
            types = [(t["name"], f"{t['label']} ({t['name']})") for t in object_types[side]]
            self.fields[f"object_type_{side}"].choices = [("", "Choose…"), *types]
            if locked:  # an existing sync's sides cannot change
                self.fields[f"connection_{side}"].disabled = True
                self.fields[f"object_type_{side}"].disabled = True


# --- step 2: fields -------------------------------------------------------------------------
def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def mapping_rows_posted(post: QueryDict, fields: Fields) -> list[dict[str, Any]]:
    """The mapping rows of a posted fields step, as `drafts.draft_mappings_set` takes them.

    A value map is read only where the row's editor was on the page (its `-vm-<dir>` marker
    was posted); each of its selects names the source option by position.
    """
    rows = []
    for i in range(_int(post.get("m-total")) or 0):
        p = f"m-{i}-"
        row: dict[str, Any] = {
            "field_a": post.get(p + "field_a", ""),
            "field_b": post.get(p + "field_b", ""),
            "direction": post.get(p + "direction", Direction.BOTH.value),
            "was": _int(post.get(p + "was")),
        }
        if post.get(p + "cr"):  # the row showed its "create the referenced record" checkbox
            row["create_referenced"] = bool(post.get(p + "create_referenced"))
        specs = {
            Side.A: fields[Side.A].get(row["field_a"]),
            Side.B: fields[Side.B].get(row["field_b"]),
        }
        for target in (Side.B, Side.A):
            source = target.other
            key = f"{source}_to_{target}"
            if not post.get(f"{p}vm-{key}") or specs[source] is None:
                continue
            chosen: dict[str, Any] = {}
            for k, option in enumerate(specs[source].options):
                picked = [v for v in post.getlist(f"{p}vm-{key}-{k}") if v]
                if picked:
                    chosen[map_key(option.value)] = picked[0] if len(picked) == 1 else picked
            row[f"value_map_{key}"] = chosen
        rows.append(row)
    return rows


@dataclass
class ValueMapEntry:
    index: int
    value: str
    label: str
    chosen: list[str]

    @property
    def unmapped(self) -> bool:
        return not self.chosen


@dataclass
class ValueMapTable:
    key: str  # "a_to_b"
    source: Side
    target: Side
    source_spec: FieldSpec
    target_spec: FieldSpec
    entries: list[ValueMapEntry]
    errors: list[str]
    multiple: bool
    source_name: str = ""
    target_name: str = ""

    @property
    def gaps(self) -> int:
        return sum(1 for e in self.entries if e.unmapped)


@dataclass
class MappingRow:
    index: int
    mapping: dict[str, Any]
    spec_a: FieldSpec | None
    spec_b: FieldSpec | None
    errors: dict[str, list[str]] = field(default_factory=dict)
    value_maps: list[ValueMapTable] = field(default_factory=list)
    has_editor: bool = False
    opened: bool = False  # a person opened its value-map editor
    # A records reference: the sync whose links translate it (and that can create first).
    via_name: str = ""

    @property
    def has_errors(self) -> bool:
        return any(self.errors.values())

    @property
    def gaps(self) -> int:
        return sum(t.gaps for t in self.value_maps)

    @property
    def arrow(self) -> str:
        return {"a_to_b": "→", "b_to_a": "←"}.get(self.mapping.get("direction", ""), "⇄")

    @property
    def editor_open(self) -> bool:
        return self.opened or bool(self.gaps or any(t.errors for t in self.value_maps))


def _row_errors(
    prefix: str, problems: Mapping[str, str], keys: tuple[str, ...]
) -> dict[str, list[str]]:
    """The problems under `prefix` by the control they concern; the rest under "row"."""
    out: dict[str, list[str]] = {key: [] for key in (*keys, "row")}
    for path, message in problems.items():
        if path != prefix and not path.startswith(prefix + "."):
            continue
        rest = path[len(prefix) + 1 :]
        out[rest if rest in keys else "row"].append(message)
    return out


MAPPING_KEYS = (
    "field_a",
    "field_b",
    "direction",
    "value_map_a_to_b",
    "value_map_b_to_a",
    "create_referenced",
)


def editors_opened(post: QueryDict) -> set[int]:
    """The rows whose value-map editor a person had open (kept open when the step is
    drawn again)."""
    total = _int(post.get("m-total")) or 0
    return {i for i in range(total) if post.get(f"m-{i}-vm-open")}


def mapping_rows(
    mappings: list[dict[str, Any]],
    fields: Fields,
    problems: Mapping[str, str],
    names: Mapping[str, str] | None = None,
    opened: set[int] | frozenset[int] = frozenset(),
    sides: Sides | None = None,
) -> list[MappingRow]:
    """The fields step's rows: each mapping with its two fields, its problems by control
    and, for fields with options, its value-map editor (what each option becomes, the
    options with no counterpart marked)."""
    names = names or {"a": "A", "b": "B"}
    rows = []
    for i, m in enumerate(mappings):
        spec_a = fields[Side.A].get(m.get("field_a", ""))
        spec_b = fields[Side.B].get(m.get("field_b", ""))
        row = MappingRow(i, m, spec_a, spec_b, _row_errors(f"mappings.{i}", problems, MAPPING_KEYS))
        row.opened = i in opened
        if sides is not None and spec_a is not None and spec_b is not None:
            row.via_name = _via_name(m, fields, sides)
        if spec_a is not None and spec_b is not None:
            row.has_editor = suggestions.has_value_map_editor(spec_a, spec_b)
        if row.has_editor:
            specs = {Side.A: spec_a, Side.B: spec_b}
            direction = m.get("direction", Direction.BOTH.value)
            for target in (Side.B, Side.A):
                if direction != Direction.BOTH and not str(direction).endswith(target.value):
                    continue
                source = target.other
                key = f"{source}_to_{target}"
                if not specs[source].options or not specs[target].options:
                    continue
                effective = suggestions.value_map_effective(
                    m.get(f"value_map_{key}") or {}, specs[source], specs[target]
                )
                entries = []
                for k, option in enumerate(specs[source].options):
                    chosen = effective.get(map_key(option.value))
                    chosen_list = chosen if isinstance(chosen, list) else [chosen] if chosen else []
                    entries.append(
                        ValueMapEntry(k, option.value, option.label, [str(c) for c in chosen_list])
                    )
                row.value_maps.append(
                    ValueMapTable(
                        key=key,
                        source=source,
                        target=target,
                        source_spec=specs[source],
                        target_spec=specs[target],
                        entries=entries,
                        errors=row.errors.get(f"value_map_{key}", []),
                        multiple=any(len(e.chosen) > 1 for e in entries),
                        source_name=names[source.value],
                        target_name=names[target.value],
                    )
                )
        rows.append(row)
    return rows


def _via_name(mapping: Mapping[str, Any], fields: Fields, sides: Sides) -> str:
    """The name of the sync a records reference row translates through ("" otherwise)."""
    pair = {"field_a": mapping.get("field_a", ""), "field_b": mapping.get("field_b", "")}
    try:
        found = reference_validate(pair, fields[Side.A], fields[Side.B], sides)
    except Invalid:
        return ""
    via = found.get("reference_via")
    return via.name if found.get("reference") == "records" and via is not None else ""


# --- step 3: scope and rules ----------------------------------------------------------------
def operators_for(spec: FieldSpec | None) -> list[tuple[str, str]]:
    """The operators a filter on this field may use, with their words."""
    if spec is None:
        return []
    kind = suggestions.kind_of(spec)
    words = {**OPERATOR_WORDS}
    if kind in (Kind.DATE, Kind.DATETIME):
        words.update(TIME_OPERATOR_WORDS)
    return [(op.value, words[op]) for op in OPERATORS_BY_KIND[kind]]


def filter_rows_posted(post: QueryDict, fields: Fields) -> list[dict[str, Any]]:
    """The posted filters. A filter whose field changed takes the first operator the new
    field allows (when its operator does not suit it) and loses its value."""
    out = []
    for i in range(_int(post.get("f-total")) or 0):
        p = f"f-{i}-"
        side = post.get(p + "side", "a")
        side = side if side in ("a", "b") else "a"
        name = post.get(p + "field", "")
        operator = post.get(p + "operator", "")
        spec = fields[Side(side)].get(name)
        allowed = [value for value, _ in operators_for(spec)]
        changed = post.get(p + "was", "") != name
        values = [v for v in post.getlist(p + "value")]
        if spec is not None and operator not in allowed:
            operator = allowed[0]
        value: Any
        if changed or operator in VALUELESS_OPERATORS:
            value = None
        elif operator in LIST_OPERATORS:
            if spec is not None and spec.options:
                value = [v for v in values if v]
            else:
                text = values[0] if values else ""
                value = [part.strip() for part in text.split(",") if part.strip()]
        else:
            value = values[0].strip() if values else ""
            value = value or None
        out.append({"side": side, "field": name, "operator": operator, "value": value})
    return out


@dataclass
class FilterRow:
    index: int
    side: str
    filter: dict[str, Any]
    spec: FieldSpec | None
    operators: list[tuple[str, str]]
    errors: list[str]

    @property
    def value_input(self) -> str:
        """How the value is asked for: none, a select of options, checkboxes of options,
        yes/no, a number, a date, a date-time, or text (a comma-separated list for lists)."""
        op = self.filter.get("operator")
        if self.spec is None or op in VALUELESS_OPERATORS:
            return "none"
        kind = suggestions.kind_of(self.spec)
        if self.spec.options and kind in (Kind.ENUM, Kind.MULTI_ENUM):
            return "checkboxes" if op in LIST_OPERATORS else "select"
        if kind is Kind.BOOLEAN:
            return "boolean"
        if op in LIST_OPERATORS:
            return "list"
        return {Kind.NUMBER: "number", Kind.DATE: "date", Kind.DATETIME: "datetime"}.get(
            kind, "text"
        )

    @property
    def values(self) -> list[str]:
        value = self.filter.get("value")
        items = value if isinstance(value, list) else [] if value is None else [value]
        return [("true" if v else "false") if isinstance(v, bool) else str(v) for v in items]

    @property
    def text(self) -> str:
        return ", ".join(self.values)


def filter_rows(
    filters: list[dict[str, Any]], fields: Fields, problems: Mapping[str, str]
) -> dict[str, list[FilterRow]]:
    """The filters by side, each with its field, the operators that field allows and its
    problem (`filters.<n>`)."""
    out: dict[str, list[FilterRow]] = {"a": [], "b": []}
    for i, f in enumerate(filters):
        side = f.get("side", "a") if f.get("side") in ("a", "b") else "a"
        spec = fields[Side(side)].get(f.get("field", ""))
        errors = _row_errors(f"filters.{i}", problems, ())["row"]
        out[side].append(FilterRow(i, side, f, spec, operators_for(spec), errors))
    return out


def match_rows_posted(post: QueryDict) -> list[dict[str, str]]:
    out = []
    for i in range(_int(post.get("r-total")) or 0):
        p = f"r-{i}-"
        out.append(
            {
                "a": post.get(p + "a", ""),
                "b": post.get(p + "b", ""),
                "normalise": post.get(p + "normalise", Normalise.EMAIL.value),
            }
        )
    return out


def match_rows(rule: list[dict[str, Any]], problems: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "pair": pair,
            "errors": _row_errors(f"match_rule.{i}", problems, ("a", "b", "normalise")),
        }
        for i, pair in enumerate(rule)
    ]


class RulesForm(forms.Form):
    """Policies, safety limit and schedule. The safety share is asked as a percentage."""

    conflict_policy = forms.ChoiceField(
        choices=[(v, label) for v, label, _ in CONFLICT_CHOICES],
        widget=forms.RadioSelect,
        label="Conflicts: when both sides changed a field differently",
    )
    initial_policy = forms.ChoiceField(
        choices=[(v, label) for v, label, _ in INITIAL_CHOICES],
        widget=forms.RadioSelect,
        label="First sync: when records are first linked and a field differs",
    )
    delete_policy = forms.ChoiceField(
        choices=[(v, label) for v, label, _ in DELETE_CHOICES],
        widget=forms.RadioSelect,
        label="Deletes: when a record is deleted on one side",
    )
    comments = forms.ChoiceField(
        choices=[(v, label) for v, label, _ in COMMENT_CHOICES],
        widget=forms.RadioSelect,
        label="Comments: copy each record's conversation to its partner",
    )
    comments_internal = forms.BooleanField(
        required=False,
        label="Include private notes",
        help_text="Copied as private notes where the other system has them (Zendesk, "
        "Redmine); left out where it has none (Jira, GitHub).",
    )
    safety_limit_count = forms.IntegerField(
        required=False,
        min_value=1,
        label="Hold a run that would change more than this many records",
        help_text="Empty: no limit by count.",
    )
    safety_limit_share = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100,
        label="… or more than this percentage of the linked records",
        help_text="Empty: no limit by share. Counted from 10 changes on.",
    )
    interval_seconds = forms.TypedChoiceField(
        coerce=int,
        label="Run every",
        help_text="Webhooks sync within seconds; the schedule catches what they missed.",
    )

    descriptions = {
        "conflict_policy": {v: d for v, _, d in CONFLICT_CHOICES},
        "initial_policy": {v: d for v, _, d in INITIAL_CHOICES},
        "delete_policy": {v: d for v, _, d in DELETE_CHOICES},
        "comments": {v: d for v, _, d in COMMENT_CHOICES},
    }

    def __init__(self, *args: Any, interval: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seconds = sorted({*INTERVALS, interval})
        self.fields["interval_seconds"].choices = [(s, interval_words(s)) for s in seconds]

    @staticmethod
    def initial_from(draft: Mapping[str, Any]) -> dict[str, Any]:
        share = draft.get("safety_limit_share")
        return {
            "conflict_policy": draft["conflict_policy"],
            "initial_policy": draft["initial_policy"],
            "delete_policy": draft["delete_policy"],
            "comments": draft.get("comments", CommentDirection.OFF.value),
            "comments_internal": draft.get("comments_internal", False),
            "safety_limit_count": draft["safety_limit_count"],
            "safety_limit_share": None if share is None else round(float(share) * 100),
            "interval_seconds": draft["interval_seconds"],
        }

    def settings(self) -> dict[str, Any]:
        """The cleaned values as the draft's settings (the share as a fraction)."""
        values = dict(self.cleaned_data)
        share = values.get("safety_limit_share")
        values["safety_limit_share"] = None if share is None else share / 100
        return values


def rules_summary(draft: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The draft's rules in words, for the review."""

    def chosen(choices: list[tuple[str, str, str]], value: str) -> str:
        return next((f"{label}. {words}" for v, label, words in choices if v == value), value)

    count, share = draft.get("safety_limit_count"), draft.get("safety_limit_share")
    limits = [
        f"more than {count} records" if count else "",
        f"more than {round(share * 100)}% of the linked records" if share else "",
    ]
    limit = " or ".join(x for x in limits if x)
    return [
        (
            RulesForm.base_fields["conflict_policy"].label,
            chosen(CONFLICT_CHOICES, draft["conflict_policy"]),
        ),
        (
            RulesForm.base_fields["initial_policy"].label,
            chosen(INITIAL_CHOICES, draft["initial_policy"]),
        ),
        (
            RulesForm.base_fields["delete_policy"].label,
            chosen(DELETE_CHOICES, draft["delete_policy"]),
        ),
        (
            RulesForm.base_fields["comments"].label,
            chosen(COMMENT_CHOICES, draft.get("comments", CommentDirection.OFF.value))
            + (
                " Private notes included."
                if draft.get("comments_internal") and draft.get("comments") != "off"
                else ""
            ),
        ),
        (
            "Safety limit",
            f"a run that would change {limit} waits for approval" if limit else "none",
        ),
        ("Schedule", f"every {interval_words(int(draft['interval_seconds']))}"),
    ]

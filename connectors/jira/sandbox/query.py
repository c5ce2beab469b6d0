"""JQL, the subset clients of a sync and people use against the sandbox ("Advanced
searching" in Jira's documentation): `project`, `key`, `id`, `summary ~`, `description ~`,
`text ~`, `status`, `priority`, `issuetype`, `assignee`, `reporter`, `labels`, `duedate`,
`created`, `updated` (minute precision, in the account's time zone) and custom fields by
`cf[N]`, id or name; AND, OR, NOT, parentheses, `=`, `!=`, `<`..`>=`, `~`, `!~`, `in`,
`not in`, `is [not] EMPTY`, and ORDER BY. What Jira refuses (an unbounded query, unknown
fields or values, keys that do not exist) raises ValidationError with Jira's wording.

`parse_jql(text)` gives a Query; `query.compile(state)` a predicate over issue rows;
`sort_key`, `raw_key` and `position` give the keyset order the search pages by.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from connectors.jira.sandbox import documents
from connectors.jira.sandbox.schema import CUSTOM_FIELDS, ISSUE_TYPES, PRIORITIES, PROJECT, STATUSES
from connectors.sandbox.core import ValidationError
from connectors.sandbox.records import Row

if TYPE_CHECKING:
    from connectors.jira.sandbox.state import JiraState


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~|\(|\)|,)
      | (?P<word>cf\[\d+\]|[A-Za-z0-9_.\-:@+]+(?:\(\))?)
    )""",
    re.VERBOSE,
)
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_ORDERABLE = {"updated", "created", "key", "issuekey", "id", "duedate", "summary", "priority"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ValidationError(
                f"Error in the JQL Query: The character '{text[position:].strip()[:1]}' is a "
                f"reserved JQL character (at character {position + 1})."
            )
        position = match.end()
        kind = match.lastgroup or ""
        value = match[kind]
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
    return out


class Query:
    """A parsed JQL query: a clause tree and an ORDER BY list."""

    def __init__(self, where: Any, order: list[tuple[str, bool]]) -> None:
        self.where = where
        self.order = order or [("id", True)]  # no ORDER BY: newest issue first

    def compile(self, state: JiraState) -> Callable[[Row], bool]:
        if self.where is None:
            raise ValidationError(
                "Unbounded JQL queries are not allowed here. Please add a search restriction "
                "to your query."
            )
        return _compile(self.where, state)

    def raw_key(self, issue: Row) -> list[Any]:
        """The position of `issue` in this order as JSON (for a page token)."""
        values = [_order_value(issue, name) for name, _ in self.order]
        return [*values, issue.id]

    def sort_key(self, issue: Row) -> tuple[Any, ...]:
        parts: list[Any] = []
        for name, descending in self.order:
            value = _order_value(issue, name)
            item = (value is None, value if value is not None else "")
            parts.append(_Reversed(item) if descending else item)
        parts.append(issue.id)
        return tuple(parts)

    def position(self, raw: list[Any]) -> tuple[Any, ...]:
        if len(raw) != len(self.order) + 1:
            raise ValidationError("The provided next page token is invalid.")
        parts: list[Any] = []
        for (_, descending), value in zip(self.order, raw[:-1], strict=True):
            item = (value is None, value if value is not None else "")
            parts.append(_Reversed(item) if descending else item)
        parts.append(raw[-1])
        return tuple(parts)


class _Reversed:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return other.value < self.value

    def __gt__(self, other: _Reversed) -> bool:
        return other.value > self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def _order_value(issue: Row, name: str) -> Any:
    if name == "updated":
        return issue.modified
    if name == "created":
        return issue.created
    if name in ("key", "issuekey", "id"):
        return issue.data["number"]
    if name == "priority":
        return int(issue.data["fields"].get("priority") or 99)
    return issue.data["fields"].get(name)


def parse_jql(text: str) -> Query:
    """Parse the supported JQL subset. Raises ValidationError with Jira's wording."""
    tokens = _tokens(text)
    position = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        index = position + offset
        return tokens[index] if index < len(tokens) else None

    def is_word(token: tuple[str, str] | None, *words: str) -> bool:
        return token is not None and token[0] == "word" and token[1].lower() in words

    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise ValidationError(
                "Error in the JQL Query: Expecting more input at the end of the query."
            )
        position += 1
        return tokens[position - 1]

    def expression() -> Any:
        node = conjunction()
        while is_word(peek(), "or"):
            take()
            node = ("or", node, conjunction())
        return node

    def conjunction() -> Any:
        node = negation()
        while is_word(peek(), "and"):
            take()
            node = ("and", node, negation())
        return node

    def negation() -> Any:
        token = peek()
        if is_word(token, "not"):
            take()
            return ("not", negation())
        if token == ("op", "("):
            take()
            node = expression()
            if take() != ("op", ")"):
                raise ValidationError(
                    "Error in the JQL Query: Expecting ')' before the end of the query."
                )
            return node
        return clause()

    def value() -> str:
        kind, text_value = take()
        if kind not in ("string", "word"):
            raise ValidationError(
                f"Error in the JQL Query: Expecting a value but got '{text_value}'."
            )
        return text_value

    def clause() -> Any:
        kind, field = take()
        if kind not in ("word", "string"):
            raise ValidationError(
                f"Error in the JQL Query: Expecting a field name but got '{field}'."
            )
        token = peek()
        if is_word(token, "in") or (is_word(token, "not") and is_word(peek(1), "in")):
            negated = take()[1].lower() == "not"
            if negated:
                take()
            if take() != ("op", "("):
                raise ValidationError("Error in the JQL Query: Expecting '(' after 'in'.")
            values = [value()]
            while peek() == ("op", ","):
                take()
                values.append(value())
            if take() != ("op", ")"):
                raise ValidationError("Error in the JQL Query: Expecting ')' to close the list.")
            return ("not in" if negated else "in", field, values)
        if is_word(token, "is"):
            take()
            negated = is_word(peek(), "not")
            if negated:
                take()
            if not is_word(take(), "empty", "null"):
                raise ValidationError("Error in the JQL Query: Expecting EMPTY after 'is'.")
            return ("is not empty" if negated else "is empty", field, [])
        operator = take()
        if operator[0] != "op" or operator[1] in ("(", ")", ","):
            raise ValidationError(
                f"Error in the JQL Query: Expecting an operator but got '{operator[1]}'."
            )
        return (operator[1], field, [value()])

    where = None
    if tokens and not is_word(peek(), "order"):
        where = expression()
    order: list[tuple[str, bool]] = []
    if is_word(peek(), "order"):
        take()
        if not is_word(take(), "by"):
            raise ValidationError("Error in the JQL Query: Expecting 'by' after 'order'.")
        while True:
            _, name = take()
            name = name.lower()
            if name not in _ORDERABLE:
                raise ValidationError(
                    f"Field '{name}' does not exist or you do not have permission to view it."
                )
            descending = False
            if is_word(peek(), "asc", "desc"):
                descending = take()[1].lower() == "desc"
            order.append((name, descending))
            if peek() != ("op", ","):
                break
            take()
    if position != len(tokens):
        raise ValidationError(f"Error in the JQL Query: Unexpected '{tokens[position][1]}'.")
    return Query(where, order)


def _compile(node: Any, state: JiraState) -> Callable[[Row], bool]:
    kind = node[0]
    if kind in ("and", "or"):
        left, right = _compile(node[1], state), _compile(node[2], state)
        if kind == "and":
            return lambda issue: left(issue) and right(issue)
        return lambda issue: left(issue) or right(issue)
    if kind == "not":
        inner = _compile(node[1], state)
        return lambda issue: not inner(issue)
    operator, field, values = node
    return _clause(operator, field, values, state)


def _custom_field(name: str) -> str | None:
    match = re.fullmatch(r"cf\[(\d+)\]|customfield_(\d+)", name, re.IGNORECASE)
    if match:
        field_id = f"customfield_{match[1] or match[2]}"
        return field_id if field_id in CUSTOM_FIELDS else None
    for field_id, (label, *_rest) in CUSTOM_FIELDS.items():
        if label.casefold() == name.casefold():
            return field_id
    return None


def _clause(operator: str, name: str, values: list[str], state: JiraState) -> Callable[[Row], bool]:
    field = name.lower()
    field = {"issuekey": "key", "type": "issuetype", "due": "duedate"}.get(field, field)
    if field not in ("project", "key", "id", "summary", "description", "text", "status",
                     "priority", "issuetype", "assignee", "reporter", "labels", "duedate",
                     "created", "updated"):  # fmt: skip
        custom = _custom_field(name)
        if custom is None:
            raise ValidationError(
                f"Field '{name}' does not exist or you do not have permission to view it."
            )
        field = custom
    emptiness = operator in ("is empty", "is not empty")

    def stored(issue: Row) -> Any:
        return issue.data["fields"].get(field)

    if emptiness:

        def empty(issue: Row) -> bool:
            return stored(issue) in (None, "", [])

        return empty if operator == "is empty" else (lambda issue: not empty(issue))

    if field in ("summary", "description", "text", "customfield_10010", "customfield_10013"):
        if operator not in ("~", "!~"):
            raise ValidationError(
                f"The operator '{operator}' is not supported by the '{name}' field."
            )
        phrase = _phrase(values[0]).casefold()

        def contains(issue: Row) -> bool:
            names = (
                ("summary", "description", "customfield_10010", "customfield_10013")
                if field == "text"
                else (field,)
            )
            for item in names:
                value = issue.data["fields"].get(item)
                text = documents.plain_text(value) if isinstance(value, dict) else value
                if isinstance(text, str) and phrase in text.casefold():
                    return True
            return False

        return contains if operator == "~" else (lambda issue: not contains(issue))

    if field in ("created", "updated", "duedate", "customfield_10015"):
        if operator not in ("=", "!=", ">", ">=", "<", "<="):
            raise ValidationError(
                f"The operator '{operator}' is not supported by the '{name}' field."
            )
        if field in ("created", "updated"):
            bound = _jql_time(values[0], name, ZoneInfo(state.time_zone))

            def moment(issue: Row) -> Any:
                return issue.modified if field == "updated" else issue.created
        else:
            bound = _jql_date(values[0], name)

            def moment(issue: Row) -> Any:
                return issue.data["fields"].get(field)

        compare = _COMPARE[operator]
        return lambda issue: moment(issue) is not None and compare(moment(issue), bound)

    if operator not in ("=", "!=", "in", "not in"):
        raise ValidationError(f"The operator '{operator}' is not supported by the '{name}' field.")
    wanted = {_resolve(field, v, state) for v in values}

    def member(issue: Row) -> bool:
        if field == "project":
            return True  # one project on this site
        if field in ("key", "id"):
            return issue.id in wanted
        value = stored(issue)
        if isinstance(value, list):
            return bool(wanted & set(value))
        return value in wanted

    if field == "project":
        return lambda issue: (operator in ("=", "in")) == (PROJECT["id"] in wanted)
    return member if operator in ("=", "in") else (lambda issue: not member(issue))


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _phrase(value: str) -> str:
    """The text of a `~` value; a quoted phrase inside the JQL string is unescaped once more."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _jql_time(text: str, name: str, zone: ZoneInfo) -> float:
    """A JQL date(-time) literal as epoch seconds, read in the account's time zone."""
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        return parsed.replace(tzinfo=zone).timestamp()
    raise ValidationError(
        f"Date value '{text}' for field '{name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


def _jql_date(text: str, name: str) -> str:
    for fmt in ("%Y-%m-%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date().isoformat()
        except ValueError:
            continue
    raise ValidationError(f"Date value '{text}' for field '{name}' is invalid.")


def _resolve(field: str, value: str, state: JiraState) -> Any:
    """A JQL value as the stored form of `field`. Raises ValidationError for unknown values."""
    folded = value.casefold()
    if field == "project":
        if folded in (PROJECT["key"].casefold(), PROJECT["id"], PROJECT["name"].casefold()):
            return PROJECT["id"]
        raise ValidationError(f"The value '{value}' does not exist for the field 'project'.")
    if field in ("key", "id"):
        issue = state.find(value.upper() if field == "key" else value)
        if issue is None:
            raise ValidationError(
                f"An issue with key '{value}' does not exist for field '{field}'."
            )
        return issue.id
    tables = {"status": {k: v["name"] for k, v in STATUSES.items()}, "priority": PRIORITIES,
              "issuetype": {k: v["name"] for k, v in ISSUE_TYPES.items()}}  # fmt: skip
    if field in tables:
        for ident, label in tables[field].items():
            if folded in (ident, label.casefold()):
                return ident
        raise ValidationError(f"The value '{value}' does not exist for the field '{field}'.")
    if field in ("assignee", "reporter"):
        for user in state.users:
            if value in (user["accountId"],) or folded == user["emailAddress"].casefold():
                return user["accountId"]
        raise ValidationError(f"The value '{value}' does not exist for the field '{field}'.")
    if field == "labels":
        return value
    if field in CUSTOM_FIELDS:
        options = CUSTOM_FIELDS[field][3]
        if options:
            for ident, label in options.items():
                if folded in (ident, label.casefold()):
                    return ident
            raise ValidationError(
                f"The option '{value}' for field '{CUSTOM_FIELDS[field][0]}' does not exist."
            )
        try:
            return float(value)
        except ValueError:
            raise ValidationError(
                f"The value '{value}' is not a number for '{CUSTOM_FIELDS[field][0]}'."
            ) from None
    return value

"""The Jira site's state on the shared RecordTable: issues with their comments and change
history, the site's users and time zone, and the seed.

A row's `data` is {"number", "fields", "comments", "changelog"}: `fields` holds stored
values (ids for statuses, priorities, types, options and users; ADF for rich text), the
row's `created` and `modified` are the issue's created and updated times in epoch seconds.
A deleted issue is gone (Jira keeps no tombstone). Keys are "OPS-<number>"; a unique index
on the number finds an issue by key.

Every write checks values as Jira does and raises ValidationError with Jira's messages per
field; every change is logged in the issue's changelog and announced to webhooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.jira.sandbox import documents, schema, webhooks
from connectors.jira.sandbox.beans import Beans
from connectors.jira.sandbox.schema import (
    CUSTOM_FIELDS,
    DEFAULT_PRIORITY,
    DEFAULT_TIME_ZONE,
    INITIAL_STATUS,
    ISSUE_TYPES,
    NOT_SETTABLE,
    PRIORITIES,
    PROJECT,
    REQUIRED,
    SANDBOX_EMAIL,
    SANDBOX_TOKEN,
    SCREENS,
    STATUSES,
    SUMMARY_MAX,
    account_id,
    default_users,
    required_message,
)
from connectors.sandbox.core import JSON, Problem, ValidationError
from connectors.sandbox.data import FakeData
from connectors.sandbox.records import RecordState, Row

SEED_WINDOW = (
    datetime(2025, 9, 1, tzinfo=UTC).timestamp(),
    datetime(2025, 11, 28, tzinfo=UTC).timestamp(),
)
SEED_LABELS = ("customer", "regression", "billing", "ux", "backend", "mobile", "security")


def connection_config(base_url: str) -> dict[str, Any]:
    """A Jira connector config for this sandbox: the automation account's API token."""
    return {
        "base_url": base_url,
        "email": SANDBOX_EMAIL,
        "api_token": SANDBOX_TOKEN,
        "project_key": PROJECT["key"],
    }


def invalid(errors: Mapping[str, str], messages: tuple[str, ...] = ()) -> ValidationError:
    """Jira's `errorMessages` and per-field `errors` as a ValidationError."""
    return ValidationError(*messages, *(Problem(f, m) for f, m in errors.items()))


def _number(row: Row) -> str:
    return str(row.data["number"])


class JiraState(RecordState):
    first_ids = {"issues": 10001}
    unique = {"issues": _number}

    def start(self) -> None:
        self.time_zone = DEFAULT_TIME_ZONE
        self.users = default_users()
        self.next_number = 1
        self.next_comment_id = 10100
        self.event_seq = 0
        self.changelog_seq = 100000

    def now(self) -> float:
        return round(self.context.now(), 3)

    # -- settings and the state file -------------------------------------------------------

    def settings(self) -> dict[str, JSON]:
        return {"time_zone": self.time_zone}

    def configure(self, values: Mapping[str, JSON]) -> None:
        for name, value in values.items():
            if name != "time_zone":
                raise ValidationError(f"jira has no setting {name!r}; it has: time_zone")
            try:
                ZoneInfo(str(value))
            except (KeyError, ValueError) as exc:
                raise ValidationError(f"unknown time zone {value!r}") from exc
            self.time_zone = str(value)
            self.users[0]["timeZone"] = self.time_zone

    def extra(self) -> dict[str, JSON]:
        return {
            "users": self.users,
            "next_number": self.next_number,
            "next_comment_id": self.next_comment_id,
            "event_seq": self.event_seq,
            "changelog_seq": self.changelog_seq,
        }

    def restore(self, extra: Mapping[str, JSON]) -> None:
        self.users = list(extra["users"])
        self.next_number = int(extra["next_number"])
        self.next_comment_id = int(extra["next_comment_id"])
        self.event_seq = int(extra["event_seq"])
        self.changelog_seq = int(extra["changelog_seq"])
        self.users[0]["timeZone"] = self.time_zone

    # -- lookups ---------------------------------------------------------------------------

    @property
    def me(self) -> str:
        """The account the sandbox's credentials belong to."""
        return self.users[0]["accountId"]

    def find(self, id_or_key: str) -> Row | None:
        """An issue by id or key ("OPS-12", any case)."""
        if id_or_key.isdigit():
            return self.table.get("issues", int(id_or_key))
        project, _, number = id_or_key.rpartition("-")
        if project.upper() == PROJECT["key"] and number.isdigit():
            return self.table.find("issues", str(int(number)))
        return None

    def user(self, account: str) -> dict[str, Any] | None:
        return next((u for u in self.users if u["accountId"] == account), None)

    def account(self, value: Any) -> str | None:
        """An account id from a user reference. Raises ValueError for an unknown user."""
        if isinstance(value, dict):
            value = value.get("accountId", value.get("id"))
        if value is None:
            return None
        if self.user(str(value)) is None:
            raise ValueError(f"The user '{value}' does not exist.")
        return str(value)

    # -- writes ----------------------------------------------------------------------------

    def create(self, fields: Any, site: str) -> Row:
        """Create an issue from a request's `fields`. Raises ValidationError."""
        if not isinstance(fields, dict):
            raise invalid({}, ("The issue has no 'fields'.",))
        errors: dict[str, str] = {}
        type_id = issue_type(fields.get("issuetype"), errors)
        project = fields.get("project")
        if not isinstance(project, dict) or (
            project.get("key") != PROJECT["key"] and project.get("id") != PROJECT["id"]
        ):
            errors["project"] = "Specify a valid project ID or key"
        if errors or type_id is None:
            raise invalid(errors or {"issuetype": "Specify an issue type"})
        values: dict[str, Any] = {
            "issuetype": type_id,
            "status": INITIAL_STATUS,
            "priority": DEFAULT_PRIORITY,
            "reporter": self.me,
            "assignee": None,
            "labels": [],
        }
        for name, raw in fields.items():
            if name in ("project", "issuetype"):
                continue
            if name not in SCREENS[type_id]:
                errors[name] = NOT_SETTABLE.format(name)
                continue
            try:
                values[name] = self.convert(name, raw)
            except ValueError as exc:
                errors[name] = str(exc)
        for name in REQUIRED[type_id]:
            if name not in ("project", "issuetype") and values.get(name) in (None, "", []):
                errors.setdefault(name, required_message(name))
        if errors:
            raise invalid(errors)
        now = self.now()
        row = self._insert(values, now, now)
        self.emit(site, "jira:issue_created", "issue_created", row, [])
        return row

    def edit(self, row: Row, fields: Any, updates: Any, site: str) -> None:
        """editIssue: `fields` set values, `update` applies set/add/remove operations.
        Raises ValidationError (status is not on the screen: transitions change it)."""
        if not isinstance(fields, dict) or not isinstance(updates, dict):
            raise invalid({}, ("fields and update must be objects.",))
        stored = row.data["fields"]
        editable = {f for f in SCREENS[stored["issuetype"]] if f != "project"}
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {}
        for name, raw in fields.items():
            if name not in editable:
                errors[name] = NOT_SETTABLE.format(name)
                continue
            try:
                if name == "issuetype":
                    new_type = issue_type(raw, errors)
                    if new_type is not None:
                        changes[name] = new_type
                else:
                    changes[name] = self.convert(name, raw)
            except ValueError as exc:
                errors[name] = str(exc)
        for name, operations in updates.items():
            if name not in editable or name == "issuetype":
                errors[name] = NOT_SETTABLE.format(name)
                continue
            try:
                changes[name] = self._operations(
                    name, changes.get(name, stored.get(name)), operations
                )
            except ValueError as exc:
                errors[name] = str(exc)
        if errors:
            raise invalid(errors)
        if "issuetype" in changes:
            for name in REQUIRED[changes["issuetype"]]:
                value = changes.get(name, stored.get(name))
                if name not in ("project", "issuetype") and value in (None, "", []):
                    errors[name] = required_message(name)
            if errors:
                raise invalid(errors)
        self.change(row, changes, site)

    def transition(self, row: Row, transition_id: str, site: str) -> bool:
        """Move along a transition available from the current status; False if none is."""
        status = row.data["fields"]["status"]
        for candidate, _, sources, to in schema.WORKFLOW:
            if candidate == transition_id and status in sources:
                self.change(row, {"status": to}, site)
                return True
        return False

    def change(self, row: Row, changes: Mapping[str, Any], site: str) -> None:
        """Apply changes, bump `updated`, log and announce them (only if something changed)."""
        stored = row.data["fields"]
        items = []
        for name, value in changes.items():
            before = stored.get(name)
            if before != value:
                items.append(_changelog_item(name, before, value))
                stored[name] = value
        if not items:
            return
        now = self.now()
        self.changelog_seq += 1
        row.data["changelog"].append(
            {"id": str(self.changelog_seq), "author": self.me, "created": now, "items": items}
        )
        self.table.save(row, modified=max(now, row.modified))
        self.emit(site, "jira:issue_updated", "issue_generic", row, items)

    def delete(self, row: Row, site: str) -> None:
        self.table.purge(row)
        self.emit(site, "jira:issue_deleted", "issue_deleted", row, [])

    def add_comment(self, row: Row, body: Any, site: str) -> dict[str, Any]:
        """addComment; the issue's `updated` moves. Raises ValidationError."""
        _check_comment(body)
        now = self.now()
        comment = self._comment(row, self.me, body, now)
        self.table.save(row, modified=max(now, row.modified))
        self.emit(site, "comment_created", "issue_commented", row, [], comment=comment)
        return comment

    def update_comment(self, row: Row, comment: dict[str, Any], body: Any, site: str) -> None:
        _check_comment(body)
        now = self.now()
        comment.update(body=body, updated=now, update_author=self.me)
        self.table.save(row, modified=max(now, row.modified))
        self.emit(site, "comment_updated", "issue_comment_edited", row, [], comment=comment)

    def delete_comment(self, row: Row, comment: dict[str, Any], site: str) -> None:
        row.data["comments"].remove(comment)
        self.table.save(row, modified=max(self.now(), row.modified))
        self.emit(site, "comment_deleted", "issue_comment_deleted", row, [], comment=comment)

    def emit(
        self,
        site: str,
        event: str,
        type_name: str,
        row: Row,
        items: list[Any],
        comment: Mapping[str, Any] | None = None,
    ) -> None:
        if not self.context.webhooks_wanted():
            return
        self.event_seq += 1
        changelog = str(self.changelog_seq) if items else None
        self.context.emit(
            webhooks.event(
                Beans(self, site), self.event_seq, int(self.now() * 1000), event, type_name,
                row, items, changelog, comment,
            )
        )  # fmt: skip

    # -- values ----------------------------------------------------------------------------

    def convert(self, name: str, raw: Any) -> Any:
        """A request value as stored. Raises ValueError with Jira's message for that field."""
        if name == "summary":
            if not isinstance(raw, str) or not raw.strip():
                raise ValueError("You must specify a summary of the issue.")
            if "\n" in raw or "\r" in raw:
                raise ValueError("The summary is invalid because it contains newline characters.")
            if len(raw) > SUMMARY_MAX:
                raise ValueError(f"Summary must be less than {SUMMARY_MAX} characters.")
            return raw
        if name in ("description", "customfield_10013"):
            if raw is not None:
                documents.check(raw)
            return raw
        if name == "customfield_10010":
            if raw is not None and (not isinstance(raw, str) or len(raw) > SUMMARY_MAX):
                raise ValueError("Operation value must be a string of at most 255 characters")
            return raw
        if name == "priority":
            if not isinstance(raw, dict):
                raise ValueError("Specify the Priority (id or name) in the string format")
            for priority_id, label in PRIORITIES.items():
                if raw.get("id") == priority_id or raw.get("name") == label:
                    return priority_id
            raise ValueError("Specify a valid 'id' or 'name' for Priority")
        if name in ("assignee", "reporter"):
            return self.account(raw)
        if name == "labels":
            return _labels(raw)
        if name in ("duedate", "customfield_10015"):
            if raw is None:
                return None
            try:
                return date.fromisoformat(str(raw)).isoformat()
            except ValueError:
                raise ValueError(f"Error parsing date string: {raw}") from None
        if name == "customfield_10012":
            if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float)):
                raise ValueError("Operation value must be a number")
            return None if raw is None else float(raw)
        if name == "customfield_10011":
            return None if raw is None else _option(name, raw)
        if name == "customfield_10014":
            if raw is None:
                return []
            if not isinstance(raw, list):
                raise ValueError("Operation value must be a list of options")
            return list(dict.fromkeys(_option(name, v) for v in raw))
        raise ValueError(NOT_SETTABLE.format(name))

    def _operations(self, name: str, current: Any, operations: Any) -> Any:
        if not isinstance(operations, list):
            raise ValueError("Operations must be a list")
        value = current
        for operation in operations:
            if not isinstance(operation, dict) or len(operation) != 1:
                raise ValueError("Each operation must have exactly one of set, add, remove")
            ((verb, argument),) = operation.items()
            if verb == "set":
                value = self.convert(name, argument)
            elif verb in ("add", "remove") and name in ("labels", "customfield_10014"):
                item = self.convert(name, [argument])
                merged = set(value or [])
                merged = merged | set(item) if verb == "add" else merged - set(item)
                value = sorted(merged)
            else:
                raise ValueError(f"The operation '{verb}' is not supported for {name}")
        return value

    def _insert(self, fields: dict[str, Any], created: float, updated: float) -> Row:
        data = {"number": self.next_number, "fields": fields, "comments": [], "changelog": []}
        self.next_number += 1
        return self.table.insert(
            "issues", data, created=round(created, 3), modified=round(updated, 3)
        )

    def _comment(self, row: Row, author: str, body: dict[str, Any], when: float) -> dict[str, Any]:
        comment = {"id": str(self.next_comment_id), "author": author, "body": body}
        comment["created"] = comment["updated"] = round(when, 3)
        self.next_comment_id += 1
        row.data["comments"].append(comment)
        return comment

    # -- seed ------------------------------------------------------------------------------

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        unknown = sorted(set(counts) - {"issues"})
        if unknown:
            raise ValidationError(f"jira seeds only issues, not {', '.join(unknown)}")
        for _ in range(6):
            first, last = fake.person()
            n = len(self.users)
            self.users.append(
                {
                    "accountId": account_id(f"user-{fake.seed}-{n}"),
                    "displayName": f"{first} {last}",
                    "emailAddress": fake.email(first, last, "northwind.example", n),
                    "timeZone": fake.choice(("Europe/Berlin", "America/New_York", "Asia/Tokyo")),
                }
            )
        agents = [u["accountId"] for u in self.users]
        for _ in range(counts.get("issues", 40)):
            created = fake.timestamp(*SEED_WINDOW)
            updated = fake.timestamp(created, SEED_WINDOW[1])
            type_id = fake.weighted((("10001", 5), ("10002", 3), ("10003", 2)))
            fields: dict[str, Any] = {
                "summary": fake.ticket_subject(),
                "description": _seed_description(fake),
                "issuetype": type_id,
                "priority": fake.weighted((("1", 1), ("2", 3), ("3", 6), ("4", 3), ("5", 1))),
                "status": fake.weighted((("10000", 4), ("3", 3), ("10001", 3))),
                "assignee": fake.choice([*agents, None]),
                "reporter": fake.choice(agents),
                "labels": sorted(
                    {fake.choice(SEED_LABELS) for _ in range(fake.random.randrange(3))}
                ),
                "duedate": None,
                "customfield_10010": None,
                "customfield_10013": None,
                "customfield_10014": [],
                "customfield_10015": None,
            }
            if fake.random.random() < 0.4:
                due = datetime.fromtimestamp(updated, UTC) + timedelta(
                    days=fake.random.randrange(3, 40)
                )
                fields["duedate"] = due.date().isoformat()
            if fake.random.random() < 0.6:
                first, last = fake.person()
                _, domain = fake.company()
                fields["customfield_10010"] = fake.email(first, last, domain)
            if type_id == "10002":
                fields["customfield_10011"] = fake.choice(
                    sorted(CUSTOM_FIELDS["customfield_10011"][3])
                )
                fields["customfield_10013"] = documents.doc(
                    documents.paragraph(documents.text(fake.paragraph(2)))
                )
                options = sorted(CUSTOM_FIELDS["customfield_10014"][3])
                fields["customfield_10014"] = sorted({fake.choice(options) for _ in range(2)})
            if type_id == "10003":
                fields["customfield_10012"] = float(fake.choice((1, 2, 3, 5, 8, 13)))
            row = self._insert(fields, created, updated)
            for _ in range(fake.random.randrange(3)):
                when = fake.timestamp(created, updated)
                blocks = [documents.paragraph(documents.text(fake.paragraph(1)))]
                if fake.random.random() < 0.3:
                    url = f"https://logs.northwind.example/q/{row.id}"
                    blocks.append(
                        documents.paragraph(documents.text("Logs: "), documents.text(url, href=url))
                    )
                self._comment(row, fake.choice(agents), documents.doc(*blocks), when)


def issue_type(ref: Any, errors: dict[str, str]) -> str | None:
    """The issue type a request names by id or name; None (and an error) otherwise."""
    if not isinstance(ref, dict):
        errors["issuetype"] = "Specify an issue type"
        return None
    for type_id, info in ISSUE_TYPES.items():
        if ref.get("id") == type_id or (
            isinstance(ref.get("name"), str) and ref["name"].casefold() == info["name"].casefold()
        ):
            return type_id
    errors["issuetype"] = "The issue type selected is invalid."
    return None


def _labels(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ValueError("Operation value must be a list of labels")
    for label in raw:
        if not label or " " in label:
            raise ValueError(f"The label '{label}' contains spaces which is invalid.")
        if len(label) > SUMMARY_MAX:
            raise ValueError(f"The label '{label}' exceeds the 255 character limit.")
    return sorted(set(raw))


def _option(field_id: str, raw: Any) -> str:
    options = CUSTOM_FIELDS[field_id][3]
    if isinstance(raw, dict):
        if raw.get("id") in options:
            return str(raw["id"])
        for option_id, value in options.items():
            if raw.get("value") == value:
                return option_id
        shown = raw.get("value", raw.get("id"))
        raise ValueError(f"Option value '{shown}' is not valid")
    raise ValueError(f"Specify a valid 'id' or 'name' for {CUSTOM_FIELDS[field_id][0]}")


def _check_comment(body: Any) -> None:
    try:
        documents.check(body)
    except ValueError as exc:
        raise invalid({"comment": str(exc)}) from None
    if not documents.plain_text(body).strip():
        raise invalid({"comment": "Comment body can not be empty!"})


def _changelog_item(name: str, before: Any, after: Any) -> dict[str, Any]:
    def text(value: Any) -> str | None:
        if value is None:
            return None
        if name == "status":
            return STATUSES[value]["name"]
        if name == "priority":
            return PRIORITIES[value]
        if name == "issuetype":
            return ISSUE_TYPES[value]["name"]
        if isinstance(value, dict):
            return documents.plain_text(value)
        if isinstance(value, list):
            return " ".join(str(v) for v in value)
        return str(value)

    custom = name.startswith("customfield_")
    return {
        "field": CUSTOM_FIELDS[name][0] if custom else name,
        "fieldtype": "custom" if custom else "jira",
        "fieldId": name,
        "from": before if isinstance(before, str) else None,
        "fromString": text(before),
        "to": after if isinstance(after, str) else None,
        "toString": text(after),
    }


def _seed_description(fake: FakeData) -> dict[str, Any]:
    """A bug report's description: a paragraph, maybe steps, a list and a link."""
    blocks = [documents.paragraph(documents.text(fake.paragraph(2)))]
    if fake.random.random() < 0.5:
        blocks.append(documents.paragraph(documents.text("Steps to reproduce:")))
        blocks.append(
            documents.ordered_list(
                "Open the account settings", "Change the plan", "Save and reload the page"
            )
        )
    if fake.random.random() < 0.4:
        affected = f"Affected accounts: {fake.random.randrange(1, 40)}"
        blocks.append(documents.bullet_list(affected, "Workaround: none yet"))
    if fake.random.random() < 0.3:
        guide = "https://runbooks.northwind.example/incidents"
        blocks.append(
            documents.paragraph(
                documents.text("Runbook: "), documents.text("incident guide", href=guide)
            )
        )
    return documents.doc(*blocks)

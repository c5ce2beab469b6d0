"""The Redmine sandbox's records: one server with two projects, its users, trackers,
statuses, priorities, issue custom fields and a Developer workflow, and issues on the
shared RecordTable.

Values follow what a real Redmine 5.0 does (checked against one started by
../shared/peers/start-redmine.sh), including what it does silently:

- description line ends become CRLF (Issue#description=);
- a status the user's workflow does not allow, or one that does not exist, and a tracker
  not enabled for the project, are ignored on create and update, without an error;
- every accepted update stamps `updated_on`, even one that changes nothing;
- an update's `notes` (with `private_notes`) and its changes of standard fields are kept as
  a journal (a private note with changes is split off into a journal of its own, as
  Journal#split_private_notes does); a journal's notes are edited by PUT /journals/{id}.json,
  which does not stamp the issue's `updated_on`, and a journal left with neither notes nor
  changes is deleted;
- timestamps are kept with fractions of a second and answered in whole seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import JSON, Problem, ValidationError
from connectors.sandbox.data import FakeData
from connectors.sandbox.records import RecordState, Row

ADMIN_KEY = "redmine-sandbox-admin-api-key-0000000001"
DEVELOPER_KEY = "redmine-sandbox-developer-api-key-000002"


@dataclass(frozen=True)
class User:
    id: int
    login: str
    firstname: str
    lastname: str
    mail: str
    admin: bool
    api_key: str | None = None

    @property
    def name(self) -> str:
        return f"{self.firstname} {self.lastname}"


USERS = (
    User(1, "admin", "Redmine", "Admin", "admin@northwind.example", True, ADMIN_KEY),
    User(2, "dana", "Dana", "Developer", "dana@northwind.example", False, DEVELOPER_KEY),
    User(3, "sam", "Sam", "Support", "sam@northwind.example", False),
)
PROJECTS = (
    {"id": 1, "name": "Sync Test", "identifier": "sync-test", "trackers": (1, 2, 3)},
    {"id": 2, "name": "Archive", "identifier": "archive", "trackers": (1,)},
)
MEMBERS = {1: (2, 3), 2: (3,)}  # project id -> non-admin members (Developer role)
# Redmine's default roles after the built-in Non member (1) and Anonymous (2): the members'
# Developer role, with the permissions of Redmine's default data that concern issues (it
# may set and view private notes, but not edit notes).
DEVELOPER_ROLE = {
    "id": 4,
    "name": "Developer",
    "permissions": (
        "view_issues", "add_issues", "edit_issues", "view_private_notes", "set_notes_private",
        "manage_issue_relations", "manage_subtasks", "add_issue_notes", "save_queries",
    ),
}  # fmt: skip
TRACKERS = {1: "Bug", 2: "Feature", 3: "Support"}
STATUSES = {1: "New", 2: "In Progress", 3: "Resolved", 4: "Feedback", 5: "Closed", 6: "Rejected"}
CLOSED = frozenset({5, 6})
PRIORITIES = {1: "Low", 2: "Normal", 3: "High", 4: "Urgent", 5: "Immediate"}
DEFAULT_PRIORITY = 2
# Redmine's default data for the Developer role: from New, In Progress, Resolved and
# Feedback to In Progress, Resolved, Feedback and Closed. Administrators may set any status.
DEVELOPER_WORKFLOW = {old: {2, 3, 4, 5} - {old} for old in (1, 2, 3, 4)}
CUSTOM_FIELDS = (
    {"id": 1, "name": "Customer", "field_format": "string", "multiple": False},
    {"id": 2, "name": "Severity", "field_format": "list", "multiple": False,
     "possible_values": ["Minor", "Major", "Critical"]},
    {"id": 3, "name": "Story points", "field_format": "int", "multiple": False},
    {"id": 4, "name": "Platforms", "field_format": "list", "multiple": True,
     "possible_values": ["Web", "iOS", "Android"]},
)  # fmt: skip
SUBJECT_MAX = 255


def user_by_key(key: str | None) -> User | None:
    return next((u for u in USERS if key and u.api_key == key), None)


def project_by_ref(ref: Any) -> dict[str, Any] | None:
    text = str(ref)
    return next((p for p in PROJECTS if str(p["id"]) == text or p["identifier"] == text), None)


JOURNALED = {
    "subject": "subject",
    "description": "description",
    "tracker_id": "tracker_id",
    "status_id": "status_id",
    "priority_id": "priority_id",
    "assigned_to_id": "assigned_to_id",
}


class RedmineState(RecordState):
    first_ids = {"issues": 1}

    def start(self) -> None:
        self.last_journal_id = 0  # journal ids are the server's, across issues

    def extra(self) -> dict[str, JSON]:
        return {"last_journal_id": self.last_journal_id}

    def restore(self, extra: Mapping[str, JSON]) -> None:
        self.last_journal_id = int(extra.get("last_journal_id") or 0)

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        """Issues over the year before now, most in sync-test, a few in archive."""
        now = self.now()
        for n in range(counts.get("issues", 30)):
            project = PROJECTS[1] if n % 7 == 6 else PROJECTS[0]
            created = fake.timestamp(now - 365 * 86400, now - 86400)
            updated = fake.timestamp(created, now - 3600)
            status = fake.weighted([(1, 5), (2, 3), (3, 2), (5, 2), (6, 1)])
            data = {
                "project_id": project["id"],
                "tracker_id": fake.choice(project["trackers"]),
                "status_id": status,
                "priority_id": fake.weighted([(1, 2), (2, 6), (3, 3), (4, 1)]),
                "author_id": 1,
                "assigned_to_id": fake.choice((None, 2, 3)),
                "subject": fake.ticket_subject(),
                "description": fake.paragraph(2),
                "custom": {"1": fake.company()[0], "2": fake.choice(("Minor", "Major", ""))},
                "closed_on": updated if status in CLOSED else None,
            }
            self.table.insert("issues", data, created=created, modified=updated)

    # -- writes ----------------------------------------------------------------------------

    def create(self, user: User, values: Mapping[str, Any]) -> Row:
        """POST /issues.json. Raises ValidationError with Redmine's messages."""
        project = project_by_ref(values.get("project_id")) if values.get("project_id") else None
        data: dict[str, Any] = {
            "project_id": project["id"] if project else None,
            "tracker_id": project["trackers"][0] if project else None,
            "status_id": 1,
            "priority_id": DEFAULT_PRIORITY,
            "author_id": user.id,
            "assigned_to_id": None,
            "subject": "",
            "description": None,
            "custom": {},
            "closed_on": None,
        }
        problems = self._apply(user, data, values, creating=True)
        if project is None:
            problems += [
                Problem("project_id", "Project cannot be blank"),
                Problem("tracker_id", "Tracker cannot be blank"),
                Problem("status_id", "Status cannot be blank"),
            ]
        if problems:
            raise ValidationError(*_ordered(problems))
        now = self.now()
        if data["status_id"] in CLOSED:
            data["closed_on"] = now
        return self.table.insert("issues", data, created=now, modified=now)

    def update(self, user: User, row: Row, values: Mapping[str, Any]) -> None:
        """PUT /issues/{id}.json. Raises ValidationError with Redmine's messages."""
        data = {**row.data, "custom": dict(row.data.get("custom") or {})}
        problems = self._apply(user, data, values, creating=False)
        if problems:
            raise ValidationError(*_ordered(problems))
        now = self.now()
        if data["status_id"] in CLOSED and row.data["status_id"] not in CLOSED:
            data["closed_on"] = now
        details = [
            {"property": "attr", "name": name, "old_value": _text(row.data.get(key)),
             "new_value": _text(data.get(key))}
            for key, name in JOURNALED.items()
            if row.data.get(key) != data.get(key)
        ]  # fmt: skip
        notes = values.get("notes")
        notes = str(notes) if isinstance(notes, str | int | float) and str(notes).strip() else ""
        private = bool(values.get("private_notes")) and bool(notes)
        journals = list(row.data.get("journals") or [])
        if details and private:  # the changes stay public, the private note goes alone
            journals.append(self._journal(user, None, False, details, now))
            details = []
        if details or notes:
            journals.append(self._journal(user, notes, private, details, now))
        data["journals"] = journals
        row.data = data
        self.table.save(row, modified=now)  # Redmine stamps every accepted update

    def _journal(
        self, user: User, notes: str | None, private: bool, details: list[dict], now: float
    ) -> dict[str, Any]:
        self.last_journal_id += 1
        return {
            "id": self.last_journal_id,
            "user_id": user.id,
            "notes": notes,
            "private_notes": private,
            "created": now,
            "details": details,
        }

    def journal_find(self, journal_id: int) -> tuple[Row, dict[str, Any]] | None:
        for row in self.table.rows("issues"):
            for journal in row.data.get("journals") or []:
                if journal["id"] == journal_id:
                    return row, journal
        return None

    def journal_edit(self, row: Row, journal: dict[str, Any], values: Mapping[str, Any]) -> None:
        """PUT /journals/{id}.json: new notes and/or privacy; the issue's `updated_on`
        stays; a journal left without notes and changes is deleted."""
        if "notes" in values:
            journal["notes"] = "" if values["notes"] is None else str(values["notes"])
        if "private_notes" in values:
            journal["private_notes"] = bool(values["private_notes"])
        journals = list(row.data.get("journals") or [])
        if not (journal.get("notes") or "").strip() and not journal["details"]:
            journals = [j for j in journals if j["id"] != journal["id"]]
        row.data = {**row.data, "journals": journals}
        self.table.save(row)

    def journals_json(self, row: Row) -> list[dict[str, JSON]]:
        out: list[dict[str, JSON]] = []
        for journal in row.data.get("journals") or []:
            author = next((u for u in USERS if u.id == journal["user_id"]), USERS[0])
            out.append(
                {
                    "id": journal["id"],
                    "user": {"id": author.id, "name": author.name},
                    "notes": journal["notes"],
                    "created_on": stamp(journal["created"]),
                    "private_notes": journal["private_notes"],
                    "details": journal["details"],
                }
            )
        return out

    def _apply(
        self, user: User, data: dict[str, Any], values: Mapping[str, Any], *, creating: bool
    ) -> list[Problem]:
        problems: list[Problem] = []
        project = project_by_ref(data["project_id"]) if data["project_id"] else None
        if "subject" in values:
            data["subject"] = "" if values["subject"] is None else str(values["subject"])
        if not data["subject"].strip():
            problems.append(Problem("subject", "Subject cannot be blank"))
        elif len(data["subject"]) > SUBJECT_MAX:
            problems.append(
                Problem("subject", f"Subject is too long (maximum is {SUBJECT_MAX} characters)")
            )
        if "description" in values:
            text = values["description"]
            data["description"] = (
                None if text is None else str(text).replace("\r\n", "\n").replace("\n", "\r\n")
            )
        if "tracker_id" in values:
            tracker = _int(values["tracker_id"])
            if project is not None and tracker in project["trackers"]:
                data["tracker_id"] = tracker  # another is ignored, as Redmine does
        if "priority_id" in values:
            priority = _int(values["priority_id"])
            if priority in PRIORITIES:
                data["priority_id"] = priority
            else:
                problems.append(Problem("priority_id", "Priority cannot be blank"))
        if "status_id" in values:
            status = _int(values["status_id"])
            if status is not None and self._allowed(user, data["status_id"], status, creating):
                data["status_id"] = status  # a forbidden or unknown one is ignored
        if "assigned_to_id" in values:
            assignee = values["assigned_to_id"]
            if assignee in (None, ""):
                data["assigned_to_id"] = None
            elif project is not None and _int(assignee) in MEMBERS.get(project["id"], ()):
                data["assigned_to_id"] = _int(assignee)
            else:
                problems.append(Problem("assigned_to_id", "Assignee is invalid"))
        for item in values.get("custom_fields") or []:
            if not isinstance(item, dict):
                continue
            field = next((f for f in CUSTOM_FIELDS if f["id"] == _int(item.get("id"))), None)
            if field is None:
                continue  # Redmine ignores a custom field the issue does not have
            value = item.get("value")
            problem = _custom_problem(field, value)
            if problem:
                problems.append(Problem(f"cf_{field['id']}", problem))
            else:
                data["custom"][str(field["id"])] = value
        return problems

    def _allowed(self, user: User, current: int, target: int, creating: bool) -> bool:
        if target not in STATUSES:
            return False
        if user.admin or target == current:
            return True
        if creating and target == 1:
            return True
        return target in DEVELOPER_WORKFLOW.get(current, set())

    # -- answers ---------------------------------------------------------------------------

    def issue_json(self, row: Row, *, listing: bool) -> dict[str, JSON]:
        data = row.data
        project = project_by_ref(data["project_id"]) or {"id": 0, "name": "?"}
        assignee = next((u for u in USERS if u.id == data.get("assigned_to_id")), None)
        author = next((u for u in USERS if u.id == data.get("author_id")), USERS[0])
        out: dict[str, JSON] = {
            "id": row.id,
            "project": {"id": project["id"], "name": project["name"]},
            "tracker": {"id": data["tracker_id"], "name": TRACKERS[data["tracker_id"]]},
            "status": {
                "id": data["status_id"],
                "name": STATUSES[data["status_id"]],
                "is_closed": data["status_id"] in CLOSED,
            },
            "priority": {"id": data["priority_id"], "name": PRIORITIES[data["priority_id"]]},
            "author": {"id": author.id, "name": author.name},
        }
        if assignee is not None:
            out["assigned_to"] = {"id": assignee.id, "name": assignee.name}
        out.update(
            {
                "subject": data["subject"],
                "description": data["description"],
                "start_date": stamp(row.created)[:10],
                "due_date": None,
                "done_ratio": 0,
                "is_private": False,
                "estimated_hours": None,
                "total_estimated_hours": None,
            }
        )
        if listing:
            out.update({"spent_hours": 0.0, "total_spent_hours": 0.0})
        out["custom_fields"] = [
            {
                "id": f["id"],
                "name": f["name"],
                **({"multiple": True} if f["multiple"] else {}),
                "value": _custom_answer(f, data["custom"].get(str(f["id"]))),
            }
            for f in CUSTOM_FIELDS
        ]
        out.update(
            {
                "created_on": stamp(row.created),
                "updated_on": stamp(row.modified),
                "closed_on": stamp(data["closed_on"]) if data.get("closed_on") else None,
            }
        )
        return out


def stamp(epoch: float) -> str:
    """Redmine's answer form: UTC, whole seconds, "Z"."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _custom_problem(field: Mapping[str, Any], value: Any) -> str | None:
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not field["multiple"]:
        values = value[:1]
    for item in values:
        if item in (None, ""):
            continue
        if field["field_format"] == "list" and str(item) not in field["possible_values"]:
            return f"{field['name']} is not included in the list"
        if field["field_format"] == "int" and _int(item) is None:
            return f"{field['name']} is not a number"
    return None


def _custom_answer(field: Mapping[str, Any], value: Any) -> JSON:
    if field["multiple"]:
        if value in (None, ""):
            return []
        return [str(v) for v in (value if isinstance(value, list) else [value]) if v != ""]
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    return str(value)


_ORDER = ("subject", "project_id", "tracker_id", "status_id", "priority_id", "assigned_to_id")


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Redmine's order of messages: its own attributes first, then custom fields."""

    def key(p: Problem) -> int:
        return _ORDER.index(p.field) if p.field in _ORDER else len(_ORDER)

    return sorted(problems, key=key)

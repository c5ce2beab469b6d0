"""The GitHub sandbox's issues (and a few pull requests) on the shared RecordTable.

Row ids are the issues' global `id`s; `data` holds the repository, the per-repository
`number` (issues and pull requests share the sequence, as on GitHub), the values and the
author. Times are whole epoch seconds: GitHub's timestamps have one-second resolution.
A deleted issue stays as a tombstone (GET answers 410); labels named in a write that the
repository does not have are created, as GitHub does. An issue's comments are kept in its
`data["thread"]` (id, body, author, created, updated), their ids from one sequence shared
by every repository, as GitHub's are; `data["comments"]` counts them (seeded issues count
comments they do not hold). A new comment moves the issue's `updated_at`; an edit or a
deletion does not (what the connector relies on is the `issue_comment` webhook for those).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.github.sandbox import beans
from connectors.github.sandbox.schema import ISSUE_TYPES, REPOS, SANDBOX_TOKEN, Repo
from connectors.sandbox.core import JSON, Problem, ValidationError
from connectors.sandbox.data import FakeData
from connectors.sandbox.records import RecordState, Row

FIRST_ID = 1_347_000_001
FIRST_COMMENT_ID = 2_408_000_001
SEEDED_REPOS = ("octo-org/website", "octo-org/api", "mona/notes")
STATES = ("open", "closed")
REASONS = ("completed", "not_planned", "duplicate", "reopened")
_BODIES = (
    "### Steps to reproduce\n\n1. Open the page\n2. Click **Save**\n\nExpected: saved.",
    "Seen on the production site since the last deploy.\n\n- Browser: Firefox\n- OS: Linux",
    "A user asked for this on the forum: https://forum.example/t/123",
    "",
)


def connection_config(base_url: str) -> dict[str, Any]:
    """A connector config the sandbox accepts: two repositories of one organization."""
    return {
        "base_url": base_url,
        "token": SANDBOX_TOKEN,
        "repositories": "octo-org/website, octo-org/api",
    }


class FieldRefused(ValidationError):
    """GitHub's 422 "Validation Failed" for one field of an issue, with the value refused
    (GitHub names it in the error: `{"resource": "Issue", "field": ..., "value": ...}`)."""

    def __init__(self, field: str, code: str, message: str, value: Any = None) -> None:
        super().__init__(Problem(field, message, code))
        self.value = value


class GitHubState(RecordState):
    first_ids = {"issues": FIRST_ID}

    def start(self) -> None:
        self.numbers: dict[str, int] = {}  # repo (casefolded) -> last number given
        self.extra_labels: dict[str, list[str]] = {}  # labels made by writes, per repo
        self.last_comment_id = FIRST_COMMENT_ID - 1

    # -- schema ----------------------------------------------------------------------------

    def labels(self, repo: Repo) -> dict[str, tuple[int, str, str, str]]:
        """Label name (casefolded) -> (index, name, color, description) of the repository."""
        out: dict[str, tuple[int, str, str, str]] = {}
        names = [(n, c, d) for n, c, d in repo.labels]
        names += [(n, "ededed", "") for n in self.extra_labels.get(repo.full_name.casefold(), [])]
        for index, (name, color, description) in enumerate(names):
            out[name.casefold()] = (index, name, color, description)
        return out

    def milestones(self, repo: Repo) -> dict[str, int]:
        return {title: number for number, title in enumerate(repo.milestones, 1)}

    # -- issues ----------------------------------------------------------------------------

    def issues(self, repo: Repo, *, deleted: bool = False) -> list[Row]:
        key = repo.full_name.casefold()
        which = "all" if deleted else "live"
        return [r for r in self.table.rows("issues", which) if r.data["repo"] == key]

    def find(self, repo: Repo, number: int) -> Row | None:
        """The issue or pull request `number` of `repo`, deleted ones included."""
        key = repo.full_name.casefold()
        for row in self.table.rows("issues", "all"):
            if row.data["repo"] == key and row.data["number"] == number:
                return row
        return None

    def by_node(self, node_id: str) -> Row | None:
        for row in self.table.rows("issues"):
            if row.data["node_id"] == node_id:
                return row
        return None

    def open_count(self, repo: Repo) -> int:
        return sum(1 for r in self.issues(repo) if r.data["state"] == "open")

    def create(self, repo: Repo, values: Mapping[str, Any], author: str) -> Row:
        """Open an issue from an issues/create body; ValidationError as GitHub's 422."""
        title = values.get("title")
        if title is None or (isinstance(title, str) and not title.strip()):
            raise FieldRefused("title", "missing_field", "title wasn't supplied")
        data: dict[str, Any] = {
            "repo": repo.full_name.casefold(),
            "title": str(title),
            "body": values.get("body"),
            "state": "open",
            "state_reason": None,
            "labels": [],
            "assignees": [],
            "milestone": None,
            "type": None,
            "author": author,
            "comments": 0,
        }
        self._apply(repo, data, values)
        number = self.numbers.get(data["repo"], 0) + 1
        self.numbers[data["repo"]] = number
        data["number"] = number
        now = int(self.now())
        row_id = self.table.allocate("issues")
        data["node_id"] = beans.node_id("Issue", row_id)
        return self.table.insert("issues", data, created=now, record_id=row_id)

    def update(self, repo: Repo, row: Row, values: Mapping[str, Any], actor: str) -> list[str]:
        """Apply an issues/update body; the webhook actions it amounts to."""
        data = dict(row.data)
        before = dict(row.data)
        if "title" in values:
            if values["title"] is None or not str(values["title"]).strip():
                raise FieldRefused("title", "missing_field", "title cannot be blank")
            data["title"] = str(values["title"])
        if "body" in values:
            data["body"] = values["body"]
        self._apply(repo, data, values)
        state = values.get("state")
        if state is not None and state != before["state"]:
            data["state"] = state
            reason = values.get("state_reason")
            if state == "closed":
                data["state_reason"] = reason if reason in REASONS else "completed"
                data["closed_at"] = int(self.now())
                data["closed_by"] = actor
            else:
                data["state_reason"] = "reopened"
                data["closed_at"] = None
                data["closed_by"] = None
        row.data = data
        self.table.save(row, modified=int(self.now()))
        actions = []
        if data["state"] != before["state"]:
            actions.append("closed" if data["state"] == "closed" else "reopened")
        if (data["title"], data["body"]) != (before["title"], before["body"]):
            actions.append("edited")
        if data["labels"] != before["labels"]:
            actions.append("labeled")
        if data["assignees"] != before["assignees"]:
            actions.append("assigned")
        if data["milestone"] != before["milestone"]:
            actions.append("milestoned")
        if data["type"] != before["type"]:
            actions.append("typed")
        return actions or ["edited"]

    def _apply(self, repo: Repo, data: dict[str, Any], values: Mapping[str, Any]) -> None:
        """Labels, assignees, milestone and type of a create or update body."""
        if "labels" in values:
            names = []
            for item in values["labels"] or []:
                name = item.get("name") if isinstance(item, dict) else item
                if isinstance(name, str) and name.strip():
                    names.append(self._label(repo, name.strip()))
            data["labels"] = list(dict.fromkeys(names))
        if "assignees" in values or "assignee" in values:
            logins = values.get("assignees")
            if logins is None:
                logins = [values["assignee"]] if values.get("assignee") else []
            chosen = []
            for item in logins:
                login = item.get("login") if isinstance(item, dict) else item
                if login not in repo.assignable:
                    raise FieldRefused(
                        "assignees", "invalid", f"{login} cannot be assigned to this issue", login
                    )
                chosen.append(login)
            data["assignees"] = list(dict.fromkeys(chosen))[:10]
        if "milestone" in values:
            number = values["milestone"]
            if number is None:
                data["milestone"] = None
            else:
                titles = {n: t for t, n in self.milestones(repo).items()}
                try:
                    data["milestone"] = titles[int(number)]
                except (KeyError, TypeError, ValueError):
                    raise FieldRefused(
                        "milestone", "invalid", "milestone is invalid", number
                    ) from None
        if "type" in values:
            name = values["type"]
            if name is None:
                data["type"] = None
            elif not repo.org or name not in {t[1] for t in ISSUE_TYPES}:
                raise FieldRefused("type", "invalid", f"{name} is not a valid issue type", name)
            else:
                data["type"] = name

    def _label(self, repo: Repo, name: str) -> str:
        known = self.labels(repo)
        if name.casefold() in known:
            return known[name.casefold()][1]
        self.extra_labels.setdefault(repo.full_name.casefold(), []).append(name)
        return name

    def delete(self, row: Row) -> None:
        self.table.delete(row, int(self.now()))

    # -- comments --------------------------------------------------------------------------

    def comment_find(self, comment_id: int) -> tuple[Row, dict[str, Any]] | None:
        """The live issue holding comment `comment_id`, and the comment."""
        for row in self.table.rows("issues"):
            for comment in row.data.get("thread") or []:
                if comment["id"] == comment_id:
                    return row, comment
        return None

    def comment_add(self, row: Row, body: Any, author: str) -> dict[str, Any]:
        """issues/create-comment; the issue's `updated_at` moves. ValidationError as 422."""
        text = _comment_text(body)
        now = int(self.now())
        self.last_comment_id += 1
        comment = {
            "id": self.last_comment_id,
            "body": text,
            "author": author,
            "created": now,
            "updated": now,
        }
        row.data = {
            **row.data,
            "thread": [*(row.data.get("thread") or []), comment],
            "comments": int(row.data.get("comments") or 0) + 1,
        }
        self.table.save(row, modified=max(now, row.modified))
        return comment

    def comment_edit(self, row: Row, comment: dict[str, Any], body: Any) -> None:
        comment["body"] = _comment_text(body)
        comment["updated"] = int(self.now())
        self.table.save(row)

    def comment_remove(self, row: Row, comment: dict[str, Any]) -> None:
        row.data = {
            **row.data,
            "thread": [c for c in row.data.get("thread") or [] if c["id"] != comment["id"]],
            "comments": max(0, int(row.data.get("comments") or 0) - 1),
        }
        self.table.save(row)

    # -- seeding and the state file --------------------------------------------------------

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        total = counts.get("issues", 24)
        now = int(self.now())
        start = now - 60 * 86400
        repos = [REPOS[name] for name in SEEDED_REPOS]
        shares = [max(1, total * 5 // 8), max(1, total * 3 // 8), 2]
        for repo, count in zip(repos, shares, strict=True):
            key = repo.full_name.casefold()
            milestones = list(repo.milestones)
            for n in range(count + (2 if repo.name == "website" else 0)):
                pull = repo.name == "website" and n in (2, 5)
                created = int(fake.timestamp(start, now - 3 * 86400))
                modified = int(fake.timestamp(created, now - 86400))
                closed = fake.random.random() < 0.3
                number = self.numbers.get(key, 0) + 1
                self.numbers[key] = number
                row_id = self.table.allocate("issues")
                labels = [repo.labels[fake.random.randrange(len(repo.labels))][0]]
                data = {
                    "repo": key,
                    "number": number,
                    "node_id": beans.node_id("Issue", row_id),
                    "title": ("Bump dependencies: " if pull else "") + fake.ticket_subject(),
                    "body": fake.choice(_BODIES) or None,
                    "state": "closed" if closed else "open",
                    "state_reason": fake.choice(("completed", "not_planned")) if closed else None,
                    "closed_at": modified if closed else None,
                    "closed_by": repo.assignable[0] if closed else None,
                    "labels": labels,
                    "assignees": [fake.choice(repo.assignable)]
                    if fake.random.random() < 0.6
                    else [],
                    "milestone": fake.choice(milestones) if milestones and n % 3 == 0 else None,
                    "type": fake.choice(ISSUE_TYPES)[1] if repo.org and n % 2 == 0 else None,
                    "author": fake.choice(repo.assignable),
                    "comments": fake.random.randrange(0, 6),
                    "pull": pull,
                }
                self.table.insert(
                    "issues", data, created=created, modified=modified, record_id=row_id
                )

    def extra(self) -> dict[str, JSON]:
        return {
            "numbers": self.numbers,
            "labels": self.extra_labels,
            "last_comment_id": self.last_comment_id,
        }

    def restore(self, extra: Mapping[str, JSON]) -> None:
        self.numbers = dict(extra.get("numbers") or {})
        self.last_comment_id = int(extra.get("last_comment_id") or FIRST_COMMENT_ID - 1)
        self.extra_labels = {k: list(v) for k, v in (extra.get("labels") or {}).items()}


def _comment_text(body: Any) -> str:
    """A comment body GitHub accepts: a string of at most 65,536 characters, not blank."""
    if not isinstance(body, str) or not body.strip():
        raise FieldRefused("body", "missing_field", "body wasn't supplied")
    if len(body) > 65536:
        raise FieldRefused("body", "invalid", "body is too long (maximum is 65536 characters)")
    return body

"""GitHub issue JSON <-> Concord's canonical records and field specs.

Record ids are "owner/repo#number", GitHub's own way of naming an issue across repositories
(`ISSUE_ID`). They are stable as long as the repository keeps its name; a renamed or
transferred repository's issues come back under new ids (GitHub redirects the old name).

| field         | FieldType   | canonical value                    | written as                  |
| ------------- | ----------- | ---------------------------------- | --------------------------- |
| title         | STRING      | str                                | `title`                     |
| body          | TEXT        | the Markdown source, as GitHub has it | `body`                   |
| state         | ENUM        | "open" / "closed"                  | `state`                     |
| state_reason  | ENUM        | completed, not_planned, duplicate, reopened or None | with `state` |
| labels        | MULTI_ENUM  | label names (the repositories')    | `labels` (replaces the set) |
| assignees     | MULTI_ENUM  | logins of assignable users         | `assignees` (replaces)      |
| assignee      | USER        | the first assignee's login         | `assignees: [login]`        |
| milestone     | ENUM        | the milestone's title              | `milestone`: its number     |
| type          | ENUM        | the issue type's name (organizations' custom types) | `type`     |
| repository    | ENUM        | "owner/repo" (on create: where)    | chooses the repository      |
| number, url, author, created_at, updated_at, closed_at | read-only |  |                   |

GitHub shows users by login; their email addresses are private unless a user publishes
one, so USER values are logins (a sync with a system that keys users by email maps them
with a value map).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.base import JSON, Comment, FieldOption, FieldSpec, FieldType, Record
from connectors.errors import RecordError
from connectors.richtext import mentions_inert, mentions_restored

ISSUE_ID = re.compile(r"^(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)#(?P<number>[1-9][0-9]*)$")
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
STATES = ("open", "closed")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")
READ_ONLY = ("number", "url", "author", "created_at", "updated_at", "closed_at")


def issue_id(repo: str, number: int) -> str:
    return f"{repo}#{number}"


def split_id(record_id: str) -> tuple[str, int] | None:
    """(repo, number) of an "owner/repo#number" id, or None when it is not one."""
    found = ISSUE_ID.match(record_id.strip())
    if found is None:
        return None
    return found.group("repo"), int(found.group("number"))


def _options(values: Iterable[str]) -> tuple[FieldOption, ...]:
    return tuple(FieldOption(v, v) for v in dict.fromkeys(values))


def build_fields(
    *,
    repositories: Sequence[str],
    labels: Iterable[str],
    assignees: Iterable[str],
    milestones: Iterable[str],
    issue_types: Iterable[str] | None,
) -> list[FieldSpec]:
    """Field specs for the issues of `repositories`; options are the union over them.

    `issue_types` is None when no repository has issue types (personal repositories):
    the `type` field is then left out.
    """
    specs = [
        FieldSpec("title", "Title", FieldType.STRING, required=True),
        FieldSpec("body", "Body", FieldType.TEXT),
        FieldSpec("state", "State", FieldType.ENUM, options=_options(STATES)),
        FieldSpec("state_reason", "State reason", FieldType.ENUM, options=_options(STATE_REASONS)),
        FieldSpec("labels", "Labels", FieldType.MULTI_ENUM, options=_options(labels)),
        FieldSpec("assignees", "Assignees", FieldType.MULTI_ENUM, options=_options(assignees)),
        FieldSpec("assignee", "Assignee", FieldType.USER),
        FieldSpec("milestone", "Milestone", FieldType.ENUM, options=_options(milestones)),
    ]
    if issue_types is not None:
        specs.append(
            FieldSpec(
                "type", "Issue type", FieldType.ENUM, options=_options(issue_types), custom=True
            )
        )
    specs += [
        FieldSpec("repository", "Repository", FieldType.ENUM, options=_options(repositories)),
        FieldSpec("number", "Number", FieldType.INTEGER, writable=False),
        FieldSpec("url", "URL", FieldType.STRING, writable=False),
        FieldSpec("author", "Author", FieldType.USER, writable=False),
        FieldSpec("created_at", "Created", FieldType.DATETIME, writable=False),
        FieldSpec("updated_at", "Updated", FieldType.DATETIME, writable=False),
        FieldSpec("closed_at", "Closed", FieldType.DATETIME, writable=False),
    ]
    return specs


def parse_datetime(value: str) -> datetime:
    """GitHub's "2011-04-22T13:33:48Z" as an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """An aware datetime as GitHub writes and reads it: "2011-04-22T13:33:48Z"."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canonical_datetime(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    return parse_datetime(raw).isoformat(timespec="seconds")


def _login(user: Any) -> str | None:
    return (
        user.get("login") if isinstance(user, dict) and isinstance(user.get("login"), str) else None
    )


def is_pull_request(item: Mapping[str, Any]) -> bool:
    """The issues endpoints list pull requests too; they carry a `pull_request` object."""
    return item.get("pull_request") is not None


def issue_to_record(issue: Mapping[str, Any], repo: str) -> Record:
    """A canonical Record from an issue of `repo` (the configured spelling of its name)."""
    labels = [
        label.get("name") if isinstance(label, dict) else label
        for label in issue.get("labels") or []
    ]
    assignees = [login for login in map(_login, issue.get("assignees") or []) if login]
    milestone = issue.get("milestone")
    issue_type = issue.get("type")
    updated = issue.get("updated_at")
    values: dict[str, JSON] = {
        "title": issue.get("title"),
        "body": issue.get("body"),
        "state": issue.get("state"),
        "state_reason": issue.get("state_reason"),
        "labels": sorted(str(name) for name in labels if name),
        "assignees": assignees,
        "assignee": assignees[0] if assignees else None,
        "milestone": milestone.get("title") if isinstance(milestone, dict) else None,
        "type": issue_type.get("name") if isinstance(issue_type, dict) else None,
        "repository": repo,
        "number": issue.get("number"),
        "url": issue.get("html_url"),
        "author": _login(issue.get("user")),
        "created_at": _canonical_datetime(issue.get("created_at")),
        "updated_at": _canonical_datetime(updated),
        "closed_at": _canonical_datetime(issue.get("closed_at")),
    }
    return Record(
        id=issue_id(repo, int(issue["number"])),
        fields=values,
        modified_at=parse_datetime(updated) if isinstance(updated, str) else None,
        version=version_of(values, comments=issue.get("comments")),
    )


def version_of(values: Mapping[str, JSON], *, comments: JSON = None) -> str:
    """The issue's `updated_at` with a digest of its values and its comment count.

    GitHub's timestamps have one-second resolution: two changes within a second share an
    `updated_at`, so the time alone cannot tell a new change from one already read. A
    comment added in the second the issue was last read changes no value but the count.
    """
    digest = hashlib.blake2b(
        json.dumps([dict(values), comments], sort_keys=True, default=str).encode(),
        digest_size=8,
    ).hexdigest()
    return f"{values.get('updated_at')}|{digest}"


# -- comments ------------------------------------------------------------------------------


def comment_from(data: Mapping[str, Any]) -> Comment:
    """A canonical Comment from an issue comment (GitHub's `issue-comment`).

    GitHub stores what was typed, Markdown with the web editor's CRLF line endings; the
    zero-width spaces comment_body put after mentions' @ are taken out again. The author is
    the login (GitHub keeps users' email addresses private).
    """
    body = data.get("body")
    text = mentions_restored(body.replace("\r\n", "\n")) if isinstance(body, str) else ""
    created, updated = data.get("created_at"), data.get("updated_at")
    return Comment(
        id=str(data.get("id", "")),
        body=text.strip("\n"),
        author_name=_login(data.get("user")) or "",
        created_at=parse_datetime(created) if isinstance(created, str) else None,
        updated_at=parse_datetime(updated) if isinstance(updated, str) else None,
        raw=body,
    )


def comment_body(canonical: str) -> str:
    """GitHub Markdown for a canonical comment: the same Markdown, with mentions made inert
    (richtext.mentions_inert), so that "@Bo" copied from another system notifies no GitHub
    user called Bo."""
    return mentions_inert(canonical)


# -- writing -------------------------------------------------------------------------------

MilestoneResolver = Callable[[str, str], int]  # (repo, title) -> number; ValueError if none


def encode_fields(
    values: Mapping[str, JSON],
    specs: Mapping[str, FieldSpec],
    *,
    repo: str,
    milestone_number: MilestoneResolver,
    record_id: str | None = None,
) -> dict[str, Any]:
    """The JSON body of an issues/create or issues/update call for `repo`.

    `repository` must be taken out by the caller (it chooses the repository). Raises
    RecordError naming the field for an unknown or read-only field, a value of the wrong
    shape, or a milestone title the repository does not have.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            raise RecordError(
                f"unknown field {name!r}", record_id=record_id, fields={name: "unknown field"}
            )
        if not spec.writable:
            raise RecordError(
                f"field {name!r} is read-only in GitHub",
                record_id=record_id,
                fields={name: "read-only"},
            )
        try:
            _encode(out, name, value, repo, milestone_number)
        except (TypeError, ValueError) as exc:
            raise RecordError(
                f"field {name!r}: {exc}", record_id=record_id, fields={name: str(exc)}
            ) from None
    if "assignee" in values and "assignees" in values:
        # Both mapped: the list is the fuller statement of who is assigned.
        out["assignees"] = _as_list(values["assignees"])
    return out


def _encode(
    out: dict[str, Any], name: str, value: JSON, repo: str, milestone_number: MilestoneResolver
) -> None:
    if name in ("title", "body"):
        if value is not None and not isinstance(value, str):
            raise TypeError("expected text")
        if name == "title" and not (value or "").strip():
            raise ValueError("an issue needs a title")
        out[name] = value if name == "title" else (value or "")
    elif name == "state":
        if value not in STATES:
            raise ValueError(f"must be one of {', '.join(STATES)}")
        out["state"] = value
    elif name == "state_reason":
        if value is not None and value not in STATE_REASONS:
            raise ValueError(f"must be one of {', '.join(STATE_REASONS)}")
        out["state_reason"] = value
    elif name in ("labels", "assignees"):
        out[name] = _as_list(value)
    elif name == "assignee":
        out["assignees"] = [] if value in (None, "") else [_as_str(value)]
    elif name == "milestone":
        out["milestone"] = None if value in (None, "") else milestone_number(repo, _as_str(value))
    elif name == "type":
        out["type"] = None if value in (None, "") else _as_str(value)
    else:
        raise ValueError("cannot be written")


def _as_str(value: JSON) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError("expected text")
    return str(value)


def _as_list(value: JSON) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return [_as_str(v) for v in value]

"""Jira's JSON for the sandbox's objects ("beans" in Atlassian's description): issues with
their fields, users, statuses, options, comments, changelogs, field metadata.

Every link (`self`, avatars, `nextPage`) starts with the site as the request reached the
sandbox ("http://127.0.0.1:8100/jira"), and times are in the account's time zone, as Jira
writes them ("2025-11-03T09:15:02.417+1100").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from connectors.jira.sandbox.schema import (
    CUSTOM_FIELDS,
    CUSTOM_PLUGIN,
    DEFAULT_PRIORITY,
    ISSUE_TYPES,
    PRIORITIES,
    PROJECT,
    REQUIRED,
    STATUSES,
    SYSTEM_FIELDS,
    issue_key,
)
from connectors.sandbox.records import Row

if TYPE_CHECKING:
    from connectors.jira.sandbox.state import JiraState

EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
SPRINT = "customfield_10020"  # on the site, not on this project's screens


def all_field_ids() -> list[str]:
    return [*SYSTEM_FIELDS, *(f for f in CUSTOM_FIELDS if f != SPRINT)]


def select_fields(requested: list[str] | None, default: str) -> list[str]:
    """Field ids from a `fields` parameter ("*all", "*navigable", "-description"...);
    [] means ids only."""
    items = [r.strip() for r in (requested or [default]) if r.strip()] or [default]
    every = all_field_ids()
    chosen: list[str] = []
    include_all = False
    for item in items:
        if item in ("*all", "*navigable"):
            include_all = True
        elif item.startswith("-"):
            continue
        elif item in every and item not in chosen:
            chosen.append(item)
    if include_all:
        chosen = every
    excluded = {i[1:] for i in items if i.startswith("-")}
    if excluded and not include_all and not chosen:
        chosen = every  # "-description" alone: navigable fields except description
    return [c for c in chosen if c not in excluded]


class Beans:
    """Renders for one request: `site` is the base of every link."""

    def __init__(self, state: JiraState, site: str) -> None:
        self.state = state
        self.site = site

    def time(self, epoch: float, *, rfc3339: bool = False) -> str:
        """A time as Jira writes it, in the account's zone; `rfc3339` puts a colon in the
        offset (the spec's `date-time` format, used where the schema demands it)."""
        moment = datetime.fromtimestamp(epoch, UTC).astimezone(ZoneInfo(self.state.time_zone))
        offset = moment.strftime("%z")
        if rfc3339:
            offset = offset[:3] + ":" + offset[3:]
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{offset}"

    # -- users, statuses, types, options ---------------------------------------------------

    def user(self, account_id: str | None) -> dict[str, Any] | None:
        found = self.state.user(account_id) if account_id else None
        return self.user_bean(found) if found else None

    def user_bean(self, user: Mapping[str, Any]) -> dict[str, Any]:
        avatar = f"{self.site}/secure/useravatar?ownerId={user['accountId']}"
        return {
            "self": f"{self.site}/rest/api/3/user?accountId={user['accountId']}",
            "accountId": user["accountId"],
            "accountType": "atlassian",
            "emailAddress": user["emailAddress"],
            "displayName": user["displayName"],
            "active": True,
            "timeZone": user["timeZone"],
            "avatarUrls": {s: f"{avatar}&size={s}" for s in ("16x16", "24x24", "32x32", "48x48")},
        }

    def status(self, status_id: str) -> dict[str, Any]:
        status = STATUSES[status_id]
        cat_id, cat_key, colour, cat_name = status["category"]
        return {
            "self": f"{self.site}/rest/api/3/status/{status_id}",
            "description": "",
            "iconUrl": f"{self.site}/images/icons/statuses/generic.png",
            "name": status["name"],
            "id": status_id,
            "statusCategory": {
                "self": f"{self.site}/rest/api/3/statuscategory/{cat_id}",
                "id": cat_id,
                "key": cat_key,
                "colorName": colour,
                "name": cat_name,
            },
        }

    def issue_type(self, type_id: str) -> dict[str, Any]:
        return {
            "self": f"{self.site}/rest/api/3/issuetype/{type_id}",
            "id": type_id,
            "description": ISSUE_TYPES[type_id]["description"],
            "iconUrl": f"{self.site}/images/icons/issuetypes/{type_id}.svg",
            "name": ISSUE_TYPES[type_id]["name"],
            "subtask": False,
            "hierarchyLevel": 0,
        }

    def priority(self, priority_id: str) -> dict[str, Any]:
        name = PRIORITIES[priority_id]
        return {
            "self": f"{self.site}/rest/api/3/priority/{priority_id}",
            "iconUrl": f"{self.site}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": priority_id,
        }

    def project(self) -> dict[str, Any]:
        return {
            "self": f"{self.site}/rest/api/3/project/{PROJECT['id']}",
            "id": PROJECT["id"],
            "key": PROJECT["key"],
            "name": PROJECT["name"],
            "projectTypeKey": PROJECT["projectTypeKey"],
            "simplified": False,
        }

    def option(self, field_id: str, option_id: str) -> dict[str, Any]:
        return {
            "self": f"{self.site}/rest/api/3/customFieldOption/{option_id}",
            "value": CUSTOM_FIELDS[field_id][3][option_id],
            "id": option_id,
        }

    # -- issues ----------------------------------------------------------------------------

    def field_value(self, row: Row, field_id: str) -> Any:
        if field_id == "project":
            return self.project()
        if field_id == "created":
            return self.time(row.created)
        if field_id == "updated":
            return self.time(row.modified)
        value = row.data["fields"].get(field_id)
        if field_id == "status":
            return self.status(value)
        if field_id == "issuetype":
            return self.issue_type(value)
        if field_id == "priority":
            return self.priority(value) if value else None
        if field_id in ("assignee", "reporter"):
            return self.user(value)
        if field_id == "comment":
            comments = [self.comment(row, c) for c in row.data["comments"]]
            total = len(comments)
            return {"comments": comments, "maxResults": total, "total": total, "startAt": 0}
        if field_id == "labels":
            return list(value or [])
        if field_id == "customfield_10011":
            return self.option(field_id, value) if value else None
        if field_id == "customfield_10014":
            return [self.option(field_id, v) for v in value] if value else None
        return value

    def issue(self, row: Row, wanted: Iterable[str] | None = None) -> dict[str, Any]:
        """An IssueBean with the requested fields (None: every field)."""
        names = all_field_ids() if wanted is None else list(wanted)
        return {
            "expand": EXPAND,
            "id": str(row.id),
            "self": f"{self.site}/rest/api/3/issue/{row.id}",
            "key": issue_key(row.data["number"]),
            "fields": {name: self.field_value(row, name) for name in names},
        }

    def issue_out(self, row: Row, fields: list[str], keys: bool) -> dict[str, Any]:
        """A search or bulk-fetch result: the bean, or only the id (and key) without fields."""
        if not fields:
            out = {"id": str(row.id)}
            if keys:
                out["key"] = issue_key(row.data["number"])
            return out
        return self.issue(row, fields)

    def created(self, row: Row) -> dict[str, Any]:
        return {
            "id": str(row.id),
            "key": issue_key(row.data["number"]),
            "self": f"{self.site}/rest/api/3/issue/{row.id}",
        }

    def comment(self, row: Row, comment: Mapping[str, Any]) -> dict[str, Any]:
        author = self.user(comment["author"])
        return {
            "self": f"{self.site}/rest/api/3/issue/{row.id}/comment/{comment['id']}",
            "id": comment["id"],
            "author": author,
            "body": comment["body"],
            "updateAuthor": self.user(comment.get("update_author", comment["author"])),
            # The spec types these `date-time` (RFC 3339, "+11:00"); its own examples and
            # issue fields use "+1100". The sandbox follows the schema here.
            "created": self.time(comment["created"], rfc3339=True),
            "updated": self.time(comment["updated"], rfc3339=True),
            "jsdPublic": True,
            **({"visibility": comment["visibility"]} if comment.get("visibility") else {}),
        }

    def changelog(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """A Changelog. Unset from/to values are left out: the spec types them as strings."""
        return {
            "id": entry["id"],
            "author": self.user(entry["author"]),
            "created": self.time(entry["created"], rfc3339=True),
            "items": [{k: v for k, v in item.items() if v is not None} for item in entry["items"]],
        }

    # -- fields ----------------------------------------------------------------------------

    def field_details(self, field_id: str) -> dict[str, Any]:
        """A field as GET /field and /field/search list it."""
        if field_id in SYSTEM_FIELDS:
            name, schema = SYSTEM_FIELDS[field_id]
            return {
                "id": field_id,
                "key": field_id,
                "name": name,
                "custom": False,
                "orderable": field_id not in ("created", "updated", "status"),
                "navigable": True,
                "searchable": True,
                "clauseNames": [field_id],
                "schema": {**schema, "system": field_id},
            }
        name, custom_type, schema, _ = CUSTOM_FIELDS[field_id]
        number = int(field_id.removeprefix("customfield_"))
        plugin = (
            "com.pyxis.greenhopper.jira:gh-sprint"
            if custom_type == "gh-sprint"
            else CUSTOM_PLUGIN + custom_type
        )
        return {
            "id": field_id,
            "key": field_id,
            "name": name,
            "custom": True,
            "orderable": True,
            "navigable": True,
            "searchable": True,
            "clauseNames": [f"cf[{number}]", name],
            "schema": {**schema, "custom": plugin, "customId": number},
        }

    def field(self, field_id: str) -> dict[str, Any]:
        """A field as the paged /field/search lists it (the spec's `Field`, shorter)."""
        details = self.field_details(field_id)
        out = {k: details[k] for k in ("id", "key", "name", "schema")}
        out.update(description="", isLocked=False)
        return out

    def field_metadata(self, type_id: str, field_id: str, *, create: bool) -> dict[str, Any]:
        """A field of a screen: the create screen (with `fieldId`) or the edit screen."""
        if field_id in SYSTEM_FIELDS:
            name, schema = SYSTEM_FIELDS[field_id]
            schema = {**schema, "system": field_id}
        else:
            name, custom_type, schema, _ = CUSTOM_FIELDS[field_id]
            schema = {
                **schema,
                "custom": CUSTOM_PLUGIN + custom_type,
                "customId": int(field_id.removeprefix("customfield_")),
            }
        item: dict[str, Any] = {"fieldId": field_id} if create else {}
        item.update(
            {
                "key": field_id,
                "name": name,
                "required": field_id in REQUIRED[type_id],
                "hasDefaultValue": field_id in ("priority", "reporter"),
                "operations": ["add", "set", "remove"] if field_id == "labels" else ["set"],
                "schema": schema,
            }
        )
        if field_id == "priority":
            item["allowedValues"] = [self.priority(p) for p in PRIORITIES]
            item["defaultValue"] = self.priority(DEFAULT_PRIORITY)
        elif field_id == "issuetype":
            allowed = [type_id] if create else list(ISSUE_TYPES)
            item["allowedValues"] = [self.issue_type(t) for t in allowed]
        elif field_id == "project":
            item["allowedValues"] = [self.project()]
        elif field_id in ("assignee", "reporter"):
            item["autoCompleteUrl"] = f"{self.site}/rest/api/3/user/search?query="
        elif field_id in CUSTOM_FIELDS and CUSTOM_FIELDS[field_id][3]:
            options = CUSTOM_FIELDS[field_id][3]
            item["allowedValues"] = [self.option(field_id, o) for o in options]
        return item

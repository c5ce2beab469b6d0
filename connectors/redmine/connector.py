"""Redmine: the issues of one project, over the REST API, by polling (Redmine has no
webhooks).

Objects: `issues` of `project` (its identifier; subprojects' issues are left out). Record
ids are Redmine's issue ids.

- Fields: the standard ones (subject, description, tracker, status, priority, assignee,
  and read-only project, created_on, updated_on) and the issue custom fields as `cf_<id>`.
  Custom field definitions (format, possible values) come from GET /custom_fields.json,
  which only administrators may read; for other users they come from what the project's
  issues carry (names, ids, `multiple`), read and written as text. See mappers.
- Changes: GET /issues.json?project_id=..&status_id=*&sort=updated_on,id (oldest first;
  without `status_id=*` Redmine lists open issues only) with `updated_on=>=T`. Redmine's
  filter has one-second resolution and `>=T` means "after T minus one second", so a query
  re-reads up to a second (more: `overlap_seconds`) before the newest change seen; the
  cursor keeps the `updated_on` of each issue read in that window and an issue comes back
  only with a newer one or with other values (deduplication on (id, updated_on, values): a
  change in the same second as the read of the version before it keeps its `updated_on`).
  Offset paging is unstable while issues change (an issue updated meanwhile moves to the
  end and shifts the rest forward), so offsets are used only among issues of one second:
  each following page is a new query from the last page's newest `updated_on`. An issue
  changed during a read is read again at its new place. Deletions never appear: `list_ids`
  serves reconciliation. A note changes no value and may keep `updated_on` when added in
  the second the issue was read: an issue whose `updated_on` is the second of the server's
  clock when it was listed (the answer's Date header) is remembered with its newest
  journal's id, and delivered again when a journal newer than that shows up (`_seen`).
- Comments are the journals with notes (GET /issues/{id}.json?include=journals), written as
  new notes by PUT /issues/{id}.json {"notes", "private_notes"} and edited by PUT
  /journals/{id}.json (blank notes delete a journal), in the server's text formatting
  (`text_formatting`: Textile or Markdown; connectors.redmine.textile). Private notes are
  internal comments: read only by users allowed to view them, and written only when the
  user's role may set notes private (checked first: Redmine would otherwise store the note
  as a public one without a word). Editing or deleting needs the "Edit notes" permission
  (administrators and the default Manager role; not the default Developer role): without
  it Redmine answers 403, reported as that comment's error. A note's edit or deletion does
  not touch the issue's `updated_on` and Redmine has no webhooks: it is seen the next time
  the issue changes. Journals carry no edit time; a comment's `updated_at` is its creation.
- Writes: POST /issues.json per issue (201 with the issue), PUT /issues/{id}.json (204 with
  no body: the issue is read again for its new values and `updated_on`), DELETE (404 when
  already gone counts as deleted). Redmine ignores, without an error, a status the workflow
  does not allow this user (or that does not exist), a tracker not enabled for the project
  and a custom field not enabled for the issue: after every write the connector compares
  what it asked for with what Redmine stored and reports the difference as that record's
  error (with the stored record). 422 refusals are per-record errors with Redmine's words.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from connectors.answers import items as answer_items
from connectors.answers import need
from connectors.base import (
    JSON,
    ChangePage,
    Comment,
    CommentSupport,
    Connector,
    ConnectorConfig,
    Cursor,
    FieldSpec,
    NewComment,
    ObjectType,
    Record,
    RecordUpdate,
    WebhookRequest,
    WebhookResult,
    WriteResult,
    http_base_url,
)
from connectors.errors import (
    ConfigurationError,
    NotFound,
    PermissionDenied,
    RecordError,
    UnexpectedAnswer,
    WebhookVerificationError,
)
from connectors.redmine import mappers, textile
from connectors.redmine.client import ISSUES_CALL, PAGE_MAX, SYSTEM, RedmineClient
from connectors.redmine.mappers import CustomField, Names
from connectors.richtext import mentions_inert, mentions_restored

OBJECT_TYPE = "issues"
# Issues whose custom fields show which custom fields exist, for users who may not read the
# definitions (GET /custom_fields.json is admin-only).
SAMPLE_SIZE = 25
JOURNALS_CALL = "GET /issues/{id}.json"


class RedmineConfig(ConnectorConfig):
    """A Redmine server, a user's API key and the project whose issues sync."""

    base_url: str = Field(
        title="Redmine URL",
        description="The address of the Redmine server, like https://redmine.example.com",
    )
    api_key: SecretStr = Field(
        title="API key",
        description=(
            "The API access key of the user Concord acts as (My account, API access key; an "
            "administrator enables the REST API in Administration, Settings, API)"
        ),
    )
    project: str = Field(
        title="Project identifier",
        description="The identifier of the project whose issues sync, as in /projects/<identifier>",
    )
    tracker: str = Field(
        default="",
        title="Tracker",
        description="The tracker of created issues that name none (empty: the project's first)",
    )
    text_formatting: Literal["textile", "markdown"] = Field(
        default="textile",
        title="Text formatting",
        description=(
            "As the server's Administration, Settings, General, Text formatting says (its API "
            "does not tell): textile, Redmine's default, or markdown for Markdown and "
            "CommonMark Markdown. Comments are written in it."
        ),
    )

    @field_validator("base_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        return http_base_url(
            value, "must be the server's address, like https://redmine.example.com"
        )

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        value = value.strip()
        if not value or "/" in value or "?" in value:
            raise ValueError("must be a project identifier, like sync-test")
        return value


class RedmineConnector(Connector):
    kind = "redmine"
    label = "Redmine"
    config_class = RedmineConfig
    object_types_offered = (
        ObjectType(
            OBJECT_TYPE,
            "Issues",
            webhooks=False,
            deletes_in_feed=False,
            # Journals with notes; private notes are internal. Editing and deleting need the
            # user's "Edit notes" permission (see the module docstring).
            comments=CommentSupport(edit=True, delete=True, internal=True),
        ),
    )
    config: RedmineConfig
    page_size = PAGE_MAX  # issues per page (Redmine caps it at 100)
    # How far before the newest change seen the next read starts. Redmine's filter has
    # one-second resolution; a save stamped a moment before another but committed after it
    # is still read if it commits within this window.
    overlap_seconds = 2.0

    def __init__(self, config: ConnectorConfig, **options: Any) -> None:
        super().__init__(config, **options)
        assert isinstance(config, RedmineConfig)
        self.client = RedmineClient(
            base_url=config.base_url,
            api_key=config.api_key.get_secret_value(),
            rate_limiter=self.rate_limiter,
            budget_key=self.budget_key,
            on_call=self.on_call,
            address_policy=self.address_policy,
        )
        self._project: dict[str, Any] | None = None
        self._names: Names | None = None
        self._specs: list[FieldSpec] | None = None
        self._custom: dict[int, CustomField] | None = None
        self._users: dict[int, JSON] = {}  # user id -> canonical value (email or id)
        self._user_ids: dict[str, int] = {}  # casefolded email -> user id
        self._me: dict[str, Any] | None = None  # the key's user, with memberships
        self._permissions: frozenset[str] | None = None  # theirs in the project

    def close(self) -> None:
        self.client.close()

    def record_url(
        self, object_type: str, record_id: str, known: Mapping[str, Any] | None = None
    ) -> str | None:
        """The issue's page, {server}/issues/{id}."""
        if object_type != OBJECT_TYPE or not str(record_id).isdigit():
            return None
        return f"{self.config.base_url}/issues/{record_id}"

    # -- discovery -------------------------------------------------------------------------

    def check(self) -> None:
        """Authenticate (/users/current.json) and make sure the project is visible."""
        self.client.current_user()
        self._project = None
        self._project_info()

    def _project_info(self) -> dict[str, Any]:
        if self._project is None:
            try:
                self._project = self.client.project(self.config.project)
            except (NotFound, PermissionDenied) as exc:
                raise ConfigurationError(
                    f"project {self.config.project!r} does not exist, is archived or closed, "
                    "or this user is not a member of it",
                    system=SYSTEM,
                    call=exc.call,
                    status=exc.status,
                ) from None
            need(self._project, "id", int, system=SYSTEM, call="GET /projects/{id}.json")
        return self._project

    def object_types(self) -> list[ObjectType]:
        return list(self.object_types_offered)

    def fields(self, object_type: str) -> list[FieldSpec]:
        self._check_type(object_type)
        self._schema()
        assert self._specs is not None
        return list(self._specs)

    def _schema(self) -> tuple[Names, dict[int, CustomField]]:
        if self._names is None or self._custom is None:
            project = self._project_info()
            enabled = [t for t in project.get("trackers") or [] if isinstance(t, dict)]
            trackers = enabled or self.client.trackers()
            statuses = self.client.statuses()
            priorities = [p for p in self.client.priorities() if p.get("active", True)]
            self._names = Names(
                tracker={str(t["name"]).casefold(): int(t["id"]) for t in trackers},
                status={str(s["name"]).casefold(): int(s["id"]) for s in statuses},
                priority={str(p["name"]).casefold(): int(p["id"]) for p in priorities},
            )
            self._custom = self._discover_custom_fields(project)
            self._specs = mappers.standard_specs(
                [str(t["name"]) for t in trackers],
                [str(s["name"]) for s in statuses],
                [str(p["name"]) for p in priorities],
            ) + [cf.spec() for cf in self._custom.values()]
        return self._names, self._custom

    def _discover_custom_fields(self, project: dict[str, Any]) -> dict[int, CustomField]:
        """Issue custom fields: definitions where the user may read them (administrators),
        else the project's list and the custom fields its latest issues carry."""
        found: dict[int, CustomField] = {}
        definitions = self.client.custom_fields()
        if definitions is not None:
            for item in definitions:
                if item.get("customized_type") != "issue":
                    continue
                options = tuple(
                    str(v.get("value"))
                    for v in item.get("possible_values") or []
                    if isinstance(v, dict)
                )
                found[int(item["id"])] = CustomField(
                    int(item["id"]),
                    str(item.get("name", "")),
                    str(item.get("field_format") or "string"),
                    bool(item.get("multiple")),
                    bool(item.get("is_required")),
                    options,
                )
            return found
        for item in project.get("issue_custom_fields") or []:
            if isinstance(item, dict) and isinstance(item.get("id"), int):
                found[item["id"]] = CustomField(item["id"], str(item.get("name", "")), None)
        sample = self.client.issues(
            {**self._scope(), "sort": "updated_on:desc", "limit": SAMPLE_SIZE}
        )
        for issue in answer_items(sample, "issues", system=SYSTEM, call=ISSUES_CALL):
            for item in issue.get("custom_fields") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), int):
                    found[item["id"]] = CustomField(
                        item["id"], str(item.get("name", "")), None, bool(item.get("multiple"))
                    )
        return found

    def _check_type(self, object_type: str) -> None:
        if object_type != OBJECT_TYPE:
            raise ConfigurationError(f"Redmine has no object type {object_type!r}", system=SYSTEM)

    def _scope(self) -> dict[str, Any]:
        """The listing's filters for this project's issues, open and closed."""
        return {
            "project_id": self._project_info()["id"],
            "subproject_id": "!*",
            "status_id": "*",
        }

    # -- reading ---------------------------------------------------------------------------

    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        """Issues updated after the cursor, oldest first (see the module docstring).

        The cursor is {"since": the newest `updated_on` read, "recent": {issue id: its
        `updated_on` and a digest of its values} for the issues read in the overlap window
        before it}.
        Raises ConfigurationError for a cursor this connector did not make.
        """
        self._check_type(object_type)
        _, custom = self._schema()
        high, recent = _parse_cursor(cursor)
        window = self._window_start(high)
        start = window  # the `updated_on >=` of the current query (None: everything)
        offset = 0
        guard = self.page_guard(ISSUES_CALL, system=SYSTEM)
        while True:
            params: dict[str, Any] = {
                **self._scope(),
                "sort": "updated_on,id",
                "limit": min(self.page_size, PAGE_MAX),
                "offset": offset,
            }
            if start is not None:
                params["updated_on"] = f">={mappers.iso(start)}"
            page = self.client.issues(params)
            listed_at = self.client.listed_at
            issues = answer_items(page, "issues", system=SYSTEM, call=ISSUES_CALL)
            limit = need(page, "limit", int, system=SYSTEM, call=ISSUES_CALL, optional=True)
            records = []
            newest: datetime | None = None
            for issue in issues:
                record = mappers.issue_to_record(issue, custom, self._user_value)
                stamp = record.modified_at
                if stamp is None:
                    continue
                newest = stamp if newest is None or stamp > newest else newest
                if window is not None and stamp < window:
                    continue  # before the overlap: read by an earlier call
                seen = self._seen(record, recent.get(record.id), listed_at)
                if seen is None:
                    continue  # this version was delivered already
                records.append(record)
                recent[record.id] = seen
                if high is None or stamp > high:
                    high = stamp
            last = not issues or len(issues) < (limit or min(self.page_size, PAGE_MAX))
            if not last:
                assert newest is not None
                if start is not None and newest <= start:
                    offset += len(issues)  # a whole page within one second: page on
                else:
                    start, offset = newest, 0  # re-query from the newest second read
            position = None if last else [mappers.iso(start) if start else None, offset]
            guard.page(len(records), position)
            yield ChangePage(records=records, cursor=self._cursor(high, recent), has_more=not last)
            if last:
                return

    def _seen(self, record: Record, known: str | None, listed_at: datetime | None) -> str | None:
        """What the cursor remembers of `record` once delivered, or None when that version
        was delivered already.

        A note changes no value and, added in the second the issue was listed, no
        `updated_on` either. So an issue stamped in the second of its listing (by the
        server's Date header) is remembered with its last journal's id, and while it stays
        in the overlap window a new journal is looked for each time it comes up unchanged.
        """
        seen = _seen_key(record)
        stamp = record.modified_at
        fresh = (
            listed_at is not None
            and stamp is not None
            and stamp >= listed_at.replace(microsecond=0)
        )
        if known is not None and known.split(" j", 1)[0] == seen:
            if " j" not in known:
                return None
            mark = self._last_journal(record.id)
            if f"{seen} j{mark}" == known:
                return None
            return f"{seen} j{mark}" if fresh else seen
        return f"{seen} j{self._last_journal(record.id)}" if fresh else seen

    def _last_journal(self, issue_id: str) -> int:
        """The id of the issue's newest journal (0: none, or the issue is gone)."""
        try:
            journals = self.client.journals(issue_id)
        except RecordError:
            return 0
        return max((j["id"] for j in journals if isinstance(j.get("id"), int)), default=0)

    def _window_start(self, high: datetime | None) -> datetime | None:
        if high is None:
            return None
        return (high - timedelta(seconds=self.overlap_seconds)).replace(microsecond=0)

    def _cursor(self, high: datetime | None, recent: dict[str, str]) -> Cursor:
        if high is None:
            return {}
        window = self._window_start(high)
        assert window is not None
        floor = mappers.iso(window)
        # Redmine's timestamps are UTC with whole seconds: as text they compare as instants.
        kept = {k: v for k, v in recent.items() if v >= floor}
        return {"since": mappers.iso(high), "recent": dict(sorted(kept.items()))}

    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        self._check_type(object_type)
        return self._fetch([str(i) for i in ids])

    def _fetch(self, ids: list[str]) -> list[Record]:
        """This project's issues with these ids, in input order; missing ones left out."""
        _, custom = self._schema()
        wanted = [i for i in dict.fromkeys(ids) if i.isdigit()]
        found: dict[str, Record] = {}
        for start in range(0, len(wanted), PAGE_MAX):
            chunk = wanted[start : start + PAGE_MAX]
            page = self.client.issues(
                {**self._scope(), "issue_id": ",".join(chunk), "limit": PAGE_MAX}
            )
            for issue in answer_items(page, "issues", system=SYSTEM, call=ISSUES_CALL):
                record = mappers.issue_to_record(issue, custom, self._user_value)
                found[record.id] = record
        return [found[i] for i in wanted if i in found]

    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        """Issues whose `field` equals one of `values`.

        Ids are read directly; subject, tracker, status, priority, assignee and custom
        fields are narrowed by Redmine's filters (a custom field only if it is marked "used
        as a filter"; otherwise Redmine ignores the filter), every other field by reading
        the project's issues. Matches are always compared exactly here.
        """
        self._check_type(object_type)
        wanted = [v for v in values if v is not None]
        if not wanted:
            return []
        if field == "id":
            return self._fetch([str(v) for v in wanted])
        names, custom = self._schema()
        by_key = {cf.key: cf for cf in custom.values()}
        if field not in {s.name for s in self.fields(object_type)}:
            raise ConfigurationError(f"Redmine issues have no field {field!r}", system=SYSTEM)
        out: dict[str, Record] = {}
        for value in wanted:
            narrowed = self._find_filter(field, value, names, by_key)
            if narrowed is False:
                continue  # no issue can have this value (an unknown status name...)
            for record in self._listing(narrowed or {}):
                if _matches(record.fields.get(field), value):
                    out.setdefault(record.id, record)
        return list(out.values())

    def _find_filter(
        self, field: str, value: JSON, names: Names, by_key: Mapping[str, CustomField]
    ) -> dict[str, str] | bool | None:
        """The listing filter narrowing to `value`; None to read everything; False when
        no issue can match."""
        if field == "subject":
            return {"subject": f"~{value}"}
        if field in mappers.ENUMS:
            table: Mapping[str, int] = getattr(names, field)
            found = table.get(str(value).casefold())
            return False if found is None else {f"{field}_id": str(found)}
        if field in by_key and not isinstance(value, list | bool):
            return {field: f"={value}"}
        return None

    def _listing(self, filters: dict[str, str]) -> Iterator[Record]:
        """Every issue of the project passing `filters`, by id (keyset: `issue_id>=`)."""
        _, custom = self._schema()
        after = 0
        guard = self.page_guard(ISSUES_CALL, system=SYSTEM)
        while True:
            page = self.client.issues(
                {
                    **self._scope(),
                    **filters,
                    "issue_id": f">={after + 1}",
                    "sort": "id",
                    "limit": PAGE_MAX,
                }
            )
            issues = answer_items(page, "issues", system=SYSTEM, call=ISSUES_CALL)
            last = len(issues) < PAGE_MAX
            if issues:
                after = max(int(i["id"]) for i in issues)
            guard.page(len(issues), None if last else after)
            for issue in issues:
                yield mappers.issue_to_record(issue, custom, self._user_value)
            if last:
                return

    def list_ids(self, object_type: str) -> Iterator[list[str]]:
        """Every issue id of the project, 100 per page, by id (`issue_id>=`): a keyset, so a
        delete during the listing cannot shift an id out of it."""
        self._check_type(object_type)
        after = 0
        guard = self.page_guard(ISSUES_CALL, system=SYSTEM)
        while True:
            page = self.client.issues(
                {**self._scope(), "issue_id": f">={after + 1}", "sort": "id", "limit": PAGE_MAX}
            )
            issues = answer_items(page, "issues", system=SYSTEM, call=ISSUES_CALL)
            ids = [int(i["id"]) for i in issues]
            last = len(ids) < PAGE_MAX
            if ids:
                after = max(ids)
            guard.page(len(ids), None if last else after)
            yield [str(i) for i in ids]
            if last:
                return

    # -- users -----------------------------------------------------------------------------

    def _user_value(self, ref: Mapping[str, Any]) -> JSON:
        """An assignee's canonical value: the email where this user may see it (admins
        see every one), else the user (or group) id as text."""
        user_id = ref.get("id")
        if not isinstance(user_id, int):
            return None
        if user_id not in self._users:
            user = self.client.user(user_id)
            mail = user.get("mail") if user else None
            if isinstance(mail, str) and mail:
                self._users[user_id] = mail
                self._user_ids[mail.casefold()] = user_id
            else:
                self._users[user_id] = str(user_id)
        return self._users[user_id]

    def _user_id(self, value: str) -> int | None:
        """A user id for an assignee value: a number is an id, an email is looked up (an
        administrator's key can search users by email; others only match users already
        read)."""
        if value.isdigit():
            return int(value)
        key = value.casefold()
        if key not in self._user_ids and "@" in value:
            for user in self.client.users_named(value) or []:
                mail = user.get("mail")
                if isinstance(mail, str) and isinstance(user.get("id"), int):
                    self._user_ids[mail.casefold()] = user["id"]
                    self._users[user["id"]] = mail
        return self._user_ids.get(key)

    # -- writing ---------------------------------------------------------------------------

    def _encode(self, values: Mapping[str, JSON], record_id: str | None) -> dict[str, Any]:
        names, custom = self._schema()
        by_key = {cf.key: cf for cf in custom.values()}
        return mappers.encode_fields(values, names, by_key, self._user_id, record_id=record_id)

    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]:
        """One POST per issue. A status Redmine did not apply (it ignores one the workflow
        forbids) gives the created record and an error together: it exists, do not create
        it again."""
        self._check_type(object_type)
        project_id = self._project_info()["id"]
        results: list[WriteResult] = []
        for item in items:
            values = dict(item)
            if values.get("tracker") in (None, "") and self.config.tracker:
                values["tracker"] = self.config.tracker
            try:
                body = self._encode(values, None)
                body["project_id"] = project_id
                issue = self.client.create(body)
            except RecordError as exc:
                results.append(WriteResult(error=exc))
                continue
            need(issue, "id", int, system=SYSTEM, call="POST /issues.json", where="issue")
            # The answer to a create lacks nothing the listing has that a record needs, but
            # read it through the same path as every other read (the same assignee lookup).
            [record] = self._fetch([str(issue["id"])]) or [
                mappers.issue_to_record(issue, self._schema()[1], self._user_value)
            ]
            results.append(self._compared(record, values, "POST /issues.json"))
        return results

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        """PUT each issue, then read it again (PUT answers 204 with no body)."""
        self._check_type(object_type)
        results: list[WriteResult] = []
        for item in items:
            try:
                body = self._encode(item.fields, item.id)
                if body:
                    self.client.update(item.id, body)
            except RecordError as exc:
                if exc.record_id is None:
                    exc.record_id = item.id
                results.append(WriteResult(error=exc))
                continue
            stored = self._fetch([item.id])
            if not stored:
                results.append(
                    WriteResult(
                        error=RecordError(
                            "the issue disappeared right after the update",
                            record_id=item.id,
                            system=SYSTEM,
                        )
                    )
                )
                continue
            results.append(self._compared(stored[0], item.fields, "PUT /issues/{id}.json"))
        return results

    def _compared(self, record: Record, sent: Mapping[str, JSON], call: str) -> WriteResult:
        """The write's result, with an error naming every enum or custom field Redmine did
        not store as asked (it ignores a forbidden status without a word)."""
        differences: dict[str, str] = {}
        for key, value in sent.items():
            if key not in mappers.ENUMS and not key.startswith(mappers.CUSTOM_PREFIX):
                continue
            stored = record.fields.get(key)
            if _same(stored, value):
                continue
            if key == "status":
                why = (
                    f"Redmine kept status {stored!r}: the workflow does not let this user "
                    f"move the issue to {value!r}"
                )
            else:
                why = f"Redmine stored {stored!r} instead of {value!r} (not enabled here?)"
            differences[key] = why
        if not differences:
            return WriteResult(record=record)
        return WriteResult(
            record=record,
            error=RecordError(
                "; ".join(differences.values()),
                record_id=record.id,
                fields=differences,
                system=SYSTEM,
                call=call,
            ),
        )

    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        """DELETE each issue; one already gone (404) counts as deleted."""
        self._check_type(object_type)
        results = []
        for issue_id in ids:
            try:
                if str(issue_id).isdigit():
                    self.client.delete(str(issue_id))
            except RecordError as exc:
                results.append(WriteResult(error=exc))
                continue
            results.append(WriteResult(record=Record(id=str(issue_id), deleted=True)))
        return results

    # -- webhooks --------------------------------------------------------------------------

    # -- comments (journals with notes) --------------------------------------------------

    def comments(self, object_type: str, record_id: str) -> list[Comment]:
        self._check_type(object_type)
        return [
            self._comment(j)
            for j in self.client.journals(_issue_number(record_id))
            if isinstance(j.get("notes"), str) and j["notes"].strip()
        ]

    def comment_create(self, object_type: str, record_id: str, comment: NewComment) -> Comment:
        """A new journal with the notes. A private note is refused before anything is
        written when the user may not set notes private (Redmine would make it public)."""
        self._check_type(object_type)
        issue_id = _issue_number(record_id)
        if comment.internal and "set_notes_private" not in self._project_permissions():
            raise RecordError(
                "this Redmine user may not write private notes: give its role the \"Set "
                "notes as private\" permission", record_id=record_id, system=SYSTEM,
            )  # fmt: skip
        notes = self._notes(comment.body)
        self.client.add_notes(issue_id, notes, private=comment.internal)
        me = self._current_user().get("id")
        written = [
            j
            for j in self.client.journals(issue_id)
            if _user_id(j) == me and _spaced(j.get("notes")) == _spaced(notes)
        ]
        if not written:
            raise UnexpectedAnswer(
                "the notes just written are not among the issue's journals",
                system=SYSTEM, call=JOURNALS_CALL,
            )  # fmt: skip
        journal = written[-1]
        if comment.internal and journal.get("private_notes") is not True:
            # Stored as a public note after all: take it back (blank notes delete it).
            self.client.update_journal(issue_id, str(journal["id"]), "")
            raise RecordError(
                "Redmine stored the private note as a public one; it was deleted again",
                record_id=record_id, system=SYSTEM,
            )  # fmt: skip
        return self._comment(journal)

    def comment_update(
        self, object_type: str, record_id: str, comment_id: str, comment: NewComment
    ) -> Comment:
        self._check_type(object_type)
        issue_id = _issue_number(record_id)
        journal_id = _issue_number(comment_id)
        if not self.client.update_journal(issue_id, journal_id, self._notes(comment.body)):
            raise RecordError(
                f"journal {journal_id} was deleted", record_id=record_id, system=SYSTEM
            )
        for journal in self.client.journals(issue_id):
            if str(journal.get("id")) == journal_id:
                return self._comment(journal)
        raise RecordError(f"journal {journal_id} was deleted", record_id=record_id, system=SYSTEM)

    def comment_delete(self, object_type: str, record_id: str, comment_id: str) -> None:
        """Blank notes: Redmine deletes a journal left with no field change (one that has
        changes stays, without its notes). One already gone counts as deleted."""
        self._check_type(object_type)
        self.client.update_journal(_issue_number(record_id), _issue_number(comment_id), "")

    def _notes(self, body: str) -> str:
        if self.config.text_formatting == "textile":
            return textile.markdown_to_textile(body)
        return mentions_inert(body)

    def _comment(self, journal: Mapping[str, Any]) -> Comment:
        notes = mappers.text_in(journal.get("notes")) or ""
        if self.config.text_formatting == "textile":
            body = textile.textile_to_markdown(notes)
        else:
            body = mentions_restored(notes).strip("\n")
        user = journal.get("user") if isinstance(journal.get("user"), dict) else {}
        created = mappers.timestamp(journal.get("created_on"))
        return Comment(
            id=str(journal.get("id", "")),
            body=body,
            author_name=str(user.get("name") or ""),
            created_at=created,
            updated_at=created,  # Redmine 5.0 tells no journal's edit time
            internal=journal.get("private_notes") is True,
            raw=journal.get("notes"),
        )

    def _current_user(self) -> dict[str, Any]:
        if self._me is None:
            self._me = self.client.current_user(memberships=True)
        return self._me

    def _project_permissions(self) -> frozenset[str]:
        """The user's permissions in the project: every one for an administrator, else
        those of the roles of their membership (GET /roles/{id}.json)."""
        if self._permissions is None:
            me = self._current_user()
            if me.get("admin") is True:
                self._permissions = frozenset({"set_notes_private", "edit_issue_notes"})
            else:
                project_id = self._project_info()["id"]
                found: set[str] = set()
                for membership in me.get("memberships") or []:
                    project = membership.get("project") if isinstance(membership, dict) else None
                    if not isinstance(project, dict) or project.get("id") != project_id:
                        continue
                    for role in membership.get("roles") or []:
                        if isinstance(role, dict) and isinstance(role.get("id"), int):
                            found.update(self.client.role_permissions(role["id"]))
                self._permissions = frozenset(found)
        return self._permissions

    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        """Redmine sends no webhooks (its issues are polled): every delivery is refused."""
        raise WebhookVerificationError("Redmine sends no webhooks; its issues are read by polling")


def _issue_number(value: str) -> str:
    """An issue or journal id (a number), checked before it goes into a path."""
    text = str(value).strip()
    if not text.isdigit():
        raise RecordError(f"{value!r} is not a Redmine id", record_id=str(value), system=SYSTEM)
    return text


def _spaced(text: Any) -> str:
    """Text with its whitespace runs made one space: what a server's trimming cannot change."""
    return " ".join(str(text or "").split())


def _user_id(journal: Mapping[str, Any]) -> Any:
    user = journal.get("user")
    return user.get("id") if isinstance(user, dict) else None


def _seen_key(record: Record) -> str:
    """What the cursor remembers of a record read in the overlap window: its `updated_on`
    and a digest of its values. `updated_on` alone has whole seconds, and a change made in
    the same second as the read (after it) keeps the same `updated_on`: the digest tells
    it apart, so it is delivered instead of taken for the version already read."""
    values = json.dumps(record.fields, sort_keys=True, default=str).encode()
    return f"{record.version} {hashlib.blake2b(values, digest_size=6).hexdigest()}"


def _parse_cursor(cursor: Cursor | None) -> tuple[datetime | None, dict[str, str]]:
    if not cursor:
        return None, {}
    try:
        since = datetime.fromisoformat(str(cursor["since"]).replace("Z", "+00:00"))
        recent = {str(k): str(v) for k, v in (cursor.get("recent") or {}).items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ConfigurationError(f"not a Redmine change cursor: {cursor!r}") from None
    if since.tzinfo is None:
        raise ConfigurationError(f"Redmine change cursor without a time zone: {cursor!r}")
    return since.astimezone(UTC), recent


def _same(stored: JSON, sent: JSON) -> bool:
    if isinstance(sent, str) and isinstance(stored, str):
        return stored.casefold() == sent.casefold()
    if isinstance(sent, list) and isinstance(stored, list):
        return sorted(map(str, stored)) == sorted(map(str, sent))
    if sent in (None, "", []) and stored in (None, "", []):
        return True
    return stored == sent or (stored is not None and str(stored) == str(sent))


def _matches(value: JSON, wanted: JSON) -> bool:
    if isinstance(value, list):
        return wanted in value or value == wanted
    return value == wanted or (value is not None and str(value) == str(wanted))


CONNECTOR = RedmineConnector

"""Jira Cloud: the issues of one project, over the platform REST API v3.

Objects: `issues` of `project_key`. Record ids are Jira's numeric issue ids (keys change
when an issue moves); the key is the read-only field `key`.

- Fields: GET /rest/api/3/field, the project's create metadata per issue type and the
  project's statuses (see connectors.jira.mappers for the type mapping). Rich text (ADF) is
  plain text in Concord (connectors.jira.adf).
- Changes: POST /rest/api/3/search/jql with
  `project = "X" AND updated >= "yyyy-MM-dd HH:mm" ORDER BY updated ASC, key ASC`, paged by
  `nextPageToken`. JQL compares `updated` at minute precision, in the time zone of the
  account (read from /myself), and Atlassian's search is eventually consistent ("recent
  updates might not be immediately visible"). So each query starts `overlap_seconds` before
  the newest `updated` read so far, floored to the minute, and the cursor remembers the
  version (`updated`) of every issue read inside that window: an issue comes back only with
  a newer version, and an update that becomes searchable late, up to `overlap_seconds`
  after it happened, is still read. Search never returns deleted issues: deletions come
  from webhooks and from `list_ids` reconciliation.
- get/find: POST /rest/api/3/issue/bulkfetch for ids and keys (it reports missing issues
  instead of failing the whole JQL, as `id in (...)` does); other fields through JQL.
- Writes: POST /rest/api/3/issue/bulk (50 per call, per-record `errors`), PUT
  /rest/api/3/issue/{id} per record, DELETE /rest/api/3/issue/{id}. `status` is never
  written as a field: an update (or a create) with a `status` looks up the transition to
  that status (GET .../transitions) and performs it (POST .../transitions). When none
  enters it directly, the connector walks the workflow one transition at a time, listing
  again after each (at most MAX_WALK steps; see `_approach`); a status no path leads to is
  that record's error, naming the current and the target status.
- Webhooks: admin webhooks with a secret, X-Hub-Signature (connectors.jira.webhooks).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
    FatalError,
    NotFound,
    RecordError,
    TransientError,
)
from connectors.jira import adf, mappers, webhooks
from connectors.jira.client import (
    BULK_CREATE_MAX,
    BULK_FETCH_MAX,
    ID_PAGE,
    SEARCH_PAGE,
    SYSTEM,
    JiraClient,
    error_collection,
)
from connectors.jira.mappers import KEY_FIELD, JiraField, jql_string

OBJECT_TYPE = "issues"
# An issue key as Jira shows it: the project key, a dash, the number (OPS-42).
ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[0-9]+$")
FIND_CHUNK = 50  # values per JQL clause in find()
# Offsets reach +14:00; without a known account zone the window widens by that much.
UNKNOWN_ZONE_MARGIN = timedelta(hours=14)
SEARCH_CALL = "POST /rest/api/3/search/jql"
BULK_FETCH_CALL = "POST /rest/api/3/issue/bulkfetch"
MAX_WALK = 5  # transitions performed while looking for a status no transition enters directly


class JiraConfig(ConnectorConfig):
    """A Jira Cloud site, an account (email + API token) and the project to sync."""

    base_url: str = Field(
        title="Site URL", description="The site URL, like https://your-domain.atlassian.net"
    )
    email: str = Field(title="Account email", description="The Atlassian account's email address")
    api_token: SecretStr = Field(
        title="API token",
        description="An API token of that account (id.atlassian.com, Security, API tokens)",
    )
    project_key: str = Field(
        title="Project key", description="The key of the project whose issues sync, like OPS"
    )
    issue_type: str = Field(
        default="Task",
        title="Issue type",
        description="The issue type of created issues that do not name one",
    )

    @field_validator("base_url")
    @classmethod
    def _site_url(cls, value: str) -> str:
        return http_base_url(value, "must be the site URL, like https://your-domain.atlassian.net")

    @field_validator("project_key")
    @classmethod
    def _project_key(cls, value: str) -> str:
        value = value.strip().upper()
        if not value or not value[0].isalpha() or not value.replace("_", "").isalnum():
            raise ValueError("must be a Jira project key, like OPS")
        return value


class JiraConnector(Connector):
    kind = "jira"
    label = "Jira Cloud"
    config_class = JiraConfig
    object_types_offered = (
        ObjectType(
            OBJECT_TYPE,
            "Issues",
            webhooks=True,
            deletes_in_feed=False,
            # Restricted comments (visibility by role or group) read as internal; Jira has
            # no private note Concord could write without Service Management.
            comments=CommentSupport(edit=True, delete=True, internal=False),
        ),
    )
    config: JiraConfig
    page_size = SEARCH_PAGE  # issues per search page (Jira may answer fewer)
    overlap_seconds = 60.0  # how late an update may become searchable and still be read
    id_page_size = ID_PAGE  # ids per page in list_ids

    def __init__(self, config: ConnectorConfig, **options: Any) -> None:
        super().__init__(config, **options)
        assert isinstance(config, JiraConfig)
        self.client = JiraClient(
            base_url=config.base_url,
            email=config.email,
            api_token=config.api_token.get_secret_value(),
            rate_limiter=self.rate_limiter,
            budget_key=self.budget_key,
            on_call=self.on_call,
            address_policy=self.address_policy,
        )
        self._fields: dict[str, JiraField] | None = None
        self._zone: ZoneInfo | None = None
        self._zone_known = True
        self._account_ids: dict[str, str] = {}

    def close(self) -> None:
        self.client.close()

    def record_url(
        self, object_type: str, record_id: str, known: Mapping[str, Any] | None = None
    ) -> str | None:
        """The issue's page, {site}/browse/{key}. Records are kept by their numeric id (a
        key changes when an issue moves), so the key must be among the `known` values."""
        key = (known or {}).get(KEY_FIELD)
        if object_type != OBJECT_TYPE or not isinstance(key, str) or not ISSUE_KEY.match(key):
            return None
        return f"{self.config.base_url}/browse/{key}"

    # -- discovery -------------------------------------------------------------------------

    def check(self) -> None:
        """Authenticate (/myself) and make sure the project is visible."""
        self._remember_zone(self.client.myself())
        try:
            self.client.project(self.config.project_key)
        except NotFound as exc:
            raise ConfigurationError(
                f"project {self.config.project_key} does not exist or this account cannot see it",
                system=SYSTEM,
                call=exc.call,
                status=exc.status,
            ) from None

    def object_types(self) -> list[ObjectType]:
        return list(self.object_types_offered)

    def fields(self, object_type: str) -> list[FieldSpec]:
        self._check_type(object_type)
        return [f.spec for f in self._field_map().values()]

    def _field_map(self) -> dict[str, JiraField]:
        if self._fields is None:
            self._fields = self.discovered(OBJECT_TYPE, self._discover)
        return self._fields

    def _discover(self) -> dict[str, JiraField]:
        project = self.config.project_key
        issue_types = self.client.create_issue_types(project)
        if not any(t.get("name") == self.config.issue_type for t in issue_types):
            names = ", ".join(str(t.get("name")) for t in issue_types)
            raise ConfigurationError(
                f"issue type {self.config.issue_type!r} cannot be created in {project}; "
                f"the project offers: {names}",
                system=SYSTEM,
            )
        create_fields = {
            str(t["name"]): self.client.create_fields(project, str(t["id"])) for t in issue_types
        }
        statuses: list[str] = []
        for issue_type in self.client.project_statuses(project):
            statuses.extend(str(s["name"]) for s in issue_type.get("statuses") or [])
        fields = mappers.build_fields(
            self.client.fields(),
            create_fields,
            issue_types=issue_types,
            statuses=statuses,
            default_issue_type=self.config.issue_type,
        )
        return {f.id: f for f in fields}

    def _check_type(self, object_type: str) -> None:
        if object_type != OBJECT_TYPE:
            raise ConfigurationError(f"Jira has no object type {object_type!r}", system=SYSTEM)

    def _read_fields(self) -> list[str]:
        names = [f for f in self._field_map() if f != KEY_FIELD]
        for needed in ("updated", "project"):
            if needed not in names:
                names.append(needed)
        return names

    # -- reading ---------------------------------------------------------------------------

    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        """Issues updated after the cursor, oldest first (see the module docstring).

        The cursor is {"since": ISO time of the newest `updated` read, "recent": {issue id:
        its `updated`} for the issues read in the overlap window before it}.
        Raises ConfigurationError for a cursor this connector did not make.
        """
        self._check_type(object_type)
        fields = self._field_map()
        high, recent = _parse_cursor(cursor)
        jql = f"project = {jql_string(self.config.project_key)}"
        window = self._window_start(high)
        if window is not None:
            jql += f" AND updated >= {jql_string(self._jql_minute(window))}"
        jql += " ORDER BY updated ASC, key ASC"
        token: str | None = None
        guard = self.page_guard(SEARCH_CALL, system=SYSTEM)
        while True:
            page = self.client.search(
                jql, self._read_fields(), max_results=self.page_size, next_page_token=token
            )
            records = []
            issues = answer_items(page, "issues", system=SYSTEM, call=SEARCH_CALL)
            for issue in issues:
                record = mappers.issue_to_record(issue, fields.values())
                stamp = record.modified_at
                if stamp is None:
                    continue
                version = mappers.canonical_datetime(stamp)
                if window is not None and stamp < window:
                    continue  # before the overlap: read by an earlier call
                if recent.get(record.id) == version:
                    continue  # this version was delivered already (the overlap re-reads it)
                records.append(record)
                recent[record.id] = version
                if high is None or stamp > high:
                    high = stamp
            token, last = _next_token(page)
            guard.page(len(issues), None if last else token)
            yield ChangePage(records=records, cursor=self._cursor(high, recent), has_more=not last)
            if last:
                return

    def _window_start(self, high: datetime | None) -> datetime | None:
        """Where the next query starts: `overlap_seconds` before `high`, on a whole minute."""
        if high is None:
            return None
        start = (high - timedelta(seconds=self.overlap_seconds)).astimezone(UTC)
        return start.replace(second=0, microsecond=0)

    def _cursor(self, high: datetime | None, recent: dict[str, str]) -> Cursor:
        if high is None:
            return {}
        window = self._window_start(high)
        assert window is not None
        floor = mappers.canonical_datetime(window)
        # ISO strings in UTC with fixed precision compare like the instants they name.
        kept = {k: v for k, v in recent.items() if v >= floor}
        return {"since": mappers.canonical_datetime(high), "recent": dict(sorted(kept.items()))}

    def _jql_minute(self, moment: datetime) -> str:
        """The JQL minute at or before `moment`, in the zone Jira reads JQL dates in."""
        zone = self._account_zone()
        if zone is None:
            moment = moment.astimezone(UTC) - UNKNOWN_ZONE_MARGIN
            return moment.strftime("%Y-%m-%d %H:%M")
        local = moment.astimezone(zone)
        # In the hour a DST change repeats, Jira may read the wall time as the later
        # instant; an hour earlier is safe either way (the overlap is deduplicated).
        if local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset():
            local = (moment - timedelta(hours=1)).astimezone(zone)
        return local.strftime("%Y-%m-%d %H:%M")

    def _account_zone(self) -> ZoneInfo | None:
        if self._zone is None and self._zone_known:
            self._remember_zone(self.client.myself())
        return self._zone

    def _remember_zone(self, myself: dict[str, Any]) -> None:
        name = myself.get("timeZone")
        try:
            self._zone = ZoneInfo(name) if isinstance(name, str) and name else None
        except (ZoneInfoNotFoundError, ValueError):
            self._zone = None
        self._zone_known = self._zone is not None

    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        self._check_type(object_type)
        return self._fetch([str(i) for i in ids])

    def _fetch(self, ids_or_keys: list[str]) -> list[Record]:
        """Records of this project for ids or keys, in input order; missing ones left out."""
        fields = self._field_map()
        found: dict[str, Record] = {}
        order: list[str] = []
        for start in range(0, len(ids_or_keys), BULK_FETCH_MAX):
            chunk = ids_or_keys[start : start + BULK_FETCH_MAX]
            answer = self.client.bulk_fetch(chunk, self._read_fields())
            for issue in answer_items(answer, "issues", system=SYSTEM, call=BULK_FETCH_CALL):
                if not self._in_project(issue):
                    continue
                record = mappers.issue_to_record(issue, fields.values())
                found[record.id] = record
                found[str(issue.get("key"))] = record
            order.extend(chunk)
        out: list[Record] = []
        emitted: set[str] = set()
        for ref in order:
            record = found.get(ref)
            if record is not None and record.id not in emitted:
                emitted.add(record.id)
                out.append(record)
        return out

    def _in_project(self, issue: dict[str, Any]) -> bool:
        project = (issue.get("fields") or {}).get("project")
        if isinstance(project, dict) and isinstance(project.get("key"), str):
            return project["key"].upper() == self.config.project_key
        return True

    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        """Issues whose `field` equals one of `values`.

        Ids and keys go through bulk fetch; text fields through JQL's `~` (a word search)
        and are then compared exactly; other fields through `in (...)`.
        Raises ConfigurationError for a field the project does not have.
        """
        self._check_type(object_type)
        wanted = [v for v in values if v is not None]
        if not wanted:
            return []
        if field in ("id", KEY_FIELD):
            return self._fetch([str(v) for v in wanted])
        spec = self._field_map().get(field)
        if spec is None:
            raise ConfigurationError(f"{self.config.project_key} issues have no field {field!r}")
        out: dict[str, Record] = {}
        for start in range(0, len(wanted), FIND_CHUNK):
            chunk = wanted[start : start + FIND_CHUNK]
            clause = self._find_clause(spec, chunk)
            if clause is None:
                continue  # no value of this chunk can exist in Jira
            for record in self._search_all(clause):
                if _matches(record.fields.get(field), chunk):
                    out.setdefault(record.id, record)
        return list(out.values())

    def _find_clause(self, spec: JiraField, values: list[JSON]) -> str | None:
        """A JQL clause matching any of `values`, or None if none of them can match.

        Text is searched with `~` (a word search; the caller compares exactly). Values that
        cannot exist in Jira (an email no user has, a number that is not one) are dropped,
        because JQL refuses unknown users, options and malformed numbers for the whole query.
        """
        name = spec.jql_name
        if spec.codec in ("string", "adf"):
            phrases = [f"{name} ~ {jql_string(jql_string(str(v)))}" for v in values]
            return "(" + " OR ".join(phrases) + ")"
        literals: list[str] = []
        for value in values:
            try:
                if spec.codec == "user":
                    literals.append(jql_string(self._account_id(str(value))))
                elif spec.codec == "number":
                    number = float(value)  # type: ignore[arg-type]
                    literals.append(str(int(number)) if number.is_integer() else str(number))
                elif spec.spec.options and str(value) not in spec.spec.option_values():
                    continue  # JQL refuses an option that does not exist
                else:
                    literals.append(jql_string(str(value)))
            except (TypeError, ValueError):
                continue
        return f"{name} in ({', '.join(literals)})" if literals else None

    def _search_all(self, clause: str) -> Iterator[Record]:
        fields = self._field_map()
        jql = f"project = {jql_string(self.config.project_key)} AND {clause} ORDER BY key ASC"
        token: str | None = None
        guard = self.page_guard(SEARCH_CALL, system=SYSTEM)
        while True:
            page = self.client.search(jql, self._read_fields(), next_page_token=token)
            issues = answer_items(page, "issues", system=SYSTEM, call=SEARCH_CALL)
            token, last = _next_token(page)
            guard.page(len(issues), None if last else token)
            for issue in issues:
                yield mappers.issue_to_record(issue, fields.values())
            if last:
                return

    def list_ids(self, object_type: str) -> Iterator[list[str]]:
        """Every issue id of the project, in pages (ids only: up to 5000 per page)."""
        self._check_type(object_type)
        jql = f"project = {jql_string(self.config.project_key)} ORDER BY key ASC"
        token: str | None = None
        guard = self.page_guard(SEARCH_CALL, system=SYSTEM)
        while True:
            page = self.client.search(
                jql, ["id"], max_results=self.id_page_size, next_page_token=token
            )
            issues = answer_items(page, "issues", system=SYSTEM, call=SEARCH_CALL)
            token, last = _next_token(page)
            guard.page(len(issues), None if last else token)
            yield [str(issue["id"]) for issue in issues]
            if last:
                return

    # -- writing ---------------------------------------------------------------------------

    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]:
        """Bulk create, 50 per call; then move to a requested `status` by transition.

        A record whose issue was created but could not be moved to its status gets a
        WriteResult with both `record` (it exists: do not create it again) and `error`.
        If a call fails after earlier calls of the batch created issues, those are returned
        and the records not yet sent get a RecordError; if the first call fails, its
        TransientError or FatalError is raised (nothing was created).
        """
        self._check_type(object_type)
        fields = self._field_map()
        results: list[WriteResult | None] = [None] * len(items)
        pending: list[tuple[int, dict[str, Any], str | None]] = []
        for index, item in enumerate(items):
            values = dict(item)
            status = values.pop("status", None)
            if values.get("issuetype") in (None, ""):
                values["issuetype"] = self.config.issue_type
            try:
                encoded = mappers.encode_fields(values, fields, self._account_id)
            except RecordError as exc:
                results[index] = WriteResult(error=exc)
                continue
            encoded["project"] = {"key": self.config.project_key}
            pending.append((index, encoded, None if status is None else str(status)))
        created: list[tuple[int, str, str | None]] = []  # (input index, issue id, status)
        for start in range(0, len(pending), BULK_CREATE_MAX):
            chunk = pending[start : start + BULK_CREATE_MAX]
            try:
                answer = self.client.bulk_create([{"fields": encoded} for _, encoded, _ in chunk])
            except (TransientError, FatalError) as exc:
                if not created:
                    raise  # nothing exists yet: the whole call can be retried as it is
                # Issues of earlier chunks exist: report them, and these as not created.
                for index, _, _ in pending[start:]:
                    results[index] = WriteResult(
                        error=RecordError(
                            f"not created: {exc}", system=SYSTEM, call=BULK_CALL, status=exc.status
                        )
                    )
                break
            failed, general = _bulk_errors(answer, len(chunk))
            made = iter(answer_items(answer, "issues", system=SYSTEM, call=BULK_CALL))
            for position, (index, _, status) in enumerate(chunk):
                if position in failed:
                    results[index] = WriteResult(error=failed[position])
                    continue
                issue = next(made, None)
                if issue is None:
                    # The whole call was refused (no element named): every record shares it.
                    results[index] = WriteResult(
                        error=RecordError(
                            general or "Jira reported neither the issue nor an error for it",
                            system=SYSTEM,
                            call=BULK_CALL,
                            status=answer.get("_status"),
                        )
                    )
                    continue
                created.append((index, str(issue["id"]), status))
        move_errors: dict[str, RecordError] = {}
        for _, issue_id, status in created:
            if status is not None:
                try:
                    self._move(issue_id, status)
                except RecordError as exc:
                    move_errors[issue_id] = exc
        stored = {r.id: r for r in self._fetch([issue_id for _, issue_id, _ in created])}
        for index, issue_id, _ in created:
            record = stored.get(issue_id)
            error = move_errors.get(issue_id)
            if error is not None:
                error = RecordError(
                    f"created as {record.fields.get(KEY_FIELD) if record else issue_id}, "
                    f"but {error.message}",
                    record_id=issue_id,
                    fields=error.fields,
                    system=SYSTEM,
                    call=error.call,
                    status=error.status,
                )
            results[index] = WriteResult(record=record or Record(id=issue_id), error=error)
        return [r if r is not None else WriteResult() for r in results]

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Edit each issue (PUT), and move it by transition when `status` changes.

        The transition is looked up before anything is written, so a record whose target
        status is unreachable is left untouched and reported.
        """
        self._check_type(object_type)
        fields = self._field_map()
        results: list[WriteResult | None] = [None] * len(items)
        done: list[tuple[int, str]] = []
        for index, item in enumerate(items):
            values = dict(item.fields)
            status = values.pop("status", None)
            try:
                encoded = mappers.encode_fields(values, fields, self._account_id, record_id=item.id)
                transition = self._approach(item.id, str(status)) if status else None
                if encoded:
                    self.client.edit(item.id, encoded)
                if transition is not None:
                    self.client.transition(item.id, transition)
            except RecordError as exc:
                if exc.record_id is None:
                    exc.record_id = item.id
                results[index] = WriteResult(error=exc)
                continue
            done.append((index, item.id))
        stored = {r.id: r for r in self._fetch([issue_id for _, issue_id in done])}
        for index, issue_id in done:
            record = stored.get(issue_id)
            results[index] = (
                WriteResult(record=record)
                if record is not None
                else WriteResult(
                    error=RecordError(
                        "the issue disappeared right after the update", record_id=issue_id
                    )
                )
            )
        return [r if r is not None else WriteResult() for r in results]

    def _move(self, issue_id: str, status: str) -> None:
        transition = self._approach(issue_id, status)
        if transition is not None:
            self.client.transition(issue_id, transition)

    def _approach(self, issue_id: str, status: str) -> str | None:
        """Bring the issue next to `status`; return the id of the transition that enters it.

        Returns None if the issue already has `status`. When a transition to `status` is
        available now, nothing is performed (the caller performs it, after its edit), so
        the direct case costs one GET here and one POST by the caller.

        Otherwise the workflow is walked: Jira lists only the transitions available from
        the current status, so the walk learns the graph as it goes (status -> {to status:
        transition id}, from each listing). At each step it takes the first transition of
        the shortest known path to the nearest status it has not yet listed, lists again
        there, and stops as soon as a transition to `status` is listed. It never enters a
        status twice for exploration and performs at most MAX_WALK transitions, so the
        walk terminates. In a workflow that is a chain (To Do -> In Progress -> Done) it
        follows the chain; it is breadth-first over what it has seen.

        Raises RecordError naming the current and target status when `status` is not a
        status of the project (before any call that changes the issue), or when the walk
        does not reach it; in the latter case the issue is first walked back to where it
        started, over transitions already seen, and the message says if that failed.
        """
        target = status.casefold()
        available = self.client.transitions(issue_id)
        direct = _transition_into(available, target)
        if direct is not None:
            return direct
        [start_record] = self._fetch([issue_id]) or [Record(id=issue_id)]
        start = str(start_record.fields.get("status", ""))
        if start.casefold() == target:
            return None
        status_field = self._field_map().get("status")
        known = status_field.spec.option_values() if status_field else []
        if known and target not in {name.casefold() for name in known}:
            raise self._unreachable(
                issue_id, status, start, _targets(available), "not a status of the project"
            )
        graph: dict[str, dict[str, str]] = {}
        names: dict[str, str] = {start.casefold(): start}
        current = start.casefold()
        steps = 0
        while True:
            graph[current] = _edges(available, names)
            path = _shortest_path(graph, current, lambda s: s not in graph)
            if not path or steps >= MAX_WALK:
                break
            # Take one step only: the listing there may differ from what the plan assumed.
            next_status = path[0]
            self.client.transition(issue_id, graph[current][next_status])
            steps += 1
            current = next_status
            available = self.client.transitions(issue_id)
            direct = _transition_into(available, target)
            if direct is not None:
                return direct
        at = names[current]
        note = "the workflow offers no path" if not path else f"not reached in {MAX_WALK} steps"
        if current != start.casefold():
            back = _shortest_path(graph, current, lambda s: s == start.casefold())
            for hop in back or []:
                self.client.transition(issue_id, graph[current][hop])
                current = hop
            if current != start.casefold():
                note += f"; left in {at!r}, no known way back to {start!r}"
                start = at
        seen = {names[s] for s in graph} | {names[t] for edges in graph.values() for t in edges}
        raise self._unreachable(issue_id, status, start, sorted(seen - {start}), note)

    def _unreachable(
        self,
        issue_id: str,
        status: str,
        current: str,
        reachable: list[str],
        why: str,
    ) -> RecordError:
        where = f" from {current!r}" if current else ""
        return RecordError(
            f"no transition leads to status {status!r}{where} ({why}); reachable: "
            + (", ".join(reachable) or "none"),
            record_id=issue_id,
            fields={"status": f"no transition to {status!r}"},
            system=SYSTEM,
            call="GET /rest/api/3/issue/{issueIdOrKey}/transitions",
        )

    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        self._check_type(object_type)
        results = []
        for issue_id in ids:
            try:
                self.client.delete(str(issue_id))
            except RecordError as exc:
                results.append(WriteResult(error=exc))
                continue
            results.append(WriteResult(record=Record(id=str(issue_id), deleted=True)))
        return results

    def people_known(self, values: Sequence[str]) -> set[str] | None:
        """The emails (or account ids) of users this site shows: one user search per email
        not asked before by this connector (Jira has no lookup of many emails at once)."""
        known = set()
        for value in values:
            try:
                self._account_id(value)
            except ValueError:
                continue
            known.add(value)
        return known

    def _account_id(self, value: str) -> str:
        """An accountId for a user value: an email is looked up, anything else is an id.

        Raises ValueError when no Jira user has that email (or Jira hides it).
        """
        if "@" not in value:
            return value
        key = value.casefold()
        if key not in self._account_ids:
            for user in self.client.find_users(value):
                email = user.get("emailAddress")
                if isinstance(email, str) and email.casefold() == key:
                    self._account_ids[key] = str(user["accountId"])
                    break
            else:
                raise ValueError(f"no Jira user with the email {value} is visible")
        return self._account_ids[key]

    # -- webhooks --------------------------------------------------------------------------

    # -- comments ----------------------------------------------------------------------------
    def comments(self, object_type: str, record_id: str) -> list[Comment]:
        self._check_type(object_type)
        return [_comment(c) for c in self.client.comments(record_id)]

    def comment_create(self, object_type: str, record_id: str, comment: NewComment) -> Comment:
        self._check_type(object_type)
        if comment.internal:
            raise RecordError(
                "Jira has no internal comments Concord can write", record_id=record_id,
                system=SYSTEM,
            )  # fmt: skip
        return _comment(self.client.add_comment(record_id, adf.markdown_to_adf(comment.body)))

    def comment_update(
        self, object_type: str, record_id: str, comment_id: str, comment: NewComment
    ) -> Comment:
        self._check_type(object_type)
        body = adf.markdown_to_adf(comment.body)
        return _comment(self.client.update_comment(record_id, comment_id, body))

    def comment_delete(self, object_type: str, record_id: str, comment_id: str) -> None:
        self._check_type(object_type)
        self.client.delete_comment(record_id, comment_id)

    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        return webhooks.parse(request, secret, project_key=self.config.project_key, now=now)


BULK_CALL = "POST /rest/api/3/issue/bulk"


def _comment(data: dict[str, Any]) -> Comment:
    """A Jira comment in canonical form; one restricted to a role or group is internal."""
    author = data.get("author") if isinstance(data.get("author"), dict) else {}
    return Comment(
        id=str(data.get("id", "")),
        body=adf.adf_to_markdown(data.get("body")),
        author_name=str(author.get("displayName") or ""),
        author_email=author.get("emailAddress") or None,
        created_at=_time(data.get("created")),
        updated_at=_time(data.get("updated")),
        internal=bool(data.get("visibility")),
        raw=data.get("body"),
    )


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return mappers.parse_datetime(value)
    except ValueError:
        return None


def _next_token(page: dict[str, Any]) -> tuple[str | None, bool]:
    """A search answer's `nextPageToken` (checked to be text) and whether it is the last."""
    token = need(page, "nextPageToken", str, system=SYSTEM, call=SEARCH_CALL, optional=True)
    last = bool(page.get("isLast", token is None)) or not token
    return token, last


def _bulk_errors(answer: dict[str, Any], size: int) -> tuple[dict[int, RecordError], str]:
    """Per-element errors by position, and the message of errors that name no element."""
    failed: dict[int, RecordError] = {}
    general: list[str] = []
    for error in answer.get("errors") or []:
        if not isinstance(error, dict):
            continue
        message, field_errors = error_collection(error.get("elementErrors"))
        position = error.get("failedElementNumber")
        if isinstance(position, int) and 0 <= position < size:
            failed[position] = RecordError(
                message or "refused by Jira",
                fields=field_errors,
                system=SYSTEM,
                call=BULK_CALL,
                status=error.get("status"),
            )
        elif message:
            general.append(message)
    message, _ = error_collection(answer)  # a plain ErrorCollection (e.g. 422)
    if message:
        general.append(message)
    return failed, "; ".join(general)


def _transition_into(available: list[dict[str, Any]], target: str) -> str | None:
    """The id of an available transition whose `to` status is `target` (casefolded)."""
    for transition in available:
        to = transition.get("to") or {}
        if str(to.get("name", "")).casefold() == target and transition.get("isAvailable", True):
            return str(transition["id"])
    return None


def _targets(available: list[dict[str, Any]]) -> list[str]:
    return sorted({str((t.get("to") or {}).get("name")) for t in available})


def _edges(available: list[dict[str, Any]], names: dict[str, str]) -> dict[str, str]:
    """{to status (casefolded): transition id} of a listing; records display names in `names`."""
    edges: dict[str, str] = {}
    for transition in available:
        name = (transition.get("to") or {}).get("name")
        if name is None or not transition.get("isAvailable", True):
            continue
        names.setdefault(str(name).casefold(), str(name))
        edges.setdefault(str(name).casefold(), str(transition["id"]))
    return edges


def _shortest_path(
    graph: dict[str, dict[str, str]], start: str, goal: Callable[[str], bool]
) -> list[str] | None:
    """Statuses after `start` on a shortest path, over known edges, to one satisfying `goal`.

    Breadth-first; `start` itself is never the goal. None when no such status is known.
    """
    parents: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        status = queue.popleft()
        for nxt in graph.get(status, {}):
            if nxt in parents:
                continue
            parents[nxt] = status
            if goal(nxt):
                path = [nxt]
                while parents[path[-1]] != start:
                    path.append(parents[path[-1]])
                return path[::-1]
            queue.append(nxt)
    return None


def _parse_cursor(cursor: Cursor | None) -> tuple[datetime | None, dict[str, str]]:
    if not cursor:
        return None, {}
    try:
        since = datetime.fromisoformat(str(cursor["since"]))
        recent = {str(k): str(v) for k, v in (cursor.get("recent") or {}).items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        raise ConfigurationError(f"not a Jira change cursor: {cursor!r}") from None
    if since.tzinfo is None:
        raise ConfigurationError(f"Jira change cursor without a time zone: {cursor!r}")
    return since.astimezone(UTC), recent


def _matches(value: JSON, wanted: list[JSON]) -> bool:
    if isinstance(value, list):
        return any(v in wanted for v in value)
    return value in wanted or (value is not None and str(value) in [str(w) for w in wanted])


CONNECTOR = JiraConnector

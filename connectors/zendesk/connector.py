"""The Zendesk Support connector: tickets, users and organizations.

- Auth: an API token (`{email}/token` Basic auth) or an OAuth bearer token, exactly one.
- Fields: /api/v2/{ticket,user,organization}_fields with custom fields and their options
  (canonical names in connectors.zendesk.mappers).
- Changes: the cursor-based incremental exports for tickets and users, the time-based one for
  organizations (Zendesk offers no cursor variant). Cursors are JSON:
  `{"after_cursor": "..."}` (tickets, users) or `{"start_time": <unix>}` (any type; the
  start of a cursor-based export, or the organization export's position). Zendesk holds back
  the last minute and refuses a start_time inside it; a start_time that recent is moved back
  to a minute ago (repeats are allowed, gaps are not). The exports allow 10 requests a minute:
  a 429 is waited out as its Retry-After says (connectors.http). Deleted tickets arrive as
  `status: "deleted"` and deleted users as `active: false`, both as Record.deleted;
  organizations are hard-deleted, so `list_ids` serves reconciliation for them.
- Writes: create_many / update_many / destroy_many, 100 per call, each a background job.
  A write of more than 100 records submits all its jobs first and then polls them together
  (job_statuses/show_many), so they run side by side; the jobs' per-item results become
  per-record WriteResults. A write of at most SYNC_WRITE_MAX records (what a webhook-driven
  run writes) goes record by record to the synchronous endpoints instead: one call each,
  answered with the stored record, where a job costs a submit, at least one poll and a
  read-back, and keeps the run (and its lease) waiting on Zendesk's job queue. Closed
  tickets refuse updates (per record).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator

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
    AuthenticationError,
    ConfigurationError,
    FatalError,
    NotFound,
    OutcomeUnknown,
    RecordError,
    TransientError,
    UnexpectedAnswer,
)
from connectors.http import HttpClient
from connectors.richtext import html_to_markdown, markdown_to_html
from connectors.zendesk import mappers, webhooks
from connectors.zendesk.client import BATCH_SIZE, COLLECTIONS, JOB_DONE, ZendeskClient

# Writes of up to this many records use the one-record endpoints (see the docstring).
SYNC_WRITE_MAX = 3
EXPORT_LAG = 60  # seconds Zendesk holds back from the incremental exports
_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_FIELD_IN_DETAILS = re.compile(r"^([A-Za-z][A-Za-z _]*?):\s*(.+)$")


# The agent interface's pages by object type: {base}/agent/{page}/{id}.
AGENT_PAGES = {"tickets": "tickets", "users": "users", "organizations": "organizations"}


class ZendeskConfig(ConnectorConfig):
    """A Zendesk Support account.

    `base_url` defaults to https://{subdomain}.zendesk.com; set it instead of `subdomain` for
    a sandbox or a host-mapped account. Auth is either `email` + `api_token` (API token) or
    `oauth_token` (OAuth bearer), never both.
    """

    base_url: str = Field(
        default="",
        title="API base URL",
        description=(
            "Leave empty to use https://<subdomain>.zendesk.com; set it for a host-mapped "
            "account or a local sandbox."
        ),
    )
    subdomain: str | None = Field(
        default=None,
        title="Subdomain",
        description="The account's name in its address: acme for acme.zendesk.com.",
    )
    email: str | None = Field(
        default=None,
        title="Agent email",
        description="The email address of the admin or agent who owns the API token.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        title="API token",
        description=(
            "Admin Center: Apps and integrations, APIs, Zendesk API, Settings: add an API "
            "token. Give either this (with the email) or an OAuth token."
        ),
    )
    oauth_token: SecretStr | None = Field(
        default=None,
        title="OAuth token",
        description="Instead of email and API token: an OAuth access token.",
    )

    @classmethod
    def secret_fields(cls) -> list[str]:
        # The base class finds fields typed exactly SecretStr; these are optional ones.
        return ["api_token", "oauth_token"]

    @model_validator(mode="before")
    @classmethod
    def _default_base_url(cls, values: Any) -> Any:
        if not isinstance(values, dict) or values.get("base_url"):
            return values
        subdomain = values.get("subdomain")
        if not subdomain:
            raise ValueError("set subdomain (e.g. 'acme' for acme.zendesk.com) or base_url")
        if not isinstance(subdomain, str) or not _SUBDOMAIN.match(subdomain):
            raise ValueError("subdomain must be the account's name only, like 'acme'")
        return {**values, "base_url": f"https://{subdomain}.zendesk.com"}

    @field_validator("base_url")
    @classmethod
    def _clean_base_url(cls, value: str) -> str:
        return http_base_url(value, "base_url must start with https://")

    @model_validator(mode="after")
    def _check(self) -> ZendeskConfig:
        token = self.api_token is not None and bool(self.api_token.get_secret_value())
        oauth = self.oauth_token is not None and bool(self.oauth_token.get_secret_value())
        if token and oauth:
            raise ValueError(
                "configure one auth method: either email + api_token or oauth_token, not both"
            )
        if not token and not oauth:
            raise ValueError(
                "no credentials: set email + api_token (API token auth) or oauth_token (OAuth)"
            )
        if token and not self.email:
            raise ValueError("api_token needs the email of the agent who owns it")
        return self

    def auth(self) -> tuple[str, ...]:
        if self.oauth_token is not None and self.oauth_token.get_secret_value():
            return ("oauth", self.oauth_token.get_secret_value())
        if self.api_token is None or self.email is None:  # unreachable after _check
            raise ConfigurationError("Zendesk API token auth needs email and api_token")
        return ("token", self.email, self.api_token.get_secret_value())


class ZendeskConnector(Connector):
    """See the module docstring. `http_options` go to connectors.http.HttpClient (and
    `job_poll_interval`/`job_timeout` to the job poller); `page_size` is the
    incremental export's per_page (Zendesk's maximum, 1000, by default); writes of up to
    `sync_write_max` records are made without a job (0: always a job)."""

    kind: ClassVar[str] = "zendesk"
    label: ClassVar[str] = "Zendesk"
    # Zendesk keeps the statuses of an account's last 100 jobs (and for an hour at most,
    # by community reports; a day, by its reference): 50 jobs of 100 records may be left
    # pending by one run, half of that, so that other syncs of the account have room.
    settle_later_max = 5_000
    config_class: ClassVar[type[ConnectorConfig]] = ZendeskConfig
    object_types_offered: ClassVar[tuple[ObjectType, ...]] = (
        # Zendesk comments cannot be edited (only redacted) nor deleted through the API;
        # a private note is a comment with public: false.
        ObjectType("tickets", "Tickets", comments=CommentSupport(internal=True)),
        ObjectType("users", "Users", people=True),
        ObjectType("organizations", "Organizations", deletes_in_feed=False),
    )
    sends_test_webhooks: ClassVar[bool] = True
    config: ZendeskConfig

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        http_options: dict[str, Any] | None = None,
        page_size: int = 1000,
        sync_write_max: int = SYNC_WRITE_MAX,
        wall_clock: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        if not isinstance(config, ZendeskConfig):
            raise ConfigurationError("ZendeskConnector needs a ZendeskConfig")
        if not 1 <= page_size <= 1000:
            raise ConfigurationError("page_size must be between 1 and 1000")
        self.page_size = page_size
        self.sync_write_max = sync_write_max
        self._wall_clock = wall_clock
        self.client = ZendeskClient(
            config.base_url,
            config.auth(),
            rate_limiter=self.rate_limiter,
            on_call=self.on_call,
            budget_key=self.budget_key,
            address_policy=self.address_policy,
            interrupt=self._interrupt,
            **(http_options or {}),
        )
        self._schemas: dict[str, mappers.Schema] = {}

    @property
    def http(self) -> HttpClient:
        """The HttpClient under this connector (tests tune its retry policy through it)."""
        return self.client.http

    def close(self) -> None:
        self.client.close()

    def record_url(
        self, object_type: str, record_id: str, known: Mapping[str, Any] | None = None
    ) -> str | None:
        """The agent interface's page of a ticket, user or organization."""
        if object_type not in AGENT_PAGES or not record_id:
            return None
        page = AGENT_PAGES[object_type]
        return f"{self.config.base_url}/agent/{page}/{quote(record_id, safe='')}"

    # -- discovery -------------------------------------------------------------------------

    def check(self) -> None:
        me = self.client.me()
        if me.get("id") is None:  # Zendesk answers unknown callers as the anonymous user
            raise AuthenticationError(
                "the credentials were not accepted (anonymous user)",
                system=mappers.SYSTEM,
                call="GET /api/v2/users/me.json",
            )

    def object_types(self) -> list[ObjectType]:
        return list(self.object_types_offered)

    def _schema(self, object_type: str) -> mappers.Schema:
        if object_type not in mappers.OBJECT_TYPES:
            raise ConfigurationError(
                f"Zendesk has no object type {object_type!r}; "
                f"use one of {', '.join(mappers.OBJECT_TYPES)}"
            )
        schema = self._schemas.get(object_type)
        if schema is None:
            path, root = mappers.FIELDS_ENDPOINTS[object_type]
            schema = self.discovered(
                object_type,
                lambda: mappers.build_schema(
                    object_type, self.client.field_definitions(path, root)
                ),
            )
            self._schemas[object_type] = schema
        return schema

    def fields(self, object_type: str) -> list[FieldSpec]:
        return list(self._schema(object_type).specs)

    # -- changes ---------------------------------------------------------------------------

    def changes(self, object_type: str, cursor: Cursor | None) -> Iterator[ChangePage]:
        schema = self._schema(object_type)
        state = dict(cursor or {})
        if object_type == "organizations":
            yield from self._time_export(schema, state)
        else:
            yield from self._cursor_export(object_type, schema, state)

    def _start_time(self, state: Cursor) -> int:
        raw = state.get("start_time", 0)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
            raise ConfigurationError(f"invalid Zendesk cursor start_time {raw!r}")
        # Inside the lag Zendesk refuses the request; earlier only repeats records.
        return min(int(raw), int(self._wall_clock()) - EXPORT_LAG - 1)

    def _cursor_export(
        self, object_type: str, schema: mappers.Schema, state: Cursor
    ) -> Iterator[ChangePage]:
        after = state.get("after_cursor")
        if after is not None and not isinstance(after, str):
            raise ConfigurationError(f"invalid Zendesk cursor {state!r}")
        params: dict[str, Any] = {"per_page": self.page_size}
        if after:
            params["cursor"] = after
        else:
            start = self._start_time(state)
            params["start_time"] = start
            state = {"start_time": start}
        call = f"GET /api/v2/incremental/{object_type}/cursor.json"
        guard = self.page_guard(call, start=after, system=mappers.SYSTEM)
        while True:
            try:
                data = self.client.incremental_cursor(object_type, params)
            except FatalError as exc:
                if _too_recent(exc):
                    # The clocks disagree about "a minute ago": nothing is exportable yet.
                    yield ChangePage([], state, has_more=False)
                    return
                raise
            items = answer_items(data, object_type, system=mappers.SYSTEM, call=call)
            records = [mappers.to_record(object_type, raw, schema) for raw in items]
            next_after = need(
                data, "after_cursor", str, system=mappers.SYSTEM, call=call, optional=True
            )
            end = bool(data.get("end_of_stream"))
            guard.page(len(items), None if end else next_after)
            if next_after:
                state = {"after_cursor": next_after}
            elif not end:
                raise TransientError(
                    "the export said more follows but gave no after_cursor",
                    system=mappers.SYSTEM,
                    call=f"GET /api/v2/incremental/{object_type}/cursor.json",
                )
            yield ChangePage(records, dict(state), has_more=not end)
            if end:
                return
            params = {"per_page": self.page_size, "cursor": next_after}

    def _time_export(self, schema: mappers.Schema, state: Cursor) -> Iterator[ChangePage]:
        start = self._start_time(state)
        call = "GET /api/v2/incremental/organizations.json"
        guard = self.page_guard(call, start=start, system=mappers.SYSTEM)
        while True:
            params = {"start_time": start, "per_page": self.page_size}
            try:
                data = self.client.incremental_time("organizations", params)
            except FatalError as exc:
                if _too_recent(exc):
                    yield ChangePage([], {"start_time": start}, has_more=False)
                    return
                raise
            unique: dict[str, Record] = {}
            listed = answer_items(data, "organizations", system=mappers.SYSTEM, call=call)
            for raw in listed:
                record = mappers.to_record("organizations", raw, schema)
                unique[record.id] = record  # the time-based export may repeat items
            end = bool(data.get("end_of_stream"))
            end_time = data.get("end_time")
            next_start = int(end_time) if isinstance(end_time, int | float) else start
            if not end and next_start <= start:
                # Zendesk returns every item of the last second, so the next second is safe.
                next_start = start + 1
            guard.page(len(listed), None if end else next_start)
            yield ChangePage(list(unique.values()), {"start_time": next_start}, has_more=not end)
            if end:
                return
            start = next_start

    def list_ids(self, object_type: str) -> Iterator[list[str]]:
        self._schema(object_type)
        after: str | None = None
        call = f"GET {COLLECTIONS[object_type][0]}.json"
        guard = self.page_guard(call, system=mappers.SYSTEM)
        while True:
            items, after = self.client.list_page(object_type, after)
            guard.page(len(items), after)
            yield [str(item["id"]) for item in items]
            if not after:
                return

    # -- reads -----------------------------------------------------------------------------

    def get(self, object_type: str, ids: Sequence[str]) -> list[Record]:
        schema = self._schema(object_type)
        wanted = [str(i) for i in ids if str(i).isdigit()]
        records = [
            mappers.to_record(object_type, raw, schema)
            for raw in self.client.show_many(object_type, wanted)
        ]
        return [r for r in records if not r.deleted]

    def find(self, object_type: str, field: str, values: Sequence[JSON]) -> list[Record]:
        schema = self._schema(object_type)
        spec = schema.spec(field)
        if spec is None:
            raise ConfigurationError(f"Zendesk {object_type} have no field {field!r}")
        found: dict[str, Record] = {}
        for value in dict.fromkeys(v for v in values if v not in (None, "")):
            for raw in self._search(object_type, field, schema, value):
                record = mappers.to_record(object_type, raw, schema)
                # Search matches words and is case-insensitive: keep exact matches only.
                if not record.deleted and _same(record.fields.get(field), value):
                    found[record.id] = record
        return list(found.values())

    def _search(
        self, object_type: str, field: str, schema: mappers.Schema, value: JSON
    ) -> list[dict[str, Any]]:
        text = " ".join(value) if isinstance(value, list) else str(value)
        if object_type == "users" and field == "email":
            return self.client.search_collection("users", {"query": f"email:{text}"})
        if object_type == "users" and field == "external_id":
            return self.client.search_collection("users", {"external_id": text})
        if object_type == "organizations" and field in ("name", "external_id"):
            return self.client.search_collection("organizations", {field: text})
        custom = schema.custom.get(field)
        if custom is not None:
            key = f"custom_field_{custom.handle}" if object_type == "tickets" else custom.handle
        else:
            key = {"type": "ticket_type", "tags": "tags"}.get(field, field)
        noun = COLLECTIONS[object_type][2]
        quoted = text.replace('"', "")
        return [
            r
            for r in self.client.search(f'type:{noun} {key}:"{quoted}"')
            if r.get("result_type", noun) == noun
        ]

    # -- writes ----------------------------------------------------------------------------

    def create(self, object_type: str, items: Sequence[dict[str, JSON]]) -> list[WriteResult]:
        schema = self._schema(object_type)
        results: list[WriteResult] = [WriteResult() for _ in items]
        batches: list[list[tuple[int, dict[str, Any]]]] = []
        for start in range(0, len(items), BATCH_SIZE):
            payloads: list[tuple[int, dict[str, Any]]] = []
            for position, values in enumerate(items[start : start + BATCH_SIZE], start):
                try:
                    payloads.append(
                        (position, mappers.to_payload(object_type, values, schema, creating=True))
                    )
                except RecordError as exc:
                    results[position] = WriteResult(error=exc)
            if payloads:
                batches.append(payloads)
        if sum(len(b) for b in batches) <= self.sync_write_max:
            self._write_each(
                object_type,
                [p for b in batches for p in b],
                results,
                lambda payload: self.client.create_one(object_type, payload),
            )
            return results
        self._run_jobs(
            object_type,
            "create",
            batches,
            results,
            lambda body: self.client.submit_create_many(object_type, body),
        )
        return results

    def update(self, object_type: str, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        schema = self._schema(object_type)
        results: list[WriteResult] = [WriteResult() for _ in items]
        batches: list[list[tuple[int, dict[str, Any]]]] = []
        for start in range(0, len(items), BATCH_SIZE):
            payloads: list[tuple[int, dict[str, Any]]] = []
            for position, item in enumerate(items[start : start + BATCH_SIZE], start):
                try:
                    if not str(item.id).isdigit():
                        raise RecordError(
                            f"{item.id!r} is not a Zendesk id",
                            record_id=item.id,
                            system=mappers.SYSTEM,
                        )
                    payloads.append(
                        (
                            position,
                            mappers.to_payload(
                                object_type,
                                item.fields,
                                schema,
                                creating=False,
                                record_id=str(item.id),
                            ),
                        )
                    )
                except RecordError as exc:
                    results[position] = WriteResult(error=exc)
            if payloads:
                batches.append(payloads)
        if sum(len(b) for b in batches) <= self.sync_write_max:
            self._write_each(
                object_type,
                [p for b in batches for p in b],
                results,
                lambda body: self.client.update_one(object_type, str(body["id"]), body),
            )
            return results
        self._run_jobs(
            object_type,
            "update",
            batches,
            results,
            lambda body: self.client.submit_update_many(object_type, body),
        )
        return results

    def _write_each(
        self,
        object_type: str,
        payloads: list[tuple[int, dict[str, Any]]],
        results: list[WriteResult],
        write: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        """Write a small batch record by record; a refused record fails alone."""
        schema = self._schema(object_type)
        for position, payload in payloads:
            try:
                raw = write(payload)
            except RecordError as exc:
                results[position] = WriteResult(error=exc)
                continue
            results[position] = WriteResult(record=mappers.to_record(object_type, raw, schema))

    def _run_jobs(
        self,
        object_type: str,
        action: str,
        batches: list[list[tuple[int, dict[str, Any]]]],
        results: list[WriteResult],
        submit: Callable[[list[dict[str, Any]]], dict[str, Any]],
    ) -> None:
        """Submit one *_many job per batch of up to 100, then either answer each record as
        pending (`settle_later`: the caller settles the jobs later, see `settle`) or wait
        for all of them together and turn their per-item results into WriteResults (the
        stored records read back).

        The jobs run side by side in Zendesk, so a write of 1,000 records waits about as
        long as one of 100 and polls with one call per round, not one per job.
        """
        submitted: list[tuple[list[tuple[int, dict[str, Any]]], dict[str, Any]]] = []
        for payloads in batches:
            try:
                submitted.append((payloads, submit([payload for _, payload in payloads])))
            except RecordError as exc:
                # Zendesk refused the whole request (400/422): every record in it failed.
                for position, payload in payloads:
                    results[position] = WriteResult(
                        error=RecordError(
                            exc.message,
                            record_id=_id_of(payload),
                            system=exc.system,
                            call=exc.call,
                            status=exc.status,
                            body=exc.body_excerpt,
                        )
                    )
        if self.settle_later:
            for payloads, job in submitted:
                for offset, (position, payload) in enumerate(payloads):
                    results[position] = WriteResult(
                        pending=_handle(job, action, offset, _id_of(payload))
                    )
            return
        finished = self.client.wait_for_jobs([job for _, job in submitted])
        outcomes: list[tuple[int, dict[str, Any], int, str | None]] = [
            (position, job, offset, _id_of(payload))
            for (payloads, _), job in zip(submitted, finished, strict=True)
            for offset, (position, payload) in enumerate(payloads)
        ]
        self._job_outcomes(object_type, outcomes, results)

    def _job_outcomes(
        self,
        object_type: str,
        outcomes: Sequence[tuple[int, dict[str, Any], int, str | None]],
        results: list[WriteResult],
    ) -> None:
        """Per (position, finished job, index in the job, record id sent): the record's
        WriteResult, the stored records read back with one show_many per 100."""
        stored: dict[int, str] = {}
        for position, job, offset, record_id in outcomes:
            outcome = job.get("results")
            items = outcome if isinstance(outcome, list) else []
            by_index = {r["index"]: r for r in items if isinstance(r.get("index"), int)}
            by_id = {str(r["id"]): r for r in items if r.get("id") is not None}
            result = by_index.get(offset) or by_id.get(record_id or "")
            if result is None:
                results[position] = WriteResult(
                    error=RecordError(
                        f"the job {job.get('status')} without a result for this record"
                        + (f": {job.get('message')}" if job.get("message") else ""),
                        record_id=record_id,
                        system=mappers.SYSTEM,
                        call="GET /api/v2/job_statuses/{id}.json",
                    )
                )
            elif result.get("error") or result.get("success") is False or not result.get("id"):
                results[position] = WriteResult(error=_job_error(result, record_id))
            else:
                stored[position] = str(result["id"])
        if stored:
            records = {r.id: r for r in self.get(object_type, list(stored.values()))}
            for position, record_id in stored.items():
                record = records.get(record_id)
                if record is None:
                    results[position] = WriteResult(
                        error=RecordError(
                            "Zendesk reported success but the record cannot be read back",
                            record_id=record_id,
                            system=mappers.SYSTEM,
                        )
                    )
                else:
                    results[position] = WriteResult(record=record)

    def settle(self, object_type: str, handles: Sequence[JSON]) -> list[WriteResult]:
        """The outcome of writes answered as pending: every job they name polled with one
        GET /api/v2/job_statuses/show_many.json per 100 jobs (no waiting), the records of
        finished creates and updates read back with one show_many per 100."""
        self._schema(object_type)
        results: list[WriteResult] = [WriteResult() for _ in handles]
        valid: list[tuple[int, dict[str, Any]]] = []
        for position, handle in enumerate(handles):
            if (
                not isinstance(handle, dict)
                or not isinstance(handle.get("job"), str)
                or handle.get("action") not in ("create", "update", "delete")
                or not isinstance(handle.get("index"), int)
            ):
                results[position] = WriteResult(
                    error=OutcomeUnknown(
                        f"not a Zendesk job handle: {handle!r}", system=mappers.SYSTEM
                    )
                )
            else:
                valid.append((position, handle))
        jobs = self.client.job_statuses([h["job"] for _, h in valid]) if valid else {}
        finished: list[tuple[int, dict[str, Any], int, str | None]] = []
        for position, handle in valid:
            record_id = handle.get("id")
            job = jobs.get(handle["job"])
            if job is None:
                results[position] = WriteResult(
                    error=OutcomeUnknown(
                        f"Zendesk no longer knows job {handle['job']}",
                        record_id=record_id,
                        system=mappers.SYSTEM,
                        call="GET /api/v2/job_statuses/show_many.json",
                    )
                )
            elif job.get("status") not in JOB_DONE:
                results[position] = WriteResult(pending=handle)
            elif handle["action"] == "delete":
                results[position] = _deleted(job, str(record_id))
            else:
                finished.append((position, job, handle["index"], record_id))
        self._job_outcomes(object_type, finished, results)
        return results

    def delete(self, object_type: str, ids: Sequence[str]) -> list[WriteResult]:
        """destroy_many jobs of up to 100, waited for; with `settle_later`, a delete of at
        most `sync_write_max` records goes record by record to the one-record endpoint and
        a larger one is answered as pending (its jobs settled later)."""
        self._schema(object_type)
        given = [str(i) for i in ids]
        if self.settle_later and len([i for i in given if i.isdigit()]) <= self.sync_write_max:
            return [self._delete_one(object_type, record_id) for record_id in given]
        results: list[WriteResult] = []
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = given[start : start + BATCH_SIZE]
            valid = [i for i in chunk if i.isdigit()]
            outcome: dict[str, WriteResult] = {}
            try:
                job = self.client.submit_destroy_many(object_type, valid) if valid else {}
            except NotFound:
                # Zendesk refuses the whole batch when one id is gone; go one by one, where
                # "not found" means already deleted.
                for record_id in valid:
                    outcome[record_id] = self._delete_one(object_type, record_id)
            else:
                if valid and self.settle_later:
                    for offset, record_id in enumerate(valid):
                        outcome[record_id] = WriteResult(
                            pending=_handle(job, "delete", offset, record_id)
                        )
                elif valid:
                    job = self.client.wait_for_job(job)
                    for record_id in valid:
                        outcome[record_id] = _deleted(job, record_id)
            for record_id in chunk:
                results.append(outcome.get(record_id) or _not_an_id(record_id))
        return results

    def _delete_one(self, object_type: str, record_id: str) -> WriteResult:
        if not record_id.isdigit():
            return _not_an_id(record_id)
        self.client.destroy_one(object_type, record_id)  # "not found": already deleted
        return WriteResult(record=Record(id=record_id, deleted=True))

    # -- webhooks --------------------------------------------------------------------------

    # -- comments --------------------------------------------------------------------------

    def comments(self, object_type: str, record_id: str) -> list[Comment]:
        """The ticket's comments but the first: that one is the ticket's description (a
        field of its own), so it is never a comment to copy."""
        self._comment_type(object_type)
        listed, users = self.client.ticket_comments(record_id)
        return [_comment(c, users) for c in listed[1:]]

    def comment_create(self, object_type: str, record_id: str, comment: NewComment) -> Comment:
        self._comment_type(object_type)
        payload = {"html_body": markdown_to_html(comment.body), "public": not comment.internal}
        audit = self.client.add_comment(record_id, payload)
        for event in audit.get("events") or []:
            if isinstance(event, dict) and event.get("type") == "Comment":
                return _comment(event, {})
        raise UnexpectedAnswer(
            "the ticket's audit has no Comment event", system=mappers.SYSTEM,
            call="PUT /api/v2/tickets/{ticket_id}.json",
        )  # fmt: skip

    def _comment_type(self, object_type: str) -> None:
        if object_type != "tickets":
            raise ConfigurationError(
                f"Zendesk {object_type} have no comments", system=mappers.SYSTEM
            )

    def parse_webhook(
        self, request: WebhookRequest, secret: str, *, now: float | None = None
    ) -> WebhookResult:
        return webhooks.parse_webhook(request, secret, now=now)

    def send_test_webhook(self, url: str) -> int | None:
        """Find the account's webhook whose endpoint is `url` and let Zendesk test it.

        Listing and testing webhooks needs an admin's credentials (Zendesk answers 403
        otherwise). Raises ConfigurationError when no webhook sends to `url`.
        """
        wanted = url.rstrip("/")
        found = [
            hook
            for hook in self.client.webhooks()
            if str(hook.get("endpoint") or "").rstrip("/") == wanted
        ]
        if not found:
            raise ConfigurationError(
                f"no webhook in this Zendesk account sends to {url}; create one with that "
                "endpoint URL (the steps are on this page), then send the test again",
                system=mappers.SYSTEM,
                call="GET /api/v2/webhooks",
            )
        # Several webhooks to one URL (a trigger's and an event subscription's, say) share
        # the endpoint; an active one is the one worth testing.
        found.sort(key=lambda hook: hook.get("status") != "active")
        return webhooks.test_answer_status(self.client.webhook_test(found[0]))


def _comment(data: dict[str, Any], users: Mapping[int, dict[str, Any]]) -> Comment:
    """A Zendesk comment (or an audit's Comment event) in canonical form."""
    author = users.get(data.get("author_id"), {}) if isinstance(data.get("author_id"), int) else {}
    markup = data.get("html_body")
    body = html_to_markdown(markup) if isinstance(markup, str) and markup else None
    created = data.get("created_at")
    try:
        when = mappers.parse_time(created) if isinstance(created, str) else None
    except ValueError:
        when = None
    return Comment(
        id=str(data.get("id", "")),
        body=body if body is not None else str(data.get("body") or ""),
        author_name=str(author.get("name") or ""),
        author_email=author.get("email") or None,
        created_at=when,
        updated_at=when,  # Zendesk comments are never edited
        internal=data.get("public") is False,
        raw=markup,
    )


def _too_recent(exc: FatalError) -> bool:
    return exc.status == 422 and "too recent start_time" in str(exc).lower()


def _id_of(payload: dict[str, Any]) -> str | None:
    record_id = payload.get("id")
    return None if record_id is None else str(record_id)


def _same(current: JSON, wanted: JSON) -> bool:
    if isinstance(current, str) and isinstance(wanted, str):
        return current.strip().lower() == wanted.strip().lower()
    if isinstance(current, str) and not isinstance(wanted, list):
        return current == str(wanted)
    return current == wanted


def _handle(job: Mapping[str, Any], action: str, index: int, record_id: str | None) -> JSON:
    """What settles one record of a submitted job later: the job, the record's index in
    it, what was done and (updates, deletes) the record's id."""
    return {"job": str(job.get("id")), "action": action, "index": index, "id": record_id}


def _deleted(job: Mapping[str, Any], record_id: str) -> WriteResult:
    """One record's outcome in a finished destroy_many job: deleted unless its item failed."""
    items = job.get("results")
    per_id = {str(r.get("id")): r for r in items} if isinstance(items, list) else {}
    result = per_id.get(record_id)
    if result is not None and (result.get("error") or result.get("success") is False):
        return WriteResult(error=_job_error(result, record_id))
    return WriteResult(record=Record(id=record_id, deleted=True))


def _not_an_id(record_id: str) -> WriteResult:
    return WriteResult(
        error=RecordError(
            f"{record_id!r} is not a Zendesk id", record_id=record_id, system=mappers.SYSTEM
        )
    )


def _job_error(result: dict[str, Any], record_id: str | None) -> RecordError:
    """A RecordError from one failed item of a job, naming the field where Zendesk does."""
    details = str(result.get("details") or result.get("errors") or "").strip()
    error = str(result.get("error") or "Failed")
    fields: dict[str, str] = {}
    for part in details.split(";"):
        found = _FIELD_IN_DETAILS.match(part.strip())
        if found:
            fields[found.group(1).strip().lower().replace(" ", "_")] = found.group(2).strip()
    return RecordError(
        f"{error}: {details}" if details else error,
        record_id=record_id,
        fields=fields,
        system=mappers.SYSTEM,
        call="GET /api/v2/job_statuses/{id}.json",
    )


CONNECTOR = ZendeskConnector

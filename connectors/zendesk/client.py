"""The Zendesk Support REST calls Concord makes, over connectors.http.HttpClient.

Each method is one documented endpoint (named in its docstring) and returns the decoded
JSON; paging, retries and error mapping are done here or by HttpClient, never by callers.
Background jobs (`*_many` writes) are polled here until they finish.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from requests.auth import HTTPBasicAuth

from connectors.answers import PageGuard, need
from connectors.answers import items as answer_items
from connectors.base import CallObserver, RateLimiter
from connectors.errors import ConfigurationError, RecordError, TransientError
from connectors.http import HttpClient

SYSTEM = "Zendesk"
BATCH_SIZE = 100  # *_many endpoints and show_many accept at most 100 items
JOB_DONE = frozenset({"completed", "failed", "killed"})

# The paths of each object type's collection and its JSON root keys.
COLLECTIONS = {
    "tickets": ("/api/v2/tickets", "tickets", "ticket"),
    "users": ("/api/v2/users", "users", "user"),
    "organizations": ("/api/v2/organizations", "organizations", "organization"),
}


class ZendeskClient:
    """HTTP to one Zendesk account.

    `auth` is ("token", email, api_token) or ("oauth", oauth_token). `http_options` go to
    HttpClient (timeouts, retry budget, and `sleep`/`clock` for tests). Job polling waits
    `job_poll_interval` seconds, doubling up to `job_poll_max`, for at most `job_timeout`:
    a short job (most are, for one run's writes) is seen done within ~0.15 s, and a job of
    a few seconds still costs only about log2(seconds / 0.05) polls.
    """

    def __init__(
        self,
        base_url: str,
        auth: tuple[str, ...],
        *,
        rate_limiter: RateLimiter | None = None,
        on_call: CallObserver | None = None,
        budget_key: str | None = None,
        interrupt: Callable[[], None] | None = None,
        job_poll_interval: float = 0.05,
        job_poll_max: float = 5.0,
        job_timeout: float = 120.0,
        **http_options: Any,
    ) -> None:
        headers: dict[str, str] = {}
        basic = None
        if auth[0] == "token":
            _, email, token = auth
            basic = HTTPBasicAuth(f"{email}/token", token)
            secrets = (token,)
        elif auth[0] == "oauth":
            headers["Authorization"] = f"Bearer {auth[1]}"
            secrets = (auth[1],)
        else:
            raise ConfigurationError(f"unknown Zendesk auth scheme {auth[0]!r}")
        self.base_url = base_url.rstrip("/")
        # Called on every page of every paging loop (the connector's `interrupt` hook).
        self.interrupt = interrupt
        self._sleep: Callable[[float], None] = http_options.get("sleep", time.sleep)
        self._clock: Callable[[], float] = http_options.get("clock", time.monotonic)
        self.job_poll_interval = job_poll_interval
        self.job_poll_max = job_poll_max
        self.job_timeout = job_timeout
        # Zendesk's plans allow 200-700 requests per minute; 400/min is the common plan.
        http_options.setdefault("default_rate", (400, 60.0))
        self.http = HttpClient(
            system=SYSTEM,
            base_url=self.base_url,
            headers=headers,
            auth=basic,
            secrets=secrets,
            rate_limiter=rate_limiter,
            budget_key=budget_key,
            on_call=on_call,
            **http_options,
        )

    def close(self) -> None:
        self.http.close()

    # -- plumbing --------------------------------------------------------------------------

    def get_json(self, path: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Any:
        return self.http.json(self.http.get(path, params=params, **kw))

    def _split_next(self, url: str) -> tuple[str, dict[str, str]]:
        """A next-page URL as (path, params), refusing to follow it off the account."""
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise TransientError(
                f"the next page points outside {base.netloc}: {parts.netloc}",
                system=SYSTEM,
                call="GET " + parts.path,
            )
        path = parts.path
        if base.path and path.startswith(base.path):
            path = path[len(base.path) :]  # a sandbox under a prefix: HttpClient adds it back
        return path, dict(parse_qsl(parts.query))

    def paged(
        self, path: str, root: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a list endpoint, following `next_page` (offset) or `links.next` (cursor).

        Raises EndlessPaging for a next link given twice or endless empty pages, and
        UnexpectedAnswer for an item without its id or a link that is not text.
        """
        call = f"GET {path}"
        current: tuple[str, Mapping[str, Any] | None] = (path, params)
        guard = PageGuard(SYSTEM, call, interrupt=self._interrupt)
        while True:
            data = self.get_json(*current)
            listed = answer_items(data, root, system=SYSTEM, call=call)
            links = need(data, "links", dict, system=SYSTEM, call=call, optional=True) or {}
            meta = need(data, "meta", dict, system=SYSTEM, call=call, optional=True) or {}
            if meta.get("has_more"):
                next_url = need(links, "next", str, system=SYSTEM, call=call, where="links")
            else:
                next_url = need(data, "next_page", str, system=SYSTEM, call=call, optional=True)
            guard.page(len(listed), next_url or None)
            yield list(listed)
            if not next_url:
                return
            current = self._split_next(next_url)

    def _interrupt(self) -> None:
        if self.interrupt is not None:
            self.interrupt()

    # -- reads -----------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """GET /api/v2/users/me.json (Users: Show Self)."""
        return self.get_json("/api/v2/users/me.json")["user"]

    def field_definitions(self, path: str, root: str) -> list[dict[str, Any]]:
        """GET /api/v2/{ticket,user,organization}_fields.json, every page."""
        return [item for page in self.paged(path, root) for item in page]

    def incremental_cursor(self, resource: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET /api/v2/incremental/{tickets,users}/cursor.json (Incremental Exports).

        `params` holds either `start_time` or `cursor`, and `per_page`. Raises like
        HttpClient; a 422 ("Too recent start_time") is a FatalError the caller inspects.
        """
        return self.get_json(f"/api/v2/incremental/{resource}/cursor.json", params)

    def incremental_time(self, resource: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET /api/v2/incremental/{resource}.json?start_time= (time-based export)."""
        return self.get_json(f"/api/v2/incremental/{resource}.json", params)

    def show_many(self, object_type: str, ids: Sequence[str]) -> list[dict[str, Any]]:
        """GET /api/v2/{type}/show_many.json?ids=... in batches of 100."""
        path, root, _ = COLLECTIONS[object_type]
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), BATCH_SIZE):
            chunk = ids[start : start + BATCH_SIZE]
            data = self.get_json(f"{path}/show_many.json", {"ids": ",".join(chunk)})
            found.extend(answer_items(data, root, system=SYSTEM, call=f"GET {path}/show_many.json"))
        return found

    def search(self, query: str) -> list[dict[str, Any]]:
        """GET /api/v2/search.json?query=... (Search), every page of results."""
        return [
            r
            for page in self.paged("/api/v2/search.json", "results", {"query": query})
            for r in page
        ]

    def search_collection(self, object_type: str, params: Mapping[str, str]) -> list[dict]:
        """GET /api/v2/users/search.json or /api/v2/organizations/search.json."""
        path, root, _ = COLLECTIONS[object_type]
        return [r for page in self.paged(f"{path}/search.json", root, params) for r in page]

    def list_page(self, object_type: str, after: str | None) -> tuple[list[dict], str | None]:
        """GET /api/v2/{type}.json?page[size]=100 (cursor pagination); (items, next cursor)."""
        path, root, _ = COLLECTIONS[object_type]
        params = {"page[size]": str(BATCH_SIZE)}
        if after:
            params["page[after]"] = after
        data = self.get_json(f"{path}.json", params)
        call = f"GET {path}.json"
        listed = answer_items(data, root, system=SYSTEM, call=call)
        meta = need(data, "meta", dict, system=SYSTEM, call=call, optional=True) or {}
        if not meta.get("has_more"):
            return list(listed), None
        return list(listed), need(meta, "after_cursor", str, system=SYSTEM, call=call, where="meta")

    # -- writes (background jobs) ----------------------------------------------------------

    def create_many(self, object_type: str, payloads: list[dict[str, Any]]) -> dict[str, Any]:
        """POST /api/v2/{type}/create_many.json; returns the finished job status.

        A 400/422 for the whole request raises RecordError (the caller fails every record of
        the batch with it). Not retried after it may have reached Zendesk (idempotent=False):
        a second job would create every record twice.
        """
        return self.wait_for_job(self.submit_create_many(object_type, payloads))

    def submit_create_many(
        self, object_type: str, payloads: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """POST /api/v2/{type}/create_many.json; the job status as submitted (not waited
        for: several jobs may run at once and be awaited together with `wait_for_jobs`)."""
        path, root, _ = COLLECTIONS[object_type]
        return self.http.json(
            self.http.post(
                f"{path}/create_many.json",
                json_body={root: payloads},
                idempotent=False,
                per_record=True,
            )
        )["job_status"]

    def update_many(self, object_type: str, payloads: list[dict[str, Any]]) -> dict[str, Any]:
        """PUT /api/v2/{type}/update_many.json with each item's `id`; the finished job.

        A 400/422 for the whole request raises RecordError, as for create_many.
        """
        return self.wait_for_job(self.submit_update_many(object_type, payloads))

    def submit_update_many(
        self, object_type: str, payloads: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """PUT /api/v2/{type}/update_many.json; the job status as submitted."""
        path, root, _ = COLLECTIONS[object_type]
        answer = self.http.put(
            f"{path}/update_many.json", json_body={root: payloads}, per_record=True
        )
        return self.http.json(answer)["job_status"]

    def create_one(self, object_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v2/{type}.json; the record as Zendesk stored it (201).

        A 400/422 raises RecordError. Not retried after it may have reached Zendesk, as for
        create_many.
        """
        path, _, singular = COLLECTIONS[object_type]
        call = f"POST {path}.json"
        answer = self.http.post(
            f"{path}.json",
            json_body={singular: payload},
            idempotent=False,
            per_record=True,
            accept=INVALID,
        )
        return _stored(self.http, answer, singular, call, None)

    def update_one(
        self, object_type: str, record_id: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT /api/v2/{type}/{id}.json; the record as Zendesk stored it (200).

        A 400/409/422 raises RecordError naming the record.
        """
        path, _, singular = COLLECTIONS[object_type]
        body = {k: v for k, v in payload.items() if k != "id"}
        answer = self.http.put(
            f"{path}/{record_id}.json",
            json_body={singular: body},
            per_record=True,
            record_id=record_id,
            accept=(*INVALID, 404),
        )
        if answer.status_code == 404:
            # As update_many reports it for that item: the record alone fails.
            raise RecordError(
                "RecordNotFound: no such record (deleted, or merged into another)",
                record_id=record_id,
                system=SYSTEM,
                call=f"PUT {path}/{{id}}.json",
                status=404,
            )
        return _stored(self.http, answer, singular, f"PUT {path}/{{id}}.json", record_id)

    # -- comments ----------------------------------------------------------------------------
    def ticket_comments(self, ticket_id: str) -> tuple[list[dict], dict[int, dict]]:
        """Ticket Comments: GET /api/v2/tickets/{ticket_id}/comments.json with the authors
        side-loaded (include=users), every page, oldest first: (comments, users by id).
        RecordError (404) when the ticket is gone."""
        call = "GET /api/v2/tickets/{ticket_id}/comments.json"
        path = f"/api/v2/tickets/{ticket_id}/comments.json"
        current: tuple[str, Mapping[str, Any]] = (path, {"include": "users"})
        guard = PageGuard(SYSTEM, call, interrupt=self._interrupt)
        comments: list[dict[str, Any]] = []
        users: dict[int, dict[str, Any]] = {}
        while True:
            response = self.http.get(current[0], params=current[1], accept=(404,))
            if response.status_code == 404:
                raise RecordError(
                    "RecordNotFound: no such ticket", record_id=ticket_id, system=SYSTEM,
                    call=call, status=404,
                )  # fmt: skip
            data = self.http.json(response)
            listed = answer_items(data, "comments", system=SYSTEM, call=call)
            comments.extend(listed)
            for user in need(data, "users", list, system=SYSTEM, call=call, optional=True) or []:
                if isinstance(user, dict) and isinstance(user.get("id"), int):
                    users[user["id"]] = user
            next_url = need(data, "next_page", str, system=SYSTEM, call=call, optional=True)
            guard.page(len(listed), next_url or None)
            if not next_url:
                return comments, users
            current = self._split_next(next_url)

    def add_comment(self, ticket_id: str, comment: dict[str, Any]) -> dict[str, Any]:
        """Update Ticket with a `comment` (Zendesk adds comments only this way): PUT
        /api/v2/tickets/{ticket_id}.json; the answer's audit, whose Comment event is the new
        comment. Not retried once it may have reached Zendesk (it would comment twice)."""
        call = "PUT /api/v2/tickets/{ticket_id}.json"
        answer = self.http.put(
            f"/api/v2/tickets/{ticket_id}.json",
            json_body={"ticket": {"comment": comment}},
            per_record=True,
            record_id=ticket_id,
            idempotent=False,
            accept=(*INVALID, 404),
        )
        if answer.status_code == 404:
            raise RecordError(
                "RecordNotFound: no such ticket", record_id=ticket_id, system=SYSTEM,
                call=call, status=404,
            )  # fmt: skip
        _stored(self.http, answer, "ticket", call, ticket_id)  # raises the refusal, if any
        return need(self.http.json(answer), "audit", dict, system=SYSTEM, call=call)

    def destroy_many(self, object_type: str, ids: Sequence[str]) -> dict[str, Any]:
        """DELETE /api/v2/{type}/destroy_many.json?ids=...; the finished job.

        Raises NotFound when Zendesk refuses the batch because an id does not exist.
        """
        return self.wait_for_job(self.submit_destroy_many(object_type, ids))

    def submit_destroy_many(self, object_type: str, ids: Sequence[str]) -> dict[str, Any]:
        """DELETE /api/v2/{type}/destroy_many.json?ids=...; the job status as submitted.

        Raises NotFound when Zendesk refuses the batch because an id does not exist.
        """
        path, _, _ = COLLECTIONS[object_type]
        return self.http.json(
            self.http.delete(f"{path}/destroy_many.json", params={"ids": ",".join(ids)})
        )["job_status"]

    def destroy_one(self, object_type: str, record_id: str) -> bool:
        """DELETE /api/v2/{type}/{id}.json; False when it did not exist (404)."""
        path, _, _ = COLLECTIONS[object_type]
        response = self.http.delete(f"{path}/{record_id}.json", accept=(404,))
        return response.status_code != 404

    def wait_for_job(self, job: dict[str, Any]) -> dict[str, Any]:
        """Poll GET /api/v2/job_statuses/{id}.json until the job is completed, failed or killed.

        Raises TransientError when it is still running after `job_timeout` seconds.
        """
        started = self._clock()
        delay = self.job_poll_interval
        while job.get("status") not in JOB_DONE:
            if self._clock() - started > self.job_timeout:
                raise TransientError(
                    f"job {job.get('id')} still {job.get('status')} after {self.job_timeout:g}s",
                    system=SYSTEM,
                    call="GET /api/v2/job_statuses/{id}.json",
                )
            self._sleep(delay)
            delay = min(self.job_poll_max, delay * 2)
            job = self.get_json(f"/api/v2/job_statuses/{job['id']}.json")["job_status"]
        return job

    def wait_for_jobs(self, jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Wait for several jobs at once: each round polls every unfinished one with one
        GET /api/v2/job_statuses/show_many.json?ids=... (up to 100 ids a call). The
        finished jobs, in the order given.

        Raises TransientError when one is still running after `job_timeout` seconds.
        """
        done = {str(j.get("id")): j for j in jobs if j.get("status") in JOB_DONE}
        waiting = [str(j.get("id")) for j in jobs if str(j.get("id")) not in done]
        started = self._clock()
        delay = self.job_poll_interval
        call = "GET /api/v2/job_statuses/show_many.json"
        while waiting:
            if self._clock() - started > self.job_timeout:
                raise TransientError(
                    f"{len(waiting)} jobs still running after {self.job_timeout:g}s",
                    system=SYSTEM,
                    call=call,
                )
            self._sleep(delay)
            delay = min(self.job_poll_max, delay * 2)
            for job_id, job in self.job_statuses(waiting).items():
                if job.get("status") in JOB_DONE:
                    done[job_id] = job
            waiting = [i for i in waiting if i not in done]
        return [done[str(j.get("id"))] for j in jobs]

    def job_statuses(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The current status of each job Zendesk still knows, by id: one
        GET /api/v2/job_statuses/show_many.json?ids=... per 100 ids, no waiting. A job
        Zendesk has forgotten is left out."""
        call = "GET /api/v2/job_statuses/show_many.json"
        found: dict[str, dict[str, Any]] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start : start + BATCH_SIZE]
            data = self.get_json("/api/v2/job_statuses/show_many.json", {"ids": ",".join(chunk)})
            for job in answer_items(data, "job_statuses", system=SYSTEM, call=call):
                found[str(job.get("id"))] = job
        return found

    # -- webhooks --------------------------------------------------------------------------

    def webhooks(self) -> list[dict[str, Any]]:
        """GET /api/v2/webhooks (Webhooks API: List Webhooks), every page. Admins only."""
        return [
            hook
            for page in self.paged("/api/v2/webhooks", "webhooks", {"page[size]": "100"})
            for hook in page
        ]

    def webhook_test(self, webhook: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v2/webhooks/test?webhook_id= (Webhooks API: Test Webhook).

        Zendesk sends one test request from the existing webhook `webhook` (its endpoint,
        method, format and signing secret) and answers with what the endpoint answered. Not
        retried once it may have reached Zendesk: a retry would send a second test.
        """
        body = {
            "webhook": {
                "endpoint": webhook.get("endpoint"),
                "http_method": webhook.get("http_method") or "POST",
                "request_format": webhook.get("request_format") or "json",
            }
        }
        answer = self.http.post(
            "/api/v2/webhooks/test",
            params={"webhook_id": webhook["id"]},
            json_body=body,
            idempotent=False,
        )
        return self.http.json(answer)


# A one-record write's refusals, read here to name the fields, as a job's failed items do.
INVALID = (400, 422)
_FIELD_PROBLEM = re.compile(r"^([A-Za-z][A-Za-z _]*?):\s*(.+)$")


def _stored(
    http: HttpClient, answer: Any, singular: str, call: str, record_id: str | None
) -> dict[str, Any]:
    """The record a one-record write answered with, or its refusal as a RecordError:
    `details` is {field: [{"description": "Field: problem", "error": ...}]}."""
    data = http.json(answer)
    if answer.status_code not in INVALID:
        return need(data, singular, dict, system=SYSTEM, call=call)
    fields: dict[str, str] = {}
    described: list[str] = []
    details = data.get("details") if isinstance(data, dict) else None
    for name, problems in (details if isinstance(details, dict) else {}).items():
        for problem in problems if isinstance(problems, list) else []:
            text = str(problem.get("description", "")) if isinstance(problem, dict) else ""
            if text:
                described.append(text)
                found = _FIELD_PROBLEM.match(text)
                if name != "base":
                    fields.setdefault(str(name), found.group(2).strip() if found else text)
    error = str(data.get("error") or "RecordInvalid") if isinstance(data, dict) else "refused"
    if not described and isinstance(data, dict) and data.get("description"):
        described.append(str(data["description"]))
    raise RecordError(
        f"{error}: {'; '.join(described)}" if described else error,
        record_id=record_id,
        fields=fields,
        system=SYSTEM,
        call=call,
        status=answer.status_code,
    )

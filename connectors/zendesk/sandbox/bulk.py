"""The Zendesk sandbox's many-record endpoints: show_many, the `*_many` writes (background
jobs with a result per record) and the job statuses.

Writes of up to 100 records answer at once with a queued job; polling
/api/v2/job_statuses/{id} shows it "working" for `job_polls` polls, then completed with
the per-record results (developer.zendesk.com/api-reference/ticketing/ticket-management/
job_statuses/). The work itself is done at once (state.py, `do_work`); with the `jobs_held`
setting on, it waits, queued, until the setting is turned off, and is done then, in order.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.core import HttpError, Request, Response, route
from connectors.sandbox.records import Row
from connectors.zendesk.sandbox.schema import SINGULAR
from connectors.zendesk.sandbox.state import ZendeskState
from connectors.zendesk.sandbox.views import (
    body_list,
    body_object,
    for_types,
    ids,
    job_json,
    names,
    not_found,
    public,
    zendesk_error,
)


class BulkRoutes:
    state: ZendeskState

    @for_types("GET", "/api/v2/<type>/show_many.json")
    def show_many(self, request: Request) -> Response:
        """Tickets: Show Multiple Tickets; Users: Show Many Users; Organizations: Show Many
        Organizations. By `ids`, or (users, organizations) by `external_ids`. Deleted users
        come back inactive; deleted tickets not at all.
        https://developer.zendesk.com/api-reference/ticketing/users/users/#show-many-users
        """
        object_type = request.params["type"]
        table = self.state.table
        if request.arg("external_ids") is not None and object_type != "tickets":
            wanted = set(names(request, "external_ids"))
            rows = [
                r for r in table.rows(object_type, "all") if r.data.get("external_id") in wanted
            ]
        else:
            found = (table.get(object_type, i, deleted=True) for i in ids(request))
            rows = [r for r in found if r is not None]
        shown = [
            public(r, request.base_url)
            for r in rows
            if not (r.type == "tickets" and r.data.get("status") == "deleted")
        ]
        return Response.json(
            200,
            {object_type: shown, "next_page": None, "previous_page": None, "count": len(shown)},
        )

    @for_types("POST", "/api/v2/<type>/create_many.json")
    def create_many(self, request: Request) -> Response:
        """Tickets: Create Many Tickets; Users: Create Many Users; Organizations: Create
        Many Organizations (up to 100; a job with a result per record).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#create-many-tickets
        """
        object_type = request.params["type"]
        items = body_list(request, object_type)
        work = {"op": "create", "type": object_type, "items": items}
        return self._job(request, f"Bulk Create {object_type.title()}", work)

    @for_types("POST", "/api/v2/<type>/create_or_update_many.json", ("users", "organizations"))
    def create_or_update_many(self, request: Request) -> Response:
        """Users: Create Or Update Many Users (matched on email or external_id);
        Organizations: Create Or Update Many Organizations (a job).
        https://developer.zendesk.com/api-reference/ticketing/users/users/#create-or-update-many-users
        """
        object_type = request.params["type"]
        items = body_list(request, object_type)
        work = {"op": "upsert", "type": object_type, "items": items}
        return self._job(request, f"Bulk Create Or Update {object_type.title()}", work)

    @for_types("PUT", "/api/v2/<type>/update_many.json")
    def update_many(self, request: Request) -> Response:
        """Tickets, Users, Organizations: Update Many, in both documented forms: a batch
        `{"tickets": [{id, ...}]}`, or `?ids=` (users, organizations: `external_ids` too)
        with one `{"ticket": {...}}` applied to each (a job either way).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-many-tickets
        """
        object_type = request.params["type"]
        # (the record or None, the id its result names, the changes)
        targets: list[tuple[Row | None, Any, Any]] = []
        if request.arg("ids") is not None or request.arg("external_ids") is not None:
            changes = body_object(request, SINGULAR[object_type])
            for row, key in self._bulk_targets(request, object_type):
                targets.append((row, key, changes))
        else:
            for item in body_list(request, object_type):
                if not isinstance(item, dict):
                    targets.append((None, None, item))
                    continue
                key = item.get("id")
                rest = {k: v for k, v in item.items() if k != "id"}
                targets.append((self.state.live(object_type, key), key, rest))
        work = {
            "op": "update",
            "type": object_type,
            "targets": [[None if row is None else row.id, key, ch] for row, key, ch in targets],
        }
        return self._job(request, f"Bulk Update {object_type.title()}", work)

    @for_types("DELETE", "/api/v2/<type>/destroy_many.json")
    def destroy_many(self, request: Request) -> Response:
        """Tickets: Bulk Delete Tickets (soft); Users: Bulk Delete Users; Organizations:
        Bulk Delete Organizations (a job). One unknown id refuses the whole request.
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#bulk-delete-tickets
        """
        object_type = request.params["type"]
        found = [self.state.live(object_type, key) for key in ids(request)]
        rows = [row for row in found if row is not None]
        if len(rows) < len(found):
            return not_found()
        work = {"op": "delete", "type": object_type, "ids": [row.id for row in rows]}
        return self._job(request, f"Bulk Delete {object_type.title()}", work)

    @route("GET", "/api/v2/job_statuses.json")
    def list_job_statuses(self, request: Request) -> Response:
        """Job Statuses: List Job Statuses (the last 100, newest first).
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/
        """
        jobs = [job_json(j, request.base_url) for j in reversed(self.state.jobs.values())]
        return Response.json(
            200,
            {"job_statuses": jobs, "next_page": None, "previous_page": None, "count": len(jobs)},
        )

    @route("GET", "/api/v2/job_statuses/show_many.json")
    def show_many_job_statuses(self, request: Request) -> Response:
        """Job Statuses: Show Many Job Statuses (`ids`; each look counts as a poll)."""
        jobs = []
        for job_id in request.args("ids"):
            job = self.state.jobs.get(job_id)
            if job is not None:
                self.state.poll_job(job)
                jobs.append(job_json(job, request.base_url))
        return Response.json(200, {"job_statuses": jobs})

    @route("GET", "/api/v2/job_statuses/{id}")
    def show_job_status(self, request: Request) -> Response:
        """Job Statuses: Show Job Status. Reports "working" for `job_polls` polls, then done.
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/#show-job-status
        """
        job = self.state.jobs.get(request.params["id"].removesuffix(".json"))
        if job is None:
            return not_found()
        self.state.poll_job(job)
        return Response.json(200, {"job_status": job_json(job, request.base_url)})

    def _job(self, request: Request, job_type: str, work: dict[str, Any]) -> Response:
        job = self.state.submit_job(job_type, work)
        return Response.json(200, {"job_status": job_json(job, request.base_url)})

    def _bulk_targets(self, request: Request, object_type: str) -> list[tuple[Row | None, Any]]:
        """(record or None, its id as given) for each of `?ids=` or `?external_ids=`."""
        if request.arg("ids") is not None:
            return [(self.state.live(object_type, key), key) for key in ids(request)]
        if object_type == "tickets":
            raise HttpError(
                zendesk_error(400, "InvalidValue", "tickets take ids, not external_ids")
            )
        by_external = {r.data.get("external_id"): r for r in self.state.table.rows(object_type)}
        return [(by_external.get(key), key) for key in names(request, "external_ids")]

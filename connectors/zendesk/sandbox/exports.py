"""The Zendesk sandbox's reading endpoints over many records: lists, the incremental exports,
search, and the deleted tickets and users.

The incremental exports hold back what changed within the export lag (a minute by default,
`export_lag_seconds`) and refuse a `start_time` inside it with Zendesk's 422 "Too recent
start_time"; they share a limit of 10 requests a minute (`export_rate_limit`). Every link
they answer with (`after_url`, `next_page`, `links.next`) leads back to this sandbox.
"""

from __future__ import annotations

from urllib.parse import urlencode

from connectors.sandbox.core import HttpError, Request, Response, route
from connectors.sandbox.records import Row
from connectors.zendesk.sandbox import query
from connectors.zendesk.sandbox.schema import EXPORT_MAX_PAGE, SINGULAR, iso
from connectors.zendesk.sandbox.state import ZendeskState
from connectors.zendesk.sandbox.views import (
    PAGE_MAX,
    decode_cursor,
    encode_cursor,
    for_types,
    job_json,
    not_found,
    offset_page,
    public,
    zendesk_error,
)


class ExportRoutes:
    state: ZendeskState

    # -- lists -------------------------------------------------------------------------------

    @for_types("GET", "/api/v2/<type>.json")
    def list_records(self, request: Request) -> Response:
        """Tickets: List Tickets; Users: List Users; Organizations: List Organizations, with
        cursor pagination: page[size] (at most 100), page[after], `meta` and `links`.
        https://developer.zendesk.com/api-reference/introduction/pagination/
        """
        object_type = request.params["type"]
        raw_size = request.arg("page[size]", "100") or "100"
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= PAGE_MAX:
            return zendesk_error(
                400, "InvalidPaginationParameter", f"page[size] must be between 1 and {PAGE_MAX}"
            )
        size = int(raw_size)
        after = request.arg("page[after]")
        items = self.state.table.rows(object_type)
        if after:
            last_id = decode_cursor(after)
            items = [r for r in items if r.id > last_id]
        page = items[:size]
        has_more = len(items) > size
        after_cursor = encode_cursor(0, page[-1].id) if page else None
        following = urlencode({"page[size]": size, "page[after]": after_cursor or ""})
        return Response.json(
            200,
            {
                object_type: [public(r, request.base_url) for r in page],
                "meta": {"has_more": has_more, "after_cursor": after_cursor, "before_cursor": None},
                "links": {
                    "next": f"{request.base_url}{request.path}?{following}" if has_more else None,
                    "prev": None,
                },
            },
        )

    # -- incremental exports -----------------------------------------------------------------

    @for_types(
        "GET",
        "/api/v2/incremental/<type>/cursor.json",
        ("tickets", "users"),
        limits=("incremental",),
    )
    def cursor_export(self, request: Request) -> Response:
        """Incremental Ticket Export and Incremental User Export, Cursor Based: changes in
        the order they happened, deleted tickets and users included (as tombstones).
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-ticket-export-cursor-based
        """
        object_type = request.params["type"]
        per_page = _per_page(request)
        horizon = self.state.horizon()
        cursor = request.arg("cursor")
        if cursor:
            stream = self.state.table.changes(object_type, decode_cursor(cursor))
        else:
            start = self._start_time(request)
            stream = [r for r in self.state.table.changes(object_type) if r.modified >= start]
        stream = [r for r in stream if r.modified <= horizon]
        page = stream[:per_page]
        if page:
            after_cursor: str | None = encode_cursor(page[-1].modified, page[-1].version)
        else:
            after_cursor = cursor or None  # nothing new: the same place next time
        after_url = None
        if after_cursor:
            following = {"cursor": after_cursor, **_kept(request, "per_page")}
            after_url = f"{request.base_url}{request.path}?{urlencode(following)}"
        return Response.json(
            200,
            {
                object_type: [public(r, request.base_url) for r in page],
                "after_cursor": after_cursor,
                "after_url": after_url,
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": len(stream) <= per_page,
            },
        )

    @for_types("GET", "/api/v2/incremental/<type>.json", limits=("incremental",))
    def time_export(self, request: Request) -> Response:
        """Incremental Ticket, User and Organization Export, Time Based.
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/#incremental-organization-export

        Items with updated_at >= start_time, oldest first; a page that ends inside a second
        is extended to the end of that second, and `end_time` (the next start_time) is the
        last item's second, so the next page repeats that second (duplicates, as documented).
        """
        object_type = request.params["type"]
        per_page = _per_page(request)
        start = self._start_time(request)
        horizon = self.state.horizon()
        stream = sorted(
            (
                r
                for r in self.state.table.rows(object_type, "all")
                if int(r.modified) >= start and r.modified <= horizon
            ),
            key=lambda r: (r.modified, r.id),
        )
        page = stream[:per_page]
        if page and len(stream) > per_page:
            last_second = int(page[-1].modified)
            page = [r for r in stream if int(r.modified) <= last_second]
        end_of_stream = len(page) == len(stream)
        end_time = int(page[-1].modified) if page else start
        if not end_of_stream and end_time <= start:
            end_time = start + 1  # the whole second was returned; never loop on it
        following = {"start_time": end_time, **_kept(request, "per_page")}
        return Response.json(
            200,
            {
                object_type: [public(r, request.base_url) for r in page],
                "count": len(page),
                "end_time": end_time,
                "next_page": f"{request.base_url}{request.path}?{urlencode(following)}",
                "end_of_stream": end_of_stream,
            },
        )

    def _start_time(self, request: Request) -> int:
        raw = request.arg("start_time")
        if raw is None or not raw.lstrip("-").isdigit():
            raise HttpError(
                zendesk_error(400, "InvalidValue", "start_time is required and must be a Unix time")
            )
        start = int(raw)
        if start > self.state.horizon():
            lag = int(self.state.export_lag_seconds // 60) or 1
            unit = "minute" if lag == 1 else "minutes"
            raise HttpError(
                zendesk_error(
                    422,
                    "InvalidValue",
                    f"Too recent start_time. Use a start_time older than {lag} {unit}",
                )
            )
        return start

    # -- search ------------------------------------------------------------------------------

    @route("GET", "/api/v2/search.json")
    def search(self, request: Request) -> Response:
        """Search: List Search Results (at most 1,000 results, offset pages).
        https://developer.zendesk.com/api-reference/ticketing/ticket-management/search/#list-search-results
        """
        text = request.arg("query")
        if not text:
            return zendesk_error(400, "InvalidValue", "query is required")
        results = [
            {**public(r, request.base_url), "result_type": SINGULAR[r.type]}
            for r in query.search(self.state.table, text, None)
        ]
        return offset_page(request, results, "results", capped=True)

    @route("GET", "/api/v2/users/search.json")
    def search_users(self, request: Request) -> Response:
        """Users: Search Users (`query` or `external_id`).
        https://developer.zendesk.com/api-reference/ticketing/users/users/#search-users
        """
        if request.arg("external_id"):
            text = f'external_id:"{request.arg("external_id")}"'
        elif request.arg("query"):
            text = request.arg("query") or ""
        else:
            return zendesk_error(400, "InvalidValue", "query or external_id is required")
        found = query.search(self.state.table, text, "users")
        return offset_page(request, [public(r, request.base_url) for r in found], "users")

    @route("GET", "/api/v2/organizations/search.json")
    def search_organizations(self, request: Request) -> Response:
        """Organizations: Search Organizations (`external_id` or `name`, exact).
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#search-organizations
        """
        for key in ("external_id", "name"):
            value = request.arg(key)
            if value:
                found = [
                    public(r, request.base_url)
                    for r in self.state.table.rows("organizations")
                    if str(r.data.get(key) or "").lower() == value.lower()
                ]
                return offset_page(request, found, "organizations")
        return zendesk_error(400, "InvalidValue", "external_id or name is required")

    @route("GET", "/api/v2/organizations/autocomplete.json")
    def autocomplete_organizations(self, request: Request) -> Response:
        """Organizations: Autocomplete Organizations (names starting with `name`, at least
        two characters).
        https://developer.zendesk.com/api-reference/ticketing/organizations/organizations/#autocomplete-organizations
        """
        prefix = (request.arg("name") or "").lower()
        if len(prefix) < 2:
            return zendesk_error(400, "InvalidValue", "name must have at least 2 characters")
        found = [
            public(r, request.base_url)
            for r in self.state.table.rows("organizations")
            if r.data["name"].lower().startswith(prefix)
        ]
        return offset_page(request, found, "organizations")

    # -- deleted tickets and users -----------------------------------------------------------

    @route("GET", "/api/v2/deleted_tickets.json")
    def list_deleted_tickets(self, request: Request) -> Response:
        """Tickets: List Deleted Tickets (soft-deleted, restorable).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#list-deleted-tickets
        """
        deleted = [
            {
                "id": r.id,
                "subject": r.data["subject"],
                "description": r.data["description"],
                "actor": {"id": r.data["submitter_id"], "name": "Sandbox Owner"},
                "deleted_at": iso(r.deleted or r.modified),
                "previous_state": r.data.get("_previous_status"),
            }
            for r in self.state.table.rows("tickets", "deleted")
        ]
        return offset_page(request, deleted, "deleted_tickets")

    @route("PUT", "/api/v2/deleted_tickets/{id}/restore.json")
    def restore_ticket(self, request: Request) -> Response:
        """Tickets: Restore a Previously Deleted Ticket (its status comes back).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#restore-a-previously-deleted-ticket
        """
        row = self._deleted("tickets", request)
        self.state.restore_ticket(row, self.state.now())
        return Response.empty(200)

    @route("DELETE", "/api/v2/deleted_tickets/{id}")
    def purge_ticket(self, request: Request) -> Response:
        """Tickets: Delete Ticket Permanently (a job).
        https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#delete-ticket-permanently
        """
        row = self._deleted("tickets", request)
        self.state.purge(row)
        job = self.state.new_job("Bulk Permanent Delete Tickets", [
            {"index": 0, "id": row.id, "action": "delete", "success": True, "status": "Deleted"}
        ])  # fmt: skip
        return Response.json(200, {"job_status": job_json(job, request.base_url)})

    @route("GET", "/api/v2/deleted_users.json")
    def list_deleted_users(self, request: Request) -> Response:
        """Users: List Deleted Users.
        https://developer.zendesk.com/api-reference/ticketing/users/users/#list-deleted-users
        """
        users = [public(r, request.base_url) for r in self.state.table.rows("users", "deleted")]
        return offset_page(request, users, "deleted_users")

    @route("GET", "/api/v2/deleted_users/count.json")
    def count_deleted_users(self, request: Request) -> Response:
        """Users: Count Deleted Users."""
        value = self.state.table.count("users", "deleted")
        return Response.json(
            200, {"count": {"value": value, "refreshed_at": iso(self.state.now())}}
        )

    @route("GET", "/api/v2/deleted_users/{id}")
    def show_deleted_user(self, request: Request) -> Response:
        """Users: Show Deleted User."""
        return Response.json(
            200, {"deleted_user": public(self._deleted("users", request), request.base_url)}
        )

    @route("DELETE", "/api/v2/deleted_users/{id}")
    def purge_user(self, request: Request) -> Response:
        """Users: Permanently Delete User (a deleted user only).
        https://developer.zendesk.com/api-reference/ticketing/users/users/#permanently-delete-user
        """
        row = self._deleted("users", request)
        self.state.purge(row)
        return Response.json(200, {"deleted_user": public(row, request.base_url)})

    def _deleted(self, object_type: str, request: Request) -> Row:
        key = request.params["id"].removesuffix(".json")
        row = self.state.table.get(object_type, int(key), deleted=True) if key.isdigit() else None
        if row is None or row.live:
            raise HttpError(not_found())
        return row


def _per_page(request: Request) -> int:
    raw = request.arg("per_page")
    if raw is None:
        return EXPORT_MAX_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= EXPORT_MAX_PAGE:
        raise HttpError(
            zendesk_error(400, "InvalidValue", f"per_page must be between 1 and {EXPORT_MAX_PAGE}")
        )
    return int(raw)


def _kept(request: Request, *names: str) -> dict[str, str]:
    """The query parameters a following page keeps."""
    return {n: v for n in names if (v := request.arg(n)) is not None}

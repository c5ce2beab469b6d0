"""The Zendesk account's state on the shared RecordTable: records, comments, background
jobs, the switches, and the seed.

A row's `data` is the record's JSON as Zendesk answers it, minus its `url` (which depends
on the address the sandbox was reached at) and plus keys starting with "_" that are never
shown (a ticket's comments, the status a deleted ticket had). The row's `modified` is the
record's `updated_at` in epoch seconds, its `version` its place in the export stream.

Deletes as Zendesk does them: a ticket is soft-deleted (`status: "deleted"`, kept for the
export and the deleted-tickets list, restorable), a user too (`active: false`), an
organization is gone at once.
"""

from __future__ import annotations

import html as _html
import re
import uuid
from collections.abc import Mapping
from typing import Any

from connectors.sandbox.core import JSON, Problem, RateLimit, ValidationError
from connectors.sandbox.data import FakeData
from connectors.sandbox.records import RecordState, Row
from connectors.zendesk.sandbox import webhooks
from connectors.zendesk.sandbox.schema import (
    ADMIN_EMAIL,
    ADMIN_ID,
    AFFECTED_USERS_FIELD,
    API_TOKEN,
    ESCALATED_FIELD,
    ORG_ID_BASE,
    PRODUCT_FIELD,
    TICKET_TYPES,
    USER_ID_BASE,
    iso,
)
from connectors.zendesk.sandbox.validation import apply_changes, new_record

SETTINGS = ("export_lag_seconds", "export_rate_limit", "job_polls", "jobs_held")
JOBS_KEPT = 100  # Zendesk lists the last 100 jobs
SEED_COUNTS = {"organizations": 12, "users": 40, "tickets": 120}


def connection_config(base_url: str) -> dict[str, Any]:
    """A Zendesk connector config for this sandbox: the owner's API token."""
    return {"base_url": base_url, "email": ADMIN_EMAIL, "api_token": API_TOKEN}


def _email(row: Row) -> str | None:
    return (row.data.get("email") or "").lower() or None


class ZendeskState(RecordState):
    first_ids = {"tickets": 1, "users": USER_ID_BASE + 1, "organizations": ORG_ID_BASE + 1}
    # Zendesk refuses a second live user with the same email (any case).
    unique = {"users": _email}

    def start(self) -> None:
        self.export_lag_seconds = 60.0
        self.export_limit = RateLimit(10, 60.0)
        self.job_polls = 1
        # While on, background jobs stay queued and do nothing; turning it off does them.
        self.jobs_held = False
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_counter = 0
        self.comment_seq = 0
        # The account owner always exists: the sandbox's credentials belong to them.
        since = self.now() - 400 * 86400
        owner = {"name": "Sandbox Owner", "email": ADMIN_EMAIL, "role": "admin", "verified": True}
        self._insert(
            "users", new_record(self.table, "users", owner, since, record_id=ADMIN_ID), since, since
        )

    # -- settings and the state file -------------------------------------------------------

    def settings(self) -> dict[str, JSON]:
        return {
            "export_lag_seconds": self.export_lag_seconds,
            "export_rate_limit": [self.export_limit.requests, self.export_limit.window],
            "job_polls": self.job_polls,
            "jobs_held": self.jobs_held,
        }

    def configure(self, values: Mapping[str, JSON]) -> None:
        unknown = sorted(set(values) - set(SETTINGS))
        if unknown:
            raise ValidationError(f"zendesk has no settings {', '.join(unknown)}")
        if "export_lag_seconds" in values:
            lag = values["export_lag_seconds"]
            if not isinstance(lag, int | float) or lag < 0:
                raise ValidationError("export_lag_seconds must be a non-negative number")
            self.export_lag_seconds = float(lag)
        if "export_rate_limit" in values:
            pair = values["export_rate_limit"]
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not isinstance(pair[0], int)
                or not isinstance(pair[1], int | float)
                or pair[0] < 1
                or pair[1] <= 0
            ):
                raise ValidationError("export_rate_limit must be [requests, window seconds]")
            self.export_limit = RateLimit(pair[0], float(pair[1]))
        if "job_polls" in values:
            polls = values["job_polls"]
            if not isinstance(polls, int) or polls < 0:
                raise ValidationError("job_polls must be a non-negative integer")
            self.job_polls = polls
        if "jobs_held" in values:
            held = values["jobs_held"]
            if not isinstance(held, bool):
                raise ValidationError("jobs_held must be true or false")
            self.jobs_held = held
            if not held:
                self.release_jobs()

    def extra(self) -> dict[str, JSON]:
        return {
            "jobs": self.jobs,
            "job_counter": self.job_counter,
            "comment_seq": self.comment_seq,
            "jobs_held": self.jobs_held,
        }

    def restore(self, extra: Mapping[str, JSON]) -> None:
        self.jobs = dict(extra.get("jobs") or {})
        self.jobs_held = bool(extra.get("jobs_held", False))
        self.job_counter = int(extra.get("job_counter", 0))
        self.comment_seq = int(extra.get("comment_seq", 0))

    # -- reads -----------------------------------------------------------------------------

    def live(self, object_type: str, record_id: Any) -> Row | None:
        """The live record with this id (a number or its text), or None."""
        try:
            key = int(record_id)
        except (TypeError, ValueError):
            return None
        return self.table.get(object_type, key)

    def horizon(self) -> float:
        """The newest change the incremental exports may show (the export lag)."""
        return self.now() - self.export_lag_seconds

    # -- writes ----------------------------------------------------------------------------

    def create(self, object_type: str, data: Any, now: float) -> Row:
        """Validate, store and announce one new record. Raises ValidationError."""
        record = new_record(self.table, object_type, data, now)
        row = self._insert(object_type, record, now, now)
        if object_type == "tickets":
            self._comment(row, data["comment"], now)
        self._announce(row, "created", {})
        return row

    def update(self, row: Row, data: Any, now: float) -> Row:
        """Validate, store and announce an update. Raises ValidationError."""
        before = row.data
        updated = apply_changes(self.table, row.type, before, data)
        changed = {k for k in updated if not k.startswith("_") and updated[k] != before.get(k)}
        comment = data.get("comment") if row.type == "tickets" else None
        if changed or isinstance(comment, dict):
            row.data = updated
            if isinstance(comment, dict) and _comment_text(comment):
                self._comment(row, comment, now)
            self._store(row, now)
            self._announce(row, "updated", {k: before.get(k) for k in changed})
        return row

    def upsert(self, object_type: str, data: Any, now: float) -> tuple[Row, bool]:
        """Create or update (Zendesk's create_or_update): users match on email or
        external_id, organizations on id or external_id. (row, created)."""
        match = self._match(object_type, data) if isinstance(data, dict) else None
        if match is None:
            return self.create(object_type, data, now), True
        changes = {k: v for k, v in data.items() if k != "id"}
        return self.update(match, changes, now), False

    def delete(self, row: Row, now: float) -> None:
        """Delete as Zendesk does (see the module docstring). Raises ValidationError for
        the account owner."""
        if row.type == "users" and row.id == ADMIN_ID:
            raise ValidationError(
                Problem("base", "The account owner cannot be deleted", "InvalidValue")
            )
        if row.type == "organizations":
            self.table.purge(row)
        else:
            if row.type == "tickets":
                row.data["_previous_status"] = row.data["status"]
                row.data["status"] = "deleted"
            else:
                row.data["active"] = False
            row.data["updated_at"] = iso(now)
            self.table.delete(row, now, modified=now)
        self._announce(row, "deleted", {})

    def restore_ticket(self, row: Row, now: float) -> None:
        """Bring a soft-deleted ticket back with the status it had."""
        row.data["status"] = row.data.pop("_previous_status", "open")
        row.data["updated_at"] = iso(now)
        self.table.restore(row, modified=now)
        self._announce(row, "updated", {"status": "deleted"})

    def purge(self, row: Row) -> None:
        """Delete a soft-deleted ticket or user for good."""
        self.table.purge(row)

    def submit_job(self, job_type: str, work: dict[str, Any]) -> dict[str, Any]:
        """A background job doing `work` (a *_many write, see `do_work`): done at once, or,
        while `jobs_held` is on, kept queued with its work until the jobs are released."""
        if not self.jobs_held:
            return self.new_job(job_type, self.do_work(work))
        job = self.new_job(job_type, [])
        job["total"] = len(work.get("items") or work.get("targets") or work.get("ids") or [])
        job["_work"] = work
        return job

    def release_jobs(self) -> None:
        """Do the work of every held job, in the order they were submitted."""
        now = iso(self.now())
        for job in self.jobs.values():
            work = job.pop("_work", None)
            if work is not None:
                job["_results"] = self.do_work(work)
                job["_done_at"] = now

    def do_work(self, work: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Carry out one bulk write: the per-record results its job reports."""
        object_type = work["type"]
        now = self.now()
        results: list[dict[str, Any]] = []
        if work["op"] in ("create", "upsert"):
            for index, item in enumerate(work["items"]):
                try:
                    if work["op"] == "create":
                        row, created = self.create(object_type, item, now), True
                    else:
                        row, created = self.upsert(object_type, item, now)
                except ValidationError as exc:
                    results.append(_failed({"index": index}, "RecordInvalid", str(exc)))
                    continue
                status, action = ("Created", "create") if created else ("Updated", "update")
                result = {"index": index, "id": row.id, "status": status, "success": True,
                          "action": action}  # fmt: skip
                if object_type == "users" and work["op"] == "create":
                    result["email"] = row.data.get("email")
                results.append(result)
        elif work["op"] == "update":
            for index, (row_id, key, changes) in enumerate(work["targets"]):
                base = {"index": index, "id": key, "action": "update"}
                row = None if row_id is None else self.live(object_type, row_id)
                if row is None:
                    results.append(_failed(base, "RecordNotFound", "Not found"))
                    continue
                try:
                    self.update(row, changes, now)
                except ValidationError as exc:
                    results.append(_failed(base, "RecordInvalid", str(exc)))
                else:
                    results.append({**base, "success": True, "status": "Updated"})
        else:
            for index, row_id in enumerate(work["ids"]):
                base = {"index": index, "id": row_id, "action": "delete"}
                row = self.live(object_type, row_id)
                try:
                    if row is not None:  # deleted meanwhile: deleted all the same
                        self.delete(row, now)
                except ValidationError as exc:
                    results.append(_failed(base, "RecordInvalid", str(exc)))
                else:
                    results.append({**base, "success": True, "status": "Deleted"})
        return results

    def new_job(self, job_type: str, results: list[dict[str, Any]]) -> dict[str, Any]:
        """A background job that finished at once but reports "working" for `job_polls`
        polls first, as a busy Zendesk would."""
        self.job_counter += 1
        job_id = uuid.uuid5(uuid.NAMESPACE_URL, f"zendesk-job-{self.job_counter}").hex
        job = {
            "id": job_id,
            "job_type": job_type,
            "total": len(results),
            "progress": 0,
            "status": "queued",
            "message": None,
            "results": None,
            "_results": results,
            "_polls_left": self.job_polls,
            "_done_at": iso(self.now()),
        }
        self.jobs[job_id] = job
        if len(self.jobs) > JOBS_KEPT:
            del self.jobs[next(iter(self.jobs))]
        return job

    def poll_job(self, job: dict[str, Any]) -> None:
        """One look at a job: "working" while polls are left, then completed with results.
        A held job (see `submit_job`) stays queued."""
        if "_work" in job:
            return
        if job["_polls_left"] > 0:
            job["_polls_left"] -= 1
            job["status"] = "working"
            if job["total"]:
                job["progress"] = job["total"] // 2
        else:
            job["status"] = "completed"
            job["progress"] = job["total"]
            job["message"] = f"Completed at {job['_done_at'].replace('T', ' ').rstrip('Z')} +0000"
            job["results"] = job["_results"]

    def _match(self, object_type: str, data: Mapping[str, Any]) -> Row | None:
        if object_type == "users" and isinstance(data.get("email"), str):
            found = self.table.find("users", data["email"].lower())
            if found is not None:
                return found
        if object_type == "organizations" and data.get("id") is not None:
            found = self.live("organizations", data["id"])
            if found is not None:
                return found
        external = data.get("external_id")
        if external is not None:
            for row in self.table.rows(object_type):
                if row.data.get("external_id") == external:
                    return row
        return None

    def _insert(
        self, object_type: str, record: dict[str, Any], created: float, updated: float
    ) -> Row:
        row = self.table.insert(
            object_type, record, created=created, modified=updated, record_id=record["id"] or None
        )
        record["id"] = row.id
        record["created_at"] = iso(created)
        record["updated_at"] = iso(updated)
        return row

    def _store(self, row: Row, ts: float) -> None:
        """Save a record as changed at `ts`: it moves to the end of the export stream."""
        row.data["updated_at"] = iso(ts)
        self.table.save(row, modified=ts)

    def _comment(self, row: Row, comment: Mapping[str, Any], now: float) -> None:
        """Store a comment. Given `html_body`, Zendesk keeps the HTML and derives the text
        `body` from it; given `body`, it renders the HTML (Ticket Comments)."""
        self.comment_seq += 1
        body = _comment_text(comment)
        markup = comment.get("html_body")
        author = comment.get("author_id")
        row.data.setdefault("_comments", []).append(
            {
                "id": 50_000_000_000 + self.comment_seq,
                "type": "Comment",
                "author_id": author if isinstance(author, int) else ADMIN_ID,
                "body": body,
                "html_body": markup if isinstance(markup, str) and markup else html_of(body),
                "plain_body": body,
                "public": comment.get("public", True) is not False,
                "attachments": [],
                "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
                "created_at": iso(now),
            }
        )

    def _announce(self, row: Row, action: str, before: Mapping[str, Any]) -> None:
        if self.context.webhooks_wanted():
            for event in webhooks.events(row, action, before, self.now()):
                self.context.emit(event)

    # -- seed ------------------------------------------------------------------------------

    def populate(self, fake: FakeData, counts: Mapping[str, int]) -> None:
        """Organizations, users (a tenth agents) and tickets over the last three months.

        `counts` keys: organizations (12), users (40), tickets (120), and among the tickets
        closed_tickets (15%) and deleted_tickets (one in 40).
        """
        counts = {**SEED_COUNTS, **counts}
        now = self.now()
        window = (now - 90 * 86400, now - 3600)  # all older than the export lag
        org_ids: list[int] = []
        names: set[str] = set()
        for n in range(counts["organizations"]):
            name, domain = fake.company()
            if name.lower() in names:
                name = f"{name} ({n + 1})"  # Zendesk keeps organization names unique
            names.add(name.lower())
            created = fake.timestamp(*window)
            data = {
                "name": name,
                "domain_names": [domain],
                "details": f"{fake.city()[0]} office",
                "tags": [fake.choice(("customer", "partner", "prospect"))],
                "organization_fields": {
                    "account_tier": fake.choice(("tier_bronze", "tier_silver", "tier_gold")),
                    "region": fake.choice(("EMEA", "AMER", "APAC")),
                    "contract_value": str(fake.amount(1000, 90000)),
                },
            }
            org_ids.append(self._seed_one(fake, "organizations", data, created, window).id)
        agents: list[int] = [ADMIN_ID]
        end_users: list[tuple[int, int | None]] = []
        total_users = counts["users"]
        for n in range(total_users):
            first, last = fake.person()
            role = "agent" if n < max(1, total_users // 10) else "end-user"
            org_id = fake.choice(org_ids) if org_ids and role == "end-user" else None
            domain = "concord-sandbox.example" if role == "agent" else "customer.example"
            created = fake.timestamp(*window)
            data = {
                "name": f"{first} {last}",
                "email": fake.email(first, last, domain, unique=n + 1),
                "phone": fake.phone(),
                "role": role,
                "organization_id": org_id,
                "verified": True,
                "user_fields": {
                    "plan": fake.choice(("plan_free", "plan_team", "plan_enterprise")),
                    "seats": str(fake.random.randrange(1, 250)),
                    "vip": fake.random.random() < 0.15,
                    "customer_since": iso(created)[:10],
                },
            }
            user = self._seed_one(fake, "users", data, created, window)
            if role == "agent":
                agents.append(user.id)
            else:
                end_users.append((user.id, org_id))
        statuses = (("new", 5), ("open", 30), ("pending", 15), ("hold", 5), ("solved", 45))
        products = ("product_billing", "product_mobile", "product_api", "product_reports",
                    "product_sso")  # fmt: skip
        tickets: list[Row] = []
        for _ in range(counts["tickets"]):
            requester, org_id = fake.choice(end_users) if end_users else (ADMIN_ID, None)
            status = fake.weighted(statuses)
            created = fake.timestamp(*window)
            product = fake.choice(products)
            data = {
                "subject": fake.ticket_subject(),
                "comment": {"body": fake.paragraph()},
                "status": status,
                "priority": fake.weighted(
                    (("low", 20), ("normal", 50), ("high", 20), ("urgent", 10))
                ),
                "type": fake.choice(TICKET_TYPES),
                "requester_id": requester,
                "assignee_id": None if status == "new" else fake.choice(agents),
                "organization_id": org_id,
                "tags": [product.removeprefix("product_")],
                "custom_fields": [
                    {"id": PRODUCT_FIELD, "value": product},
                    {"id": AFFECTED_USERS_FIELD, "value": fake.random.randrange(1, 40)},
                    {"id": ESCALATED_FIELD, "value": fake.random.random() < 0.1},
                ],
            }
            ticket = self._seed_one(fake, "tickets", data, created, window)
            self._comment(ticket, data["comment"], created)
            tickets.append(ticket)
        # Some tickets are closed (updates refused) and a few deleted (tombstones in the
        # export), as in a real account; the counts can be set for tests that write.
        closed = counts.get("closed_tickets", counts["tickets"] * 15 // 100)
        deleted = counts.get("deleted_tickets", counts["tickets"] // 40)
        shuffled = fake.random.sample(tickets, len(tickets))
        for ticket in [t for t in shuffled if t.data["assignee_id"] is not None][:closed]:
            ticket.data["status"] = "closed"
        for ticket in [t for t in shuffled if t.data["status"] != "closed"][:deleted]:
            ticket.data["_previous_status"] = ticket.data["status"]
            ticket.data["status"] = "deleted"
            self.table.delete(ticket, ticket.modified)

    def _seed_one(
        self,
        fake: FakeData,
        object_type: str,
        data: dict[str, Any],
        created: float,
        window: tuple[float, float],
    ) -> Row:
        record = new_record(self.table, object_type, data, created)
        return self._insert(object_type, record, created, fake.timestamp(created, window[1]))


def _comment_text(comment: Mapping[str, Any]) -> str:
    """A comment's text: its `body`, or the text of its `html_body` (tags dropped, blocks
    and line breaks as newlines)."""
    body = comment.get("body")
    if isinstance(body, str) and body.strip():
        return body
    markup = comment.get("html_body")
    if not isinstance(markup, str):
        return ""
    text = re.sub(r"<br\s*/?>|</(p|div|li|pre|h\d)>", "\n", markup, flags=re.I)
    text = _html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_of(body: str) -> str:
    """The HTML Zendesk renders for a plain-text comment: paragraphs, line breaks."""
    paragraphs = [p for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    inner = "".join(
        "<p>" + "<br>".join(_html.escape(line, quote=False) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )
    return f'<div class="zd-comment" dir="auto">{inner}</div>'


def _failed(base: dict[str, Any], error: str, details: str) -> dict[str, Any]:
    return {**base, "success": False, "status": "Failed", "error": error, "details": details}

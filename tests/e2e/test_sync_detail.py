"""A sync's page in a browser, against the sandboxes (HubSpot contacts <-> Zendesk users).

1. "Run now", then a real worker process runs it, slowed by sandbox latency, while the page
   shows its counters and phase moving without a reload; the delay between the worker's
   write of a counter and the page showing it is measured (the page polls every second).
2. A run the safety limit held, seen appearing when the run ends, approved from the page;
   the approval run completes. A viewer sees the same page with every control off.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection as db_connection
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.services import connector_for
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.runs.progress import phase_label
from apps.syncs.models import InFlightWrite, RecordLink, Sync
from connectors.base import RecordUpdate
from tests.e2e.test_sync_builder import log_in, screenshot
from tests.factories import MembershipFactory
from tests.running import run_now
from tests.runs.sandbox_sync import SEED_COUNTS, hub_desk_sync
from tests.workers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# docs/images is refreshed only on request: a test run leaves the tree clean.
DOCS_IMAGES = (
    Path(settings.BASE_DIR) / "docs" / "images"
    if os.environ.get("CONCORD_UPDATE_DOC_IMAGES")
    else Path(settings.BASE_DIR) / "var" / "screenshots"
)
MEASURED = Path(settings.BASE_DIR) / "var" / "live-run-delays.json"
COUNTER_FIELDS = [f"{n}_{s}" for n in ("read", "created", "updated") for s in "ab"]
# Records in the page's counter cells whenever they change, with the browser's clock.
WATCH = """() => {
  window.__seen = [];
  const read = () => {
    const cells = [...document.querySelectorAll('#live-run [data-counter]')];
    const wanted = COUNTERS;
    const total = cells.filter(c => wanted.includes(c.dataset.counter))
      .reduce((sum, c) => sum + Number(c.textContent), 0);
    const phase = document.querySelector('#live-run .phase strong');
    return {total, phase: phase ? phase.textContent : ''};
  };
  let last = null;
  const note = () => {
    const now = read();
    const key = now.total + '|' + now.phase;
    if (key !== last) { last = key; window.__seen.push({t: Date.now() / 1000, ...now}); }
  };
  note();
  new MutationObserver(note).observe(document.querySelector('.detail-main'),
    {childList: true, subtree: true, characterData: true});
}""".replace("COUNTERS", json.dumps(COUNTER_FIELDS))


def member_of(sync: Sync, role: str = Role.EDITOR):
    username = f"{role}@example.com"
    return MembershipFactory(workspace=sync.workspace, role=role, user__username=username).user


class CounterLog:
    """Samples a run's counters and phase from the database every 20 ms in a thread: when
    the worker wrote each (to within the sampling period)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.samples: list[tuple[float, int, str]] = []  # (when, counters' sum, phase)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> CounterLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _sample(self) -> None:
        try:
            while not self._stop.is_set():
                row = (
                    SyncRun.objects.filter(pk=self.run_id)
                    .values("phase", "status", *COUNTER_FIELDS)
                    .first()
                )
                state = (sum(row[f] for f in COUNTER_FIELDS), phase_label(SyncRun(**row)))
                if not self.samples or self.samples[-1][1:] != state:
                    self.samples.append((time.time(), *state))
                time.sleep(0.02)
        finally:
            db_connection.close()


def test_a_runs_progress_moves_live_while_a_worker_runs_it(
    page: Page, live_server, sandbox, workers
):
    counts = {
        "hubspot": {**SEED_COUNTS["hubspot"], "contacts": 10},
        "zendesk": {**SEED_COUNTS["zendesk"], "users": 8},
    }
    sync = hub_desk_sync(sandbox, seed_counts=counts)
    # Every call to either system is slow: the run lasts many seconds, page after page, so
    # that the page polling every second sees it going even on a loaded 2-core machine
    # (at 800 and 350 ms it was once over before the page first showed a counter).
    sandbox.admin.set_faults("hubspot", latency_ms=1600)
    sandbox.admin.set_faults("zendesk", latency_ms=700)
    workers.start()
    page.set_viewport_size({"width": 1280, "height": 900})
    base = live_server.url
    log_in(page, base, member_of(sync).username)

    page.goto(f"{base}/syncs/")
    page.get_by_role("link", name=sync.name, exact=True).click()
    page.wait_for_url(f"{base}/syncs/{sync.public_id}/")
    expect(page.get_by_text("This sync has not run yet.")).to_be_visible()
    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.get_by_text("A run is queued: its progress shows below.")).to_be_visible()
    run = SyncRun.objects.get(sync=sync)
    page.evaluate(WATCH)
    live = page.locator("#live-run")

    with CounterLog(run.pk) as log:
        # Mid-way: some counters on the page, the run still going.
        page.wait_for_function("window.__seen.some(s => s.total > 0)", timeout=60_000, polling=100)
        expect(live).to_have_attribute("hx-trigger", "every 1s")
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_IMAGES / "live-run.png"))
        screenshot(page, "sync-detail-live-run")
        # The run, then the runs that settle the Zendesk jobs it left (the panel follows
        # the sync's latest run). A run that leaves jobs queues the next settling run after
        # it has finished: so no run queued or running is not enough, nothing may be left in
        # flight either (CI once looked in that gap and met the next settling run).
        wait_until(
            lambda: (
                not SyncRun.objects.filter(sync=sync, status__in=("queued", "running"))
                and not InFlightWrite.objects.filter(sync=sync, state=InFlightWrite.State.IN_FLIGHT)
            )
        )
        expect(live.locator(".run-status")).to_have_text("Succeeded", timeout=5_000)
        time.sleep(0.3)  # the last swap settles

    assert SyncRun.objects.get(pk=run.pk).status == "succeeded"
    expect(live).not_to_have_attribute("hx-trigger", re.compile(".*"))  # polling stopped
    seen = page.evaluate("window.__seen")
    totals = [s["total"] for s in seen]
    increases = sum(1 for x, y in itertools.pairwise(totals) if y > x)
    assert increases >= 2, seen  # the counters moved at least twice without a reload
    phases = {s["phase"] for s in seen}
    assert phases & {"Syncing A's changes", "Syncing B's changes"}, phases
    # The finished run is in the table (swapped in when it ended), with its log linked.
    expect(page.locator(f'#runs tr[data-run="{run.public_id}"] .badge')).to_have_text("succeeded")
    assert RecordLink.objects.filter(sync=sync).count() >= 10 + 8  # and the sandbox's agents

    # How long after the worker wrote a counter the page showed it.
    delays = []
    for (_, total, phase), (written_at, new_total, new_phase) in itertools.pairwise(log.samples):
        if new_total != total:
            shown = next((s["t"] for s in seen if s["total"] >= new_total), None)
        elif new_phase and new_phase != phase:
            later = (s for s in seen if s["t"] > written_at - 0.05 and s["phase"] == new_phase)
            shown = next((s["t"] for s in later), None)
        else:
            continue
        if shown is not None:
            delays.append(round(shown - written_at, 3))
    MEASURED.parent.mkdir(parents=True, exist_ok=True)
    MEASURED.write_text(json.dumps({"db": log.samples, "page": seen, "delays": delays}))
    print("counter or phase written -> shown on the page (s):", delays)  # noqa: T201
    assert delays, (log.samples, seen)
    # How soon is measured (written to var/ and printed), not asserted: a pause of a shared
    # 2-core machine is no defect. That the counters moved live is asserted above.
    screenshot(page, "sync-detail-run-done")


def test_a_held_run_is_approved_from_the_sync_page(page: Page, live_server, sandbox, browser):
    sync = hub_desk_sync(sandbox)
    first = run_now(sync)  # links the 3 contacts and 2 users
    assert first.status == "succeeded"
    hubspot = connector_for(sync.connection_a)
    try:
        ids = [link.a_id for link in RecordLink.objects.filter(sync=sync)[:3]]
        hubspot.update(
            "contacts", [RecordUpdate(i, {"firstname": f"Renamed{n}"}) for n, i in enumerate(ids)]
        )
    finally:
        hubspot.close()
    Sync.objects.filter(pk=sync.pk).update(safety_limit_count=2)
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, member_of(sync).username)
    page.goto(f"{base}/syncs/{sync.public_id}/")

    page.get_by_role("button", name="Run now", exact=True).click()
    expect(page.locator("#live-run")).to_have_attribute("hx-trigger", "every 1s")
    held = SyncRun.objects.get(sync=sync, status="queued")
    assert run_execute(held.pk) == "held"  # as a worker would, while the page watches
    # The run's end brings the held run in without a reload.
    expect(page.get_by_role("heading", name="A run waits for your approval")).to_be_visible(
        timeout=10_000
    )
    expect(page.locator(".held-changes")).to_have_text("3")
    expect(page.get_by_role("button", name="Run now", exact=True)).to_be_disabled()
    screenshot(page, "sync-detail-held")

    # A viewer sees the held run and every control, switched off.
    viewer = member_of(sync, Role.VIEWER)
    other = browser.new_page()
    try:
        log_in(other, base, viewer.username)
        other.goto(f"{base}/syncs/{sync.public_id}/")
        expect(other.get_by_text("You can watch this sync but not run")).to_be_visible()
        for name in ("Approve and apply", "Cancel the held run", "Run now", "Full resync"):
            expect(other.get_by_role("button", name=name, exact=True)).to_be_disabled()
        screenshot(other, "sync-detail-viewer")
    finally:
        other.close()

    page.get_by_role("button", name="Approve and apply").click()
    expect(
        page.get_by_text("Approved: a run that applies the held changes is queued.")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="A run waits for your approval")).to_have_count(0)
    approval = SyncRun.objects.get(sync=sync, trigger="approval")
    assert run_execute(approval.pk) == "succeeded"
    expect(page.locator("#live-run .run-status")).to_have_text("Succeeded", timeout=10_000)
    approval.refresh_from_db()
    assert approval.updated_b == 3
    zendesk = connector_for(sync.connection_b)
    try:
        names = {u.fields["name"] for p in zendesk.changes("users", None) for u in p.records}
    finally:
        zendesk.close()
    assert {"Renamed0", "Renamed1", "Renamed2"} <= names
    screenshot(page, "sync-detail-approved")

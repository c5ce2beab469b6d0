"""Webhook delivery: from the events vendors emit to signed POSTs at every subscription."""

from __future__ import annotations

import collections
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import JSON, Delivery

if TYPE_CHECKING:
    from connectors.sandbox.app import SandboxApp

log = logging.getLogger("connectors.sandbox")

DELIVERY_LOG_SIZE = 500
WEBHOOK_BATCH_WINDOW = 0.05  # seconds events wait to be batched into one delivery
WEBHOOK_ATTEMPTS = 3


class WebhookSender:
    """Delivers vendor webhooks from one background thread, applying webhook faults.

    Events are queued per vendor in the order they happened; after a short batching window
    the vendor turns them into deliveries for each of its subscriptions, each signed with
    that subscription's secret, which are then dropped, duplicated or reordered as the
    vendor's faults say, and POSTed (up to WEBHOOK_ATTEMPTS tries).
    """

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self._cond = threading.Condition()
        self._events: list[tuple[str, JSON]] = []
        self._busy = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=DELIVERY_LOG_SIZE)
        self.counters: collections.Counter[str] = collections.Counter()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def enqueue(self, kind: str, event: JSON) -> None:
        with self._cond:
            self._events.append((kind, event))
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._events.clear()
            self.log.clear()
            self.counters.clear()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event is delivered (or given up). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._events or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def summary(self) -> dict[str, Any]:
        with self._cond:
            return {"deliveries": list(self.log), "counters": dict(self.counters)}

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._events and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                self._busy = True
            time.sleep(WEBHOOK_BATCH_WINDOW)
            with self._cond:
                events, self._events = self._events, []
            try:
                self._deliver_all(events)
            except Exception:  # keep the sender alive whatever a vendor builder does
                log.exception("webhook sender failed")
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def _deliver_all(self, events: list[tuple[str, JSON]]) -> None:
        by_vendor: dict[str, list[JSON]] = collections.defaultdict(list)
        for kind, event in events:
            by_vendor[kind].append(event)
        rng = self.app._fault_random
        for kind, vendor_events in by_vendor.items():
            slot = self.app.slots[kind]
            # Every subscription gets every event, signed with its own secret: two
            # connections (two workspaces) registered to one sandbox both hear of a change.
            for target in list(slot.subscriptions.values()):
                deliveries = slot.sandbox.webhook_deliveries(vendor_events, target, self.app.now())
                faults = slot.faults
                planned: list[Delivery] = []
                for delivery in deliveries:
                    if rng.random() < faults.webhook_drop_share:
                        self._record(kind, delivery, "dropped", None)
                        continue
                    planned.append(delivery)
                    if rng.random() < faults.webhook_duplicate_share:
                        planned.append(delivery)
                        self.counters[f"{kind}:duplicated"] += 1
                if len(planned) > 1 and rng.random() < faults.webhook_reorder_share:
                    planned.reverse()
                    self.counters[f"{kind}:reordered"] += 1
                for delivery in planned:
                    self._send(kind, delivery)

    def send_now(self, kind: str, delivery: Delivery) -> int | None:
        """POST one delivery from the caller's thread, once, without webhook faults (a
        vendor's test of a webhook); the status the target answered, None if unreachable."""
        return self._send(kind, delivery, attempts=1)

    def _send(self, kind: str, delivery: Delivery, attempts: int = WEBHOOK_ATTEMPTS) -> int | None:
        status: int | None = None
        for attempt in range(attempts):
            started = time.perf_counter()  # the last attempt's round trip is the one logged
            req = urllib.request.Request(  # noqa: S310 - targets are registered http(s) URLs
                delivery.url, data=delivery.body, headers=delivery.headers,
                method=delivery.method,
            )  # fmt: skip
            try:
                with _DIRECT.open(req, timeout=5) as answer:
                    status = answer.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError):
                status = None
            if (status is not None and 200 <= status < 300) or attempt + 1 == attempts:
                break
            time.sleep(0.1 * 2**attempt)
        elapsed = time.perf_counter() - started
        outcome = "delivered" if status is not None and 200 <= status < 300 else "failed"
        self._record(kind, delivery, outcome, status, elapsed)
        return status

    def _record(
        self,
        kind: str,
        delivery: Delivery,
        outcome: str,
        status: int | None,
        elapsed: float | None = None,
    ) -> None:
        """Log one delivery; `elapsed` is the POST's round trip in seconds (how long the
        target took to acknowledge it, what benchmarks read), None when it was not sent."""
        with self._cond:
            self.counters[f"{kind}:{outcome}"] += 1
            self.log.append(
                {
                    "t": time.time(),
                    "vendor": kind,
                    "url": delivery.url,
                    "delivery_id": delivery.delivery_id,
                    "outcome": outcome,
                    "status": status,
                    "elapsed_ms": None if elapsed is None else round(elapsed * 1000, 3),
                }
            )


# Deliveries go straight to the target, as the vendor's would: never through a proxy that
# the environment configures for outbound traffic.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

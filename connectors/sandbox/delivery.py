"""Webhook delivery: from the events vendors emit to signed POSTs at every subscription."""

from __future__ import annotations

import collections
import logging
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import JSON, Delivery

if TYPE_CHECKING:
    from connectors.sandbox.app import SandboxApp

log = logging.getLogger("connectors.sandbox")

DELIVERY_LOG_SIZE = 500
WEBHOOK_BATCH_WINDOW = 0.05  # seconds events wait to be batched into one delivery
WEBHOOK_ATTEMPTS = 3


class WebhookSender:
    """Delivers vendor webhooks from background threads, applying webhook faults.

    Events are queued per vendor in the order they happened; after a short batching window
    the vendor turns them into deliveries for each of its subscriptions, each signed with
    that subscription's secret, which are then dropped, duplicated or reordered as the
    vendor's faults say, and POSTed (up to WEBHOOK_ATTEMPTS tries). Each vendor sends from
    a thread of its own, as each vendor's webhooks come from its own servers: a burst of one
    vendor's deliveries never holds back another's. Within a vendor they go one at a time,
    in order, or up to the vendor's `webhook_concurrency` (app.Faults) at once.
    """

    def __init__(self, app: SandboxApp) -> None:
        self.app = app
        self._cond = threading.Condition()
        self._events: dict[str, list[JSON]] = {}  # per vendor, in the order they happened
        self._busy: set[str] = set()  # vendors whose thread is sending a batch
        self._stop = False
        self._started = False
        self._threads: dict[str, threading.Thread] = {}
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=DELIVERY_LOG_SIZE)
        self.counters: collections.Counter[str] = collections.Counter()

    def start(self) -> None:
        with self._cond:
            self._started = True
            for kind in list(self._events):
                self._spawn(kind)

    def _spawn(self, kind: str) -> None:
        """Start `kind`'s sending thread if it has none (called holding the condition)."""
        if not self._started or self._stop or kind in self._threads:
            return
        thread = threading.Thread(
            target=self._run, args=(kind,), name=f"sandbox-webhooks-{kind}", daemon=True
        )
        self._threads[kind] = thread
        thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=5)

    def enqueue(self, kind: str, event: JSON) -> None:
        with self._cond:
            self._events.setdefault(kind, []).append(event)
            self._spawn(kind)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            for events in self._events.values():
                events.clear()
            self.log.clear()
            self.counters.clear()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued event is delivered (or given up). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(self._events.values()) or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def summary(self) -> dict[str, Any]:
        with self._cond:
            return {"deliveries": list(self.log), "counters": dict(self.counters)}

    def _run(self, kind: str) -> None:
        while True:
            with self._cond:
                while not self._events.get(kind) and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                self._busy.add(kind)
            time.sleep(WEBHOOK_BATCH_WINDOW)
            with self._cond:
                events, self._events[kind] = self._events[kind], []
            try:
                self._deliver_all(kind, events)
            except Exception:  # keep the sender alive whatever a vendor builder does
                log.exception("webhook sender failed")
            with self._cond:
                self._busy.discard(kind)
                self._cond.notify_all()

    def _deliver_all(self, kind: str, vendor_events: list[JSON]) -> None:
        rng = self.app._fault_random
        slot = self.app.slots[kind]
        faults = slot.faults
        planned: list[Delivery] = []
        # Every subscription gets every event, signed with its own secret: two connections
        # (two workspaces) registered to one sandbox both hear of a change.
        for target in list(slot.subscriptions.values()):
            deliveries = slot.sandbox.webhook_deliveries(vendor_events, target, self.app.now())
            for_target: list[Delivery] = []
            for delivery in deliveries:
                if rng.random() < faults.webhook_drop_share:
                    self._record(kind, delivery, "dropped", None)
                    continue
                for_target.append(delivery)
                if rng.random() < faults.webhook_duplicate_share:
                    for_target.append(delivery)
                    self.counters[f"{kind}:duplicated"] += 1
            if len(for_target) > 1 and rng.random() < faults.webhook_reorder_share:
                for_target.reverse()
                self.counters[f"{kind}:reordered"] += 1
            planned.extend(for_target)
        concurrency = min(faults.webhook_concurrency, len(planned))
        if concurrency <= 1:
            for delivery in planned:
                self._send(kind, delivery)
            return
        with ThreadPoolExecutor(concurrency, thread_name_prefix=f"sandbox-{kind}") as pool:
            for _ in pool.map(lambda delivery: self._send(kind, delivery), planned):
                pass

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

"""Sandbox fixtures shared by every test package (registered in tests/conftest.py).

- `sandbox_server`: the running server (session scope), on a free localhost port.
- `sandbox`: per test; everything reset (faults, rate-limit windows, webhook targets, stats,
  clock) and every vendor seeded with seed 1. `sandbox.url_for("hubspot")` is the base URL
  to give a connector; `sandbox.admin` drives /_sandbox/ (see connectors.sandbox.client).
- `webhook_receiver`: a local HTTP server that records every request it gets, to register
  as a webhook target; `webhook_receiver.requests` holds them as WebhookRequest objects.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.base import WebhookRequest
from connectors.sandbox.client import SandboxAdmin
from connectors.sandbox.server import SandboxServer, start_in_thread


@dataclass
class Sandbox:
    url: str
    admin: SandboxAdmin

    def url_for(self, kind: str) -> str:
        return f"{self.url}/{kind}"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = start_in_thread(port=0)
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[Sandbox]:
    admin = SandboxAdmin(sandbox_server.url)
    admin.seed(1)
    yield Sandbox(sandbox_server.url, admin)
    admin.close()


@dataclass
class WebhookReceiver:
    origin: str  # "http://127.0.0.1:<port>"
    url: str  # the target to register; tests may add a query string
    requests: list[WebhookRequest] = field(default_factory=list)
    status: int = 204  # what the receiver answers

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    lock = threading.Lock()
    receiver: WebhookReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with lock:
                receiver.requests.append(
                    WebhookRequest(
                        method="POST",
                        url=receiver.origin + self.path,
                        headers=dict(self.headers.items()),
                        body=body,
                    )
                )
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    receiver = WebhookReceiver(origin, f"{origin}/hooks")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()

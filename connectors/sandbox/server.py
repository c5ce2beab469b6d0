"""The threaded HTTP server around SandboxApp (stdlib wsgiref + ThreadingMixIn)."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from connectors.sandbox.app import SandboxApp
from connectors.sandbox.core import VendorSandbox


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeouts injected on purpose) is not a server error.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class SandboxServer:
    """A running sandbox: `url` is "http://127.0.0.1:<port>"; `stop()` shuts it down."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        vendors: Mapping[str, type[VendorSandbox]] | None = None,
        state_file: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.app = SandboxApp(vendors, state_file=state_file)
        self.httpd = make_server(
            host, port, self.app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self.host = host
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.app.start()
        if seed is not None and not (state_file and self.app_has_loaded_state()):
            self.app.seed(seed)
        self._thread: threading.Thread | None = None

    def app_has_loaded_state(self) -> bool:
        import os

        return bool(self.app.state_file and os.path.exists(self.app.state_file))

    def url_for(self, kind: str) -> str:
        """The base URL a connector of `kind` uses to talk to its sandbox."""
        return f"{self.url}/{kind}"

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.app.stop()
            self.httpd.server_close()

    def start_in_thread(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name="sandbox-server", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.app.stop()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def start_in_thread(**kwargs: Any) -> SandboxServer:
    """Start a sandbox server in a daemon thread (port 0 picks a free port)."""
    return SandboxServer(**kwargs).start_in_thread()

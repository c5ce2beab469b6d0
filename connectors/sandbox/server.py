"""The threaded HTTP server around SandboxApp (stdlib only).

A small WSGI gateway on http.server's ThreadingHTTPServer, one thread per connection, with
HTTP/1.1 keep-alive: connectors hold a requests.Session, so reusing the connection removes
a TCP handshake and a thread start from every call (wsgiref's server closes each
connection). It implements the part of WSGI SandboxApp uses: a complete body with a
Content-Length, no streaming, no chunked requests.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connectors.sandbox.app import SandboxApp
from connectors.sandbox.core import VendorSandbox


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK hold the body back ~40 ms on every keep-alive response.
    disable_nagle_algorithm = True
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.server.app(environ, start_response)
        payload = b"".join(chunks)
        code, _, reason = captured["status"].partition(" ")
        self.send_response(int(code), reason)
        for name, value in captured["headers"]:
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    app: SandboxApp

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeouts injected on purpose) is not a server error.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """A running sandbox: `url` is "http://127.0.0.1:<port>"; `stop()` shuts it down.

    With `state_file`, state is loaded from it when it exists and is of the current format
    (`seed` is then ignored), and saved to it within a second of each change and at stop.
    """

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
        self.httpd = _Server((host, port), _Handler)
        self.httpd.app = self.app
        self.host = host
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        loaded = self.app.start()
        if seed is not None and not loaded:
            self.app.seed(seed)
        self._thread: threading.Thread | None = None

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
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-server",
            daemon=True,
        )
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

"""A real HTTP server on a loopback address that records every request it receives.

For tests that must prove a request never reached a private address: start one, point a
name at it, and assert `requests` stayed empty.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# What an internal service might answer: the error messages must never quote it.
PRIVATE_ANSWER = '{"message": "internal admin console: root password is hunter2"}'


@dataclass
class RecordingServer:
    host: str
    port: int
    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: str = PRIVATE_ANSWER
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextmanager
def recording_server(host: str = "127.0.0.1", **answer: object) -> Iterator[RecordingServer]:
    """A server on `host` (any 127.x address works on Linux) answering every request with
    `answer` (status, headers, body as in RecordingServer)."""
    lock = threading.Lock()
    state: RecordingServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with lock:
                state.requests.append((self.command, self.path, dict(self.headers.items())))
            body = state.body.encode()
            self.send_response(state.status)
            for key, value in state.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    state = RecordingServer(host, httpd.server_address[1], **answer)  # type: ignore[arg-type]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()

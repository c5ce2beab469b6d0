"""The AddressPolicy (connectors.netpolicy) applied to every connection requests opens.

`guarded_session(policy)` is a requests.Session whose adapter replaces urllib3's connect
step: the host name is resolved once through the policy, every address is judged, and the
socket connects to an address just judged. The host name itself is left on the connection,
so the Host header, SNI and certificate verification are those of the name, as before.
"""

from __future__ import annotations

import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import _set_socket_options, allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from connectors.netpolicy import AddressPolicy


class _PolicyConnectionMixin:
    """urllib3's _new_conn, resolving and connecting through the policy."""

    policy: AddressPolicy
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any

    def _new_conn(self) -> socket.socket:
        host = self._dns_host  # type: ignore[attr-defined]
        try:
            infos = self.policy.resolve(host, self.port, allowed_gai_family())
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        last: OSError | None = None
        for family, socktype, proto, _canonname, sockaddr in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                _set_socket_options(sock, self.socket_options)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                last = exc
                continue
            return sock
        if isinstance(last, TimeoutError):
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from last
        raise NewConnectionError(
            self,  # type: ignore[arg-type]
            f"Failed to establish a new connection: {last}",
        ) from last


class PolicyAdapter(HTTPAdapter):
    """A requests adapter whose every connection goes through an AddressPolicy.

    Mounted for http:// and https:// on a session, it covers every request the session
    sends, each redirect hop included. Proxies are not used: the policy must see the
    address the socket connects to, which a proxy would hide.
    """

    def __init__(self, policy: AddressPolicy, **kwargs: Any) -> None:
        self.policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        policy = self.policy
        http_conn = type("PolicyHTTPConnection", (_PolicyConnectionMixin, HTTPConnection), {})
        https_conn = type("PolicyHTTPSConnection", (_PolicyConnectionMixin, HTTPSConnection), {})
        http_conn.policy = https_conn.policy = policy  # type: ignore[attr-defined]
        http_pool = type("PolicyHTTPConnectionPool", (HTTPConnectionPool,), {})
        https_pool = type("PolicyHTTPSConnectionPool", (HTTPSConnectionPool,), {})
        http_pool.ConnectionCls = http_conn  # type: ignore[attr-defined]
        https_pool.ConnectionCls = https_conn  # type: ignore[attr-defined]
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        kwargs["proxies"] = {}
        return super().send(request, *args, **kwargs)


def guarded_session(policy: AddressPolicy | None) -> requests.Session:
    """A requests.Session; with a policy, every connection it opens obeys it."""
    session = requests.Session()
    if policy is not None:
        adapter = PolicyAdapter(policy)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session

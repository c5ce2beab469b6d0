"""The allow policy for user-supplied base URLs.

A connection's base URL is chosen by a workspace member, and Concord's workers will send
credentials to it. Without a policy, a member could point a connection at the cloud metadata
service or an internal admin port. Only http(s) URLs whose host resolves to public addresses
are allowed, unless the host or network is listed in CONCORD_ALLOWED_PRIVATE_NETWORKS
(development mode allows loopback, for the sandboxes).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class UrlNotAllowed(ValueError):
    """The URL may not be used as a connection's base URL; the message says why."""


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(n, strict=False) for n in settings.CONCORD_ALLOWED_PRIVATE_NETWORKS
    ]


def check_base_url(url: str) -> str:
    """Return the URL (without a trailing slash) if the policy allows it; else raise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise UrlNotAllowed("the base URL must start with https:// (or http://)")
    if not parts.hostname:
        raise UrlNotAllowed("the base URL has no host name")
    if parts.username or parts.password:
        raise UrlNotAllowed("put credentials in the credential fields, not in the URL")
    if parts.query or parts.fragment:
        raise UrlNotAllowed("the base URL cannot have a query or fragment")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UrlNotAllowed(f"the host {parts.hostname!r} cannot be resolved") from exc
    allowed = _allowed_networks()
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_global and not address.is_multicast:
            continue
        if any(address in network for network in allowed):
            continue
        raise UrlNotAllowed(
            f"{parts.hostname} resolves to {address}, a private, loopback or link-local "
            "address; an operator can allow it with CONCORD_ALLOWED_PRIVATE_NETWORKS"
        )
    return url.strip().rstrip("/")

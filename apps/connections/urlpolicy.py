"""The allow policy for user-supplied base URLs.

A connection's base URL is chosen by a workspace member, and Concord's workers will send
credentials to it. Without a policy, a member could point a connection at the cloud metadata
service or an internal admin port. Only http(s) URLs whose host resolves to public addresses
are allowed, unless the address lies in CONCORD_ALLOWED_PRIVATE_NETWORKS (development mode
allows loopback, for the sandboxes).

The policy is checked twice: here, when a base URL is saved (so a person is told at once),
and by the connector's HTTP layer on every connection it opens (connectors.netpolicy), so a
name that resolves elsewhere after it was saved (DNS rebinding) reaches nothing private.
`address_policy()` is the one policy object both use.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from django.conf import settings

from connectors.netpolicy import AddressNotAllowed, AddressPolicy


class UrlNotAllowed(ValueError):
    """The URL may not be used as a connection's base URL; the message says why."""


def address_policy() -> AddressPolicy:
    """The operator's policy: public addresses plus CONCORD_ALLOWED_PRIVATE_NETWORKS."""
    return AddressPolicy(settings.CONCORD_ALLOWED_PRIVATE_NETWORKS)


def check_base_url(url: str, *, policy: AddressPolicy | None = None) -> str:
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
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlNotAllowed("the base URL has an invalid port") from None
    try:
        (policy or address_policy()).resolve(parts.hostname, port)
    except socket.gaierror as exc:
        raise UrlNotAllowed(f"the host {parts.hostname!r} cannot be resolved") from exc
    except AddressNotAllowed as exc:
        raise UrlNotAllowed(exc.message) from None
    return url.strip().rstrip("/")

"""Which network addresses a connector may connect to, enforced when it connects.

A connection's base URL is chosen by a workspace member, and Concord sends credentials to it
and shows what it answered. Checking the host name once, when the URL is saved, is not
enough: DNS can answer a public address then and 127.0.0.1 a minute later (DNS rebinding).
So the HTTP layer applies the policy to every connection it opens, redirects included:

- the host name is resolved once per connection (`AddressPolicy.resolve`),
- every address it resolves to is judged, and one refused address refuses the host,
- the socket connects to one of the addresses just judged, never to a second lookup,
- TLS still verifies the certificate for the host name (SNI, Host header unchanged).

Public (globally routable, non-multicast) addresses are allowed; anything else only where
it lies in one of `allowed_networks` (the operator's CONCORD_ALLOWED_PRIVATE_NETWORKS).
IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
::a.b.c.d, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32) are
judged by the IPv4 address inside them, so ::ffff:127.0.0.1 or 64:ff9b::a9fe:a9fe cannot
stand in for loopback or the cloud metadata service.

This module knows nothing about Django or HTTP: apps.connections builds the policy from
settings and hands it to each connector; connectors.netguard applies it to requests.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from connectors.errors import ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[Any, ...]  # one getaddrinfo() entry: (family, type, proto, canonname, sockaddr)
Resolver = Callable[..., Sequence[AddrInfo]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class AddressNotAllowed(ConfigurationError):
    """The host resolves to an address the policy refuses; the message names both.

    Raised before anything is sent, so no answer of whatever listens there is ever quoted.
    """

    def __init__(self, host: str, address: str, why: str, **kwargs: Any) -> None:
        self.host = host
        self.address = address
        self.why = why
        super().__init__(
            f"{host} resolves to {address}, {why}; Concord does not connect there (an "
            "operator can allow a private network with CONCORD_ALLOWED_PRIVATE_NETWORKS)",
            **kwargs,
        )

    def at(self, *, system: str, call: str) -> AddressNotAllowed:
        """The same refusal, naming the system and the call that was refused."""
        return AddressNotAllowed(self.host, self.address, self.why, system=system, call=call)


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for a plain IPv6 or IPv4 address)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d
        return [address.ipv4_mapped]
    if address.sixtofour is not None:  # 2002:aabb:ccdd::/48
        return [address.sixtofour]
    if address.teredo is not None:  # 2001:0::/32 — (server, client)
        return list(address.teredo)
    if address in _NAT64 or address in _NAT64_LOCAL:
        # RFC 6052: with the well-known /96 prefix the IPv4 address is the last 32 bits; a
        # local-use /48 prefix may place it elsewhere, so judge the last 32 bits and refuse
        # the local-use prefix below unless an operator allowed it.
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # ::a.b.c.d (not :: or ::1)
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return []


class AddressPolicy:
    """Public addresses, plus `allowed_networks`; see the module docstring.

    `resolver` has socket.getaddrinfo's signature; tests pass one that answers differently
    from one call to the next, as a rebinding DNS server would.
    """

    def __init__(
        self,
        allowed_networks: Iterable[str | IPNetwork] = (),
        *,
        resolver: Resolver | None = None,
    ) -> None:
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(
            n
            if isinstance(n, ipaddress.IPv4Network | ipaddress.IPv6Network)
            # strict=False: "127.0.0.1/8" means the network it lies in.
            else ipaddress.ip_network(str(n).strip(), strict=False)
            for n in allowed_networks
        )
        self._resolver = resolver

    def _allowed_explicitly(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed_networks)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be connected to, or None when it may."""
        if self._allowed_explicitly(address):
            return None
        inner = embedded_ipv4(address)
        if inner:
            if isinstance(address, ipaddress.IPv6Address) and address in _NAT64_LOCAL:
                return "a local-use NAT64 address"
            for v4 in inner:
                why = self.refusal(v4)
                if why is not None:
                    return f"an IPv6 address that carries {v4}, {why}"
            return None
        if address.is_global and not address.is_multicast:
            return None
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_multicast:
            return "a multicast address"
        if address.is_unspecified:
            return "the unspecified address"
        return "a private or reserved address"

    def check_address(self, host: str, address: str) -> IPAddress:
        """The address parsed, or AddressNotAllowed naming the host and the address."""
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
        why = self.refusal(parsed)
        if why is not None:
            raise AddressNotAllowed(host, str(parsed), why)
        return parsed

    def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[AddrInfo]:
        """Resolve `host` once and judge every address; the entries to connect to.

        Raises socket.gaierror when the name does not resolve, AddressNotAllowed when any
        address it resolves to is refused (a name that answers both a public and a private
        address must not be allowed to choose between them later).
        """
        host = host.strip("[]")
        resolver = self._resolver or socket.getaddrinfo
        infos = list(resolver(host, port, family, socket.SOCK_STREAM))
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        for info in infos:
            self.check_address(host, info[4][0])
        return infos

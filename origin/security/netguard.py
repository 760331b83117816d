"""Which network addresses a source fetch may connect to. The only module that knows IP ranges.

The guard resolves a host once, checks every address it got, and hands back the address to
dial, so the connection goes to exactly what was checked (no DNS-rebinding window).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from origin.errors import Forbidden, UpstreamError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Never dialled, whatever the settings: "this host" aliases, link-local (cloud metadata lives at
# 169.254.169.254 and fd00:ec2::254), multicast, broadcast and reserved space.
_NEVER_V4 = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
))
_NEVER_V6 = tuple(ipaddress.ip_network(n) for n in (
    "::/128", "fe80::/10", "fec0::/10", "ff00::/8", "fd00:ec2::254/128",
))
# Not globally routable: dialled only with IMGORIGIN_ALLOW_PRIVATE_NETWORKS.
_PRIVATE_V4 = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24",
))
_PRIVATE_V6 = tuple(ipaddress.ip_network(n) for n in (
    "::1/128", "fc00::/7", "100::/64", "2001:db8::/32",
))
# Prefixes that embed an IPv4 address: the embedded address decides.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_6TO4 = ipaddress.ip_network("2002::/16")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)


def embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried by a mapped, compatible, NAT64 or 6to4 IPv6 address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or address in _NAT64_LOCAL or address in _SIIT:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _6TO4:
        return address.sixtofour
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(packed)
    return None


PUBLIC, PRIVATE, NEVER = "public", "private", "never"


def classify(address: IPAddress) -> str:
    """`public`, `private` (allowed by ALLOW_PRIVATE_NETWORKS) or `never` (always refused);
    an IPv6 address embedding an IPv4 one is judged by the embedded address."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_v4(address)
        if inner is not None:
            return classify(inner)
        if any(address in net for net in _NEVER_V6):
            return NEVER
        if any(address in net for net in _PRIVATE_V6) or not address.is_global:
            return PRIVATE
        return PUBLIC
    if any(address in net for net in _NEVER_V4):
        return NEVER
    if any(address in net for net in _PRIVATE_V4):
        return PRIVATE
    return PUBLIC


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address (after unwrapping embedded IPv4)."""
    return classify(address) == PUBLIC


def parse_ip_literal(host: str) -> IPAddress | None:
    """An IP literal in any form a URL parser or libc accepts (127.1, 0177.0.0.1, 2130706433)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        # inet_aton accepts the shorthand, octal and integer IPv4 forms that browsers and
        # libc resolve; treat them as the address they mean.
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UpstreamError("source host could not be resolved", internal=str(exc)) from None
    return [info[4][0] for info in infos]


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """Match a host against an allowlist where `*.example.com` covers subdomains only."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def origin_of(url: str) -> tuple[str, int]:
    """(lower-case host, port) of an http(s) URL, the unit that trust is granted to."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.hostname or "").lower().rstrip("."), port


@dataclass
class NetworkGuard:
    """Resolves and checks a host. `trusted` origins (the configured IMGORIGIN_SOURCE, as
    host and port) skip the range check: the operator named them."""

    allow_private: bool = False
    trusted: frozenset[tuple[str, int]] = frozenset()
    resolver: Resolver = system_resolver

    async def pin(self, host: str, port: int) -> str:
        """The checked address to connect to for host:port; raises Forbidden before any connect."""
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            addresses = []
            for raw in await self.resolver(host, port):
                ip = parse_ip_literal(raw.split("%", 1)[0])
                if ip is not None:
                    addresses.append(ip)
            if not addresses:
                raise UpstreamError("source host has no address")
        if (host.lower().rstrip("."), port) in self.trusted:
            return str(addresses[0])
        # One bad address poisons the answer: a resolver that mixes public and private answers
        # is how rebinding attacks pick their moment.
        for ip in addresses:
            kind = classify(ip)
            if kind == NEVER or (kind == PRIVATE and not self.allow_private):
                raise Forbidden("source address is not allowed", internal=f"{host} -> {ip}")
        return str(addresses[0])

"""The SSRF guard: which addresses a URL from outside may reach.

Every URL the fetcher sees comes from a feed, a redirect or a config file and may point
anywhere, so the verdict is taken on the resolved IP at connect time (``http.backend``)
and, for numeric hosts, before any socket exists (``http.fetcher``).  Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from aggregator.exceptions import BlockedURLError, ConfigError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SPECIAL_NETWORKS: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(net), label)
    for net, label in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved or broadcast"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b::/96", "NAT64"),
        ("64:ff9b:1::/48", "NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF special-purpose"),
        ("2001:db8::/32", "documentation"),
        ("fc00::/7", "unique-local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    )
)


def as_ip(value: str | IPAddress) -> IPAddress:
    """Parse an address; strings from getaddrinfo may carry an IPv6 zone ('%eth0')."""
    return value if not isinstance(value, str) else ipaddress.ip_address(value.strip("[]"))


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address smuggles in (6to4, Teredo); they reach that IPv4 host."""
    found = [ip.sixtofour] if ip.sixtofour else []
    return found + list(ip.teredo or ())


def why_not_public(ip: IPAddress) -> str | None:
    """The kind of non-public address `ip` is, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        inner = why_not_public(ip.ipv4_mapped)
        return f"IPv4-mapped {inner}" if inner else None
    for net, label in _SPECIAL_NETWORKS:
        if ip.version == net.version and ip in net:
            return label
    if isinstance(ip, ipaddress.IPv6Address):
        inner_reasons = [r for v4 in _embedded_v4(ip) if (r := why_not_public(v4))]
        if inner_reasons:
            return f"tunnelled {inner_reasons[0]}"
    return None if ip.is_global else "reserved"


def is_public_address(ip: str | IPAddress) -> bool:
    """True if `ip` is a public unicast address a feed may live on.

    IPv4-mapped IPv6 is judged by its IPv4 part; NAT64, 6to4 and Teredo forms that
    lead to private IPv4 hosts are not public.  A string that is not an IP is False.
    """
    try:
        return why_not_public(as_ip(ip)) is None
    except ValueError:
        return False


def norm_host(host: str) -> str:
    """Compare hosts the way DNS does: case-insensitive, trailing dot and brackets ignored."""
    return host.strip().strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class AllowList:
    """policy.allow_private, parsed once: host names and IP networks."""

    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    def allows_host(self, host: str) -> bool:
        return norm_host(host) in self.hosts

    def allows_ip(self, ip: IPAddress) -> bool:
        """Mapped IPv6 (::ffff:a.b.c.d) is matched by its IPv4 too, like is_public_address."""
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(c in n for c in candidates for n in self.networks if c.version == n.version)


def _parse_allow_entry(entry: str) -> IPNetwork | str:
    """An IP or CIDR becomes a network; anything else is a host name."""
    text = norm_host(entry)
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        if "/" in text or not text:
            raise ConfigError(
                f"network.allow_private entry {entry!r} is neither a host name, an IP nor a CIDR",
                key="network.allow_private",
            ) from None
        return text


@lru_cache(maxsize=64)
def allow_list(entries: tuple[str, ...]) -> AllowList:
    """Cached: the same policy tuple is consulted on every new connection."""
    parsed = [_parse_allow_entry(e) for e in entries]
    return AllowList(
        hosts=frozenset(p for p in parsed if isinstance(p, str)),
        networks=tuple(p for p in parsed if not isinstance(p, str)),
    )


def blocked_message(host: str, ip: IPAddress, reason: str) -> str:
    if norm_host(host) == str(ip):
        return f"refusing to connect to {ip}: it is a {reason} address, not a public one"
    return f"refusing to connect to {host}: it resolves to {ip}, a {reason} address"


def check_host_allowed(
    host: str, addresses: Iterable[str | IPAddress], allow_private: Iterable[str] = ()
) -> list[IPAddress]:
    """Vet every address `host` resolved to; return them, or raise BlockedURLError.

    All must pass, not just one: an answer mixing a public and a private address
    is how rebinding attacks choose their target.  `allow_private` entries let a
    host name (all its addresses) or an IP/CIDR through although not public.
    """
    allow = allow_list(tuple(allow_private))
    ips = [as_ip(a) for a in addresses]
    if allow.allows_host(host):
        return ips
    for ip in ips:
        reason = why_not_public(ip)
        if reason and not allow.allows_ip(ip):
            raise BlockedURLError(blocked_message(host, ip, reason), url=host)
    return ips


_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")


def numeric_host(host: str) -> IPAddress | None:
    """The IP a numeric host means, including forms like 2130706433, 0x7f000001, 0177.0.0.1, 127.1.

    The C resolver accepts all of these for 127.0.0.1, so they must be judged as IPs.
    """
    try:
        return as_ip(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def numeric_block(host: str, allow: AllowList, url: str) -> BlockedURLError | None:
    """The refusal for a numeric host (127.1, 0x7f000001 ...) that is not public, or None.

    Judged before the URL is even parsed: such hosts must never reach a resolver.
    """
    ip = numeric_host(host)
    if ip is None or allow.allows_host(host) or allow.allows_ip(ip):
        return None
    reason = why_not_public(ip)
    return None if reason is None else BlockedURLError(blocked_message(host, ip, reason), url=url)

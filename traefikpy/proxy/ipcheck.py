"""Trusted-peer checks: does an address belong to a list of IPs and CIDR ranges?

Used by the entry point for ``forwardedHeaders.trustedIPs`` and ``proxyProtocol.trustedIPs``.
Like Traefik's ``ip.Checker`` an entry is either a single IP or a CIDR block; IPv4-mapped IPv6
peers (``::ffff:10.0.0.1``, what a dual-stack socket reports) match their IPv4 entries.  The
check runs once per connection, never per request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


class IPChecker:
    """A set of trusted IPs/CIDRs.  ``IPChecker(["10.0.0.0/8", "::1"]).contains("10.1.2.3")``."""

    __slots__ = ("_nets", "_exact", "_entries")

    def __init__(self, entries: Iterable[str]) -> None:
        self._entries = tuple(e.strip() for e in entries if e.strip())
        nets: list[_Net] = []
        exact: set[str] = set()
        for entry in self._entries:
            try:
                if "/" in entry:
                    nets.append(ipaddress.ip_network(entry, strict=False))
                else:
                    exact.add(str(ipaddress.ip_address(entry)))
            except ValueError:
                raise ValueError(f"invalid trusted IP or CIDR {entry!r}") from None
        self._nets = tuple(nets)
        self._exact = frozenset(exact)

    def contains(self, ip: str) -> bool:
        """True when ``ip`` (text, optionally with an IPv6 zone) is trusted; False if unparsable."""
        if not self._entries:
            return False
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            mapped = addr.ipv4_mapped
            if str(mapped) in self._exact or any(mapped in net for net in self._nets):
                return True
        if str(addr) in self._exact:
            return True
        return any(addr in net for net in self._nets)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __repr__(self) -> str:
        return f"IPChecker({list(self._entries)!r})"

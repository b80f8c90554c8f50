"""Who sent a request: Traefik's ``ipStrategy`` and ``sourceCriterion``, shared by ``ipAllowList``
(and ``ipWhiteList``), ``inFlightReq`` and ``rateLimit``.

``ipStrategy`` picks the client IP (Traefik's ``pkg/ip`` strategies):

* nothing set: the connection's address (after the PROXY protocol, never ``X-Forwarded-For``);
* ``depth: n`` (> 0): the n-th entry of ``X-Forwarded-For`` counted from the right, or ``""`` when
  the header has fewer entries; ``excludedIPs`` is then ignored;
* ``excludedIPs``: the rightmost ``X-Forwarded-For`` entry not in those IPs/CIDRs, or ``""``;
* ``ipv6Subnet: n`` (1-128, with ``depth`` or with the connection address): an IPv6 address is
  replaced by the first address of its ``/n`` network, so one client cannot dodge a limit by
  rotating through its prefix.  IPv4 addresses are unchanged.

``X-Forwarded-For`` is read as Go's ``Header.Get`` does: the first header of that name (the
entry point folds several into one for trusted peers and drops them for others).

``sourceCriterion`` (at most one of): ``ipStrategy``, ``requestHeaderName`` (the first value of that
header, ``""`` when absent: such requests share one source) or ``requestHost`` (the Host header as
sent, port included).  With none set, ``rateLimit`` groups by client IP and ``inFlightReq`` by
request host, as in Traefik.

Everything is decided at build time; a source lookup is one closure call.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Literal

from traefikpy.config.middleware_options import IPStrategy, SourceCriterion
from traefikpy.proxy.http import Exchange
from traefikpy.proxy.ipcheck import IPChecker

SourceFn = Callable[[Exchange], str]
"""Returns the source (IP, header value or host) of an exchange."""

_XFF = b"x-forwarded-for"
_HOST = b"host"


def xff_entries(ex: Exchange) -> list[str]:
    """The comma-separated entries of the first ``X-Forwarded-For`` header (``[""]`` when absent,
    like Go's ``strings.Split("", ",")``)."""
    for key, value in ex.headers:
        if key.lower() == _XFF:
            return value.decode("latin-1").split(",")
    return [""]


def ipv6_subnet_ip(ip: str, bits: int) -> str:
    """The first address of the ``/bits`` network of an IPv6 ``ip``; anything else unchanged."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if not isinstance(addr, ipaddress.IPv6Address) or not 0 <= bits <= 128:
        return ip
    return str(ipaddress.IPv6Network((addr, bits), strict=False).network_address)


def split_host_port(addr: str) -> str:
    """The host of ``host:port`` or ``[v6]:port`` (Go's ``net.SplitHostPort``), else ``addr``."""
    if addr.startswith("["):
        end = addr.find("]")
        if end > 0 and addr[end + 1 : end + 2] == ":" and addr[end + 2 :].isdigit():
            return addr[1:end]
        return addr
    if addr.count(":") == 1:
        host, port = addr.split(":")
        if port.isdigit():
            return host
    return addr


def _check_subnet(bits: int | None) -> None:
    if bits is not None and not 0 < bits <= 128:
        raise ValueError(f"invalid ipv6Subnet {bits}: it must be between 1 and 128")


def ip_strategy(options: IPStrategy | None) -> SourceFn:
    """The client-IP function of an ``ipStrategy`` (None: the connection address)."""
    if options is None:
        return _remote_addr
    bits = options.ipv6_subnet
    if options.depth > 0:
        _check_subnet(bits)
        return _depth(options.depth, bits)
    if options.excluded_ips:
        try:
            checker = IPChecker(options.excluded_ips)
        except ValueError as exc:
            raise ValueError(f"invalid excludedIPs: {str(exc).replace('trusted ', '')}") from None
        return _pool(checker)
    _check_subnet(bits)
    if bits is None:
        return _remote_addr
    return lambda ex: ipv6_subnet_ip(ex.client_ip, bits)


def _remote_addr(ex: Exchange) -> str:
    return ex.client_ip


def _depth(depth: int, bits: int | None) -> SourceFn:
    def by_depth(ex: Exchange) -> str:
        entries = xff_entries(ex)
        if len(entries) < depth:
            return ""
        ip = entries[-depth].strip()
        return ipv6_subnet_ip(ip, bits) if bits is not None else ip

    return by_depth


def _pool(checker: IPChecker) -> SourceFn:
    def first_not_excluded(ex: Exchange) -> str:
        for entry in reversed(xff_entries(ex)):
            ip = entry.strip()
            if ip and not checker.contains(split_host_port(ip)):
                return ip
        return ""

    return first_not_excluded


def source_extractor(criterion: SourceCriterion | None, default: Literal["ip", "host"]) -> SourceFn:
    """The source function of a ``sourceCriterion``; ``default`` applies when nothing is set.
    Raises ValueError when several criteria are set or the IP strategy is invalid."""
    if criterion is not None:
        strategy, header, host = criterion.ip_strategy, criterion.request_header_name, criterion.request_host
        if strategy is not None and header:
            raise ValueError("iPStrategy and RequestHeaderName are mutually exclusive")
        if strategy is not None and host:
            raise ValueError("iPStrategy and RequestHost are mutually exclusive")
        if header and host:
            raise ValueError("requestHost and RequestHeaderName are mutually exclusive")
        if strategy is not None:
            return ip_strategy(strategy)
        if header:
            return _header(header.lower().encode("latin-1"))
        if host:
            return _request_host
    return _request_host if default == "host" else _remote_addr


def _header(name: bytes) -> SourceFn:
    def by_header(ex: Exchange) -> str:
        for key, value in ex.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return ""

    return by_header


def _request_host(ex: Exchange) -> str:
    # Go's req.Host: the Host header as received (port included).
    for key, value in ex.headers:
        if key.lower() == _HOST:
            return value.decode("latin-1")
    return ex.host

"""The eleven HTTP matchers of Traefik v3 rules: value checks at build time, cheap tests per request.

Each matcher class precomputes everything from its arguments (lower-cased host, encoded
method and header bytes, compiled regexp, integer IP range) so that ``match`` does one
comparison or one scan.  :data:`MATCHERS` maps each canonical name to its arity and builder;
builders raise :class:`MatcherValueError` naming the argument at fault, which the parser turns
into a positioned :class:`~traefikpy.rules.errors.RuleError`.

Semantics follow Traefik's ``pkg/muxer/http/matcher.go``: ``Host`` is case-insensitive and
tolerates a trailing dot, ``*.example.com`` matches exactly one more label; ``Method`` upper-cases
the rule value and compares case-sensitively; ``Header`` keys are case-insensitive, any value of
the header may match exactly (a ``Host`` header never matches: Go keeps it out of the header
map); ``Query(`k`)`` matches a ``k`` whose value is empty; ``ClientIP`` uses the socket peer only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import NamedTuple, Protocol

from traefikpy.rules.goregex import GoRegexpError, compile_go_regexp
from traefikpy.rules.request import Routable


class MatcherValueError(ValueError):
    """An invalid matcher argument; ``arg`` is its 0-based index."""

    def __init__(self, arg: int, message: str) -> None:
        super().__init__(message)
        self.arg = arg


class Matcher(Protocol):
    def match(self, req: Routable) -> bool: ...


def wildcard_key(host: str) -> str:
    """The part of ``host`` a single-label wildcard compares: ``a.b.c`` -> ``.b.c``, ``a`` -> ``""``."""
    dot = host.find(".")
    return host[dot:] if dot >= 0 else ""


class HostMatcher:
    __slots__ = ("host",)

    def __init__(self, host: str) -> None:
        self.host = host

    def match(self, req: Routable) -> bool:
        return req.host == self.host


class WildcardHostMatcher:
    """``Host(`*.example.com`)``: any host with exactly one label before ``.example.com``."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def match(self, req: Routable) -> bool:
        host = req.host
        return bool(host) and wildcard_key(host) == self.key


class HostRegexpMatcher:
    __slots__ = ("search",)

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.search = pattern.search

    def match(self, req: Routable) -> bool:
        return self.search(req.host) is not None


class MethodMatcher:
    __slots__ = ("method",)

    def __init__(self, method: bytes) -> None:
        self.method = method

    def match(self, req: Routable) -> bool:
        return req.method == self.method


class PathMatcher:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def match(self, req: Routable) -> bool:
        return req.routing_path == self.path


class PathPrefixMatcher:
    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def match(self, req: Routable) -> bool:
        path = req.routing_path
        return path is not None and path.startswith(self.prefix)


class PathRegexpMatcher:
    __slots__ = ("search",)

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.search = pattern.search

    def match(self, req: Routable) -> bool:
        path = req.routing_path
        return path is not None and self.search(path) is not None


class HeaderMatcher:
    __slots__ = ("name", "value")

    def __init__(self, name: bytes, value: bytes) -> None:
        self.name = name  # lower-case
        self.value = value

    def match(self, req: Routable) -> bool:
        name, value, size = self.name, self.value, len(self.name)
        for key, got in req.headers:
            # Go trims optional whitespace around field values; most servers already do.
            if len(key) == size and key.lower() == name and (got == value or got.strip(b" \t") == value):
                return True
        return False


class HeaderRegexpMatcher:
    __slots__ = ("name", "search")

    def __init__(self, name: bytes, pattern: re.Pattern[str]) -> None:
        self.name = name
        self.search = pattern.search

    def match(self, req: Routable) -> bool:
        name, size, search = self.name, len(self.name), self.search
        return any(
            len(key) == size and key.lower() == name
            and search(got.strip(b" \t").decode("utf-8", "surrogateescape")) is not None
            for key, got in req.headers
        )


class NeverMatcher:
    """A matcher that can never match (``Header(`Host`, ...)``: Go removes Host from headers)."""

    __slots__ = ()

    def match(self, req: Routable) -> bool:
        return False


class QueryMatcher:
    __slots__ = ("key", "value")

    def __init__(self, key: str, value: str) -> None:
        self.key = key
        self.value = value

    def match(self, req: Routable) -> bool:
        key, value = self.key, self.value
        return any(k == key and v == value for k, v in req.query_pairs)


class QueryRegexpMatcher:
    __slots__ = ("key", "search")

    def __init__(self, key: str, pattern: re.Pattern[str]) -> None:
        self.key = key
        self.search = pattern.search

    def match(self, req: Routable) -> bool:
        key, search = self.key, self.search
        return any(k == key and search(v) is not None for k, v in req.query_pairs)


class ClientIPMatcher:
    __slots__ = ("version", "low", "high")

    def __init__(self, version: int, low: int, high: int) -> None:
        self.version = version
        self.low = low
        self.high = high

    def match(self, req: Routable) -> bool:
        addr = req.client_addr
        return addr is not None and addr[0] == self.version and self.low <= addr[1] <= self.high


# -- builders ---------------------------------------------------------------------------------


def _ascii(arg: int, value: str, name: str) -> None:
    if not value.isascii():
        raise MatcherValueError(
            arg, f"{name} value `{value}` contains non-ASCII characters; use its punycode (xn--) form"
        )


def _regexp(arg: int, name: str, value: str) -> re.Pattern[str]:
    try:
        return compile_go_regexp(value)
    except GoRegexpError as err:
        raise MatcherValueError(arg, f"{name}: invalid regular expression: {err}") from None


def _header_name(key: str) -> bytes:
    return key.lower().encode("utf-8", "surrogateescape")


def _raw(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def build_host(args: list[str]) -> Matcher:
    _ascii(0, args[0], "Host")
    host = args[0].lower()
    if len(host) > 1 and host.endswith("."):
        host = host[:-1]
    if host.startswith("*"):
        return WildcardHostMatcher(host[1:])
    return HostMatcher(host)


def build_host_regexp(args: list[str]) -> Matcher:
    _ascii(0, args[0], "HostRegexp")
    return HostRegexpMatcher(_regexp(0, "HostRegexp", args[0]))


def build_method(args: list[str]) -> Matcher:
    return MethodMatcher(_raw(args[0].upper()))


def _check_slash(name: str, value: str) -> None:
    if not value.startswith("/"):
        raise MatcherValueError(0, f"{name} value `{value}` must start with '/'")


def build_path(args: list[str]) -> Matcher:
    _check_slash("Path", args[0])
    return PathMatcher(args[0])


def build_path_prefix(args: list[str]) -> Matcher:
    _check_slash("PathPrefix", args[0])
    return PathPrefixMatcher(args[0])


def build_path_regexp(args: list[str]) -> Matcher:
    return PathRegexpMatcher(_regexp(0, "PathRegexp", args[0]))


def build_header(args: list[str]) -> Matcher:
    if args[0].lower() == "host":
        return NeverMatcher()
    return HeaderMatcher(_header_name(args[0]), _raw(args[1]))


def build_header_regexp(args: list[str]) -> Matcher:
    pattern = _regexp(1, "HeaderRegexp", args[1])
    if args[0].lower() == "host":
        return NeverMatcher()
    return HeaderRegexpMatcher(_header_name(args[0]), pattern)


def build_query(args: list[str]) -> Matcher:
    return QueryMatcher(args[0], args[1] if len(args) == 2 else "")


def build_query_regexp(args: list[str]) -> Matcher:
    if len(args) == 1:
        return QueryMatcher(args[0], "")
    return QueryRegexpMatcher(args[0], _regexp(1, "QueryRegexp", args[1]))


_PREFIX_BITS = re.compile(r"0|[1-9][0-9]{0,2}")


def build_client_ip(args: list[str]) -> Matcher:
    value = args[0]
    address, slash, bits = value.partition("/")
    try:
        if not slash:
            addr = ipaddress.ip_address(address.partition("%")[0])
            network = ipaddress.ip_network(addr)
        else:
            if "%" in address or not _PREFIX_BITS.fullmatch(bits):
                raise ValueError(value)
            network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise MatcherValueError(0, f"ClientIP value `{value}` is not an IP address or CIDR range") from None
    low, high = int(network.network_address), int(network.broadcast_address)
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 and low >> 32 == 0xFFFF:
        # Traefik compares IPv4-mapped IPv6 addresses in their IPv4 form.
        return ClientIPMatcher(4, low & 0xFFFFFFFF, high & 0xFFFFFFFF)
    return ClientIPMatcher(network.version, low, high)


class MatcherSpec(NamedTuple):
    arities: tuple[int, ...]
    build: Callable[[list[str]], Matcher]


MATCHERS: dict[str, MatcherSpec] = {
    "ClientIP": MatcherSpec((1,), build_client_ip),
    "Method": MatcherSpec((1,), build_method),
    "Host": MatcherSpec((1,), build_host),
    "HostRegexp": MatcherSpec((1,), build_host_regexp),
    "Path": MatcherSpec((1,), build_path),
    "PathRegexp": MatcherSpec((1,), build_path_regexp),
    "PathPrefix": MatcherSpec((1,), build_path_prefix),
    "Header": MatcherSpec((2,), build_header),
    "HeaderRegexp": MatcherSpec((2,), build_header_regexp),
    "Query": MatcherSpec((1, 2), build_query),
    "QueryRegexp": MatcherSpec((1, 2), build_query_regexp),
}
"""Traefik v3 HTTP matchers by canonical name."""

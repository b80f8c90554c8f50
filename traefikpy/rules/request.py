"""The request as routing sees it: the :class:`Routable` protocol.

The data plane routes the request's own ``Exchange`` (no extra object per request): it has the
routing path already decoded, and its query pairs and client address come from the bounded
caches :func:`query_pairs_of` and :func:`client_addr_of` (only ``Query*`` and ``ClientIP``
matchers ask for them).  :class:`RouteRequest` builds a routable from raw fields (the explain
API, tests).  Headers are never indexed: only ``Header*`` matchers scan them.

The routing path follows Traefik v3: percent-encoded characters are decoded except RFC 3986
reserved characters (``:/?#[]@!$&'()*+,;=``) and ``%`` itself, which stay encoded (with
upper-case hex, as Traefik's entrypoint normalisation leaves them), so ``PathPrefix(`/foo bar`)``
matches ``/foo%20bar`` while ``/a%2Fb`` never matches ``Path(`/a/b`)``.  An invalid escape
makes the routing path ``None`` (Traefik answers 400 before routing; :func:`routing_path`
lets the server do the same).
"""

from __future__ import annotations

import functools
import re
import socket
from typing import Protocol

_RESERVED = frozenset(b":/?#[]@!$&'()*+,;=%")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_BAD_QUERY_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_UNSET: object = object()


def routing_path(raw: str) -> str | None:
    """The path the ``Path``/``PathPrefix``/``PathRegexp`` matchers see, or None if malformed.

    ``raw`` is the request path as received, without the query, as a byte-preserving
    (latin-1 decoded) string.  Decoded bytes are read as UTF-8 (``surrogateescape`` keeps
    invalid sequences comparable byte for byte).
    """
    if "%" not in raw:
        if raw.isascii():
            return raw
        return _as_bytes(raw).decode("utf-8", "surrogateescape")
    data = _as_bytes(raw)
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        byte = data[i]
        if byte != 0x25:  # "%"
            out.append(byte)
            i += 1
            continue
        if i + 2 >= n or data[i + 1] not in _HEX or data[i + 2] not in _HEX:
            return None
        value = int(data[i + 1 : i + 3], 16)
        if value in _RESERVED:
            out += b"%" + data[i + 1 : i + 3].upper()
        else:
            out.append(value)
        i += 3
    return out.decode("utf-8", "surrogateescape")


def _as_bytes(raw: str) -> bytes:
    try:
        return raw.encode("latin-1")
    except UnicodeEncodeError:  # already text (not byte-preserving): take it as UTF-8
        return raw.encode("utf-8", "surrogateescape")


def _query_unescape(part: bytes) -> str | None:
    """Go's ``url.QueryUnescape``: ``+`` is a space, ``%XX`` must be valid; None if not."""
    if b"%" not in part:
        if b"+" in part:
            part = part.replace(b"+", b" ")
        return part.decode("utf-8", "surrogateescape")
    if _BAD_QUERY_ESCAPE.search(part):
        return None
    chunks = part.replace(b"+", b" ").split(b"%")
    out = bytearray(chunks[0])
    for chunk in chunks[1:]:
        out.append(int(chunk[:2], 16))
        out += chunk[2:]
    return out.decode("utf-8", "surrogateescape")


def parse_query(query: bytes) -> list[tuple[str, str]]:
    """``(key, value)`` pairs of a raw query string, as Go's ``url.ParseQuery`` reads them.

    Pairs are split on ``&`` only; a pair containing ``;`` or an invalid escape is skipped
    (Go reports an error that Traefik ignores); ``k`` alone is ``(k, "")``.
    """
    pairs: list[tuple[str, str]] = []
    for part in query.split(b"&"):
        if not part or b";" in part:
            continue
        raw_key, _, raw_value = part.partition(b"=")
        key = _query_unescape(raw_key)
        value = _query_unescape(raw_value)
        if key is not None and value is not None:
            pairs.append((key, value))
    return pairs


def parse_client_ip(text: str) -> tuple[int, int] | None:
    """``(4 or 6, integer address)`` of a peer address; IPv4-mapped IPv6 becomes IPv4.

    A port (``10.0.0.1:8456``, ``[::1]:8456``) and a zone (``fe80::1%eth0``) are ignored, as
    Traefik's remote-address strategy and checker do; None if not an address.
    """
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    if "%" in text:
        text = text.partition("%")[0]
    try:
        if ":" not in text:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


class Routable(Protocol):
    """What matchers read: ``host`` lower-cased, without port and trailing dot; ``routing_path``
    (see :func:`routing_path`; None when malformed); ``headers`` the raw ``(name, value)`` pairs."""

    @property
    def method(self) -> bytes: ...
    @property
    def host(self) -> str: ...
    @property
    def headers(self) -> list[tuple[bytes, bytes]]: ...
    @property
    def routing_path(self) -> str | None: ...
    @property
    def query_pairs(self) -> list[tuple[str, str]]: ...
    @property
    def client_addr(self) -> tuple[int, int] | None: ...


@functools.lru_cache(maxsize=1024)
def query_pairs_of(query: bytes) -> list[tuple[str, str]]:
    """:func:`parse_query`, cached by the raw query (the list is shared: do not modify it)."""
    return parse_query(query) if query else []


@functools.lru_cache(maxsize=1024)
def client_addr_of(client_ip: str) -> tuple[int, int] | None:
    """:func:`parse_client_ip`, cached by the peer address."""
    return parse_client_ip(client_ip)


class QueryAndAddress:
    """``query_pairs`` and ``client_addr`` of a class with ``query`` and ``client_ip`` (from the
    caches above): the part of :class:`Routable` that ``Exchange`` and :class:`RouteRequest` share."""

    __slots__ = ()
    query: bytes
    client_ip: str

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        return query_pairs_of(self.query)

    @property
    def client_addr(self) -> tuple[int, int] | None:
        return client_addr_of(self.client_ip)


class RouteRequest(QueryAndAddress):
    """A :class:`Routable` from raw request fields.

    ``host`` must already be lower-cased, without port and without a trailing dot (the server
    canonicalises it once); ``path`` is the raw request path without the query, as a
    byte-preserving string (``raw_path.decode("latin-1")``); ``query`` the raw query without
    ``?``; ``headers`` the raw ``(name, value)`` pairs; ``client_ip`` the socket peer address.
    """

    __slots__ = ("method", "host", "path", "query", "headers", "client_ip", "_routing_path")

    def __init__(
        self,
        method: bytes,
        host: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        client_ip: str,
    ) -> None:
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self.headers = headers
        self.client_ip = client_ip
        self._routing_path: object = _UNSET

    @property
    def routing_path(self) -> str | None:
        """The decoded path for ``Path*`` matchers (see :func:`routing_path`), computed once."""
        value = self._routing_path
        if value is _UNSET:
            raw = self.path
            # the usual path needs no decoding (routing_path's first case, without the call)
            value = self._routing_path = raw if "%" not in raw and raw.isascii() else routing_path(raw)
        return value  # type: ignore[return-value]

    def __repr__(self) -> str:
        query = "?" + self.query.decode("latin-1") if self.query else ""
        return f"<RouteRequest {self.method.decode('latin-1')} {self.host}{self.path}{query} from {self.client_ip}>"

"""Turning a parsed request head into an :class:`~traefikpy.proxy.http.Exchange`.

Called once per request from ``H1Connection.on_headers_complete`` with the head the parser
collected.  It enforces what llhttp leaves to the server (HTTP version, Host rules, the exact
``Transfer-Encoding: chunked``, ``Expect``, upgrade bodies), applies the entry point's path
handling (normalisation, optional encoded-character filter, ``sanitizePath``,
``encodeQuerySemicolons``) and its forwarded headers, and builds the request body and the
writer.  Every refusal is a :class:`~traefikpy.proxy.h1rules.Reject` carrying the status Go's
server would send.

The common request (origin-form path without escapes or dot segments, one Host, no special
headers) takes a short path through here: small caches remember canonical hosts, decoded paths
and the forwarded headers a connection adds.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

from traefikpy.proxy.forwarded import is_managed
from traefikpy.proxy.h1body import NO_BODY, EmptyBody, RequestBody
from traefikpy.proxy.h1rules import (
    H_CONNECTION,
    H_EXPECT,
    H_MANAGED,
    H_TRANSFER_ENCODING,
    H_UPGRADE,
    H_XFF,
    IGNORED_UPGRADES,
    Reject,
    connection_tokens,
)
from traefikpy.proxy.h1writer import H1Writer
from traefikpy.proxy.http import Exchange, Headers
from traefikpy.proxy.target import (
    BadTarget,
    canonical_host,
    clean_path,
    decode_path,
    encode_query_semicolons,
    has_denied_encoding,
    normalize_path,
    split_target,
    valid_host,
)

if TYPE_CHECKING:
    from traefikpy.proxy.server import H1Connection, ServerConfig

_CACHE_LIMIT = 4096
_HOSTS: dict[bytes, str] = {}  # valid Host value -> canonical host
_PATHS: dict[bytes, str] = {}  # clean raw path -> decoded path


class RequestState:
    """The rarely used parts of a request head, created on the first special header."""

    __slots__ = ("host_count", "conn_values", "te", "expect", "upgrade", "seen", "xff")

    def __init__(self) -> None:
        self.host_count = 1
        self.conn_values: list[bytes] | None = None
        self.te: list[bytes] | None = None
        self.expect: bytes | None = None
        self.upgrade: bytes | None = None
        self.seen: dict[bytes, bytes] | None = None  # managed headers kept from a trusted peer
        self.xff: list[bytes] | None = None

    def add(self, kind: int, name: bytes, value: bytes, trusted: bool, headers: Headers) -> None:
        if kind in (H_MANAGED, H_XFF):
            if not trusted:
                return
            if self.seen is None:
                self.seen = {}
            if kind == H_XFF:
                if self.xff is None:
                    self.xff = [value]
                else:
                    self.xff.append(value)
                return
            self.seen.setdefault(name.lower(), value)
            headers.append((name, value))
        elif kind == H_CONNECTION:
            if self.conn_values is None:
                self.conn_values = [value]
            else:
                self.conn_values.append(value)
        elif kind == H_TRANSFER_ENCODING:
            if self.te is None:
                self.te = [value]
            else:
                self.te.append(value)
        elif kind == H_UPGRADE:
            self.upgrade = value
        elif kind == H_EXPECT:
            self.expect = value
        # H_TE and H_DROP: consumed by the server, never forwarded


def _canonical(host: bytes) -> str:
    name = _HOSTS.get(host)
    if name is None:
        if not valid_host(host):
            raise Reject(400, "malformed Host header")
        name = canonical_host(host)
        if len(_HOSTS) > _CACHE_LIMIT:
            _HOSTS.clear()
        _HOSTS[host] = name
    return name


def _decoded(raw_path: bytes) -> str:
    path = _PATHS.get(raw_path)
    if path is None:
        path = decode_path(raw_path)
        if len(_PATHS) > _CACHE_LIMIT:
            _PATHS.clear()
        _PATHS[raw_path] = path
    return path


def entry_target(cfg: ServerConfig, raw_path: bytes, query: bytes) -> tuple[bytes, bytes]:
    """The entry point's handling of an origin-form path and query (HTTP/1.1 and HTTP/2):
    escapes normalised, the ``encodedCharacters`` filter, ``sanitizePath`` and
    ``encodeQuerySemicolons``.  Raises :class:`BadTarget` (400)."""
    if 37 in raw_path:  # "%"
        raw_path = normalize_path(raw_path)
        if has_denied_encoding(raw_path, cfg.denied_encodings):
            raise BadTarget("denied encoded character in path")
    if cfg.sanitize_path and (raw_path.find(b"//") >= 0 or (46 in raw_path and raw_path.find(b"/.") >= 0)):
        raw_path = clean_path(raw_path)
    if query and cfg.encode_query_semicolons:
        query = encode_query_semicolons(query)
    return raw_path, query


def build_request(conn: H1Connection) -> H1Writer:
    """Validate the head in ``conn`` and create the writer/exchange pair for it."""
    cfg = conn.config
    parser = conn.parser
    version = parser.get_http_version()
    if version == "1.1":
        ver = b"1.1"
    elif version == "1.0":
        ver = b"1.0"
    elif version[:1] == "2":
        raise Reject(505)
    else:
        raise Reject(400, "malformed HTTP version")
    method: bytes = parser.get_method()
    if method in (b"CONNECT", b"PRI"):
        raise Reject(405 if method == b"CONNECT" else 505)

    url = conn.url
    headers = conn.headers
    host = conn.host
    rs = conn.rs
    length = 0 if conn.content_length is None else int(conn.content_length)
    # The usual head: origin-form path without query or fragment, one Host, none of the
    # headers that make a RequestState (framing, hop-by-hop, upgrade, expect, forwarded).
    # (int membership: ``b"?" in url`` costs ~10x more, buffer protocol, on the hot path)
    if rs is None and host is not None and url[:1] == b"/" and 63 not in url and 35 not in url:  # "?", "#"
        raw_path, query = url, b""
        chunked = expect_continue = False
        upgrade = b""
    else:
        raw_path, query, host, chunked, length, upgrade, expect_continue = _unusual_head(
            conn, method, ver, url, host, length)
    host_name = _canonical(host) if host else ""

    if raw_path != b"*":
        try:
            raw_path, query = entry_target(cfg, raw_path, query)
        except BadTarget as exc:
            raise Reject(exc.status, str(exc)) from None
    elif query and cfg.encode_query_semicolons:
        query = encode_query_semicolons(query)

    tls = conn.tls is not None
    websocket = upgrade.lower() == b"websocket" if upgrade else False
    if rs is None or rs.seen is None:
        cached = conn.fw_cache
        if websocket or cached is None or cached[0] != host:
            added: Headers = []
            cfg.forwarded.finish(
                added, None, None, client_ip=conn.client_ip_b, tls=tls, websocket=websocket, host=host or None
            )
            cached = (host, tuple(added))
            if not websocket:
                conn.fw_cache = cached
        headers.extend(cached[1])
    else:
        cfg.forwarded.finish(
            headers, rs.seen, rs.xff, client_ip=conn.client_ip_b, tls=tls, websocket=websocket, host=host or None
        )

    keep_alive = parser.should_keep_alive()
    body: RequestBody | EmptyBody
    if chunked:
        body = RequestBody(conn, None, expect_continue)
    elif length:
        body = RequestBody(conn, length, expect_continue)
    else:
        body = NO_BODY
    facts = (ver, method, keep_alive, raw_path, _decoded(raw_path), query, tuple(headers), host_name)
    if body is NO_BODY and keep_alive and not upgrade:
        conn.candidate = facts  # kept if this head was the whole packet (see HeadFacts)
    return start_request(conn, facts, body, upgrade)


HeadFacts = tuple[bytes, bytes, bool, bytes, str, bytes, tuple[tuple[bytes, bytes], ...], str]
"""What :func:`build_request` made of a head: ``(version, method, keep_alive, raw_path, path,
query, headers, host)``, the headers with the forwarded ones added.  A connection keeps the
facts of a bodyless head that filled a whole packet: the same bytes again are the same request
(the parse is a function of the bytes and the connection), so they skip llhttp and this module."""


def start_request(conn: H1Connection, facts: HeadFacts, body: RequestBody | EmptyBody, upgrade: bytes) -> H1Writer:
    """The writer/exchange pair of a request (the exchange gets its own list of headers)."""
    ver, method, keep_alive, raw_path, path, query, headers, host_name = facts
    cfg = conn.config
    writer = H1Writer(conn, ver, method, keep_alive)
    writer.body = body
    writer.exchange = Exchange.from_parts(
        method,
        raw_path,
        path,
        query,
        ver,
        list(headers),
        host_name,
        cfg.scheme,
        conn.client_ip,
        conn.client_port,
        cfg.entrypoint,
        body,
        writer,
        conn.tls,
        perf_counter(),
        upgrade,
    )
    return writer


def _unusual_head(conn: H1Connection, method: bytes, ver: bytes, url: bytes, host: bytes | None,
                  length: int) -> tuple[bytes, bytes, bytes, bool, int, bytes, bool]:
    """The checks of a head that is not the usual one (see :func:`build_request`):
    ``(raw_path, query, host, chunked, length, upgrade, expect_continue)``."""
    authority: bytes | None = None
    if url[:1] == b"/" and 63 not in url and 35 not in url:  # common here too: a browser's Connection header
        raw_path, query = url, b""
    else:
        try:
            raw_path, query, authority = split_target(method, url)
        except BadTarget as exc:
            raise Reject(exc.status, str(exc)) from None

    headers = conn.headers
    rs = conn.rs
    if rs is not None and rs.host_count > 1:
        raise Reject(400, "too many Host headers")
    if authority is not None:
        # Absolute-form: the URI's authority wins over the Host header (RFC 9112 3.2.2).
        if host is not None and not valid_host(host):
            raise Reject(400, "malformed Host header")
        host = authority
        _set_host(headers, host)
    elif host is None:
        if ver == b"1.1":
            raise Reject(400, "missing required Host header")
        host = b""

    chunked = False
    upgrade = b""
    expect_continue = False
    if rs is not None:
        if rs.te is not None:
            if ver != b"1.1":
                raise Reject(400, "transfer encoding in an HTTP/1.0 request")
            if len(rs.te) != 1 or rs.te[0].strip().lower() != b"chunked":
                raise Reject(501, "unsupported transfer encoding")
            chunked = True
            length = 0
        if rs.conn_values is not None:
            tokens = connection_tokens(rs.conn_values)
            wanted = rs.upgrade.strip() if rs.upgrade else b""
            if b"upgrade" in tokens and wanted and wanted.lower() not in IGNORED_UPGRADES:
                upgrade = wanted
            listed = tokens - {b"close", b"keep-alive", b"upgrade"}
            if listed:
                _drop_listed(headers, listed, conn.config.forwarded.connection)
        if upgrade and (chunked or length):
            raise Reject(400, "upgrade request with a body")
        if rs.expect is not None:
            if rs.expect.strip().lower() == b"100-continue" and ver == b"1.1" and (chunked or length):
                expect_continue = True
            else:
                raise Reject(417)
    return raw_path, query, host, chunked, length, upgrade, expect_continue


def _set_host(headers: Headers, host: bytes) -> None:
    for i, (name, _) in enumerate(headers):
        if name.lower() == b"host":
            headers[i] = (name, host)
            return
    headers.append((b"Host", host))


def _drop_listed(headers: Headers, listed: set[bytes], allowed: frozenset[bytes]) -> None:
    """Apply the Connection header's options: the headers it names are hop-by-hop.

    Traefik never lets Connection remove its managed ``X-Forwarded-*`` headers, and keeps the
    ``forwardedHeaders.connection`` ones for the middlewares (re-listing them in Connection so
    the forwarder still strips them)."""
    kept = sorted(name for name in listed if name in allowed and not is_managed(name))
    doomed = {name for name in listed if name not in allowed and not is_managed(name)}
    if doomed:
        headers[:] = [(k, v) for k, v in headers if k.lower() not in doomed]
    if kept:
        headers.append((b"Connection", b", ".join(kept)))

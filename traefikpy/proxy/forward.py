"""Forwarding an exchange to one upstream server over HTTP/1.1 (Traefik's reverse proxy).

What goes upstream (Traefik v3 ``pkg/proxy/httputil`` on Go's ``ReverseProxy``):

* the request line with the exchange's path and query (``;`` in the query becomes ``&``); the
  server URL's path is prepended only with ``preservePath``;
* the exchange's headers minus hop-by-hop ones (``Connection`` and what it lists,
  ``Keep-Alive``, ``Proxy-Connection``, ``Proxy-Authorization``, ``Proxy-Authenticate``, ``TE``,
  ``Trailer``, ``Transfer-Encoding``, ``Upgrade``), ``X-Forwarded-For`` with the client IP
  appended, ``Host`` = the client's with ``passHostHeader`` (default) else the server's;
* the body streamed as it arrives (Content-Length kept, chunked otherwise, trailers passed).

The response streams back.  On the fast path (no response hooks, the writer is the
connection's own) the upstream's head bytes go out unchanged apart from cut hop-by-hop lines,
and a small complete response costs one write.  Failures before anything reached the client
raise typed :mod:`~traefikpy.proxy.errors` so balancers, retry and failover can react;
:func:`respond_error` maps them to Traefik's answers.  A failure after the head was sent aborts
the client connection.  A stale pooled connection that dies before answering is retried once
on a fresh one when the request is replayable (Go's rule).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from traefikpy.proxy.errors import (
    STATUS_TEXT,
    ClientClosed,
    NoHealthyServer,
    ProxyError,
    UpstreamError,
    UpstreamProtocolError,
)
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.h1client import UpstreamConnection
from traefikpy.proxy.h1writer import H1Writer
from traefikpy.proxy.http import Body, Exchange, Headers
from traefikpy.proxy.pipe import pipe
from traefikpy.proxy.upstream import Pool, ServerURL, Upstreams

log = logging.getLogger("traefikpy.proxy")

_HOP_REQUEST: Final = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
        b"proxy-authenticate", b"te", b"trailer", b"transfer-encoding", b"upgrade",
    }
)
_SPECIAL_FIRST: Final = frozenset(b"cChHkKpPtTuUxX")
_BODY_METHODS: Final = frozenset({b"POST", b"PUT", b"PATCH"})
_REPLAYABLE: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE"})
_INLINE_BODY: Final = 64 * 1024


class Forwarder:
    """A handler that forwards every exchange to one server; built once per server and graph."""

    __slots__ = ("url", "pool", "pass_host_header", "preserve_path", "_prefix", "_last")

    def __init__(
        self, url: ServerURL, pool: Pool, *, pass_host_header: bool = True, preserve_path: bool = False
    ) -> None:
        self.url = url
        self.pool = pool
        self.pass_host_header = pass_host_header
        self.preserve_path = preserve_path
        self._prefix = url.raw_path if preserve_path and url.raw_path not in (b"", b"/") else b""
        # The header block of the previous request: keep-alive clients repeat theirs verbatim.
        self._last: tuple[list[tuple[bytes, bytes]], str, int | None, bytes, bytes] | None = None

    @classmethod
    def create(
        cls,
        upstreams: Upstreams,
        url: str | ServerURL,
        transport: str = "default@internal",
        *,
        pass_host_header: bool = True,
        preserve_path: bool = False,
    ) -> Forwarder:
        server = url if isinstance(url, ServerURL) else ServerURL(url)
        return cls(
            server,
            upstreams.pool(server, transport),
            pass_host_header=pass_host_header,
            preserve_path=preserve_path,
        )

    async def __call__(self, ex: Exchange) -> None:
        """Forward ``ex`` and stream the response back (see the module docstring)."""
        last = self._last
        headers = ex.headers
        body_length = ex.body.length
        if (
            last is not None
            and last[1] == ex.client_ip
            and last[2] == body_length
            and not ex.upgrade
            and last[0] == headers
        ):
            head = _request_line(ex, self._prefix) + last[4]
        else:
            line = _request_line(ex, self._prefix)
            head = build_request_head(ex, self.url, self.pass_host_header, self._prefix, line)
            if not ex.upgrade:
                self._last = (list(headers), ex.client_ip, body_length, line, head[len(line) :])
        pool = self.pool
        conn = pool.take_idle()
        if conn is None:
            conn = await pool.acquire()
        try:
            if type(ex.body) is EmptyBody:
                # Fast path: nothing to stream up.
                conn.begin(ex.method == b"HEAD")
                conn.transport.write(head)
                conn.sent(pool.transport.response_header_timeout)
                if not conn.head_done:
                    await conn.wait_head()
                if conn.error is not None:
                    raise conn.error
            else:
                await _send(conn, ex, head, pool.transport.response_header_timeout)
        except UpstreamError as exc:
            if not (conn.reused and not conn.got_bytes and _replayable(ex)):
                pool.discard(conn)
                raise
            # A pooled connection the server had already closed: one retry on a fresh one.
            log.debug("retrying %r on a new connection after %s", ex, exc)
            pool.discard(conn)
            conn = await pool.acquire()
            try:
                await _send(conn, ex, head, pool.transport.response_header_timeout)
            except BaseException:
                pool.discard(conn)
                raise
        except BaseException:
            pool.discard(conn)
            raise
        try:
            writer = ex.writer
            if (
                conn.complete
                and type(writer) is H1Writer
                and not ex.response_hooks
                and not conn.trailers
                and conn.status != 101
                and conn.raw_head.startswith(b"HTTP/1.1 ")
            ):
                # Fast path: a complete response, passed on in one write.
                raw = conn.raw_head
                if conn.hop is not None and (
                    not conn.hop_only_keepalive or writer.version != b"1.1" or writer.will_close()
                ):
                    raw = _cut_lines(raw, conn.hop)
                data = conn.take_body()
                status = conn.status
                length = conn.length
                if conn.reusable:
                    pool.release(conn)
                else:
                    pool.discard(conn)
                ex.status = status
                writer.write_raw(raw, status, length, data, complete=True)
                return
            await _respond(ex, conn, pool)
        except BaseException:
            if not conn.forgotten:
                pool.discard(conn)
            raise

    def __repr__(self) -> str:
        return f"<Forwarder {self.url.url} pass_host={self.pass_host_header} {self.pool!r}>"


async def forward(
    ex: Exchange,
    url: ServerURL,
    pool: Pool,
    pass_host_header: bool = True,
    preserve_path: bool = False,
) -> None:
    """Forward ``ex`` to ``url`` through ``pool`` (a one-off :class:`Forwarder`)."""
    await Forwarder(url, pool, pass_host_header=pass_host_header, preserve_path=preserve_path)(ex)


def _replayable(ex: Exchange) -> bool:
    """Go's ``isReplayable``: no body, and an idempotent method or an idempotency key."""
    if type(ex.body) is not EmptyBody:
        return False
    if ex.method in _REPLAYABLE:
        return True
    return any(k.lower() in (b"idempotency-key", b"x-idempotency-key") for k, _ in ex.headers)


_LINES: dict[tuple[bytes, bytes], bytes | int] = {}
"""Rendered request header lines by (name, value), or the kind of a header forward handles."""
_L_HOP: Final = 1
_L_CONNECTION: Final = 2
_L_HOST: Final = 3
_L_XFF: Final = 4
_L_LENGTH: Final = 5
_NO_CACHE: Final = frozenset({b"authorization", b"cookie", b"proxy-authorization", b"x-api-key"})


def _line(pair: tuple[bytes, bytes]) -> bytes | int:
    name, value = pair
    lname = name.lower()
    if lname in _HOP_REQUEST:
        line: bytes | int = _L_CONNECTION if lname == b"connection" else _L_HOP
    elif lname == b"host":
        line = _L_HOST
    elif lname == b"x-forwarded-for":
        line = _L_XFF
    elif lname == b"content-length":
        line = _L_LENGTH
    else:
        line = name + b": " + value + b"\r\n"
    if lname not in _NO_CACHE and len(value) <= 512:
        if len(_LINES) >= 8192:
            _LINES.clear()  # many distinct values (ids, dates): start over rather than grow
        _LINES[pair] = line
    return line


def _request_line(ex: Exchange, prefix: bytes) -> bytes:
    path = ex.raw_path
    if prefix:
        path = _join_path(prefix, path)
    query = ex.query
    if query:
        path = path + b"?" + (query.replace(b";", b"&") if b";" in query else query)
    return ex.method + b" " + path + b" HTTP/1.1\r\n"


def build_request_head(
    ex: Exchange, url: ServerURL, pass_host_header: bool, prefix: bytes, line: bytes | None = None
) -> bytes:
    """The upstream request head for ``ex`` (request line, headers, blank line)."""
    parts = [line if line is not None else _request_line(ex, prefix)]
    append = parts.append
    xff: bytes | None = None
    host_sent = False
    listed: set[bytes] | None = None
    lines = _LINES
    for pair in ex.headers:
        rendered = lines.get(pair)
        if rendered is None:
            rendered = _line(pair)
        if type(rendered) is bytes:
            append(rendered)
        elif rendered == _L_HOST:
            if not host_sent:
                host_sent = True
                append(b"Host: " + (pair[1] if pass_host_header else url.authority) + b"\r\n")
        elif rendered == _L_XFF:
            xff = pair[1] if xff is None else xff + b", " + pair[1]
        elif rendered == _L_CONNECTION:
            tokens = {t.strip().lower() for t in pair[1].split(b",")}
            listed = tokens if listed is None else listed | tokens
        # _L_HOP and _L_LENGTH: dropped (the length is re-stated from the body below)
    if not host_sent:
        append(b"Host: " + url.authority + b"\r\n")
    client = ex.client_ip.encode("ascii", "replace")
    append(b"X-Forwarded-For: " + (xff + b", " + client if xff else client) + b"\r\n")
    if ex.upgrade:
        append(b"Connection: Upgrade\r\nUpgrade: " + ex.upgrade + b"\r\n")
    length = ex.body.length
    if length is None:
        append(b"Transfer-Encoding: chunked\r\n")
    elif length or ex.method in _BODY_METHODS:
        append(b"Content-Length: %d\r\n" % length)
    if listed:
        listed.discard(b"")
        parts[1:] = [p for p in parts[1:] if p.split(b":", 1)[0].lower() not in listed]
    parts.append(b"\r\n")
    return b"".join(parts)


def _join_path(prefix: bytes, path: bytes) -> bytes:
    """Go's ``singleJoiningSlash`` on escaped paths (``preservePath``)."""
    if prefix.endswith(b"/") and path.startswith(b"/"):
        return prefix + path[1:]
    if not prefix.endswith(b"/") and not path.startswith(b"/"):
        return prefix + b"/" + path
    return prefix + path


async def _send(conn: UpstreamConnection, ex: Exchange, head: bytes, timeout: float) -> None:
    """Write the request (head and body) and wait for the response head."""
    conn.begin(ex.method == b"HEAD")
    body = ex.body
    if type(body) is EmptyBody:
        conn.write(head)
    else:
        chunked = body.length is None
        data = await body.read()
        if not data:
            conn.write(head + _last_chunk(body.trailers) if chunked else head)
        else:
            conn.write(head + _frame(data, chunked) if len(data) <= _INLINE_BODY else head)
            if len(data) > _INLINE_BODY:
                conn.write(_frame(data, chunked))
            whole = False
            while not conn.head_done:
                if conn.write_paused:
                    await conn.drain()
                    if conn.head_done:
                        break
                chunk = await _next_chunk(body, conn)
                if chunk is None:
                    break  # the upstream answered before the upload ended
                if not chunk:
                    whole = True
                    if chunked:
                        conn.write(_last_chunk(body.trailers))
                    break
                conn.write(_frame(chunk, chunked))
            if not whole:
                # The upstream answered before taking the whole body: never reuse it.
                conn.sent(timeout)
                await conn.wait_head()
                conn.keep_alive = False
                return
    conn.sent(timeout)
    await conn.wait_head()


async def _next_chunk(body: Body, conn: UpstreamConnection) -> bytes | None:
    """The next request body chunk, or None if the response head (or an error) came first."""
    ready = getattr(body, "ready", None)
    if ready is not None and ready():
        return await body.read()
    if conn.head_done or conn.error is not None:
        return None
    read = asyncio.ensure_future(body.read())
    head = conn.head_future()
    await asyncio.wait((read, head), return_when=asyncio.FIRST_COMPLETED)
    if read.done():
        return read.result()
    read.cancel()
    return None


def _frame(data: bytes, chunked: bool) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if chunked and data else data


def _last_chunk(trailers: Headers | None) -> bytes:
    if not trailers:
        return b"0\r\n\r\n"
    return b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in trailers) + b"\r\n"


async def _respond(ex: Exchange, conn: UpstreamConnection, pool: Pool) -> None:
    """Stream the response back (the complete-in-one-write case is handled by the caller)."""
    status = conn.status
    if status == 101:
        await _upgrade(ex, conn, pool)
        return
    writer = ex.writer
    raw = conn.raw_head
    if type(writer) is H1Writer and not ex.response_hooks and raw.startswith(b"HTTP/1.1 "):
        if conn.hop is not None and (
            not conn.hop_only_keepalive or writer.version != b"1.1" or writer.will_close()
        ):
            raw = _cut_lines(raw, conn.hop)
        ex.status = status
        writer.write_raw(raw, status, conn.length, conn.take_body())
        while data := await conn.read_body():
            if writer.write_body(data):
                await writer.drain()
        trailers = conn.trailers
        _finish_upstream(conn, pool)
        writer.finish(_clean_trailers(trailers))
        return
    headers = _response_headers(conn.headers, conn.hop)
    await ex.send_head(status, headers)
    while data := await conn.read_body():
        await ex.send_body(data)
    trailers = conn.trailers
    _finish_upstream(conn, pool)
    await ex.end(_clean_trailers(trailers))


def _finish_upstream(conn: UpstreamConnection, pool: Pool) -> None:
    if conn.reusable:
        pool.release(conn)
    else:
        pool.discard(conn)


def _cut_lines(raw: bytes, names: list[bytes]) -> bytes:
    """Remove the header lines named in ``names`` from a raw head (status line kept)."""
    lines = raw.split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        if line and line.split(b":", 1)[0].strip().lower() not in names:
            kept.append(line)
    return b"\r\n".join(kept) + b"\r\n"


def _response_headers(headers: Headers, hop: list[bytes] | None) -> Headers:
    if not hop:
        return list(headers)
    return [(k, v) for k, v in headers if k.lower() not in hop]


def _clean_trailers(trailers: Headers | None) -> Headers | None:
    if not trailers:
        return None
    return [(k, v) for k, v in trailers if k.lower() not in (b"content-length", b"transfer-encoding")]


async def _upgrade(ex: Exchange, conn: UpstreamConnection, pool: Pool) -> None:
    wanted = ex.upgrade.lower()
    offered = next((v for k, v in conn.headers if k.lower() == b"upgrade"), b"")
    if not wanted or offered.strip().lower() != wanted:
        raise UpstreamProtocolError(
            f"backend tried to switch protocol {offered!r} when {ex.upgrade!r} was requested",
            request_sent=True,
        )
    hop = [h for h in (conn.hop or []) if h != b"upgrade"]
    await ex.send_head(101, _response_headers(conn.headers, hop))
    hijack = getattr(ex.writer, "hijack", None)
    if hijack is None:
        raise UpstreamProtocolError("this response writer cannot switch protocols", request_sent=True)
    client, client_extra = hijack()
    upstream, upstream_extra = pool.detach(conn)
    await pipe(client, upstream, client_extra, upstream_extra)


async def respond_error(ex: Exchange, exc: BaseException) -> None:
    """Answer a forwarding failure like Traefik (502/503/504 with a short text body).

    Does nothing if a response was already started (the connection is then aborted by the
    server); re-raises anything that is not a data-plane error."""
    if ex.status:
        return
    if isinstance(exc, NoHealthyServer):
        await ex.respond(
            503, b"no available server\n", [(b"X-Content-Type-Options", b"nosniff")]
        )
        return
    if isinstance(exc, ClientClosed):
        return
    if isinstance(exc, ProxyError):
        status = exc.status
        await ex.respond(status, STATUS_TEXT.get(status, b"Bad Gateway"), content_type=None)
        return
    if isinstance(exc, asyncio.CancelledError):
        raise exc
    raise exc

"""Forwarding an exchange to one upstream server over HTTP/1.1 (Traefik's reverse proxy).

What goes upstream (Traefik v3 ``pkg/proxy/httputil`` on Go's ``ReverseProxy``):

* the request line with the exchange's path and query (``;`` in the query becomes ``&``); the
  server URL's path is prepended only with ``preservePath``;
* the exchange's headers minus hop-by-hop ones (``Connection`` and what it lists,
  ``Keep-Alive``, ``Proxy-Connection``, ``Proxy-Authorization``, ``Proxy-Authenticate``, ``TE``,
  ``Trailer``, ``Transfer-Encoding``, ``Upgrade``), ``X-Forwarded-For`` with the client IP
  appended, ``Host`` = the client's with ``passHostHeader`` (default) else the server's;
* the body streamed as it arrives (Content-Length kept, chunked otherwise, trailers passed).

The response streams back.  On the fast path (no response hooks but header plans, the writer is
the connection's own) the upstream's head bytes go out unchanged apart from cut hop-by-hop lines
and the plans' edits (``headerplan.py``),
and a small complete response costs one write.  Failures before anything reached the client
raise typed :mod:`~traefikpy.proxy.errors` so balancers, retry and failover can react;
:func:`traefikpy.proxy.settle.respond_error` maps them to Traefik's answers.  A failure after
the head was sent aborts the client connection.  A stale pooled connection that dies before answering is retried once
on a fresh one when the request is replayable (Go's rule).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from traefikpy.proxy.errors import (
    UpstreamError,
    UpstreamProtocolError,
)
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.h1client import BUSY, UpstreamConnection
from traefikpy.proxy.h1writer import H1Writer, date_header
from traefikpy.proxy.headerplan import edit_raw_head, plan_hooks_only
from traefikpy.proxy.http import Body, Done, Exchange, Headers
from traefikpy.proxy.pipe import pipe
from traefikpy.proxy.reqhead import OMIT_XFF, build_request_head, request_line
from traefikpy.proxy.settle import continue_async, raise_later
from traefikpy.proxy.upstream import Pool, ServerURL, Upstreams

log = logging.getLogger("traefikpy.proxy")

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
        # The header block of the previous request (headers, client IP, body length, method,
        # rendered block): keep-alive clients repeat theirs verbatim.
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

    def _head(self, ex: Exchange) -> bytes:
        """The upstream request head of ``ex`` (the header block is reused while it repeats)."""
        last = self._last
        headers = ex.headers
        body_length = ex.body.length
        omit = ex.extras is not None and OMIT_XFF in ex.extras
        if (
            last is not None
            and not omit
            and last[1] == ex.client_ip
            and last[2] == body_length
            and last[3] == ex.method
            and not ex.upgrade
            and last[0] == headers
        ):
            return request_line(ex, self._prefix) + last[4]
        line = request_line(ex, self._prefix)
        head = build_request_head(ex, self.url, self.pass_host_header, self._prefix, line)
        if not ex.upgrade and not omit:
            self._last = (list(headers), ex.client_ip, body_length, ex.method, head[len(line) :])
        return head

    async def __call__(self, ex: Exchange) -> None:
        """Forward ``ex`` and stream the response back (see the module docstring)."""
        head = self._head(ex)
        pool = self.pool
        conn = pool.take_idle()
        if conn is None:
            conn = await pool.acquire()
        try:
            if type(ex.body) is EmptyBody:
                # Fast path: nothing to stream up.
                self._send_bodyless(conn, ex, head)
                if not conn.head_done:
                    await conn.head_future()
                if conn.error is not None:
                    raise conn.error
            else:
                await _send(conn, ex, head, pool.transport.response_header_timeout)
        except UpstreamError as exc:
            conn = await self._retry(ex, conn, exc, head)
        except BaseException:
            pool.discard(conn)
            raise
        await self._deliver(ex, conn)

    def _send_bodyless(self, conn: UpstreamConnection, ex: Exchange, head: bytes) -> None:
        """Write a request without a body on ``conn`` and start ``responseHeaderTimeout``."""
        conn.begin(ex.method == b"HEAD")
        conn.transport.write(head)
        timeout = self.pool.transport.response_header_timeout
        if timeout:
            conn.sent(timeout)

    async def _retry(self, ex: Exchange, conn: UpstreamConnection, exc: UpstreamError, head: bytes) -> UpstreamConnection:
        """After ``conn`` failed before a response: one retry on a fresh connection when ``conn``
        was a pooled one the server had already closed (Go's rule), else re-raise ``exc``."""
        pool = self.pool
        pool.discard(conn)
        if not (conn.reused and not conn.got_bytes and _replayable(ex)):
            raise exc
        log.debug("retrying %r on a new connection after %s", ex, exc)
        conn = await pool.acquire()
        try:
            await _send(conn, ex, head, pool.transport.response_header_timeout)
        except BaseException:
            pool.discard(conn)
            raise
        return conn

    async def _deliver(self, ex: Exchange, conn: UpstreamConnection) -> None:
        """Pass the response whose head arrived on ``conn`` to the client."""
        borrow = conn.borrow  # once released, the connection may serve someone else
        try:
            if not self._deliver_complete(ex, conn):
                await _respond(ex, conn, self.pool)
        except BaseException:
            if conn.borrow == borrow and conn.state == BUSY:
                self.pool.discard(conn)
            raise

    def _deliver_complete(self, ex: Exchange, conn: UpstreamConnection) -> bool:
        """Fast path: a complete response passed on in one write; False if it is not that case."""
        writer = ex.writer
        if not conn.complete or type(writer) is not H1Writer or conn.trailers or conn.status == 101:
            return False
        hooks = ex.response_hooks
        plans = plan_hooks_only(hooks) if hooks else ()
        if plans is None or not conn.raw_head.startswith(b"HTTP/1.1 "):
            return False
        raw = conn.raw_head
        close = writer._conn.must_close(writer)  # (writer.will_close() without the call)
        if conn.hop is not None and (not conn.hop_only_keepalive or writer.version != b"1.1" or close):
            raw = _cut_lines(raw, conn.hop)
        if not conn.has_date:
            raw += date_header()
        if plans:
            raw = edit_raw_head(raw, conn.status, plans)
        data = conn.take_body()
        status = conn.status
        length = conn.length
        self.pool.release(conn)  # (closed instead when it cannot be reused)
        ex.status = status
        writer.write_raw(raw, status, length, data, complete=True, close=close)
        return True

    # -- fast path (http.fast_of): no task unless something has to wait ----------------------
    def fast(self, ex: Exchange, done: Done | None) -> None:
        """Send ``ex`` (no request body) on an idle pooled connection; the response is finished
        by :meth:`_on_head` from the connection's callbacks."""
        head = self._head(ex)
        pool = self.pool
        conn = pool.take_idle()
        if conn is None:
            continue_async(ex, self(ex), done)  # dialing has to wait
            return
        self._send_bodyless(conn, ex, head)
        conn.on_head = self._on_head
        conn.waiting = (ex, done, head)

    def _on_head(self, conn: UpstreamConnection) -> None:
        """The response head (or an error) arrived on ``conn`` for a fast-path exchange."""
        ex, done, head = conn.waiting
        conn.waiting = None
        writer = ex.writer
        if conn.error is None and not writer._conn.closed:
            try:
                if self._deliver_complete(ex, conn):
                    if done is not None:
                        done(ex)
                    del writer.exchange
                    return
            except Exception as exc:  # noqa: BLE001 - answered like an error of the async path
                continue_async(ex, raise_later(exc), done)
                return
        continue_async(ex, self._resume(ex, conn, head), done)

    async def _resume(self, ex: Exchange, conn: UpstreamConnection, head: bytes) -> None:
        exc = conn.error
        if exc is not None:
            conn = await self._retry(ex, conn, exc, head)
        await self._deliver(ex, conn)

    def __repr__(self) -> str:
        return f"<Forwarder {self.url.url} pass_host={self.pass_host_header} {self.pool!r}>"


async def forward(
    ex: Exchange,
    url: ServerURL,
    pool: Pool,
    pass_host_header: bool = True,
    preserve_path: bool = False,
) -> None:
    """Forward ``ex`` to ``url`` through ``pool``.

    Prefer keeping a :class:`Forwarder` per server (it caches the rendered header block of the
    previous request); this function looks one up in a small cache keyed by its arguments."""
    key = (id(pool), url.url, pass_host_header, preserve_path)
    forwarder = _FORWARDERS.get(key)
    if forwarder is None or forwarder.pool is not pool or pool.retired:
        if len(_FORWARDERS) >= 4096:
            _FORWARDERS.clear()
        forwarder = _FORWARDERS[key] = Forwarder(
            url, pool, pass_host_header=pass_host_header, preserve_path=preserve_path
        )
    await forwarder(ex)


_FORWARDERS: dict[tuple[int, str, bool, bool], Forwarder] = {}


def _replayable(ex: Exchange) -> bool:
    """Go's ``isReplayable``: no body, and an idempotent method or an idempotency key."""
    if type(ex.body) is not EmptyBody:
        return False
    if ex.method in _REPLAYABLE:
        return True
    return any(k.lower() in (b"idempotency-key", b"x-idempotency-key") for k, _ in ex.headers)


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
    hooks = ex.response_hooks
    plans = plan_hooks_only(hooks) if hooks else ()
    if type(writer) is H1Writer and plans is not None and raw.startswith(b"HTTP/1.1 "):
        if conn.hop is not None and (
            not conn.hop_only_keepalive or writer.version != b"1.1" or writer.will_close()
        ):
            raw = _cut_lines(raw, conn.hop)
        if not conn.has_date:
            raw += date_header()
        if plans:
            raw = edit_raw_head(raw, status, plans)
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

"""The HTTP/1.1 server protocol: one :class:`H1Connection` per client connection.

Theory of operation
-------------------
State is grouped per connection (transport, peer, deadlines, the pipeline of requests) and per
request (its :class:`~traefikpy.proxy.h1writer.H1Writer`, which also records the request).
llhttp (``httptools``) drives the lifecycle through callbacks:

``on_message_begin`` -> ``on_url``/``on_header`` (classified with one cached dict lookup by
raw name: hop-by-hop headers are consumed, ``X-Forwarded-*`` from untrusted peers dropped, sizes
counted against ``maxHeaderBytes``) -> ``on_headers_complete`` (``h1request.build_request``:
validation, path rules, forwarded headers, Exchange; the handler starts now, before the body)
-> ``on_body`` (into the request body, with pause/resume flow control) -> ``on_message_complete``.

One task per connection runs the handler for each request in turn (cheaper than a task per
request): requests are answered strictly in order, a pipelined request waits in a queue (and
reading pauses) until the previous response ended.  A malformed request never reaches the
handler: it gets its 4xx/5xx once the responses before it are written, then the connection
closes.  Handler errors become a 500 (or the error's own status) if nothing was sent yet, else
the connection is aborted; either way only this connection is affected.

Timeouts are deadlines (plain floats) checked by the :class:`ConnectionSet` sweeper, so a request
costs no timer handles: ``readTimeout`` covers a whole request from its first byte (from accept
for the first one), ``writeTimeout`` the response from the end of the request head,
``idleTimeout`` the wait between keep-alive requests.  After a ``101`` the forwarder hijacks the
socket (``hijack``) and the byte pipe owns it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, cast

import httptools

from traefikpy.proxy import proxyproto
from traefikpy.proxy.errors import STATUS_TEXT, ClientClosed, ProxyError, RequestBodyError, RequestTimeout
from traefikpy.proxy.forwarded import ForwardedPolicy
from traefikpy.proxy.h1body import RequestBody
from traefikpy.proxy.h1request import RequestState, build_request
from traefikpy.proxy.h1rules import (
    H_ALIAS,
    H_CONTENT_LENGTH,
    H_HOST,
    H_PLAIN,
    MAX_DISCARD,
    Reject,
    classify_request_header,
    parser_error_status,
    reject_response,
)
from traefikpy.proxy.h1writer import H1Writer
from traefikpy.proxy.http import Handler, Headers
from traefikpy.proxy.ipcheck import IPChecker

log = logging.getLogger("traefikpy.proxy")

_PAUSE_BODY: Final = 1
_PAUSE_PIPELINE: Final = 2
_PAUSE_STASH: Final = 4  # upgrade pending or request rejected: bytes wait in the stash
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_HEAD_SLACK: Final = 4096 + 256 * 1024  # raw bytes allowed past maxHeaderBytes before bailing out


@dataclass(frozen=True, slots=True)
class ProxyProtocolPolicy:
    """``entryPoints.<ep>.proxyProtocol``: whose PROXY headers are believed."""

    insecure: bool = False
    checker: IPChecker = field(default_factory=lambda: IPChecker(()))

    def trusts(self, peer_ip: str) -> bool:
        return self.insecure or self.checker.contains(peer_ip)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything an HTTP/1.1 connection needs from its entry point, precomputed once."""

    entrypoint: str = "web"
    scheme: str = "http"
    read_timeout: float = 60.0
    write_timeout: float = 0.0
    idle_timeout: float = 180.0
    max_header_bytes: int = 1 << 20
    keep_alive_max_requests: int = 0
    keep_alive_max_time: float = 0.0
    forwarded: ForwardedPolicy = field(default_factory=ForwardedPolicy)
    proxy_protocol: ProxyProtocolPolicy | None = None
    sanitize_path: bool = True
    encode_query_semicolons: bool = False
    denied_encodings: frozenset[bytes] = frozenset()


class ConnectionSet:
    """The open connections of one listener: count, shutdown and the timeout sweeper."""

    def __init__(self) -> None:
        self.conns: set[H1Connection] = set()
        self._empty: asyncio.Event | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._interval = 1.0

    def __len__(self) -> int:
        return len(self.conns)

    def add(self, conn: H1Connection) -> None:
        self.conns.add(conn)

    def discard(self, conn: H1Connection) -> None:
        self.conns.discard(conn)
        if not self.conns and self._empty is not None:
            self._empty.set()

    def start_sweeper(self, timeouts: Iterable[float]) -> None:
        """Check deadlines every quarter of the shortest timeout (between 50 ms and 1 s)."""
        positive = [t for t in timeouts if t > 0]
        self._interval = min(1.0, max(0.05, min(positive) / 4)) if positive else 1.0
        self._schedule()

    def _schedule(self) -> None:
        loop = asyncio.get_running_loop()
        self._sweeper = loop.call_later(self._interval, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in list(self.conns):
            conn.check_timeouts(now)
        self._sweeper = loop.call_later(self._interval, self._sweep, loop)

    def stop_sweeper(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def wait_empty(self, timeout: float) -> bool:
        if not self.conns:
            return True
        self._empty = asyncio.Event()
        try:
            async with asyncio.timeout(timeout if timeout > 0 else None):
                await self._empty.wait()
            return True
        except TimeoutError:
            return False


class H1Connection(asyncio.Protocol):
    """Serves HTTP/1.1 requests of one client connection to the root handler ``app``."""

    def __init__(self, app: Handler, config: ServerConfig, conns: ConnectionSet) -> None:
        self.app = app
        self.config = config
        self.conns = conns
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.parser = httptools.HttpRequestParser(self)
        self.closed = False
        self.upgraded = False
        self.write_paused = False
        self.client_ip = ""
        self.client_port = 0
        self.client_ip_b = b""
        self.trusted = False
        self.tls: Any = None
        self.fw_cache: tuple[bytes | None, tuple[tuple[bytes, bytes], ...]] | None = None
        self._pp: bytes | None = None  # PROXY protocol bytes while the header is incomplete
        self._stash: bytes | None = None
        self._paused = 0
        self._drain_waiter: asyncio.Future[None] | None = None
        self._active: H1Writer | None = None
        self._queue: deque[H1Writer] = deque()
        self._cur: H1Writer | None = None  # request whose body the parser is reading
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._served = 0
        self._shutting_down = False
        self._rejected: tuple[int, str] | None = None
        self._eof = False
        self.started = 0.0
        self.read_deadline = 0.0
        self.write_deadline = 0.0
        self.idle_deadline = 0.0
        # per-request parse state (see RequestState for the rare fields)
        self._in_head = False
        self._head_raw = 0
        self.url = b""
        self.headers: Headers = []
        self._hsize = 0
        self.host: bytes | None = None
        self.content_length: bytes | None = None
        self.rs: RequestState | None = None
        self._trailers: Headers | None = None
        self._wire = -1  # chunked-body overhead accounting (-1: not counting)
        self._chunks = 0
        self._feeding = 0

    # -- connection lifecycle --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        ip, port = (peer[0], peer[1]) if isinstance(peer, tuple) else ("", 0)
        self._set_client(str(ip).split("%", 1)[0], int(port))
        self.tls = transport.get_extra_info("ssl_object")
        self.started = now = self.loop.time()
        if self.config.read_timeout > 0:
            self.read_deadline = now + self.config.read_timeout
        if self.config.proxy_protocol is not None:
            self._pp = b""
        self.conns.add(self)

    def _set_client(self, ip: str, port: int) -> None:
        self.client_ip = ip
        self.client_port = port
        self.client_ip_b = ip.encode("ascii", "replace")
        self.trusted = self.config.forwarded.trusts(ip)
        self.fw_cache = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.conns.discard(self)
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ClientClosed("client closed the connection"))
        self._drain_waiter = None
        if self._cur is not None:
            self._cur.body.fail(ClientClosed("client closed the connection"))
        self._queue.clear()
        task = self._task
        if task is not None and not task.done() and not self.upgraded:
            task.cancel()  # like Go's request context: the client is gone

    def eof_received(self) -> bool:
        # Like Go's server (and nginx without proxy_ignore_client_abort), EOF from the client
        # means it went away: in-flight work is cancelled and the connection closes.
        self._eof = True
        return False

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if self.closed:
            raise ClientClosed("client closed the connection")
        if not self.write_paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = self.loop.create_future()
        await waiter

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _pause(self, reason: int) -> None:
        if not self._paused and not self.closed:
            self.transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and not self.closed:
            self.transport.resume_reading()

    # body flow control and 100-continue (BodySource)
    def body_pause(self) -> None:
        self._pause(_PAUSE_BODY)

    def body_resume(self) -> None:
        self._resume(_PAUSE_BODY)

    def send_continue(self) -> None:
        active = self._active
        if active is not None and not active.head_sent and not self.closed:
            self.write(_CONTINUE)

    # -- reading ---------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._pp is not None:
            data = self._proxy_header(data)
            if not data:
                return
        if self._stash is not None:
            self._stash += data
            return
        self._feed(data)

    def _proxy_header(self, data: bytes) -> bytes:
        assert self._pp is not None and self.config.proxy_protocol is not None
        buf = self._pp + data
        try:
            result = proxyproto.parse(buf)
        except proxyproto.ProxyProtocolError as exc:
            log.debug("closing %s: %s", self.client_ip, exc)
            self._pp = None
            self.abort()
            return b""
        if result is proxyproto.INCOMPLETE:
            self._pp = buf
            return b""
        self._pp = None
        if isinstance(result, proxyproto.ProxyHeader):
            if not result.local and self.config.proxy_protocol.trusts(self.client_ip):
                self._set_client(result.src_ip, result.src_port)
            return buf[result.consumed :]
        return buf

    def _feed(self, data: bytes) -> None:
        self._feeding = len(data)
        if self._wire >= 0:
            self._wire += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._on_parser_upgrade(data[exc.args[0] :])
            return
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, Reject):
                self._reject(cause.status, cause.detail)
            else:
                log.error("request parsing failed", exc_info=cause)
                self._reject(400)
            return
        except httptools.HttpParserError as exc:
            status, detail = parser_error_status(str(exc))
            if self._cur is not None:
                self._cur.body.fail(RequestBodyError(f"malformed request body: {exc}"))
            self._reject(status, detail)
            return
        if self._in_head:
            self._head_raw += len(data)
            if self._head_raw > self.config.max_header_bytes + _HEAD_SLACK:
                self._reject(431)
        elif self._wire >= 0 and self._cur is not None and self._chunk_overhead(self._cur):
            self._cur.body.fail(RequestBodyError("chunked encoding contains too much non-data"))
            self._reject(400, "chunked encoding contains too much non-data")

    def _chunk_overhead(self, cur: H1Writer) -> bool:
        """Go's chunked reader rule: at most 16 bytes + 2x the chunk size of framing per chunk,
        with 16 KiB of slack; more is an attack (tiny chunks, huge extensions), not a body.

        Wire bytes are counted from the packet holding the head (minus the head's size), so an
        abusive body inside that first packet is refused before the handler ever runs."""
        received = cur.body.received
        return self._wire - received - 16 * self._chunks - 2 * received > 16 * 1024

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_raw = 0
        self.url = b""
        self.headers = []
        self._hsize = 0
        self.host = None
        self.content_length = None
        self.rs = None
        self.idle_deadline = 0.0
        if not self.read_deadline and self.config.read_timeout > 0:
            self.read_deadline = self.loop.time() + self.config.read_timeout

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.config.max_header_bytes:
            raise Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            self._on_trailer(name, value)
            return
        self._hsize += len(name) + len(value) + 4
        if self._hsize > self.config.max_header_bytes - len(self.url):
            raise Reject(431)
        kind = _KIND_CACHE.get(name)
        if kind is None:
            kind = classify_request_header(name)
            if len(_KIND_CACHE) < 10000:
                _KIND_CACHE[name] = kind
        if kind == H_PLAIN:
            self.headers.append((name, value))
        elif kind == H_HOST:
            if self.host is not None:
                self._state().host_count += 1
            self.host = value
            self.headers.append((name, value))
        elif kind == H_CONTENT_LENGTH:
            self.content_length = value
            self.headers.append((name, value))
        elif kind == H_ALIAS:
            if self.trusted:  # an X_Forwarded_For-style alias is only kept from trusted peers
                self.headers.append((name, value))
        else:
            self._state().add(kind, name, value, self.trusted, self.headers)

    def _state(self) -> RequestState:
        rs = self.rs
        if rs is None:
            rs = self.rs = RequestState()
        return rs

    def _on_trailer(self, name: bytes, value: bytes) -> None:
        self._hsize += len(name) + len(value) + 4
        if self._hsize > self.config.max_header_bytes:
            raise Reject(431)
        if classify_request_header(name) not in (H_PLAIN, H_ALIAS):
            return  # framing, routing and hop-by-hop fields are not allowed in trailers
        if self._trailers is None:
            self._trailers = [(name, value)]
        else:
            self._trailers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        writer = build_request(self)
        self._cur = writer
        if writer.body.length is None and not writer.body.complete:
            # Bytes of this packet after the head (an estimate: header whitespace may vary).
            head = len(writer.method) + len(self.url) + self._hsize + 13
            self._wire = max(0, self._feeding - head)
            self._chunks = 0
        self._hsize = 0
        if self.config.write_timeout > 0:
            self.write_deadline = self.loop.time() + self.config.write_timeout
        if self._active is None and not self._queue:
            self._activate(writer)
        else:
            self._queue.append(writer)
            self._pause(_PAUSE_PIPELINE)

    def on_chunk_header(self) -> None:
        self._chunks += 1

    def on_body(self, data: bytes) -> None:
        cur = self._cur
        if cur is not None and not cur.discard:
            cur.body.feed(data)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        cur = self._cur
        if self._wire >= 0 and cur is not None and self._chunk_overhead(cur):
            raise Reject(400, "chunked encoding contains too much non-data")
        self._cur = None
        self._wire = -1
        self.read_deadline = 0.0
        if cur is not None and isinstance(cur.body, RequestBody):
            cur.body.finish(self._trailers)
        self._trailers = None

    # -- dispatch --------------------------------------------------------------------------
    def _activate(self, writer: H1Writer) -> None:
        self._active = writer
        self._served += 1
        waiter = self._wake
        if waiter is not None:
            self._wake = None
            waiter.set_result(None)
        elif self._task is None:
            self._task = self.loop.create_task(self._serve(), name=f"h1 {self.client_ip}:{self.client_port}")

    async def _serve(self) -> None:
        """The connection's task: run the handler for each request, in order."""
        loop = self.loop
        try:
            while not self.closed:
                writer = self._active
                if writer is None:
                    waiter = self._wake = loop.create_future()
                    await waiter
                    continue
                writer.started = True
                try:
                    await self.app(writer.exchange)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._handler_failed(writer, exc)
                else:
                    if not writer.ended and not self.closed and not self.upgraded:
                        if not writer.head_sent:
                            writer.write_head(200, [(b"Content-Length", b"0")])
                        writer.finish()
                if self.upgraded:
                    break
                if self._active is writer:  # nothing ended the response: give up on it
                    self.abort()
                    break
        except asyncio.CancelledError:
            self.abort()
        finally:
            self._task = None
            if self.upgraded:
                self.closed = True
                self.conns.discard(self)

    def _handler_failed(self, writer: H1Writer, exc: Exception) -> None:
        if self.closed or isinstance(exc, ClientClosed):
            self.abort()
            return
        if writer.head_sent:
            log.debug("handler failed after the response head was sent: %r", exc)
            self.abort()
            return
        status = exc.status if isinstance(exc, ProxyError) else 500
        if isinstance(exc, ProxyError):
            log.debug("request failed with %d: %s", status, exc)
        else:
            log.error("handler error on %r", writer.exchange, exc_info=exc)
        if isinstance(exc, RequestBodyError):
            self._rejected = None
            self.write(reject_response(status, "" if status == 408 else str(exc)))
            self._close()
            return
        body = STATUS_TEXT.get(status, b"Internal Server Error")
        writer.write_head(status, [(b"Content-Length", b"%d" % len(body))])
        writer.write_body(body)
        writer.finish()

    def must_close(self, writer: H1Writer) -> bool:
        """Decided when the response head is written: will the connection close after it?"""
        if self._shutting_down or self._eof or not writer.keep_alive:
            return True
        cfg = self.config
        if cfg.keep_alive_max_requests and self._served >= cfg.keep_alive_max_requests:
            return True
        if cfg.keep_alive_max_time and self.loop.time() - self.started >= cfg.keep_alive_max_time:
            return True
        body = writer.body
        if not body.complete:
            if body.expects_continue or body.length is None:
                return True
            if body.length - body.received > MAX_DISCARD:
                return True
        return False

    def response_done(self, writer: H1Writer) -> None:
        """Called by the writer when its response ended."""
        if writer is not self._active:
            return
        self.write_deadline = 0.0
        self._active = None
        if not writer.body.complete:
            writer.discard = True
        if writer.close or self.closed:
            self._close()
            return
        if self._queue:
            nxt = self._queue.popleft()
            if not self._queue:
                self._resume(_PAUSE_PIPELINE)
            self._activate(nxt)
            return
        self._resume(_PAUSE_PIPELINE)
        if self._rejected is not None:
            status, detail = self._rejected
            self.write(reject_response(status, detail))
            self._close()
            return
        if self._eof and not self._in_head:
            self._close()
            return
        if self.config.idle_timeout > 0:
            self.idle_deadline = self.loop.time() + self.config.idle_timeout
        stash = self._stash
        if stash is not None and not writer.upgraded:
            # The upgrade was refused (no 101): the bytes after the head are the next request.
            self._stash = None
            self._resume(_PAUSE_STASH)
            if stash:
                self._feed(stash)

    def _on_parser_upgrade(self, rest: bytes) -> None:
        writer = self._cur or (self._queue[-1] if self._queue else self._active)
        self._cur = None
        self.read_deadline = 0.0
        if writer is None or not writer.exchange.upgrade:
            # An upgrade we do not forward (h2c): carry on with HTTP/1.1 on the same bytes.
            if rest:
                self._feed(rest)
            return
        self._stash = rest
        self._pause(_PAUSE_STASH)

    def _reject(self, status: int, detail: str = "") -> None:
        """Refuse the request being parsed: nothing after it is read, it never reaches the
        handler if the handler has not started yet, and its 4xx/5xx follows the responses
        already under way."""
        self._in_head = False
        if self._rejected is not None or self.closed:
            return
        self._rejected = (status, detail)
        self._stash = b""
        self._pause(_PAUSE_STASH)
        self.read_deadline = 0.0
        bad = self._cur
        self._cur = None
        if bad is not None and not bad.started:
            if bad is self._active:
                self._active = None
            elif bad in self._queue:
                self._queue.remove(bad)
        if self._active is None:
            self._queue.clear()
            self.write(reject_response(status, detail))
            self._close()

    def hijack(self, writer: H1Writer) -> tuple[asyncio.Transport, bytes]:
        """Give the socket to a byte pipe after a 101 (see ``pipe.py``)."""
        self.upgraded = True
        self._active = None
        self.read_deadline = self.write_deadline = self.idle_deadline = 0.0
        extra = self._stash or b""
        self._stash = None
        self._paused = 0
        return self.transport, extra

    # -- timeouts and shutdown -------------------------------------------------------------
    def check_timeouts(self, now: float) -> None:
        if self.closed or self.upgraded:
            return
        if self.write_deadline and now >= self.write_deadline:
            log.debug("write timeout, closing connection from %s", self.client_ip)
            self.abort()
            return
        if self.read_deadline and now >= self.read_deadline:
            self.read_deadline = 0.0
            cur = self._cur
            if cur is not None and not cur.discard and self._active is not None:
                # Inside a body the handler is reading: it answers 408 (or aborts if it can't).
                cur.body.fail(RequestTimeout("timed out reading the request body"))
                self._reject(408)
            else:
                self.abort()  # Go closes silently when the head does not arrive in time
            return
        if self.idle_deadline and now >= self.idle_deadline and self._active is None and not self._in_head:
            self._close()

    def shutdown(self) -> None:
        """Graceful stop: idle connections close now, busy ones after their response."""
        self._shutting_down = True
        if self._active is None and not self._in_head and not self.upgraded:
            self._close()

    def __repr__(self) -> str:
        state = "upgraded" if self.upgraded else ("active" if self._active else "idle")
        return f"<H1Connection {self.client_ip}:{self.client_port} {state} served={self._served}>"


_KIND_CACHE: dict[bytes, int] = {}
"""Header class by raw (as-sent) name: one dict lookup per header instead of lower() + lookup."""

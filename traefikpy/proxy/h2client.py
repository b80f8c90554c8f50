"""HTTP/2 to upstream servers: ``h2c://`` (cleartext, prior knowledge) and ``https`` with ALPN ``h2``.

What Traefik does (Go's ``http2.Transport`` behind its reverse proxy), restated:

* ``h2c://host:port`` servers are spoken to in cleartext HTTP/2 with prior knowledge;
* ``https://`` servers are offered ALPN ``h2`` and ``http/1.1``; HTTP/2 is used when the server
  picks ``h2``, HTTP/1.1 otherwise (remembered per pool), unless the serversTransport has
  ``disableHTTP2: true``; upgrade requests (WebSocket) always go over HTTP/1.1;
* ``http://`` servers are HTTP/1.1 only (that path, :mod:`traefikpy.proxy.forward`, is untouched).

Connections
-----------
One :class:`H2Pool` per (serversTransport, origin) multiplexes exchanges as streams over few
connections: a stream opens on the first connection with room under the server's
``SETTINGS_MAX_CONCURRENT_STREAMS`` (the server's first SETTINGS frame is awaited as part of the
dial, so the limit is known before the first stream); when every connection is full another is
dialed (concurrent waiters share one dial).  A connection without streams for
``idleConnTimeout`` is closed with GOAWAY.  A GOAWAY from the server stops new streams on that
connection; streams it did not process (id above ``last_stream_id``) and streams refused with
``REFUSED_STREAM`` are retried once on another connection (the request body is replayed from a
64 KiB buffer; a larger body consumed already is not retried).

Flow control both ways: request DATA waits for the stream and connection windows; received
DATA is acknowledged only once it was handed to the client writer, so a slow client slows the
upstream instead of buffering the response here.  Windows: 1 MiB per stream, 1 GiB for the
connection (Go's transport uses the same large connection window), so streams whose clients read
slowly hold back only their own server stream, never the others sharing the connection; at most
1 MiB per stream is buffered here.

Translation (HTTP/1.1 or HTTP/2 downstream → HTTP/2 upstream): ``Host`` (or the server's
authority without ``passHostHeader``) becomes ``:authority``; hop-by-hop headers and those
``Connection`` lists are dropped; ``TE: trailers`` is kept (and always sent for
``application/grpc`` requests, since the HTTP/1.1 server consumes ``TE``); ``X-Forwarded-For``
gets the client IP appended.  The response streams back with ``send_head``/``send_body``/``end``
and the upstream's trailers (gRPC's ``grpc-status``/``grpc-message``) are passed to ``end``: an
HTTP/1.1 client receives them in the chunked encoding's trailer section.

Errors are those of :mod:`traefikpy.proxy.errors`, raised before anything reached the client:
a failed dial is 502, ``responseHeaderTimeout`` (armed once the request was fully sent) is 504,
a reset or lost connection before the head is 502.  After the head, a failure aborts the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections import deque
from collections.abc import Mapping
from typing import Any, Final, cast
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from traefikpy.proxy import reqhead
from traefikpy.proxy.errors import (
    ProxyError,
    UpstreamClosed,
    UpstreamConnectError,
    UpstreamConnectTimeout,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamResponseTimeout,
)
from traefikpy.proxy.forward import Forwarder
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import Body, Exchange, Headers
from traefikpy.proxy.reqhead import join_path
from traefikpy.proxy.upstream import (
    DEFAULT_TRANSPORT,
    Origin,
    ServerURL,
    Transport,
    Upstreams,
    build_ssl_context,
)

log = logging.getLogger("traefikpy.proxy.h2")

STREAM_WINDOW: Final = 1 << 20
CONN_WINDOW: Final = 1 << 30
REPLAY_LIMIT: Final = 64 * 1024

_HOP_REQUEST: Final = frozenset(
    {
        b"connection", b"keep-alive", b"proxy-connection", b"proxy-authorization",
        b"proxy-authenticate", b"te", b"trailer", b"transfer-encoding", b"upgrade", b"host",
        b"http2-settings", b"content-length", b"x-forwarded-for",
    }
)
_HOP_RESPONSE: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"}
)
_BODY_METHODS: Final = frozenset({b"POST", b"PUT", b"PATCH"})
# ex.extras key of a middleware asking for no X-Forwarded-For (customRequestHeaders X-Forwarded-For: "").
_OMIT_XFF: Final[str | None] = getattr(reqhead, "OMIT_XFF", None)


class NotH2(UpstreamConnectError):
    """The TLS server did not select ``h2`` in ALPN: use HTTP/1.1 with it."""


class RefusedStream(UpstreamError):
    """The server did not process the stream (REFUSED_STREAM or above a GOAWAY's last id)."""


class H2Stream:
    """One exchange on an upstream HTTP/2 connection: the response as it arrives."""

    __slots__ = (
        "id", "conn", "head", "status", "headers", "trailers", "chunks", "remote_ended",
        "local_ended", "reset", "error", "_waiter", "_window", "_timer",
    )

    def __init__(self, conn: H2UpstreamConnection, stream_id: int) -> None:
        self.id = stream_id
        self.conn = conn
        self.head: asyncio.Future[None] = conn.loop.create_future()
        self.status = 0
        self.headers: Headers = []
        self.trailers: Headers | None = None
        self.chunks: deque[tuple[bytes, int]] = deque()
        self.remote_ended = False
        self.local_ended = False
        self.reset = False
        self.error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._window: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    # -- events from the connection ------------------------------------------------------------
    def on_head(self, headers: list[tuple[bytes, bytes]]) -> None:
        out: Headers = []
        status = 0
        for name, value in headers:
            if name[:1] == b":":
                if name == b":status" and len(value) == 3 and value.isdigit():
                    status = int(value)
                continue
            if name in _HOP_RESPONSE:
                continue
            if not _valid_field(name, value):
                status = 0
                break
            out.append((name, value))
        self._cancel_timer()
        if not 100 <= status <= 999:
            self.fail(UpstreamProtocolError("malformed response header block", request_sent=True))
            self.conn.reset(self, h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return
        self.status = status
        self.headers = out
        if not self.head.done():
            self.head.set_result(None)

    def on_data(self, data: bytes, flow: int) -> None:
        self.chunks.append((data, flow))
        self._wake()

    def on_trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.trailers = [(n, v) for n, v in headers if n[:1] != b":" and _valid_field(n, v)]

    def on_end(self) -> None:
        self.remote_ended = True
        if not self.head.done():
            self.fail(UpstreamProtocolError("stream ended without a response head", request_sent=True))
            return
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self._cancel_timer()
        if not self.head.done():
            self.head.set_exception(exc)
            self.head.exception()  # retrieved: the forwarder may be gone already
        self._wake()
        self.window_opened()

    def window_opened(self) -> None:
        w = self._window
        if w is not None and not w.done():
            w.set_result(None)

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- forwarder side ------------------------------------------------------------------------
    def arm_timeout(self, timeout: float) -> None:
        """``responseHeaderTimeout``: counted from the end of the request."""
        if timeout > 0 and not self.head.done():
            self._timer = self.conn.loop.call_later(timeout, self._timed_out, timeout)

    def _timed_out(self, timeout: float) -> None:
        self._timer = None
        if not self.head.done():
            self.fail(UpstreamResponseTimeout(
                f"no response head within responseHeaderTimeout {timeout}s", request_sent=True))
            self.conn.reset(self, h2.errors.ErrorCodes.CANCEL)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def read(self) -> bytes:
        """The next response body chunk (acknowledged to the server), b"" at the end."""
        while True:
            if self.chunks:
                data, flow = self.chunks.popleft()
                self.conn.ack(self.id, flow)
                if data:
                    return data
                continue
            if self.error is not None:
                raise self.error
            if self.remote_ended:
                return b""
            self._waiter = self.conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def wait_window(self) -> None:
        self._window = self.conn.loop.create_future()
        try:
            await self._window
        finally:
            self._window = None


class H2UpstreamConnection(asyncio.Protocol):
    """An HTTP/2 client connection to one upstream server (asyncio Protocol)."""

    def __init__(self, pool: H2Pool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.h2 = h2.connection.H2Connection(
            # Outbound headers are built clean here (lower-case names, no hop-by-hop fields, no
            # CR/LF/NUL in values) and inbound ones are checked by H2Stream.on_head in one pass:
            # h2's per-header validation generators cost a third of its time per request.
            config=h2.config.H2Configuration(
                client_side=True, header_encoding=None,
                validate_outbound_headers=False, validate_inbound_headers=False,
            )
        )
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, H2Stream] = {}
        self.settings: asyncio.Future[None] = self.loop.create_future()
        self.not_h2 = False
        self.goaway = False  # no new streams (GOAWAY received, retired pool, ids exhausted)
        self.closed = False
        self.write_paused = False
        self._drain: list[asyncio.Future[None]] = []
        self._idle: asyncio.TimerHandle | None = None
        self.forgotten = False
        self.opened_streams = 0
        self._flush_soon = False
        self.last_read = self.loop.time()
        self._read_idle: asyncio.TimerHandle | None = None
        self._ping: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
            self.not_h2 = True
            return
        self.h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: 1 << 20,
            },
        )
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONN_WINDOW - 65535)
        self.flush()
        read_idle = self.pool.transport.read_idle_timeout
        if read_idle > 0:
            self._read_idle = self.loop.call_later(read_idle, self._check_read_idle)

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._fatal(UpstreamProtocolError(f"HTTP/2 protocol error from upstream: {exc}", request_sent=True))
            self.flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            self._event(event)
        self.flush()

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None and not stream.reset:
                stream.on_data(event.data or b"", event.flow_controlled_length or 0)
            else:
                self.ack(event.stream_id or 0, event.flow_controlled_length or 0)
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.on_head(_bytes_headers(event.headers))
        elif isinstance(event, h2.events.TrailersReceived):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.on_trailers(_bytes_headers(event.headers))
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.on_end()
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.get(event.stream_id or 0)
            if stream is not None:
                stream.reset = True
                code = event.error_code
                if code == h2.errors.ErrorCodes.REFUSED_STREAM:
                    stream.fail(RefusedStream("stream refused by the server"))
                else:
                    name = getattr(code, "name", code)
                    stream.fail(UpstreamClosed(f"stream reset by the server ({name})", request_sent=True))
        elif isinstance(event, h2.events.WindowUpdated):
            if not event.stream_id:
                for stream in list(self.streams.values()):
                    stream.window_opened()
            else:
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.window_opened()
        elif isinstance(event, h2.events.PingAckReceived):
            if self._ping is not None:
                self._ping.cancel()
                self._ping = None
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            if not self.settings.done():
                self.settings.set_result(None)
            for stream in list(self.streams.values()):
                stream.window_opened()  # INITIAL_WINDOW_SIZE may have grown
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = True
            last = event.last_stream_id or 0
            for sid, stream in list(self.streams.items()):
                if sid > last:
                    stream.reset = True
                    stream.fail(RefusedStream(f"stream {sid} not processed before GOAWAY"))
            if event.error_code != h2.errors.ErrorCodes.NO_ERROR:
                self._fatal(UpstreamClosed(f"upstream sent GOAWAY ({event.error_code!r})", request_sent=True))
            elif any(not s.error for s in self.streams.values()):
                # A graceful GOAWAY: the streams the server took must still be able to finish,
                # but h2's connection state machine closes on any GOAWAY.  Reopen it; our own
                # ``goaway`` flag keeps new streams off this connection.
                self.h2.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
            if not any(not s.error for s in self.streams.values()) and self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.goaway = True
        for timer in (self._idle, self._read_idle, self._ping):
            if timer is not None:
                timer.cancel()
        self._idle = self._read_idle = self._ping = None
        error = UpstreamClosed(
            f"upstream closed the HTTP/2 connection{f': {exc}' if exc else ''}", request_sent=True
        )
        if not self.settings.done():
            self.settings.set_exception(error)
            self.settings.exception()
        for stream in list(self.streams.values()):
            stream.fail(error)
        for waiter in self._drain:
            if not waiter.done():
                waiter.set_result(None)
        self._drain.clear()
        self.pool.forget(self)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        for waiter in self._drain:
            if not waiter.done():
                waiter.set_result(None)
        self._drain.clear()

    async def drain(self) -> None:
        if self.write_paused and not self.closed:
            waiter = self.loop.create_future()
            self._drain.append(waiter)
            await waiter

    # -- pool side ------------------------------------------------------------------------------
    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.closed:
            self.transport.write(data)

    def flush_soon(self) -> None:
        """Flush at the end of this loop iteration: the HEADERS and WINDOW_UPDATEs of many
        streams go out in one write."""
        if not self._flush_soon:
            self._flush_soon = True
            self.loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_soon = False
        self.flush()

    def can_open(self) -> bool:
        if self.goaway or self.closed or not self.settings.done():
            return False
        return self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams

    def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> H2Stream:
        """Send a request's HEADERS on a new stream (synchronous)."""
        try:
            sid = self.h2.get_next_available_stream_id()
        except h2.exceptions.NoAvailableStreamIDError:
            self.goaway = True
            raise
        self.h2.send_headers(sid, headers, end_stream=end_stream)
        stream = H2Stream(self, sid)
        stream.local_ended = end_stream
        self.streams[sid] = stream
        self.opened_streams += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self.flush_soon()
        return stream

    async def send_data(self, stream: H2Stream, data: bytes) -> None:
        """Send a request body chunk within the flow-control windows."""
        view = memoryview(data)
        while view:
            if stream.error is not None or stream.reset:
                raise stream.error or UpstreamClosed("stream reset", request_sent=True)
            window = self.h2.local_flow_control_window(stream.id)
            if window <= 0:
                await stream.wait_window()
                continue
            size = min(window, self.h2.max_outbound_frame_size, len(view))
            self.h2.send_data(stream.id, bytes(view[:size]))
            view = view[size:]
            self.flush()
            if self.write_paused:
                await self.drain()

    def end_request(self, stream: H2Stream, trailers: Headers | None) -> None:
        if trailers:
            self.h2.send_headers(
                stream.id, [(n.lower(), v) for n, v in trailers if n.lower() not in _HOP_REQUEST],
                end_stream=True,
            )
        else:
            self.h2.end_stream(stream.id)
        stream.local_ended = True
        self.flush()

    def ack(self, stream_id: int, size: int) -> None:
        if size and not self.closed:
            try:
                self.h2.acknowledge_received_data(size, stream_id)
            except h2.exceptions.ProtocolError:
                return
            self.flush_soon()

    def reset(self, stream: H2Stream, code: h2.errors.ErrorCodes) -> None:
        if stream.reset or self.closed:
            return
        stream.reset = True
        try:
            self.h2.reset_stream(stream.id, code)
        except h2.exceptions.ProtocolError:  # StreamClosedError, or the connection is closed
            return
        self.flush()

    def finish(self, stream: H2Stream) -> None:
        """The exchange is over: reset the stream if either side is still open, forget it."""
        if not (stream.local_ended and stream.remote_ended) and not stream.reset:
            code = h2.errors.ErrorCodes.NO_ERROR if stream.remote_ended else h2.errors.ErrorCodes.CANCEL
            self.reset(stream, code)
        # Unread DATA still counts against the connection window: give it back.
        while stream.chunks:
            _, flow = stream.chunks.popleft()
            self.ack(stream.id, flow)
        stream._cancel_timer()
        self.streams.pop(stream.id, None)
        if not self.streams:
            if self.goaway:
                self.close()
            else:
                limit = self.pool.transport.idle_conn_timeout
                if limit > 0 and not self.closed:
                    self._idle = self.loop.call_later(limit, self._idle_expired)

    def _check_read_idle(self) -> None:
        """``readIdleTimeout``: PING a connection that sent nothing for that long; without an
        answer within ``pingTimeout`` it is closed and its streams fail (Go's http2 health check)."""
        self._read_idle = None
        if self.closed:
            return
        t = self.pool.transport
        quiet = self.loop.time() - self.last_read
        if quiet >= t.read_idle_timeout and self._ping is None:
            try:
                self.h2.ping(b"tpyping\0")
            except h2.exceptions.ProtocolError:
                return
            self.flush()
            if t.ping_timeout > 0:
                self._ping = self.loop.call_later(t.ping_timeout, self._ping_unanswered)
            delay = t.read_idle_timeout
        else:
            delay = max(0.001, t.read_idle_timeout - quiet)
        self._read_idle = self.loop.call_later(delay, self._check_read_idle)

    def _ping_unanswered(self) -> None:
        self._ping = None
        if self.closed:
            return
        self._fatal(UpstreamClosed(
            f"no answer to PING within pingTimeout {self.pool.transport.ping_timeout}s", request_sent=True))
        if self.transport is not None:
            self.transport.abort()

    def _idle_expired(self) -> None:
        self._idle = None
        if not self.streams:
            self.close()

    def close(self) -> None:
        """Send GOAWAY and close (streams still running are failed)."""
        self.goaway = True
        if self.closed or self.transport is None:
            return
        if not self.not_h2:
            try:
                self.h2.close_connection()
                self.flush()
            except h2.exceptions.ProtocolError:
                pass
        self.transport.close()

    def drain_and_close(self) -> None:
        """No new streams; close once the running ones are done."""
        self.goaway = True
        if not self.streams:
            self.close()

    def _fatal(self, exc: BaseException) -> None:
        self.goaway = True
        for stream in list(self.streams.values()):
            stream.fail(exc)

    def __repr__(self) -> str:
        return f"<H2UpstreamConnection streams={len(self.streams)} goaway={self.goaway} closed={self.closed}>"


class H2Pool:
    """HTTP/2 connections to one origin through one serversTransport."""

    def __init__(self, key: tuple[str, Origin], transport: Transport, owner: H2Upstreams) -> None:
        self.key = key
        self.transport = transport
        self.owner = owner
        self.conns: list[H2UpstreamConnection] = []
        self.retired = False
        self.h1_only = False  # an https server that did not select h2
        self._dialing: asyncio.Future[H2UpstreamConnection] | None = None

    @property
    def origin(self) -> Origin:
        return self.key[1]

    async def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> H2Stream:
        """A new stream on a connection with room (dialing one when all are full)."""
        dials = 0
        while True:
            for conn in self.conns:
                if conn.can_open():
                    try:
                        return conn.open_stream(headers, end_stream)
                    except h2.exceptions.TooManyStreamsError:
                        continue
                    except h2.exceptions.NoAvailableStreamIDError:
                        conn.drain_and_close()
                        continue
                    except h2.exceptions.ProtocolError as exc:
                        raise UpstreamProtocolError(f"cannot send the request over HTTP/2: {exc}") from exc
            if self.retired:
                raise UpstreamConnectError("serversTransport changed while waiting for a connection")
            dialing = self._dialing
            if dialing is None:
                dialing = self._dialing = asyncio.ensure_future(self._dial())
                dialing.add_done_callback(self._dialed)
            conn = await asyncio.shield(dialing)
            if not conn.can_open() and not conn.streams and not conn.closed and not conn.goaway:
                raise UpstreamProtocolError("the server allows no concurrent streams")
            if conn.goaway or conn.closed:
                dials += 1  # (a full connection is fine: others took it, dial again)
                if dials >= 3:
                    raise UpstreamConnectError("new HTTP/2 connections to the server go away at once")

    def _dialed(self, fut: asyncio.Future[H2UpstreamConnection]) -> None:
        if self._dialing is fut:
            self._dialing = None
        if not fut.cancelled():
            fut.exception()  # retrieved here; waiters get it through the shield

    async def _dial(self) -> H2UpstreamConnection:
        loop = asyncio.get_running_loop()
        scheme, host, port = self.origin
        t = self.transport
        ctx = self.owner.ssl_context(t) if scheme == "https" else None
        server_hostname = (t.server_name or host) if ctx is not None else None
        counters = self.owner.upstreams.counters
        conn: H2UpstreamConnection | None = None
        try:
            async with asyncio.timeout(t.dial_timeout if t.dial_timeout > 0 else None):
                _, conn = await loop.create_connection(
                    lambda: H2UpstreamConnection(self), host, port, ssl=ctx, server_hostname=server_hostname
                )
                if conn.not_h2:
                    self.h1_only = True
                    conn.close()
                    raise NotH2(f"{host}:{port} did not select h2 in ALPN")
                # The server's SETTINGS (its connection preface) tell how many streams it takes.
                await asyncio.shield(conn.settings)
        except TimeoutError:
            counters.failed += 1
            if conn is not None:
                conn.close()
            raise UpstreamConnectTimeout(f"dial {host}:{port}: timeout after {t.dial_timeout}s") from None
        except (OSError, ssl.SSLError) as exc:
            counters.failed += 1
            raise UpstreamConnectError(f"dial {host}:{port}: {exc}") from exc
        except UpstreamClosed as exc:
            counters.failed += 1
            raise UpstreamConnectError(f"dial {host}:{port}: closed before HTTP/2 SETTINGS ({exc})") from exc
        counters.opened += 1
        self.owner.opened += 1
        if self.retired:
            conn.drain_and_close()
        else:
            self.conns.append(conn)
        return conn

    def forget(self, conn: H2UpstreamConnection) -> None:
        if conn.forgotten:
            return
        conn.forgotten = True
        if conn in self.conns:
            self.conns.remove(conn)
        if not conn.not_h2 and conn.settings.done():
            self.owner.upstreams.counters.closed += 1

    def retire(self) -> None:
        self.retired = True
        for conn in list(self.conns):
            conn.drain_and_close()

    def __repr__(self) -> str:
        scheme, host, port = self.origin
        streams = sum(len(c.streams) for c in self.conns)
        return f"<H2Pool {self.key[0]} {scheme}://{host}:{port} conns={len(self.conns)} streams={streams}>"


class H2Upstreams:
    """The HTTP/2 pools of an :class:`Upstreams` (same transports, same lifetime)."""

    def __init__(self, upstreams: Upstreams) -> None:
        self.upstreams = upstreams
        self.pools: dict[tuple[str, Origin], H2Pool] = {}
        self._ssl: dict[Transport, ssl.SSLContext] = {}
        self.opened = 0
        upstreams.companions.append(self)

    def pool(self, server: ServerURL, transport: str = DEFAULT_TRANSPORT) -> H2Pool:
        key = (transport, server.origin)
        pool = self.pools.get(key)
        if pool is None:
            settings = self.upstreams.transports.get(transport)
            if settings is None:
                raise KeyError(f"unknown serversTransport {transport!r}")
            pool = self.pools[key] = H2Pool(key, settings, self)
        return pool

    def ssl_context(self, transport: Transport) -> ssl.SSLContext:
        """The transport's client context, offering ``h2`` then ``http/1.1``."""
        ctx = self._ssl.get(transport)
        if ctx is None:
            ctx = self._ssl[transport] = build_ssl_context(transport)
            ctx.set_alpn_protocols(["h2", "http/1.1"])
        return ctx

    def configure(self, transports: Mapping[str, Transport]) -> None:
        for key, pool in list(self.pools.items()):
            if transports.get(key[0]) != pool.transport:
                pool.retire()
                del self.pools[key]
        self._ssl = {t: c for t, c in self._ssl.items() if transports.get(t.name) == t}

    async def close(self) -> None:
        for pool in self.pools.values():
            pool.retire()
            for conn in list(pool.conns):
                conn.close()
        self.pools.clear()

    def stats(self) -> dict[str, int]:
        conns = [c for p in self.pools.values() for c in p.conns]
        return {
            "opened": self.opened,
            "connections": len(conns),
            "streams": sum(len(c.streams) for c in conns),
        }


def h2_upstreams(upstreams: Upstreams) -> H2Upstreams:
    """The HTTP/2 companion of ``upstreams`` (created on first use)."""
    for companion in upstreams.companions:
        if isinstance(companion, H2Upstreams):
            return companion
    return H2Upstreams(upstreams)


class _Replay:
    """The request body, remembering up to :data:`REPLAY_LIMIT` bytes for one retry."""

    __slots__ = ("body", "kept", "size", "pos", "replayable")

    def __init__(self, body: Body) -> None:
        self.body = body
        self.kept: list[bytes] = []
        self.size = 0
        self.pos = 0
        self.replayable = True

    async def read(self) -> bytes:
        if self.pos < len(self.kept):
            chunk = self.kept[self.pos]
            self.pos += 1
            return chunk
        chunk = await self.body.read()
        if self.replayable:
            self.size += len(chunk)
            if self.size > REPLAY_LIMIT:
                self.replayable = False
                self.kept.clear()
            else:
                self.kept.append(chunk)
                self.pos += 1
        return chunk

    def rewind(self) -> None:
        self.pos = 0


class H2Forwarder:
    """Forwards every exchange to one server over HTTP/2; built once per server and graph."""

    __slots__ = ("url", "pool", "pass_host_header", "preserve_path", "_prefix", "_scheme")

    def __init__(
        self, url: ServerURL, pool: H2Pool, *, pass_host_header: bool = True, preserve_path: bool = False
    ) -> None:
        self.url = url
        self.pool = pool
        self.pass_host_header = pass_host_header
        self.preserve_path = preserve_path
        self._prefix = url.raw_path if preserve_path and url.raw_path not in (b"", b"/") else b""
        self._scheme = b"https" if url.scheme == "https" else b"http"

    async def __call__(self, ex: Exchange) -> None:
        if ex.upgrade:
            raise UpstreamProtocolError(f"cannot forward an {ex.upgrade!r} upgrade to an HTTP/2 server")
        headers = self.request_headers(ex)
        empty = type(ex.body) is EmptyBody
        source = _Replay(ex.body)
        timeout = self.pool.transport.response_header_timeout
        stream = await self.pool.open_stream(headers, empty)
        try:
            await self._exchange(ex, stream, source, empty, timeout)
        except RefusedStream:
            if ex.status or not source.replayable:
                raise
            log.debug("retrying %r: the server refused the stream", ex)
            source.rewind()
            stream = await self.pool.open_stream(headers, empty)
            await self._exchange(ex, stream, source, empty, timeout)

    async def _exchange(
        self, ex: Exchange, stream: H2Stream, source: _Replay, empty: bool, timeout: float
    ) -> None:
        conn = stream.conn
        sender: asyncio.Future[None] | None = None
        try:
            if empty:
                stream.arm_timeout(timeout)
            else:
                sender = asyncio.ensure_future(_send_body(stream, source, timeout))
            await stream.head
            status = stream.status
            if status == 101:
                raise UpstreamProtocolError("HTTP/2 server answered 101", request_sent=True)
            headers = list(stream.headers)
            if ex.version == b"2" and stream.remote_ended and not stream.chunks and stream.trailers is None:
                trailers_only = _grpc_trailers_only(headers)
                if trailers_only is not None:
                    # A gRPC "Trailers-Only" answer (status in the one HEADERS frame): keep its
                    # metadata trailing for HTTP/2 clients, whose head is written before the end.
                    await ex.send_head(status, trailers_only[0])
                    await ex.end(trailers_only[1])
                    return
            await ex.send_head(status, headers)
            while data := await stream.read():
                await ex.send_body(data)
            await ex.end(stream.trailers or None)
        finally:
            if sender is not None and not sender.done():
                sender.cancel()
            conn.finish(stream)

    def request_headers(self, ex: Exchange) -> list[tuple[bytes, bytes]]:
        """The HEADERS of the upstream request (pseudo-headers first)."""
        path = ex.raw_path
        if self._prefix:
            path = join_path(self._prefix, path)
        if not path:
            path = b"/"
        if ex.query:
            query = ex.query
            path = path + b"?" + (query.replace(b";", b"&") if 59 in query else query)
        authority = b""
        xff: bytes | None = None
        listed: set[bytes] | None = None
        te_trailers = False
        grpc = False
        rest: list[tuple[bytes, bytes]] = []
        for name, value in ex.headers:
            lname = name.lower()
            if lname in _HOP_REQUEST:
                if lname == b"host":
                    if not authority:
                        authority = value
                elif lname == b"x-forwarded-for":
                    xff = value if xff is None else xff + b", " + value
                elif lname == b"connection":
                    tokens = {t.strip().lower() for t in value.split(b",")}
                    listed = tokens if listed is None else listed | tokens
                elif lname == b"te":
                    te_trailers = te_trailers or any(
                        t.split(b";")[0].strip().lower() == b"trailers" for t in value.split(b",")
                    )
                continue
            if lname[:1] == b":":
                continue
            if lname == b"content-type" and value[:16].lower() == b"application/grpc":
                grpc = True
            if 13 in value or 10 in value or 0 in value:
                continue
            rest.append((lname, value))
        if not self.pass_host_header or not authority:
            authority = self.url.authority
        out: list[tuple[bytes, bytes]] = [
            (b":method", ex.method),
            (b":scheme", self._scheme),
            (b":authority", authority),
            (b":path", path),
        ]
        if listed:
            listed.discard(b"")
            rest = [(n, v) for n, v in rest if n not in listed]
        out.extend(rest)
        if xff is not None or ex.extras is None or _OMIT_XFF not in ex.extras:
            client = ex.client_ip.encode("ascii", "replace")
            out.append((b"x-forwarded-for", xff + b", " + client if xff else client))
        if te_trailers or grpc:
            out.append((b"te", b"trailers"))
        length = ex.body.length
        if length is not None and (length or ex.method in _BODY_METHODS):
            out.append((b"content-length", b"%d" % length))
        return out

    def __repr__(self) -> str:
        return f"<H2Forwarder {self.url.url} pass_host={self.pass_host_header} {self.pool!r}>"


async def _send_body(stream: H2Stream, source: _Replay, timeout: float) -> None:
    """Stream the request body up, then arm the response header timeout."""
    conn = stream.conn
    try:
        while True:
            chunk = await source.read()
            if stream.error is not None or stream.reset:
                return
            if not chunk:
                conn.end_request(stream, source.body.trailers)
                stream.arm_timeout(timeout)
                return
            await conn.send_data(stream, chunk)
    except asyncio.CancelledError:
        raise
    except (h2.exceptions.StreamClosedError, UpstreamError):
        return  # the stream is over (reset, refused, connection lost): the reader reports it
    except h2.exceptions.ProtocolError as exc:
        stream.fail(UpstreamProtocolError(f"cannot send the request body: {exc}", request_sent=True))
        conn.reset(stream, h2.errors.ErrorCodes.INTERNAL_ERROR)
    except ProxyError as exc:  # the client's body failed (bad framing, timeout, gone)
        stream.fail(exc)
        conn.reset(stream, h2.errors.ErrorCodes.CANCEL)
    except Exception as exc:  # noqa: BLE001 - reported through the stream
        stream.fail(exc)
        conn.reset(stream, h2.errors.ErrorCodes.INTERNAL_ERROR)


class AutoForwarder:
    """An ``https`` server: HTTP/2 when it selects ``h2`` in ALPN, HTTP/1.1 otherwise (and for
    upgrade requests, like Go's transport)."""

    __slots__ = ("h1", "h2", "pool")

    def __init__(self, h1: Forwarder, h2_forwarder: H2Forwarder) -> None:
        self.h1 = h1
        self.h2 = h2_forwarder
        self.pool = h2_forwarder.pool

    async def __call__(self, ex: Exchange) -> None:
        if ex.upgrade or self.pool.h1_only:
            await self.h1(ex)
            return
        try:
            await self.h2(ex)
        except NotH2:
            await self.h1(ex)

    def __repr__(self) -> str:
        return f"<AutoForwarder {self.h2.url.url} h1_only={self.pool.h1_only}>"


AnyForwarder = Forwarder | H2Forwarder | AutoForwarder


def create_forwarder(
    upstreams: Upstreams,
    url: str | ServerURL,
    transport: str = DEFAULT_TRANSPORT,
    *,
    pass_host_header: bool = True,
    preserve_path: bool = False,
) -> AnyForwarder:
    """The forwarder for a server URL: HTTP/1.1 for ``http``, HTTP/2 for ``h2c``, ALPN-chosen
    for ``https`` (HTTP/1.1 only with ``disableHTTP2``)."""
    server = url if isinstance(url, ServerURL) else ServerURL(url)
    if server.scheme == "http":
        return Forwarder.create(
            upstreams, server, transport, pass_host_header=pass_host_header, preserve_path=preserve_path
        )
    settings = upstreams.transports.get(transport)
    if settings is None:
        raise KeyError(f"unknown serversTransport {transport!r}")
    h2f = H2Forwarder(
        server, h2_upstreams(upstreams).pool(server, transport),
        pass_host_header=pass_host_header, preserve_path=preserve_path,
    )
    if server.scheme == "h2c":
        return h2f
    h1 = Forwarder.create(
        upstreams, server, transport, pass_host_header=pass_host_header, preserve_path=preserve_path
    )
    if settings.disable_http2:
        return h1
    return AutoForwarder(h1, h2f)


_BAD_NAME: Final = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9a-z]")


def _valid_field(name: bytes, value: bytes) -> bool:
    """A response field that may be passed on: a lower-case token name, no CR/LF/NUL in the value."""
    return bool(name) and _BAD_NAME.search(name) is None and not (13 in value or 10 in value or 0 in value)


def _grpc_trailers_only(headers: Headers) -> tuple[Headers, Headers] | None:
    """(head, trailers) of a gRPC Trailers-Only response, or None for anything else."""
    grpc = False
    status = False
    for name, value in headers:
        if name == b"content-type" and value[:16].lower() == b"application/grpc":
            grpc = True
        elif name == b"grpc-status":
            status = True
    if not (grpc and status):
        return None
    head = [(n, v) for n, v in headers if n in (b"content-type", b"date")]
    trailers = [(n, v) for n, v in headers if n not in (b"content-type", b"date", b"content-length")]
    return head, trailers


def _bytes_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers or ():
        out.append((
            name if isinstance(name, bytes) else name.encode("latin-1"),
            value if isinstance(value, bytes) else value.encode("latin-1"),
        ))
    return out


async def h2c_status(url: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> int:
    """The status of one request over a fresh cleartext HTTP/2 connection (prior knowledge):
    the HTTP health check of ``h2c://`` servers, which speak nothing else.  ``Host`` in
    ``headers`` becomes ``:authority``.  The caller bounds it with its timeout."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 80
    reader, writer = await asyncio.open_connection(host, port)
    try:
        conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        conn.initiate_connection()
        authority = parts.netloc.encode("latin-1")
        extra: list[tuple[bytes, bytes]] = []
        for name, value in (headers or {}).items():
            lname = name.lower().encode("latin-1")
            if lname == b"host":
                authority = value.encode("latin-1")
            elif lname not in _HOP_REQUEST:
                extra.append((lname, value.encode("latin-1")))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [
            (b":method", method.upper().encode("latin-1")), (b":scheme", b"http"),
            (b":authority", authority), (b":path", path.encode("latin-1")), *extra,
        ], end_stream=True)
        writer.write(conn.data_to_send())
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionResetError("connection closed before the response head")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == sid:
                    for field, raw in _bytes_headers(event.headers):
                        if field == b":status":
                            return int(raw)
                elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                    raise ConnectionResetError("stream reset before the response head")
            writer.write(conn.data_to_send())
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

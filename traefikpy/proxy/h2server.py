"""The HTTP/2 server protocol (RFC 9113): one :class:`H2Connection` per client connection.

Theory of operation
-------------------
The ``h2`` library is the state machine (framing, HPACK, stream states, flow-control windows);
this module plugs it into the data plane.  Bytes in go to ``h2``; its events drive the streams;
whatever ``h2`` wants to send is flushed to the transport after each step.

* Each stream is an :class:`H2Stream`, which is both the record of the request and the
  :class:`~traefikpy.proxy.http.ResponseWriter` of its :class:`~traefikpy.proxy.http.Exchange`
  (version ``b"2"``, host from ``:authority`` or ``Host``, cookie crumbs joined by ``h2``), run
  by the same root handler as HTTP/1.1, one task per stream.
* Request bodies (:class:`H2Body`) are flow controlled: received bytes are acknowledged to the
  peer (``WINDOW_UPDATE``) only as the handler reads them, so a slow upstream stalls the client
  through HTTP/2 flow control instead of filling memory.
* Response bodies are sent as the peer's windows allow: a writer waits for ``WINDOW_UPDATE``
  (and for the transport to drain) before sending more.  Trailers go both ways.
* Connection-specific response headers (RFC 9113 8.2.2) are dropped; a handler failure before
  the head gives a 500 (or the error's status), after the head a ``RST_STREAM``.
* ``SETTINGS_MAX_CONCURRENT_STREAMS`` is the entry point's ``http2.maxConcurrentStreams``; a
  client that opens more streams is refused per stream with ``REFUSED_STREAM`` (RFC 9113
  5.1.2), the other streams carry on.
* Malformed frames and protocol violations are connection errors: ``GOAWAY`` and close.
* Graceful shutdown sends ``GOAWAY(NO_ERROR)`` naming the last stream accepted, lets the
  streams in flight finish, then closes.  Timeouts follow the HTTP/1.1 server: ``idleTimeout``
  while no stream is open, ``readTimeout`` per request (from its head to the end of its body,
  and from accept to the first request), ``writeTimeout`` per response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
from h2.frame_buffer import FrameBuffer
from h2.stream import StreamClosedBy
from hpack.table import HeaderTable
from hyperframe.frame import GoAwayFrame, HeadersFrame, RstStreamFrame

from traefikpy.proxy.connections import ConnectionSet, ServerConfig
from traefikpy.proxy.errors import STATUS_TEXT, ClientClosed, ProxyError, RequestTimeout
from traefikpy.proxy.forwarded import is_managed
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.h1request import _canonical, _decoded, entry_target  # shared with the HTTP/1.1 server
from traefikpy.proxy.h1rules import (
    H_ALIAS,
    H_CONNECTION,
    H_CONTENT_LENGTH,
    H_HOST,
    H_MANAGED,
    H_PLAIN,
    H_TE,
    H_TRANSFER_ENCODING,
    H_UPGRADE,
    H_XFF,
    Reject,
    classify_request_header,
)
from traefikpy.proxy.h1writer import date_header
from traefikpy.proxy.http import BodyTooLarge, Exchange, Handler, Headers, read_all
from traefikpy.proxy.server import H1Connection
from traefikpy.proxy.target import BadTarget

log = logging.getLogger("traefikpy.proxy")

PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
"""The client connection preface: at the start of a plain connection it means h2c."""

DEFAULT_MAX_CONCURRENT_STREAMS: Final = 250
WINDOW: Final = 1 << 20
"""Receive window per stream and for the connection (like Go's server): 1 MiB."""
MAX_FRAME: Final = 1 << 14

_NO_ERROR: Final = h2.errors.ErrorCodes.NO_ERROR
_PROTOCOL: Final = h2.errors.ErrorCodes.PROTOCOL_ERROR
_INTERNAL: Final = h2.errors.ErrorCodes.INTERNAL_ERROR
_REFUSED: Final = h2.errors.ErrorCodes.REFUSED_STREAM
_CANCEL: Final = h2.errors.ErrorCodes.CANCEL

# Request header checks done here instead of by h2 (its generator chain costs ~1/4 of a request):
# RFC 9113 8.2.1 (lower-case token names; values without NUL/CR/LF or surrounding whitespace),
# 8.2.2 (no connection-specific fields, TE only "trailers"), 8.3.1 (the pseudo-headers).
_NAME: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")
_NAME_KINDS: dict[bytes, int] = {}
_OWS: Final = b" \t"
_CONNECTION_SPECIFIC: Final = frozenset({H_CONNECTION, H_TRANSFER_ENCODING, H_UPGRADE})
_CONNECTION_DROPPED: Final = frozenset({b"keep-alive", b"proxy-connection"})

_HOP_RESPONSE: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"upgrade"}
)
_NOT_TRAILERS: Final = frozenset(
    {b"content-length", b"transfer-encoding", b"host", b"content-type", b"trailer"} | _HOP_RESPONSE
)


class _Refusing(h2.connection.H2Connection):
    """``h2``'s connection, except that a stream over ``SETTINGS_MAX_CONCURRENT_STREAMS`` is
    refused alone (``RST_STREAM(REFUSED_STREAM)``, RFC 9113 5.1.2) instead of failing the whole
    connection.  The header block is still decoded so the HPACK state stays in step."""

    def _receive_headers_frame(self, frame: HeadersFrame) -> tuple[list[Any], list[Any]]:
        limit = self.local_settings.max_concurrent_streams
        if (
            len(self.streams) >= limit  # cheap pre-check: open_inbound_streams walks every stream
            and frame.stream_id not in self.streams
            and frame.stream_id % 2 == 1
            and frame.stream_id > self.highest_inbound_stream_id
            and self.open_inbound_streams + 1 > limit
        ):
            self.decoder.decode(frame.data, raw=True)
            self.highest_inbound_stream_id = frame.stream_id
            self._closed_streams[frame.stream_id] = StreamClosedBy.SEND_RST_STREAM
            rst = RstStreamFrame(frame.stream_id)
            rst.error_code = _REFUSED
            return [rst], []
        return cast("tuple[list[Any], list[Any]]", super()._receive_headers_frame(frame))


def _hpack_int(value: int, prefix: int, flags: int) -> bytes:
    """An HPACK integer (RFC 7541 5.1) with a ``prefix``-bit prefix and the first byte's flags."""
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_STATIC_FIELDS: Final = {pair: i + 1 for i, pair in reversed(list(enumerate(HeaderTable.STATIC_TABLE)))}
_STATIC_NAMES: Final = {name: i + 1 for i, (name, _) in reversed(list(enumerate(HeaderTable.STATIC_TABLE)))}
_FIELD_CACHE: dict[tuple[bytes, bytes], bytes] = {}


class _PlainEncoder:
    """HPACK encoding of our response blocks without the dynamic table (RFC 7541 6.1, 6.2.2):
    static-table fields as one index, everything else as a literal never added to a table, no
    Huffman.  ``hpack.Encoder`` costs ~10 µs per field in pure Python; this costs a dict hit.
    The blocks are a little larger, and the peer's decoder state never depends on ours."""

    def __init__(self) -> None:
        self._announce = False

    @property
    def header_table_size(self) -> int:
        return 0

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._announce = True  # a new SETTINGS_HEADER_TABLE_SIZE: say we use none of it

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        parts = [b"\x20"] if self._announce else []
        self._announce = False
        cache = _FIELD_CACHE
        for pair in headers:
            field = cache.get(pair)
            if field is None:
                field = _plain_field(pair[0], pair[1])
                if len(pair[1]) <= 64 and len(cache) < 4096:
                    cache[(pair[0], pair[1])] = field
            parts.append(field)
        return b"".join(parts)


def _plain_field(name: bytes, value: bytes) -> bytes:
    index = _STATIC_FIELDS.get((name, value))
    if index is not None:
        return _hpack_int(index, 7, 0x80)
    name_index = _STATIC_NAMES.get(name)
    head = _hpack_int(name_index, 4, 0) if name_index else b"\x00" + _hpack_int(len(name), 7, 0) + name
    return head + _hpack_int(len(value), 7, 0) + value


class _EagerFrameBuffer(FrameBuffer):
    """``h2``'s frame buffer checks a frame's length only once the whole frame arrived: a
    peer announcing a 16 MiB frame would make us buffer it.  Check it on the header."""

    def __next__(self) -> Any:
        data = self._data
        if len(data) >= 9:
            self._validate_frame_length(int.from_bytes(data[:3], "big"))
        return super().__next__()


class H2Body:
    """A streamed HTTP/2 request body (implements :class:`~traefikpy.proxy.http.Body`).

    Bytes are acknowledged to the peer (window updates) when the handler reads them."""

    __slots__ = ("length", "trailers", "_conn", "_sid", "_chunks", "_unacked", "_done", "_error",
                 "_waiter", "received", "consumed", "expect")

    def __init__(self, conn: H2Connection, stream_id: int, length: int | None, expect: bool = False) -> None:
        self.length = length
        self.trailers: Headers | None = None
        self._conn = conn
        self._sid = stream_id
        self._chunks: deque[bytes] = deque()
        self._unacked = 0  # flow-controlled bytes received but not yet read
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.received = 0
        self.consumed = False
        self.expect = expect  # "Expect: 100-continue": the interim 100 goes out on the first read

    def feed(self, data: bytes, flow: int) -> None:
        if data:
            self._chunks.append(data)
            self.received += len(data)
        self._unacked += flow
        if not data and flow:
            self._ack()  # padding only: nothing for the handler, give the window back
        self._wake()

    def finish(self, trailers: Headers | None = None) -> None:
        self._done = True
        if trailers:
            self.trailers = trailers
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if not self._done:
            self._error = exc
        self._wake()

    def ready(self) -> bool:
        return bool(self._chunks) or self._done or self._error is not None

    @property
    def complete(self) -> bool:
        return self._done

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _ack(self) -> None:
        if self._unacked:
            size, self._unacked = self._unacked, 0
            self._conn.acknowledge(self._sid, size)

    def release(self) -> None:
        """The stream is over: give back the window of whatever was never read."""
        self._chunks.clear()
        self._ack()

    async def read(self) -> bytes:
        while True:
            if self._chunks:
                data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
                self._chunks.clear()
                self._ack()
                return data
            if self._done:
                self.consumed = True
                return b""
            if self._error is not None:
                raise self._error
            if self.expect:
                self.expect = False
                self._conn.send_continue(self._sid)
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    async def read_all(self, limit: int | None = None) -> bytes:
        if limit is not None and self.length is not None and self.length > limit:
            raise BodyTooLarge(f"request body of {self.length} bytes exceeds {limit}")
        return await read_all(self, limit)

    def __repr__(self) -> str:
        return f"<H2Body stream={self._sid} received={self.received} done={self._done}>"


class H2Stream:
    """One request/response on an HTTP/2 connection; the exchange's ``ResponseWriter``."""

    __slots__ = ("_conn", "sid", "method", "body", "exchange", "task", "head_sent", "ended",
                 "status", "bytes_sent", "remaining", "reset", "read_deadline", "write_deadline",
                 "_window_waiter")

    def __init__(self, conn: H2Connection, sid: int, method: bytes) -> None:
        self._conn = conn
        self.sid = sid
        self.method = method
        self.body: H2Body | EmptyBody
        self.exchange: Exchange
        self.task: asyncio.Task[None] | None = None
        self.head_sent = False
        self.ended = False
        self.status = 0
        self.bytes_sent = 0  # response body bytes (metrics, access log)
        self.remaining = -1  # declared Content-Length still to send (-1: none declared)
        self.reset = False  # the stream was reset (by either side): nothing more is sent
        self.read_deadline = 0.0
        self.write_deadline = 0.0
        self._window_waiter: asyncio.Future[None] | None = None

    # -- ResponseWriter --------------------------------------------------------------------
    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        self.write_head(status, headers)

    def write_head(self, status: int, headers: Headers) -> None:
        if self.head_sent:
            raise RuntimeError("response head already sent")
        conn = self._conn
        if self.reset or conn.closed:
            raise ClientClosed("client closed the stream")
        block: list[tuple[bytes, bytes]] = [(b":status", b"%d" % status)]
        has_date = False
        length = -1
        for name, value in headers:
            lname = name.lower()
            if lname in _HOP_RESPONSE:
                continue
            if lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    continue
                if length < 0:
                    length = -1
                    continue
            elif lname == b"date":
                has_date = True
            if 13 in value or 10 in value or 0 in value:
                value = value.replace(b"\r", b" ").replace(b"\n", b" ").replace(b"\0", b" ")
            if value and (value[0] in _OWS or value[-1] in _OWS):
                value = value.strip(b" \t")  # RFC 9113 8.2.1: no surrounding whitespace
            if lname[:1] == b":" or not lname:
                continue
            block.append((lname, value))
        if not has_date:
            block.append((b"date", date_header()[6:-2]))
        if status < 200:
            if status == 101:
                raise ProxyError("101 Switching Protocols is not allowed in HTTP/2")
            conn.send_headers(self, block, False)  # interim response (103 Early Hints)
            return
        self.head_sent = True
        self.status = status
        no_body = self.method == b"HEAD" or status == 204 or status == 304
        if not no_body:
            self.remaining = length
        conn.send_headers(self, block, no_body)
        if no_body:
            self.ended = True
            conn.stream_done(self)
        elif conn.config.write_timeout > 0:
            self.write_deadline = conn.loop.time() + conn.config.write_timeout

    async def send_body(self, data: bytes) -> None:
        if not self.head_sent:
            raise RuntimeError("send_head() must come first and end() last")
        if self.ended:
            if self.method == b"HEAD" or self.status in (204, 304):
                return
            raise RuntimeError("send_body() after end()")
        if not data:
            return
        if self.remaining >= 0:
            if len(data) > self.remaining:
                self._conn.reset_stream(self, _INTERNAL)
                raise RuntimeError("response body longer than its Content-Length")
            self.remaining -= len(data)
        self.bytes_sent += len(data)
        await self._conn.send_data(self, data)

    async def end(self, trailers: Headers | None = None) -> None:
        self.finish(trailers)

    def finish(self, trailers: Headers | None = None) -> None:
        if self.ended:
            return
        if not self.head_sent:
            raise RuntimeError("end() before send_head()")
        self.ended = True
        conn = self._conn
        if self.remaining > 0:
            conn.reset_stream(self, _INTERNAL)  # truncated: the client must not take it as whole
        elif not self.reset:
            block = None
            if trailers:
                block = [(k.lower(), v) for k, v in trailers
                         if k.lower() not in _NOT_TRAILERS and 13 not in v and 10 not in v]
            conn.end_stream(self, block or None)
        conn.stream_done(self)

    # -- flow control ----------------------------------------------------------------------
    async def wait_window(self) -> None:
        waiter = self._window_waiter = self._conn.loop.create_future()
        try:
            await waiter
        finally:
            self._window_waiter = None

    def wake(self, exc: BaseException | None = None) -> None:
        waiter = self._window_waiter
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def __repr__(self) -> str:
        return f"<H2Stream {self.sid} {self.method.decode()} status={self.status} ended={self.ended}>"


class H2Connection(asyncio.Protocol):
    """Serves the HTTP/2 streams of one client connection to the root handler ``app``."""

    def __init__(self, app: Handler, config: ServerConfig, conns: ConnectionSet,
                 client: tuple[str, int] | None = None, max_concurrent_streams: int | None = None) -> None:
        self.app = app
        self.config = config
        self.conns = conns
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.closed = False
        self.client_ip = ""
        self.client_port = 0
        self.client_ip_b = b""
        self.trusted = False
        self.tls: Any = None
        self._client = client
        self.max_streams = max_concurrent_streams or config.max_concurrent_streams
        settings = {
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: WINDOW,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: config.max_header_bytes,
        }
        # Outbound blocks are built clean here (lower-case names, no connection headers, no CR/LF/NUL)
        h2c = _Refusing(h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_outbound_headers=False, normalize_outbound_headers=False,
            validate_inbound_headers=False))  # checked in _on_request
        h2c.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        h2c.local_settings.acknowledge()  # in force from the first frame (we announce them first)
        h2c.max_inbound_frame_size = h2c.local_settings.max_frame_size
        h2c.incoming_buffer = _EagerFrameBuffer(server=True)
        h2c.encoder = _PlainEncoder()  # type: ignore[assignment]
        self.h2 = h2c
        self.streams: dict[int, H2Stream] = {}
        self.write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._flush_scheduled = False
        self._goaway_sent = False
        self._last_accepted = 2**31 - 1
        self._shutting_down = False
        self._served = 0
        self.read_deadline = 0.0
        self.idle_deadline = 0.0

    # -- connection lifecycle --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport, data: bytes = b"") -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self._client is not None:
            ip, port = self._client
        else:
            peer = transport.get_extra_info("peername")
            ip, port = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else ("", 0)
        self.set_client(ip.split("%", 1)[0], port)
        self.tls = transport.get_extra_info("ssl_object")
        if self.config.read_timeout > 0:
            self.read_deadline = self.loop.time() + self.config.read_timeout
        self.conns.add(self)
        h2c = self.h2
        h2c.initiate_connection()  # SETTINGS with the values set in __init__
        h2c.increment_flow_control_window(WINDOW - 65535)  # the connection window, as streams
        self._flush()
        if data:
            self.data_received(data)

    def set_client(self, ip: str, port: int) -> None:
        self.client_ip = ip
        self.client_port = port
        self.client_ip_b = ip.encode("ascii", "replace")
        self.trusted = self.config.forwarded.trusts(ip)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.conns.discard(self)
        gone = ClientClosed("client closed the connection")
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_exception(gone)
        self._drain_waiters.clear()
        for stream in list(self.streams.values()):
            stream.reset = True
            stream.body.fail(gone)
            stream.wake(gone)
            if stream.task is not None and not stream.task.done():
                stream.task.cancel()  # like Go's request context: the client is gone

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        if self.closed:
            raise ClientClosed("client closed the connection")
        if self.write_paused:
            waiter = self.loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.closed:
            self.transport.write(data)

    def _flush_soon(self) -> None:
        """Flush once the ready callbacks have run: the frames of every stream answering in
        this loop iteration go out in one write (one TLS record, one syscall) instead of one
        write per frame."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    # -- incoming --------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            log.debug("HTTP/2 connection error from %s: %s", self.client_ip, exc)
            self._flush()  # the GOAWAY h2 prepared
            self._close()
            return
        for event in events:
            kind = type(event)
            if kind is h2.events.RequestReceived:
                self._on_request(cast(h2.events.RequestReceived, event))
            elif kind is h2.events.DataReceived:
                ev = cast(h2.events.DataReceived, event)
                stream = self.streams.get(ev.stream_id or 0)
                if stream is not None and isinstance(stream.body, H2Body):
                    stream.body.feed(ev.data or b"", ev.flow_controlled_length or 0)
                elif ev.flow_controlled_length:
                    self.acknowledge(ev.stream_id or 0, ev.flow_controlled_length)
            elif kind is h2.events.StreamEnded:
                self._on_stream_ended(cast(h2.events.StreamEnded, event).stream_id or 0)
            elif kind is h2.events.TrailersReceived:
                ev2 = cast(h2.events.TrailersReceived, event)
                stream = self.streams.get(ev2.stream_id or 0)
                if stream is not None and isinstance(stream.body, H2Body):
                    stream.body.trailers = _clean_trailers(ev2.headers or [])
            elif kind is h2.events.WindowUpdated or kind is h2.events.RemoteSettingsChanged:
                sid = getattr(event, "stream_id", 0) or 0
                if sid:
                    stream = self.streams.get(sid)
                    if stream is not None:
                        stream.wake()
                else:
                    for stream in self.streams.values():
                        stream.wake()
            elif kind is h2.events.StreamReset:
                self._on_reset(cast(h2.events.StreamReset, event).stream_id or 0)
            elif kind is h2.events.ConnectionTerminated:
                self._shutting_down = True
                if not self.streams:
                    self._close()
        self._flush()

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id or 0
        if (self._goaway_sent and sid > self._last_accepted) or len(self.streams) >= self.max_streams:
            # After GOAWAY; or streams the client reset but whose handlers still run fill the
            # quota (a "rapid reset" flood, CVE-2023-44487): no new handler until they finish.
            self._reset_raw(sid, _REFUSED)
            return
        self.read_deadline = 0.0
        self.idle_deadline = 0.0
        raw = event.headers or []
        method = path = scheme = authority = b""
        headers: Headers = []
        host: bytes | None = None
        length: int | None = None
        seen: dict[bytes, bytes] | None = None
        xff: list[bytes] | None = None
        trusted = self.trusted
        size = 0
        regular = False
        expect = False
        malformed = ""
        for pair in raw:
            name, value = bytes(pair[0]), bytes(pair[1])
            size += len(name) + len(value) + 32
            if value and _BAD_VALUE.search(value) is not None:
                malformed = "invalid header value"
                break
            if name[:1] == b":":
                if regular:
                    malformed = "pseudo-header after regular header"
                    break
                if name == b":method" and not method:
                    method = value
                elif name == b":path" and not path:
                    path = value
                elif name == b":authority" and not authority:
                    authority = value
                elif name == b":scheme" and not scheme:
                    scheme = value
                else:
                    malformed = "unknown, duplicated or empty pseudo-header"
                    break
                continue
            regular = True
            kind = _NAME_KINDS.get(name)
            if kind is None:
                if _NAME.fullmatch(name) is None:
                    malformed = "invalid header name"
                    break
                kind = classify_request_header(name)
                if len(_NAME_KINDS) < 10000:
                    _NAME_KINDS[name] = kind
            if kind == H_PLAIN:
                headers.append((name, value))
            elif kind == H_HOST:
                if host is None:
                    host = value
            elif kind == H_CONTENT_LENGTH:
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                headers.append((name, value))
            elif kind == H_ALIAS:
                if trusted:
                    headers.append((name, value))
            elif kind in (H_MANAGED, H_XFF):
                if trusted:
                    if seen is None:
                        seen = {}
                    if kind == H_XFF:
                        xff = [value] if xff is None else [*xff, value]
                    else:
                        seen.setdefault(name, value)
                        headers.append((name, value))
            elif kind == H_TE:
                if value != b"trailers":
                    malformed = "TE other than trailers"
                    break
            elif kind in _CONNECTION_SPECIFIC or name in _CONNECTION_DROPPED:
                malformed = "connection-specific header"  # RFC 9113 8.2.2
                break
            elif name == b"expect":
                expect = value.lower() == b"100-continue"
            # trailer: consumed here
        if not malformed and method != b"CONNECT" and not (method and path and scheme):
            malformed = "missing :method, :scheme or :path"
        if malformed:
            # A malformed request is a stream error (RFC 9113 8.1.1): only this stream fails.
            log.debug("HTTP/2 stream %d from %s refused: %s", sid, self.client_ip, malformed)
            self._reset_raw(sid, _PROTOCOL)
            return
        del scheme
        stream = H2Stream(self, sid, method)
        self.streams[sid] = stream
        self._served += 1
        ended = bool(event.stream_ended)
        if ended or length == 0:
            stream.body = EmptyBody(0)
        else:
            stream.body = H2Body(self, sid, length if length is not None and length >= 0 else None, expect)
            if self.config.read_timeout > 0:
                stream.read_deadline = self.loop.time() + self.config.read_timeout
        status, detail = 0, ""
        if size > self.config.max_header_bytes:
            status = 431
        elif method == b"CONNECT":
            status, detail = 405, ""
        elif length is not None and length < 0:
            status, detail = 400, "bad Content-Length"
        host_b = authority or host or b""
        if authority and host is not None and host != authority:
            pass  # :authority wins (RFC 9113 8.3.1)
        if not status:
            try:
                host_name, raw_path, query = self._target(host_b, path)
            except (BadTarget, Reject) as exc:
                status, detail = exc.status, str(exc)
        if status:
            stream.exchange = self._exchange(stream, method, b"/", "/", b"", headers, "")
            self._refuse(stream, status, detail)
            return
        if host_b:
            headers.append((b"host", host_b))
        tls = self.tls is not None
        self.config.forwarded.finish(
            headers, seen, xff, client_ip=self.client_ip_b, tls=tls, websocket=False, host=host_b or None
        )
        stream.exchange = self._exchange(stream, method, raw_path, _decoded(raw_path), query, headers, host_name)
        stream.task = self.loop.create_task(self._run(stream), name=f"h2 {self.client_ip}:{self.client_port}#{sid}")

    def _target(self, host: bytes, path: bytes) -> tuple[str, bytes, bytes]:
        host_name = _canonical(host) if host else ""
        if path == b"*":
            return host_name, path, b""
        if path[:1] != b"/":
            raise BadTarget("malformed :path")
        raw_path, _, query = path.partition(b"?")
        if b"#" in query:
            query = query.split(b"#", 1)[0]
        raw_path, query = entry_target(self.config, raw_path, query)
        return host_name, raw_path, query

    def _exchange(self, stream: H2Stream, method: bytes, raw_path: bytes, path: str, query: bytes,
                  headers: Headers, host: str) -> Exchange:
        cfg = self.config
        return Exchange.from_parts(
            method, raw_path, path, query, b"2", headers, host, cfg.scheme, self.client_ip, self.client_port,
            cfg.entrypoint, stream.body, stream, self.tls, time.perf_counter(), b"",
        )

    def _refuse(self, stream: H2Stream, status: int, detail: str) -> None:
        body = b"%d %s" % (status, STATUS_TEXT.get(status, b"Bad Request"))
        if detail:
            body += b": " + detail.encode("ascii", "replace")
        stream.write_head(status, [(b"content-type", b"text/plain; charset=utf-8"),
                                   (b"content-length", b"%d" % len(body))])
        self.loop.create_task(self._send_refusal(stream, body))

    async def _send_refusal(self, stream: H2Stream, body: bytes) -> None:
        try:
            await stream.send_body(body)
            stream.finish()
        except (ClientClosed, RuntimeError):
            pass

    def _on_stream_ended(self, sid: int) -> None:
        stream = self.streams.get(sid)
        if stream is None:
            return
        stream.read_deadline = 0.0
        body = stream.body
        if isinstance(body, H2Body):
            body.finish(body.trailers)

    def _on_reset(self, sid: int) -> None:
        stream = self.streams.get(sid)
        if stream is None:
            return
        stream.reset = True
        gone = ClientClosed("client reset the stream")
        stream.body.fail(gone)
        stream.wake(gone)
        task = stream.task
        if task is not None and not task.done():
            task.cancel()
        else:
            self._forget(stream)

    # -- running a stream ------------------------------------------------------------------
    async def _run(self, stream: H2Stream) -> None:
        try:
            await self.app(stream.exchange)
        except asyncio.CancelledError:
            if not stream.ended and not self.closed:
                self.reset_stream(stream, _CANCEL)
        except Exception as exc:
            self._handler_failed(stream, exc)
        else:
            if not stream.ended and not stream.reset and not self.closed:
                try:
                    if not stream.head_sent:
                        stream.write_head(200, [(b"content-length", b"0")])
                    stream.finish()
                except (ClientClosed, RuntimeError):
                    pass
        finally:
            stream.task = None
            del stream.exchange
            if not stream.ended and not stream.reset and not self.closed:
                self.reset_stream(stream, _INTERNAL)
            self._forget(stream)

    def _handler_failed(self, stream: H2Stream, exc: Exception) -> None:
        if self.closed or stream.reset or stream.ended:
            return
        if isinstance(exc, ClientClosed) or stream.head_sent:
            log.debug("HTTP/2 stream %d failed after the response head: %r", stream.sid, exc)
            self.reset_stream(stream, _INTERNAL)
            return
        status = exc.status if isinstance(exc, ProxyError) else 500
        if isinstance(exc, ProxyError):
            log.debug("request failed with %d: %s", status, exc)
        else:
            log.error("handler error on %r", stream.exchange, exc_info=exc)
        body = STATUS_TEXT.get(status, b"Internal Server Error")
        try:
            stream.write_head(status, [(b"content-length", b"%d" % len(body))])
        except (ClientClosed, RuntimeError):
            return
        if stream.method != b"HEAD" and len(body) <= self.h2.local_flow_control_window(stream.sid):
            self.h2.send_data(stream.sid, body)
            stream.bytes_sent += len(body)
            stream.remaining = 0
        stream.finish()

    # -- outgoing (called by streams) ------------------------------------------------------
    def send_headers(self, stream: H2Stream, block: list[tuple[bytes, bytes]], end: bool) -> None:
        if stream.reset or self.closed:
            raise ClientClosed("client closed the stream")
        try:
            self.h2.send_headers(stream.sid, block, end_stream=end)
        except h2.exceptions.ProtocolError as exc:  # the peer went away (GOAWAY) or reset it
            stream.reset = True
            raise ClientClosed(f"stream {stream.sid} can no longer answer: {exc}") from None
        self._flush_soon()

    async def send_data(self, stream: H2Stream, data: bytes) -> None:
        h2c = self.h2
        sid = stream.sid
        pos = 0
        total = len(data)
        while pos < total:
            if stream.reset or self.closed:
                raise ClientClosed("client closed the stream")
            try:
                window = h2c.local_flow_control_window(sid)
                if window <= 0:
                    await stream.wait_window()
                    continue
                size = min(window, h2c.max_outbound_frame_size, total - pos)
                h2c.send_data(sid, data if size == total else data[pos : pos + size])
            except h2.exceptions.ProtocolError as exc:
                stream.reset = True
                raise ClientClosed(f"stream {sid} can no longer answer: {exc}") from None
            pos += size
            if size < MAX_FRAME:
                self._flush_soon()  # a small body: batched with the other streams' frames
            else:
                self._flush()
                if self.write_paused:
                    await self.drain()

    def end_stream(self, stream: H2Stream, trailers: list[tuple[bytes, bytes]] | None) -> None:
        if stream.reset or self.closed:
            return
        try:
            if trailers:
                self.h2.send_headers(stream.sid, trailers, end_stream=True)
            else:
                self.h2.end_stream(stream.sid)
        except h2.exceptions.ProtocolError:
            stream.reset = True
        self._flush_soon()

    def send_continue(self, sid: int) -> None:
        stream = self.streams.get(sid)
        if stream is None or stream.head_sent or stream.reset or self.closed:
            return
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.send_headers(sid, [(b":status", b"100")])
        self._flush_soon()

    def reset_stream(self, stream: H2Stream, code: int) -> None:
        if stream.reset or self.closed:
            return
        stream.reset = True
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.reset_stream(stream.sid, code)
        self._flush_soon()

    def _reset_raw(self, sid: int, code: int) -> None:
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.reset_stream(sid, code)
        self._flush_soon()

    def acknowledge(self, sid: int, size: int) -> None:
        if self.closed:
            return
        self.h2.acknowledge_received_data(size, sid)
        self._flush_soon()

    def stream_done(self, stream: H2Stream) -> None:
        """The response ended (the stream may still wait for its request body)."""
        stream.write_deadline = 0.0
        body = stream.body
        if isinstance(body, H2Body) and not body.complete and not stream.reset and not self.closed:
            # Complete response before the whole request: stop the upload (RFC 9113 8.1).
            stream.reset = True
            self._reset_raw(stream.sid, _NO_ERROR)
        if stream.task is None:
            self._forget(stream)

    def _forget(self, stream: H2Stream) -> None:
        if self.streams.get(stream.sid) is not stream:
            return
        if stream.task is not None or not (stream.ended or stream.reset):
            return
        del self.streams[stream.sid]
        if isinstance(stream.body, H2Body):
            stream.body.release()
        if not self.streams:
            if self._shutting_down:
                self._finish_shutdown()
            elif self.config.idle_timeout > 0:
                self.idle_deadline = self.loop.time() + self.config.idle_timeout

    # -- timeouts and shutdown -------------------------------------------------------------
    def check_timeouts(self, now: float) -> None:
        if self.closed:
            return
        if self.read_deadline and now >= self.read_deadline and not self.streams:
            self.abort()  # nothing asked for in time
            return
        if self.idle_deadline and now >= self.idle_deadline and not self.streams:
            self._shutting_down = True
            self._finish_shutdown()
            return
        for stream in list(self.streams.values()):
            if stream.read_deadline and now >= stream.read_deadline:
                stream.read_deadline = 0.0
                stream.body.fail(RequestTimeout("timed out reading the request body"))
            if stream.write_deadline and now >= stream.write_deadline:
                stream.write_deadline = 0.0
                log.debug("HTTP/2 write timeout on stream %d from %s", stream.sid, self.client_ip)
                self.reset_stream(stream, _INTERNAL)
                stream.wake(ClientClosed("write timeout"))
                if stream.task is not None:
                    stream.task.cancel()
                else:
                    self._forget(stream)

    def shutdown(self) -> None:
        """Graceful stop: ``GOAWAY`` now, close once the streams in flight are done."""
        if self._shutting_down or self.closed:
            return
        self._shutting_down = True
        self._flush()
        self._last_accepted = self.h2.highest_inbound_stream_id
        self._goaway_sent = True
        frame = GoAwayFrame(0)
        frame.last_stream_id = self._last_accepted
        frame.error_code = _NO_ERROR
        self.transport.write(frame.serialize())
        if not self.streams:
            self._finish_shutdown()

    def _finish_shutdown(self) -> None:
        if self.closed:
            return
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.close_connection(_NO_ERROR)
        self._flush()
        self._close()

    def __repr__(self) -> str:
        return f"<H2Connection {self.client_ip}:{self.client_port} streams={len(self.streams)} served={self._served}>"


def _clean_trailers(raw: Any) -> Headers:
    out: Headers = []
    for pair in raw:
        name, value = bytes(pair[0]), bytes(pair[1])
        if _NAME.fullmatch(name) is None or _BAD_VALUE.search(value) is not None:
            continue
        if classify_request_header(name) not in (H_PLAIN, H_ALIAS):
            continue
        if is_managed(name):
            continue
        out.append((name, value))
    return out


def starts_h2c(data: bytes) -> bool | None:
    """Whether a plain connection whose first bytes are ``data`` speaks h2c with prior
    knowledge: True, False, or None while ``data`` is a strict prefix of the preface."""
    if len(data) >= len(PREFACE):
        return data.startswith(PREFACE)
    return None if PREFACE.startswith(data) else False


class H2CSniffer(H1Connection):
    """The HTTP/1.1 connection of a plain entry point, which becomes an :class:`H2Connection`
    when the client opens with the HTTP/2 preface (h2c with prior knowledge), as Traefik's
    plain entry points do.  The first bytes (after a PROXY header) are checked once; after that
    the class's own ``_feed`` is back in place and HTTP/1.1 pays nothing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._sniffed = b""
        self.__dict__["_feed"] = self._sniff  # shadows H1Connection._feed until decided

    def _sniff(self, data: bytes) -> None:
        buf = self._sniffed + data
        verdict = starts_h2c(buf)
        if verdict is None:
            self._sniffed = buf
            return
        del self.__dict__["_feed"]
        self._sniffed = b""
        if not verdict:
            self._feed(buf)
            return
        conn = H2Connection(self.app, self.config, self.conns, client=(self.client_ip, self.client_port))
        self.conns.discard(self)
        self.closed = True
        transport = self.transport
        transport.set_protocol(conn)
        conn.connection_made(transport, buf)


class ALPNSelector(asyncio.Protocol):
    """Picks the protocol of a TLS connection once its handshake is done: ``h2`` when ALPN
    negotiated it, HTTP/1.1 otherwise."""

    def __init__(self, h1: Callable[[], asyncio.Protocol], h2_factory: Callable[[], asyncio.Protocol]) -> None:
        self._h1 = h1
        self._h2 = h2_factory

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        protocol = self._h2() if alpn == "h2" else self._h1()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

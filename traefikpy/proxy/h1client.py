"""One HTTP/1.1 connection to an upstream server: request out, response in (llhttp).

Theory of operation
-------------------
A connection is owned by its :class:`~traefikpy.proxy.upstream.Pool`; the forwarder borrows it
for one exchange at a time: ``begin`` -> write the request head (and body) -> ``sent`` ->
``wait_head`` -> ``read_body`` until ``b""`` -> give it back (``reusable``) or ``close``.

While the response head arrives the raw bytes are kept, so the forwarder can pass the head on
without rebuilding it: ``raw_head`` is the status line plus header lines (without the blank
line).  Header names are still reported one by one (cheap in llhttp) to learn the framing,
the hop-by-hop names to cut, and the trailers of a chunked body.  A response to ``HEAD`` stops
the parser right after the head: llhttp cannot be told that no body follows.

Body bytes queue in the connection; above :data:`HIGH_WATER` the socket stops being read until
the forwarder catches up, so a fast upstream never outruns a slow client by more than that.
Anything unexpected (bytes while idle, a reset, an unframed body) marks the connection dead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, cast

import httptools

from traefikpy.proxy.errors import (
    UpstreamClosed,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamResponseTimeout,
)
from traefikpy.proxy.http import Headers
from traefikpy.proxy.resprules import (
    CONNECTION_TOKENS,
    K_CHUNKED,
    K_CONNECTION,
    K_DATE,
    K_LENGTH,
    KEEP_ALIVE_ONLY,
    KNOWN_HEADS,
    RESPONSE_KIND,
    Known,
    classify_response_header,
    connection_tokens,
)

if TYPE_CHECKING:
    from traefikpy.proxy.upstream import Pool

HIGH_WATER: Final = 512 * 1024
IDLE: Final = 0
BUSY: Final = 1
DEAD: Final = 2


class _StopHead(Exception):
    """Raised inside the parser to end a HEAD response after its head."""


class UpstreamConnection(asyncio.Protocol):
    """An HTTP/1.1 client connection (see the module docstring)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.parser = httptools.HttpResponseParser(self)
        self.state = IDLE
        self.reused = False
        self.borrow = 0  # exchanges served so far (lets a borrower tell if it still owns it)
        self.forgotten = False  # the pool no longer tracks it
        self.idle_since = 0.0
        self.write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._head_waiter: asyncio.Future[None] | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        # A fast-path borrower (forward.Forwarder.fast) is told by a call instead of a future.
        self.on_head: Callable[[UpstreamConnection], None] | None = None
        self.waiting: Any = None  # the borrower's state while it waits for on_head
        # per response
        self.head_only = False
        self.got_bytes = False
        self.head_done = False
        self.status = 0
        self.raw_head = b""
        self.headers: Headers = []
        self.hop: list[bytes] | None = None  # lower-case names of hop-by-hop headers to cut
        self.hop_only_keepalive = False  # ...and they are just "Connection: keep-alive"
        self.has_date = False
        self.length: int | None = None
        self.chunked = False
        self.keep_alive = False
        self.complete = False
        self.upgraded = False
        self.extra = b""
        self.trailers: Headers | None = None
        self.error: UpstreamError | None = None
        self._raw = b""
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        previous = self.state
        self.state = DEAD
        self.pool.forget(self)
        self._cancel_timer()
        waiter = self._drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self._drain_waiter = None
        if previous != BUSY or self.upgraded:
            return
        if not self.head_done:
            self._fail(UpstreamClosed("upstream closed the connection before responding"))
        elif not self.complete:
            if self.length is None and not self.chunked and not self.head_only:
                self.complete = True  # close-delimited body: the close is its end
                self.keep_alive = False
                self._wake_body()
            else:
                self._fail(UpstreamProtocolError("upstream closed the connection mid-body"))

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drain()

    def data_received(self, data: bytes) -> None:
        if self.state != BUSY or self.upgraded:
            if self.state == IDLE:
                self.close()  # an idle connection must not speak: it cannot be reused safely
            return
        self.got_bytes = True
        if not self.head_done:
            if not self._raw and not self.head_only:
                end = data.find(b"\r\n\r\n")
                if end > 0:
                    known = KNOWN_HEADS.get(data[: end + 2])
                    if known is not None and len(data) - end - 4 == known[0]:
                        self._known_response(known, data, end)
                        return
            # bytes, not a bytearray: the usual head arrives in one packet and is sliced once
            self._raw = self._raw + data if self._raw else data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self.extra = data[exc.args[0] :]
            self.upgraded = True
            self.transport.pause_reading()
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, _StopHead):
                self.parser = httptools.HttpResponseParser(self)
                self.complete = True
                self._wake_body()
            else:
                self._protocol_error(f"invalid response: {exc.__context__!r}")
        except httptools.HttpParserError as exc:
            self._protocol_error(f"invalid response from upstream: {exc}")
        if self.on_head is not None and self.head_done:
            # Told once the packet is parsed: a small response is complete by then.
            self._head_arrived()

    def _known_response(self, known: Known, data: bytes, end: int) -> None:
        """A complete response whose head is byte-identical to one llhttp already parsed: the
        framing and hop-by-hop facts are known, so llhttp (idle between messages) is skipped."""
        length, status, headers, hop, hop_only_keepalive, keep_alive, has_date = known
        if self._timer is not None:
            self._cancel_timer()
        self.status = status
        self.raw_head = data[: end + 2]
        # shared tuples: nothing appends to them once the head is parsed
        self.headers = headers  # type: ignore[assignment]
        self.hop = hop  # type: ignore[assignment]
        self.hop_only_keepalive = hop_only_keepalive
        self.has_date = has_date
        self.length = length
        self.chunked = False
        self.keep_alive = keep_alive
        self.head_done = True
        self.complete = True
        if length:
            self._chunks.append(data[end + 4 :])
            self._buffered = length
        if self._drain_waiter is not None:
            self._wake_drain()
        self._head_arrived()

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.status = 0
        self.raw_head = b""
        self.headers = []
        self.hop = None
        self.hop_only_keepalive = False
        self.has_date = False
        self.length = None
        self.chunked = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_done:
            if self.trailers is None:
                self.trailers = [(name, value)]
            else:
                self.trailers.append((name, value))
            return
        self.headers.append((name, value))
        kind = RESPONSE_KIND.get(name)
        if kind is None:
            kind = classify_response_header(name)
        if kind:
            if kind == K_LENGTH:
                self.length = int(value)
                return
            if kind == K_DATE:
                self.has_date = True
                return
            if self.hop is None:
                self.hop = [name.lower()]
            else:
                self.hop.append(name.lower())
            if kind == K_CONNECTION:
                tokens = CONNECTION_TOKENS.get(value)
                if tokens is None:
                    tokens = connection_tokens(value)
                if tokens != KEEP_ALIVE_ONLY:
                    self.hop.extend(tokens)
                    self.hop_only_keepalive = False
                elif len(self.hop) > 1:
                    self.hop_only_keepalive = False
                else:
                    self.hop_only_keepalive = True
                return
            self.hop_only_keepalive = False
            if kind == K_CHUNKED:
                self.chunked = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        raw = self._raw
        end = raw.find(b"\r\n\r\n")
        if 100 <= status < 200 and status != 101:
            # Interim response (100 Continue, 103): skip it; the final head follows (llhttp
            # begins a new message for it: on_message_begin resets the head's fields).
            self._raw = raw[end + 4 :]
            return
        if self._timer is not None:
            self._cancel_timer()
        self.status = status
        self.raw_head = raw[: end + 2] if end >= 0 else b""
        self._raw = b""
        self.keep_alive = self.parser.should_keep_alive()
        if self.length is not None and not self.chunked and status != 101 and not self.head_only and end > 0:
            if len(KNOWN_HEADS) >= 512:
                KNOWN_HEADS.clear()  # heads carry a Date: old ones are useless after a second
            KNOWN_HEADS[self.raw_head] = (
                self.length,
                status,
                tuple(self.headers),
                tuple(self.hop) if self.hop is not None else None,
                self.hop_only_keepalive,
                self.keep_alive,
                self.has_date,
            )
        self.head_done = True
        if self._drain_waiter is not None:
            self._wake_drain()  # an upload waiting to drain stops: the answer is here
        self._head_arrived(call_back=False)  # a fast-path borrower is told after the packet (data_received)
        if self.head_only and status != 101:
            raise _StopHead

    def on_body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        self._wake_body()

    def on_message_complete(self) -> None:
        if self.head_done:
            self.complete = True
            self._wake_body()

    # -- used by the forwarder -------------------------------------------------------------
    def begin(self, head_only: bool) -> None:
        """Prepare for a new exchange (``head_only`` for a HEAD request)."""
        self.state = BUSY
        self.borrow += 1
        self.head_only = head_only
        self.got_bytes = False
        self.head_done = False
        self.keep_alive = False
        self.complete = False
        self.trailers = None
        self.error = None
        self._chunks.clear()
        self._buffered = 0
        # The head's fields are reset by on_message_begin (llhttp) or set by _known_response.

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def sent(self, response_header_timeout: float) -> None:
        """The request is out: start ``responseHeaderTimeout`` (0 = wait forever)."""
        if response_header_timeout > 0 and not self.head_done and self.state == BUSY:
            self._timer = self.loop.call_later(response_header_timeout, self._on_header_timeout)

    def _on_header_timeout(self) -> None:
        self._timer = None
        if not self.head_done and self.state == BUSY:
            self._fail(UpstreamResponseTimeout("timeout awaiting response headers", request_sent=True))
            self.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def drain(self) -> None:
        """Wait until the request body may be written again (or a response/error arrived)."""
        if self.write_paused and self.state == BUSY and not self.head_done and self.error is None:
            waiter = self._drain_waiter = self.loop.create_future()
            await waiter
        if self.error is not None:
            raise self.error

    def head_future(self) -> asyncio.Future[None]:
        """A future resolved when the response head (or an error) arrives."""
        waiter = self._head_waiter
        if waiter is None:
            waiter = self._head_waiter = self.loop.create_future()
            if self.head_done or self.error is not None:
                self._head_arrived(call_back=False)
        return waiter

    async def wait_head(self) -> None:
        if not self.head_done:
            if self.error is None:
                await self.head_future()
            if self.error is not None:
                raise self.error

    def take_body(self) -> bytes:
        """Everything buffered so far (used when the response is already complete)."""
        chunks = self._chunks
        if not chunks:
            return b""
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self.transport.resume_reading()
        return data

    async def read_body(self) -> bytes:
        """The next body bytes; ``b""`` at the end of the response."""
        while True:
            if self._chunks:
                return self.take_body()
            if self.complete:
                return b""
            if self.error is not None:
                raise self.error
            waiter = self._body_waiter = self.loop.create_future()
            await waiter

    @property
    def reusable(self) -> bool:
        return self.state == BUSY and self.complete and self.keep_alive and not self.upgraded

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        """Hand the socket to a byte pipe after a 101; the pool forgets the connection."""
        self.state = DEAD
        self.pool.forget(self)
        extra, self.extra = self.extra, b""
        return self.transport, extra

    def close(self) -> None:
        if self.state != DEAD:
            self.state = DEAD
            self.pool.forget(self)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        self.state = DEAD
        self.pool.forget(self)
        if self.transport is not None:
            self.transport.abort()

    # -- internals -------------------------------------------------------------------------
    def _protocol_error(self, message: str) -> None:
        self._fail(UpstreamProtocolError(message, request_sent=True))
        self.abort()

    def _fail(self, exc: UpstreamError) -> None:
        if self.error is None:
            self.error = exc
        self._wake_body()
        self._wake_drain()
        self._head_arrived()

    def _head_arrived(self, call_back: bool = True) -> None:
        """Tell the borrower that the head (or an error) is here: its future or its callback
        (called last, with nothing of this connection touched after it: it may release the
        connection and hand it to the next request)."""
        waiter = self._head_waiter
        if waiter is not None:
            self._head_waiter = None
            if not waiter.done():
                waiter.set_result(None)
        callback = self.on_head
        if callback is not None and call_back:
            self.on_head = None
            callback(self)

    def _wake_body(self) -> None:
        waiter = self._body_waiter
        if waiter is not None:
            self._body_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _wake_drain(self) -> None:
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def __repr__(self) -> str:
        state = ("idle", "busy", "dead")[self.state]
        return f"<UpstreamConnection {self.pool.key[1]} {state} reused={self.reused}>"

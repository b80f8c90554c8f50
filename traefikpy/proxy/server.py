"""The HTTP/1.1 server protocol: one :class:`H1Connection` per client connection.

Theory of operation
-------------------
State is grouped per connection (transport, peer, deadlines, the pipeline of requests) and per
request (its :class:`~traefikpy.proxy.h1writer.H1Writer`, which also records the request).
The reading side (llhttp callbacks) is the :class:`~traefikpy.proxy.h1reader.RequestReader`
mixin; this module owns the lifecycle: dispatch, keep-alive, refusals, timeouts, shutdown.

One task per connection runs the handler for each request in turn (cheaper than a task per
request): requests are answered strictly in order, a pipelined request waits in a queue (and
reading pauses) until the previous response ended.  A malformed request never reaches the
handler: it gets its 4xx/5xx once the responses before it are written, then the connection
closes.  Handler errors become a 500 (or the error's own status) if nothing was sent yet, else
the connection is aborted; either way only this connection is affected.

Timeouts are deadlines (plain floats) checked by the ``ConnectionSet`` sweeper, so a request
costs no timer handles: ``readTimeout`` covers a whole request from its first byte (from accept
for the first one), ``writeTimeout`` the response from the end of the request head,
``idleTimeout`` the wait between keep-alive requests.  After a ``101`` the forwarder hijacks the
socket (``hijack``) and the byte pipe owns it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable
from typing import Any, Final, cast

import httptools

from traefikpy.proxy.connections import ConnectionSet, ProxyProtocolPolicy, ServerConfig
from traefikpy.proxy.errors import STATUS_TEXT, ClientClosed, ProxyError, RequestBodyError, RequestTimeout
from traefikpy.proxy.h1reader import PAUSE_PIPELINE, RequestReader
from traefikpy.proxy.h1request import HeadFacts, RequestState
from traefikpy.proxy.h1rules import MAX_DISCARD, reject_response
from traefikpy.proxy.h1writer import H1Writer
from traefikpy.proxy.http import Handler, Headers

__all__ = ["ConnectionSet", "H1Connection", "ProxyProtocolPolicy", "ServerConfig"]

log = logging.getLogger("traefikpy.proxy")

_PAUSE_BODY: Final = 1
_PAUSE_STASH: Final = 4  # upgrade pending or request rejected: bytes wait in the stash
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"


class H1Connection(RequestReader, asyncio.Protocol):
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
        self._side: asyncio.Task[None] | None = None  # a fast-path request finishing in a task
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
        self._known_head = b""  # see HeadFacts
        self._known: HeadFacts | None = None
        self.candidate: HeadFacts | None = None
        self._messages = 0

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
        self._known_head = b""

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
        if not self.upgraded:  # like Go's request context: the client is gone
            task = self._task
            if task is not None and not task.done():
                task.cancel()
            side = self._side
            if side is not None and not side.done():
                # Not at once: a continuation created in this loop iteration has not started,
                # and a task cancelled before its first step never runs the cleanup of the work
                # it was given (an upstream connection would stay busy).  Its first step is
                # already queued, so it runs before this cancel.
                self.loop.call_soon(side.cancel)

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

    # -- dispatch --------------------------------------------------------------------------
    def _activate(self, writer: H1Writer) -> None:
        self._active = writer
        self._served += 1
        try_fast = getattr(self.app, "try_fast", None)
        if try_fast is not None:
            writer.started = True
            if try_fast(writer.exchange):
                return  # under way without a task (see http.fast_of)
            writer.started = False
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
                if writer is None or writer.started:
                    waiter = self._wake = loop.create_future()
                    await waiter
                    continue
                writer.started = True
                if not await self._handle(writer, self.app(writer.exchange)):
                    break
        except asyncio.CancelledError:
            self.abort()
        finally:
            self._task = None
            self._upgraded_end()

    async def _handle(self, writer: H1Writer, work: Awaitable[None]) -> bool:
        """Await one request's handler ``work`` and settle its response; False when the
        connection stops serving requests (upgraded, or the response never ended)."""
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._handler_failed(writer, exc)
        else:
            if not writer.ended and not self.closed and not self.upgraded:
                if not writer.head_sent:
                    writer.write_head(200, [(b"Content-Length", b"0")])
                writer.finish()
        # Break the writer <-> exchange cycle so both die by refcount, not by the GC.
        del writer.exchange
        if self.upgraded:
            return False
        if self._active is writer:  # nothing ended the response: give up on it
            self.abort()
            return False
        return True

    def run_detached(self, writer: H1Writer, work: Awaitable[None]) -> None:
        """Finish a request that a fast path took (``writer.started``) in a task of its own."""
        self._side = self.loop.create_task(self._detached(writer, work))

    async def _detached(self, writer: H1Writer, work: Awaitable[None]) -> None:
        try:
            await self._handle(writer, work)
        except asyncio.CancelledError:
            self.abort()
        finally:
            if self._side is asyncio.current_task():  # (the next request may have its own by now)
                self._side = None
            self._upgraded_end()

    def _upgraded_end(self) -> None:
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
                self._resume(PAUSE_PIPELINE)
            self._activate(nxt)
            return
        if self._paused:
            self._resume(PAUSE_PIPELINE)
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


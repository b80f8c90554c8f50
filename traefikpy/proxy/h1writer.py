"""Writing one HTTP/1.1 response to a client connection (implements ``ResponseWriter``).

Theory of operation
-------------------
A writer is created per exchange and bound to its connection.  ``send_head`` picks the framing
from what the handler declared and what the client speaks:

* ``Content-Length`` given -> length-delimited (a short body closes the connection, a long one
  is an error);
* no body possible (HEAD, 1xx, 204, 304) -> headers only;
* otherwise chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0 clients.

The connection decides keep-alive (client wishes, ``keepAliveMaxRequests``/``MaxTime``,
shutdown, an unread request body) and the writer states it with ``Connection: close`` (or
``keep-alive`` for HTTP/1.0).  Hop-by-hop headers a handler passes are dropped; a ``Date`` is
added when missing, as Go's server does.  ``write_raw`` is the forwarder's fast path: it takes the
upstream's header block as bytes, adds only the framing and connection lines, and can write head
and a complete small body with a single ``transport.write``.
"""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING, Any, Final

from traefikpy.proxy.errors import ClientClosed
from traefikpy.proxy.http import REASONS, Headers

if TYPE_CHECKING:
    from traefikpy.proxy.h1body import EmptyBody, RequestBody
    from traefikpy.proxy.http import Exchange
    from traefikpy.proxy.server import H1Connection

MODE_NONE: Final = 0  # no body may follow the head
MODE_LENGTH: Final = 1
MODE_CHUNKED: Final = 2
MODE_CLOSE: Final = 3  # body ends when the connection closes (HTTP/1.0 client, unknown length)

_STATUS_LINES: dict[int, bytes] = {
    code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in REASONS.items()
}
_LAST_CHUNK: Final = b"0\r\n\r\n"
_HOP_RESPONSE: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"upgrade"}
)
_CHECK_FIRST: Final = frozenset(b"cCdDkKpPtTuU")


def status_line(status: int, reason: bytes | None = None) -> bytes:
    if reason is None:
        line = _STATUS_LINES.get(status)
        if line is None:
            line = b"HTTP/1.1 %d status code %d\r\n" % (status, status)
            if 100 <= status <= 999:
                _STATUS_LINES[status] = line
        return line
    return b"HTTP/1.1 %d %s\r\n" % (status, reason.replace(b"\r", b"").replace(b"\n", b""))


_date_cache: list[Any] = [0, b""]


def date_header() -> bytes:
    """``Date: <IMF-fixdate>\\r\\n``, formatted at most once per second."""
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = b"Date: %s\r\n" % email.utils.formatdate(now, usegmt=True).encode()
    line: bytes = _date_cache[1]
    return line


class H1Writer:
    """Response writer of one exchange on an HTTP/1.1 connection.

    It is also the connection's record of the request in flight (version, method, keep-alive
    wish, body), which saves an object per request."""

    __slots__ = (
        "_conn", "_transport", "version", "method", "keep_alive", "upgraded", "discard", "started",
        "body", "exchange", "mode", "remaining", "head_sent", "ended", "close", "status",
        "bytes_sent",
    )

    def __init__(self, conn: H1Connection, version: bytes, method: bytes, keep_alive: bool) -> None:
        self._conn = conn
        self._transport = conn.transport
        self.version = version
        self.method = method
        self.keep_alive = keep_alive
        self.upgraded = False
        self.discard = False  # the response ended: remaining request body bytes are skipped
        self.started = False  # the handler was called (the request may have been forwarded)
        self.body: RequestBody | EmptyBody
        self.exchange: Exchange
        self.mode = MODE_NONE
        self.remaining = 0
        self.head_sent = False
        self.ended = False
        self.close = False  # the connection closes after this response
        self.status = 0
        self.bytes_sent = 0  # response body bytes written (metrics, access log)

    # -- head ------------------------------------------------------------------------------
    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        self.write_head(status, headers, reason)

    def write_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        """Synchronous ``send_head`` (the write is buffered by the transport)."""
        if self.head_sent:
            raise RuntimeError("response head already sent")
        if self._conn.closed:
            raise ClientClosed("client closed the connection")
        parts = [status_line(status, reason)]
        length: int | None = None
        has_date = False
        upgrade_value: bytes | None = None
        for name, value in headers:
            if name[0] in _CHECK_FIRST:
                lname = name.lower()
                if lname in _HOP_RESPONSE:
                    if lname == b"upgrade" and status == 101:
                        upgrade_value = value
                    continue
                if lname == b"content-length":
                    try:
                        length = int(value)
                    except ValueError:
                        continue
                    if length < 0:
                        length = None
                        continue
                elif lname == b"date":
                    has_date = True
            if 13 in value or 10 in value:  # CR, LF
                value = value.replace(b"\r", b" ").replace(b"\n", b" ")
            parts.append(name + b": " + value + b"\r\n")
        if not has_date:
            parts.append(date_header())
        if status == 101:
            self.upgraded = True
            parts.append(b"Connection: Upgrade\r\n")
            if upgrade_value is not None:
                parts.append(b"Upgrade: " + upgrade_value + b"\r\n")
            parts.append(b"\r\n")
            self.mode = MODE_NONE
            self.head_sent = True
            self.status = status
            self._transport.write(b"".join(parts))
            return
        if status < 200:
            # Interim response (103 Early Hints): the final head follows.
            if self.version == b"1.1":
                parts.append(b"\r\n")
                self._transport.write(b"".join(parts))
            return
        parts.append(self._frame(status, length))
        self._transport.write(b"".join(parts))

    def will_close(self) -> bool:
        """Whether the connection will close after this response (decided now)."""
        return self._conn.must_close(self)

    def _frame(self, status: int, length: int | None, close: bool | None = None) -> bytes:
        """Pick the body framing; returns the closing lines of the head.  ``close``: what
        ``will_close()`` returned just before, if the caller asked."""
        self.head_sent = True
        self.status = status
        if self.method == b"HEAD" or status == 204 or status == 304:
            mode = MODE_NONE
        elif length is not None:
            mode = MODE_LENGTH
            self.remaining = length
        elif self.version == b"1.1":
            mode = MODE_CHUNKED
        else:
            mode = MODE_CLOSE
        self.mode = mode
        if mode == MODE_CLOSE:
            close = True
        elif close is None:
            close = self._conn.must_close(self)
        self.close = close
        if mode == MODE_CHUNKED:
            return b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" if close else (
                b"Transfer-Encoding: chunked\r\n\r\n"
            )
        if close:
            return b"Connection: close\r\n\r\n"
        return b"\r\n" if self.version == b"1.1" else b"Connection: keep-alive\r\n\r\n"

    def write_raw(
        self,
        head: bytes,
        status: int,
        length: int | None,
        body: bytes = b"",
        complete: bool = False,
        close: bool | None = None,
    ) -> None:
        """Fast path: ``head`` is ``HTTP/1.1 <status> ...\\r\\n`` plus header lines without the
        final CRLF, already free of hop-by-hop headers.  ``length`` is the Content-Length in
        ``head`` (None if absent).  With ``complete`` the whole ``body`` is written and the
        response ends, all in one write.  ``close`` as for ``_frame``."""
        if self.head_sent:
            raise RuntimeError("response head already sent")
        if self._conn.closed:
            raise ClientClosed("client closed the connection")
        if (complete and close is False and length == len(body) and self.version == b"1.1"
                and self.method != b"HEAD" and status != 204 and status != 304):
            # The usual proxied response, decided here as _frame and _finish would decide it:
            # whole, length-delimited, the connection kept.
            self.head_sent = self.ended = True
            self.status = status
            self.mode = MODE_LENGTH
            self.bytes_sent += length
            self._transport.write(head + b"\r\n" + body)
            self._conn.response_done(self)
            return
        tail = self._frame(status, length, close)
        if not complete:
            self._transport.write(head + tail)
            if body:
                self.write_body(body)
            return
        self.bytes_sent += len(body)
        mode = self.mode
        if mode == MODE_LENGTH:
            self.remaining -= len(body)
            self._transport.write(head + tail + body)
        elif mode == MODE_CHUNKED:
            if body:
                self._transport.write(b"%s%s%x\r\n%s\r\n0\r\n\r\n" % (head, tail, len(body), body))
            else:
                self._transport.write(head + tail + _LAST_CHUNK)
        elif mode == MODE_CLOSE:
            self._transport.write(head + tail + body)
        else:
            self._transport.write(head + tail)
        self._finish()

    # -- body ------------------------------------------------------------------------------
    def write_body(self, data: bytes) -> bool:
        """Write a body chunk now; returns True when the caller should ``await drain()``."""
        if not self.head_sent or self.ended:
            raise RuntimeError("send_head() must come first and end() last")
        conn = self._conn
        if conn.closed:
            raise ClientClosed("client closed the connection")
        mode = self.mode
        if not data or mode == MODE_NONE:
            return False
        self.bytes_sent += len(data)
        if mode == MODE_CHUNKED:
            self._transport.writelines((b"%x\r\n" % len(data), data, b"\r\n"))
        elif mode == MODE_LENGTH:
            if len(data) > self.remaining:
                # More than declared: never let it reach the client as a smuggled response.
                conn.abort()
                raise RuntimeError("response body longer than its Content-Length")
            self.remaining -= len(data)
            self._transport.write(data)
        else:
            self._transport.write(data)
        return conn.write_paused

    async def send_body(self, data: bytes) -> None:
        if self.write_body(data):
            await self._conn.drain()

    async def drain(self) -> None:
        if self._conn.write_paused:
            await self._conn.drain()

    async def end(self, trailers: Headers | None = None) -> None:
        self.finish(trailers)

    def finish(self, trailers: Headers | None = None) -> None:
        """Synchronous ``end``."""
        if self.ended:
            return
        if not self.head_sent:
            raise RuntimeError("end() before send_head()")
        if self.mode == MODE_CHUNKED and not self._conn.closed:
            if trailers:
                lines = [b"0\r\n"]
                for name, value in trailers:
                    if 13 in value or 10 in value:  # CR, LF
                        continue
                    lines.append(name + b": " + value + b"\r\n")
                lines.append(b"\r\n")
                self._transport.write(b"".join(lines))
            else:
                self._transport.write(_LAST_CHUNK)
        self._finish()

    def _finish(self) -> None:
        self.ended = True
        if self.mode == MODE_LENGTH and self.remaining > 0:
            self.close = True  # truncated body: the client must not reuse the connection
        self._conn.response_done(self)

    # -- upgrade ---------------------------------------------------------------------------
    def hijack(self) -> tuple[Any, bytes]:
        """Take the client socket after a 101: returns ``(transport, bytes_already_read)``."""
        if not self.upgraded:
            raise RuntimeError("hijack() needs a 101 response head first")
        return self._conn.hijack(self)

    def __repr__(self) -> str:
        return f"<H1Writer {self.method.decode()} status={self.status} mode={self.mode} ended={self.ended}>"

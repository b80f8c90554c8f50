"""The request body of an HTTP/1.1 exchange: a bounded buffer between the parser and the handler.

The server's parser ``feed``s decoded body bytes; the handler ``read``s them.  Above
:data:`HIGH_WATER` buffered bytes the body asks its connection to pause reading the socket, and
asks it to resume once the handler drained it below :data:`LOW_WATER`, so a 50 MB upload through a
slow upstream never sits in memory.  ``Expect: 100-continue`` is honoured lazily: the interim
``100 Continue`` goes out on the first ``read`` only, so a handler that answers without reading
(auth failure, redirect) never invites the body.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final, Protocol

from traefikpy.proxy.errors import ClientClosed, ProxyError
from traefikpy.proxy.http import BodyTooLarge, Headers, read_all

HIGH_WATER: Final = 256 * 1024
LOW_WATER: Final = 64 * 1024


class BodySource(Protocol):
    """What a body needs from its connection."""

    def body_pause(self) -> None: ...

    def body_resume(self) -> None: ...

    def send_continue(self) -> None: ...


class RequestBody:
    """A streamed request body (implements :class:`traefikpy.proxy.http.Body`)."""

    __slots__ = (
        "length", "trailers", "_chunks", "_buffered", "_done", "_error", "_waiter", "_source",
        "_expect", "_paused", "received", "consumed",
    )

    def __init__(self, source: BodySource, length: int | None, expect_continue: bool = False) -> None:
        self.length = length
        self.trailers: Headers | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._source = source
        self._expect = expect_continue
        self._paused = False
        self.received = 0  # decoded bytes fed so far
        self.consumed = False  # True once read() returned b"" (the handler saw the end)

    # -- parser side ---------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self.received += len(data)
        if self._buffered > HIGH_WATER and not self._paused:
            self._paused = True
            self._source.body_pause()
        self._wake()

    def finish(self, trailers: Headers | None = None) -> None:
        self._done = True
        if trailers:
            self.trailers = trailers
        self._wake()

    def fail(self, exc: BaseException) -> None:
        """The body can no longer complete (bad framing, timeout, client gone)."""
        if not self._done:
            self._error = exc
        self._wake()

    def ready(self) -> bool:
        """``read`` would return without waiting."""
        return bool(self._chunks) or self._done or self._error is not None

    @property
    def complete(self) -> bool:
        """Every byte of the body has been received from the client."""
        return self._done

    @property
    def expects_continue(self) -> bool:
        """The client waits for ``100 Continue`` and has not been sent one."""
        return self._expect

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- handler side ---------------------------------------------------------------------
    async def read(self) -> bytes:
        """The next chunk of the body, ``b""`` once at the end."""
        while True:
            if self._chunks:
                if len(self._chunks) == 1:
                    data = self._chunks.popleft()
                else:
                    data = b"".join(self._chunks)
                    self._chunks.clear()
                self._buffered = 0
                if self._paused:
                    self._paused = False
                    self._source.body_resume()
                return data
            if self._done:
                self.consumed = True
                return b""
            if self._error is not None:
                raise self._error
            if self._expect:
                self._expect = False
                self._source.send_continue()
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            await waiter

    async def read_all(self, limit: int | None = None) -> bytes:
        if limit is not None and self.length is not None and self.length > limit:
            raise BodyTooLarge(f"request body of {self.length} bytes exceeds {limit}")
        return await read_all(self, limit)

    def __repr__(self) -> str:
        state = "done" if self._done else "streaming"
        return f"<RequestBody length={self.length} received={self.received} {state}>"


class EmptyBody:
    """The body of a request without one (no Content-Length, not chunked, or zero length)."""

    __slots__ = ("length", "trailers", "consumed")

    complete = True
    expects_continue = False
    received = 0

    def __init__(self, length: int = 0) -> None:
        self.length: int | None = length
        self.trailers: Headers | None = None
        self.consumed = True

    def ready(self) -> bool:
        return True

    async def read(self) -> bytes:
        return b""

    async def read_all(self, limit: int | None = None) -> bytes:
        return b""

    def fail(self, exc: BaseException) -> None:
        return None

    def __repr__(self) -> str:
        return "<EmptyBody>"


NO_BODY: Final = EmptyBody(0)
"""The shared body of HTTP/1.1 requests without one (nothing in it changes)."""


def client_gone() -> ProxyError:
    return ClientClosed("client closed the connection")

"""A bidirectional byte pipe between two transports (WebSocket and other upgrades).

After a ``101 Switching Protocols`` both sockets stop speaking HTTP: each transport gets a
:class:`_End` protocol that writes what it reads into the other transport.  Flow control is
end-to-end: when one side's write buffer fills up, the other side stops reading until it
drains.  A half-close (EOF) is passed on with ``write_eof`` where the transport supports it
(plain TCP); the pipe finishes when both sides are closed.
"""

from __future__ import annotations

import asyncio


class _End(asyncio.Protocol):
    __slots__ = ("transport", "peer", "eof", "closed", "pipe", "sent")

    def __init__(self, transport: asyncio.Transport, pipe: _Pipe) -> None:
        self.transport = transport
        self.peer: _End
        self.eof = False
        self.closed = False
        self.pipe = pipe
        self.sent = 0  # bytes written to this end's transport

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if not peer.closed:
            peer.sent += len(data)
            peer.transport.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        peer = self.peer
        if peer.closed or peer.eof or not peer.transport.can_write_eof():
            peer.transport.close()
            return False
        peer.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        if not self.peer.closed:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if not self.peer.closed:
            self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.peer.closed:
            self.peer.transport.close()
        self.pipe.ended()


class _Pipe:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.done: asyncio.Future[None] = loop.create_future()
        self.ends: tuple[_End, _End] | None = None

    def ended(self) -> None:
        if self.ends and all(end.closed for end in self.ends) and not self.done.done():
            self.done.set_result(None)


async def pipe(a: asyncio.Transport, b: asyncio.Transport, to_b: bytes = b"", to_a: bytes = b"") -> tuple[int, int]:
    """Copy bytes both ways until both transports are closed.

    ``to_b``/``to_a`` are bytes already read from ``a``/``b`` that must reach the other side
    first.  Returns ``(bytes sent to a, bytes sent to b)``.  Cancelling closes both sides.
    """
    state = _Pipe(asyncio.get_running_loop())
    end_a, end_b = _End(a, state), _End(b, state)
    end_a.peer, end_b.peer = end_b, end_a
    state.ends = (end_a, end_b)
    for end in (end_a, end_b):
        if end.transport.is_closing():
            end.closed = True
    a.set_protocol(end_a)
    b.set_protocol(end_b)
    if to_b and not end_b.closed:
        end_b.sent += len(to_b)
        b.write(to_b)
    if to_a and not end_a.closed:
        end_a.sent += len(to_a)
        a.write(to_a)
    if end_a.closed or end_b.closed:
        a.close()
        b.close()
    else:
        a.resume_reading()
        b.resume_reading()
    try:
        await state.done
    except asyncio.CancelledError:
        a.abort()
        b.abort()
        raise
    return end_a.sent, end_b.sent

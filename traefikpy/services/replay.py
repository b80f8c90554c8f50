"""Request replay for ``mirroring`` and ``failover``: a body read once and served again, a copy of
the request for a second service, and a writer that discards a response.

Nothing here blocks or spawns: buffering is bounded by the caller's limit, and a body that turns
out too large is handed back as the bytes already read followed by the rest of the stream.
"""

from __future__ import annotations

from traefikpy.proxy.http import Body, Exchange, Headers, ResponseWriter, read_all


class ReplayBody:
    """A :class:`~traefikpy.proxy.http.Body` serving ``data`` and then, optionally, what is left of
    another body (``rest``).  Each instance is read once; make one per consumer."""

    __slots__ = ("length", "trailers", "_data", "_rest")

    def __init__(self, data: bytes, *, length: int | None, trailers: Headers | None = None, rest: Body | None = None) -> None:
        self.length = length
        self.trailers = trailers
        self._data = data
        self._rest = rest

    async def read(self) -> bytes:
        if self._data:
            data, self._data = self._data, b""
            return data
        if self._rest is not None:
            chunk = await self._rest.read()
            if not chunk:
                self.trailers = self._rest.trailers
                self._rest = None
            return chunk
        return b""

    async def read_all(self, limit: int | None = None) -> bytes:
        return await read_all(self, limit)

    def __repr__(self) -> str:
        return f"<ReplayBody {len(self._data)} bytes buffered length={self.length} rest={self._rest is not None}>"


async def read_limited(body: Body, limit: int) -> tuple[bytes, bool]:
    """Read ``body`` up to ``limit`` bytes (negative: unlimited).  Returns the bytes read and
    whether the whole body fit; when it did not, more than ``limit`` bytes were read and the rest
    is still in ``body``."""
    parts: list[bytes] = []
    size = 0
    while chunk := await body.read():
        parts.append(chunk)
        size += len(chunk)
        if 0 <= limit < size:
            return b"".join(parts), False
    return b"".join(parts), True


class DiscardWriter:
    """A :class:`~traefikpy.proxy.http.ResponseWriter` that drops the response (mirrors), keeping
    only its status and size for tests and logs."""

    __slots__ = ("status", "bytes", "ended")

    def __init__(self) -> None:
        self.status = 0
        self.bytes = 0
        self.ended = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        self.status = status

    async def send_body(self, data: bytes) -> None:
        self.bytes += len(data)

    async def end(self, trailers: Headers | None = None) -> None:
        self.ended = True


def copy_exchange(ex: Exchange, body: Body, writer: ResponseWriter, headers: Headers | None = None) -> Exchange:
    """A new Exchange for the same request (head copied, so the copy may be edited freely), with
    its own body and writer and no response hooks."""
    copy = Exchange(
        method=ex.method,
        raw_path=ex.raw_path,
        query=ex.query,
        version=ex.version,
        headers=list(ex.headers) if headers is None else headers,
        host=ex.host,
        scheme=ex.scheme,
        client_ip=ex.client_ip,
        client_port=ex.client_port,
        entrypoint=ex.entrypoint,
        body=body,
        writer=writer,
        path=ex.path,
        tls=ex.tls,
        started=ex.started,
    )
    copy.router = ex.router
    if hasattr(copy, "upgrade"):
        copy.upgrade = b""  # a copy never takes over the client connection
    return copy


def without_body_headers(headers: Headers) -> Headers:
    """``headers`` for a copy sent without the body: framing headers replaced by a zero length when
    the original had a body."""
    had_body = False
    out: Headers = []
    for name, value in headers:
        lname = name.lower()
        if lname == b"content-length" or lname == b"transfer-encoding":
            had_body = had_body or value.strip() not in (b"0", b"")
            continue
        out.append((name, value))
    if had_body:
        out.append((b"Content-Length", b"0"))
    return out

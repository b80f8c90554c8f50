"""Real backend servers for the data-plane tests (127.0.0.1, free ports).

:class:`Backend` is a small HTTP/1.1 server (asyncio streams + httptools) whose behaviour is
picked by the request path, so one instance serves every scenario:

=====================  ==========================================================================
``/echo...``           200, JSON of what arrived: method, target, headers, body, trailers
``/chunked``           chunked response (``n`` chunks of ``size`` bytes)
``/trailers``          chunked response with trailers ``X-Checksum`` and ``X-Count``
``/bytes``             ``size`` bytes with Content-Length, written in 64 KiB pieces
``/nolength``          body delimited by closing the connection
``/delay``             waits ``ms`` before answering
``/status/<code>``     that status with a short body (none for 204/304)
``/close``             closes without answering; ``/reset`` aborts (RST)
``/partial``           promises 100 bytes, sends 10, closes
``/upload``            reads the body, answers its size and sha256
``/early``             answers 413 without reading the body
``/interim``           sends ``103 Early Hints`` then the response
``/hop``               response with hop-by-hop headers a proxy must remove
``/switch``            101 to a protocol nobody asked for
``/stale-next``        echo, then drops the connection when its next request arrives
=====================  ==========================================================================

Every request is counted in ``requests`` (the hostile-input tests assert nothing leaked through)
and every accepted connection in ``connections`` (pool reuse tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools


@dataclass
class Seen:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


class _Request:
    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.hasher: Any = None  # /upload hashes as it goes instead of keeping the body
        self.size = 0
        self.trailers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False


class _Parser:
    """httptools callbacks collecting requests; the handler reads them in order."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.ready: asyncio.Queue[_Request] = asyncio.Queue()
        self.cur: _Request | None = None
        self.body_event = asyncio.Event()

    def on_message_begin(self) -> None:
        self.cur = _Request()

    def on_url(self, url: bytes) -> None:
        assert self.cur is not None
        self.cur.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.cur is not None
        (self.cur.trailers if self.cur.head_done else self.cur.headers).append((name, value))

    def on_headers_complete(self) -> None:
        assert self.cur is not None
        self.cur.head_done = True
        if self.cur.url.startswith(b"/upload"):
            self.cur.hasher = hashlib.sha256()
        self.ready.put_nowait(self.cur)

    def on_body(self, body: bytes) -> None:
        assert self.cur is not None
        self.cur.size += len(body)
        if self.cur.hasher is not None:
            self.cur.hasher.update(body)
        else:
            self.cur.body += body
        self.body_event.set()

    def on_message_complete(self) -> None:
        assert self.cur is not None
        self.cur.complete = True
        self.body_event.set()


class Backend:
    """A scripted HTTP/1.1 backend; ``await Backend.start()``, ``await b.stop()``."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.connections = 0
        self.scheme = "http"
        self.peer_certs: list[Any] = []
        self.stale_closes = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    async def start(cls, host: str = "127.0.0.1", ssl: Any = None) -> Backend:
        self = cls()
        self.scheme = "https" if ssl is not None else "http"
        self._server = await asyncio.start_server(self._serve, host, 0, ssl=ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        sslobj = writer.get_extra_info("ssl_object")
        if sslobj is not None:
            self.peer_certs.append(sslobj.getpeercert())
        self._writers.add(writer)
        parser = _Parser()
        feeder = asyncio.create_task(self._feed(reader, parser, writer))
        stale = False
        try:
            while True:
                get = asyncio.create_task(parser.ready.get())
                done, _ = await asyncio.wait({get, feeder}, return_when=asyncio.FIRST_COMPLETED)
                if get not in done:
                    get.cancel()
                    return
                req = get.result()
                if stale:
                    # Like a server whose keep-alive timer fired as the request arrived.
                    self.stale_closes += 1
                    writer.transport.abort()
                    return
                stale = req.url.startswith(b"/stale-next")
                keep = await self._handle(req, parser, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            feeder.cancel()
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def _feed(self, reader: asyncio.StreamReader, parser: _Parser, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                try:
                    parser.parser.feed_data(data)
                except httptools.HttpParserUpgrade:
                    return
        except (ConnectionError, httptools.HttpParserError):
            writer.transport.abort()

    async def _body(self, req: _Request, parser: _Parser) -> bytes:
        while not req.complete:
            parser.body_event.clear()
            await parser.body_event.wait()
        return bytes(req.body)

    async def _handle(self, req: _Request, parser: _Parser, writer: asyncio.StreamWriter) -> bool:
        target = req.url.decode("latin-1")
        parts = urlsplit(target)
        path = parts.path
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        method = parser.parser.get_method().decode()
        seen = Seen(method, target, [(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.headers])
        self.requests.append(seen)
        head_only = method == "HEAD"

        if path == "/early":
            await self._send(writer, 413, b"too big\n", close=True)
            return False
        if path == "/close":
            writer.close()
            return False
        if path == "/reset":
            writer.transport.abort()
            return False
        body = await self._body(req, parser)
        seen.body = body
        seen.trailers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in req.trailers]

        if path.startswith("/delay"):
            await asyncio.sleep(int(q.get("ms", "100")) / 1000)
        if path.startswith(("/echo", "/delay", "/stale-next", "/prefix")):
            payload = json.dumps(
                {
                    "method": method,
                    "target": target,
                    "headers": seen.headers,
                    "body": body.decode("latin-1"),
                    "trailers": seen.trailers,
                }
            ).encode()
            extra = [(b"Content-Type", b"application/json")]
            await self._send(writer, 200, payload, extra, head_only=head_only)
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            await self._send(writer, code, b"" if code in (204, 304) else b"status %d\n" % code, head_only=head_only)
        elif path == "/chunked":
            n, size = int(q.get("n", "3")), int(q.get("size", "5"))
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
            if not head_only:
                for i in range(n):
                    writer.write(b"%x\r\n%s\r\n" % (size, bytes([97 + i % 26]) * size))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
        elif path == "/trailers":
            chunks = [b"hello ", b"trailer ", b"world"]
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum, X-Count\r\n\r\n")
            for chunk in chunks:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            digest = hashlib.sha256(b"".join(chunks)).hexdigest().encode()
            writer.write(b"0\r\nX-Checksum: " + digest + b"\r\nX-Count: 3\r\n\r\n")
        elif path == "/bytes":
            size = int(q.get("size", "1000"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            if not head_only:
                piece = b"x" * 65536
                left = size
                while left:
                    n = min(left, len(piece))
                    writer.write(piece[:n])
                    left -= n
                    await writer.drain()
        elif path == "/nolength":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end")
            await writer.drain()
            writer.close()
            return False
        elif path == "/partial":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
            await writer.drain()
            writer.close()
            return False
        elif path == "/upload":
            payload = json.dumps({"size": req.size, "sha256": req.hasher.hexdigest()}).encode()
            await self._send(writer, 200, payload)
        elif path == "/interim":
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            await self._send(writer, 200, b"final\n")
        elif path == "/hop":
            writer.write(
                b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n"
                b"Proxy-Authenticate: Basic\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok"
            )
        elif path == "/switch":
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\nConnection: Upgrade\r\n\r\n")
            await writer.drain()
            return False
        else:
            await self._send(writer, 404, b"no such backend route\n")
        await writer.drain()
        return True

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        close: bool = False,
        head_only: bool = False,
    ) -> None:
        lines = [b"HTTP/1.1 %d X\r\n" % status]
        for k, v in headers or []:
            lines.append(k + b": " + v + b"\r\n")
        if status not in (204, 304):
            lines.append(b"Content-Length: %d\r\n" % len(body))
        if close:
            lines.append(b"Connection: close\r\n")
        lines.append(b"\r\n")
        writer.write(b"".join(lines) + (b"" if head_only else body))
        await writer.drain()


def echo_json(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body)
    return data

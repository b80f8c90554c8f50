"""A scripted HTTP/1.1 server for the body/resilience middleware tests (127.0.0.1, free port).

``ScriptServer.start(script)``: ``script(request) -> Reply`` decides each answer; ``requests``
records what arrived (method, target, headers, body, whether it was chunked).  Replies can be
length-delimited or chunked with trailers (what a gRPC-over-HTTP/1.1 backend sends).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import httptools


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] | None = None  # chunked body when set
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    length: bool = True  # send Content-Length (non-chunked replies)


class _Parser:
    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.done = asyncio.Event()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.done.set()


class ScriptServer:
    def __init__(self, script: Callable[[Request], Reply]) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    async def start(cls, script: Callable[[Request], Reply]) -> ScriptServer:
        self = cls(script)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                state = _Parser()
                parser = httptools.HttpRequestParser(state)
                while not state.done.is_set():
                    data = await reader.read(65536)
                    if not data:
                        return
                    parser.feed_data(data)
                req = Request(
                    parser.get_method().decode(), state.url.decode("latin-1"),
                    [(k.decode("latin-1"), v.decode("latin-1")) for k, v in state.headers], bytes(state.body),
                )
                self.requests.append(req)
                reply = self.script(req)
                writer.write(_render(reply, req.method == "HEAD"))
                await writer.drain()
        except (ConnectionError, httptools.HttpParserError):
            return
        finally:
            writer.close()


def _render(reply: Reply, head_only: bool) -> bytes:
    lines = [b"HTTP/1.1 %d X\r\n" % reply.status]
    lines += [k + b": " + v + b"\r\n" for k, v in reply.headers]
    if reply.chunks is not None:
        lines.append(b"Transfer-Encoding: chunked\r\n\r\n")
        for chunk in reply.chunks:
            lines.append(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        lines.append(b"0\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in reply.trailers) + b"\r\n")
        return b"".join(lines)
    if reply.length:
        lines.append(b"Content-Length: %d\r\n" % len(reply.body))
    lines.append(b"\r\n")
    return b"".join(lines) + (b"" if head_only else reply.body)


def flaky(failures: int, status: int = 500) -> Callable[[Request], Reply]:
    """Answers ``status`` to the first ``failures`` requests, then 200 with the request body."""
    seen = [0]

    def script(req: Request) -> Reply:
        seen[0] += 1
        if seen[0] <= failures:
            return Reply(status, b"failure %d\n" % seen[0])
        return Reply(200, b"ok:" + req.body, [(b"Content-Type", b"text/plain")])

    return script

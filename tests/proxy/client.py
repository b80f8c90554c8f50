"""A raw HTTP/1.1 client for the data-plane tests: exact bytes out, exact bytes in.

Deliberately independent of the proxy's parser: it reads heads by hand, bodies by
Content-Length, chunked framing (with trailers) or connection close, so tests can check framing
details (``Transfer-Encoding``, ``Connection: close``, pipelined order) that high-level clients
hide.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.decode("latin-1").lower() == name.lower():
                return value.decode("latin-1")
        return None

    def header_values(self, name: str) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers if k.decode("latin-1").lower() == name.lower()]


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1", prefix: bytes = b"") -> RawClient:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        if prefix:
            writer.write(prefix)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        host: str | None = "example.com",
        version: str = "HTTP/1.1",
        timeout: float = 5.0,
    ) -> Response:
        await self.send(build(method, target, headers, body, host, version))
        return await self.response(head_only=method == "HEAD", timeout=timeout)

    async def response(self, head_only: bool = False, timeout: float = 5.0) -> Response:
        async with asyncio.timeout(timeout):
            while True:
                resp = await self._one(head_only)
                if resp.status >= 200 or resp.status == 101:
                    return resp

    async def interim_and_final(self, timeout: float = 5.0) -> list[Response]:
        out = []
        async with asyncio.timeout(timeout):
            while True:
                resp = await self._one(False)
                out.append(resp)
                if resp.status >= 200 or resp.status == 101:
                    return out

    async def _one(self, head_only: bool) -> Response:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw[:-4].split(b"\r\n")
        version, status_text = lines[0].split(b" ", 1)
        status = int(status_text[:3])
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers.append((name, value.strip()))
        resp = Response(status, version, headers, raw_head=raw)
        if head_only or status < 200 or status in (204, 304):
            return resp
        te = resp.header("transfer-encoding")
        length = resp.header("content-length")
        if te is not None and te.lower() == "chunked":
            body = bytearray()
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                body += await self.reader.readexactly(size)
                assert await self.reader.readexactly(2) == b"\r\n"
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line[:-2].partition(b":")
                resp.trailers.append((name, value.strip()))
            resp.body = bytes(body)
        elif length is not None:
            resp.body = await self.reader.readexactly(int(length))
        else:
            resp.body = await self.reader.read()
        return resp

    async def closed(self, timeout: float = 3.0) -> bool:
        """True when the server closed the connection (EOF or reset) within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                data = await self.reader.read(65536)
                while data:
                    data = await self.reader.read(65536)
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


def build(
    method: str = "GET",
    target: str = "/",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    host: str | None = "example.com",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    names = {k.lower() for k, _ in headers or []}
    for key, value in headers or []:
        lines.append(f"{key}: {value}")
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*chunks: bytes, trailers: list[tuple[str, str]] | None = None) -> bytes:
    out = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks if c)
    out += b"0\r\n" + b"".join(f"{k}: {v}\r\n".encode() for k, v in trailers or []) + b"\r\n"
    return out

"""Helpers of the path/redirect/header/content middleware tests: exchanges built in memory for
the table tests (what the next handler sees, what the client gets), and a raw HTTP/1.1 client
for end-to-end requests whose target must reach the router byte for byte (``%2F``, ``..``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from middlewares import content, headers, paths, redirect
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import Exchange, Handler, Headers
from traefikpy.proxy.target import decode_path

REGISTRY: dict[str, Any] = {**paths.FACTORIES, **redirect.FACTORIES, **headers.FACTORIES, **content.FACTORIES}


class BuildCtx:
    def service(self, name: str) -> Any:
        raise ValueError(f"no service {name}")

    def spawn(self, coro: Any, name: str) -> Any:
        return asyncio.get_running_loop().create_task(coro, name=name)


@dataclass
class Recorder:
    """A ResponseWriter keeping what a handler answered."""

    status: int = 0
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    ended: bool = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        assert not self.status, "head sent twice"
        self.status = status
        self.headers = list(headers)

    async def send_body(self, data: bytes) -> None:
        assert self.status, "body before head"
        self.body += data

    async def end(self, trailers: Headers | None = None) -> None:
        self.ended = True

    def header(self, name: str) -> str | None:
        return next((v.decode("latin-1") for k, v in self.headers if k.lower() == name.lower().encode()), None)

    def header_values(self, name: str) -> list[str]:
        return [v.decode("latin-1") for k, v in self.headers if k.lower() == name.lower().encode()]


def exchange(
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    *,
    method: str = "GET",
    host: str = "a.test",
    scheme: str = "http",
    host_header: bool = True,
) -> Exchange:
    """An Exchange as the server builds it for ``target`` (already normalized)."""
    raw, _, query = target.encode("utf-8").partition(b"?")
    head = [(k.encode("latin-1"), v.encode("utf-8")) for k, v in headers]
    if host_header and not any(k.lower() == b"host" for k, _ in head):
        head.insert(0, (b"Host", host.encode()))
    return Exchange(
        method=method.encode(), raw_path=raw, path=decode_path(raw), query=query, version=b"1.1",
        headers=head, host=host.partition(":")[0], scheme=scheme, client_ip="127.0.0.1", client_port=40000,
        entrypoint="web", body=EmptyBody(0), writer=Recorder(),
    )


@dataclass
class Outcome:
    """What the next handler saw (None when the middleware answered) and the response."""

    seen: Exchange | None
    response: Recorder

    @property
    def status(self) -> int:
        return self.response.status


async def run(handler_factory: Any, options: Any, ex: Exchange, reply: tuple[int, Headers, bytes] | None = None) -> Outcome:
    """Build the middleware around a next handler that records the exchange and answers
    ``reply`` (default: 200 with no headers), then serve ``ex``."""
    seen: list[Exchange] = []
    status, head, body = reply if reply is not None else (200, [], b"")

    async def next_handler(e: Exchange) -> None:
        seen.append(e)
        await e.send_head(status, list(head))
        if body:
            await e.send_body(body)
        await e.end()

    handler: Handler = handler_factory(options, next_handler, "m@file", BuildCtx())
    await handler(ex)
    writer = ex.writer
    assert isinstance(writer, Recorder)
    return Outcome(seen[0] if seen else None, writer)


async def raw_request(port: int, request: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` bytes as they are (``Connection: close`` expected) and parse the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields, body


def get(target: str, host: str = "a.test", extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()

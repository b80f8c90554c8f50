"""Test harness for services: in-memory exchanges, real loopback backends, a real forward step
(aiohttp client) and a small HTTP front that drives Exchanges from real requests.

The front and forward stand in for the data plane (traefikpy.proxy) so the service handlers are
exercised over real sockets; the lead swaps in the real forwarder at integration time.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy

from traefikpy.proxy.http import Exchange, Handler, Headers
from traefikpy.services import NoHealthyServer, Server

HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade", b"proxy-connection", b"trailer"}


# -- in-memory exchanges --------------------------------------------------------------------------
class MemoryBody:
    def __init__(self, data: bytes = b"", chunk: int = 4096, length: int | None = -1) -> None:
        self._chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.length = len(data) if length == -1 else length
        self.trailers: Headers | None = None
        self.reads = 0

    async def read(self) -> bytes:
        self.reads += 1
        return self._chunks.pop(0) if self._chunks else b""

    async def read_all(self, limit: int | None = None) -> bytes:
        out = b""
        while chunk := await self.read():
            out += chunk
        return out


class MemoryWriter:
    def __init__(self) -> None:
        self.status = 0
        self.headers: Headers = []
        self.body = b""
        self.ended = False

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        assert self.status == 0, "head sent twice"
        self.status = status
        self.headers = list(headers)

    async def send_body(self, data: bytes) -> None:
        self.body += data

    async def end(self, trailers: Headers | None = None) -> None:
        self.ended = True

    def header_values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def make_exchange(
    *,
    method: bytes = b"GET",
    path: bytes = b"/",
    headers: Headers | None = None,
    client_ip: str = "10.0.0.1",
    body: bytes = b"",
) -> Exchange:
    return Exchange(
        method=method, raw_path=path, query=b"", version=b"1.1", headers=list(headers or [(b"Host", b"app.test")]),
        host="app.test", scheme="http", client_ip=client_ip, client_port=40000, entrypoint="web",
        body=MemoryBody(body), writer=MemoryWriter(),
    )


def writer_of(ex: Exchange) -> MemoryWriter:
    writer = ex.writer
    assert isinstance(writer, MemoryWriter)
    return writer


def answering(name: str, status: int = 200) -> Callable[[Exchange, Server], Awaitable[None]]:
    """A forward step that answers locally with ``status`` and the server URL as body."""

    async def forward(ex: Exchange, server: Server) -> None:
        await ex.respond(status, f"{name}:{server.url}".encode())

    return forward


class Recording:
    """A child Handler that records the exchanges it served and answers ``status``."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.name = name
        self.status = status
        self.calls = 0

    async def __call__(self, ex: Exchange) -> None:
        self.calls += 1
        await ex.respond(self.status, self.name.encode())


# -- real backends ----------------------------------------------------------------------------------
@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Backend:
    """An aiohttp app on 127.0.0.1:0 answering its name; knobs flip its behaviour live."""

    name: str
    status: int = 200
    health_status: int = 200
    delay: float = 0.0
    health_delay: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    health_seen: list[Seen] = field(default_factory=list)
    port: int = 0
    runner: web.AppRunner | None = None
    ssl_context: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def hits(self) -> int:
        return len(self.seen)

    async def _health(self, request: web.Request) -> web.Response:
        self.health_seen.append(Seen(request.method, request.path_qs, dict(request.headers), await request.read()))
        if self.health_delay:
            await asyncio.sleep(self.health_delay)
        return web.Response(status=self.health_status, text="health")

    async def _redirect(self, request: web.Request) -> web.Response:
        self.health_seen.append(Seen(request.method, request.path_qs, dict(request.headers), b""))
        raise web.HTTPFound("/health")

    async def _any(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text=self.name)

    async def start(self) -> Backend:
        app = web.Application()
        app.router.add_route("*", "/health", self._health)
        app.router.add_route("*", "/redirect", self._redirect)
        app.router.add_route("*", "/{tail:.*}", self._any)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


# -- forward step and front -------------------------------------------------------------------------
class UpstreamError(Exception):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504


class AiohttpForward:
    """A real forward step: the request goes to ``server.url`` over a socket; failures before the
    response head raise :class:`UpstreamError` and nothing is sent to the client."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float = 5.0) -> None:
        self.session = session
        self.timeout = timeout
        self.calls = 0

    async def __call__(self, ex: Exchange, server: Server) -> None:
        self.calls += 1
        body = await ex.body.read_all()
        headers = [(k.decode(), v.decode()) for k, v in ex.headers if k.lower() not in HOP and k.lower() != b"content-length"]
        try:
            async with self.session.request(
                ex.method.decode(), server.url.rstrip("/") + ex.target.decode(), headers=headers,
                data=body if body else None, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                payload = await response.read()
                head = [(k, v) for k, v in response.raw_headers if k.lower() not in HOP and k.lower() != b"content-length"]
        except TimeoutError as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(str(exc)) from exc
        head.append((b"Content-Length", str(len(payload)).encode()))
        await ex.send_head(response.status, head)
        if payload:
            await ex.send_body(payload)
        await ex.end()


class _RequestBody:
    def __init__(self, request: web.Request) -> None:
        self._content = request.content
        self.length = request.content_length
        self.trailers: Headers | None = None

    async def read(self) -> bytes:
        return await self._content.readany()

    async def read_all(self, limit: int | None = None) -> bytes:
        return await self._content.read()


class _ResponseWriter:
    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None

    async def send_head(self, status: int, headers: Headers, reason: bytes | None = None) -> None:
        response = web.StreamResponse(status=status)
        for name, value in headers:
            response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
        self.response = response
        await response.prepare(self.request)

    async def send_body(self, data: bytes) -> None:
        assert self.response is not None
        await self.response.write(data)

    async def end(self, trailers: Headers | None = None) -> None:
        assert self.response is not None
        await self.response.write_eof()


@dataclass
class Front:
    """An HTTP server on 127.0.0.1:0 that turns each request into an Exchange for ``handler`` and
    maps service errors like the data plane does (503 no server, 502/504 upstream)."""

    handler: Handler
    port: int = 0
    runner: web.AppRunner | None = None
    errors: list[BaseException] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path, _, query = request.raw_path.partition("?")
        writer = _ResponseWriter(request)
        ex = Exchange(
            method=request.method.encode(), raw_path=path.encode(), query=query.encode(), version=b"1.1",
            headers=[(k, v) for k, v in request.raw_headers], host=(request.host or "").split(":")[0],
            scheme="http", client_ip=request.remote or "", client_port=0, entrypoint="web",
            body=_RequestBody(request), writer=writer,
        )
        try:
            await self.handler(ex)
        except (NoHealthyServer, UpstreamError) as exc:
            self.errors.append(exc)
            if ex.status == 0:
                status = getattr(exc, "status", 502)
                await ex.respond(status, b"no available server" if status == 503 else b"Bad Gateway")
        assert writer.response is not None
        return writer.response

    async def start(self) -> Front:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def wait_for(predicate: Callable[[], bool], timeout: float = 3.0, step: float = 0.02) -> None:
    """Poll ``predicate`` until true; bounded (fails the test after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(step)


async def get(session: aiohttp.ClientSession, url: str, **kwargs: Any) -> tuple[int, str, CIMultiDictProxy[str]]:
    async with session.get(url, **kwargs) as response:
        return response.status, await response.text(), response.headers

"""WebSocket through the proxy (byte pipe after 101) and graceful shutdown of an entry point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.proxy.backends import Backend
from tests.proxy.client import RawClient, build
from tests.proxy.conftest import StartProxy
from traefikpy.proxy.upstream import Upstreams


@pytest.fixture
async def ws_backend() -> AsyncIterator[str]:
    seen: dict[str, str] = {}

    async def ws_echo(request: web.Request) -> web.WebSocketResponse:
        seen.update(request.headers)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str("echo:" + msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="not a websocket")

    app = web.Application()
    app.router.add_get("/ws", ws_echo)
    app.router.add_get("/plain", plain)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_websocket_echo_through_proxy(start_proxy: StartProxy, ws_backend: str, upstreams: Upstreams) -> None:
    proxy = await start_proxy(target=ws_backend)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{proxy.port}/ws") as ws:
            await ws.send_str("hello")
            assert (await ws.receive(timeout=3)).data == "echo:hello"
            payload = bytes(range(256)) * 400  # 100 KiB, several TCP segments
            await ws.send_bytes(payload)
            assert (await ws.receive(timeout=3)).data == payload[::-1]
            for i in range(20):
                await ws.send_str(str(i))
            got = [(await ws.receive(timeout=3)).data for _ in range(20)]
            assert got == [f"echo:{i}" for i in range(20)]
        # A plain request on a fresh connection still works afterwards.
        async with session.get(f"http://127.0.0.1:{proxy.port}/plain") as resp:
            assert await resp.text() == "not a websocket"
    # The upgraded upstream connection never returns to the pool.
    assert upstreams.stats()["idle"] <= 1
    await asyncio.sleep(0.1)
    assert proxy.open_connections <= 1


async def test_refused_upgrade_keeps_http(start_proxy: StartProxy, backend: Backend) -> None:
    """An upgrade the upstream does not accept is a normal response on a normal connection."""
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(
        build("GET", "/echo/ws", [("Connection", "Upgrade"), ("Upgrade", "websocket")])
        + build("GET", "/echo/next")
    )
    first = await client.response()
    assert first.status == 200
    assert backend.requests[0].header("upgrade") == "websocket"
    second = await client.response()
    assert second.status == 200 and b"/echo/next" in second.body
    await client.close()


async def test_h2c_upgrade_is_ignored(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    resp = await client.request(
        "GET", "/echo", headers=[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"), ("HTTP2-Settings", "AAA")]
    )
    assert resp.status == 200
    assert backend.requests[-1].header("upgrade") is None
    assert backend.requests[-1].header("http2-settings") is None
    await client.close()


# -- graceful shutdown ----------------------------------------------------------------------


async def test_graceful_shutdown(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    idle = await RawClient.connect(proxy.port)
    assert (await idle.request("GET", "/echo")).status == 200
    busy = await RawClient.connect(proxy.port)
    await busy.send(build("GET", "/delay?ms=400"))
    await asyncio.sleep(0.1)
    stopping = asyncio.create_task(proxy.stop(grace=3))
    assert await idle.closed(timeout=1), "idle keep-alive connections close at once"
    await asyncio.sleep(0.05)
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", proxy.port)
    resp = await busy.response(timeout=3)
    assert resp.status == 200, "the in-flight request finishes"
    assert resp.header("connection") == "close"
    assert await busy.closed()
    await asyncio.wait_for(stopping, 3)
    assert proxy.open_connections == 0


async def test_grace_period_expiry_closes_the_rest(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    busy = await RawClient.connect(proxy.port)
    await busy.send(build("GET", "/delay?ms=3000"))
    await asyncio.sleep(0.1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await proxy.stop(grace=0.3)
    assert loop.time() - started < 2
    assert await busy.closed(timeout=1)
    assert proxy.open_connections == 0


async def test_shutdown_closes_websockets_after_grace(start_proxy: StartProxy, ws_backend: str) -> None:
    proxy = await start_proxy(target=ws_backend)
    async with aiohttp.ClientSession() as session, session.ws_connect(f"http://127.0.0.1:{proxy.port}/ws") as ws:
        await ws.send_str("x")
        assert (await ws.receive(timeout=3)).data == "echo:x"
        await proxy.stop(grace=0.2)
        msg = await ws.receive(timeout=3)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert proxy.open_connections == 0

"""Upstream failures (502/503/504), handler errors and the entry point's timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.conftest import free_port
from tests.proxy.backends import Backend
from tests.proxy.client import RawClient, build
from tests.proxy.conftest import StartProxy
from traefikpy.proxy.entrypoint import EntryPointServer, EntryPointSettings
from traefikpy.proxy.errors import NoHealthyServer, UpstreamConnectError, UpstreamTimeout
from traefikpy.proxy.forward import Forwarder
from traefikpy.proxy.settle import respond_error
from traefikpy.proxy.upstream import Transport, Upstreams


async def test_connection_refused_is_502(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(target=f"http://127.0.0.1:{free_port()}")
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/")
    assert (resp.status, resp.body) == (502, b"Bad Gateway")
    assert (await client.request("GET", "/")).status == 502  # the client connection survives
    await client.close()


@pytest.mark.parametrize("path", ["/close", "/reset"])
async def test_upstream_closing_without_answer_is_502(start_proxy: StartProxy, path: str) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", path)
    assert resp.status == 502
    await client.close()


async def test_switch_to_unrequested_protocol_is_502(start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    assert (await client.request("GET", "/switch")).status == 502
    await client.close()


async def test_response_header_timeout_is_504(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(transport=Transport(name="slow", response_header_timeout=0.1))
    client = await RawClient.connect(proxy.port)
    started = time.monotonic()
    resp = await client.request("GET", "/delay?ms=1000")
    assert (resp.status, resp.body) == (504, b"Gateway Timeout")
    assert time.monotonic() - started < 0.8
    await client.close()


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port whose accept queue is full: SYNs go unanswered, connects hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    yield port
    for s in fillers:
        s.close()
    listener.close()


async def test_dial_timeout_is_504(start_proxy: StartProxy, blackhole: int) -> None:
    proxy = await start_proxy(
        transport=Transport(name="dial", dial_timeout=0.2), target=f"http://127.0.0.1:{blackhole}"
    )
    client = await RawClient.connect(proxy.port)
    started = time.monotonic()
    resp = await client.request("GET", "/")
    assert resp.status == 504
    assert time.monotonic() - started < 1.5
    await client.close()


async def test_forward_raises_typed_errors_before_sending(upstreams: Upstreams) -> None:
    """Balancers and retry depend on errors raised before any byte reached the client."""
    refused = Forwarder.create(upstreams, f"http://127.0.0.1:{free_port()}")
    caught: list[BaseException] = []

    async def app(ex):  # type: ignore[no-untyped-def]
        try:
            await refused(ex)
        except UpstreamConnectError as exc:
            assert ex.status == 0
            caught.append(exc)
            raise NoHealthyServer("all down") from exc

    async def outer(ex):  # type: ignore[no-untyped-def]
        try:
            await app(ex)
        except NoHealthyServer as exc:
            await respond_error(ex, exc)

    server = EntryPointServer(EntryPointSettings(address="127.0.0.1:0"), outer)
    await server.start()
    client = await RawClient.connect(server.port)
    resp = await client.request("GET", "/")
    assert resp.status == 503
    assert resp.body == b"no available server\n"
    assert isinstance(caught[0], UpstreamConnectError) and not isinstance(caught[0], UpstreamTimeout)
    await client.close()
    await server.stop(0.2)


async def test_handler_exception_is_500_and_isolated(start_proxy: StartProxy) -> None:
    async def app(ex):  # type: ignore[no-untyped-def]
        if ex.path == "/boom":
            raise RuntimeError("secret internals")
        if ex.path == "/late-boom":
            await ex.send_head(200, [(b"Content-Length", b"10")])
            await ex.send_body(b"12345")
            raise RuntimeError("after the head")
        await ex.respond(200, b"fine")

    proxy = await start_proxy(app=app)
    sibling = await RawClient.connect(proxy.port)
    assert (await sibling.request("GET", "/ok")).status == 200
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/boom")
    assert resp.status == 500
    assert b"secret" not in resp.body and b"Traceback" not in resp.body
    client2 = await RawClient.connect(proxy.port)
    await client2.send(build("GET", "/late-boom"))
    head = await client2.reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert await client2.closed()  # cannot finish the response: abort
    assert (await sibling.request("GET", "/ok")).status == 200  # never kills siblings
    await sibling.close()


async def test_handler_that_sends_nothing_gets_empty_200(start_proxy: StartProxy) -> None:
    async def app(ex):  # type: ignore[no-untyped-def]
        return None

    proxy = await start_proxy(app=app)
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/")
    assert (resp.status, resp.body) == (200, b"")
    await client.close()


async def test_client_disconnect_cancels_upstream_request(start_proxy: StartProxy, upstreams: Upstreams) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.send(build("GET", "/delay?ms=2000"))
    await asyncio.sleep(0.1)
    await client.close()
    for _ in range(50):
        await asyncio.sleep(0.02)
        if upstreams.stats()["busy"] == 0:
            break
    stats = upstreams.stats()
    assert stats["busy"] == 0 and stats["idle"] == 0  # the half-used upstream connection was closed


# -- entry point timeouts -------------------------------------------------------------------


async def test_read_timeout_closes_a_stalled_head(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy(read_timeout=0.3)
    client = await RawClient.connect(proxy.port)
    await client.send(b"GET /echo HTTP/1.1\r\nHost: h\r\n")
    started = time.monotonic()
    assert await client.closed(timeout=3)
    assert 0.2 < time.monotonic() - started < 2
    assert backend.requests == []


async def test_read_timeout_applies_to_the_first_request(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(read_timeout=0.3)
    client = await RawClient.connect(proxy.port)
    assert await client.closed(timeout=3)


async def test_read_timeout_inside_body_is_408(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(read_timeout=0.4)
    client = await RawClient.connect(proxy.port)
    await client.send(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789")
    resp = await client.response(timeout=3)
    assert resp.status == 408
    assert await client.closed()


async def test_idle_timeout_closes_keep_alive_connection(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(idle_timeout=0.3, read_timeout=5)
    client = await RawClient.connect(proxy.port)
    assert (await client.request("GET", "/echo")).status == 200
    started = time.monotonic()
    assert await client.closed(timeout=3)
    assert 0.2 < time.monotonic() - started < 2
    assert proxy.open_connections == 0


async def test_write_timeout_aborts_a_client_that_does_not_read(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(write_timeout=0.3)
    client = await RawClient.connect(proxy.port)
    await client.send(build("GET", "/bytes?size=60000000"))
    await asyncio.sleep(0.8)
    received = 0
    try:
        async with asyncio.timeout(5):
            while chunk := await client.reader.read(1 << 20):
                received += len(chunk)
    except ConnectionError:
        pass
    assert received < 60_000_000


async def test_keep_alive_max_requests(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(keep_alive_max_requests=2)
    client = await RawClient.connect(proxy.port)
    assert (await client.request("GET", "/echo/1")).header("connection") is None
    last = await client.request("GET", "/echo/2")
    assert last.header("connection") == "close"
    assert await client.closed()


async def test_keep_alive_max_time(start_proxy: StartProxy) -> None:
    proxy = await start_proxy(keep_alive_max_time=0.2)
    client = await RawClient.connect(proxy.port)
    assert (await client.request("GET", "/echo/1")).header("connection") is None
    await asyncio.sleep(0.3)
    assert (await client.request("GET", "/echo/2")).header("connection") == "close"
    assert await client.closed()

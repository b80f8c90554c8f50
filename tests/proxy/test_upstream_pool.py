"""Upstream pools: reuse across forwarders (graphs), reconfiguration, stale retries, limits."""

from __future__ import annotations

import asyncio

from tests.proxy.backends import Backend
from tests.proxy.client import RawClient
from tests.proxy.conftest import StartProxy, forwarding_app
from traefikpy.proxy.entrypoint import EntryPointServer, EntryPointSettings
from traefikpy.proxy.forward import Forwarder
from traefikpy.proxy.http import Exchange
from traefikpy.proxy.upstream import DEFAULT_TRANSPORT, ServerURL, Transport, Upstreams


async def test_pool_outlives_graphs(backend: Backend, upstreams: Upstreams) -> None:
    """Two graphs = two Forwarders built from the same registry: one warm pool."""
    current = {"fwd": Forwarder.create(upstreams, backend.url)}

    async def switch(ex: Exchange) -> None:
        await forwarding_app(current["fwd"])(ex)

    server = EntryPointServer(EntryPointSettings(address="127.0.0.1:0"), switch)
    await server.start()
    client = await RawClient.connect(server.port)
    assert (await client.request("GET", "/echo/1")).status == 200
    upstreams.configure({DEFAULT_TRANSPORT: Transport()})  # an unchanged transport: pools kept
    current["fwd"] = Forwarder.create(upstreams, backend.url)  # "new graph"
    assert (await client.request("GET", "/echo/2")).status == 200
    assert backend.connections == 1
    assert upstreams.stats()["reused"] == 1
    await client.close()
    await server.stop(0.2)


async def test_changed_transport_retires_pool(backend: Backend, upstreams: Upstreams) -> None:
    upstreams.configure({"t": Transport(name="t")})
    fwd = Forwarder.create(upstreams, backend.url, "t")
    server = EntryPointServer(EntryPointSettings(address="127.0.0.1:0"), forwarding_app(fwd))
    await server.start()
    client = await RawClient.connect(server.port)
    assert (await client.request("GET", "/echo")).status == 200
    assert upstreams.stats()["idle"] == 1
    upstreams.configure({"t": Transport(name="t", dial_timeout=5)})
    assert upstreams.stats()["idle"] == 0  # the old pool's idle connections were closed
    server.set_app(forwarding_app(Forwarder.create(upstreams, backend.url, "t")))
    assert (await client.request("GET", "/echo")).status == 200
    assert backend.connections == 2
    await client.close()
    await server.stop(0.2)


async def test_stale_pooled_connection_retried_for_idempotent_requests(
    start_proxy: StartProxy, backend: Backend, upstreams: Upstreams
) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    assert (await client.request("GET", "/stale-next")).status == 200
    resp = await client.request("GET", "/echo/retried")
    assert resp.status == 200
    assert backend.stale_closes == 1
    assert backend.connections == 2
    # A request with a body is not replayable: the failure surfaces.
    assert (await client.request("GET", "/stale-next")).status == 200
    resp = await client.request("POST", "/echo", body=b"payload")
    assert resp.status == 502
    await client.close()


async def test_max_idle_conns_per_host(start_proxy: StartProxy, backend: Backend, upstreams: Upstreams) -> None:
    proxy = await start_proxy(transport=Transport(name="small", max_idle_conns_per_host=1))
    clients = [await RawClient.connect(proxy.port) for _ in range(3)]
    await asyncio.gather(*(c.request("GET", "/delay?ms=100") for c in clients))
    stats = upstreams.stats()
    assert stats["opened"] == 3
    assert stats["idle"] == 1
    for c in clients:
        await c.close()


async def test_idle_conn_timeout(start_proxy: StartProxy, backend: Backend, upstreams: Upstreams) -> None:
    proxy = await start_proxy(transport=Transport(name="short", idle_conn_timeout=0.2))
    client = await RawClient.connect(proxy.port)
    assert (await client.request("GET", "/echo")).status == 200
    assert upstreams.stats()["idle"] == 1
    await asyncio.sleep(0.6)
    assert upstreams.stats()["idle"] == 0
    assert (await client.request("GET", "/echo")).status == 200
    assert backend.connections == 2
    await client.close()


async def test_upstream_closing_idle_connection_is_noticed(
    start_proxy: StartProxy, backend: Backend, upstreams: Upstreams
) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    assert (await client.request("GET", "/echo")).status == 200
    for writer in list(backend._writers):
        writer.transport.abort()
    await asyncio.sleep(0.1)
    assert upstreams.stats()["idle"] == 0
    assert (await client.request("GET", "/echo")).status == 200
    await client.close()


async def test_preserve_path(backend: Backend, upstreams: Upstreams) -> None:
    url = ServerURL(backend.url + "/prefix/")
    plain = Forwarder(url, upstreams.pool(url))
    preserving = Forwarder(url, upstreams.pool(url), preserve_path=True)

    async def app(ex: Exchange) -> None:
        await (preserving if ex.path.startswith("/keep") else plain)(ex)

    server = EntryPointServer(EntryPointSettings(address="127.0.0.1:0"), app)
    await server.start()
    client = await RawClient.connect(server.port)
    await client.request("GET", "/echo?x=1")
    assert backend.requests[-1].target == "/echo?x=1"  # Traefik ignores the server path by default
    await client.request("GET", "/keep/a")
    assert backend.requests[-1].target == "/prefix/keep/a"
    await client.close()
    await server.stop(0.2)


def test_server_url_parsing() -> None:
    url = ServerURL("https://Backend.internal:8443/base")
    assert url.origin == ("https", "backend.internal", 8443)
    assert url.authority == b"Backend.internal:8443"
    assert url.raw_path == b"/base"
    assert ServerURL("http://10.0.0.1").origin == ("http", "10.0.0.1", 80)
    assert ServerURL("http://[::1]:81").origin == ("http", "::1", 81)
    assert ServerURL("h2c://grpc.internal").origin == ("h2c", "grpc.internal", 80)
    for bad in ("ftp://x", "http://", "ws://x:80", "http://x:99999"):
        try:
            ServerURL(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_repr_is_informative(upstreams: Upstreams) -> None:
    pool = upstreams.pool("http://127.0.0.1:9")
    assert "http://127.0.0.1:9" in repr(pool) and "idle=0" in repr(pool)
    assert "pools=1" in repr(upstreams)
    assert "127.0.0.1:9" in repr(Forwarder.create(upstreams, "http://127.0.0.1:9"))

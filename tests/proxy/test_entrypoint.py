"""EntryPointServer: addresses (IPv4/IPv6), SO_REUSEPORT, connection count, app switching."""

from __future__ import annotations

import socket

import pytest

from tests.proxy.client import RawClient
from traefikpy.proxy.entrypoint import EntryPointServer, EntryPointSettings, split_address
from traefikpy.proxy.http import Exchange


@pytest.mark.parametrize(
    ("address", "want"),
    [
        (":80", (None, 80)),
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:0", ("::1", 0)),
        (":443/tcp", (None, 443)),
        ("localhost:81", ("localhost", 81)),
    ],
)
def test_split_address(address: str, want: tuple[str | None, int]) -> None:
    assert split_address(address) == want


def test_split_address_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="nope"):
        split_address("nope")


async def hello(ex: Exchange) -> None:
    await ex.respond(200, f"{ex.client_ip} {ex.entrypoint} {ex.scheme}".encode())


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6(), reason="no IPv6 loopback")
async def test_ipv6_loopback() -> None:
    server = EntryPointServer(EntryPointSettings(name="v6", address="[::1]:0"), hello)
    await server.start()
    client = await RawClient.connect(server.port, host="::1")
    resp = await client.request("GET", "/", host="[::1]")
    assert resp.body == b"::1 v6 http"
    await client.close()
    await server.stop(0.2)


async def test_reuse_port_lets_two_servers_share_a_port() -> None:
    first = EntryPointServer(EntryPointSettings(address="127.0.0.1:0", reuse_port=True), hello)
    await first.start()
    second = EntryPointServer(EntryPointSettings(address=f"127.0.0.1:{first.port}", reuse_port=True), hello)
    await second.start()
    assert second.port == first.port
    client = await RawClient.connect(first.port)
    assert (await client.request("GET", "/")).status == 200
    await client.close()
    await first.stop(0.2)
    await second.stop(0.2)


async def test_connection_count_and_app_switch() -> None:
    async def other(ex: Exchange) -> None:
        await ex.respond(200, b"switched")

    server = EntryPointServer(EntryPointSettings(address="127.0.0.1:0"), hello)
    await server.start()
    a = await RawClient.connect(server.port)
    b = await RawClient.connect(server.port)
    assert (await a.request("GET", "/")).status == 200
    assert (await b.request("GET", "/")).status == 200
    assert server.open_connections == 2
    server.set_app(other)
    assert (await a.request("GET", "/")).body == b"switched"  # open connections switch too
    await b.close()
    await a.close()
    await server.stop(0.2)
    assert server.open_connections == 0
    assert "127.0.0.1" in repr(server)


async def test_tls_entrypoint_with_ssl_context() -> None:
    import asyncio
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure.example").configure_cert(server_ctx)
    seen: dict[str, object] = {}

    async def app(ex: Exchange) -> None:
        seen["scheme"] = ex.scheme
        seen["tls"] = ex.tls is not None
        seen["proto"] = ex.header(b"x-forwarded-proto")
        seen["port"] = ex.header(b"x-forwarded-port")
        await ex.respond(200, b"secure")

    server = EntryPointServer(EntryPointSettings(name="websecure", address="127.0.0.1:0", ssl_context=server_ctx), app)
    await server.start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", server.port, ssl=client_ctx, server_hostname="secure.example"
    )
    client = RawClient(reader, writer)
    resp = await client.request("GET", "/", host="secure.example")
    assert resp.body == b"secure"
    assert seen == {"scheme": "https", "tls": True, "proto": b"https", "port": b"443"}
    await client.close()
    await server.stop(0.2)

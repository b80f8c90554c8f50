"""Forwarded headers and the PROXY protocol at the entry point, end to end."""

from __future__ import annotations

import pytest

from tests.proxy.backends import Backend
from tests.proxy.client import RawClient
from tests.proxy.conftest import StartProxy
from traefikpy.proxy.proxyproto import build_v1, build_v2

SPOOFED = [
    ("X-Forwarded-For", "203.0.113.66"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Port", "8443"),
    ("X-Forwarded-Server", "spoof"),
    ("X-Real-Ip", "203.0.113.66"),
    ("X-Forwarded-Prefix", "/admin"),
    ("X_Forwarded_For", "198.51.100.1"),
]


async def test_untrusted_peer_cannot_spoof(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.request("GET", "/echo", headers=SPOOFED, host="site.example")
    got = backend.requests[-1]
    assert got.header_values("x-forwarded-for") == ["127.0.0.1"]
    assert got.header("x-forwarded-proto") == "http"
    assert got.header("x-forwarded-host") == "site.example"
    assert got.header("x-forwarded-port") == "80"
    assert got.header("x-forwarded-server") == "proxy-host"
    assert got.header("x-real-ip") == "127.0.0.1"
    assert got.header("x-forwarded-prefix") is None
    assert got.header("x_forwarded_for") is None
    await client.close()


@pytest.mark.parametrize("settings", [{"forwarded_insecure": True}, {"forwarded_trusted_ips": ("127.0.0.0/8",)}])
async def test_trusted_peer_values_kept(start_proxy: StartProxy, backend: Backend, settings: dict) -> None:
    proxy = await start_proxy(**settings)
    client = await RawClient.connect(proxy.port)
    await client.request(
        "GET",
        "/echo",
        headers=[*SPOOFED, ("X-Forwarded-For", "10.0.0.9")],
        host="site.example",
    )
    got = backend.requests[-1]
    # Several X-Forwarded-For headers are folded, and the peer is appended.
    assert got.header_values("x-forwarded-for") == ["203.0.113.66, 10.0.0.9, 127.0.0.1"]
    assert got.header("x-forwarded-proto") == "https"
    assert got.header("x-forwarded-host") == "evil.example"
    assert got.header("x-forwarded-port") == "8443"
    assert got.header("x-real-ip") == "203.0.113.66"
    assert got.header("x-forwarded-prefix") == "/admin"
    assert got.header_values("x-forwarded-server") == ["proxy-host"]  # always ours
    await client.close()


async def test_trusted_list_excludes_peer(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy(forwarded_trusted_ips=("10.0.0.0/8",))
    client = await RawClient.connect(proxy.port)
    await client.request("GET", "/echo", headers=SPOOFED)
    assert backend.requests[-1].header_values("x-forwarded-for") == ["127.0.0.1"]
    await client.close()


async def test_connection_cannot_strip_managed_headers(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy()
    client = await RawClient.connect(proxy.port)
    await client.request("GET", "/echo", headers=[("Connection", "X-Forwarded-For, X-Real-Ip, X-Other"), ("X-Other", "1")])
    got = backend.requests[-1]
    assert got.header("x-forwarded-for") == "127.0.0.1"
    assert got.header("x-real-ip") == "127.0.0.1"
    assert got.header("x-other") is None
    await client.close()


async def test_websocket_proto_value(start_proxy: StartProxy, backend: Backend) -> None:
    seen = {}

    async def app(ex):  # type: ignore[no-untyped-def]
        seen.update({k.decode().lower(): v.decode() for k, v in ex.headers})
        seen["upgrade"] = ex.upgrade.decode()
        await ex.respond(200, b"ok")

    proxy = await start_proxy(app=app)
    client = await RawClient.connect(proxy.port)
    await client.request(
        "GET", "/ws", headers=[("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")]
    )
    assert seen["x-forwarded-proto"] == "ws"
    assert seen["upgrade"] == "websocket"
    assert "connection" not in seen
    await client.close()


PROXY_CASES = [
    {"desc": "v1 trusted", "header": build_v1("203.0.113.7", 40000, "10.0.0.1", 80), "trusted": True, "want": "203.0.113.7"},
    {"desc": "v2 trusted", "header": build_v2("2001:db8::7", 40001, "2001:db8::1", 80), "trusted": True, "want": "2001:db8::7"},
    {"desc": "v1 untrusted", "header": build_v1("203.0.113.7", 40000, "10.0.0.1", 80), "trusted": False, "want": "127.0.0.1"},
    {"desc": "v2 local", "header": build_v2("", 0, "", 0, local=True), "trusted": True, "want": "127.0.0.1"},
    {"desc": "no header", "header": b"", "trusted": True, "want": "127.0.0.1"},
]


@pytest.mark.parametrize("case", PROXY_CASES, ids=[c["desc"] for c in PROXY_CASES])
async def test_proxy_protocol(start_proxy: StartProxy, backend: Backend, case: dict) -> None:
    trusted = ("127.0.0.1",) if case["trusted"] else ("10.9.9.9",)
    proxy = await start_proxy(proxy_protocol=True, proxy_protocol_trusted_ips=trusted)
    client = await RawClient.connect(proxy.port, prefix=case["header"])
    resp = await client.request("GET", "/echo")
    assert resp.status == 200
    got = backend.requests[-1]
    assert got.header("x-real-ip") == case["want"]
    assert got.header("x-forwarded-for") == case["want"]
    # Still a normal keep-alive connection afterwards.
    assert (await client.request("GET", "/echo/2")).status == 200
    await client.close()


async def test_proxy_protocol_header_split_across_packets(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy(proxy_protocol=True, proxy_protocol_insecure=True)
    header = build_v2("198.51.100.20", 5555, "10.0.0.1", 80)
    client = await RawClient.connect(proxy.port, prefix=header[:7])
    await client.send(header[7:20])
    await client.send(header[20:])
    resp = await client.request("GET", "/echo")
    assert resp.status == 200
    assert backend.requests[-1].header("x-real-ip") == "198.51.100.20"
    await client.close()


async def test_malformed_proxy_header_closes(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy(proxy_protocol=True, proxy_protocol_insecure=True)
    client = await RawClient.connect(proxy.port, prefix=b"PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n")
    await client.send(b"GET /echo HTTP/1.1\r\nHost: h\r\n\r\n")
    assert await client.closed()
    assert backend.requests == []

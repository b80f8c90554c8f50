"""What routing sees (Exchange.host/path) and what the upstream receives, end to end."""

from __future__ import annotations

import pytest

from tests.proxy.backends import Backend
from tests.proxy.client import RawClient
from tests.proxy.conftest import StartProxy, forwarding_app
from traefikpy.proxy.forward import Forwarder
from traefikpy.proxy.http import Exchange
from traefikpy.proxy.upstream import Upstreams

PATH_CASES = [
    {"desc": "dot segments", "target": "/a/./b/../c", "sanitize": True, "path": "/a/c", "upstream": "/a/c"},
    {"desc": "double slashes", "target": "//a//b/", "sanitize": True, "path": "/a/b/", "upstream": "/a/b/"},
    {"desc": "escape above root", "target": "/../../etc/passwd", "sanitize": True, "path": "/etc/passwd", "upstream": "/etc/passwd"},
    {"desc": "encoded dots", "target": "/a/%2e%2e/b", "sanitize": True, "path": "/b", "upstream": "/b"},
    {"desc": "encoded slash stays", "target": "/a%2fb", "sanitize": True, "path": "/a%2Fb", "upstream": "/a%2Fb"},
    {"desc": "encoded space", "target": "/foo%20bar", "sanitize": True, "path": "/foo bar", "upstream": "/foo%20bar"},
    {"desc": "unreserved decoded", "target": "/%7euser", "sanitize": True, "path": "/~user", "upstream": "/~user"},
    {"desc": "query untouched", "target": "/a/../b?x=/../y", "sanitize": True, "path": "/b", "upstream": "/b?x=/../y"},
    {"desc": "sanitize off", "target": "/a/./b/../c", "sanitize": False, "path": "/a/./b/../c", "upstream": "/a/./b/../c"},
    {"desc": "utf-8 path", "target": "/caf%C3%A9", "sanitize": True, "path": "/café", "upstream": "/caf%C3%A9"},
]


@pytest.mark.parametrize("case", PATH_CASES, ids=[c["desc"] for c in PATH_CASES])
async def test_path_handling(start_proxy: StartProxy, backend: Backend, upstreams: Upstreams, case: dict) -> None:
    seen: dict[str, str] = {}
    forwarder = Forwarder.create(upstreams, backend.url)
    inner = forwarding_app(forwarder)

    async def app(ex: Exchange) -> None:
        seen["path"] = ex.path
        seen["raw"] = ex.raw_path.decode()
        await inner(ex)

    proxy = await start_proxy(app=app, sanitize_path=case["sanitize"])
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", case["target"])
    assert resp.status == 404  # the backend has no such route; what matters is what it saw
    assert seen["path"] == case["path"]
    assert backend.requests[-1].target == case["upstream"]
    await client.close()


async def test_encode_query_semicolons(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy(encode_query_semicolons=True)
    client = await RawClient.connect(proxy.port)
    await client.request("GET", "/echo?a=1;b=2")
    assert backend.requests[-1].target == "/echo?a=1%3Bb=2"
    await client.close()


async def test_denied_encoded_characters(start_proxy: StartProxy, backend: Backend) -> None:
    proxy = await start_proxy(denied_encodings=frozenset({b"%2F", b"%00"}))
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/a%2fb")
    assert resp.status == 400
    assert backend.requests == []


HOST_CASES = [
    {"desc": "lower-cased, port stripped", "host": "Example.COM:8080", "target": "/", "want": "example.com", "upstream": "Example.COM:8080"},
    {"desc": "trailing dot", "host": "example.com.", "target": "/", "want": "example.com", "upstream": "example.com."},
    {"desc": "ipv6", "host": "[::1]:8080", "target": "/", "want": "::1", "upstream": "[::1]:8080"},
    {"desc": "absolute-form wins", "host": "ignored.example", "target": "http://Real.Example/x", "want": "real.example", "upstream": "Real.Example"},
]


@pytest.mark.parametrize("case", HOST_CASES, ids=[c["desc"] for c in HOST_CASES])
async def test_host_handling(start_proxy: StartProxy, backend: Backend, upstreams: Upstreams, case: dict) -> None:
    seen: dict[str, str] = {}
    inner = forwarding_app(Forwarder.create(upstreams, backend.url))

    async def app(ex: Exchange) -> None:
        seen["host"] = ex.host
        await inner(ex)

    proxy = await start_proxy(app=app)
    client = await RawClient.connect(proxy.port)
    await client.request("GET", case["target"], host=case["host"])
    assert seen["host"] == case["want"]
    assert backend.requests[-1].header("host") == case["upstream"]
    await client.close()


async def test_http10_without_host(start_proxy: StartProxy, backend: Backend, upstreams: Upstreams) -> None:
    seen: dict[str, str] = {}
    inner = forwarding_app(Forwarder.create(upstreams, backend.url))

    async def app(ex: Exchange) -> None:
        seen["host"] = ex.host
        await inner(ex)

    proxy = await start_proxy(app=app)
    client = await RawClient.connect(proxy.port)
    resp = await client.request("GET", "/echo", host=None, version="HTTP/1.0")
    assert resp.status == 200
    assert seen["host"] == ""
    assert backend.requests[-1].header("host") == f"127.0.0.1:{backend.port}"

"""HTTP provider against a real aiohttp server on loopback: polling, change detection, ETag,
errors keep the last good configuration, headers, YAML bodies and TLS."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from providers.http import HTTPProvider, decode_configuration, from_static
from tests.providers.kv_helpers import eventually, routed_app
from traefikpy.config.decode import ConfigError
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import ClientTLS


def config(host: str, url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    return {"http": {"routers": {"r": {"rule": f"Host(`{host}`)", "service": "s"}},
                     "services": {"s": {"loadBalancer": {"servers": [{"url": url}]}}}}}


@dataclass
class ConfigServer:
    """Serves ``body`` with ``status``; with ``etags``, an ETag and 304 to a matching If-None-Match."""

    body: bytes = b"{}"
    status: int = 200
    etags: bool = False
    delay: float = 0.0
    seen: list[dict[str, str]] = field(default_factory=list)
    not_modified: int = 0
    port: int = 0
    runner: web.AppRunner | None = None

    def set(self, data: dict[str, Any]) -> None:
        self.body = json.dumps(data, indent="\t").encode()

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        if self.delay:
            await asyncio.sleep(self.delay)
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if self.etags and request.headers.get("If-None-Match") == etag:
            self.not_modified += 1
            return web.Response(status=304)
        headers = {"ETag": etag} if self.etags else {}
        return web.Response(status=self.status, body=self.body, content_type="application/json", headers=headers)

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        app = web.Application()
        app.router.add_get("/config", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/config"


@pytest.fixture
async def server() -> AsyncIterator[ConfigServer]:
    s = ConfigServer()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


DECODE = [
    {"desc": "JSON", "body": json.dumps(config("a.test")).encode(), "routers": {"r"}},
    {"desc": "JSON with tabs and a BOM", "body": b"\xef\xbb\xbf" + json.dumps(config("a.test"), indent="\t").encode(),
     "routers": {"r"}},
    {"desc": "YAML", "body": b"http:\n  routers:\n    y:\n      rule: Host(`y`)\n      service: s\n", "routers": {"y"}},
    {"desc": "empty body: empty configuration", "body": b"", "routers": set()},
    {"desc": "JSON with a key longer than YAML allows", "body": json.dumps(
        {"http": {"routers": {"k" * 1100: {"rule": "Host(`k`)"}}}}).encode(), "routers": {"k" * 1100}},
]


@pytest.mark.parametrize("case", DECODE, ids=[c["desc"] for c in DECODE])
def test_decode_configuration(case: dict[str, Any]) -> None:
    assert set(decode_configuration(case["body"]).http.routers) == case["routers"]


DECODE_ERRORS = [
    {"desc": "not a document", "body": b'{"http": ', "message": ""},
    {"desc": "a list", "body": b"[1, 2]", "message": "mapping"},
    {"desc": "unknown key, with its line", "body": b'{\n "http": {\n  "routerz": {}\n }\n}', "message": "unknown",
     "line": 3},
    {"desc": "not UTF-8", "body": b"\xff\xfe", "message": "UTF-8"},
]


@pytest.mark.parametrize("case", DECODE_ERRORS, ids=[c["desc"] for c in DECODE_ERRORS])
def test_decode_configuration_errors(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        decode_configuration(case["body"], "http://cfg")
    assert case["message"] in str(info.value) and info.value.problems[0].source == "http://cfg"
    if "line" in case:
        assert info.value.problems[0].line == case["line"]


async def test_routes_from_the_endpoint_and_a_change_is_live_within_poll_plus_100ms(server: ConfigServer) -> None:
    poll = 0.05
    p = HTTPProvider(server.url(), poll_interval=poll, headers={"Authorization": "Bearer t0k", "X-Env": "test"})
    async with routed_app(p) as rt:
        server.set(config("one.test", rt.backend.url))
        await rt.wait_status("one.test")
        assert rt.routers() == {"r@http"}
        timings = []
        for i in range(3):
            server.set(config(f"v{i}.test", rt.backend.url))
            timings.append(await rt.wait_status(f"v{i}.test"))
        print("http endpoint change -> route live (ms):", [round(t * 1000, 1) for t in timings])
        assert max(timings) < poll + 0.1, timings
        assert server.seen[-1]["Authorization"] == "Bearer t0k" and server.seen[-1]["X-Env"] == "test"


async def test_an_unchanged_body_yields_nothing_and_etags_are_used(server: ConfigServer) -> None:
    server.etags = True
    server.set(config("a.test"))
    p = HTTPProvider(server.url(), poll_interval=0.02)
    gen = p.watch()
    first = await anext(gen)
    pending = asyncio.ensure_future(anext(gen))
    await eventually(lambda: server.not_modified >= 5)
    assert not pending.done(), "no snapshot for an unchanged configuration"
    assert "If-None-Match" in server.seen[-1]
    server.set(config("b.test"))
    second = await asyncio.wait_for(pending, 2)
    await gen.aclose()
    assert first.http.routers["r"].rule == "Host(`a.test`)" and second.http.routers["r"].rule == "Host(`b.test`)"


async def test_errors_keep_the_last_good_configuration(server: ConfigServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="traefikpy.providers.http")
    p = HTTPProvider(server.url(), poll_interval=0.02, poll_timeout=0.2)
    async with routed_app(p) as rt:
        server.set(config("good.test", rt.backend.url))
        await rt.wait_status("good.test")
        cases = [
            ("status", lambda: setattr(server, "status", 503), "non-ok response code: 503"),
            ("timeout", lambda: setattr(server, "delay", 0.5), "TimeoutError"),
            ("bad body", lambda: setattr(server, "body", b'{"http": {"routers": {"r": {"priority": "x"}}}}'),
             "priority"),
        ]
        for _desc, breaks, message in cases:
            server.status, server.delay = 200, 0.0
            server.set(config("good.test", rt.backend.url))
            caplog.clear()
            breaks()
            await eventually(lambda m=message: any(m in r.getMessage() for r in caplog.records))  # type: ignore[misc]
            assert await rt.status("good.test") == 200, "last good configuration still serves"
        server.status, server.delay = 200, 0.0
        server.set(config("fixed.test", rt.backend.url))
        await rt.wait_status("fixed.test", timeout=6)


async def test_endpoint_down_then_back(caplog: pytest.LogCaptureFixture) -> None:
    server = ConfigServer()
    await server.start()
    caplog.set_level(logging.ERROR, logger="traefikpy.providers.http")
    p = HTTPProvider(server.url(), poll_interval=0.05)
    async with routed_app(p) as rt:
        server.set(config("a.test", rt.backend.url))
        await rt.wait_status("a.test")
        await server.stop()
        await eventually(lambda: any("cannot fetch" in r.getMessage() for r in caplog.records))
        assert await rt.status("a.test") == 200
        server.set(config("b.test", rt.backend.url))
        await server.start()  # same port
        await rt.wait_status("b.test", timeout=6)
        await server.stop()


async def test_https_with_a_custom_ca_or_without_verification(tmp_path: Path) -> None:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    server = ConfigServer()
    server.set(config("tls.test"))
    await server.start(ssl_context=ctx)
    try:
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        for tls in (ClientTLS(ca=str(tmp_path / "ca.pem")), ClientTLS(insecure_skip_verify=True)):
            gen = HTTPProvider(server.url("https"), poll_interval=1, tls=tls).watch()
            assert set((await asyncio.wait_for(anext(gen), 5)).http.routers) == {"r"}
            await gen.aclose()
        untrusted = HTTPProvider(server.url("https"), poll_interval=1).watch()  # system roots only
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(untrusted), 0.5)
        await untrusted.aclose()
    finally:
        await server.stop()


def test_static_configuration() -> None:
    static = load_static(["--providers.http.endpoint=http://127.0.0.1:1/c", "--providers.http.pollInterval=2s",
                          "--providers.http.headers.X-Token=abc"], {}, search=False)
    assert static.providers is not None and static.providers.http is not None
    p = from_static(static.providers.http)
    assert (p.endpoint, p.poll_interval, p.poll_timeout, p.headers) == ("http://127.0.0.1:1/c", 2.0, 5.0, {"X-Token": "abc"})
    with pytest.raises(ValueError, match="endpoint"):
        HTTPProvider("")
    with pytest.raises(ValueError, match="pollInterval"):
        HTTPProvider("http://x", poll_interval=0)
    assert DynamicConfig() == decode_configuration(b"{}")

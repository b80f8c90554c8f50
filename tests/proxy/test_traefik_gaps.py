"""Traefik behaviours checked end to end through the real App and a real backend:

* ``customRequestHeaders: {X-Forwarded-For: ""}`` sends no X-Forwarded-For at all (Go's nil
  header value makes ``ReverseProxy`` skip it); other spellings or a later value bring it back;
* ``replacePath`` with a path without a leading slash goes upstream as Go writes it;
* the static ``entryPoints.<ep>.http.encodedCharacters`` options (all allowed by default since
  Traefik v3.6.7; ``false`` answers 400 and never reaches the backend; the query is not checked).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.harness import lb, running_app
from tests.middlewares.m1_util import REGISTRY, get, raw_request
from tests.proxy.backends import Backend


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = await Backend.start()
    yield b
    await b.stop()


def _config(backend: Backend, routers: dict[str, list[str]], middlewares: dict[str, Any]) -> dict[str, Any]:
    return {
        "http": {
            "routers": {
                name: {"rule": f"Host(`{name}.test`)", "service": "s", "middlewares": mws}
                for name, mws in routers.items()
            },
            "middlewares": middlewares,
            "services": {"s": lb(backend.url)},
        }
    }


# -- 1. X-Forwarded-For: "" ------------------------------------------------------------------

XFF_MIDDLEWARES = {
    "noxff": {"headers": {"customRequestHeaders": {"X-Forwarded-For": ""}}},
    "lower": {"headers": {"customRequestHeaders": {"x-forwarded-for": ""}}},
    "setxff": {"headers": {"customRequestHeaders": {"X-Forwarded-For": "10.9.9.9"}}},
    "other": {"headers": {"customRequestHeaders": {"X-Other": "1"}}},
}
XFF_ROUTERS = {
    "noxff": ["noxff"],
    "lower": ["lower"],
    "reset": ["noxff", "setxff"],
    "keep": ["noxff", "other"],
    "plain": [],
}
XFF_CASES: list[dict[str, Any]] = [
    {"desc": "exact spelling: no header at all", "host": "noxff.test", "want": []},
    {"desc": "client value removed too", "host": "noxff.test", "extra": "X-Forwarded-For: 6.6.6.6\r\n", "want": []},
    {"desc": "other spelling deletes, the proxy adds the client", "host": "lower.test", "want": ["127.0.0.1"]},
    {"desc": "a later value is kept and appended to", "host": "reset.test", "want": ["10.9.9.9, 127.0.0.1"]},
    {"desc": "an unrelated later edit keeps it out", "host": "keep.test", "want": []},
    {"desc": "without the middleware", "host": "plain.test", "want": ["127.0.0.1"]},
]


@pytest.mark.parametrize("case", XFF_CASES, ids=[c["desc"] for c in XFF_CASES])
async def test_empty_x_forwarded_for_is_not_sent(backend: Backend, case: dict[str, Any]) -> None:
    async with running_app(_config(backend, XFF_ROUTERS, XFF_MIDDLEWARES), middlewares=REGISTRY) as rt:
        for _ in range(2):  # twice: the second request may reuse the forwarder's rendered head
            status, _, _ = await raw_request(rt.app.port("web"), get("/echo", case["host"], case.get("extra", "")))
            assert status == 200
            seen = backend.requests[-1]
            assert seen.header_values("X-Forwarded-For") == case["want"]
            assert seen.header("X-Real-Ip") == "127.0.0.1"  # the other forwarded headers stay


async def test_empty_x_forwarded_for_keep_alive(backend: Backend) -> None:
    """On one keep-alive connection, repeated requests never get the header back."""
    async with running_app(_config(backend, XFF_ROUTERS, XFF_MIDDLEWARES), middlewares=REGISTRY) as rt:
        reader, writer = await asyncio.open_connection("127.0.0.1", rt.app.port("web"))
        try:
            for _ in range(5):
                writer.write(b"GET /echo HTTP/1.1\r\nHost: noxff.test\r\n\r\n")
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                assert backend.requests[-1].header_values("X-Forwarded-For") == []
        finally:
            writer.close()
    assert len(backend.requests) == 5


async def test_empty_x_forwarded_for_with_a_shared_service(backend: Backend) -> None:
    """Two routers to one service, one omitting X-Forwarded-For, requests with identical
    headers (same Host, routed by path): each router keeps its own behaviour."""
    config = {
        "http": {
            "routers": {
                "omit": {"rule": "PathPrefix(`/echo/omit`)", "service": "s", "middlewares": ["noxff"]},
                "plain": {"rule": "PathPrefix(`/echo/plain`)", "service": "s"},
            },
            "middlewares": XFF_MIDDLEWARES,
            "services": {"s": lb(backend.url)},
        }
    }
    async with running_app(config, middlewares=REGISTRY) as rt:
        port = rt.app.port("web")
        for path, want in [("/echo/omit", []), ("/echo/plain", ["127.0.0.1"]), ("/echo/omit", [])]:
            status, _, _ = await raw_request(port, get(path, "a.test"))
            assert status == 200
            assert backend.requests[-1].header_values("X-Forwarded-For") == want, path


# -- 2. replacePath without a leading slash ----------------------------------------------------


async def test_replace_path_without_leading_slash() -> None:
    """Go sets ``URL.RawPath``/``Path`` to the value as given and its client writes
    ``URL.RequestURI()``: ``GET foo?q=1 HTTP/1.1`` (no slash added; Traefik's director keeps it
    because ``url.ParseRequestURI`` refuses it).  Checked on a raw socket backend."""
    lines: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines.append(head)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    middlewares = {
        "rel": {"replacePath": {"path": "foo/bar"}},
        "empty": {"replacePath": {"path": ""}},
        "space": {"replacePath": {"path": "a b"}},
    }
    config = {
        "http": {
            "routers": {n: {"rule": f"Host(`{n}.test`)", "service": "s", "middlewares": [n]} for n in middlewares},
            "middlewares": middlewares,
            "services": {"s": lb(url)},
        }
    }
    try:
        async with running_app(config, middlewares=REGISTRY) as rt:
            cases = [("rel.test", b"GET foo/bar?q=1 HTTP/1.1"), ("empty.test", b"GET /?q=1 HTTP/1.1"),
                     ("space.test", b"GET a%20b?q=1 HTTP/1.1")]
            for host, line in cases:
                status, _, body = await raw_request(rt.app.port("web"), get("/orig?q=1", host))
                assert (status, body) == (200, b"ok")
                head = lines[-1]
                assert head.split(b"\r\n", 1)[0] == line
                assert b"\r\nX-Replaced-Path: /orig?q=1\r\n" in head
    finally:
        server.close()
        await server.wait_closed()


# -- 3. entryPoints.<ep>.http.encodedCharacters ---------------------------------------------------

ENCODED_CASES: list[dict[str, Any]] = [
    {"desc": "defaults allow every escape", "flags": [], "target": "/echo/a%2Fb%5C%00%3B%25%3F%23", "status": 200},
    {"desc": "slash denied", "flags": ["allowEncodedSlash=false"], "target": "/echo/a%2fb", "status": 400},
    {"desc": "slash denied, other escapes pass", "flags": ["allowEncodedSlash=false"], "target": "/echo/a%3Bb", "status": 200},
    {"desc": "query not checked", "flags": ["allowEncodedSlash=false"], "target": "/echo?x=a%2Fb", "status": 200},
    {"desc": "backslash denied", "flags": ["allowEncodedBackSlash=false"], "target": "/echo/%5c", "status": 400},
    {"desc": "null denied", "flags": ["allowEncodedNullCharacter=false"], "target": "/echo/%00", "status": 400},
    {"desc": "semicolon denied", "flags": ["allowEncodedSemicolon=false"], "target": "/echo/%3b", "status": 400},
    {"desc": "percent denied", "flags": ["allowEncodedPercent=false"], "target": "/echo/%25", "status": 400},
    {"desc": "question mark denied", "flags": ["allowEncodedQuestionMark=false"], "target": "/echo/%3f", "status": 400},
    {"desc": "hash denied", "flags": ["allowEncodedHash=false"], "target": "/echo/%23", "status": 400},
    {"desc": "plain path with every option off", "flags": [
        "allowEncodedSlash=false", "allowEncodedBackSlash=false", "allowEncodedNullCharacter=false",
        "allowEncodedSemicolon=false", "allowEncodedPercent=false", "allowEncodedQuestionMark=false",
        "allowEncodedHash=false"], "target": "/echo/a%20b", "status": 200},
]


@pytest.mark.parametrize("case", ENCODED_CASES, ids=[c["desc"] for c in ENCODED_CASES])
async def test_entrypoint_encoded_characters(backend: Backend, case: dict[str, Any]) -> None:
    flags = [f"--entryPoints.web.http.encodedCharacters.{flag}" for flag in case["flags"]]
    config = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}}, "services": {"s": lb(backend.url)}}}
    async with running_app(config, flags=flags) as rt:
        status, _, _ = await raw_request(rt.app.port("web"), get(case["target"], "a.test"))
        assert status == case["status"]
        assert len(backend.requests) == (1 if case["status"] == 200 else 0)


def test_encoded_characters_model_names_and_defaults() -> None:
    from traefikpy.config.sources import load_static

    static = load_static(["--entryPoints.web.address=:80"], {}, search=False)
    options = static.entry_points["web"].http.encoded_characters
    dumped = options.model_dump(by_alias=True)
    assert dumped == {
        "allowEncodedSlash": True, "allowEncodedBackSlash": True, "allowEncodedNullCharacter": True,
        "allowEncodedSemicolon": True, "allowEncodedPercent": True, "allowEncodedQuestionMark": True,
        "allowEncodedHash": True,
    }
    env = {"TRAEFIK_ENTRYPOINTS_WEB_ADDRESS": ":80", "TRAEFIK_ENTRYPOINTS_WEB_HTTP_ENCODEDCHARACTERS_ALLOWENCODEDHASH": "false"}
    options = load_static([], env, search=False).entry_points["web"].http.encoded_characters
    assert (options.allow_encoded_hash, options.allow_encoded_slash) == (False, True)

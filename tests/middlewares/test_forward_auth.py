"""forwardAuth: the auth request's headers and the copies back (tables), then a real auth server
(aiohttp, also over TLS with trustme) in front of a real backend (e2e)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from aiohttp import web

from middlewares import shared
from middlewares.content import detect_content_type
from middlewares.forward_auth import (
    apply_auth_response_headers,
    auth_request_headers,
    canonical_key,
    cookie_hook,
    failure_headers,
)
from tests.conftest import free_port
from tests.harness import lb, running_app
from tests.middlewares.access_util import REGISTRY, exchange
from tests.proxy.backends import Backend
from traefikpy.rules.goregex import compile_go_regexp


@pytest.mark.parametrize(
    ("name", "want"),
    [("x-auth-user", "X-Auth-User"), ("CONTENT-type", "Content-Type"), ("x_y", "X_y"), ("bad name", "bad name"), ("", "")],
)
def test_canonical_key(name: str, want: str) -> None:
    assert canonical_key(name) == want


REQUEST_HEADERS: list[dict[str, Any]] = [
    {"desc": "rebuilt X-Forwarded-* when not trusted", "trust": False, "allowed": [],
     "want": {"X-Forwarded-For": "10.0.0.9", "X-Forwarded-Method": "POST", "X-Forwarded-Proto": "http",
              "X-Forwarded-Host": "app.test:8080", "X-Forwarded-Uri": "/p/a?q=1", "Cookie": "c=1",
              "X-Forwarded-Port": "8080"},
     "absent": ["Host", "Content-Length", "Connection", "X-Hop"]},
    {"desc": "trusted client values win, XFF appended", "trust": True, "allowed": [],
     "want": {"X-Forwarded-For": "1.1.1.1, 2.2.2.2, 10.0.0.9", "X-Forwarded-Method": "PUT",
              "X-Forwarded-Proto": "https", "X-Forwarded-Host": "orig.test", "X-Forwarded-Uri": "/orig"}},
    {"desc": "authRequestHeaders filters the copied headers", "trust": False, "allowed": ["cookie"],
     "want": {"Cookie": "c=1", "X-Forwarded-Method": "POST"}, "absent": ["Accept", "X-Forwarded-Port"]},
]


def _incoming(trusted_values: bool = True) -> Any:
    headers = [
        ("Host", "app.test:8080"), ("Accept", "*/*"), ("Cookie", "c=1"), ("Content-Length", "3"),
        ("Connection", "X-Hop"), ("X-Hop", "1"), ("X-Forwarded-Port", "8080"),
        ("X-Forwarded-For", "1.1.1.1, 2.2.2.2"), ("X-Forwarded-Method", "PUT"), ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "orig.test"), ("X-Forwarded-Uri", "/orig"),
    ]
    return exchange(headers, client_ip="10.0.0.9", method="POST", target="/p/a?q=1", host="app.test")


@pytest.mark.parametrize("case", REQUEST_HEADERS, ids=[c["desc"] for c in REQUEST_HEADERS])
def test_auth_request_headers(case: dict[str, Any]) -> None:
    out = auth_request_headers(_incoming(), case["trust"], case["allowed"])
    names = [k.lower() for k, _ in out]
    assert len(names) == len(set(names)), out  # every X-Forwarded-* header once
    got = dict(out)
    for name, value in case["want"].items():
        assert got.get(name) == value, (name, out)
    for name in case.get("absent", []):
        assert name.lower() not in names, (name, out)


def test_response_headers_replace_request_headers() -> None:
    ex = exchange([("X-Auth-User", "forged"), ("X-Grp-Old", "x"), ("Keep", "1")])
    response = [(b"x-auth-user", b"alice"), (b"X-Grp-A", b"1"), (b"X-Grp-A", b"2"), (b"X-Other", b"o")]
    apply_auth_response_headers(ex, response, ["X-AUTH-USER", "X-Missing"], compile_go_regexp("^X-Grp-"))
    assert sorted(ex.headers) == sorted([(b"Keep", b"1"), (b"X-Auth-User", b"alice"), (b"X-Grp-A", b"1"),
                                         (b"X-Grp-A", b"2")])


FAILURES: list[dict[str, Any]] = [
    {"desc": "relative Location resolved", "location": b"/login?next=1", "preserve": False,
     "want": b"https://auth.test/login?next=1"},
    {"desc": "Location preserved", "location": b"/login?next=1", "preserve": True, "want": b"/login?next=1"},
    {"desc": "absolute Location unchanged", "location": b"http://sso.test/x", "preserve": False, "want": b"http://sso.test/x"},
]


@pytest.mark.parametrize("case", FAILURES, ids=[c["desc"] for c in FAILURES])
def test_failure_headers(case: dict[str, Any]) -> None:
    response = [(b"Connection", b"close"), (b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"5"),
                (b"WWW-Authenticate", b"Bearer"), (b"Location", case["location"])]
    out = failure_headers(response, "https://auth.test/verify", case["preserve"])
    assert out == [(b"WWW-Authenticate", b"Bearer"), (b"Location", case["want"])]


def test_cookie_hook_replaces_named_cookies_only() -> None:
    hook = cookie_hook([b"sess=auth; Path=/", b"ignored=1"], frozenset({b"sess"}))
    headers = [(b"Set-Cookie", b"sess=backend"), (b"Set-Cookie", b"theme=dark"), (b"X", b"y")]
    assert hook(200, headers) == 200
    assert headers == [(b"Set-Cookie", b"theme=dark"), (b"X", b"y"), (b"Set-Cookie", b"sess=auth; Path=/")]


@pytest.mark.parametrize(
    ("body", "want"),
    [(b"denied", b"text/plain; charset=utf-8"), (b"<html><body>x", b"text/html; charset=utf-8"),
     (b"\x00\x01binary", b"application/octet-stream")],
)
def test_sniff(body: bytes, want: bytes) -> None:
    # forwardAuth labels a body without Content-Type with the shared Go sniffer, as bytes
    _sniff = detect_content_type(body).encode()
    assert _sniff == want


@dataclass
class AuthServer:
    """An aiohttp auth server; the path picks the answer, every call is recorded."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    runner: web.AppRunner | None = None
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append({"method": request.method, "path": request.path_qs,
                           "headers": list(request.headers.items()), "body": await request.read()})
        kind = request.match_info["kind"]
        if kind == "ok":
            resp = web.Response(text="fine", headers={"X-Auth-User": "alice", "X-Secret": "s", "X-Grp-A": "1",
                                                      "X-Grp-B": "2", "X-Username": "alice"})
            resp.headers.add("Set-Cookie", "sess=auth; Path=/")
            resp.headers.add("Set-Cookie", "other=auth")
            return resp
        if kind == "deny":
            return web.Response(status=401, text="denied", headers={"WWW-Authenticate": 'Bearer realm="x"',
                                                                   "Location": "/login"})
        if kind == "redirect":
            return web.Response(status=302, headers={"Location": "/sso?rd=1"})
        if kind == "app":  # also a backend that sets cookies
            resp = web.Response(text="app")
            resp.headers.add("Set-Cookie", "sess=backend")
            resp.headers.add("Set-Cookie", "theme=dark")
            return resp
        return web.Response(status=500)

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> AuthServer:
        app = web.Application()
        app.router.add_route("*", "/{kind}", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        scheme = "https" if ssl_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def servers() -> AsyncIterator[tuple[AuthServer, Backend]]:
    auth = await AuthServer().start()
    backend = await Backend.start()
    yield auth, backend
    await backend.stop()
    await auth.stop()


def _config(service_url: str, forward: dict[str, Any]) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["fa"]}},
        "middlewares": {"fa": {"forwardAuth": forward}},
        "services": {"s": lb(service_url)},
    }}


def _headers(call: dict[str, Any]) -> dict[str, str]:
    return {k.lower(): v for k, v in call["headers"]}


async def test_granted_request_carries_auth_headers(servers: tuple[AuthServer, Backend]) -> None:
    auth, backend = servers
    forward = {"address": f"{auth.url}/ok", "authResponseHeaders": ["X-Auth-User"], "authResponseHeadersRegex": "^X-Grp-"}
    async with running_app(_config(backend.url, forward), middlewares=REGISTRY) as rt:
        resp = await rt.request("POST", "/echo/x?y=1", host="app.test",
                                headers={"X-Auth-User": "forged", "X-Grp-Z": "old", "Cookie": "c=1"}, data=b"body")
    assert resp.status == 200
    call = auth.calls[0]
    sent = _headers(call)
    assert call["method"] == "GET" and call["body"] == b""
    assert sent["x-forwarded-method"] == "POST"
    assert sent["x-forwarded-proto"] == "http"
    assert sent["x-forwarded-host"] == "app.test"
    assert sent["x-forwarded-uri"] == "/echo/x?y=1"
    assert sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["cookie"] == "c=1"
    seen = backend.requests[0]
    assert seen.header_values("X-Auth-User") == ["alice"]
    assert seen.header("X-Secret") is None
    assert (seen.header("X-Grp-A"), seen.header("X-Grp-B"), seen.header("X-Grp-Z")) == ("1", "2", None)
    assert seen.body == b"body" and seen.method == "POST"


async def test_denied_answer_goes_back_to_the_client(servers: tuple[AuthServer, Backend]) -> None:
    auth, backend = servers
    async with running_app(_config(backend.url, {"address": f"{auth.url}/deny"}), middlewares=REGISTRY) as rt:
        resp = await rt.get("/echo")
        body = await resp.text()
    assert resp.status == 401
    assert body == "denied"
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="x"'
    assert resp.headers["Location"] == f"{auth.url}/login"
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert backend.requests == []


@pytest.mark.parametrize(("preserve", "location"), [(False, "{auth}/sso?rd=1"), (True, "/sso?rd=1")])
async def test_redirects_are_not_followed(servers: tuple[AuthServer, Backend], preserve: bool, location: str) -> None:
    auth, backend = servers
    forward = {"address": f"{auth.url}/redirect", "preserveLocationHeader": preserve}
    async with running_app(_config(backend.url, forward), middlewares=REGISTRY) as rt:
        resp = await rt.get("/echo")
    assert resp.status == 302
    assert resp.headers["Location"] == location.format(auth=auth.url)
    assert len(auth.calls) == 1 and backend.requests == []


async def test_forward_body_and_method(servers: tuple[AuthServer, Backend]) -> None:
    auth, backend = servers
    forward = {"address": f"{auth.url}/ok", "forwardBody": True, "preserveRequestMethod": True}
    async with running_app(_config(backend.url, forward), middlewares=REGISTRY) as rt:
        resp = await rt.request("PUT", "/echo", data=b"payload")
    assert resp.status == 200
    assert (auth.calls[0]["method"], auth.calls[0]["body"]) == ("PUT", b"payload")
    assert backend.requests[0].body == b"payload"


async def test_body_over_max_body_size_is_refused(servers: tuple[AuthServer, Backend]) -> None:
    auth, backend = servers
    forward = {"address": f"{auth.url}/ok", "forwardBody": True, "maxBodySize": 4}
    async with running_app(_config(backend.url, forward), middlewares=REGISTRY) as rt:
        small = await rt.request("POST", "/echo", data=b"abcd")
        large = await rt.request("POST", "/echo", data=b"abcde")
    assert (small.status, large.status) == (200, 401)
    assert len(auth.calls) == 1 and len(backend.requests) == 1


async def test_auth_cookies_replace_backend_cookies(servers: tuple[AuthServer, Backend]) -> None:
    auth, _ = servers
    forward = {"address": f"{auth.url}/ok", "addAuthCookiesToResponse": ["sess"]}
    async with running_app(_config(f"{auth.url}", forward), middlewares=REGISTRY) as rt:
        resp = await rt.get("/app")
    assert resp.status == 200
    assert sorted(resp.headers.getall("Set-Cookie")) == ["sess=auth; Path=/", "theme=dark"]


async def test_auth_request_headers_filter(servers: tuple[AuthServer, Backend]) -> None:
    auth, backend = servers
    forward = {"address": f"{auth.url}/ok", "authRequestHeaders": ["Authorization"]}
    async with running_app(_config(backend.url, forward), middlewares=REGISTRY) as rt:
        await rt.get("/echo", headers={"Authorization": "Bearer t", "X-Private": "p"})
    sent = _headers(auth.calls[0])
    assert sent["authorization"] == "Bearer t"
    assert "x-private" not in sent and "x-forwarded-uri" in sent


async def test_unreachable_auth_server_gives_500() -> None:
    backend = await Backend.start()
    async with running_app(_config(backend.url, {"address": f"http://127.0.0.1:{free_port()}/"}),
                           middlewares=REGISTRY) as rt:
        resp = await rt.get("/echo")
    await backend.stop()
    assert resp.status == 500
    assert backend.requests == []


async def test_invalid_address_disables_the_middleware() -> None:
    backend = await Backend.start()
    async with running_app(_config(backend.url, {"address": "auth.test/verify"}), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo")).status == 404
        assert any("invalid forwardAuth address" in e for e in rt.state("middleware", "fa@file").errors)
    await backend.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.mark.parametrize(
    ("tls", "status"),
    [("ca", 200), ("none", 500), ("insecure", 200)],
    ids=["trusted CA (PEM)", "unknown CA", "insecureSkipVerify"],
)
async def test_tls_auth_server(ca: trustme.CA, tls: str, status: int) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    auth = await AuthServer().start(server_context)
    backend = await Backend.start()
    forward: dict[str, Any] = {"address": f"{auth.url}/ok"}
    if tls == "ca":
        forward["tls"] = {"ca": ca.cert_pem.bytes().decode()}
    elif tls == "insecure":
        forward["tls"] = {"insecureSkipVerify": True}
    async with running_app(_config(backend.url, forward), middlewares=REGISTRY) as rt:
        resp = await rt.get("/echo")
    await backend.stop()
    await auth.stop()
    assert resp.status == status


async def test_client_is_shared_across_reloads_and_closed_at_shutdown(servers: tuple[AuthServer, Backend]) -> None:
    auth, backend = servers
    key = ("forwardAuth",)
    async with running_app(_config(backend.url, {"address": f"{auth.url}/ok"}), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo")).status == 200
        assert shared.users(key) == 1
        await rt.update(_config(backend.url, {"address": f"{auth.url}/ok", "trustForwardHeader": True}))
        await asyncio.sleep(0.05)
        assert shared.users(key) == 1
        assert (await rt.get("/echo")).status == 200
    assert shared.users(key) == 0

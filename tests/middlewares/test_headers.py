"""The headers middleware: custom request/response headers, CORS (preflights answered by the
middleware, response headers, Vary), security headers and allowedHosts; Traefik's tables on
in-memory exchanges, then end to end through the router."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from middlewares.headers import build_headers
from tests.harness import RunningApp, lb, running_app
from tests.middlewares.m1_util import REGISTRY, BuildCtx, exchange, run
from tests.middlewares.m3_servers import Reply, ScriptServer
from traefikpy.config.middleware_options import Headers
from traefikpy.proxy.http import Exchange


async def _never(ex: Exchange) -> None:
    raise AssertionError("not reached")


BUILD_ERRORS: list[dict[str, Any]] = [
    {"desc": "nothing configured", "options": {}, "error": "headers configuration not valid"},
    {"desc": "only options removed in v3", "options": {"sslRedirect": True, "featurePolicy": "x"},
     "error": "headers configuration not valid"},
    {"desc": "invalid origin regex", "options": {"accessControlAllowOriginListRegex": ["(a"]},
     "error": "error occurred during origin parsing"},
]


@pytest.mark.parametrize("case", BUILD_ERRORS, ids=[c["desc"] for c in BUILD_ERRORS])
def test_build_errors(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=case["error"]):
        build_headers(Headers.model_validate(case["options"]), _never, "m@file", BuildCtx())


def _pairs(ex: Exchange, name: str) -> list[tuple[str, str]]:
    return [(k.decode(), v.decode()) for k, v in ex.headers if k.lower() == name.lower().encode()]


REQUEST: list[dict[str, Any]] = [
    {"desc": "adds a header", "custom": {"X-Custom": "v"}, "sent": [], "name": "X-Custom", "want": [("X-Custom", "v")]},
    {"desc": "replaces every value", "custom": {"X-Custom": "v"}, "sent": [("x-custom", "a"), ("X-CUSTOM", "b")],
     "name": "X-Custom", "want": [("X-Custom", "v")]},
    {"desc": "empty value removes", "custom": {"X-Remove": ""}, "sent": [("X-Remove", "a"), ("x-remove", "b")],
     "name": "X-Remove", "want": []},
    {"desc": "name spelled the Go way", "custom": {"x-lower-case": "v"}, "sent": [], "name": "X-Lower-Case",
     "want": [("X-Lower-Case", "v")]},
    {"desc": "X-Forwarded-For emptied", "custom": {"X-Forwarded-For": ""}, "sent": [("X-Forwarded-For", "1.2.3.4")],
     "name": "X-Forwarded-For", "want": []},
    {"desc": "Host replaces the host sent upstream", "custom": {"Host": "Other.Test:8080"}, "sent": [], "name": "Host",
     "want": [("Host", "Other.Test:8080")], "host": "other.test"},
    {"desc": "deleting Host does nothing", "custom": {"Host": ""}, "sent": [], "name": "Host", "want": [("Host", "a.test")]},
]


@pytest.mark.parametrize("case", REQUEST, ids=[c["desc"] for c in REQUEST])
async def test_custom_request_headers(case: dict[str, Any]) -> None:
    options = Headers(custom_request_headers=case["custom"])
    out = await run(build_headers, options, exchange("/", case["sent"]))
    assert out.seen is not None
    assert _pairs(out.seen, case["name"]) == case["want"]
    if "host" in case:
        assert out.seen.host == case["host"]


RESPONSE: list[dict[str, Any]] = [
    {"desc": "adds", "options": {"customResponseHeaders": {"x-custom": "v"}}, "reply": [], "name": "X-Custom",
     "want": ["v"]},
    {"desc": "replaces the backend's", "options": {"customResponseHeaders": {"Server": "none"}},
     "reply": [(b"server", b"x"), (b"Server", b"y")], "name": "Server", "want": ["none"]},
    {"desc": "removes the backend's", "options": {"customResponseHeaders": {"Server": ""}},
     "reply": [(b"Server", b"x")], "name": "Server", "want": []},
    {"desc": "security header set over the backend's", "options": {"frameDeny": True},
     "reply": [(b"X-Frame-Options", b"SAMEORIGIN")], "name": "X-Frame-Options", "want": ["DENY"]},
    {"desc": "custom header removes a security header", "options": {"frameDeny": True,
     "customResponseHeaders": {"X-Frame-Options": ""}}, "reply": [], "name": "X-Frame-Options", "want": []},
    {"desc": "custom header overrides a security header", "options": {"contentTypeNosniff": True,
     "customResponseHeaders": {"X-Content-Type-Options": "other"}}, "reply": [], "name": "X-Content-Type-Options",
     "want": ["other"]},
    {"desc": "1xx responses untouched", "options": {"customResponseHeaders": {"X-Custom": "v"}}, "reply": [],
     "status": 101, "name": "X-Custom", "want": []},
]


@pytest.mark.parametrize("case", RESPONSE, ids=[c["desc"] for c in RESPONSE])
async def test_response_headers(case: dict[str, Any]) -> None:
    options = Headers.model_validate(case["options"])
    out = await run(build_headers, options, exchange("/"), (case.get("status", 200), case["reply"], b""))
    assert out.response.header_values(case["name"]) == case["want"]


CORS_ALLOW = {"accessControlAllowMethods": ["GET", "OPTIONS", "PUT"], "accessControlAllowOriginList": ["https://foo.bar.org"],
              "accessControlMaxAge": 600}
PREFLIGHT: list[dict[str, Any]] = [
    {"desc": "simple preflight", "options": CORS_ALLOW, "origin": "https://foo.bar.org",
     "want": {"Access-Control-Allow-Origin": "https://foo.bar.org", "Access-Control-Max-Age": "600",
              "Access-Control-Allow-Methods": "GET,OPTIONS,PUT"}},
    {"desc": "wildcard origin", "options": {**CORS_ALLOW, "accessControlAllowOriginList": ["*"]},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Allow-Origin": "*", "Access-Control-Max-Age": "600",
                                               "Access-Control-Allow-Methods": "GET,OPTIONS,PUT"}},
    {"desc": "credentials and headers", "options": {"accessControlAllowCredentials": True,
     "accessControlAllowHeaders": ["origin", "X-Requested-With"], "accessControlAllowOriginList": ["*"]},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Origin": "*",
                                               "Access-Control-Allow-Headers": "origin,X-Requested-With",
                                               "Access-Control-Max-Age": "0"}},
    {"desc": "origin not allowed", "options": CORS_ALLOW, "origin": "https://evil.org",
     "want": {"Access-Control-Max-Age": "600", "Access-Control-Allow-Methods": "GET,OPTIONS,PUT"}},
    {"desc": "origin by regex", "options": {"accessControlAllowOriginListRegex": [r"^https?://([a-z]+)\.bar\.org$"]},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Allow-Origin": "https://foo.bar.org",
                                               "Access-Control-Max-Age": "0"}},
    {"desc": "security headers and allowedHosts skipped", "options": {**CORS_ALLOW, "frameDeny": True,
     "allowedHosts": ["elsewhere.test"], "customResponseHeaders": {"X-Custom": "v"}},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Allow-Origin": "https://foo.bar.org",
                                               "Access-Control-Max-Age": "600", "Access-Control-Allow-Methods": "GET,OPTIONS,PUT"}},
]


@pytest.mark.parametrize("case", PREFLIGHT, ids=[c["desc"] for c in PREFLIGHT])
async def test_cors_preflight(case: dict[str, Any]) -> None:
    request = [("Origin", case["origin"]), ("Access-Control-Request-Method", "GET"),
               ("Access-Control-Request-Headers", "origin")]
    out = await run(build_headers, Headers.model_validate(case["options"]), exchange("/", request, method="OPTIONS"))
    assert out.seen is None
    assert out.status == 200
    got = {k.decode(): v.decode() for k, v in out.response.headers if k.lower().startswith(b"access-control-")}
    assert got == case["want"]
    assert out.response.header("Content-Length") == "0"
    assert out.response.header("X-Frame-Options") is None
    assert out.response.header("X-Custom") is None


async def test_options_without_request_method_is_forwarded() -> None:
    out = await run(build_headers, Headers.model_validate(CORS_ALLOW), exchange("/", [("Origin", "https://foo.bar.org")],
                                                                                  method="OPTIONS"))
    assert out.seen is not None
    assert out.response.header("Access-Control-Allow-Origin") == "https://foo.bar.org"


CORS_RESPONSE: list[dict[str, Any]] = [
    {"desc": "wildcard", "options": {"accessControlAllowOriginList": ["*"]}, "origin": "https://foo.bar.org",
     "want": {"Access-Control-Allow-Origin": "*"}},
    {"desc": "wildcard without an Origin", "options": {"accessControlAllowOriginList": ["*"]}, "origin": None,
     "want": {"Access-Control-Allow-Origin": "*"}},
    {"desc": "no Origin, listed origin", "options": {"accessControlAllowOriginList": ["https://foo.bar.org"]},
     "origin": None, "want": {}},
    {"desc": "origin not allowed keeps the backend's", "options": {"accessControlAllowOriginList": ["https://a.org"]},
     "origin": "https://b.org", "reply": [(b"Access-Control-Allow-Origin", b"https://b.org")],
     "want": {"Access-Control-Allow-Origin": "https://b.org"}},
    {"desc": "allowed origin replaces the backend's", "options": {"accessControlAllowOriginList": ["https://a.org"]},
     "origin": "https://a.org", "reply": [(b"access-control-allow-origin", b"*")],
     "want": {"Access-Control-Allow-Origin": "https://a.org"}},
    {"desc": "credentials", "options": {"accessControlAllowOriginList": ["*"], "accessControlAllowCredentials": True},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"}},
    {"desc": "expose headers", "options": {"accessControlExposeHeaders": ["origin", "X-Requested-With"]},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Expose-Headers": "origin,X-Requested-With"}},
    {"desc": "vary added", "options": {"accessControlAllowOriginList": ["https://foo.bar.org"], "addVaryHeader": True},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Allow-Origin": "https://foo.bar.org", "Vary": "Origin"}},
    {"desc": "vary appended", "options": {"accessControlAllowOriginList": ["https://foo.bar.org"], "addVaryHeader": True},
     "origin": "https://foo.bar.org", "reply": [(b"Vary", b"Testing"), (b"Vary", b"Other")],
     "want": {"Access-Control-Allow-Origin": "https://foo.bar.org", "Vary": "Testing,Origin"}},
    {"desc": "vary already Origin", "options": {"accessControlAllowOriginList": ["*"], "addVaryHeader": True},
     "origin": "https://foo.bar.org", "reply": [(b"Vary", b"Origin")],
     "want": {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}},
    {"desc": "origin regex", "options": {"accessControlAllowOriginListRegex": [r"bar\.org$"]},
     "origin": "https://foo.bar.org", "want": {"Access-Control-Allow-Origin": "https://foo.bar.org"}},
]


@pytest.mark.parametrize("case", CORS_RESPONSE, ids=[c["desc"] for c in CORS_RESPONSE])
async def test_cors_response(case: dict[str, Any]) -> None:
    request = [("Origin", case["origin"])] if case["origin"] else []
    out = await run(build_headers, Headers.model_validate(case["options"]), exchange("/", request),
                    (200, case.get("reply", []), b""))
    assert out.seen is not None
    got = {k.decode(): v.decode() for k, v in out.response.headers}
    assert got == case["want"]


SECURE: list[dict[str, Any]] = [
    {"desc": "frameDeny", "options": {"frameDeny": True}, "want": {"X-Frame-Options": "DENY"}},
    {"desc": "custom frame options win", "options": {"frameDeny": True, "customFrameOptionsValue": "SAMEORIGIN"},
     "want": {"X-Frame-Options": "SAMEORIGIN"}},
    {"desc": "nosniff", "options": {"contentTypeNosniff": True}, "want": {"X-Content-Type-Options": "nosniff"}},
    {"desc": "xss filter", "options": {"browserXssFilter": True}, "want": {"X-Xss-Protection": "1; mode=block"}},
    {"desc": "custom xss value wins", "options": {"browserXssFilter": True, "customBrowserXSSValue": "0"},
     "want": {"X-Xss-Protection": "0"}},
    {"desc": "STS not on http", "options": {"stsSeconds": 31536000}, "want": {}},
    {"desc": "STS on https", "options": {"stsSeconds": 31536000, "stsIncludeSubdomains": True, "stsPreload": True},
     "scheme": "https", "want": {"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload"}},
    {"desc": "STS forced on http", "options": {"stsSeconds": 1, "forceSTSHeader": True},
     "want": {"Strict-Transport-Security": "max-age=1"}},
    {"desc": "STS never in development", "options": {"stsSeconds": 1, "forceSTSHeader": True, "isDevelopment": True},
     "scheme": "https", "want": {}},
    {"desc": "sslProxyHeaders mark https", "options": {"stsSeconds": 60, "sslProxyHeaders": {"X-Forwarded-Proto": "https"}},
     "request": [("X-Forwarded-Proto", "https")], "want": {"Strict-Transport-Security": "max-age=60"}},
    {"desc": "sslProxyHeaders value must match", "options": {"stsSeconds": 60, "sslProxyHeaders": {"X-Forwarded-Proto": "https"}},
     "request": [("X-Forwarded-Proto", "http")], "want": {}},
    {"desc": "public key only on https", "options": {"publicKey": "pin-sha256=\"x\""}, "want": {}},
    {"desc": "public key on https", "options": {"publicKey": "pin-sha256=\"x\""}, "scheme": "https",
     "want": {"Public-Key-Pins": "pin-sha256=\"x\""}},
    {"desc": "policies", "options": {"contentSecurityPolicy": "default-src 'self'", "contentSecurityPolicyReportOnly": "img-src *",
     "referrerPolicy": "no-referrer", "permissionsPolicy": "camera=()"},
     "want": {"Content-Security-Policy": "default-src 'self'", "Content-Security-Policy-Report-Only": "img-src *",
              "Referrer-Policy": "no-referrer", "Permissions-Policy": "camera=()"}},
    {"desc": "removed options do nothing", "options": {"frameDeny": True, "featurePolicy": "vibrate 'none'", "sslRedirect": True},
     "want": {"X-Frame-Options": "DENY"}},
]


@pytest.mark.parametrize("case", SECURE, ids=[c["desc"] for c in SECURE])
async def test_security_headers(case: dict[str, Any]) -> None:
    ex = exchange("/", case.get("request", []), scheme=case.get("scheme", "http"))
    out = await run(build_headers, Headers.model_validate(case["options"]), ex)
    assert out.seen is not None
    assert {k.decode(): v.decode() for k, v in out.response.headers} == case["want"]


async def test_csp_nonce_per_request() -> None:
    options = Headers(content_security_policy="script-src $NONCE")
    values = []
    for _ in range(2):
        out = await run(build_headers, options, exchange("/"))
        value = out.response.header("Content-Security-Policy")
        assert value is not None and re.fullmatch(r"script-src 'nonce-[A-Za-z0-9+/]{22}'", value)
        values.append(value)
    assert values[0] != values[1]


HOSTS: list[dict[str, Any]] = [
    {"desc": "allowed host", "options": {"allowedHosts": ["a.test"]}, "host": "a.test", "ok": True},
    {"desc": "allowed ignoring case", "options": {"allowedHosts": ["A.Test"]}, "host": "a.TEST", "ok": True},
    {"desc": "other host", "options": {"allowedHosts": ["a.test"]}, "host": "b.test", "ok": False},
    {"desc": "the port counts", "options": {"allowedHosts": ["a.test"]}, "host": "a.test:8080", "ok": False},
    {"desc": "proxy header first", "options": {"allowedHosts": ["a.test"], "hostsProxyHeaders": ["X-Forwarded-Host"]},
     "host": "b.test", "request": [("X-Forwarded-Host", "a.test")], "ok": True},
    {"desc": "proxy header with another host", "options": {"allowedHosts": ["a.test"], "hostsProxyHeaders": ["X-Forwarded-Host"]},
     "host": "a.test", "request": [("X-Forwarded-Host", "b.test")], "ok": False},
    {"desc": "development allows all", "options": {"allowedHosts": ["a.test"], "isDevelopment": True}, "host": "b.test",
     "ok": True},
]


@pytest.mark.parametrize("case", HOSTS, ids=[c["desc"] for c in HOSTS])
async def test_allowed_hosts(case: dict[str, Any]) -> None:
    ex = exchange("/", case.get("request", []), host=case["host"])
    out = await run(build_headers, Headers.model_validate(case["options"]), ex)
    if case["ok"]:
        assert out.seen is not None and out.status == 200
    else:
        assert out.seen is None
        assert (out.status, out.response.body) == (500, b"Bad Host\n")


async def test_bad_host_gets_custom_and_cors_headers_only() -> None:
    options = Headers.model_validate({"allowedHosts": ["a.test"], "frameDeny": True, "customResponseHeaders": {"X-Custom": "v"},
                                      "accessControlAllowOriginList": ["*"]})
    out = await run(build_headers, options, exchange("/", host="b.test"))
    assert out.status == 500
    assert out.response.header("X-Custom") == "v"
    assert out.response.header("Access-Control-Allow-Origin") == "*"
    assert out.response.header("X-Frame-Options") is None


# -- end to end ------------------------------------------------------------------------------

MIDDLEWARE = {
    "headers": {
        "customRequestHeaders": {"X-Script-Name": "test", "X-Custom-Request-Header": ""},
        "customResponseHeaders": {"X-Custom-Response-Header": "value", "X-Backend": ""},
        "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
        "accessControlAllowOriginList": ["https://foo.bar.org"],
        "accessControlMaxAge": 100,
        "addVaryHeader": True,
        "frameDeny": True,
        "stsSeconds": 3600,
        "sslProxyHeaders": {"X-Forwarded-Proto": "https"},
        "allowedHosts": ["hdr.test"],
    }
}


def _script(request: Any) -> Reply:
    return Reply(200, b"ok", [(b"X-Backend", b"secret"), (b"Vary", b"Accept-Encoding"), (b"Content-Type", b"text/plain")])


@pytest.fixture
async def app() -> AsyncIterator[tuple[RunningApp, ScriptServer]]:
    backend = await ScriptServer.start(_script)
    config = {"http": {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["hdr"]}},
        "middlewares": {"hdr": MIDDLEWARE}, "services": {"s": lb(backend.url)}}}
    async with running_app(config, middlewares=REGISTRY) as rt:
        yield rt, backend
    await backend.stop()


async def test_headers_e2e(app: tuple[RunningApp, ScriptServer]) -> None:
    rt, backend = app
    resp = await rt.request("OPTIONS", "/x", host="hdr.test", headers={
        "Origin": "https://foo.bar.org", "Access-Control-Request-Method": "PUT"})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "https://foo.bar.org"
    assert resp.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS,PUT"
    assert resp.headers["Access-Control-Max-Age"] == "100"
    assert "X-Frame-Options" not in resp.headers
    assert not backend.requests  # the preflight never reached the backend

    resp = await rt.get("/x", host="hdr.test", headers={"Origin": "https://foo.bar.org", "X-Custom-Request-Header": "gone"})
    assert resp.status == 200 and await resp.read() == b"ok"
    assert resp.headers["X-Custom-Response-Header"] == "value"
    assert "X-Backend" not in resp.headers
    assert resp.headers["Access-Control-Allow-Origin"] == "https://foo.bar.org"
    assert resp.headers.getall("Vary") == ["Accept-Encoding,Origin"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in resp.headers  # plain http, X-Forwarded-Proto set by the entry point
    seen = backend.requests[-1]
    assert seen.header("X-Script-Name") == "test"
    assert seen.header("X-Custom-Request-Header") is None

    resp = await rt.get("/x", host="other.test")
    assert (resp.status, await resp.text()) == (500, "Bad Host\n")
    assert resp.headers["X-Custom-Response-Header"] == "value"
    assert len(backend.requests) == 1


FOLDS: list[dict[str, Any]] = [
    {"desc": "inner overrides a request header, outer a response header", "chain": [
        {"customRequestHeaders": {"X-A": "outer"}, "customResponseHeaders": {"X-R": "outer"}},
        {"customRequestHeaders": {"X-A": "inner"}, "customResponseHeaders": {"X-R": "inner", "X-I": "i"}}]},
    {"desc": "deletes and re-adds across layers", "chain": [
        {"customRequestHeaders": {"X-B": ""}, "customResponseHeaders": {"X-Del": ""}},
        {"customRequestHeaders": {"X-B": "b", "X-C": ""}, "customResponseHeaders": {"X-Del": "set", "X-Up": ""}},
        {"customRequestHeaders": {"X-C": "c"}, "customResponseHeaders": {"X-Up": "innermost"}}]},
    {"desc": "Host and X-Forwarded-For edits, last one wins", "chain": [
        {"customRequestHeaders": {"X-Forwarded-For": "", "Host": "Outer.Test"}},
        {"customRequestHeaders": {"X-Forwarded-For": "10.0.0.1"}, "customResponseHeaders": {"X-R": "1"}},
        {"customRequestHeaders": {"Host": "inner.test:81"}}]},
    {"desc": "X-Forwarded-For emptied by the inner one", "chain": [
        {"customRequestHeaders": {"X-Forwarded-For": "10.0.0.1"}},
        {"customRequestHeaders": {"X-Forwarded-For": ""}}]},
]


async def _chain_outcome(chain: list[dict[str, Any]], fold: bool) -> tuple[Any, ...]:
    seen: list[Exchange] = []

    async def backend(ex: Exchange) -> None:
        seen.append(ex)
        await ex.send_head(200, [(b"X-R", b"backend"), (b"X-Del", b"backend"), (b"X-Up", b"backend"),
                                 (b"Content-Length", b"0")])
        await ex.end()

    handler: Any = backend
    for options in reversed(chain):
        if not fold:
            handler = _opaque(handler)  # not a Headers middleware: nothing folds into it
        handler = build_headers(Headers.model_validate(options), handler, "m@file", BuildCtx())
    if fold:
        assert handler.custom_headers[2] is backend  # one handler in front of the backend
    ex = exchange("/", [("X-A", "client"), ("X-B", "client"), ("X-C", "client"), ("X-Forwarded-For", "1.1.1.1")])
    await handler(ex)
    got = seen[0]
    response = ex.writer
    return sorted(got.headers), got.host, got.extras or {}, sorted(response.headers)  # type: ignore[attr-defined]


def _opaque(inner: Any) -> Any:
    async def opaque(ex: Exchange) -> None:
        await inner(ex)

    return opaque


@pytest.mark.parametrize("case", FOLDS, ids=[c["desc"] for c in FOLDS])
async def test_adjacent_custom_headers_fold_to_the_same_effect(case: dict[str, Any]) -> None:
    """Adjacent custom-headers-only middlewares are folded into one handler: what the backend
    and the client see is what the same middlewares give one after the other."""
    folded = await _chain_outcome(case["chain"], fold=True)
    assert folded == await _chain_outcome(case["chain"], fold=False)
    assert folded[0]  # the exchange went through

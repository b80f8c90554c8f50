"""redirectRegex and redirectScheme: Traefik's tables (status, Location, pass-through) on
in-memory exchanges, and end-to-end redirects through the router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from middlewares.redirect import build_redirect_regex, build_redirect_scheme
from tests.harness import RunningApp, lb, running_app
from tests.middlewares.m1_util import REGISTRY, BuildCtx, exchange, run
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import RedirectRegex, RedirectScheme
from traefikpy.proxy.http import Exchange


async def _never(ex: Exchange) -> None:
    raise AssertionError("not reached")


REGEX: list[dict[str, Any]] = [
    {"desc": "simple redirection", "regex": r"^(?:http?:\/\/)(foo)(\.com)(:\d+)(.*)$",
     "replacement": "https://${1}bar$2:443$4", "host": "foo.com:80", "location": "https://foobar.com:443/", "status": 302},
    {"desc": "URL doesn't match regex", "regex": r"^(?:http?:\/\/)(foo)(\.com)(:\d+)(.*)$",
     "replacement": "https://${1}bar$2:443$4", "host": "bar.com:80", "status": 200},
    {"desc": "invalid rewritten URL", "regex": "^(.*)$", "replacement": "http://192.168.0.%31/", "host": "foo.com:80",
     "status": 502, "body": b"Bad Gateway"},
    {"desc": "HTTP to HTTPS permanent", "regex": "^http://", "replacement": "https://$1", "host": "foo",
     "permanent": True, "location": "https://foo/", "status": 301},
    {"desc": "HTTPS to HTTP permanent", "regex": "https://foo", "replacement": "http://foo", "host": "foo",
     "scheme": "https", "permanent": True, "location": "http://foo/", "status": 301},
    {"desc": "HTTP to HTTPS", "regex": "http://foo:80", "replacement": "https://foo:443", "host": "foo:80",
     "location": "https://foo:443/", "status": 302},
    {"desc": "X-Forwarded-Proto is not consulted", "regex": "http://foo:80", "replacement": "https://foo:443",
     "host": "foo:80", "headers": [("X-Forwarded-Proto", "https")], "location": "https://foo:443/", "status": 302},
    {"desc": "HTTPS to HTTP", "regex": "https://foo:443", "replacement": "http://foo:80", "host": "foo:443",
     "scheme": "https", "location": "http://foo:80/", "status": 302},
    {"desc": "HTTP to HTTP", "regex": "http://foo:80", "replacement": "http://foo:88", "host": "foo:80",
     "location": "http://foo:88/", "status": 302},
    {"desc": "POST is a 307", "regex": "^http://", "replacement": "https://$1", "host": "foo", "method": "POST",
     "location": "https://foo/", "status": 307},
    {"desc": "POST permanent is a 308", "regex": "^http://", "replacement": "https://$1", "host": "foo",
     "method": "POST", "permanent": True, "location": "https://foo/", "status": 308},
    {"desc": "HEAD is a 307", "regex": "^http://", "replacement": "https://", "host": "foo", "method": "HEAD",
     "location": "https://foo/", "status": 307},
    {"desc": "path and query are part of the URL", "regex": r"^http://foo/old/(.*)", "replacement": "http://foo/new/${1}",
     "host": "foo", "target": "/old/a?b=c", "location": "http://foo/new/a?b=c", "status": 302},
    {"desc": "same URL passes through", "regex": "^(.*)$", "replacement": "$1", "host": "foo", "status": 200},
    {"desc": "Location printed as Go does", "regex": "^http://foo/(.*)", "replacement": "https://bar/x y/$1",
     "host": "foo", "target": "/z", "location": "https://bar/x%20y/z", "status": 302},
]


@pytest.mark.parametrize("case", REGEX, ids=[c["desc"] for c in REGEX])
async def test_redirect_regex(case: dict[str, Any]) -> None:
    options = RedirectRegex(regex=case["regex"], replacement=case["replacement"], permanent=case.get("permanent", False))
    ex = exchange(case.get("target", "/"), case.get("headers", []), method=case.get("method", "GET"),
                  host=case["host"], scheme=case.get("scheme", "http"))
    out = await run(build_redirect_regex, options, ex)
    assert out.status == case["status"]
    assert out.response.header("Location") == case.get("location")
    if "location" in case:
        assert out.seen is None
        if case.get("method", "GET") != "HEAD":
            assert out.response.body == {301: b"Moved Permanently", 302: b"Found", 307: b"Temporary Redirect",
                                         308: b"Permanent Redirect"}[case["status"]]
    if "body" in case:
        assert out.response.body == case["body"]


def test_redirect_regex_invalid() -> None:
    with pytest.raises(ValueError, match="error parsing regexp"):
        build_redirect_regex(RedirectRegex(regex="^(.*", replacement="$1"), _never, "m@file", BuildCtx())


SCHEME: list[dict[str, Any]] = [
    {"desc": "HTTP to HTTPS", "scheme": "https", "host": "foo", "location": "https://foo/"},
    {"desc": "X-Forwarded-Proto http", "scheme": "https", "host": "foo", "xfp": "http", "location": "https://foo/"},
    {"desc": "X-Forwarded-Proto https", "scheme": "https", "host": "foo", "xfp": "https", "status": 200},
    {"desc": "X-Forwarded-Proto unknown", "scheme": "https", "host": "foo", "xfp": "bar", "location": "https://foo/"},
    {"desc": "X-Forwarded-Proto ws", "scheme": "https", "host": "foo", "xfp": "ws", "location": "https://foo/"},
    {"desc": "X-Forwarded-Proto wss", "scheme": "https", "host": "foo", "xfp": "wss", "status": 200},
    {"desc": "X-Forwarded-Proto case", "scheme": "https", "host": "foo", "xfp": "HTTPS", "status": 200},
    {"desc": "HTTP with port to HTTPS without port", "scheme": "https", "host": "foo:8080", "location": "https://foo/"},
    {"desc": "HTTP without port to HTTPS with port", "scheme": "https", "port": "8443", "host": "foo",
     "location": "https://foo:8443/"},
    {"desc": "HTTP with port to HTTPS with port", "scheme": "https", "port": "8443", "host": "foo:8000",
     "location": "https://foo:8443/"},
    {"desc": "HTTPS with port to HTTPS with port", "scheme": "https", "port": "8443", "host": "foo:8000",
     "tls": True, "location": "https://foo:8443/"},
    {"desc": "HTTPS with port to HTTPS without port", "scheme": "https", "host": "foo:8000", "tls": True,
     "target": "/theother", "location": "https://foo/theother"},
    {"desc": "permanent", "scheme": "https", "port": "8443", "host": "foo", "permanent": True,
     "location": "https://foo:8443/", "status": 301},
    {"desc": "POST", "scheme": "https", "host": "foo", "method": "POST", "location": "https://foo/", "status": 307},
    {"desc": "POST permanent", "scheme": "https", "host": "foo", "method": "POST", "permanent": True,
     "location": "https://foo/", "status": 308},
    {"desc": "to HTTP 80", "scheme": "http", "port": "80", "host": "foo:80", "status": 200},
    {"desc": "to HTTPS 443", "scheme": "https", "port": "443", "host": "foo:443", "tls": True, "status": 200},
    {"desc": "HTTP to wss", "scheme": "wss", "port": "9443", "host": "foo", "location": "wss://foo:9443/"},
    {"desc": "HTTP to wss without port", "scheme": "wss", "host": "foo", "location": "wss://foo/"},
    {"desc": "HTTP with port to wss without port", "scheme": "wss", "host": "foo:5678", "location": "wss://foo/"},
    {"desc": "HTTP port 443 to HTTPS", "scheme": "https", "host": "foo:443", "location": "https://foo/"},
    {"desc": "HTTP port redirection", "scheme": "http", "port": "8181", "host": "foo:8080", "location": "http://foo:8181/"},
    {"desc": "HTTPS port 80 to HTTPS", "scheme": "https", "host": "foo:80", "tls": True, "location": "https://foo/"},
    {"desc": "IPv6 without port", "scheme": "https", "host": "[::1]", "location": "https://[::1]/"},
    {"desc": "IPv6 to a port", "scheme": "https", "port": "8443", "host": "[::1]", "location": "https://[::1]:8443/"},
    {"desc": "IPv6 port 80", "scheme": "https", "host": "[::1]:80", "location": "https://[::1]/"},
    {"desc": "IPv6 port 80 to a port", "scheme": "https", "port": "8443", "host": "[::1]:80",
     "location": "https://[::1]:8443/"},
    {"desc": "path and query kept", "scheme": "https", "host": "foo", "target": "/a/b?x=1&y",
     "location": "https://foo/a/b?x=1&y"},
]


@pytest.mark.parametrize("case", SCHEME, ids=[c["desc"] for c in SCHEME])
async def test_redirect_scheme(case: dict[str, Any]) -> None:
    options = RedirectScheme(scheme=case["scheme"], port=case.get("port", ""), permanent=case.get("permanent", False))
    headers = [("X-Forwarded-Proto", case["xfp"])] if "xfp" in case else []
    ex = exchange(case.get("target", "/"), headers, method=case.get("method", "GET"), host=case["host"],
                  scheme="https" if case.get("tls") else "http")
    out = await run(build_redirect_scheme, options, ex)
    assert out.status == case.get("status", 302)
    assert out.response.header("Location") == case.get("location")
    assert (out.seen is None) == ("location" in case)


def test_redirect_scheme_without_scheme() -> None:
    with pytest.raises(ValueError, match="you must provide a target scheme"):
        build_redirect_scheme(RedirectScheme(), _never, "m@file", BuildCtx())


# -- end to end ------------------------------------------------------------------------------

MIDDLEWARES = {
    "tohttps": {"redirectScheme": {"scheme": "https", "port": "8443", "permanent": True}},
    "moved": {"redirectRegex": {"regex": "^http://moved.test/old/(.*)", "replacement": "http://moved.test/new/${1}"}},
}


@pytest.fixture
async def app() -> AsyncIterator[tuple[RunningApp, Backend]]:
    backend = await Backend.start()
    routers = {
        "tohttps": {"rule": "Host(`tohttps.test`)", "service": "s", "middlewares": ["tohttps"]},
        "moved": {"rule": "Host(`moved.test`)", "service": "s", "middlewares": ["moved"]},
    }
    config = {"http": {"routers": routers, "middlewares": MIDDLEWARES, "services": {"s": lb(backend.url)}}}
    async with running_app(config, middlewares=REGISTRY) as rt:
        yield rt, backend
    await backend.stop()


async def test_redirect_e2e(app: tuple[RunningApp, Backend]) -> None:
    rt, backend = app
    resp = await rt.get("/echo/a?b=1", host="tohttps.test")
    assert resp.status == 301
    assert resp.headers["Location"] == "https://tohttps.test:8443/echo/a?b=1"
    assert await resp.text() == "Moved Permanently"
    resp = await rt.request("POST", "/echo/a", host="tohttps.test", data=b"x")
    assert resp.status == 308

    resp = await rt.get("/old/page?x=1", host="moved.test")
    assert (resp.status, resp.headers["Location"]) == (302, "http://moved.test/new/page?x=1")
    assert not backend.requests  # nothing reached the backend so far
    resp = await rt.get("/echo/other", host="moved.test")
    assert resp.status == 200
    assert backend.requests[-1].target == "/echo/other"


async def test_redirect_scheme_trusts_forwarded_proto_only_from_trusted_hops(app: tuple[RunningApp, Backend]) -> None:
    """The entry point replaces a client's X-Forwarded-Proto (not trusted): still redirected."""
    rt, _ = app
    resp = await rt.get("/echo", host="tohttps.test", headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 301

"""errors: page targets and status rewrites (tables), then error pages through the real router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from middlewares.errors_pages import FACTORIES, page_target, parse_rewrites, rewrite_status
from tests.conftest import free_port
from tests.harness import lb, running_app
from tests.middlewares.m3_servers import Reply, Request, ScriptServer
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import ErrorPage

TARGET_CASES: list[dict[str, Any]] = [
    {"desc": "empty query asks for /", "query": "", "want": (b"/", b"")},
    {"desc": "status", "query": "/{status}.html", "want": (b"/503.html", b"")},
    {"desc": "leading slash added", "query": "{status}.html", "want": (b"/503.html", b"")},
    {"desc": "only one leading slash removed", "query": "//x", "want": (b"//x", b"")},
    {"desc": "original status", "query": "/{status}-{originalStatus}", "want": (b"/503-500", b"")},
    {"desc": "query string", "query": "/e?code={status}", "want": (b"/e", b"code=503")},
    {"desc": "escaped url", "query": "/e?u={url}", "want": (b"/e", b"u=%2Fa%2520b%3Fx%3D1%26y%3D%C3%A9")},
    {"desc": "fragment dropped", "query": "/page#frag", "want": (b"/page", b"")},
    {"desc": "path escaped", "query": "/a page.html", "want": (b"/a%20page.html", b"")},
]


@pytest.mark.parametrize("case", TARGET_CASES, ids=[c["desc"] for c in TARGET_CASES])
def test_page_target(case: dict[str, Any]) -> None:
    url = "/a%20b?x=1&y=é".encode()
    assert page_target(case["query"], 503, 500, url) == case["want"]


REWRITE_CASES: list[dict[str, Any]] = [
    {"desc": "single status", "rewrites": {"418": 404}, "code": 418, "want": 404},
    {"desc": "range", "rewrites": {"502-504": 500}, "code": 503, "want": 500},
    {"desc": "not matching", "rewrites": {"502-504": 500}, "code": 501, "want": 501},
    {"desc": "first match wins", "rewrites": {"500-599": 500, "503": 404}, "code": 503, "want": 500},
    {"desc": "comma list", "rewrites": {"401,403": 404}, "code": 403, "want": 404},
]


@pytest.mark.parametrize("case", REWRITE_CASES, ids=[c["desc"] for c in REWRITE_CASES])
def test_rewrites(case: dict[str, Any]) -> None:
    assert rewrite_status(case["code"], parse_rewrites(case["rewrites"])) == case["want"]


class _Ctx:
    def __init__(self, known: set[str]) -> None:
        self.known = known

    def service(self, name: str) -> Any:
        if name not in self.known:
            raise ValueError(f"the service {name!r} does not exist")
        return _noop

    def spawn(self, coro: Any, name: str) -> Any:
        raise AssertionError("not used")


async def _noop(ex: Any) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"status": ["500"], "service": "missing"}, "does not exist"),
        ({"status": ["500"]}, "needs a service"),
        ({"status": ["5xx"], "service": "pages"}, "invalid HTTP status code range"),
        ({"status": ["500"], "service": "pages", "statusRewrites": {"4xx": 404}}, "statusRewrites"),
        ({"status": ["500"], "service": "pages", "statusRewrites": {"418": 42}}, "statusRewrites"),
    ],
    ids=["unknown service", "no service", "bad status", "bad rewrite key", "bad rewrite status"],
)
def test_build_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FACTORIES["errors"](ErrorPage.model_validate(options), _noop, "e@file", _Ctx({"pages"}))  # type: ignore[arg-type]


def _page(req: Request) -> Reply:
    return Reply(200, f"page {req.method} {req.target}".encode(), [(b"X-Page", b"yes"), (b"Content-Type", b"text/plain")])


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Backend, ScriptServer]]:
    backend = await Backend.start()
    pages = await ScriptServer.start(_page)
    yield backend, pages
    await pages.stop()
    await backend.stop()


def _config(main: str, pages: str, **errors: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["errs"]}},
        "middlewares": {"errs": {"errors": {"status": ["500-599"], "service": "pages", **errors}}},
        "services": {"s": lb(main), "pages": lb(pages)},
    }}


async def test_error_page_replaces_the_response(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    async with running_app(_config(backend.url, pages.url, query="/{status}.html"), middlewares=FACTORIES) as rt:
        resp = await rt.request("POST", "/status/500", host="a.test", data=b"body", headers={"X-Custom": "1"})
        assert resp.status == 500
        assert await resp.text() == "page GET /500.html"
        assert resp.headers["X-Page"] == "yes"
        seen = pages.requests[-1]
        assert (seen.method, seen.body, seen.header("X-Custom"), seen.header("Host")) == ("GET", b"", "1", "a.test")
        passed = await rt.get("/status/404", host="a.test")
        assert (passed.status, await passed.text()) == (404, "status 404\n")
        ok = await rt.get("/echo", host="a.test")
        assert ok.status == 200 and "X-Page" not in ok.headers
        assert len(pages.requests) == 1


async def test_status_rewrites_and_url(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    config = _config(backend.url, pages.url, query="/{status}-{originalStatus}?u={url}", statusRewrites={"500": 503})
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.get("/status/500?a=1", host="a.test")
        assert resp.status == 503
        # the full URL since Traefik v3.7.13 (scheme from X-Forwarded-Proto, Host as sent)
        assert await resp.text() == "page GET /503-500?u=http%3A%2F%2Fa.test%2Fstatus%2F500%3Fa%3D1"


async def test_proxy_failures_get_the_page(servers: tuple[Backend, ScriptServer]) -> None:
    _, pages = servers
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_app(_config(dead, pages.url, query="/{status}"), middlewares=FACTORIES) as rt:
        resp = await rt.get("/x", host="a.test")
        assert (resp.status, await resp.text()) == (502, "page GET /502")


async def test_error_service_down_keeps_the_status(servers: tuple[Backend, ScriptServer]) -> None:
    backend, _ = servers
    dead = f"http://127.0.0.1:{free_port()}"
    async with running_app(_config(backend.url, dead), middlewares=FACTORIES) as rt:
        resp = await rt.get("/status/503", host="a.test")
        assert (resp.status, await resp.text()) == (503, "Bad Gateway")


async def test_head_request_gets_the_status_only(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    async with running_app(_config(backend.url, pages.url), middlewares=FACTORIES) as rt:
        resp = await rt.request("HEAD", "/status/500", host="a.test")
        assert resp.status == 500
        assert await resp.read() == b""
        assert pages.requests[-1].method == "GET"


async def test_page_through_outer_compress_and_headers_hook(servers: tuple[Backend, ScriptServer]) -> None:
    import gzip

    from middlewares.compress import FACTORIES as COMPRESS

    backend, _ = servers
    big = await ScriptServer.start(lambda req: Reply(200, b"sorry " * 1000, [(b"Content-Type", b"text/html")]))
    try:
        config = _config(backend.url, big.url)
        config["http"]["middlewares"]["c"] = {"compress": {}}
        config["http"]["routers"]["r"]["middlewares"] = ["c", "errs"]
        async with running_app(config, middlewares={**FACTORIES, **COMPRESS}) as rt:
            resp = await rt.get("/status/500", host="a.test", headers={"Accept-Encoding": "gzip"})
            assert resp.status == 500
            assert resp.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(await resp.read()) == b"sorry " * 1000
    finally:
        await big.stop()


# errorRequestHeaders (v3.6.15: only the listed request headers reach the error service) and
# {url} as the full request URL (v3.7.13: scheme from X-Forwarded-Proto, Host as sent).

SECRETS = {"Authorization": "Bearer secret", "Cookie": "session=1", "X-Trace": "t-1", "Accept-Language": "fr"}


async def test_error_request_headers_limits_what_the_error_service_sees(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    config = _config(backend.url, pages.url, query="/{status}.html", errorRequestHeaders=["x-trace", "Accept-Language"])
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.get("/status/502", host="a.test", headers=SECRETS)
        assert (resp.status, await resp.text()) == (502, "page GET /502.html")
        seen = pages.requests[-1]
        assert seen.header("Authorization") is None and seen.header("Cookie") is None
        assert (seen.header("X-Trace"), seen.header("Accept-Language"), seen.header("Host")) == ("t-1", "fr", "a.test")
        # the main backend still got everything
        assert backend.requests[-1].header("Authorization") == "Bearer secret"


async def test_without_error_request_headers_every_header_goes(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    async with running_app(_config(backend.url, pages.url, query="/{status}.html"), middlewares=FACTORIES) as rt:
        resp = await rt.get("/status/500", host="a.test", headers=SECRETS)
        assert resp.status == 500
        seen = pages.requests[-1]
        assert (seen.header("Authorization"), seen.header("Cookie")) == ("Bearer secret", "session=1")


URL_CASES: list[dict[str, Any]] = [
    {"desc": "scheme and host as sent", "target": "/status/500?a=1&b=2", "host": "a.test", "headers": {},
     "url": "http://a.test/status/500?a=1&b=2"},
    {"desc": "host with its port", "target": "/status/500", "host": "a.test:8443", "headers": {},
     "url": "http://a.test:8443/status/500"},
]


@pytest.mark.parametrize("case", URL_CASES, ids=[c["desc"] for c in URL_CASES])
async def test_url_placeholder_is_the_full_url(servers: tuple[Backend, ScriptServer], case: dict[str, Any]) -> None:
    backend, pages = servers
    config = _config(backend.url, pages.url, query="/e?from={url}&s={status}&o={originalStatus}",
                     statusRewrites={"500-599": 503})
    config["http"]["routers"]["r"]["rule"] = "HostRegexp(`.*`)"
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.get(case["target"], host=case["host"], headers=case["headers"])
        assert resp.status == 503
        text = await resp.text()
        assert text.startswith("page GET /e?from=")
        escaped = text.split("from=", 1)[1].split("&s=")[0]
        assert unquote_plus(escaped) == case["url"]
        assert "%3A%2F%2F" in escaped  # query-escaped, as Go's url.QueryEscape
        assert text.endswith("&s=503&o=500")


async def test_url_scheme_from_trusted_x_forwarded_proto(servers: tuple[Backend, ScriptServer]) -> None:
    """Behind a TLS-terminating balancer (trusted forwarded headers) the scheme is https."""
    backend, pages = servers
    config = _config(backend.url, pages.url, query="/e?u={url}")
    flags = ["--entryPoints.web.forwardedHeaders.insecure=true"]
    async with running_app(config, middlewares=FACTORIES, flags=flags) as rt:
        resp = await rt.get("/status/503", host="a.test", headers={"X-Forwarded-Proto": "https"})
        assert resp.status == 503
        assert await resp.text() == "page GET /e?u=https%3A%2F%2Fa.test%2Fstatus%2F503"


async def test_status_rewrite_single_code(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    config = _config(backend.url, pages.url, query="/{status}/{originalStatus}", statusRewrites={"418": 404},
                     status=["500-599", "418"])
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.get("/status/418", host="a.test")
        assert (resp.status, await resp.text()) == (404, "page GET /404/418")


def test_error_request_headers_option_name() -> None:
    options = ErrorPage.model_validate({"status": ["500"], "service": "p", "errorRequestHeaders": ["X-A"]})
    assert options.error_request_headers == ["X-A"]
    assert ErrorPage.model_validate({"status": ["500"], "service": "p"}).error_request_headers == []

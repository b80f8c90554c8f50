"""errors: the options of the newest Traefik v3 releases, through the real router with real
backends: ``errorRequestHeaders`` (v3.6.15: only the listed request headers reach the error
service), ``{url}`` as the full request URL (v3.7.13: scheme from X-Forwarded-Proto, Host as
sent), combined with ``statusRewrites`` and ``{originalStatus}``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

import pytest

from middlewares.errors_pages import FACTORIES
from tests.harness import lb, running_app
from tests.middlewares.m3_servers import Reply, Request, ScriptServer
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import ErrorPage


def _page(req: Request) -> Reply:
    return Reply(200, f"page {req.target}".encode(), [(b"Content-Type", b"text/plain")])


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
        "middlewares": {"errs": {"errors": {"status": ["500-599", "418"], "service": "pages", **errors}}},
        "services": {"s": lb(main), "pages": lb(pages)},
    }}


SECRETS = {"Authorization": "Bearer secret", "Cookie": "session=1", "X-Trace": "t-1", "Accept-Language": "fr"}


async def test_error_request_headers_limits_what_the_error_service_sees(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    config = _config(backend.url, pages.url, query="/{status}.html", errorRequestHeaders=["x-trace", "Accept-Language"])
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.get("/status/502", host="a.test", headers=SECRETS)
        assert (resp.status, await resp.text()) == (502, "page /502.html")
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
        assert text.startswith("page /e?from=")
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
        assert await resp.text() == "page /e?u=https%3A%2F%2Fa.test%2Fstatus%2F503"


async def test_status_rewrite_single_code(servers: tuple[Backend, ScriptServer]) -> None:
    backend, pages = servers
    config = _config(backend.url, pages.url, query="/{status}/{originalStatus}", statusRewrites={"418": 404})
    async with running_app(config, middlewares=FACTORIES) as rt:
        resp = await rt.get("/status/418", host="a.test")
        assert (resp.status, await resp.text()) == (404, "page /404/418")


def test_error_request_headers_option_name() -> None:
    options = ErrorPage.model_validate({"status": ["500"], "service": "p", "errorRequestHeaders": ["X-A"]})
    assert options.error_request_headers == ["X-A"]
    assert ErrorPage.model_validate({"status": ["500"], "service": "p"}).error_request_headers == []

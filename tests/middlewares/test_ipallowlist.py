"""ipAllowList / ipWhiteList: build errors (table) and what clients and the backend see (e2e)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from middlewares.ipallowlist import build_ip_allow_list, status_text
from tests.harness import RunningApp, lb, running_app
from tests.middlewares.access_util import INSECURE_FORWARDED, REGISTRY, BuildCtx
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import IPAllowList


async def _next(ex: Any) -> None:
    raise AssertionError("not reached")


BUILD_ERRORS: list[dict[str, Any]] = [
    {"desc": "empty sourceRange", "options": {}, "error": "sourceRange is empty"},
    {"desc": "invalid IP", "options": {"sourceRange": ["foo"]}, "error": "cannot parse sourceRange"},
    {"desc": "invalid CIDR", "options": {"sourceRange": ["10.0.0.0/33"]}, "error": "cannot parse sourceRange"},
    {"desc": "unknown status code", "options": {"sourceRange": ["10.0.0.1"], "rejectStatusCode": 600}, "error": "invalid HTTP status code 600"},
    {"desc": "bad ipv6Subnet", "options": {"sourceRange": ["10.0.0.1"], "ipStrategy": {"ipv6Subnet": 200}}, "error": "ipv6Subnet"},
]


@pytest.mark.parametrize("case", BUILD_ERRORS, ids=[c["desc"] for c in BUILD_ERRORS])
def test_build_errors(case: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=case["error"]):
        build_ip_allow_list(IPAllowList.model_validate(case["options"]), _next, "m@file", BuildCtx())


def test_status_text() -> None:
    assert status_text(403) == b"Forbidden"
    assert status_text(404) == b"Not Found"
    assert status_text(600) == b""


MIDDLEWARES = {
    "direct": {"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}},
    "other": {"ipAllowList": {"sourceRange": ["192.0.2.0/24", "2001:db8::/32"]}},
    "depth": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"], "ipStrategy": {"depth": 2}}},
    "excluded": {"ipAllowList": {"sourceRange": ["203.0.113.7"], "ipStrategy": {"excludedIPs": ["10.0.0.0/8"]}}},
    "notfound": {"ipAllowList": {"sourceRange": ["192.0.2.1"], "rejectStatusCode": 404}},
    "legacy": {"ipWhiteList": {"sourceRange": ["192.0.2.1"]}},
    "legacyok": {"ipWhiteList": {"sourceRange": ["127.0.0.1"]}},
}

E2E: list[dict[str, Any]] = [
    {"desc": "connection address allowed", "mw": "direct", "xff": None, "status": 200},
    {"desc": "X-Forwarded-For ignored without a strategy", "mw": "other", "xff": "192.0.2.5", "status": 403, "body": "Forbidden"},
    {"desc": "depth 2 picks an allowed entry", "mw": "depth", "xff": "10.1.2.3, 192.0.2.9", "status": 200},
    {"desc": "depth 2 picks a refused entry", "mw": "depth", "xff": "192.0.2.9, 10.1.2.3", "status": 403},
    {"desc": "depth beyond the header refuses", "mw": "depth", "xff": "10.1.2.3", "status": 403},
    {"desc": "excludedIPs skips the proxies", "mw": "excluded", "xff": "203.0.113.7, 10.0.0.2, 10.0.0.1", "status": 200},
    {"desc": "excludedIPs with ip:port entry", "mw": "excluded", "xff": "203.0.113.7:4711, 10.0.0.1", "status": 200},
    {"desc": "excludedIPs: every entry excluded", "mw": "excluded", "xff": "10.0.0.2, 10.0.0.1", "status": 403},
    {"desc": "rejectStatusCode 404", "mw": "notfound", "xff": None, "status": 404, "body": "Not Found"},
    {"desc": "ipWhiteList rejects with 403", "mw": "legacy", "xff": None, "status": 403, "body": "Forbidden"},
    {"desc": "ipWhiteList allows", "mw": "legacyok", "xff": None, "status": 200},
]


@pytest.fixture
async def app() -> AsyncIterator[tuple[RunningApp, Backend]]:
    backend = await Backend.start()
    routers = {
        name: {"rule": f"Host(`{name}.test`)", "service": "s", "middlewares": [name]} for name in MIDDLEWARES
    }
    config = {"http": {"routers": routers, "middlewares": MIDDLEWARES, "services": {"s": lb(backend.url)}}}
    async with running_app(config, middlewares=REGISTRY, flags=INSECURE_FORWARDED) as rt:
        yield rt, backend
    await backend.stop()


@pytest.mark.parametrize("case", E2E, ids=[c["desc"] for c in E2E])
async def test_allow_list_e2e(app: tuple[RunningApp, Backend], case: dict[str, Any]) -> None:
    rt, backend = app
    headers = {"X-Forwarded-For": case["xff"]} if case["xff"] else {}
    resp = await rt.get("/echo/ip", host=f"{case['mw']}.test", headers=headers)
    assert resp.status == case["status"]
    if case["status"] == 200:
        assert len(backend.requests) == 1
    else:
        assert backend.requests == []
        assert await resp.text() == case.get("body", "Forbidden")
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"


async def test_invalid_allow_list_disables_its_router_only() -> None:
    backend = await Backend.start()
    config = {"http": {
        "routers": {
            "bad": {"rule": "Host(`bad.test`)", "service": "s", "middlewares": ["bad"]},
            "good": {"rule": "Host(`good.test`)", "service": "s"},
        },
        "middlewares": {"bad": {"ipAllowList": {"sourceRange": ["not-an-ip"]}}},
        "services": {"s": lb(backend.url)},
    }}
    async with running_app(config, middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo", host="bad.test")).status == 404
        assert (await rt.get("/echo", host="good.test")).status == 200
        state = rt.state("middleware", "bad@file")
        assert state.status == "disabled"
        assert any("cannot parse sourceRange" in e for e in state.errors)
    await backend.stop()

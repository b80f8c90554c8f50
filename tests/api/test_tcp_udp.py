"""``/api/tcp/*`` and ``/api/udp/*`` with TCP and UDP elements configured, as a Traefik dashboard
or client reads them: every element listed with Traefik's keys (configuration, ``status``,
``error``, ``usedBy``, ``name``, ``provider``, ``type``), filters and pagination, details,
``{"message": ...}`` 404s, overview counts and rawdata keys.  traefikpy serves no TCP/UDP
traffic, so each element is ``disabled`` with an error saying so (never shown as running)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.rig import Rig, rig
from traefikpy.api.views import UNSUPPORTED

FILE: dict[str, Any] = {
    "http": {"routers": {"web": {"rule": "Host(`a.test`)", "service": "app"}},
             "services": {"app": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:1"}]}}}},
    "tcp": {
        "routers": {
            "db": {"rule": "HostSNI(`db.test`)", "service": "pg", "entryPoints": ["web"], "middlewares": ["only-lan"],
                   "tls": {"passthrough": True}},
            "cache": {"rule": "HostSNI(`*`)", "service": "redis", "entryPoints": ["web"]},
        },
        "services": {
            "pg": {"loadBalancer": {"servers": [{"address": "127.0.0.1:5432"}]}},
            "redis": {"loadBalancer": {"servers": [{"address": "127.0.0.1:6379"}]}},
        },
        "middlewares": {"only-lan": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}}},
    },
    "udp": {
        "routers": {"dns": {"service": "resolver", "entryPoints": ["web"]}},
        "services": {"resolver": {"loadBalancer": {"servers": [{"address": "127.0.0.1:53"}]}}},
    },
}
TCP_ERROR = [UNSUPPORTED["tcp"]]
UDP_ERROR = [UNSUPPORTED["udp"]]


@pytest.fixture
async def tcp_rig() -> AsyncIterator[Rig]:
    async with rig() as r:
        await r.push(FILE)
        yield r


async def test_tcp_lists(tcp_rig: Rig) -> None:
    status, headers, routers = await tcp_rig.get("/api/tcp/routers")
    assert (status, headers["X-Next-Page"]) == (200, "1")
    assert [r["name"] for r in routers] == ["cache@file", "db@file"]
    db = routers[1]
    assert db == {
        "entryPoints": ["web"], "middlewares": ["only-lan"], "service": "pg", "rule": "HostSNI(`db.test`)",
        "tls": {"passthrough": True, "options": "default"}, "error": TCP_ERROR, "status": "disabled",
        "name": "db@file", "provider": "file",
    }
    services = await tcp_rig.json("/api/tcp/services")
    assert [(s["name"], s["type"], s["status"], s["usedBy"]) for s in services] == [
        ("pg@file", "loadbalancer", "disabled", ["db@file"]),
        ("redis@file", "loadbalancer", "disabled", ["cache@file"]),
    ]
    assert services[0]["loadBalancer"] == {"servers": [{"address": "127.0.0.1:5432"}]}  # no HTTP defaults
    assert services[0]["error"] == TCP_ERROR
    middlewares = await tcp_rig.json("/api/tcp/middlewares")
    assert middlewares == [{"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}, "error": TCP_ERROR, "status": "disabled",
                            "usedBy": ["db@file"], "name": "only-lan@file", "provider": "file", "type": "ipallowlist"}]


async def test_udp_lists(tcp_rig: Rig) -> None:
    routers = await tcp_rig.json("/api/udp/routers")
    assert routers == [{"entryPoints": ["web"], "service": "resolver", "error": UDP_ERROR, "status": "disabled",
                        "name": "dns@file", "provider": "file"}]
    services = await tcp_rig.json("/api/udp/services")
    assert services == [{"loadBalancer": {"servers": [{"address": "127.0.0.1:53"}]}, "error": UDP_ERROR,
                         "status": "disabled", "usedBy": ["dns@file"], "name": "resolver@file", "provider": "file",
                         "type": "loadbalancer"}]


@pytest.mark.parametrize(("path", "name"), [
    ("/api/tcp/routers/db@file", "db@file"),
    ("/api/tcp/routers/db%40file", "db@file"),
    ("/api/tcp/services/pg@file", "pg@file"),
    ("/api/tcp/middlewares/only-lan@file", "only-lan@file"),
    ("/api/udp/routers/dns@file", "dns@file"),
    ("/api/udp/services/resolver@file", "resolver@file"),
])
async def test_details(tcp_rig: Rig, path: str, name: str) -> None:
    body = await tcp_rig.json(path)
    assert (body["name"], body["provider"], body["status"]) == (name, "file", "disabled")
    listed = await tcp_rig.json(path.rsplit("/", 1)[0])
    assert body in listed


@pytest.mark.parametrize(("path", "message"), [
    ("/api/tcp/routers/nope@file", "router not found: nope@file"),
    ("/api/tcp/services/nope@file", "service not found: nope@file"),
    ("/api/tcp/middlewares/nope@file", "middleware not found: nope@file"),
    ("/api/udp/routers/nope@file", "router not found: nope@file"),
    ("/api/udp/services/nope@file", "service not found: nope@file"),
    ("/api/udp/routers/web@file", "router not found: web@file"),  # an HTTP router is not a UDP one
    ("/api/tcp/services/a%2Fb", "service not found: a/b"),
])
async def test_unknown_names(tcp_rig: Rig, path: str, message: str) -> None:
    status, _, body = await tcp_rig.get(path)
    assert (status, body) == (404, {"message": message})


@pytest.mark.parametrize(("query", "names", "next_page"), [
    ("search=cache", ["cache@file"], "1"),
    ("status=disabled", ["cache@file", "db@file"], "1"),
    ("status=enabled", [], "1"),
    ("serviceName=pg@file", ["db@file"], "1"),
    ("middlewareName=only-lan", ["db@file"], "1"),  # as configured, like Traefik
    ("per_page=1", ["cache@file"], "2"),
    ("per_page=1&page=2", ["db@file"], "1"),
])
async def test_tcp_router_filters(tcp_rig: Rig, query: str, names: list[str], next_page: str) -> None:
    status, headers, body = await tcp_rig.get(f"/api/tcp/routers?{query}")
    assert status == 200
    assert ([r["name"] for r in body], headers["X-Next-Page"]) == (names, next_page)


async def test_overview_and_rawdata(tcp_rig: Rig) -> None:
    overview = await tcp_rig.json("/api/overview")
    assert overview["tcp"] == {"routers": {"total": 2, "warnings": 0, "errors": 2},
                               "services": {"total": 2, "warnings": 0, "errors": 2},
                               "middlewares": {"total": 1, "warnings": 0, "errors": 1}}
    assert overview["udp"] == {"routers": {"total": 1, "warnings": 0, "errors": 1},
                               "services": {"total": 1, "warnings": 0, "errors": 1}}
    raw = await tcp_rig.json("/api/rawdata")
    assert sorted(raw["tcpRouters"]) == ["cache@file", "db@file"]
    assert sorted(raw["tcpServices"]) == ["pg@file", "redis@file"]
    assert sorted(raw["tcpMiddlewares"]) == ["only-lan@file"]
    assert sorted(raw["udpRouters"]) == ["dns@file"]
    assert sorted(raw["udpServices"]) == ["resolver@file"]
    assert "name" not in raw["tcpRouters"]["db@file"]  # rawdata carries no name/provider
    assert raw["tcpRouters"]["db@file"]["status"] == "disabled"


async def test_http_still_served_next_to_tcp(tcp_rig: Rig) -> None:
    """The TCP/UDP elements do not disturb the HTTP side."""
    web = await tcp_rig.json("/api/http/routers/web@file")
    assert web["status"] == "enabled"
    await tcp_rig.push({"http": FILE["http"]})  # TCP/UDP removed: the lists are empty again
    for section in ("tcp/routers", "tcp/services", "tcp/middlewares", "udp/routers", "udp/services"):
        assert await tcp_rig.json(f"/api/{section}") == []


@pytest.mark.parametrize(("documented", "path"), [
    ("/api/tcp/routers", "/api/tcp/routers"),
    ("/api/tcp/routers/{name}", "/api/tcp/routers/db@file"),
    ("/api/tcp/services", "/api/tcp/services"),
    ("/api/tcp/services/{name}", "/api/tcp/services/pg@file"),
    ("/api/tcp/middlewares", "/api/tcp/middlewares"),
    ("/api/tcp/middlewares/{name}", "/api/tcp/middlewares/only-lan@file"),
    ("/api/udp/routers", "/api/udp/routers"),
    ("/api/udp/routers/{name}", "/api/udp/routers/dns@file"),
    ("/api/udp/services", "/api/udp/services"),
    ("/api/udp/services/{name}", "/api/udp/services/resolver@file"),
    ("/api/rawdata", "/api/rawdata"),
    ("/api/overview", "/api/overview"),
])
async def test_answers_match_the_openapi_document(tcp_rig: Rig, documented: str, path: str) -> None:
    import jsonschema

    from tests.api.test_openapi import DOC, resolve

    body = await tcp_rig.json(path)
    schema = resolve(DOC["paths"][documented]["get"]["responses"]["200"])["content"]["application/json"]["schema"]
    validator = jsonschema.Draft202012Validator({**schema, "components": DOC["components"]})
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)] == []

"""JSON shapes of the API for routers ``x@file`` / ``y@docker``, a router with an error, and a service
with server status, compared field by field with what Traefik v3 returns (pkg/api testdata)."""

from __future__ import annotations

import pytest

from tests.api.rig import ADMIN, Rig, wait_for


async def dead_server_down(rig: Rig) -> None:
    async def down() -> bool:
        body = await rig.json("/api/http/services/svc@file")
        return "DOWN" in body.get("serverStatus", {}).values()
    await wait_for(down)


async def test_router_of_file_provider(loaded: Rig) -> None:
    assert await loaded.json("/api/http/routers/x@file") == {
        "entryPoints": ["web"],
        "middlewares": ["auth"],
        "service": "svc",
        "rule": "Host(`x.test`) && PathPrefix(`/app`)",
        "status": "enabled",
        "using": ["web"],
        "name": "x@file",
        "provider": "file",
    }


async def test_router_of_docker_provider_references_another_provider(loaded: Rig) -> None:
    body = await loaded.json("/api/http/routers/y%40docker")
    assert body["name"] == "y@docker"
    assert body["provider"] == "docker"
    assert body["middlewares"] == ["auth@file"]
    assert body["status"] == "enabled"


async def test_router_with_error_is_disabled_and_says_why(loaded: Rig) -> None:
    broken = await loaded.json("/api/http/routers/broken@file")
    assert broken["status"] == "disabled"
    assert len(broken["error"]) == 1 and broken["error"][0].startswith("invalid rule")
    lost = await loaded.json("/api/http/routers/lost@file")
    assert lost["status"] == "disabled"
    assert lost["error"] == ["the service 'nowhere@file' does not exist"]
    assert lost["priority"] == 5


async def test_enabled_router_has_no_error_key(loaded: Rig) -> None:
    assert "error" not in await loaded.json("/api/http/routers/x@file")


async def test_load_balancer_service_with_live_server_status(loaded: Rig) -> None:
    await dead_server_down(loaded)
    body = await loaded.json("/api/http/services/svc@file")
    backend, dead = (s["url"] for s in body["loadBalancer"]["servers"])
    assert body["serverStatus"] == {backend: "UP", dead: "DOWN"}
    assert body == {
        "loadBalancer": {
            "servers": [{"url": backend}, {"url": dead}],
            "healthCheck": {"path": "/echo", "interval": "50ms", "timeout": "500ms", "mode": "http",
                            "followRedirects": True},
            "passHostHeader": True,  # Traefik's decoder defaults
            "strategy": "wrr",
            "responseForwarding": {"flushInterval": "100ms"},
        },
        "status": "enabled",  # a down server does not change the service's status (Traefik)
        "usedBy": ["broken@file", "x@file"],
        "serverStatus": {backend: "UP", dead: "DOWN"},
        "name": "svc@file",
        "provider": "file",
        "type": "loadbalancer",
    }


async def test_middleware_used_across_providers(loaded: Rig) -> None:
    assert await loaded.json("/api/http/middlewares/auth@file") == {
        "basicAuth": {"users": [ADMIN]},
        "status": "enabled",
        "usedBy": ["x@file", "y@docker"],
        "name": "auth@file",
        "provider": "file",
        "type": "basicauth",
    }


async def test_internal_elements_are_listed(loaded: Rig) -> None:
    routers = {r["name"]: r for r in await loaded.json("/api/http/routers")}
    assert routers["api@internal"] == {
        "entryPoints": ["traefik"], "service": "api@internal", "rule": "PathPrefix(`/api`)",
        "priority": 9223372036854775806, "ruleSyntax": "v3", "status": "enabled", "using": ["traefik"],
        "name": "api@internal", "provider": "internal",
    }
    assert routers["dashboard@internal"]["rule"] == "PathPrefix(`/`)"
    assert routers["dashboard@internal"]["priority"] == 9223372036854775805
    services = {s["name"]: s for s in await loaded.json("/api/http/services")}
    assert services["api@internal"] == {"status": "enabled", "usedBy": ["api@internal"], "name": "api@internal",
                                        "provider": "internal"}
    assert services["noop@internal"] == {"status": "enabled", "name": "noop@internal", "provider": "internal"}


async def test_lists_are_sorted_by_name_with_next_page_header(loaded: Rig) -> None:
    status, headers, body = await loaded.get("/api/http/routers")
    assert status == 200
    assert headers["X-Next-Page"] == "1"
    assert headers["Content-Type"] == "application/json"
    assert [r["name"] for r in body] == ["api@internal", "broken@file", "dashboard@internal", "lost@file",
                                         "x@file", "y@docker"]


async def test_rawdata(loaded: Rig) -> None:
    await dead_server_down(loaded)
    raw = await loaded.json("/api/rawdata")
    assert set(raw) == {"routers", "middlewares", "services"}  # empty TCP/UDP sections are left out
    assert raw["routers"]["x@file"] == {
        "entryPoints": ["web"], "middlewares": ["auth"], "service": "svc",
        "rule": "Host(`x.test`) && PathPrefix(`/app`)", "status": "enabled", "using": ["web"],
    }
    assert raw["routers"]["broken@file"]["status"] == "disabled"
    assert "name" not in raw["services"]["svc@docker"]
    assert raw["services"]["svc@docker"]["serverStatus"] == {loaded.backend.url: "UP"}
    assert raw["middlewares"]["auth@file"]["usedBy"] == ["x@file", "y@docker"]


async def test_overview_counts(loaded: Rig) -> None:
    assert await loaded.json("/api/overview") == {
        # routers: api, dashboard, x, y enabled; broken, lost disabled
        "http": {"routers": {"total": 6, "warnings": 0, "errors": 2},
                 # api, dashboard, noop (internal), svc@file, svc@docker
                 "services": {"total": 5, "warnings": 0, "errors": 0},
                 "middlewares": {"total": 1, "warnings": 0, "errors": 0}},
        "tcp": {"routers": {"total": 0, "warnings": 0, "errors": 0},
                "services": {"total": 0, "warnings": 0, "errors": 0},
                "middlewares": {"total": 0, "warnings": 0, "errors": 0}},
        "udp": {"routers": {"total": 0, "warnings": 0, "errors": 0},
                "services": {"total": 0, "warnings": 0, "errors": 0}},
        "features": {"tracing": "", "metrics": "", "accessLog": False},
    }


@pytest.mark.parametrize("section", ["tcp/routers", "tcp/services", "tcp/middlewares", "udp/routers", "udp/services"])
async def test_tcp_and_udp_lists_are_empty(loaded: Rig, section: str) -> None:
    status, headers, body = await loaded.get(f"/api/{section}")
    assert (status, body, headers["X-Next-Page"]) == (200, [], "1")


async def test_entrypoints(loaded: Rig) -> None:
    eps = await loaded.json("/api/entrypoints")
    assert [ep["name"] for ep in eps] == ["traefik", "web"]
    web = await loaded.json("/api/entrypoints/web")
    assert web["address"] == "127.0.0.1:0"
    assert web["transport"]["lifeCycle"] == {"graceTimeOut": "10s"}
    allowed = ["Slash", "BackSlash", "NullCharacter", "Semicolon", "Percent", "QuestionMark", "Hash"]
    assert web["http"] == {"sanitizePath": True, "maxHeaderBytes": 1048576,
                           "encodedCharacters": {f"allowEncoded{name}": True for name in allowed}}
    assert "asDefault" not in web  # Go's omitempty: false is left out


async def test_version(loaded: Rig) -> None:
    body = await loaded.json("/api/version")
    assert set(body) == {"Version", "Codename", "startDate"}
    assert body["startDate"].endswith("Z")


async def test_json_escapes_html_characters_like_go(loaded: Rig) -> None:
    async with loaded.session.get(loaded.url("/api/http/routers/x@file")) as resp:
        text = await resp.text()
    assert "\\u0026\\u0026" in text and "&" not in text
    assert text.endswith("\n")


async def test_reload_is_visible_at_once(loaded: Rig) -> None:
    await loaded.push(docker={"http": {"routers": {"z": {"rule": "Host(`z.test`)", "service": "svc@file"}}}})
    names = [r["name"] for r in await loaded.json("/api/http/routers")]
    assert "z@docker" in names and "y@docker" not in names
    svc = await loaded.json("/api/http/services/svc@file")
    assert "z@docker" in svc["usedBy"]

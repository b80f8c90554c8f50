"""The dashboard's HTTP side and how the API is exposed: insecure routers, basePath, secure mode
through a user router with basicAuth, and nothing exposed by default."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.api.rig import ADMIN, Rig, rig

AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:secret").decode()}


async def test_root_redirects_to_the_dashboard(loaded: Rig) -> None:
    for path in ("/", "/dashboard"):
        status, headers, _ = await loaded.get(path)
        assert (status, headers["Location"]) == (301, "/dashboard/"), path


@pytest.mark.parametrize(("desc", "path", "status", "content_type"), [
    ("index", "/dashboard/", 200, "text/html; charset=utf-8"),
    ("index by name", "/dashboard/index.html", 200, "text/html; charset=utf-8"),
    ("script", "/dashboard/app.js", 200, "javascript; charset=utf-8"),
    ("style", "/dashboard/style.css", 200, "text/css; charset=utf-8"),
    ("unknown asset", "/dashboard/nothing.js", 404, "text/plain; charset=utf-8"),
    ("no directory walking", "/dashboard/../traefikpy/api/handler.py", 404, "text/plain; charset=utf-8"),
    ("encoded walking", "/dashboard/..%2fhandler.py", 404, "text/plain; charset=utf-8"),
    ("nothing else under /", "/other", 404, "text/plain; charset=utf-8"),
])
async def test_assets(loaded: Rig, desc: str, path: str, status: int, content_type: str) -> None:
    got, headers, _ = await loaded.get(path)
    assert got == status, desc
    assert headers["Content-Type"].endswith(content_type), desc


async def test_index_points_at_the_api_and_sets_a_strict_policy(loaded: Rig) -> None:
    _, headers, body = await loaded.get("/dashboard/")
    assert b'<meta name="api-url" content="/api/">' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


async def test_base_path_prefixes_api_and_dashboard() -> None:
    async with rig(flags=["--api.insecure=true", "--api.basePath=/traefik"]) as r:
        await r.push(file={"http": {"services": {"s": {"loadBalancer": {"servers": [{"url": r.backend.url}]}}}}})
        assert (await r.get("/traefik/api/overview"))[0] == 200
        assert (await r.get("/api/overview"))[0] == 404
        status, headers, _ = await r.get("/traefik/")
        assert (status, headers["Location"]) == (301, "/traefik/dashboard/")
        _, _, body = await r.get("/traefik/dashboard/")
        assert b'content="/traefik/api/"' in body
        routers = {x["name"]: x["rule"] for x in await r.json("/traefik/api/http/routers")}
        assert routers == {"api@internal": "PathPrefix(`/traefik/api`)", "dashboard@internal": "PathPrefix(`/traefik/`)"}


def secure_config(**router: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"dashboard": {"rule": "Host(`admin.test`)", "service": "api@internal", "middlewares": ["auth"],
                                  "entryPoints": ["web"], **router}},
        "middlewares": {"auth": {"basicAuth": {"users": [ADMIN]}}},
    }}


async def test_secure_mode_through_a_user_router_with_basic_auth() -> None:
    # forwardedHeaders.insecure: the test client plays a trusted proxy that sets X-Forwarded-Prefix
    async with rig(flags=["--api=true", "--entryPoints.web.forwardedHeaders.insecure=true"], entrypoints=["web"]) as r:
        assert list(r.app.entrypoints) == ["web"]  # no traefik entry point without api.insecure
        await r.push(file=secure_config())
        host = {"Host": "admin.test"}
        assert (await r.get("/api/overview", entrypoint="web", headers=host))[0] == 401
        status, _, body = await r.get("/api/overview", entrypoint="web", headers={**host, **AUTH})
        assert status == 200 and body["http"]["routers"]["total"] == 1
        status, _, page = await r.get("/dashboard/", entrypoint="web", headers={**host, **AUTH})
        assert status == 200 and b"api-url" in page
        status, headers, _ = await r.get("/", entrypoint="web", headers={**host, **AUTH})
        assert (status, headers["Location"]) == (302, "/dashboard/")
        status, headers, _ = await r.get("/", entrypoint="web", headers={**host, **AUTH, "X-Forwarded-Prefix": "/ops/"})
        assert (status, headers["Location"]) == (302, "/ops/dashboard/")
        # other hosts are not routed to the API at all
        assert (await r.get("/api/overview", entrypoint="web", headers={"Host": "www.test", **AUTH}))[0] == 404


async def test_nothing_is_exposed_by_default() -> None:
    async with rig(flags=["--api=true"], entrypoints=["web"]) as r:
        await r.push(file={"http": {"routers": {"site": {"rule": "Host(`www.test`)", "service": "s"}},
                                    "services": {"s": {"loadBalancer": {"servers": [{"url": r.backend.url}]}}}}})
        for path in ("/api/rawdata", "/dashboard/", "/"):
            assert (await r.get(path, entrypoint="web"))[0] == 404, path


async def test_dashboard_can_be_turned_off() -> None:
    async with rig(flags=["--api.insecure=true", "--api.dashboard=false"]) as r:
        await r.push(file={"http": {"services": {"s": {"loadBalancer": {"servers": [{"url": r.backend.url}]}}}}})
        assert (await r.get("/api/overview"))[0] == 200
        assert (await r.get("/dashboard/"))[0] == 404
        assert (await r.get("/"))[0] == 404
        services = [s["name"] for s in await r.json("/api/http/services")]
        assert "dashboard@internal" not in services and "api@internal" in services


async def test_router_to_dashboard_service_alone() -> None:
    async with rig(flags=["--api=true"], entrypoints=["web"]) as r:
        await r.push(file=secure_config(service="dashboard@internal", middlewares=[]))
        status, headers, _ = await r.get("/", entrypoint="web", headers={"Host": "admin.test"})
        assert (status, headers["Location"]) == (301, "/dashboard/")
        assert (await r.get("/dashboard/app.js", entrypoint="web", headers={"Host": "admin.test"}))[0] == 200
        assert (await r.get("/api/overview", entrypoint="web", headers={"Host": "admin.test"}))[0] == 404

"""The route explainer through the running API: winners, tried routers, matcher results, chains,
service trees, disabled routers, TLS, Host headers and client IPs.  Nothing is sent upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.api.rig import ADMIN, Rig, closed_port, rig
from traefikpy.api.explain import entrypoints_for, url_port
from traefikpy.config.sources import load_static

WEB = ["web"]


def config(backend: str, dead: str) -> dict[str, Any]:
    return {"http": {
        "routers": {
            "site": {"rule": "Host(`site.test`)", "service": "web-svc", "middlewares": ["chain-mw"], "entryPoints": WEB},
            "site-api": {"rule": "Host(`site.test`) && PathPrefix(`/api`)", "service": "canary", "entryPoints": WEB},
            "admin": {"rule": "Host(`site.test`) && Header(`X-Admin`, `1`) && Method(`POST`)", "priority": 1000,
                      "service": "web-svc", "entryPoints": WEB},
            "any": {"rule": "PathPrefix(`/`)", "priority": 1, "service": "web-svc", "entryPoints": WEB},
            "secure": {"rule": "Host(`site.test`)", "tls": {}, "service": "web-svc", "entryPoints": WEB},
            "neg": {"rule": "Host(`neg.test`) && !ClientIP(`10.0.0.0/8`)", "service": "web-svc", "entryPoints": WEB},
            "broken": {"rule": "Host(`site.test`) && Nope()", "service": "web-svc", "entryPoints": WEB},
        },
        "middlewares": {"chain-mw": {"chain": {"middlewares": ["pfx", "auth"]}},
                        "pfx": {"addPrefix": {"prefix": "/p"}},
                        "auth": {"basicAuth": {"users": [ADMIN]}}},
        "services": {"web-svc": {"loadBalancer": {"servers": [{"url": backend}]}},
                     "canary": {"weighted": {"services": [{"name": "web-svc", "weight": 3}, {"name": "other", "weight": 1}]}},
                     "other": {"loadBalancer": {"servers": [{"url": dead}]}}},
    }}


@pytest.fixture
async def site() -> AsyncIterator[Rig]:
    async with rig() as r:
        await r.push(file=config(r.backend.url, f"http://127.0.0.1:{closed_port()}"))
        yield r


async def explain(r: Rig, url: str, **params: Any) -> Any:
    """Explain ``url``; on the ``web`` entry point unless ``entrypoint`` says otherwise (the test
    entry points listen on random ports, so the URL's port cannot pick one)."""
    params.setdefault("entrypoint", "web")
    query = [("url", url)]
    for key, value in params.items():
        for one in value if isinstance(value, list) else [value]:
            query.append((key, one))
    return await r.json("/api/http/explain?" + urlencode(query))


def tried(result: Any, ep: str = "web") -> list[str]:
    return [r["name"] for r in next(e for e in result["entryPoints"] if e["name"] == ep)["routers"]]


Check = Callable[[Any], None]


def no_check(result: Any) -> None:
    return None


def priorities_descend(result: Any) -> None:
    for ep in result["entryPoints"]:
        prios = [r["priority"] for r in ep["routers"]]
        assert prios == sorted(prios, reverse=True)


def admin_fails_on_method(result: Any) -> None:
    web = next(e for e in result["entryPoints"] if e["name"] == "web")
    admin = next(r for r in web["routers"] if r["name"] == "admin@file")
    assert admin["matched"] is False
    assert admin["matchers"] == [
        {"matcher": "Host(`site.test`)", "matched": True},
        {"matcher": "Header(`X-Admin`, `1`)", "matched": True},
        {"matcher": "Method(`POST`)", "matched": False},
    ]


def negated_client_ip_fails(result: Any) -> None:
    web = next(e for e in result["entryPoints"] if e["name"] == "web")
    neg = next(r for r in web["routers"] if r["name"] == "neg@file")
    assert neg["matchers"][1] == {"matcher": "!ClientIP(`10.0.0.0/8`)", "matched": False}


def other_hosts_are_not_tried(result: Any) -> None:
    assert "site@file" not in tried(result) and "neg@file" not in tried(result)


CASES = [
    ("host only", "http://site.test/", {}, "site@file", priorities_descend),
    ("longer rule wins on its path", "http://site.test/api/users?x=1", {}, "site-api@file", priorities_descend),
    ("explicit priority beats rule length", "http://site.test/api", {"method": "POST", "header": "X-Admin: 1"},
     "admin@file", no_check),
    ("method mismatch is shown per matcher", "http://site.test/", {"header": "X-Admin:1"}, "site@file",
     admin_fails_on_method),
    ("unknown host falls to the generic router", "http://elsewhere.test/", {}, "any@file", other_hosts_are_not_tried),
    ("https uses the TLS routers", "https://site.test/", {}, "secure@file", no_check),
    ("negated ClientIP excludes the address", "http://neg.test/", {"clientIP": "10.1.2.3"}, "any@file",
     negated_client_ip_fails),
    ("negated ClientIP lets others in", "http://neg.test/", {"clientIP": "192.168.1.1"}, "neg@file", no_check),
    ("Host header overrides the URL", "http://127.0.0.1/", {"header": "Host: SITE.test:8080"}, "site@file", no_check),
    ("no router for TLS on another host", "https://other.test/", {}, None, no_check),
]


@pytest.mark.parametrize(("desc", "url", "params", "winner", "check"), CASES, ids=[c[0] for c in CASES])
async def test_explain_cases(site: Rig, desc: str, url: str, params: dict[str, Any], winner: str | None,
                             check: Check) -> None:
    result = await explain(site, url, **params)
    got = result["winner"]["router"] if result["winner"] else None
    assert got == winner, desc
    check(result)


async def test_winner_has_middleware_chain_and_servers(site: Rig) -> None:
    result = await explain(site, "http://site.test/")
    winner = result["winner"]
    assert winner["entryPoint"] == "web"
    assert winner["middlewares"] == [{
        "name": "chain-mw@file", "from": "router", "type": "chain", "status": "enabled",
        "middlewares": [
            {"name": "pfx@file", "from": "chain", "type": "addprefix", "status": "enabled"},
            {"name": "auth@file", "from": "chain", "type": "basicauth", "status": "enabled"},
        ]}]
    assert winner["service"] == {"name": "web-svc@file", "type": "loadbalancer", "status": "enabled",
                                 "servers": [{"url": site.backend.url, "status": "UP"}]}


async def test_weighted_service_tree(site: Rig) -> None:
    service = (await explain(site, "http://site.test/api"))["winner"]["service"]
    assert service["name"] == "canary@file" and service["type"] == "weighted"
    assert [child["name"] for child in service["services"]] == ["web-svc@file", "other@file"]


async def test_disabled_router_is_listed_as_skipped_with_its_error(site: Rig) -> None:
    web = next(e for e in (await explain(site, "http://site.test/"))["entryPoints"] if e["name"] == "web")
    skipped = {s["name"]: s for s in web["skipped"]}
    assert list(skipped) == ["broken@file"]
    assert skipped["broken@file"]["error"][0].startswith("invalid rule")
    assert "broken@file" not in [r["name"] for r in web["routers"]]


async def test_internal_router_on_the_traefik_entry_point(site: Rig) -> None:
    result = await explain(site, "http://localhost/api/overview", entrypoint="traefik")
    assert tried(result, "traefik") == ["api@internal", "dashboard@internal"]
    assert result["winner"]["router"] == "api@internal"
    assert result["winner"]["service"] == {"name": "api@internal", "type": "internal", "status": "enabled"}


async def test_request_is_echoed_as_routing_sees_it(site: Rig) -> None:
    result = await explain(site, "http://Site.Test:8080/a%20b?q=1", method="delete", header=["X-A: 1", "X-B:2"],
                           clientIP="::1")
    assert result["request"] == {
        "method": "DELETE", "host": "site.test", "path": "/a%20b", "query": "q=1", "tls": False, "clientIP": "::1",
        "headers": [{"name": "X-A", "value": "1"}, {"name": "X-B", "value": "2"}],
    }


async def test_explaining_sends_nothing(site: Rig) -> None:
    before = site.backend.requests
    await explain(site, "http://site.test/")
    assert site.backend.requests == before


@pytest.mark.parametrize(("desc", "url", "expected"), [
    ("http default port", "http://a.test/", 80),
    ("https default port", "https://a.test/x", 443),
    ("explicit port", "http://a.test:8080/", 8080),
    ("no scheme means http", "a.test/x", 80),
    ("bad port", "http://a.test:99999/", 0),
])
def test_url_port(desc: str, url: str, expected: int) -> None:
    assert url_port(url) == expected, desc


@pytest.mark.parametrize(("desc", "port", "expected"), [
    ("the entry point on that port", 80, ["web"]),
    ("several on one port (different hosts), by name", 8443, ["alt", "websecure"]),
    ("none on that port: all of them", 9999, ["alt", "traefik", "web", "websecure"]),
])
def test_entrypoints_for_port(desc: str, port: int, expected: list[str]) -> None:
    static = load_static(["--entryPoints.web.address=:80", "--entryPoints.websecure.address=:8443",
                          "--entryPoints.alt.address=127.0.0.2:8443", "--entryPoints.traefik.address=:8080"],
                         {}, search=False)
    assert entrypoints_for(static, ["web", "websecure", "alt", "traefik"], port) == expected, desc

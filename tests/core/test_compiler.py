"""compile_graph: errors land on the element they touch; neighbours keep working."""

from __future__ import annotations

from typing import Any

import pytest

from traefikpy.aio import TaskGroup
from traefikpy.compiler import CompileContext, compile_graph
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import merge_providers
from traefikpy.config.sources import load_static
from traefikpy.provider import ProviderSnapshot
from traefikpy.proxy.http import Exchange, Handler
from traefikpy.rules import RouteRequest
from traefikpy.services import HealthRegistry


def forward_never(_name: str, _lb: Any) -> Any:
    async def forward(ex: Exchange, server: Any) -> None:
        raise AssertionError("compile tests never forward")
    return forward


def context(*flags: str, middlewares: dict[str, Any] | None = None) -> CompileContext:
    static = load_static(["--entryPoints.web.address=127.0.0.1:0",
                          "--entryPoints.admin.address=127.0.0.1:0", *flags], {}, search=False)
    return CompileContext(static, forward_never, HealthRegistry(), TaskGroup("t"), middlewares=middlewares or {})


def compile_(ctx: CompileContext, **providers: dict[str, Any]) -> Any:
    merged = merge_providers({p: ProviderSnapshot(DynamicConfig.model_validate(c)) for p, c in providers.items()})
    return compile_graph(merged, ctx)


LB = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}


def lookup(graph: Any, ep: str, host: str, path: str = "/") -> str | None:
    target = graph.routes[ep].plain.lookup(RouteRequest(b"GET", host, path, b"", [], "127.0.0.1"))
    return None if target is None else target.name


def test_valid_router_is_enabled_on_all_entrypoints_by_default() -> None:
    graph = compile_(context(), file={"http": {"routers": {"r": {"rule": "Host(`a.test`)", "service": "s"}},
                                                "services": {"s": LB}}})
    state = graph.state.get("http", "router", "r@file")
    assert state.status == "enabled" and state.errors == []
    assert state.using == ["admin", "web"]
    assert lookup(graph, "web", "a.test") == "r@file" and lookup(graph, "admin", "a.test") == "r@file"
    assert graph.state.get("http", "service", "s@file").used_by == ["r@file"]


def test_as_default_limits_the_default_entrypoints() -> None:
    ctx = context("--entryPoints.web.asDefault=true")
    graph = compile_(ctx, file={"http": {"routers": {"r": {"rule": "Host(`a.test`)", "service": "s"}},
                                         "services": {"s": LB}}})
    assert graph.state.get("http", "router", "r@file").using == ["web"]
    assert lookup(graph, "admin", "a.test") is None


@pytest.mark.parametrize(("desc", "router", "message"), [
    ("bad rule", {"rule": "Host(`a.test`) &&", "service": "s"}, "invalid rule"),
    ("unknown matcher", {"rule": "Hots(`a.test`)", "service": "s"}, "Hots"),
    ("missing service", {"rule": "Host(`a.test`)", "service": "nope"}, "the service 'nope@file' does not exist"),
    ("missing middleware", {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["auth"]},
     "middleware 'auth@file' does not exist"),
    ("unknown entrypoint only", {"rule": "Host(`a.test`)", "service": "s", "entryPoints": ["nope"]},
     "no valid entryPoint for this router"),
    ("no rule", {"service": "s"}, "router has no rule"),
])
def test_broken_router_is_disabled_and_neighbours_keep_working(desc: str, router: dict[str, Any], message: str) -> None:
    graph = compile_(context(), file={"http": {
        "routers": {"bad": router, "good": {"rule": "Host(`good.test`)", "service": "s"}},
        "services": {"s": LB}}})
    bad = graph.state.get("http", "router", "bad@file")
    assert bad.status == "disabled", desc
    assert any(message in e for e in bad.errors), (desc, bad.errors)
    assert lookup(graph, "web", "good.test") == "good@file"
    assert lookup(graph, "web", "a.test") is None


def test_unknown_entrypoint_among_valid_ones_is_a_warning() -> None:
    graph = compile_(context(), file={"http": {"routers": {"r": {"rule": "Host(`a.test`)", "service": "s",
                                                                 "entryPoints": ["web", "nope"]}},
                                               "services": {"s": LB}}})
    state = graph.state.get("http", "router", "r@file")
    assert state.status == "warning" and state.using == ["web"]
    assert lookup(graph, "web", "a.test") == "r@file"


def test_cross_provider_references_resolve() -> None:
    graph = compile_(context(),
                     file={"http": {"services": {"shared": LB}}},
                     docker={"http": {"routers": {"r": {"rule": "Host(`a.test`)", "service": "shared@file"}}}})
    assert graph.state.get("http", "router", "r@docker").status == "enabled"
    assert graph.state.get("http", "service", "shared@file").used_by == ["r@docker"]
    assert lookup(graph, "web", "a.test") == "r@docker"


def test_chain_recursion_is_detected_and_reported_on_router_and_middleware() -> None:
    graph = compile_(context(), file={"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "s", "middlewares": ["a"]}},
        "middlewares": {"a": {"chain": {"middlewares": ["b"]}}, "b": {"chain": {"middlewares": ["a"]}}},
        "services": {"s": LB}}})
    router = graph.state.get("http", "router", "r@file")
    assert router.status == "disabled"
    assert any("recursion detected in middlewares: a@file -> b@file -> a@file" in e for e in router.errors)


def test_service_cycle_is_detected() -> None:
    graph = compile_(context(), file={"http": {
        "routers": {"r": {"rule": "Host(`a.test`)", "service": "w1"}},
        "services": {"w1": {"weighted": {"services": [{"name": "w2", "weight": 1}]}},
                     "w2": {"weighted": {"services": [{"name": "w1", "weight": 1}]}}}}})
    router = graph.state.get("http", "router", "r@file")
    assert router.status == "disabled"
    assert any("recursion detected in services" in e for e in router.errors), router.errors


def test_entrypoint_middlewares_are_prepended_and_checked() -> None:
    calls: list[str] = []

    def tag(cfg: Any, nxt: Handler, name: str, ctx: Any) -> Handler:
        async def handler(ex: Exchange) -> None:
            calls.append(name)
            await nxt(ex)
        return handler

    ctx = context("--entryPoints.web.http.middlewares=missing@file")
    graph = compile_(ctx, file={"http": {"routers": {"r": {"rule": "Host(`a.test`)", "service": "s",
                                                           "entryPoints": ["web"]}},
                                         "services": {"s": LB}}})
    assert any("middleware 'missing@file' does not exist" in e
               for e in graph.state.get("http", "router", "r@file").errors)


def test_provider_conflicts_become_element_errors() -> None:
    merged = merge_providers({"file": ProviderSnapshot(DynamicConfig(), {"http.routers.r": ("defined twice",)})})
    graph = compile_graph(merged, context())
    state = graph.state.get("http", "router", "r@file")
    assert state.status == "disabled" and state.errors == ["defined twice"]


def test_redirection_router_is_generated() -> None:
    ctx = context("--entryPoints.web.http.redirections.entryPoint.to=admin",
                  "--entryPoints.web.http.redirections.entryPoint.scheme=https")
    graph = compile_(ctx, file={})
    assert lookup(graph, "web", "any.test", "/x") == "web-to-admin@internal"


def test_service_or_middleware_with_two_types_disables_only_its_routers() -> None:
    graph = compile_(context(), file={"http": {
        "routers": {"bad-svc": {"rule": "Host(`a.test`)", "service": "two"},
                    "bad-mw": {"rule": "Host(`b.test`)", "service": "s", "middlewares": ["m"]},
                    "good": {"rule": "Host(`good.test`)", "service": "s"}},
        "middlewares": {"m": {"addPrefix": {"prefix": "/x"}, "stripPrefix": {"prefixes": ["/y"]}}},
        "services": {"s": LB, "two": {**LB, "weighted": {"services": [{"name": "s"}]}}}}})
    svc = graph.state.get("http", "service", "two@file")
    assert svc.status == "disabled"
    assert any("exactly one of loadBalancer" in e and "found: loadBalancer, weighted" in e for e in svc.errors)
    assert graph.state.get("http", "router", "bad-svc@file").status == "disabled"
    mw = graph.state.get("http", "middleware", "m@file")
    assert mw.status == "disabled" and "found: addPrefix, stripPrefix" in mw.errors[0]
    assert graph.state.get("http", "router", "bad-mw@file").status == "disabled"
    assert lookup(graph, "web", "good.test") == "good@file"

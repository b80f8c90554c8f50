"""The route explainer (a traefikpy addition): which router would take a request, and why.

``GET /api/http/explain?url=http://host/path?q&method=GET&header=Name:Value&entrypoint=web&clientIP=``
evaluates the request against the current graph without sending anything.  For each entry point
considered (the one asked for; else those listening on the URL's port, 80 or 443 by default;
else every HTTP entry point) it lists the routers the routing
table would try, in order, with their priority and the result of each matcher call of their
rule; the routers meant for that entry point that are disabled (and so never tried) with their
errors; and the winner.  The overall winner is that of the first entry point, in name order,
that has one (a request reaches one entry point only: name it to be exact), with its middleware
chain (entry point middlewares first, ``chain`` expanded) and its service tree down to the
servers and their live status.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

from traefikpy.api.views import ApiSource, Item, kind_of, raw_element
from traefikpy.config.merge import provider_of, qualify
from traefikpy.config.static import StaticConfig
from traefikpy.proxy.target import canonical_host
from traefikpy.rules import RouteRequest
from traefikpy.runtime import DISABLED

MAX_DEPTH = 16  # service and chain trees deeper than this are cut (cycles are disabled anyway)


class ExplainError(ValueError):
    """A bad explain query: answered with 400."""


def url_port(url: str) -> int:
    """The port ``url`` names, or its scheme's default (0 when it cannot be told)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    try:
        port = parts.port
    except ValueError:
        return 0
    return port if port is not None else {"http": 80, "https": 443}.get(parts.scheme, 0)


def entrypoints_for(static: StaticConfig, available: Collection[str], port: int) -> list[str]:
    """The entry points a request to ``port`` reaches: those of ``available`` configured on that
    port, else all of them (sorted by name)."""
    names = sorted(available)
    on_port = [n for n in names if n in static.entry_points and static.entry_points[n].listen.port == port]
    return on_port or names


def build_request(url: str, method: str = "GET", headers: Sequence[tuple[str, str]] = (),
                  client_ip: str = "") -> tuple[RouteRequest, bool]:
    """The request routing would see for ``url``, and whether it arrives over TLS (``https``)."""
    if not url:
        raise ExplainError("the url parameter is required, e.g. url=http://example.com/path")
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme not in ("http", "https"):
        raise ExplainError(f"unsupported scheme {parts.scheme!r} (expected http or https)")
    raw_headers: list[tuple[bytes, bytes]] = []
    host = parts.netloc.rpartition("@")[2]
    for name, value in headers:
        if name.lower() == "host":
            host = value  # routing reads the Host header, as the server does
        else:
            raw_headers.append((name.encode("utf-8"), value.encode("utf-8")))
    try:
        host_bytes = host.encode("idna") if host else b""
    except UnicodeError:
        raise ExplainError(f"invalid host {host!r}") from None
    path = parts.path or "/"
    req = RouteRequest((method or "GET").upper().encode("latin-1", "replace"), canonical_host(host_bytes),
                       path.encode("utf-8").decode("latin-1"), parts.query.encode("utf-8"), raw_headers,
                       client_ip or "127.0.0.1")
    return req, parts.scheme == "https"


def parse_header(text: str) -> tuple[str, str]:
    """``Name:Value`` → ``(name, value)``."""
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ExplainError(f"invalid header {text!r} (expected Name:Value)")
    return name.strip(), value.strip()


def _middleware_tree(source: ApiSource, refs: Sequence[str], provider: str, origin: str,
                     seen: tuple[str, ...] = ()) -> list[Item]:
    out: list[Item] = []
    for ref in refs:
        name = qualify(ref, provider)
        node: Item = {"name": name, "from": origin}
        state = source.graph.state.elements.get(("http", "middleware", name))
        if state is None:
            node.update(status=DISABLED, error=[f"middleware {name!r} does not exist"])
        else:
            raw = raw_element(source, state)
            node.update(type=kind_of(raw), status=state.status)
            if state.errors:
                node["error"] = list(state.errors)
            chain = (raw.get("chain") or {}).get("middlewares")
            if chain and name not in seen and len(seen) < MAX_DEPTH:
                node["middlewares"] = _middleware_tree(source, chain, provider_of(name), "chain", (*seen, name))
        out.append(node)
    return out


def _children(raw: Item) -> list[str]:
    for key in ("weighted", "highestRandomWeight"):
        if key in raw:
            return [c.get("name", "") for c in raw[key].get("services") or []]
    if "mirroring" in raw:
        mirroring = raw["mirroring"]
        return [mirroring.get("service", "")] + [m.get("name", "") for m in mirroring.get("mirrors") or []]
    if "failover" in raw:
        return [raw["failover"].get("service", ""), raw["failover"].get("fallback", "")]
    return []


def service_tree(source: ApiSource, name: str, seen: tuple[str, ...] = ()) -> Item:
    """A service, its status and servers, and its child services (weighted, mirroring, failover)."""
    if name in source.internal_services:
        return {"name": name, "type": "internal", "status": "enabled"}
    state = source.graph.state.elements.get(("http", "service", name))
    if state is None:
        return {"name": name, "status": DISABLED, "error": [f"the service {name!r} does not exist"]}
    raw = raw_element(source, state)
    node: Item = {"name": name, "type": kind_of(raw), "status": state.status}
    if state.errors:
        node["error"] = list(state.errors)
    if "loadBalancer" in raw:
        status = raw.get("serverStatus") or {}
        node["servers"] = [{"url": s.get("url", ""), "status": status.get(s.get("url", ""), "UNKNOWN")}
                           for s in raw["loadBalancer"].get("servers") or []]
    children = _children(raw)
    if children and name not in seen and len(seen) < MAX_DEPTH:
        node["services"] = [service_tree(source, qualify(child, provider_of(name)), (*seen, name))
                            for child in children]
    return node


def _meant_for(source: ApiSource, config: Any, ep: str, tls: bool) -> bool:
    """Whether a router's configuration attaches it to ``ep``'s plain (or TLS) table."""
    if config is None:
        return False
    eps = source.static.entry_points
    wanted = list(config.entry_points or []) or ([n for n, e in eps.items() if e.as_default] or list(eps))
    ep_config = eps.get(ep)
    ep_tls = ep_config is not None and ep_config.http is not None and ep_config.http.tls is not None
    return ep in wanted and (config.tls is not None or ep_tls) == tls


def _entrypoint_report(source: ApiSource, ep: str, req: RouteRequest, tls: bool) -> Item:
    report: Item = {"name": ep, "tls": tls, "routers": [], "skipped": [], "winner": None}
    routes = source.graph.routes.get(ep)
    if routes is None:
        return report
    table = routes.secure if tls else routes.plain
    winner = table.lookup(req)
    report["winner"] = winner.name if winner is not None else None
    tried = table.explain(req)
    rules = {route.name: route.rule.text for route in table.routes()} if tried else {}
    for name, priority, matched, matchers in tried:
        report["routers"].append({
            "name": name, "priority": priority, "rule": rules.get(name, ""), "matched": matched,
            "matchers": [{"matcher": text, "matched": ok} for text, ok in matchers]})
    for name, state in sorted(source.states("http", "router").items()):
        if state.status == DISABLED and _meant_for(source, state.config, ep, tls):
            report["skipped"].append({"name": name, "status": state.status, "error": list(state.errors)})
    return report


def _winner(source: ApiSource, ep: str, router: str, tls: bool) -> Item:
    state = source.graph.state.elements.get(("http", "router", router))
    config = state.config if state is not None else None
    out: Item = {"entryPoint": ep, "router": router, "tls": tls}
    if config is None:  # an internal router: no middlewares; its target names its service
        routes = source.graph.routes[ep]
        table = routes.secure if tls else routes.plain
        target = next((r.target for r in table.routes() if r.name == router), None)
        out["middlewares"] = []
        out["service"] = service_tree(source, target.service if target is not None else router)
        return out
    provider = provider_of(router)
    ep_config = source.static.entry_points.get(ep)
    ep_mw = list(ep_config.http.middlewares or []) if ep_config is not None and ep_config.http else []
    out["middlewares"] = (_middleware_tree(source, ep_mw, provider, "entryPoint")
                          + _middleware_tree(source, list(config.middlewares or []), provider, "router"))
    out["service"] = service_tree(source, qualify(config.service, provider))
    return out


def explain(source: ApiSource, req: RouteRequest, tls: bool, entrypoint: str = "", port: int = 0) -> Item:
    """The explanation of ``req`` over the graph of ``source`` (see the module docstring); ``port``
    (see :func:`url_port`) picks the entry points when ``entrypoint`` is not given."""
    if entrypoint and entrypoint not in source.graph.routes:
        raise ExplainError(f"entry point not found: {entrypoint}")
    eps = [entrypoint] if entrypoint else entrypoints_for(source.static, source.graph.routes, port)
    reports = [_entrypoint_report(source, ep, req, tls) for ep in eps]
    request: Item = {
        "method": req.method.decode("latin-1"), "host": req.host,
        "path": req.path.encode("latin-1").decode("utf-8", "replace"),
        "query": req.query.decode("utf-8", "replace"), "tls": tls, "clientIP": req.client_ip,
        "headers": [{"name": k.decode("utf-8", "replace"), "value": v.decode("utf-8", "replace")}
                    for k, v in req.headers],
    }
    winner = next((r for r in reports if r["winner"] is not None), None)
    return {
        "request": request,
        "entryPoints": reports,
        "winner": _winner(source, winner["name"], winner["winner"], tls) if winner is not None else None,
    }

"""Runtime state in Traefik's JSON shapes (pure): what ``/api/rawdata``, ``/api/overview``, the
element lists and details, and ``/api/entrypoints`` return.

TCP and UDP elements of the configuration are listed like HTTP ones (configuration, ``usedBy``,
``type``...) but always ``disabled`` with an error saying they are not served: traefikpy has no
TCP/UDP data plane, and a dashboard must not show them as running.

An element is its configuration in Traefik's camelCase form (``config.base.dump``, plus the
defaults Traefik's decoder fills in for load balancers and health checks) and its runtime fields:
``status``, ``error`` (left out when empty), ``using`` (routers: effective entry points),
``usedBy`` (services, middlewares), ``serverStatus`` (load balancers, live ``UP``/``DOWN``).
List and detail views add ``name``, ``provider`` and, for services and middlewares, ``type``
(the lower-cased kind key).  Internal elements (``api@internal``, ``ping@internal``...) are shown
the way Traefik's internal provider declares them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

from traefikpy.config.base import dump
from traefikpy.config.merge import provider_of, qualify
from traefikpy.config.static import StaticConfig
from traefikpy.graph import Graph
from traefikpy.runtime import ENABLED, ElementState

Item = dict[str, Any]

SECTIONS = ("http", "tcp", "udp")
UNSUPPORTED = {
    "tcp": "TCP routing is not implemented by traefikpy: this element is not served",
    "udp": "UDP routing is not implemented by traefikpy: this element is not served",
}
"""The error shown on every configured TCP/UDP element: listed as Traefik would, disabled."""
KINDS = ("router", "service", "middleware")
RAW_KEYS = {  # (section, kind) -> key in /api/rawdata
    ("http", "router"): "routers", ("http", "middleware"): "middlewares", ("http", "service"): "services",
    ("tcp", "router"): "tcpRouters", ("tcp", "middleware"): "tcpMiddlewares", ("tcp", "service"): "tcpServices",
    ("udp", "router"): "udpRouters", ("udp", "service"): "udpServices",
}
# Traefik's static.Providers fields in declaration order: /api/overview lists them so.
_PROVIDERS = (
    ("docker", "Docker"), ("swarm", "Swarm"), ("file", "File"), ("kubernetes_ingress", "KubernetesIngress"),
    ("kubernetes_crd", "KubernetesCRD"), ("kubernetes_gateway", "KubernetesGateway"), ("rest", "Rest"),
    ("consul_catalog", "ConsulCatalog"), ("nomad", "Nomad"), ("ecs", "Ecs"), ("consul", "Consul"),
    ("etcd", "Etcd"), ("zoo_keeper", "ZooKeeper"), ("redis", "Redis"), ("http", "HTTP"),
)
_TRACING = {"otlp": "OTLP", "datadog": "Datadog", "jaeger": "Jaeger", "zipkin": "Zipkin"}


@dataclass
class ApiSource:
    """What one API request reads: the static configuration, the live graph, the internal services."""

    static: StaticConfig
    graph: Graph
    internal_services: Collection[str] = field(default_factory=tuple)

    def states(self, section: str, kind: str) -> dict[str, ElementState]:
        found = self.graph.state.of(section, kind)
        if section != "http":
            configured = getattr(getattr(self.graph.merged.config, section, None), f"{kind}s", None) or {}
            for name, config in configured.items():
                state = found.get(name)
                if state is None:
                    state = found[name] = ElementState(name, kind, section, config)
                elif state.config is None:
                    state.config = config
                state.add_error(UNSUPPORTED[section])
        return found


# -- configuration ------------------------------------------------------------------------------


def _with_lb_defaults(raw: Item) -> Item:
    """Fill what Traefik's ``SetDefaults`` puts in a decoded load balancer (and its health check)."""
    lb = raw.get("loadBalancer")
    if not isinstance(lb, dict):
        return raw
    lb = {"passHostHeader": True, "strategy": "wrr", **lb}
    lb["responseForwarding"] = {"flushInterval": "100ms", **(lb.get("responseForwarding") or {})}
    if isinstance(lb.get("healthCheck"), dict):
        lb["healthCheck"] = {"mode": "http", "interval": "30s", "timeout": "5s", "followRedirects": True,
                             **lb["healthCheck"]}
    return {**raw, "loadBalancer": lb}


def config_of(state: ElementState) -> Item:
    """The element's configuration in Traefik form (empty when only an error is known)."""
    if state.config is None:
        return {}
    raw = dump(state.config)
    return _with_lb_defaults(raw) if state.kind == "service" and state.section == "http" else raw


def kind_of(raw: Item) -> str:
    """Traefik's ``type``: the lower-cased key of the one kind configured, else ``""``."""
    keys = [k for k, v in raw.items() if isinstance(v, dict) and k != "serverStatus"]
    return keys[0].lower() if len(keys) == 1 else ""


# -- internal elements --------------------------------------------------------------------------


def _route_facts(graph: Graph) -> dict[str, Item]:
    """Rule, priority, service and entry points of every route of the graph, by router name."""
    facts: dict[str, Item] = {}
    for ep, routes in sorted(graph.routes.items()):
        for table in (routes.plain, routes.secure):
            for route in table.routes():
                item = facts.setdefault(route.name, {
                    "entryPoints": [], "service": route.target.service, "rule": route.rule.text,
                    "priority": route.priority, "ruleSyntax": "v3"})
                if ep not in item["entryPoints"]:
                    item["entryPoints"].append(ep)
    return facts


def used_by(source: ApiSource, section: str, facts: dict[str, Item] | None = None) -> dict[str, list[str]]:
    """Routers naming each service and middleware, as Traefik's ``PopulateUsedBy`` counts them:
    every router whose configuration references it directly (broken routers included; neither
    ``chain`` members nor entry point middlewares count), sorted."""
    users: dict[str, list[str]] = {}
    for name, state in source.states(section, "router").items():
        provider = provider_of(name)
        config = state.config
        if config is None:  # internal routers: their target names their service
            if facts is not None and name in facts:
                users.setdefault(facts[name]["service"], []).append(name)
            continue
        for ref in getattr(config, "middlewares", None) or []:
            users.setdefault(qualify(ref, provider), []).append(name)
        if getattr(config, "service", ""):
            users.setdefault(qualify(config.service, provider), []).append(name)
    for names in users.values():
        names.sort()
    return users


# -- elements -----------------------------------------------------------------------------------


def _server_status(source: ApiSource, state: ElementState) -> dict[str, str]:
    handler = source.graph.services.get(state.name)
    live = getattr(handler, "server_status", None)
    if callable(live):  # the balancer's own servers: health changes show without a reload
        return {url: "UP" if up else "DOWN" for url, up in live().items()}
    return dict(state.server_status)


def raw_element(source: ApiSource, state: ElementState, facts: dict[str, Item] | None = None,
                users: dict[str, list[str]] | None = None) -> Item:
    """One element as ``/api/rawdata`` shows it (configuration and runtime fields); ``users`` is
    :func:`used_by` of its section (computed when not given)."""
    out = config_of(state)
    if not out and state.kind == "router" and facts and state.name in facts:
        out = dict(facts[state.name])
    if state.errors:
        out["error"] = list(state.errors)
    out["status"] = state.status
    if state.kind == "router":
        if state.using:
            out["using"] = sorted(state.using)
    else:
        if users is None:
            users = used_by(source, state.section, _route_facts(source.graph) if state.section == "http" else None)
        if users.get(state.name):
            out["usedBy"] = list(users[state.name])
        if state.kind == "service":
            status = _server_status(source, state)
            if status:
                out["serverStatus"] = status
    return out


def represent(kind: str, name: str, raw: Item) -> Item:
    """A list/detail item: ``raw`` plus ``name``, ``provider`` and (not routers) ``type``."""
    item = dict(raw)
    tls = item.get("tls")
    if kind == "router" and isinstance(tls, dict) and not tls.get("options"):
        item["tls"] = {**tls, "options": "default"}
    item["name"] = name
    item["provider"] = provider_of(name)
    if kind != "router":
        type_ = kind_of(raw)
        if type_:
            item["type"] = type_
    return item


def _internal_service(users: list[str]) -> Item:
    out: Item = {"status": ENABLED}
    if users:
        out["usedBy"] = sorted(users)
    return out


def raw_elements(source: ApiSource, section: str, kind: str) -> dict[str, Item]:
    """Every element of one kind, by qualified name, in ``/api/rawdata`` form."""
    states = source.states(section, kind)
    facts = _route_facts(source.graph) if section == "http" else None
    users = used_by(source, section, facts) if kind != "router" else {}
    out = {name: raw_element(source, state, facts, users) for name, state in states.items()}
    if section == "http" and kind == "service":
        for name in source.internal_services:
            out.setdefault(name, _internal_service(users.get(name, [])))
    return out


def items(source: ApiSource, section: str, kind: str) -> list[Item]:
    """Every element of one kind as list items (unsorted)."""
    return [represent(kind, name, raw) for name, raw in raw_elements(source, section, kind).items()]


def item(source: ApiSource, section: str, kind: str, name: str) -> Item | None:
    """One element as a detail item, or None when it does not exist."""
    state = source.states(section, kind).get(name) if section != "http" else source.graph.state.elements.get(
        (section, kind, name))
    internal = section == "http" and kind == "service" and name in source.internal_services
    if state is None and not internal:
        return None
    facts = _route_facts(source.graph) if section == "http" else None
    if state is None:
        return represent(kind, name, _internal_service(used_by(source, section, facts).get(name, [])))
    return represent(kind, name, raw_element(source, state, facts))


def rawdata(source: ApiSource) -> Item:
    """``/api/rawdata``: every section, empty ones left out (Go's ``omitempty``)."""
    out: Item = {}
    for (section, kind), key in RAW_KEYS.items():
        elements = raw_elements(source, section, kind)
        if elements:
            out[key] = dict(sorted(elements.items()))
    return out


# -- overview -----------------------------------------------------------------------------------


def _section_counts(source: ApiSource, section: str, kind: str) -> Item:
    statuses = [raw.get("status") for raw in raw_elements(source, section, kind).values()]
    return {"total": len(statuses), "warnings": statuses.count("warning"), "errors": statuses.count("disabled")}


def providers(static: StaticConfig) -> list[str]:
    cfg = static.providers
    names = [label for attr, label in _PROVIDERS if getattr(cfg, attr, None) is not None]
    return names + [f"plugin-{name}" for name in sorted(cfg.plugin or {})]


def features(static: StaticConfig) -> Item:
    metrics = "Prometheus" if static.metrics is not None and static.metrics.prometheus is not None else ""
    tracing = ""
    for key in static.tracing or {}:
        if key in _TRACING:
            tracing = _TRACING[key]
            break
    return {"tracing": tracing, "metrics": metrics, "accessLog": static.access_log is not None}


def overview(source: ApiSource) -> Item:
    """``/api/overview``: totals, warnings and errors per section, features and providers."""
    out: Item = {}
    for section in SECTIONS:
        kinds = ("router", "service") if section == "udp" else KINDS
        out[section] = {f"{kind}s": _section_counts(source, section, kind) for kind in kinds}
    out["features"] = features(source.static)
    names = providers(source.static)
    if names:
        out["providers"] = names
    return out


# -- entry points -------------------------------------------------------------------------------


def _omit_empty(value: Any) -> Any:
    """Go's ``omitempty`` on static fields: zero scalars and empty lists go, structs stay."""
    if isinstance(value, dict):
        return {k: _omit_empty(v) for k, v in value.items() if not _is_zero(v)}
    if isinstance(value, list):
        return [_omit_empty(v) for v in value]
    return value


def _is_zero(value: Any) -> bool:
    return value is None or value is False or value == 0 or value in ("", "0s") or value == []


def entrypoint(static: StaticConfig, name: str) -> Item | None:
    ep = static.entry_points.get(name)
    if ep is None:
        return None
    out: Item = _omit_empty(ep.model_dump(by_alias=True, exclude_none=True, mode="json"))
    out["name"] = name
    return out


def entrypoints(static: StaticConfig) -> Iterator[Item]:
    """Every entry point, sorted by name."""
    for name in sorted(static.entry_points):
        found = entrypoint(static, name)
        if found is not None:
            yield found

"""Routing from ``traefik.*`` labels, shared by the label-based providers (Docker, Consul Catalog).

One *instance* (a container, a catalog service instance) gives a partial configuration, as
Traefik's ``label.DecodeConfiguration`` + ``provider.Build*Configuration`` do:

1. only ``traefik.http.*``, ``traefik.tcp.*``, ``traefik.udp.*`` and ``traefik.tls.*`` are routing
   labels (``traefik.enable``, ``traefik.docker.*`` and anything else are the provider's);
2. the label-only server shortcut ``traefik.<http|tcp|udp>.services.<s>.loadbalancer.server.<f>``
   (http: ``port``, ``scheme``, ``weight``, ``url``; tcp: ``port``, ``tls``; udp: ``port``) is taken
   out *before* the shared decoder (:func:`traefikpy.config.decode.parse_labels`), which does not
   know it; what Traefik cannot set with labels (weighted/mirroring/failover services, servers
   transports, TLS certificates and options, ``loadbalancer.servers``) is refused;
3. TCP/UDP: a service named after the instance when none is labelled, one server per service;
   a TCP router needs a rule; a router without service gets the only service, or is dropped
   when there are several;
4. HTTP (unless the instance is TCP/UDP only): the same defaults, plus a router named after the
   instance when none is labelled (and only one service exists) whose rule is ``defaultRule``
   rendered with the instance's template data.

A mistake in the labels skips the whole instance (a *problem*); a router that cannot be completed
is dropped and its error reported on it.  :func:`assemble` merges instances with
:func:`traefikpy.config.merge.merge_sources` (replicas' servers join one service).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.gotemplate import Template, TemplateError
from traefikpy.config.decode import ConfigError, parse_labels, validate
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import merge_sources
from traefikpy.provider import ProviderSnapshot

log = logging.getLogger("traefikpy.providers.labels")

__all__ = [
    "Built", "Instance", "LabelError", "assemble", "build_instance", "join_host_port", "parse_bool",
    "split_labels",
]

ROUTING_SECTIONS = ("http", "tcp", "udp", "tls")
SERVER_FIELDS = {"http": ("port", "scheme", "weight", "url"), "tcp": ("port", "tls"), "udp": ("port",)}
# Traefik marks these ``label:"-"``: labels cannot define them.
_NOT_BY_LABEL_SERVICE_KINDS = ("weighted", "mirroring", "failover", "highestRandomWeight")


class LabelError(ValueError):
    """An instance whose labels cannot be turned into routing (the instance is skipped)."""


def parse_bool(value: str, what: str) -> bool:
    """Go's ``strconv.ParseBool``."""
    text = value.strip()
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise LabelError(f"{what}: invalid boolean {value!r}")


def join_host_port(host: str, port: str) -> str:
    """Go's ``net.JoinHostPort``: IPv6 literals get brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


Endpoint = Callable[[str], tuple[str, str]]
"""Where an instance listens for a given port label (``""`` when none): ``(host, port)``; the
port may be ``""`` (no port found).  Raises :class:`LabelError` when the host is unknown."""


@dataclass(frozen=True)
class Instance:
    """One container or catalog service instance, as the shared builder needs it."""

    key: str  # unique and stable: names the source in merge conflicts
    name: str  # default router/service name (normalized)
    labels: Mapping[str, str]
    template_data: Mapping[str, Any]
    endpoint: Endpoint
    add_servers: bool = True  # False: services are kept without servers (unhealthy, allowEmptyServices)


@dataclass
class Built:
    """The partial configuration of one instance, or why there is none."""

    config: DynamicConfig | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)  # "http.routers.r" -> messages
    problems: list[str] = field(default_factory=list)  # non-empty: the instance is skipped

    def error(self, key: str, message: str) -> None:
        log.debug("%s: %s", key, message)
        self.errors.setdefault(key, []).append(message)


def split_labels(labels: Mapping[str, str], prefix: str = "traefik") -> tuple[
        dict[str, str], dict[tuple[str, str], dict[str, str]], list[str]]:
    """``(routing labels for the decoder, server shortcuts by (section, service), problems)``."""
    routing: dict[str, str] = {}
    servers: dict[tuple[str, str], dict[str, str]] = {}
    problems: list[str] = []
    for key in sorted(labels):
        head, dot, rest = key.partition(".")
        if not dot or head.lower() != prefix.lower():
            continue
        segments = rest.split(".")
        section = segments[0].lower()
        if section not in ROUTING_SECTIONS:
            continue
        is_lb = (section in SERVER_FIELDS and len(segments) >= 5 and segments[1].lower() == "services"
                 and segments[3].lower() == "loadbalancer")
        if is_lb and segments[4].lower() == "server":
            name = segments[5].lower() if len(segments) == 6 else ""
            if name not in SERVER_FIELDS[section]:
                problems.append(f"{key}: unknown server option (labels take "
                                f"{', '.join('server.' + f for f in SERVER_FIELDS[section])})")
                continue
            servers.setdefault((section, segments[2]), {})[name] = labels[key]
            continue
        if is_lb and segments[4].lower().startswith("servers"):
            problems.append(f"{key}: labels cannot list servers; use "
                            f"{prefix}.{section}.services.{segments[2]}.loadbalancer.server.port")
            continue
        routing[key] = labels[key]
    return routing, servers, problems


def _refused(data: Mapping[str, Any]) -> list[str]:
    """What the decoded labels define although Traefik does not allow it with labels."""
    out: list[str] = []
    for section in ("http", "tcp"):
        if (data.get(section) or {}).get("serversTransports"):
            out.append(f"{section}.serversTransports cannot be defined with labels")
    for section in ("http", "tcp", "udp"):
        for name, service in ((data.get(section) or {}).get("services") or {}).items():
            for kind in _NOT_BY_LABEL_SERVICE_KINDS:
                if isinstance(service, Mapping) and kind in service:
                    out.append(f"{section}.services.{name}.{kind}: only loadBalancer services can be "
                               "defined with labels")
    for key in ("certificates", "options"):
        if (data.get("tls") or {}).get(key):
            out.append(f"tls.{key} cannot be defined with labels")
    return out


def _load_balancer(section: str, name: str, service: Any) -> dict[str, Any]:
    lb = service.get("loadBalancer") if isinstance(service, dict) else None
    if not isinstance(lb, dict):
        raise LabelError(f"{section}.services.{name}: load-balancer is not defined")
    return lb


def _server(section: str, inst: Instance, fields: Mapping[str, str]) -> dict[str, Any]:
    if section == "http" and fields.get("url"):
        if "port" in fields or "scheme" in fields:
            raise LabelError("server.url cannot be combined with server.port or server.scheme")
        server: dict[str, Any] = {"url": fields["url"]}
    else:
        host, port = inst.endpoint(fields.get("port", "").strip())
        if not port:
            raise LabelError("port is missing")
        address = join_host_port(host, port)
        if section == "http":
            server = {"url": f"{fields.get('scheme') or 'http'}://{address}"}
        else:
            server = {"address": address}
    for name in ("weight", "tls"):
        if name in fields:
            server[name] = fields[name]
    return server


def _services(section: str, part: dict[str, Any], inst: Instance,
              shortcuts: Mapping[tuple[str, str], Mapping[str, str]]) -> None:
    services = part.setdefault("services", {})
    for (sec, name) in shortcuts:
        if sec == section:
            services.setdefault(name, {}).setdefault("loadBalancer", {})
    if not services:
        services[inst.name] = {"loadBalancer": {}}
    for name, service in services.items():
        lb = _load_balancer(section, name, service)
        if inst.add_servers:
            try:
                lb["servers"] = [_server(section, inst, shortcuts.get((section, name), {}))]
            except LabelError as exc:
                raise LabelError(f"service {name!r} error: {exc}") from None


def _pick_service(section: str, part: dict[str, Any], router: str, built: Built) -> bool:
    """Give a router without service the only service; False (router dropped) when ambiguous."""
    spec = part["routers"][router]
    if spec.get("service"):
        return True
    services = part.get("services") or {}
    if len(services) > 1:
        built.error(f"{section}.routers.{router}",
                    "could not define the service name for the router: too many services")
        return False
    spec["service"] = next(iter(services))
    return True


def _routers(section: str, part: dict[str, Any], built: Built,
             rule: Callable[[], str] | None = None) -> None:
    routers = part.get("routers") or {}
    for name in list(routers):
        if not isinstance(routers[name], dict):
            routers[name] = {}
        spec = routers[name]
        if section == "tcp" and not spec.get("rule"):
            built.error(f"tcp.routers.{name}", "empty rule")
            del routers[name]
            continue
        if section == "http" and not spec.get("rule") and rule is not None:
            try:
                spec["rule"] = rule()
            except TemplateError as exc:
                built.error(f"http.routers.{name}", f"error while parsing default rule: {exc}")
                del routers[name]
                continue
            if not spec["rule"]:
                built.error(f"http.routers.{name}", "undefined rule (defaultRule gave an empty rule)")
                del routers[name]
                continue
        if not _pick_service(section, part, name, built):
            del routers[name]


def build_instance(inst: Instance, default_rule: Template, prefix: str = "traefik") -> Built:
    """The partial configuration of one instance (see the module docstring)."""
    built = Built()
    routing, shortcuts, problems = split_labels(inst.labels, prefix)
    try:
        data = parse_labels(routing, DynamicConfig, prefix=prefix, skip=(), source=f"labels of {inst.key}")
    except ConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
        data = {}
    problems.extend(_refused(data))
    if problems:
        built.problems = problems
        return built
    try:
        tcp_or_udp = False
        for section in ("tcp", "udp"):
            part = data.get(section) or {}
            if part.get("routers") or part.get("services") or any(s == section for s, _ in shortcuts):
                tcp_or_udp = True
                data[section] = part
                _services(section, part, inst, shortcuts)
                _routers(section, part, built)
        http = data.get("http") or {}
        if not (tcp_or_udp and not http.get("routers") and not http.get("middlewares")
                and not http.get("services") and not any(s == "http" for s, _ in shortcuts)):
            data["http"] = http
            _services("http", http, inst, shortcuts)
            if not http.get("routers"):
                if len(http["services"]) > 1:
                    log.info("%s: no router created: several services and no router", inst.key)
                else:
                    http["routers"] = {inst.name: {}}
            _routers("http", http, built, lambda: default_rule.render(inst.template_data))
        built.config = validate(DynamicConfig, data, source=f"labels of {inst.key}")
    except LabelError as exc:
        built.problems.append(str(exc))
    except ConfigError as exc:
        built.problems.extend(str(p) for p in exc.problems)
    except Exception as exc:  # a translation bug must skip one instance, never stop the provider
        log.exception("translating %s failed", inst.key)
        built.problems.append(f"internal error: {exc!r}")
    if built.problems:
        built.config = None
    return built


def _present(config: DynamicConfig, key: str) -> bool:
    section, _, rest = key.partition(".")
    kind, _, name = rest.partition(".")
    part = getattr(config, section, None)
    return name in (getattr(part, kind, None) or {}) if part is not None and kind == "routers" else False


def assemble(built: Iterable[tuple[str, Built]], problem_kind: str) -> ProviderSnapshot:
    """One snapshot from every instance's result (sorted by key, as Traefik merges them).

    Problems of a skipped instance are reported as ``"<problem_kind>.<key>"``; the error of a
    dropped router only when no other instance defines that router.
    """
    results = sorted(built, key=lambda item: item[0])
    merged = merge_sources([(key, b.config) for key, b in results if b.config is not None])
    errors: dict[str, list[str]] = {k: list(v) for k, v in merged.errors.items()}
    for key, b in results:
        for element, messages in b.errors.items():
            if _present(merged.config, element):
                continue
            bucket = errors.setdefault(element, [])
            bucket.extend(m for m in messages if m not in bucket)
        if b.problems:
            errors[f"{problem_kind}.{key}"] = list(b.problems)
    return ProviderSnapshot(merged.config, {k: tuple(v) for k, v in sorted(errors.items())})

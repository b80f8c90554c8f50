"""Docker provider, pure half: containers (the Engine API's inspect documents) → one snapshot.

Follows Traefik v3's Docker provider:

* names: a Compose container is named ``<service>-<project>`` (Traefik joins the labels
  ``com.docker.compose.service`` and ``com.docker.compose.project`` with ``_`` and normalizes),
  any other container by its name; the default router and service take that name and
  ``defaultRule`` sees it as ``.Name`` (plus ``.ContainerName`` and ``.Labels``);
* filters: ``traefik.enable`` (default ``exposedByDefault``), the ``constraints`` expression on
  labels, running containers only (``traefik.docker.allownonrunning=true`` keeps a stopped
  container's routers and services, without servers), and a container with a health check
  only once ``healthy`` (with ``allowEmptyServices`` an unhealthy or starting container keeps its
  services, without servers);
* address: the network named by ``traefik.docker.network`` or the provider's ``network``, else
  ``host.docker.internal`` (``host_ip``) for host networking, the address of the container whose
  network is shared (``--network container:x``), or the first network (by name); the port is the
  ``...loadbalancer.server.port`` label, else the lowest exposed port; ``useBindPortIP`` uses the
  host IP and port a container port is published on, when that IP is specific.

Everything else (labels → routers, services, middlewares, replicas merged) is
:mod:`providers.labels`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from providers.constraints import compile_constraints
from providers.gotemplate import compile_template, normalize
from providers.labels import Built, Instance, LabelError, assemble, build_instance, parse_bool
from traefikpy.config.static_providers import DEFAULT_RULE
from traefikpy.provider import ProviderSnapshot

log = logging.getLogger("traefikpy.providers.docker")

__all__ = [
    "Container", "DockerSettings", "DockerTranslator", "ExtraConf", "Port", "parse_container", "relevant_event",
]

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
_DOCKER_LABELS = {"network": "network", "lbswarm": "lbswarm", "allownonrunning": "allownonrunning"}


@dataclass(frozen=True)
class Port:
    """A container port (``80/tcp``) and the host addresses it is published on."""

    number: int
    proto: str
    bindings: tuple[tuple[str, str], ...] = ()  # (HostIp, HostPort)


@dataclass(frozen=True)
class Container:
    """What the provider reads from one ``GET /containers/{id}/json``."""

    id: str
    name: str  # without Docker's leading "/"
    labels: Mapping[str, str] = field(default_factory=dict)
    state: str = "running"  # created, running, paused, restarting, removing, exited, dead
    health: str = ""  # "" (no health check), starting, healthy, unhealthy
    network_mode: str = ""  # host, bridge, none, default, container:<id>, or a network name
    networks: tuple[tuple[str, str], ...] = ()  # (network name, address), sorted by name
    ports: tuple[Port, ...] = ()

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def service_name(self) -> str:
        """Traefik's ``getServiceName``: Compose ``service_project`` or the container name, normalized."""
        service, project = self.labels.get(COMPOSE_SERVICE, ""), self.labels.get(COMPOSE_PROJECT, "")
        return normalize(f"{service}_{project}" if service and project else self.name)

    @property
    def key(self) -> str:
        return f"{self.service_name}-{self.id}"


def parse_container(doc: Mapping[str, Any]) -> Container:
    """A :class:`Container` from an inspect document (missing parts are empty, never errors)."""
    state = doc.get("State") or {}
    config = doc.get("Config") or {}
    host_config = doc.get("HostConfig") or {}
    settings = doc.get("NetworkSettings") or {}
    networks = []
    for name, net in sorted((settings.get("Networks") or {}).items()):
        net = net or {}
        networks.append((name, net.get("IPAddress") or net.get("GlobalIPv6Address") or ""))
    ports = []
    for spec, bindings in (settings.get("Ports") or {}).items():
        number, _, proto = str(spec).partition("/")
        if not number.isdigit():
            continue
        pairs = tuple((str(b.get("HostIp") or ""), str(b.get("HostPort") or "")) for b in (bindings or []))
        ports.append(Port(int(number), proto or "tcp", pairs))
    health = (state.get("Health") or {}).get("Status") or ""
    return Container(
        id=str(doc.get("Id") or ""),
        name=str(doc.get("Name") or "").lstrip("/"),
        labels=dict(config.get("Labels") or {}),
        state=str(state.get("Status") or ("running" if state.get("Running") else "")),
        health=str(health),
        network_mode=str(host_config.get("NetworkMode") or ""),
        networks=tuple(networks),
        ports=tuple(sorted(ports, key=lambda p: (p.number, p.proto))),
    )


# Container events after which the routing may differ (exec_*, attach, resize, top... do not).
CONTAINER_ACTIONS = frozenset({
    "start", "restart", "die", "stop", "kill", "pause", "unpause", "rename", "destroy", "update", "oom",
})


def relevant_event(event: Mapping[str, Any]) -> str | None:
    """The id of the container an Engine event concerns, when it may change the routing."""
    kind = event.get("Type") or "container"  # API < 1.22 events carry no Type
    action = str(event.get("Action") or event.get("status") or "")
    actor = event.get("Actor") or {}
    if kind == "network":
        if action in ("connect", "disconnect"):
            container = (actor.get("Attributes") or {}).get("container")
            return str(container) if container else None
        return None
    if kind != "container":
        return None
    if action in CONTAINER_ACTIONS or action.startswith("health_status"):
        cid = actor.get("ID") or event.get("id")
        return str(cid) if cid else None
    return None


@dataclass(frozen=True)
class DockerSettings:
    """The ``providers.docker`` options the translation needs."""

    exposed_by_default: bool = True
    network: str = ""
    use_bind_port_ip: bool = False
    constraints: str = ""
    allow_empty_services: bool = False
    default_rule: str = DEFAULT_RULE
    host_ip: str = "127.0.0.1"  # host.docker.internal, for containers on the host network


@dataclass(frozen=True)
class ExtraConf:
    """The provider's own labels: ``traefik.enable`` and ``traefik.docker.*``."""

    enable: bool
    network: str
    allow_non_running: bool = False


def extra_conf(container: Container, settings: DockerSettings) -> ExtraConf:
    """Read ``traefik.enable`` and ``traefik.docker.{network,lbswarm,allownonrunning}``.

    Raises :class:`LabelError` for an unknown ``traefik.docker.*`` key or a bad boolean (Traefik
    skips such a container).
    """
    enable, network, allow = settings.exposed_by_default, settings.network, False
    for key, value in container.labels.items():
        lowered = key.lower()
        if lowered == "traefik.enable":
            enable = parse_bool(value, key)
        elif lowered.startswith("traefik.docker."):
            option = _DOCKER_LABELS.get(lowered[len("traefik.docker."):])
            if option is None:
                raise LabelError(f"{key}: unknown Docker option (use traefik.docker.network or "
                                 "traefik.docker.allownonrunning)")
            if option == "network":
                network = value
            elif option == "allownonrunning":
                allow = parse_bool(value, key)
            else:
                parse_bool(value, key)  # lbswarm: Swarm only, checked and ignored
    return ExtraConf(enable, network, allow)


class DockerTranslator:
    """Compiled settings (template, constraints) applied to container lists."""

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings
        self.rule = compile_template(settings.default_rule)  # TemplateError: bad defaultRule
        self.constraints = compile_constraints(settings.constraints, "labels")  # ConstraintError

    def build(self, containers: Sequence[Container]) -> ProviderSnapshot:
        by_id = {c.id: c for c in containers}
        results: list[tuple[str, Built]] = []
        for container in containers:
            built = self.container(container, by_id)
            if built is not None:
                results.append((container.key, built))
        return assemble(results, "container")

    def container(self, container: Container, by_id: Mapping[str, Container]) -> Built | None:
        """The container's partial configuration; None when it is filtered out."""
        try:
            extra = extra_conf(container, self.settings)
        except LabelError as exc:
            return Built(problems=[str(exc)])
        if not extra.enable:
            return None
        if not self.constraints(container.labels):
            log.debug("container %s pruned by constraints", container.name)
            return None
        if not container.running and not extra.allow_non_running:
            return None
        healthy = container.health in ("", "healthy")
        if not healthy and not self.settings.allow_empty_services:
            log.debug("container %s is %s: filtered out", container.name, container.health)
            return None

        def endpoint(port_label: str) -> tuple[str, str]:
            return self.endpoint(container, extra, port_label, by_id)

        instance = Instance(
            key=container.key,
            name=container.service_name,
            labels=container.labels,
            template_data={"Name": container.service_name, "ContainerName": container.name,
                           "Labels": dict(container.labels)},
            endpoint=endpoint,
            add_servers=healthy and container.running,
        )
        return build_instance(instance, self.rule)

    def endpoint(self, container: Container, extra: ExtraConf, port_label: str,
                 by_id: Mapping[str, Container]) -> tuple[str, str]:
        """Traefik's ``getIPPort``."""
        if self.settings.use_bind_port_ip:
            binding = _binding(container, port_label)
            if binding is None:
                log.info("no port binding for container %s: using its internal IP/port", container.name)
            elif binding[0] in ("", "0.0.0.0"):
                log.info("binding of container %s is on %r: using its internal IP/port",
                         container.name, binding[0])
            else:
                return binding
        ip = self.ip_address(container, extra.network, by_id, depth=0)
        if not ip:
            raise LabelError(f"unable to find the IP address for the container {container.name!r}: "
                             "the server is ignored")
        return ip, _port(container, port_label)

    def ip_address(self, container: Container, network: str, by_id: Mapping[str, Container],
                   depth: int) -> str:
        """Traefik's ``getIPAddress`` (``network`` is the label's or the provider's)."""
        networks = dict(container.networks)
        if network:
            if network in networks:
                return networks[network]
            log.warning("could not find network %r for container %s (missing the Compose project "
                        "prefix?): using the first available network", network, container.name)
        mode = container.network_mode
        if mode == "host":
            return self.settings.host_ip
        if mode.startswith("container:") and depth < 5:
            target = _find(by_id, mode.partition(":")[2])
            if target is None:
                log.warning("container %s shares the network of %s, which is unknown", container.name, mode)
                return ""
            try:
                target_network = extra_conf(target, self.settings).network
            except LabelError:
                return ""
            if not target_network:
                target_network = network
            return self.ip_address(target, target_network, by_id, depth + 1)
        for _name, address in container.networks:
            return address
        return ""


def _find(by_id: Mapping[str, Container], ref: str) -> Container | None:
    if ref in by_id:
        return by_id[ref]
    for cid, candidate in by_id.items():
        if cid.startswith(ref) or candidate.name == ref.lstrip("/"):
            return candidate
    return None


def _port(container: Container, port_label: str) -> str:
    """Traefik's ``getPort``: the label, else the lowest exposed port."""
    if port_label:
        return port_label
    return str(min(p.number for p in container.ports)) if container.ports else ""


def _binding(container: Container, port_label: str) -> tuple[str, str] | None:
    wanted = _port(container, port_label)
    for port in container.ports:
        if str(port.number) == wanted and port.proto.lower() in ("tcp", "udp") and port.bindings:
            return port.bindings[0]
    return None

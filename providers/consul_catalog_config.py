"""Consul Catalog provider, pure half: catalog service instances and their tags → one snapshot.

Follows Traefik v3's Consul Catalog provider:

* tags ``<prefix>.<path>=<value>`` are labels ``traefik.<path>`` (the ``prefix`` option, default
  ``traefik``); the routing labels are then those of :mod:`providers.labels`;
* which services: ``<prefix>.enable=true`` is needed when ``exposedByDefault`` is false,
  ``<prefix>.enable=false`` hides a service, and the ``constraints`` expression (``Tag``,
  ``TagRegex``) filters on tags;
* health: an instance's status is the aggregate of its node and service checks (maintenance >
  critical > warning > passing); only statuses listed in ``strictChecks`` (default passing and
  warning) take traffic;
* names: the default router and service are named after the Consul service (normalized), or
  ``<name>-<hash of the sorted tags>`` with ``traefik.consulcatalog.canary=true``; ``defaultRule``
  sees ``.Name`` (the Consul name, as registered) and ``.Labels``; the server is the service
  address (else the node's) and port, the port label overriding the port.

Consul Connect (``connectAware``) needs the Connect CA and leaf certificates: not supported, so
Connect-enabled instances are skipped as Traefik does when ``connectAware`` is off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from providers.constraints import compile_constraints
from providers.gotemplate import compile_template, normalize
from providers.labels import Built, Instance, LabelError, assemble, build_instance, parse_bool
from traefikpy.config.static_providers import DEFAULT_RULE
from traefikpy.provider import ProviderSnapshot

log = logging.getLogger("traefikpy.providers.consulcatalog")

__all__ = [
    "CatalogSettings", "CatalogTranslator", "Item", "aggregated_status", "fnv1_64", "items_from_health",
    "service_names", "tags_to_labels",
]

HEALTH_STATUSES = ("passing", "warning", "critical", "maintenance")


def tags_to_labels(tags: Iterable[str], prefix: str = "traefik") -> dict[str, str]:
    """``<prefix>.a.b=v`` → ``{"traefik.a.b": "v"}`` (tags without ``=`` are not labels)."""
    labels: dict[str, str] = {}
    for tag in tags:
        key, eq, value = tag.partition("=")
        if eq and key.startswith(prefix):
            labels["traefik" + key[len(prefix):]] = value
    return labels


def aggregated_status(checks: Iterable[Mapping[str, Any]]) -> str:
    """Consul's ``HealthChecks.AggregatedStatus``: maintenance > critical > warning > passing;
    an unknown status gives ``""``; no checks at all is passing."""
    seen: set[str] = set()
    for check in checks:
        cid = str(check.get("CheckID") or "")
        if cid == "_node_maintenance" or cid.startswith("_service_maintenance:"):
            seen.add("maintenance")
            continue
        status = str(check.get("Status") or "")
        if status not in ("passing", "warning", "critical"):
            return ""
        seen.add(status)
    for status in ("maintenance", "critical", "warning"):
        if status in seen:
            return status
    return "passing"


def fnv1_64(data: bytes) -> int:
    """Go's ``hash/fnv.New64`` (FNV-1, not 1a)."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        value ^= byte
    return value


@dataclass(frozen=True)
class Item:
    """One instance of a catalog service (an entry of ``/v1/health/service/<name>``)."""

    id: str
    name: str
    node: str
    address: str
    port: str
    status: str
    tags: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace: str = ""
    datacenter: str = ""


def items_from_health(entries: Sequence[Mapping[str, Any]], prefix: str = "traefik") -> list[Item]:
    """Items from a health service answer (missing parts are empty, never errors)."""
    items = []
    for entry in entries:
        node = entry.get("Node") or {}
        service = entry.get("Service") or {}
        tags = tuple(str(t) for t in service.get("Tags") or ())
        port = service.get("Port")
        items.append(Item(
            id=str(service.get("ID") or ""),
            name=str(service.get("Service") or ""),
            node=str(node.get("Node") or ""),
            address=str(service.get("Address") or node.get("Address") or ""),
            port=str(port) if port else "",
            status=aggregated_status(entry.get("Checks") or ()),
            tags=tags,
            labels=tags_to_labels(tags, prefix),
            namespace=str(service.get("Namespace") or ""),
            datacenter=str(node.get("Datacenter") or ""),
        ))
    return items


@dataclass(frozen=True)
class CatalogSettings:
    """The ``providers.consulCatalog`` options the translation needs."""

    prefix: str = "traefik"
    exposed_by_default: bool = True
    constraints: str = ""
    default_rule: str = DEFAULT_RULE
    strict_checks: tuple[str, ...] = ("passing", "warning")
    connect_by_default: bool = False


def service_names(catalog: Mapping[str, Sequence[str]], settings: CatalogSettings) -> list[str]:
    """The catalog services worth reading (``/v1/catalog/services`` maps names to all their tags)."""
    matcher = compile_constraints(settings.constraints, "tags")
    # Traefik compares these two tags case-insensitively
    enabled, disabled = f"{settings.prefix}.enable=true".lower(), f"{settings.prefix}.enable=false".lower()
    out = []
    for name in sorted(catalog):
        tags = [str(t) for t in catalog[name] or ()]
        lowered = {t.lower() for t in tags}
        if not settings.exposed_by_default and enabled not in lowered:
            continue
        if disabled in lowered:
            continue
        if matcher(tags):
            out.append(name)
    return out


@dataclass(frozen=True)
class _Extra:
    enable: bool
    connect: bool
    canary: bool


class CatalogTranslator:
    """Compiled settings (template, constraints) applied to catalog items."""

    def __init__(self, settings: CatalogSettings) -> None:
        unknown = [s for s in settings.strict_checks if s not in HEALTH_STATUSES]
        if unknown:
            raise ValueError(f"strictChecks: unknown health status {unknown} (use {', '.join(HEALTH_STATUSES)})")
        self.settings = settings
        self.rule = compile_template(settings.default_rule)  # TemplateError: bad defaultRule
        self.constraints = compile_constraints(settings.constraints, "tags")  # ConstraintError

    def extra(self, item: Item) -> _Extra:
        """``traefik.enable`` and ``traefik.consulcatalog.{connect,canary}``; LabelError otherwise."""
        enable, connect, canary = self.settings.exposed_by_default, self.settings.connect_by_default, False
        for key, value in item.labels.items():
            lowered = key.lower()
            if lowered == "traefik.enable":
                enable = parse_bool(value, key)
            elif lowered == "traefik.consulcatalog.connect":
                connect = parse_bool(value, key)
            elif lowered == "traefik.consulcatalog.canary":
                canary = parse_bool(value, key)
            elif lowered.startswith("traefik.consulcatalog."):
                raise LabelError(f"{key}: unknown Consul Catalog option (use connect or canary)")
        return _Extra(enable, connect, canary)

    def name(self, item: Item, canary: bool) -> str:
        """Traefik's ``getName``: canary instances get a service of their own (hash of the tags)."""
        if not canary:
            return normalize(item.name)
        digest = fnv1_64("".join(sorted(item.tags)).encode())
        return normalize(f"{item.name}-{digest}")

    def build(self, items: Sequence[Item]) -> ProviderSnapshot:
        results: list[tuple[str, Built]] = []
        for item in items:
            key = normalize(f"{item.node}-{item.name}-{item.id}")
            built = self.item(item)
            if built is not None:
                results.append((key, built))
        return assemble(results, "service")

    def item(self, item: Item) -> Built | None:
        try:
            extra = self.extra(item)
        except LabelError as exc:
            return Built(problems=[str(exc)])
        if not extra.enable:
            return None
        if extra.connect:
            log.debug("%s: Consul Connect is not supported: instance skipped", item.id)
            return None
        if not self.constraints(list(item.tags)):
            return None
        if item.status not in self.settings.strict_checks:
            log.debug("%s: status %r not in strictChecks %s", item.id, item.status, self.settings.strict_checks)
            return None

        def endpoint(port_label: str) -> tuple[str, str]:
            if not item.address:
                raise LabelError("address is missing")
            return item.address, port_label or item.port

        instance = Instance(
            key=normalize(f"{item.node}-{item.name}-{item.id}"),
            name=self.name(item, extra.canary),
            labels=item.labels,
            template_data={"Name": item.name, "Labels": dict(item.labels)},
            endpoint=endpoint,
        )
        return build_instance(instance, self.rule)

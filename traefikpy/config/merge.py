"""Pure merging of dynamic configurations.

Two merges live here:

* :func:`merge_sources` — inside one provider, several sources (files of a directory, containers,
  ingresses) each give a partial configuration.  Identical definitions of one name merge (replicas);
  load balancers that differ only by their servers merge their servers (container replicas);
  anything else is a conflict: the element is left out and reported, as Traefik does.
* :func:`merge_providers` — across providers: every element name gets its ``@provider`` suffix.
  References (``service: api``) are *not* rewritten: like Traefik, the compiler qualifies a
  reference with the provider of the element that holds it unless it already has an ``@``.

TLS follows Traefik's aggregator: certificates are concatenated; options and stores are qualified
except the ``default`` ones, and ``default`` defined by several providers is an error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from traefikpy.config.dynamic import DynamicConfig
from traefikpy.provider import ProviderSnapshot

_SECTIONS = ("http", "tcp", "udp")


@dataclass(frozen=True)
class Merged:
    """One published configuration: qualified names, plus the problems found while merging.

    ``errors`` keys are ``"<section>.<qualified name>"`` (``"http.routers.web@file"``).
    """

    config: DynamicConfig
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    providers: tuple[str, ...] = ()


def qualify(name: str, provider: str) -> str:
    """``name@provider`` unless ``name`` is already qualified."""
    return name if "@" in name else f"{name}@{provider}"


def provider_of(qualified: str) -> str:
    return qualified.rpartition("@")[2]


def _is_model_map(annotation: Any) -> bool:
    """True for ``dict[str, SomeModel]`` (optionally inside ``| None``)."""
    if get_origin(annotation) is dict:
        args = get_args(annotation)
        return len(args) == 2 and isinstance(args[1], type) and issubclass(args[1], BaseModel)
    return any(_is_model_map(arg) for arg in get_args(annotation) if arg is not type(None))


def named_sections(config: DynamicConfig) -> Iterator[tuple[str, str, BaseModel, dict[str, Any]]]:
    """Yield ``(section, key_alias, section_model, mapping)`` for every named collection of
    ``http``/``tcp``/``udp`` (routers, services, middlewares, serversTransports...)."""
    for section in _SECTIONS:
        part = getattr(config, section, None)
        if part is None:
            continue
        for fname, finfo in type(part).model_fields.items():
            if _is_model_map(finfo.annotation):
                yield section, f"{finfo.alias or fname}", part, getattr(part, fname) or {}


def _field_name(model: BaseModel, alias: str) -> str:
    for fname, finfo in type(model).model_fields.items():
        if (finfo.alias or fname) == alias:
            return fname
    raise KeyError(alias)


def _rebuild(config: DynamicConfig, maps: dict[tuple[str, str], dict[str, Any]],
             tls: BaseModel | None) -> DynamicConfig:
    update: dict[str, Any] = {}
    for section in _SECTIONS:
        part = getattr(config, section, None)
        if part is None:
            continue
        changes = {_field_name(part, alias): value for (sec, alias), value in maps.items() if sec == section}
        if changes:
            update[section] = part.model_copy(update=changes)
    if tls is not None:
        update["tls"] = tls
    return config.model_copy(update=update)


def merge_providers(snapshots: Mapping[str, ProviderSnapshot]) -> Merged:
    """Merge the newest snapshot of each provider into one configuration with qualified names."""
    maps: dict[tuple[str, str], dict[str, Any]] = {}
    errors: dict[str, tuple[str, ...]] = {}
    certificates: list[Any] = []
    options: dict[str, Any] = {}
    stores: dict[str, Any] = {}
    default_option_owners: list[str] = []
    default_store_owners: list[str] = []
    base = DynamicConfig()
    for provider in sorted(snapshots):
        snap = snapshots[provider]
        for section, alias, _part, mapping in named_sections(snap.config):
            target = maps.setdefault((section, alias), {})
            for name, element in mapping.items():
                target[qualify(name, provider)] = element
        for key, messages in snap.errors.items():
            path, _, name = key.rpartition(".")
            errors[f"{path}.{qualify(name, provider)}"] = tuple(messages)
        tls = snap.config.tls
        if tls is None:
            continue
        certificates.extend(c for c in (tls.certificates or []) if c not in certificates)
        for name, opt in (tls.options or {}).items():
            if name == "default":
                default_option_owners.append(provider)
                options["default"] = opt
            else:
                options[qualify(name, provider)] = opt
        for name, store in (tls.stores or {}).items():
            if name == "default":
                default_store_owners.append(provider)
                stores["default"] = store
            else:
                stores[qualify(name, provider)] = store
    if len(default_option_owners) > 1:
        options.pop("default")
        errors["tls.options.default"] = (
            "TLS options 'default' defined by several providers "
            f"({', '.join(default_option_owners)}); the built-in default is used",)
    if len(default_store_owners) > 1:
        stores.pop("default")
        errors["tls.stores.default"] = (
            f"TLS store 'default' defined by several providers ({', '.join(default_store_owners)})",)
    for section, alias, _part, _mapping in named_sections(base):
        maps.setdefault((section, alias), {})
    tls_model = base.tls.model_copy(
        update={"certificates": certificates, "options": options, "stores": stores})
    merged = _rebuild(base, {k: dict(sorted(v.items())) for k, v in maps.items()}, tls_model)
    return Merged(merged, errors, tuple(sorted(snapshots)))


def _merge_replicas(a: Any, b: Any) -> Any | None:
    """Two services equal but for their load balancer's servers → one with both server lists."""
    lb_a, lb_b = getattr(a, "load_balancer", None), getattr(b, "load_balancer", None)
    if lb_a is None or lb_b is None:
        return None
    if lb_a.model_copy(update={"servers": []}) != lb_b.model_copy(update={"servers": []}):
        return None
    if a.model_copy(update={"load_balancer": None}) != b.model_copy(update={"load_balancer": None}):
        return None
    servers = list(lb_a.servers or [])
    servers.extend(s for s in (lb_b.servers or []) if s not in servers)
    return a.model_copy(update={"load_balancer": lb_a.model_copy(update={"servers": servers})})


def merge_sources(parts: Sequence[tuple[str, DynamicConfig]]) -> ProviderSnapshot:
    """Merge the partial configurations of one provider's sources (``(source, config)`` pairs).

    Same name and equal definition: kept once.  Services differing only in load-balancer servers:
    servers are merged.  Otherwise the element is removed and an error names the sources.
    """
    maps: dict[tuple[str, str], dict[str, Any]] = {}
    origins: dict[tuple[str, str, str], list[str]] = {}
    conflicts: set[tuple[str, str, str]] = set()
    certificates: list[Any] = []
    options: dict[str, Any] = {}
    stores: dict[str, Any] = {}
    base = DynamicConfig()
    for source, config in parts:
        for section, alias, _part, mapping in named_sections(config):
            target = maps.setdefault((section, alias), {})
            for name, element in mapping.items():
                key = (section, alias, name)
                origins.setdefault(key, []).append(source)
                if name not in target or target[name] == element:
                    target[name] = element
                    continue
                replica = _merge_replicas(target[name], element) if alias == "services" else None
                if replica is not None:
                    target[name] = replica
                else:
                    conflicts.add(key)
        tls = config.tls
        if tls is not None:
            certificates.extend(c for c in (tls.certificates or []) if c not in certificates)
            options.update(tls.options or {})
            stores.update(tls.stores or {})
    errors: dict[str, tuple[str, ...]] = {}
    for section, alias, name in sorted(conflicts):
        maps[(section, alias)].pop(name, None)
        kind = alias[:-1] if alias.endswith("s") else alias
        errors[f"{section}.{alias}.{name}"] = (
            f"{kind} {name!r} defined multiple times with different configurations in "
            f"{', '.join(sorted(set(origins[(section, alias, name)])))}",)
    for section, alias, _part, _mapping in named_sections(base):
        maps.setdefault((section, alias), {})
    tls_model = base.tls.model_copy(
        update={"certificates": certificates, "options": options, "stores": stores})
    return ProviderSnapshot(_rebuild(base, maps, tls_model), errors)

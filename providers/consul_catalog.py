"""Consul Catalog provider, I/O half (``providers.consulCatalog``), with ``py-consul``.

A refresh reads ``/v1/catalog/services`` (names and tags), keeps the services the translation
would route (:func:`providers.consul_catalog_config.service_names`), reads
``/v1/health/service/<name>`` for each (instances, addresses, tags and checks; with
``exposedByDefault=false`` only instances tagged ``<prefix>.enable=true``) and translates
(:class:`~providers.consul_catalog_config.CatalogTranslator`).  A snapshot is yielded when it
differs from the last one.

Refreshes happen every ``refreshInterval`` and, with ``watch``, as soon as Consul reports a change:
two blocking queries (``?index=N&wait=...``, answered when ``X-Consul-Index`` moves past ``N``)
follow the catalog (``/v1/catalog/services``) and every health check (``/v1/health/state/any``),
like Traefik's watch plans.  When Consul is unreachable ``watch()`` raises: the aggregator keeps
the last good configuration and restarts it with backoff.  ``namespaces`` (Consul Enterprise)
gives one provider per namespace, named ``consulcatalog-<namespace>`` (:func:`all_from_static`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import consul.aio
from consul.callback import CB

from providers.consul import consul_client
from providers.consul_catalog_config import (
    CatalogSettings,
    CatalogTranslator,
    items_from_health,
    service_names,
)
from providers.kv import split_endpoint
from traefikpy.config.static_providers import ClientTLS, ConsulHTTPAuth
from traefikpy.config.static_providers import ConsulCatalogProvider as CatalogStatic
from traefikpy.provider import ProviderSnapshot

log = logging.getLogger("traefikpy.providers.consulcatalog")

__all__ = ["ConsulCatalogProvider", "all_from_static", "from_static"]

_CONCURRENCY = 8


class ConsulCatalogProvider:
    """Routing from Consul catalog services and their ``traefik.*`` tags."""

    def __init__(
        self,
        settings: CatalogSettings | None = None,
        *,
        address: str = "127.0.0.1:8500",
        scheme: str = "",
        datacenter: str = "",
        token: str = "",
        tls: ClientTLS | None = None,
        http_auth: ConsulHTTPAuth | None = None,
        endpoint_wait_time: float = 0.0,
        refresh_interval: float = 15.0,
        watch: bool = False,
        require_consistent: bool = False,
        stale: bool = False,
        cache: bool = False,
        namespace: str = "",
        name: str | None = None,
        throttle: float | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.settings = settings or CatalogSettings()
        self.translator = CatalogTranslator(self.settings)  # bad defaultRule/constraints fail here
        self.name = name or (f"consulcatalog-{namespace}" if namespace else "consulcatalog")
        self.throttle = throttle
        default_scheme, self.host, self.port = split_endpoint(address or "127.0.0.1:8500", 8500, tls is not None)
        self.scheme = scheme or default_scheme
        self.datacenter = datacenter
        self.token = token
        self.tls = tls
        self.http_auth = http_auth
        self.wait = endpoint_wait_time or 300.0  # Consul's default blocking wait is 5 minutes
        self.refresh_interval = refresh_interval
        self.watch_changes = watch
        self.consistency = "consistent" if require_consistent else "stale" if stale else ""
        self.cache = cache
        self.namespace = namespace
        self.timeout = timeout
        self.refreshes = 0  # done so far (tests and the bench read it)

    def client(self) -> consul.aio.Consul:
        """A py-consul client (it must be built inside the running loop)."""
        return consul_client(self.host, self.port, self.scheme, self.tls, self.token)

    async def _get(self, client: consul.aio.Consul, path: str, params: list[tuple[str, str]] | None = None,
                   index: str | None = None) -> tuple[str, Any]:
        """``(X-Consul-Index, JSON)`` of a read; blocking when ``index`` is given."""
        query = list(params or [])
        if self.datacenter:
            query.append(("dc", self.datacenter))
        if self.namespace:
            query.append(("ns", self.namespace))
        if self.consistency:
            query.append((self.consistency, "1"))
        if self.cache:
            query.append(("cached", "1"))
        timeout = self.timeout
        if index is not None:
            query += [("index", index), ("wait", f"{max(int(self.wait), 1)}s")]
            timeout += self.wait * 17 / 16  # Consul adds up to wait/16 of jitter
        headers = client.prepare_headers(self.token or None)
        if self.http_auth is not None and self.http_auth.username:
            raw = f"{self.http_auth.username}:{self.http_auth.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        result: tuple[str, Any] = await client.http.get(CB.json(index=True), path, params=query, headers=headers,
                                                        connections_timeout=timeout)
        return result

    async def refresh(self, client: consul.aio.Consul) -> ProviderSnapshot:
        """Read the catalog and the health of the routed services; translate."""
        _index, catalog = await self._get(client, "/v1/catalog/services")
        names = service_names(catalog or {}, self.settings)
        tag_filter = [] if self.settings.exposed_by_default else [("tag", f"{self.settings.prefix}.enable=true")]
        limit = asyncio.Semaphore(_CONCURRENCY)

        async def instances(name: str) -> list[Any]:
            async with limit:
                _i, entries = await self._get(client, f"/v1/health/service/{name}", tag_filter)
            return items_from_health(entries or [], self.settings.prefix)

        items = [item for group in await asyncio.gather(*(instances(n) for n in names)) for item in group]
        self.refreshes += 1
        return self.translator.build(items)

    async def _follow(self, client: consul.aio.Consul, path: str, changed: asyncio.Event,
                      failures: list[BaseException], ready: asyncio.Event) -> None:
        """A blocking-query loop on ``path``: set ``changed`` whenever its index moves.  ``ready``
        is set once the starting index is known (or the read failed)."""
        try:
            try:
                index, _ = await self._get(client, path)
            finally:
                ready.set()
            while True:
                new, _ = await self._get(client, path, index=index)
                if new != index:
                    index = new
                    changed.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the refresh loop raises it: restart with backoff
            failures.append(exc)
            changed.set()

    async def watch(self) -> AsyncIterator[ProviderSnapshot]:
        client = self.client()
        followers: list[asyncio.Task[None]] = []
        try:
            changed = asyncio.Event()
            failures: list[BaseException] = []
            if self.watch_changes:
                # The followers read their starting index before the first refresh: a change
                # landing in between is then seen (it only costs one extra refresh).
                loop = asyncio.get_running_loop()
                ready = [asyncio.Event(), asyncio.Event()]
                for path, event in zip(("/v1/catalog/services", "/v1/health/state/any"), ready, strict=True):
                    followers.append(loop.create_task(self._follow(client, path, changed, failures, event),
                                                      name=f"{self.name}:follow:{path}"))
                await asyncio.gather(*(event.wait() for event in ready))
                if failures:
                    raise ConnectionError(f"Consul at {self.host}:{self.port}: {failures[0]!r}")
            last = await self.refresh(client)
            self._log_errors(last, {})
            yield last
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self.refresh_interval)
                changed.clear()
                if failures:
                    raise ConnectionError(f"Consul at {self.host}:{self.port}: {failures[0]!r}")
                snapshot = await self.refresh(client)
                if snapshot != last:
                    self._log_errors(snapshot, last.errors)
                    last = snapshot
                    yield snapshot
        finally:
            for task in followers:
                task.cancel()
            await asyncio.gather(*followers, return_exceptions=True)
            with contextlib.suppress(Exception):
                await client.close()

    def _log_errors(self, snapshot: ProviderSnapshot, before: Any) -> None:
        for key, messages in snapshot.errors.items():
            if before.get(key) != messages:
                log.error("%s: %s: %s", self.name, key, "; ".join(messages))

    def __repr__(self) -> str:
        return f"<ConsulCatalogProvider {self.name} {self.scheme}://{self.host}:{self.port} watch={self.watch_changes}>"


def all_from_static(cfg: CatalogStatic) -> list[ConsulCatalogProvider]:
    """The providers for ``providers.consulCatalog``: one, or one per namespace."""
    if cfg.connect_aware:
        log.warning("providers.consulCatalog.connectAware is not supported: Connect services are skipped")
    settings = CatalogSettings(
        prefix=cfg.prefix,
        exposed_by_default=cfg.exposed_by_default,
        constraints=cfg.constraints,
        default_rule=cfg.default_rule,
        strict_checks=tuple(cfg.strict_checks),
        connect_by_default=cfg.connect_by_default,
    )
    endpoint = cfg.endpoint
    common: dict[str, Any] = {
        "address": endpoint.address, "scheme": endpoint.scheme, "datacenter": endpoint.datacenter,
        "token": endpoint.token, "tls": endpoint.tls, "http_auth": endpoint.http_auth,
        "endpoint_wait_time": endpoint.endpoint_wait_time, "refresh_interval": cfg.refresh_interval,
        "watch": cfg.watch, "require_consistent": cfg.require_consistent, "stale": cfg.stale, "cache": cfg.cache,
    }
    if not cfg.namespaces:
        return [ConsulCatalogProvider(settings, **common)]
    return [ConsulCatalogProvider(settings, namespace=ns, **common) for ns in cfg.namespaces]


def from_static(cfg: CatalogStatic) -> ConsulCatalogProvider:
    """The provider for ``providers.consulCatalog`` when it names at most one namespace."""
    providers = all_from_static(cfg)
    if len(providers) != 1:
        raise ValueError("providers.consulCatalog names several namespaces: use all_from_static()")
    return providers[0]

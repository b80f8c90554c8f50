"""Consul KV provider (``providers.consul``): dynamic configuration from the keys under ``rootKey``.

I/O only, with ``py-consul`` (``consul.aio``, built inside the running loop).  A session lists
``<rootKey>/`` recursively with blocking queries: each answer carries ``X-Consul-Index``, the
next request asks to wait until the index moves past it (``?index=N&wait=...``), so a change is
seen as soon as Consul commits it.  Every answer is the full state: no deltas to keep.  As
Consul recommends, an index that goes backwards (a restored or rebuilt cluster) restarts the
watch from 0.  When Consul is unreachable, the last good configuration keeps serving and the
next session (after a backoff, on the next endpoint) lists everything again.

Like Traefik, ``namespaces`` (Consul Enterprise) gives one provider per namespace, named
``consul-<namespace>`` (see :func:`all_from_static`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any

import consul.aio

from providers.kv import Backoff, check_tls, normalize_root, split_endpoint, tls_files, watch_store
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.static_providers import ClientTLS
from traefikpy.config.static_providers import ConsulProvider as ConsulSettings

log = logging.getLogger("traefikpy.providers.consul")


class _Namespaced:
    """The client's HTTP layer with ``?ns=`` added to every request (py-consul's KV API has no
    namespace parameter; Consul reads it from the query string)."""

    def __init__(self, http: Any, namespace: str) -> None:
        self._http = http
        self._namespace = namespace

    def get(self, callback: Any, path: str, params: list[tuple[str, Any]] | None = None, **kwargs: Any) -> Any:
        return self._http.get(callback, path, params=[*(params or []), ("ns", self._namespace)], **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http, name)


def consul_client(host: str, port: int, scheme: str, tls: ClientTLS | None, token: str | None) -> consul.aio.Consul:
    """A py-consul asyncio client (build it inside the running loop), with ``tls`` (ca, cert, key,
    insecureSkipVerify: paths or inline PEM) applied; shared by the KV and Catalog providers."""
    verify: bool | str = True
    cert: tuple[str, str] | None = None
    with contextlib.ExitStack() as stack:
        if tls is not None:
            ca, cert_file, key_file = stack.enter_context(tls_files(tls))
            verify = False if tls.insecure_skip_verify else (ca or True)
            cert = (cert_file, key_file) if cert_file and key_file else None
        # the client reads the files while it is built: temporary copies can go afterwards
        return consul.aio.Consul(host=host, port=port, scheme=scheme, verify=verify, cert=cert,
                                 token=token or None)


class ConsulProvider:
    """``providers.consul``: blocking queries on ``<rootKey>/`` (recurse)."""

    def __init__(
        self,
        endpoints: Sequence[str] = ("127.0.0.1:8500",),
        root_key: str = "traefik",
        token: str = "",
        namespace: str = "",
        tls: ClientTLS | None = None,
        name: str | None = None,
        throttle: float | None = None,
        wait: float = 30.0,
        timeout: float = 3.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("providers.consul: at least one endpoint is needed")
        if namespace == "*":
            raise ValueError("providers.consul: the wildcard namespace is not supported")
        if tls is not None:
            check_tls(tls)
        self.name = name or (f"consul-{namespace}" if namespace else "consul")
        self.throttle = throttle
        self.endpoints = [split_endpoint(e, 8500, tls is not None) for e in endpoints]
        self.root_key = normalize_root(root_key)
        self.token = token
        self.namespace = namespace
        self.tls = tls
        self.wait = wait
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self._attempt = 0

    def client(self) -> consul.aio.Consul:
        """A client of the next endpoint (endpoints are tried in turn, one per session)."""
        scheme, host, port = self.endpoints[self._attempt % len(self.endpoints)]
        self._attempt += 1
        client = consul_client(host, port, scheme, self.tls, self.token)
        if self.namespace:
            client.http = _Namespaced(client.http, self.namespace)
        return client

    async def watch(self) -> AsyncIterator[DynamicConfig]:
        async for config in watch_store(self.name, self.root_key, self._session, self.backoff, log):
            yield config

    async def _session(self) -> AsyncGenerator[dict[str, str], None]:
        client = self.client()
        try:
            index = 0
            wait = f"{max(int(self.wait), 1)}s"
            # Consul adds up to wait/16 of jitter to a blocking query
            blocking_timeout = self.wait * 17 / 16 + self.timeout
            while True:
                raw, items = await client.kv.get(
                    self.root_key + "/", index=index or None, wait=wait if index else None, recurse=True,
                    token=self.token or None, connections_timeout=blocking_timeout if index else self.timeout)
                new = int(raw)
                if index and new == index:
                    continue  # the wait ran out: nothing changed
                # Consul's guidance: an index going backwards means a reset store (read again
                # without waiting); an index below 1 is used as 1
                index = 0 if new < index else max(new, 1)
                yield {str(item["Key"]): _text(item.get("Value")) for item in items or ()}
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    def __repr__(self) -> str:
        return f"<ConsulProvider {self.name} {self.endpoints} root={self.root_key!r}>"


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""  # a folder or a key written without a value
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def all_from_static(cfg: ConsulSettings) -> list[ConsulProvider]:
    """The providers for ``providers.consul``: one, or one per namespace (``consul-<ns>``)."""
    common: dict[str, Any] = {"endpoints": cfg.endpoints, "root_key": cfg.root_key, "token": cfg.token, "tls": cfg.tls}
    if not cfg.namespaces:
        return [ConsulProvider(**common)]
    return [ConsulProvider(namespace=ns, **common) for ns in cfg.namespaces]


def from_static(cfg: ConsulSettings) -> ConsulProvider:
    """The provider for ``providers.consul`` when it names at most one namespace."""
    providers = all_from_static(cfg)
    if len(providers) != 1:
        raise ValueError("providers.consul names several namespaces: use all_from_static()")
    return providers[0]


__all__ = ["ConsulProvider", "all_from_static", "from_static"]

"""Kubernetes Ingress provider, I/O half (``providers.kubernetesIngress``), with kubernetes-asyncio.

One *reflector* task per resource and namespace (Ingress with ``labelSelector``, IngressClass
cluster-wide, Service, EndpointSlice, Secret; every namespace, or each of ``namespaces``) keeps an
in-memory copy of the objects: it lists them, then watches from the list's ``resourceVersion``
with ``allowWatchBookmarks`` (a BOOKMARK only moves the resourceVersion on); when the watch ends
(``timeoutSeconds``) it watches again from the last resourceVersion seen; a ``410 Gone`` (an
``ERROR`` event or an HTTP 410: the version left the server's history) makes it list again; any
other failure (API server unreachable, connection cut) is retried with exponential backoff while
the objects already known are kept.  ``watch()`` therefore never raises on an outage: the last
good configuration stays live, and the first watch after the API server comes back brings the
changes made meanwhile (or a re-list).

After the first list of every reflector, and then after every change (at most once per
``throttleDuration``), the objects are translated (:func:`providers.kubernetes_translate.translate`)
and the snapshot is yielded when it differs from the previous one.  With ``ingressEndpoint`` the
status of each handled Ingress is written (``PUT .../ingresses/<name>/status``) when it differs
from the wanted load-balancer address: ``ip``/``hostname``, or the ``status.loadBalancer`` of
the ``publishedService`` (``namespace/name``).

Client configuration, like Traefik: in a pod (``KUBERNETES_SERVICE_HOST``/``_PORT`` set) the
in-cluster service account (``endpoint`` overrides the address); else ``$KUBECONFIG``; else
``endpoint`` with ``token`` (a value or a file) and ``certAuthFilePath``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from providers.kubernetes_translate import Cluster, Key, Settings, translate
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.static_providers import IngressEndpoint
from traefikpy.config.static_providers import KubernetesIngressProvider as IngressStatic

log = logging.getLogger("traefikpy.providers.kubernetes")

__all__ = ["KubernetesIngressProvider", "from_static"]


class _Gone(Exception):
    """The resourceVersion we watch from is no longer in the server's history (410)."""


class _HTTPError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _Resource:
    plural: str
    namespaced: bool


_RESOURCES = {
    "ingresses": _Resource("ingresses", True),
    "ingressclasses": _Resource("ingressclasses", False),
    "services": _Resource("services", True),
    "endpointslices": _Resource("endpointslices", True),
    "secrets": _Resource("secrets", True),
}
_STORES = {"ingresses": "ingresses", "ingressclasses": "ingress_classes", "services": "services",
           "endpointslices": "endpoint_slices", "secrets": "secrets"}


def _key(obj: dict[str, Any], namespaced: bool) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace", "")) if namespaced else "", str(meta.get("name", "")))


def _read_token(token: str) -> str:
    if token and os.path.isfile(token):
        with open(token, encoding="utf-8") as handle:
            return handle.read().strip()
    return token


class KubernetesIngressProvider:
    """Routing from Kubernetes Ingresses (Traefik's ``kubernetes`` provider name)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        endpoint: str = "",
        token: str = "",
        cert_auth_file_path: str = "",
        namespaces: Sequence[str] = (),
        label_selector: str = "",
        ingress_endpoint: IngressEndpoint | None = None,
        throttle_duration: float = 0.0,
        disable_cluster_scope_resources: bool = False,
        name: str = "kubernetes",
        watch_timeout: int = 300,
        request_timeout: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        service_account_dir: str = "/var/run/secrets/kubernetes.io/serviceaccount",
    ) -> None:
        self.settings = settings or Settings()
        self.name = name
        self.throttle: float | None = None  # the global providersThrottleDuration applies
        self.endpoint = endpoint
        self.token = token
        self.cert_auth_file_path = cert_auth_file_path
        self.namespaces = list(dict.fromkeys(namespaces))
        self.label_selector = label_selector
        self.ingress_endpoint = ingress_endpoint
        self.throttle_duration = throttle_duration
        self.cluster_scope = not (disable_cluster_scope_resources or self.settings.disable_ingress_class_lookup)
        self.watch_timeout = watch_timeout
        self.request_timeout = request_timeout
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.service_account_dir = service_account_dir
        self.cluster = Cluster()
        self._dirty = asyncio.Event()
        # Figures for tests and logs.
        self.lists = 0
        self.relists = 0
        self.watch_errors = 0
        self.status_writes = 0
        self.translations = 0
        self.warnings: list[str] = []
        self._written: dict[Key, tuple[str, Any]] = {}
        self._handled: list[Key] = []
        self._status_dirty = asyncio.Event()

    # -- client ----------------------------------------------------------------------------------
    async def configuration(self) -> k8s.Configuration:
        cfg = k8s.Configuration()
        if os.environ.get("KUBERNETES_SERVICE_HOST") and os.environ.get("KUBERNETES_SERVICE_PORT"):
            log.info("creating in-cluster client%s", f" with endpoint {self.endpoint}" if self.endpoint else "")
            load_incluster: Any = k8s_config.load_incluster_config  # untyped
            load_incluster(client_configuration=cfg, token_filename=self.service_account_dir + "/token",
                           cert_filename=self.service_account_dir + "/ca.crt")
            if self.endpoint:
                cfg.host = self.endpoint
        elif os.environ.get("KUBECONFIG"):
            log.info("creating cluster-external client from KUBECONFIG %s", os.environ["KUBECONFIG"])
            await k8s_config.load_kube_config(config_file=os.environ["KUBECONFIG"], client_configuration=cfg)
        else:
            if not self.endpoint:
                raise ValueError("providers.kubernetesIngress: endpoint is required outside a cluster "
                                 "(no KUBERNETES_SERVICE_HOST, no KUBECONFIG)")
            cfg.host = self.endpoint.rstrip("/")
            token = _read_token(self.token)
            if token:
                cfg.api_key = {"BearerToken": f"Bearer {token}"}
            if self.cert_auth_file_path:
                cfg.ssl_ca_cert = self.cert_auth_file_path
        return cfg

    def _list_call(self, api: k8s.ApiClient, plural: str, namespace: str) -> Callable[..., Awaitable[Any]]:
        core, net, disc = k8s.CoreV1Api(api), k8s.NetworkingV1Api(api), k8s.DiscoveryV1Api(api)
        calls: dict[str, tuple[Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]] | None]] = {
            "services": (core.list_service_for_all_namespaces, core.list_namespaced_service),
            "secrets": (core.list_secret_for_all_namespaces, core.list_namespaced_secret),
            "ingresses": (net.list_ingress_for_all_namespaces, net.list_namespaced_ingress),
            "ingressclasses": (net.list_ingress_class, None),
            "endpointslices": (disc.list_endpoint_slice_for_all_namespaces, disc.list_namespaced_endpoint_slice),
        }
        every, one = calls[plural]
        if namespace and one is not None:
            bound = one

            async def call(**kw: Any) -> Any:
                return await bound(namespace, **kw)
            return call
        return every

    # -- reflectors ------------------------------------------------------------------------------
    def _store(self, plural: str) -> dict[Any, Any]:
        store: dict[Any, Any] = getattr(self.cluster, _STORES[plural])
        return store

    def _store_key(self, plural: str, obj: dict[str, Any]) -> Any:
        key = _key(obj, _RESOURCES[plural].namespaced)
        return key if _RESOURCES[plural].namespaced else key[1]

    def _changed(self) -> None:
        self._dirty.set()

    async def _list(self, api: k8s.ApiClient, plural: str, namespace: str) -> str:
        kwargs: dict[str, Any] = {"_preload_content": False, "_request_timeout": self.request_timeout}
        if plural == "ingresses" and self.label_selector:
            kwargs["label_selector"] = self.label_selector
        resp = await self._list_call(api, plural, namespace)(**kwargs)
        async with resp:
            body = await resp.read()
            if resp.status != 200:
                raise _HTTPError(resp.status, f"list {plural}: HTTP {resp.status}: {body[:200]!r}")
        data = json.loads(body)
        store = self._store(plural)
        for key in [k for k in store if not namespace or (isinstance(k, tuple) and k[0] == namespace)]:
            del store[key]
        for item in data.get("items") or []:
            store[self._store_key(plural, item)] = item
        self.lists += 1
        self._changed()
        return str((data.get("metadata") or {}).get("resourceVersion", ""))

    async def _watch(self, api: k8s.ApiClient, plural: str, namespace: str, rv: str) -> str:
        kwargs: dict[str, Any] = {
            "watch": True, "resource_version": rv, "allow_watch_bookmarks": True,
            "timeout_seconds": self.watch_timeout, "_preload_content": False,
            "_request_timeout": aiohttp.ClientTimeout(connect=self.request_timeout,
                                                      sock_read=self.watch_timeout + 30),
        }
        if plural == "ingresses" and self.label_selector:
            kwargs["label_selector"] = self.label_selector
        resp = await self._list_call(api, plural, namespace)(**kwargs)
        async with resp:
            if resp.status == 410:
                raise _Gone()
            if resp.status != 200:
                raise RuntimeError(f"watch {plural}: HTTP {resp.status}: {(await resp.read())[:200]!r}")
            buffer = b""
            store = self._store(plural)
            async for chunk in resp.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        if obj.get("code") == 410:
                            raise _Gone()
                        raise RuntimeError(f"watch {plural}: {obj.get('message', obj)}")
                    new_rv = str((obj.get("metadata") or {}).get("resourceVersion", "")) or rv
                    rv = new_rv
                    if kind == "BOOKMARK":
                        continue
                    key = self._store_key(plural, obj)
                    if kind == "DELETED":
                        store.pop(key, None)
                    elif kind in ("ADDED", "MODIFIED"):
                        store[key] = obj
                    self._changed()
        return rv

    async def _reflect(self, api: k8s.ApiClient, plural: str, namespace: str, synced: asyncio.Event) -> None:
        rv = ""
        delay = self.backoff_initial
        while True:
            try:
                if not rv:
                    rv = await self._list(api, plural, namespace)
                    synced.set()
                rv = await self._watch(api, plural, namespace, rv)
                delay = self.backoff_initial
            except _Gone:
                log.info("watch of %s%s expired (410 Gone): listing again", plural,
                         f" in {namespace}" if namespace else "")
                self.relists += 1
                rv = ""
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: keep what we know, retry
                if plural == "ingressclasses" and isinstance(exc, _HTTPError) and exc.status in (403, 404):
                    # Like Traefik ("Failed to list ingress classes"): go on without IngressClasses
                    # (an older ClusterRole); keep trying in case the permission comes.
                    synced.set()
                self.watch_errors += 1
                log.warning("kubernetes %s%s: %s; retrying in %.1fs", plural,
                            f" in {namespace}" if namespace else "", exc or type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    def _reflectors(self) -> list[tuple[str, str]]:
        spaces = self.namespaces or [""]
        out = [(plural, ns) for plural in ("ingresses", "services", "endpointslices", "secrets") for ns in spaces]
        if self.cluster_scope:
            out.append(("ingressclasses", ""))
        published = self.ingress_endpoint.published_service if self.ingress_endpoint else ""
        if published and "/" in published and self.namespaces:
            pub_ns = published.split("/", 1)[0]
            if pub_ns not in self.namespaces:
                out.append(("services", pub_ns))
        return out

    # -- status ----------------------------------------------------------------------------------
    def wanted_status(self) -> list[dict[str, str]] | None:
        """The ``status.loadBalancer.ingress`` to publish, or None (nothing to write)."""
        ep = self.ingress_endpoint
        if ep is None:
            return None
        if not ep.published_service:
            if not ep.ip and not ep.hostname:
                self._warn("ingressEndpoint: publishedService or ip or hostname must be defined")
                return None
            entry = {k: v for k, v in (("ip", ep.ip), ("hostname", ep.hostname)) if v}
            return [entry]
        parts = ep.published_service.split("/")
        if len(parts) != 2:
            self._warn(f"invalid publishedService format (expected 'namespace/service'): {ep.published_service}")
            return None
        service = self.cluster.services.get((parts[0], parts[1]))
        if service is None:
            self._warn(f"missing service: {ep.published_service}")
            return None
        found = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not found:
            return None
        return [{k: v for k, v in entry.items() if k in ("ip", "hostname", "ports") and v} for entry in found]

    async def _write_statuses(self, api: k8s.ApiClient, handled: list[Key]) -> int:
        """Writes the statuses that differ; returns how many writes failed."""
        wanted = self.wanted_status()
        if wanted is None:
            return 0
        failed = 0
        replace_status: Any = k8s.NetworkingV1Api(api).replace_namespaced_ingress_status  # raw response
        for key in handled:
            ingress = self.cluster.ingresses.get(key)
            if ingress is None:
                continue
            current = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if current == wanted:
                continue
            rv = str((ingress.get("metadata") or {}).get("resourceVersion", ""))
            if self._written.get(key) == (rv, wanted):
                continue  # already sent for this version; its MODIFIED event is on its way
            body: dict[str, Any] = dict(copy.deepcopy(ingress))
            body["status"] = {"loadBalancer": {"ingress": wanted}}
            try:
                resp = await replace_status(
                    key[1], key[0], body, _preload_content=False, _request_timeout=self.request_timeout)
                async with resp:
                    text = await resp.read()
                    if resp.status == 409:
                        continue  # a newer version is coming through the watch; the next round retries
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}: {text[:200]!r}")
            except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
                log.warning("updating the status of ingress %s/%s: %s", key[0], key[1], exc)
                failed += 1
                continue
            self._written[key] = (rv, wanted)
            self.status_writes += 1
        return failed

    async def _status_loop(self, api: k8s.ApiClient) -> None:
        """Writes the Ingress statuses after each translation, apart from the snapshots (a slow or
        unreachable API server never delays routing)."""
        delay = self.backoff_initial
        while True:
            await self._status_dirty.wait()
            self._status_dirty.clear()
            try:
                failed = await self._write_statuses(api, list(self._handled))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried below
                log.warning("kubernetes: writing Ingress statuses: %s", exc)
                failed = 1
            if failed:  # retry with backoff even if nothing changes meanwhile
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                self._status_dirty.set()
            else:
                delay = self.backoff_initial

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            log.warning("kubernetes: %s", message)
        self.warnings.append(message)
        del self.warnings[:-100]

    # -- provider --------------------------------------------------------------------------------
    async def watch(self) -> AsyncIterator[DynamicConfig]:
        cfg = await self.configuration()
        if self.settings.allow_external_name_services:
            log.warning("ExternalName service loading is enabled, please ensure that this is expected "
                        "(see allowExternalNameServices option)")
        api = k8s.ApiClient(configuration=cfg)
        tasks: list[asyncio.Task[None]] = []
        try:
            syncs: list[asyncio.Event] = []
            for plural, ns in self._reflectors():
                synced = asyncio.Event()
                syncs.append(synced)
                tasks.append(asyncio.create_task(self._reflect(api, plural, ns, synced),
                                                 name=f"kubernetes-{plural}-{ns or 'all'}"))
            for synced in syncs:
                await synced.wait()
            if self.ingress_endpoint is not None:
                tasks.append(asyncio.create_task(self._status_loop(api), name="kubernetes-status"))
            last: DynamicConfig | None = None
            seen_warnings: set[str] = set()
            while True:
                self._dirty.clear()
                result = translate(self.cluster, self.settings)
                self.translations += 1
                for message in result.warnings:
                    if message not in seen_warnings:
                        log.warning("kubernetes: %s", message)
                seen_warnings = set(result.warnings)
                self._handled = result.handled
                self._status_dirty.set()
                if last is None or result.config != last:
                    last = result.config
                    yield result.config
                if self.throttle_duration > 0:
                    await asyncio.sleep(self.throttle_duration)
                await self._dirty.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await api.close()


def from_static(cfg: IngressStatic) -> KubernetesIngressProvider:
    settings = Settings(
        ingress_class=cfg.ingress_class,
        allow_empty_services=cfg.allow_empty_services,
        allow_external_name_services=cfg.allow_external_name_services,
        disable_ingress_class_lookup=cfg.disable_ingress_class_lookup or cfg.disable_cluster_scope_resources,
        native_lb_by_default=cfg.native_lb_by_default,
        strict_prefix_matching=cfg.strict_prefix_matching,
    )
    return KubernetesIngressProvider(
        settings,
        endpoint=cfg.endpoint,
        token=cfg.token,
        cert_auth_file_path=cfg.cert_auth_file_path,
        namespaces=cfg.namespaces,
        label_selector=cfg.label_selector,
        ingress_endpoint=cfg.ingress_endpoint,
        throttle_duration=float(cfg.throttle_duration),
        disable_cluster_scope_resources=cfg.disable_cluster_scope_resources,
    )

"""Docker provider, I/O half: the Engine API over a unix socket or TCP (optionally TLS).

``watch()`` connects (``GET /version``), subscribes to ``GET /events`` (container events, and
network connect/disconnect), lists every container (``/containers/json?all=1``), inspects them
and yields a full snapshot; then each relevant event (start, die, stop, kill, pause, unpause,
restart, rename, destroy, update, health_status, network connect/disconnect) marks its container
for a new inspection and triggers a re-list; a snapshot is yielded only when it differs from the
last one.  Events that arrive while a resync runs are coalesced into the next one.

When the daemon goes away (the event stream ends, a request fails) ``watch()`` raises: the
aggregator keeps the last good configuration and restarts the provider with exponential backoff;
the restart resyncs everything.  Requests use unversioned API paths, so the daemon answers at its
own API version (older and newer Engines alike).  Translation is :mod:`providers.docker_config`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from providers.docker_config import (
    Container,
    DockerSettings,
    DockerTranslator,
    parse_container,
    relevant_event,
)
from providers.kv import ssl_context
from traefikpy.config.static_providers import ClientTLS
from traefikpy.config.static_providers import DockerProvider as DockerStatic
from traefikpy.provider import ProviderSnapshot

log = logging.getLogger("traefikpy.providers.docker")

__all__ = ["DockerClient", "DockerProvider", "from_static", "host_gateway_ip"]

_INSPECT_CONCURRENCY = 8


class DockerClient:
    """A minimal Engine API client (aiohttp): JSON GETs and the event stream."""

    def __init__(self, endpoint: str, tls: ClientTLS | None = None, username: str = "",
                 password: str = "", timeout: float = 0.0) -> None:
        self.endpoint = endpoint
        headers = {"User-Agent": "traefikpy"}
        if username and password:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        connector: aiohttp.BaseConnector
        if endpoint.startswith("unix://"):
            connector = aiohttp.UnixConnector(path=endpoint[len("unix://"):])
            self.base = "http://localhost"
        else:
            scheme, _, rest = endpoint.partition("://")
            if not rest:
                raise ValueError(f"unsupported Docker endpoint {endpoint!r} (use unix:// or tcp://)")
            secure = tls is not None or scheme == "https"
            if scheme not in ("tcp", "http", "https"):
                raise ValueError(f"unsupported Docker endpoint {endpoint!r} (use unix:// or tcp://)")
            self.base = f"{'https' if secure else 'http'}://{rest.rstrip('/')}"
            connector = aiohttp.TCPConnector(ssl=ssl_context(tls) if tls is not None else secure)
        self._timeout = aiohttp.ClientTimeout(total=timeout or None)
        self._session = aiohttp.ClientSession(connector=connector, headers=headers)

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The JSON body of a GET; ``None`` for 404; raises on any other failure."""
        async with self._session.get(self.base + path, params=params, timeout=self._timeout) as resp:
            if resp.status == 404:
                return None
            if resp.status >= 400:
                raise ConnectionError(f"Docker API {path}: HTTP {resp.status} {(await resp.text())[:200]}")
            return await resp.json(content_type=None)

    async def events(self, types: tuple[str, ...] = ("container", "network")) -> aiohttp.ClientResponse:
        """The open event stream (one JSON object per line); the caller reads and closes it."""
        params = {"filters": json.dumps({"type": list(types)})}
        resp = await self._session.get(self.base + "/events", params=params,
                                       timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.total))
        if resp.status >= 400:
            resp.close()
            raise ConnectionError(f"Docker API /events: HTTP {resp.status}")
        return resp

    async def close(self) -> None:
        await self._session.close()


def host_gateway_ip(hosts_file: str = "/etc/hosts") -> str:
    """Traefik reaches host-network containers at ``host.docker.internal`` (or
    ``host.containers.internal``), else 127.0.0.1.  Only the hosts file is read: no DNS query."""
    try:
        lines = Path(hosts_file).read_text().splitlines()
    except OSError:
        return "127.0.0.1"
    for wanted in ("host.docker.internal", "host.containers.internal"):
        for line in lines:
            fields = line.split("#", 1)[0].split()
            if len(fields) > 1 and wanted in fields[1:]:
                return fields[0]
    return "127.0.0.1"


class DockerProvider:
    """``providers.docker``: routing from container labels, live from the daemon's events."""

    def __init__(
        self,
        endpoint: str = "unix:///var/run/docker.sock",
        settings: DockerSettings | None = None,
        *,
        watch: bool = True,
        tls: ClientTLS | None = None,
        username: str = "",
        password: str = "",
        http_client_timeout: float = 0.0,
        name: str = "docker",
        throttle: float | None = None,
    ) -> None:
        self.name = name
        self.throttle = throttle
        self.endpoint = endpoint
        self.settings = settings or DockerSettings()
        # a bad defaultRule or constraints expression fails here, at start-up, like Traefik's Init
        self.translator = DockerTranslator(self.settings)
        self.watch_events = watch
        self._client_args = (tls, username, password, http_client_timeout)
        self._logged: dict[str, tuple[str, ...]] = {}
        self.syncs = 0  # resyncs done (tests and the bench read it)

    def client(self) -> DockerClient:
        tls, username, password, timeout = self._client_args
        return DockerClient(self.endpoint, tls, username, password, timeout)

    async def watch(self) -> AsyncIterator[ProviderSnapshot]:
        client = self.client()
        events: aiohttp.ClientResponse | None = None
        try:
            version = await client.get_json("/version")
            log.debug("connected to Docker %s (API %s) at %s", (version or {}).get("Version"),
                      (version or {}).get("ApiVersion"), self.endpoint)
            if self.watch_events:
                events = await client.events()  # before listing: nothing happens unseen
            cache: dict[str, Container] = {}
            last = await self.sync(client, cache, None)
            yield last
            if events is None:
                return
            async with contextlib.aclosing(self._batches(events)) as batches:
                async for touched in batches:
                    snapshot = await self.sync(client, cache, touched)
                    if snapshot != last:
                        last = snapshot
                        yield snapshot
        finally:
            if events is not None:
                events.close()
            await client.close()

    async def _batches(self, events: aiohttp.ClientResponse) -> AsyncGenerator[set[str], None]:
        """Sets of container ids touched by events; what arrives during a resync is one batch."""
        touched: set[str] = set()
        wake = asyncio.Event()
        ended: list[str] = []

        async def read() -> None:
            # whole chunks split by hand: an event line carries every label of its container
            # and can exceed a stream reader's line limit
            pending = b""
            try:
                while True:
                    chunk = await events.content.readany()
                    if not chunk:
                        ended.append("event stream closed by the daemon")
                        break
                    *lines, pending = (pending + chunk).split(b"\n")
                    for line in lines:
                        try:
                            event = json.loads(line)
                        except ValueError:
                            continue
                        container = relevant_event(event) if isinstance(event, dict) else None
                        if container is not None:
                            touched.add(container)
                            wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream is gone: the provider restarts and resyncs
                ended.append(f"event stream failed: {exc!r}")
            wake.set()

        reader = asyncio.get_running_loop().create_task(read(), name=f"{self.name}:events")
        try:
            while True:
                await wake.wait()
                wake.clear()
                if ended:
                    raise ConnectionError(f"Docker at {self.endpoint}: {ended[0]}")
                batch = set(touched)
                touched.clear()
                yield batch
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def sync(self, client: DockerClient, cache: dict[str, Container],
                   touched: set[str] | None) -> ProviderSnapshot:
        """List the containers, inspect the new and the touched ones (all when ``touched`` is
        None), and translate."""
        listing = await client.get_json("/containers/json", {"all": "1"}) or []
        ids = [str(item.get("Id")) for item in listing if isinstance(item, dict) and item.get("Id")]
        for gone in set(cache) - set(ids):
            del cache[gone]
        wanted = [cid for cid in ids if touched is None or cid not in cache or cid in touched]
        limit = asyncio.Semaphore(_INSPECT_CONCURRENCY)

        async def inspect(cid: str) -> None:
            async with limit:
                doc = await client.get_json(f"/containers/{cid}/json")
            if isinstance(doc, dict):
                cache[cid] = parse_container(doc)
            else:
                cache.pop(cid, None)  # removed between the list and the inspection

        await asyncio.gather(*(inspect(cid) for cid in wanted))
        snapshot = self.translator.build([cache[cid] for cid in ids if cid in cache])
        self.syncs += 1
        self._log_errors(snapshot)
        return snapshot

    def _log_errors(self, snapshot: ProviderSnapshot) -> None:
        for key, messages in snapshot.errors.items():
            if self._logged.get(key) != messages:
                log.error("docker: %s: %s", key, "; ".join(messages))
        self._logged = dict(snapshot.errors)

    def __repr__(self) -> str:
        return f"<DockerProvider {self.endpoint} watch={self.watch_events}>"


def from_static(cfg: DockerStatic) -> DockerProvider:
    """The provider for ``providers.docker`` (raises ValueError for a bad defaultRule,
    constraints expression or TLS block)."""
    settings = DockerSettings(
        exposed_by_default=cfg.exposed_by_default,
        network=cfg.network,
        use_bind_port_ip=cfg.use_bind_port_ip,
        constraints=cfg.constraints,
        allow_empty_services=cfg.allow_empty_services,
        default_rule=cfg.default_rule,
        host_ip=host_gateway_ip(),
    )
    provider = DockerProvider(
        cfg.endpoint, settings, watch=cfg.watch, tls=cfg.tls, username=cfg.username,
        password=cfg.password, http_client_timeout=cfg.http_client_timeout,
    )
    if cfg.tls is not None:
        ssl_context(cfg.tls)  # fail now rather than at every reconnection
    return provider

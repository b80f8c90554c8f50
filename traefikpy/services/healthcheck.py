"""Active health checks (``loadBalancer.healthCheck``) and the registry that keeps server state
across graph swaps.

Checker (Traefik semantics)
    Servers start up.  Every ``interval`` (default 30s) the servers that are up are probed, and
    every ``unhealthyInterval`` (default: ``interval``) those that are down; a probe that fails
    marks its server down, one that succeeds marks it up.  A probe is ``method`` (GET) on the
    server URL resolved with ``path`` (RFC 3986), ``scheme``/``port`` replaced when set, ``Host``
    set to ``hostname`` when set, extra ``headers``, redirects followed unless
    ``followRedirects: false``, within ``timeout`` (5s).  It succeeds on ``status`` when set,
    else on any 2xx/3xx.  ``mode: grpc`` speaks the gRPC Health Checking Protocol v1 instead
    (see :mod:`traefikpy.services.grpc_health`): healthy when the answer is ``SERVING``.

Registry
    :class:`HealthRegistry` is owned by the compiler, outside graphs.  ``acquire(service, servers,
    config)`` returns the :class:`Server` objects for ``(service, config)``, reusing the ones of the
    previous graph (so health, in-flight counts and passive windows survive a reload) and starting
    the active checker on first use.  After building a graph the compiler calls ``reconcile()``:
    entries not acquired since the previous reconcile are dropped and their checkers stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ssl import SSLContext
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import aiohttp
import h2.exceptions

from traefikpy.aio import TaskGroup
from traefikpy.config.base import parse_duration
from traefikpy.proxy.h2client import h2c_status
from traefikpy.services.grpc_health import grpc_health_check
from traefikpy.services.server import Server, ServerSpec, StatusCallback

log = logging.getLogger("traefikpy.healthcheck")

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """Traefik's ``healthCheck`` options, normalised (seconds; defaults applied).  Hashable: it is
    part of the registry key, so a changed health check starts with fresh state."""

    path: str = ""
    scheme: str = ""
    mode: str = "http"
    hostname: str = ""
    port: int = 0
    interval: float = DEFAULT_INTERVAL
    unhealthy_interval: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    headers: tuple[tuple[str, str], ...] = field(default=())
    method: str = "GET"
    status: int = 0
    follow_redirects: bool = True

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> HealthCheckConfig | None:
        """From Traefik's form (``{"path": "/health", "interval": "10s", ...}``)."""
        if data is None:
            return None

        def seconds(key: str, default: float | None) -> float | None:
            value = data.get(key)
            return default if value is None else parse_duration(value)

        headers = data.get("headers") or {}
        follow = data.get("followRedirects")
        return cls(
            path=str(data.get("path") or ""),
            scheme=str(data.get("scheme") or ""),
            mode=str(data.get("mode") or "http").lower(),
            hostname=str(data.get("hostname") or ""),
            port=int(data.get("port") or 0),
            interval=seconds("interval", DEFAULT_INTERVAL) or 0.0,
            unhealthy_interval=seconds("unhealthyInterval", None),
            timeout=seconds("timeout", DEFAULT_TIMEOUT) or 0.0,
            headers=tuple(sorted((str(k), str(v)) for k, v in headers.items())),
            method=str(data.get("method") or "GET").upper(),
            status=int(data.get("status") or 0),
            follow_redirects=True if follow is None else bool(follow),
        )

    @property
    def healthy_every(self) -> float:
        return self.interval if self.interval > 0 else DEFAULT_INTERVAL

    @property
    def unhealthy_every(self) -> float:
        # Unset: as often as healthy servers.  Non-positive: Traefik falls back to the default.
        if self.unhealthy_interval is None:
            return self.healthy_every
        return self.unhealthy_interval if self.unhealthy_interval > 0 else DEFAULT_INTERVAL

    @property
    def timeout_seconds(self) -> float:
        return self.timeout if self.timeout > 0 else DEFAULT_TIMEOUT


def probe_url(server_url: str, config: HealthCheckConfig) -> str:
    """The URL a probe of ``server_url`` requests: ``path`` resolved against it, then ``scheme``
    and ``port`` replaced when configured."""
    h2c = server_url[:6].lower() == "h2c://"  # urljoin only resolves schemes it knows
    base = "http://" + server_url[6:] if h2c else server_url
    parts = urlsplit(urljoin(base, config.path) if config.path else base)
    if h2c:
        parts = parts._replace(scheme="h2c")
    netloc = parts.netloc
    if config.port:
        host = parts.hostname or ""
        netloc = f"[{host}]:{config.port}" if ":" in host else f"{host}:{config.port}"
    return urlunsplit((config.scheme or parts.scheme, netloc, parts.path, parts.query, ""))


def status_ok(status: int, expected: int) -> bool:
    """A probe's verdict on an HTTP status: ``expected`` exactly, or 2xx/3xx when unset."""
    return status == expected if expected else 200 <= status < 400


class ActiveChecker:
    """The active health checker of one service: two loops (servers up / servers down)."""

    def __init__(self, service: str, config: HealthCheckConfig, entry: _Entry, registry: HealthRegistry) -> None:
        self.service = service
        self.config = config
        self.ssl: SSLContext | bool | None = None
        self._entry = entry
        self._registry = registry
        self._tasks: list[asyncio.Task[Any]] = []
        self._urls: dict[str, str] = {}
        self._headers = dict(config.headers)
        if config.hostname:
            self._headers["Host"] = config.hostname
        self.probes = 0  # probes sent (tests, debugging)

    @property
    def running(self) -> bool:
        return any(not task.done() for task in self._tasks)

    def start(self, tasks: TaskGroup) -> None:
        if self.running:
            return
        self._tasks = [
            tasks.spawn(self._loop(True, self.config.healthy_every), f"{self.service}:healthy"),
            tasks.spawn(self._loop(False, self.config.unhealthy_every), f"{self.service}:unhealthy"),
        ]

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []

    async def _loop(self, healthy: bool, interval: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            targets = [s for s in self._entry.servers.values() if s.up is healthy]
            if not targets:
                continue
            verdicts = await asyncio.gather(*(self.probe(server) for server in targets))
            for server, up in zip(targets, verdicts, strict=True):
                server.set_up(up)
            deadline = max(deadline, loop.time())  # a slow round skips ticks instead of bursting

    async def probe(self, server: Server) -> bool:
        """One probe of ``server``; never raises (a failure is a False verdict)."""
        self.probes += 1
        url = self._urls.get(server.url)
        if url is None:
            url = self._urls[server.url] = probe_url(server.url, self.config)
        timeout = self.config.timeout_seconds
        try:
            if self.config.mode == "grpc":
                return await asyncio.wait_for(
                    grpc_health_check(url, ssl=self.ssl, authority=self.config.hostname or None), timeout
                )
            if url.startswith("h2c://"):  # cleartext HTTP/2 servers speak nothing else
                status = await asyncio.wait_for(h2c_status(url, self.config.method, self._headers), timeout)
                return status_ok(status, self.config.status)
            session = self._registry.session()
            async with session.request(
                self.config.method,
                url,
                headers=self._headers,
                allow_redirects=self.config.follow_redirects,
                timeout=aiohttp.ClientTimeout(total=timeout),
                ssl=self.ssl if self.ssl is not None else True,
            ) as response:
                return status_ok(response.status, self.config.status)
        except (aiohttp.ClientError, h2.exceptions.H2Error, TimeoutError, OSError, ValueError) as exc:
            log.debug("health check of %s (%s) failed: %r", server.url, self.service, exc)
            return False

    def __repr__(self) -> str:
        mode = self.config.mode
        return (
            f"<ActiveChecker {self.service} {mode} path={self.config.path!r} every={self.config.healthy_every}s"
            f"/{self.config.unhealthy_every}s servers={len(self._entry.servers)} running={self.running}>"
        )


HealthKey = tuple[str, HealthCheckConfig | None]


@dataclass(eq=False)
class _Entry:
    servers: dict[str, Server] = field(default_factory=dict)
    checker: ActiveChecker | None = None


class HealthRegistry:
    """Server state per ``(service name, health check config)``, kept outside graphs."""

    def __init__(self, name: str = "health") -> None:
        self._entries: dict[HealthKey, _Entry] = {}
        self._acquired: set[HealthKey] = set()
        self._tasks = TaskGroup(name)
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def key(service: str, config: HealthCheckConfig | None) -> HealthKey:
        return (service, config)

    def acquire(
        self,
        service: str,
        specs: Sequence[ServerSpec],
        config: HealthCheckConfig | None,
        *,
        on_status: StatusCallback | None = None,
        ssl: SSLContext | bool | None = None,
    ) -> list[Server]:
        """The servers of ``service`` (in ``specs`` order), reusing known ones; starts the active
        checker for ``config`` if needed.  ``on_status`` replaces the previous callback."""
        key = self.key(service, config)
        self._acquired.add(key)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        servers: dict[str, Server] = {}
        for spec in specs:
            server = entry.servers.get(spec.url)
            if server is None:
                server = Server.from_spec(spec)
            else:
                server.update(spec)
            server.on_change = on_status
            servers[spec.url] = server
        for url, server in entry.servers.items():
            if url not in servers:
                server.cancel_timers()
        entry.servers = servers
        if config is not None:
            if entry.checker is None:
                entry.checker = ActiveChecker(service, config, entry, self)
            entry.checker.ssl = ssl
            self._start(entry.checker)
        return list(servers.values())

    def _start(self, checker: ActiveChecker) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: start() launches it
        checker.start(self._tasks)

    def start(self) -> None:
        """Launch checkers acquired before the event loop was running."""
        for entry in self._entries.values():
            if entry.checker is not None:
                entry.checker.start(self._tasks)

    def reconcile(self, wanted: Iterable[HealthKey] | None = None) -> list[HealthKey]:
        """Drop entries not in ``wanted`` (default: not acquired since the last reconcile), stopping
        their checkers; returns the dropped keys."""
        keep = set(wanted) if wanted is not None else self._acquired
        dropped = [key for key in self._entries if key not in keep]
        for key in dropped:
            entry = self._entries.pop(key)
            if entry.checker is not None:
                entry.checker.stop()
            for server in entry.servers.values():
                server.cancel_timers()
        self._acquired = set()
        return dropped

    def checker(self, service: str, config: HealthCheckConfig) -> ActiveChecker | None:
        entry = self._entries.get(self.key(service, config))
        return entry.checker if entry is not None else None

    def session(self) -> aiohttp.ClientSession:
        """The HTTP client of the checkers (created on first use, inside the loop)."""
        if self._session is None or self._session.closed:
            # No connection cap: every server of every service may be probed at the same tick, and
            # waiting for a pooled connection would count against the probe's timeout.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self) -> None:
        """Stop every checker and close the HTTP client."""
        for entry in self._entries.values():
            if entry.checker is not None:
                entry.checker.stop()
            for server in entry.servers.values():
                server.cancel_timers()
        await self._tasks.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        checkers = sum(1 for e in self._entries.values() if e.checker is not None and e.checker.running)
        return f"<HealthRegistry services={len(self._entries)} checkers={checkers}>"

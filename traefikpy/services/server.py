"""One upstream server as the balancers see it: its identity, weight and runtime state.

A :class:`Server` is deliberately small and mutable.  The balancers read ``up``/``fenced`` and the
load counters on every pick; the health checkers (active and passive) flip ``up`` through
:meth:`Server.set_up`, which tells every balancer that contains the server (weakly, so balancers of
retired graphs can be collected) and the status callback of the API/metrics.

Servers outlive graphs: :class:`~traefikpy.services.healthcheck.HealthRegistry` hands the same
objects to the balancer of an unchanged service after a reload, so health, in-flight counts,
latency samples and passive-failure windows survive the swap.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from traefikpy.proxy.errors import NoHealthyServer as ProxyNoHealthyServer
from traefikpy.proxy.http import Exchange

Forward = Callable[[Exchange, "Server"], Awaitable[None]]
"""The forwarding step a balancer ends with.  It must raise *before* anything was sent when the
upstream cannot be reached (so passive health checks, retry and failover can react)."""

StatusCallback = Callable[[str, bool], None]
"""``on_status(server_url, up)``: called when a server's health changes (API serverStatus,
``traefik_service_server_up``)."""

ServerWatcher = Callable[["Server", bool], None]

LATENCY_SAMPLES = 100  # Traefik's leasttime keeps the last 100 time-to-first-byte samples.


class NoHealthyServer(ProxyNoHealthyServer):
    """A service has no server (or child service) that is up: answered with 503.  The data plane's
    error, naming the service."""

    def __init__(self, service: str = "") -> None:
        super().__init__(f"no available server for service {service!r}" if service else "no available server")
        self.service = service


class ServiceBuildError(ValueError):
    """A service cannot be built from its configuration; the compiler records it on the service."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """A configured server: Traefik's ``servers[]`` entry (``url``, ``weight``, ``preservePath``),
    plus ``fenced`` (a terminating endpoint: still reachable through a sticky cookie, never picked)."""

    url: str
    weight: int = 1
    preserve_path: bool = False
    fenced: bool = False

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ServerSpec:
        """Build from Traefik's form (``{"url": ..., "weight": 2, "preservePath": true}``)."""
        weight = data.get("weight")
        return cls(
            url=str(data["url"]),
            weight=1 if weight is None else int(weight),
            preserve_path=bool(data.get("preservePath", False)),
            fenced=bool(data.get("fenced", False)),
        )


class Server:
    """A server's identity (``url``), weight and runtime state.  Hot-path object: ``__slots__``.

    ``target`` is a free slot for the forwarder (e.g. a parsed URL or its connection pool).
    """

    __slots__ = (
        "url", "weight", "preserve_path", "fenced", "up", "inflight", "target", "on_change",
        "passive_failures", "passive_timer", "_samples", "_sample_pos", "_sample_sum",
        "_sample_count", "_watchers", "__weakref__",
    )

    def __init__(self, url: str, weight: int = 1, *, preserve_path: bool = False, fenced: bool = False) -> None:
        self.url = url
        self.weight = weight
        self.preserve_path = preserve_path
        self.fenced = fenced
        self.up = True  # servers start up, as in Traefik
        self.inflight = 0
        self.target: Any = None
        self.on_change: StatusCallback | None = None
        self.passive_failures: deque[float] = deque()
        self.passive_timer: asyncio.TimerHandle | None = None
        self._samples = [0.0] * LATENCY_SAMPLES
        self._sample_pos = 0
        self._sample_sum = 0.0
        self._sample_count = 0
        self._watchers: list[weakref.ref[Any] | Callable[[], ServerWatcher | None]] = []

    @classmethod
    def from_spec(cls, spec: ServerSpec) -> Server:
        return cls(spec.url, spec.weight, preserve_path=spec.preserve_path, fenced=spec.fenced)

    def update(self, spec: ServerSpec) -> None:
        """Take the configured (non-runtime) fields of ``spec``; runtime state is kept."""
        self.weight = spec.weight
        self.preserve_path = spec.preserve_path
        self.fenced = spec.fenced

    # -- health -------------------------------------------------------------------------------
    def watch(self, watcher: ServerWatcher) -> None:
        """Call ``watcher(server, up)`` on every health change.  Bound methods are held weakly so a
        retired graph's balancer does not stay alive through a long-lived server."""
        self._watchers = [ref for ref in self._watchers if ref() is not None]
        if hasattr(watcher, "__self__"):
            self._watchers.append(weakref.WeakMethod(watcher))
        else:
            self._watchers.append(lambda: watcher)

    def set_up(self, up: bool) -> bool:
        """Record the server's health; returns True when it changed (watchers were told)."""
        if self.up is up:
            return False
        self.up = up
        alive = []
        for ref in self._watchers:
            watcher = ref()
            if watcher is not None:
                alive.append(ref)
                watcher(self, up)
        self._watchers = alive
        if self.on_change is not None:
            self.on_change(self.url, up)
        return True

    def cancel_timers(self) -> None:
        if self.passive_timer is not None:
            self.passive_timer.cancel()
            self.passive_timer = None

    # -- load ---------------------------------------------------------------------------------
    def record_latency(self, seconds: float) -> None:
        """Add a time-to-first-byte sample (ring of the last :data:`LATENCY_SAMPLES`)."""
        ms = seconds * 1000.0
        pos = self._sample_pos
        if self._sample_count < LATENCY_SAMPLES:
            self._sample_count += 1
        else:
            self._sample_sum -= self._samples[pos]
        self._samples[pos] = ms
        self._sample_sum += ms
        self._sample_pos = (pos + 1) % LATENCY_SAMPLES

    @property
    def latency_ms(self) -> float:
        """Average time to first byte in milliseconds; 0 before the first sample (cold start)."""
        return self._sample_sum / self._sample_count if self._sample_count else 0.0

    def __repr__(self) -> str:
        state = "up" if self.up else "down"
        fenced = " fenced" if self.fenced else ""
        return f"<Server {self.url} w={self.weight} {state}{fenced} inflight={self.inflight}>"

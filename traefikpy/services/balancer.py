"""The ``loadBalancer`` service: picks a server, sets the sticky cookie, forwards, observes.

Per request: a valid sticky cookie naming a server that is up wins; otherwise the strategy picks
among the servers that are up and not fenced (none: :class:`NoHealthyServer`, answered 503) and a
new cookie is set.  The forward step is called with the server's in-flight count raised.  With a
passive health check or the ``leasttime`` strategy a response hook observes the upstream's status
and time to first byte.  When the forward step fails before anything was sent, the hooks this
balancer registered are removed so a retry (or a failover) starts clean.

The balancer is *up* while one of its servers is up; with ``healthCheck`` set it reports changes
to its parents (see :mod:`traefikpy.services.status`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from ssl import SSLContext
from typing import TYPE_CHECKING

from traefikpy.proxy.http import Done, Exchange, Headers
from traefikpy.services.passive import PassiveHealth, PassiveHealthConfig
from traefikpy.services.server import (
    Forward,
    NoHealthyServer,
    Server,
    ServerSpec,
    ServiceBuildError,
    StatusCallback,
)
from traefikpy.services.status import StatusNode
from traefikpy.services.sticky import StickyCookie, StickyTable
from traefikpy.services.strategies import SERVER_ONLY, Picker, make_server_picker, normalize_strategy

if TYPE_CHECKING:
    from traefikpy.services.healthcheck import HealthCheckConfig, HealthKey, HealthRegistry


ForwardFast = Callable[[Exchange, Server, "Done | None"], None]
"""The fast entry of a forward step (``fast`` attribute, see ``traefikpy.dataplane.Forwarding``)."""


def trim_hooks(ex: Exchange, count: int) -> None:
    """Drop the response hooks registered after the first ``count`` (an attempt that failed)."""
    hooks = ex.response_hooks
    if hooks is not None and len(hooks) > count:
        del hooks[count:]


class LoadBalancer(StatusNode):
    """A ``loadBalancer`` service handler over a fixed list of :class:`Server`."""

    __slots__ = (
        "name", "strategy", "servers", "pickable", "health_key", "_picker", "_forward", "_sticky",
        "_passive", "_measure", "_forward_fast", "fast", "__weakref__",
    )
    kind = "loadBalancer"

    def __init__(
        self,
        name: str,
        servers: Sequence[Server],
        picker: Picker[Server],
        forward: Forward,
        *,
        strategy: str = "wrr",
        sticky: StickyTable[Server] | None = None,
        passive: PassiveHealth | None = None,
        wants_health_check: bool = False,
        health_key: HealthKey | None = None,
    ) -> None:
        super().__init__(wants_health_check)
        self.name = name
        self.strategy = strategy
        self.servers = list(servers)
        self.pickable: list[Server] = []
        self.health_key = health_key
        self._picker = picker
        self._forward = forward
        self._sticky = sticky
        self._passive = passive
        self._measure = strategy == "leasttime"
        for server in self.servers:
            server.watch(self._server_changed)
        self._refresh()
        # The fast entry (http.fast_of) when nothing needs the forward step's outcome: no
        # passive health check, no strategy reading in-flight counts or latencies.
        self._forward_fast: ForwardFast | None = getattr(forward, "fast", None)
        self.fast = (
            self._fast
            if self._forward_fast is not None and passive is None and strategy not in SERVER_ONLY
            else None
        )

    def _refresh(self) -> None:
        self.pickable = [s for s in self.servers if s.up and not s.fenced]
        self._set_up(any(s.up for s in self.servers))

    def _server_changed(self, server: Server, up: bool) -> None:
        self._refresh()

    def server_status(self) -> dict[str, bool]:
        """``{url: up}`` for the API's ``serverStatus``."""
        return {server.url: server.up for server in self.servers}

    def choose(self, ex: Exchange) -> Server:
        """The server for ``ex`` (sticky first, then the strategy); registers the cookie hook."""
        sticky = self._sticky
        if sticky is not None:
            server, rewrite = sticky.lookup(ex)
            if server is not None and server.up:
                if rewrite:
                    ex.on_response(sticky.hook(server))
                return server
        pickable = self.pickable
        if not pickable:
            raise NoHealthyServer(self.name)
        # one server configured and up: what every strategy picks
        server = pickable[0] if len(self.servers) == 1 else self._picker.pick(pickable, ex.client_ip)
        if sticky is not None:
            ex.on_response(sticky.hook(server))
        return server

    async def __call__(self, ex: Exchange) -> None:
        hooks = ex.response_hooks
        mark = len(hooks) if hooks else 0
        server = self.choose(ex)
        ex.service = self.name
        if self._passive is None and not self._measure:
            server.inflight += 1
            try:
                await self._forward(ex, server)
            except BaseException:
                if ex.status == 0:
                    trim_hooks(ex, mark)
                raise
            finally:
                server.inflight -= 1
            return
        await self._observed(ex, server, mark)

    def _fast(self, ex: Exchange, done: Done | None) -> None:
        server = self.choose(ex)
        ex.service = self.name
        self._forward_fast(ex, server, done)  # type: ignore[misc]  # set when fast is

    async def _observed(self, ex: Exchange, server: Server, mark: int) -> None:
        observed = 0
        measure = self._measure
        start = time.monotonic()

        def observe(status: int, headers: Headers) -> int:
            nonlocal observed
            if measure and observed == 0:
                server.record_latency(time.monotonic() - start)
            observed = status
            return status

        ex.on_response(observe)  # registered last, so it runs first and sees the upstream status
        passive = self._passive
        server.inflight += 1
        try:
            await self._forward(ex, server)
        except asyncio.CancelledError:
            if ex.status == 0:
                trim_hooks(ex, mark)
            raise
        except BaseException as exc:
            if ex.status == 0:
                trim_hooks(ex, mark)
                # The error's status hint: a client that went away (499) is not the server's fault.
                if passive is not None and getattr(exc, "status", 502) >= 500:
                    passive.failure(server)
            elif passive is not None:
                self._judge(passive, server, observed)
            raise
        finally:
            server.inflight -= 1
        if passive is not None:
            self._judge(passive, server, observed)

    @staticmethod
    def _judge(passive: PassiveHealth, server: Server, status: int) -> None:
        if status >= 500:
            passive.failure(server)
        else:
            passive.success(server)

    def __repr__(self) -> str:
        up = sum(1 for s in self.servers if s.up)
        extras = ""
        if self._sticky is not None:
            extras += f" sticky={self._sticky.cookie.name}"
        if self._passive is not None:
            extras += " passive"
        if self.wants_health_check:
            extras += " healthCheck"
        return f"<LoadBalancer {self.name} {self.strategy} servers={len(self.servers)} up={up}{extras}>"


def build_load_balancer(
    name: str,
    servers: Sequence[ServerSpec],
    forward: Forward,
    *,
    strategy: str | None = "wrr",
    sticky: StickyCookie | None = None,
    health_check: HealthCheckConfig | None = None,
    passive: PassiveHealthConfig | None = None,
    registry: HealthRegistry | None = None,
    on_status: StatusCallback | None = None,
    ssl: SSLContext | bool | None = None,
    rng: random.Random | None = None,
    shuffle: bool = True,
) -> LoadBalancer:
    """Build a ``loadBalancer`` service handler.

    ``name`` is the qualified service name (it also seeds the default cookie name).  With a
    ``registry`` the :class:`Server` objects (and their health) come from it and survive graph
    swaps; ``health_check`` needs a registry (it runs the active checker).  ``ssl`` is used by the
    active checker for https servers.  Servers are shuffled (as Traefik does, so instances do not
    all start on the same server) unless ``shuffle`` is False; ``rng`` seeds shuffling and p2c.
    """
    try:
        strategy = normalize_strategy(strategy)
    except ValueError as exc:
        raise ServiceBuildError(str(exc)) from None
    if health_check is not None and registry is None:
        raise ServiceBuildError("an active health check needs a HealthRegistry")
    specs: list[ServerSpec] = []
    seen: set[str] = set()
    for spec in servers:
        # Traefik ignores non-positive weights (p2c does not use weights at all).
        if (spec.weight <= 0 and strategy != "p2c") or spec.url in seen:
            continue
        seen.add(spec.url)
        specs.append(spec)
    health_key: HealthKey | None = None
    if registry is not None:
        health_key = registry.key(name, health_check)
        members = registry.acquire(name, specs, health_check, on_status=on_status, ssl=ssl)
    else:
        members = [Server.from_spec(spec) for spec in specs]
        for server in members:
            server.on_change = on_status
    rng = rng if rng is not None else random.Random()
    ordered = list(members)
    if shuffle:
        rng.shuffle(ordered)
    table = None
    if sticky is not None:
        table = StickyTable(sticky.resolved(name), [(server.url, server) for server in ordered])
    return LoadBalancer(
        name,
        ordered,
        make_server_picker(strategy, ordered, rng),
        forward,
        strategy=strategy,
        sticky=table,
        passive=PassiveHealth(passive, has_active=health_check is not None) if passive is not None else None,
        wants_health_check=health_check is not None,
        health_key=health_key,
    )

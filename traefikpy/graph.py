"""The live routing graph, the switch that holds it, and the per-entrypoint root handler.

A :class:`Graph` is what :func:`traefikpy.compiler.compile_graph` builds from one merged
configuration: per entrypoint a routing table for plain and one for TLS connections, each
mapping to a :class:`Target` (the router's compiled chain).  Graphs are immutable once built.

:class:`Switch` holds the current graph in one attribute.  The root handler of an entrypoint reads
it once per request, so rebinding it is atomic on the loop and in-flight requests finish on the
graph they started with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from traefikpy.config.merge import Merged
from traefikpy.proxy.http import Exchange, Handler
from traefikpy.rules import RouteRequest, RoutingTable
from traefikpy.runtime import RuntimeState

log = logging.getLogger("traefikpy.graph")

NOT_FOUND = b"404 page not found\n"


class Target:
    """What a matched router runs: its qualified name and its compiled handler chain."""

    __slots__ = ("name", "handler", "service")

    def __init__(self, name: str, handler: Handler, service: str) -> None:
        self.name = name
        self.handler = handler
        self.service = service

    def __repr__(self) -> str:
        return f"<Target {self.name} -> {self.service}>"


@dataclass
class EntryPointRoutes:
    """The routers of one entrypoint: ``plain`` for non-TLS requests, ``secure`` for TLS ones."""

    plain: RoutingTable[Target]
    secure: RoutingTable[Target]


@dataclass
class Graph:
    merged: Merged
    routes: dict[str, EntryPointRoutes]
    state: RuntimeState
    generation: int = 0
    services: dict[str, Handler] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = {ep: (len(r.plain), len(r.secure)) for ep, r in self.routes.items()}
        return f"<Graph gen={self.generation} routes={sizes} state={self.state.counts()}>"


class Switch:
    """Holds the current :class:`Graph`; ``current`` is rebound atomically on each reload."""

    __slots__ = ("current", "generation")

    def __init__(self, graph: Graph) -> None:
        self.current = graph
        self.generation = graph.generation

    def swap(self, graph: Graph) -> Graph:
        old, self.current = self.current, graph
        self.generation = graph.generation
        return old


async def respond_unhandled(ex: Exchange, exc: BaseException) -> None:
    """Map an error that escaped a router's chain to a response, if nothing was sent yet."""
    from traefikpy.proxy.forward import respond_error

    if ex.status:
        raise exc  # the head is out: only closing the connection is left (the server does it)
    await respond_error(ex, exc)


def make_root(switch: Switch, entrypoint: str,
              observe: Callable[[Exchange, float, int], None] | None = None) -> Handler:
    """The root handler of one entrypoint: route by the current graph, run the router's chain.

    ``observe(exchange, seconds, response body bytes)`` (metrics, access log) runs after each
    request, 404s included; without it the root is the bare one.  The byte count is read from the
    connection's own writer, captured before the chain runs (middlewares may wrap ``ex.writer``).
    """
    root = _bare_root(switch, entrypoint)
    if observe is None:
        return root
    clock = time.perf_counter

    async def observed(ex: Exchange) -> None:
        start = clock()
        writer = ex.writer
        try:
            await root(ex)
        finally:
            try:
                observe(ex, clock() - start, getattr(writer, "bytes_sent", 0))
            except Exception:  # noqa: BLE001 - observers never break a request
                log.exception("request observer failed")

    return observed


def _bare_root(switch: Switch, entrypoint: str) -> Handler:
    async def root(ex: Exchange) -> None:
        routes = switch.current.routes.get(entrypoint)
        target = None
        if routes is not None:
            table = routes.plain if ex.tls is None else routes.secure
            target = table.lookup(RouteRequest(ex.method, ex.host, ex.raw_path.decode("latin-1"), ex.query,
                                               ex.headers, ex.client_ip))
        if target is None:
            await ex.respond(404, NOT_FOUND)
            return
        ex.router = target.name
        ex.service = target.service
        try:
            await target.handler(ex)
        except Exception as exc:  # noqa: BLE001 - per-request errors never escape to the server
            await respond_unhandled(ex, exc)

    return root

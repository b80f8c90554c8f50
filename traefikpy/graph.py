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
from traefikpy.proxy.h1body import EmptyBody
from traefikpy.proxy.http import Done, Exchange, Handler, TryFast, fast_of
from traefikpy.proxy.settle import continue_async, raise_later, respond_unhandled
from traefikpy.rules import RoutingTable
from traefikpy.runtime import RuntimeState

log = logging.getLogger("traefikpy.graph")

NOT_FOUND = b"404 page not found\n"
NO_ROUTE: Any = object()
"""``ex.route`` once the root routed the exchange and no router matched."""


class Target:
    """What a matched router runs: its qualified name and its compiled handler chain (with the
    chain's fast entry when it has one, see ``http.fast_of``)."""

    __slots__ = ("name", "handler", "service", "fast")

    def __init__(self, name: str, handler: Handler, service: str) -> None:
        self.name = name
        self.handler = handler
        self.service = service
        self.fast = fast_of(handler)

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


def make_root(switch: Switch, entrypoint: str,
              observe: Callable[[Exchange, float, int], None] | None = None) -> Handler:
    """The root handler of one entrypoint: route by the current graph, run the router's chain.

    ``observe(exchange, seconds, response body bytes)`` (metrics, access log) runs after each
    request, 404s included; without it the root is the bare one.  The byte count is read from the
    connection's own writer, captured before the chain runs (middlewares may wrap ``ex.writer``);
    the duration counts from the end of the request head (``ex.started``).

    The root has a fast attempt (``try_fast``, see ``http.TryFast``): it routes, and when the
    router's chain has a fast entry (``http.fast_of``) and the request has no body, runs it
    without a task; otherwise it returns False and the connection awaits the root as usual (the
    route found is kept in ``ex.route``).
    """
    root = _bare_root(switch, entrypoint)
    done: Done | None = None
    if observe is not None:
        bare = root
        clock = time.perf_counter

        def finished(ex: Exchange, start: float, writer: Any) -> None:
            try:
                observe(ex, clock() - start, getattr(writer, "bytes_sent", 0))
            except Exception:  # noqa: BLE001 - observers never break a request
                log.exception("request observer failed")

        def done_fast(ex: Exchange) -> None:  # (``finished`` inlined: one call less per request)
            try:
                observe(ex, clock() - ex.started, ex.writer.bytes_sent)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - observers never break a request
                log.exception("request observer failed")

        async def observed(ex: Exchange) -> None:
            writer = ex.writer
            start = ex.started or clock()  # (an Exchange built by hand may have no start)
            try:
                await bare(ex)
            finally:
                finished(ex, start, writer)

        root = observed
        done = done_fast
    root.try_fast = _fast_root(switch, entrypoint, done)  # type: ignore[attr-defined]
    return root


def _route(switch: Switch, entrypoint: str, ex: Exchange) -> Target | None:
    routes = switch.current.routes.get(entrypoint)
    if routes is None:
        return None
    table = routes.plain if ex.tls is None else routes.secure
    return table.lookup(ex)  # the exchange is routable (rules.request.Routable)


def _fast_root(switch: Switch, entrypoint: str, done: Done | None) -> TryFast:
    def fast(ex: Exchange) -> bool:
        target = _route(switch, entrypoint, ex)
        ex.route = target if target is not None else NO_ROUTE
        if target is None or target.fast is None or type(ex.body) is not EmptyBody or ex.upgrade:
            return False
        ex.router = target.name
        ex.service = target.service
        try:
            target.fast(ex, done)
        except Exception as exc:  # noqa: BLE001 - answered like an error of the async path
            continue_async(ex, raise_later(exc), done)
        return True

    return fast


def _bare_root(switch: Switch, entrypoint: str) -> Handler:
    async def root(ex: Exchange) -> None:
        target = ex.route
        if target is None:
            target = _route(switch, entrypoint, ex)
        elif target is NO_ROUTE:
            target = None
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

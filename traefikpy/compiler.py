"""compile(merged configuration) → Graph.  Pure in spirit: never raises, records errors instead.

For every HTTP router: resolve its entrypoints (explicit, else the default ones), parse its rule,
compile its middleware chain (entrypoint middlewares first, ``chain`` expanded, recursion
detected), resolve its service, and put a :class:`~traefikpy.graph.Target` into the routing table
of each entrypoint (the TLS table when the router or the entrypoint has ``tls``).  A broken router
is disabled with its errors; its neighbours keep working.  Internal routers (entrypoint
redirections, ``ping@internal``) are added the way Traefik adds them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from traefikpy.aio import TaskGroup
from traefikpy.config.merge import Merged, provider_of, qualify
from traefikpy.config.static import StaticConfig
from traefikpy.graph import EntryPointRoutes, Graph, Target
from traefikpy.internal import redirect_handler
from traefikpy.proxy.http import Handler, MiddlewareFactory
from traefikpy.rules import Route, RoutingTable, RuleError, parse_rule
from traefikpy.runtime import RuntimeState
from traefikpy.service_builder import ForwardFactory, ServiceBuilder, StatusSink
from traefikpy.services import HealthRegistry, ServiceBuildError

log = logging.getLogger("traefikpy.compiler")


MAX_PRIORITY = (1 << 63) - 1


@dataclass
class CompileContext:
    """Long-lived collaborators of the compiler (they outlive graphs)."""

    static: StaticConfig
    forward_for: ForwardFactory
    health: HealthRegistry
    tasks: TaskGroup
    middlewares: Mapping[str, MiddlewareFactory] = field(default_factory=dict)
    internal_services: dict[str, Handler] = field(default_factory=dict)
    internal_routes: Sequence[tuple[str, str, str, int, Handler]] = field(default_factory=list)
    """(entrypoint, router name, rule, priority, handler) added to every graph, e.g. ping."""
    on_status: StatusSink | None = None


class _ChainError(Exception):
    pass


class _MiddlewareContext:
    """The :class:`~traefikpy.proxy.http.BuildContext` given to one middleware factory call."""

    def __init__(self, compiler: _Compiler, middleware: str) -> None:
        self._compiler = compiler
        self._middleware = middleware

    def service(self, name: str) -> Handler:
        return self._compiler.services.get(qualify(name, provider_of(self._middleware)), self._middleware)

    def spawn(self, coro: Any, name: str) -> Any:
        return self._compiler.ctx.tasks.spawn(coro, f"{self._middleware}:{name}")


class _Compiler:
    def __init__(self, merged: Merged, ctx: CompileContext, state: RuntimeState) -> None:
        self.merged = merged
        self.ctx = ctx
        self.state = state
        http = merged.config.http
        self.middleware_configs: dict[str, Any] = dict(http.middlewares)
        self.services = ServiceBuilder(dict(http.services), state, ctx.forward_for, ctx.health,
                                       ctx.tasks, ctx.internal_services, ctx.on_status)
        eps = ctx.static.entry_points
        self.http_entrypoints = {n: ep for n, ep in eps.items() if ep.listen.protocol == "tcp"}
        flagged = [n for n, ep in self.http_entrypoints.items() if ep.as_default]
        self.default_entrypoints = sorted(flagged or self.http_entrypoints)

    # -- middlewares -----------------------------------------------------------------------
    def _expand(self, names: list[str], provider: str, router: str, stack: list[str]) -> list[tuple[str, Any]]:
        """Flatten middleware references (``chain`` inlined) into ``(qualified name, options)``."""
        out: list[tuple[str, Any]] = []
        for ref in names:
            name = qualify(ref, provider)
            if name in stack:
                cycle = " -> ".join([*stack[stack.index(name):], name])
                raise _ChainError(f"recursion detected in middlewares: {cycle}")
            config = self.middleware_configs.get(name)
            if config is None:
                raise _ChainError(f"middleware {name!r} does not exist")
            element = self.state.get("http", "middleware", name, config)
            element.add_user(router)
            problem = config.kind_problem()
            if problem is not None:
                element.add_error(problem)
            if element.status == "disabled":
                raise _ChainError(f"middleware {name!r} is disabled: {'; '.join(element.errors)}")
            kind = config.kind()
            if kind == "chain":
                try:
                    out += self._expand(list(config.chain.middlewares or []), provider_of(name), router,
                                        [*stack, name])
                except _ChainError as exc:
                    if str(exc).startswith("recursion"):
                        element.add_error(str(exc))
                    raise
            else:
                out.append((name, config))
        return out

    def _chain(self, names: list[tuple[str, Any]], service: Handler) -> Handler:
        handler = service
        for name, config in reversed(names):
            kind = config.kind()
            factory = self.ctx.middlewares.get(kind)
            if factory is None:
                raise _ChainError(f"middleware {name!r}: type {kind!r} is not supported")
            try:
                handler = factory(getattr(config, _attr(config, kind)), handler, name,
                                  _MiddlewareContext(self, name))
            except (ValueError, TypeError) as exc:
                self.state.get("http", "middleware", name).add_error(str(exc))
                raise _ChainError(f"middleware {name!r} is disabled: {exc}") from None
        return handler

    # -- routers ---------------------------------------------------------------------------
    def router(self, name: str, config: Any) -> list[tuple[str, bool, Route[Target]]]:
        element = self.state.get("http", "router", name, config)
        provider = provider_of(name)
        wanted = list(config.entry_points or []) or self.default_entrypoints
        eps = []
        for ep in wanted:
            if ep in self.http_entrypoints:
                eps.append(ep)
            else:
                element.add_error(f"entryPoint {ep!r} doesn't exist", critical=False)
        if not eps:
            element.add_error("no valid entryPoint for this router")
            return []
        element.using = sorted(eps)
        if not config.rule:
            element.add_error("router has no rule")
            return []
        try:
            rule = parse_rule(config.rule)
        except RuleError as exc:
            element.add_error(f"invalid rule: {exc}")
            return []
        if not config.service:
            element.add_error("the service is missing on the router")
            return []
        service_name = qualify(config.service, provider)
        try:
            service = self.services.get(service_name, name)
        except ServiceBuildError as exc:
            element.add_error(str(exc))
            return []
        out = []
        for ep in eps:
            ep_config = self.http_entrypoints[ep]
            ep_mw = list(ep_config.http.middlewares or []) if ep_config.http else []
            tls = config.tls is not None or (ep_config.http is not None and ep_config.http.tls is not None)
            try:
                chain = self._expand(ep_mw, provider, name, []) + self._expand(
                    list(config.middlewares or []), provider, name, [])
                handler = self._chain(chain, service)
            except _ChainError as exc:
                element.add_error(str(exc))
                return []
            out.append((ep, tls, Route(name, rule, config.priority or 0, Target(name, handler, service_name))))
        return out

    def internal_routes(self) -> list[tuple[str, bool, Route[Target]]]:
        out: list[tuple[str, bool, Route[Target]]] = []
        for ep_name, ep in self.http_entrypoints.items():
            redirect = ep.http.redirections.entry_point if ep.http and ep.http.redirections else None
            if redirect is None:
                continue
            name = f"{ep_name}-to-{redirect.to.lstrip(':')}@internal"
            target_ep = self.ctx.static.entry_points.get(redirect.to)
            port = target_ep.listen.port if target_ep is not None else int(redirect.to.lstrip(":") or 0)
            handler = redirect_handler(redirect.scheme, port, redirect.permanent)
            rule = parse_rule("HostRegexp(`^.+$`)")
            self.state.get("http", "router", name, None).using = [ep_name]
            out.append((ep_name, False, Route(name, rule, redirect.priority, Target(name, handler, "noop@internal"))))
        for ep_name, name, rule_text, priority, handler in self.ctx.internal_routes:
            if ep_name not in self.http_entrypoints:
                continue
            self.state.get("http", "router", name, None).using = [ep_name]
            route = Route(name, parse_rule(rule_text), priority, Target(name, handler, name))
            out.append((ep_name, False, route))
            out.append((ep_name, True, route))
        return out


def _attr(config: Any, kind: str) -> str:
    """Python attribute of the middleware option whose alias is ``kind``."""
    for fname, finfo in type(config).model_fields.items():
        if (finfo.alias or fname) == kind:
            return str(fname)
    return kind


def compile_graph(merged: Merged, ctx: CompileContext, generation: int = 0) -> Graph:
    """Build the graph of ``merged``.  Never raises: problems go into the graph's RuntimeState."""
    state = RuntimeState()
    for key, messages in merged.errors.items():
        section, _, rest = key.partition(".")
        kind_plural, _, name = rest.partition(".")
        if section in ("http", "tcp", "udp") and name:
            element = state.get(section, kind_plural.rstrip("s"), name)
            for message in messages:
                element.add_error(message)
        else:
            state.errors.extend(f"{key}: {m}" for m in messages)
    compiler = _Compiler(merged, ctx, state)
    buckets: dict[tuple[str, bool], list[Route[Target]]] = {}
    for name, router in merged.config.http.routers.items():
        try:
            entries = compiler.router(name, router)
        except Exception as exc:  # a compiler bug must disable one router, not the reload
            log.exception("compiling router %s failed", name)
            state.get("http", "router", name, router).add_error(f"internal error: {exc}")
            continue
        for ep, tls, route in entries:
            buckets.setdefault((ep, tls), []).append(route)
    for ep, tls, route in compiler.internal_routes():
        buckets.setdefault((ep, tls), []).append(route)
    routes = {
        ep: EntryPointRoutes(RoutingTable(buckets.get((ep, False), [])), RoutingTable(buckets.get((ep, True), [])))
        for ep in compiler.http_entrypoints
    }
    for name, middleware in merged.config.http.middlewares.items():
        state.get("http", "middleware", name, middleware)
    for name, service in merged.config.http.services.items():
        state.get("http", "service", name, service)
    return Graph(merged, routes, state, generation, services=dict(compiler.services.built))

"""Compiling HTTP services (loadBalancer, weighted, mirroring, failover) into handlers.

Part of the compiler: one :class:`ServiceBuilder` per compile.  It builds each service at most once,
detects reference cycles between services, qualifies references relative to the provider of the
service that holds them, and records every error on the element it touches.  The forward step of
load balancers (upstream pools, serversTransports) comes from the context, so services stay
independent of the proxy's I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from traefikpy.aio import TaskGroup
from traefikpy.config.base import dump
from traefikpy.config.merge import provider_of, qualify
from traefikpy.proxy.http import Handler
from traefikpy.runtime import RuntimeState
from traefikpy.services import (
    FailoverErrors,
    Forward,
    HealthCheckConfig,
    HealthRegistry,
    PassiveHealthConfig,
    ServerSpec,
    ServiceBuildError,
    StickyCookie,
    build_failover,
    build_highest_random_weight,
    build_load_balancer,
    build_mirroring,
    build_weighted,
)

ForwardFactory = Callable[[str, Any], Forward]
"""``(qualified service name, loadBalancer model) -> forward step`` (pools, transport, host header)."""

StatusSink = Callable[[str, str, bool], None]
"""``(service, server url, up)``: server health changes, for serverStatus and metrics."""


class ServiceBuilder:
    def __init__(
        self,
        services: dict[str, Any],
        state: RuntimeState,
        forward_for: ForwardFactory,
        health: HealthRegistry,
        tasks: TaskGroup,
        internal: dict[str, Handler],
        on_status: StatusSink | None = None,
    ) -> None:
        self.configs = services
        self.state = state
        self.forward_for = forward_for
        self.health = health
        self.tasks = tasks
        self.internal = internal
        self.on_status = on_status
        self.built: dict[str, Handler] = {}
        self.failed: set[str] = set()
        self._stack: list[str] = []

    def get(self, name: str, user: str) -> Handler:
        """The handler of service ``name`` (qualified) for ``user`` (a router or service name).

        Raises ``ServiceBuildError`` with a message for the user's error list when the service is
        missing, broken or part of a cycle; the service's own error is recorded on the service.
        """
        if name in self.internal:
            return self.internal[name]
        config = self.configs.get(name)
        if config is None:
            raise ServiceBuildError(f"the service {name!r} does not exist")
        element = self.state.get("http", "service", name, config)
        element.add_user(user)
        if name in self.built:
            return self.built[name]
        if name in self.failed:
            raise ServiceBuildError(f"the service {name!r} is disabled: {'; '.join(element.errors)}")
        if name in self._stack:
            cycle = " -> ".join([*self._stack[self._stack.index(name):], name])
            raise ServiceBuildError(f"recursion detected in services: {cycle}")
        self._stack.append(name)
        try:
            handler = self._build(name, config)
        except ServiceBuildError as exc:
            self.failed.add(name)
            element.add_error(str(exc))
            raise ServiceBuildError(f"the service {name!r} is disabled: {exc}") from None
        finally:
            self._stack.pop()
        self.built[name] = handler
        return handler

    def _child(self, ref: str, parent: str) -> Handler:
        return self.get(qualify(ref, provider_of(parent)), parent)

    def _build(self, name: str, config: Any) -> Handler:
        problem = config.kind_problem()
        if problem is not None:
            raise ServiceBuildError(problem)
        kind = next(k for k in ("load_balancer", "weighted", "mirroring", "failover", "highest_random_weight")
                    if getattr(config, k, None) is not None)
        spec = getattr(config, kind)
        raw = dump(spec)
        if kind == "load_balancer":
            return self._load_balancer(name, spec, raw)
        if kind == "weighted":
            children = [(qualify(c.name, provider_of(name)), self._child(c.name, name), c.weight)
                        for c in spec.services or []]
            return build_weighted(name, children, sticky=StickyCookie.from_mapping(raw.get("sticky")),
                                  health_check=spec.health_check is not None)
        if kind == "highest_random_weight":
            children = [(qualify(c.name, provider_of(name)), self._child(c.name, name), c.weight)
                        for c in spec.services or []]
            return build_highest_random_weight(name, children, health_check=spec.health_check is not None)
        if kind == "mirroring":
            main = self._child(spec.service, name)
            mirrors = [(qualify(m.name, provider_of(name)), self._child(m.name, name), m.percent)
                       for m in spec.mirrors or []]
            return build_mirroring(name, main, mirrors, mirror_body=spec.mirror_body,
                                   max_body_size=spec.max_body_size if spec.max_body_size is not None else -1,
                                   health_check=spec.health_check is not None, tasks=self.tasks)
        main = self._child(spec.service, name)
        fallback = self._child(spec.fallback, name)
        return build_failover(name, main, fallback, health_check=spec.health_check is not None,
                              errors=FailoverErrors.from_mapping(raw.get("errors")))

    def _load_balancer(self, name: str, spec: Any, raw: dict[str, Any]) -> Handler:
        servers = [ServerSpec.from_mapping(s) for s in raw.get("servers") or []]
        element = self.state.get("http", "service", name)
        for server in servers:
            element.server_status.setdefault(server.url, "UP")

        def on_status(url: str, up: bool) -> None:
            element.server_status[url] = "UP" if up else "DOWN"
            if self.on_status is not None:
                self.on_status(name, url, up)

        try:
            forward = self.forward_for(name, spec)
        except ValueError as exc:
            raise ServiceBuildError(str(exc)) from None
        return build_load_balancer(
            name,
            servers,
            forward,
            strategy=spec.strategy,
            sticky=StickyCookie.from_mapping(raw.get("sticky")),
            health_check=HealthCheckConfig.from_mapping(raw.get("healthCheck")),
            passive=PassiveHealthConfig.from_mapping(raw.get("passiveHealthCheck")),
            registry=self.health,
            on_status=on_status,
        )

"""The composition root: the only module that imports ``providers`` and ``middlewares``.

Wires providers → aggregator → compile → switch, the entrypoints, the internal handlers (ping),
signals and graceful shutdown (stop accepting → finish in-flight within ``graceTimeOut`` → close).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine, Mapping
from typing import Any

from traefikpy.accesslog import AccessLog
from traefikpy.acme import CertResolvers
from traefikpy.aggregator import Aggregator
from traefikpy.aio import TaskGroup
from traefikpy.api import api_internals
from traefikpy.compiler import MAX_PRIORITY, CompileContext, compile_graph
from traefikpy.config.decode import ConfigError, Problem
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import Merged
from traefikpy.config.static import StaticConfig
from traefikpy.dataplane import Forwarding, entrypoint_settings, transports
from traefikpy.graph import Graph, Switch, make_root
from traefikpy.internal import Ping, noop
from traefikpy.metrics import MetricsHandler, PrometheusMetrics
from traefikpy.observability import health_checked_servers, observer
from traefikpy.provider import Provider
from traefikpy.proxy.entrypoint import EntryPointServer
from traefikpy.proxy.http import Handler, MiddlewareFactory
from traefikpy.proxy.upstream import Upstreams
from traefikpy.services import HealthRegistry
from traefikpy.tls import TLSEntryPoint, TLSManager, misdirected_check

log = logging.getLogger("traefikpy")


def build_providers(static: StaticConfig) -> list[Provider]:
    """The providers the static configuration enables.  Raises ValueError for a provider whose
    settings cannot work (bad defaultRule template, constraints expression, TLS files)."""
    from providers import consul, consul_catalog, docker, etcd, http, redis
    from providers.file import FileProvider

    out: list[Provider] = []
    cfg = static.providers
    if cfg.file is not None:
        out.append(FileProvider(filename=cfg.file.filename or None, directory=cfg.file.directory or None,
                                watch=cfg.file.watch))
    if cfg.docker is not None:
        out.append(docker.from_static(cfg.docker))
    if cfg.etcd is not None:
        out.append(etcd.from_static(cfg.etcd))
    if cfg.consul is not None:
        out.extend(consul.all_from_static(cfg.consul))
    if cfg.consul_catalog is not None:
        out.extend(consul_catalog.all_from_static(cfg.consul_catalog))
    if cfg.redis is not None:
        out.append(redis.from_static(cfg.redis))
    if cfg.http is not None:
        out.append(http.from_static(cfg.http))
    if cfg.kubernetes_ingress is not None:
        from providers import kubernetes_ingress

        out.append(kubernetes_ingress.from_static(cfg.kubernetes_ingress))
    for name in cfg.unsupported():
        log.warning("providers.%s is not supported by this version of traefikpy and is ignored", name)
    return out


def middleware_registry() -> Mapping[str, MiddlewareFactory]:
    from middlewares import REGISTRY

    return REGISTRY


def check_dynamic(filename: str | None, directory: str | None) -> list[Problem]:
    """Every problem of the file provider's files (``traefikpy check``): each file on its own (a
    broken file does not hide the mistakes of another), then rules and same-name conflicts."""
    from providers.file import FileProvider, load_one
    from traefikpy.config.merge import merge_sources
    from traefikpy.rules import RuleError, parse_rule

    try:
        paths = FileProvider(filename=filename, directory=directory, watch=False).paths()
    except ValueError as exc:
        return [Problem("providers.file", str(exc), "static")]
    problems: list[Problem] = []
    parts: list[tuple[str, DynamicConfig]] = []
    for path in paths:
        try:
            config, locator = load_one(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        parts.append((str(path), config))
        for name, router in config.http.routers.items():
            if not router.rule:
                continue
            try:
                parse_rule(router.rule)
            except RuleError as err:
                problems.append(Problem(f"http.routers.{name}.rule", str(err), str(path),
                                        locator.line(("http", "routers", name, "rule"))))
    for key, messages in merge_sources(parts).errors.items():
        problems.extend(Problem(key, m, "file") for m in messages)
    return problems


class App:
    """One running router: entrypoints, providers, aggregator, the switch and its graphs."""

    def __init__(
        self,
        static: StaticConfig,
        providers: list[Provider] | None = None,
        middlewares: Mapping[str, MiddlewareFactory] | None = None,
    ) -> None:
        self.static = static
        self.tasks = TaskGroup("app")
        self.upstreams = Upstreams()
        self.upstreams.configure(transports(static, Merged(DynamicConfig())))
        self.health = HealthRegistry()
        ping = static.ping
        self.ping = Ping(ping.terminating_status_code) if ping is not None else None
        internal_routes: list[tuple[str, str, str, int, Handler]] = []
        if ping is not None and self.ping is not None and not ping.manual_routing:
            internal_routes.append((ping.entry_point, "ping@internal", "PathPrefix(`/ping`)", MAX_PRIORITY, self.ping))
        internal_services: dict[str, Any] = {"noop@internal": noop}
        if self.ping is not None:
            internal_services["ping@internal"] = self.ping
        # api@internal / dashboard@internal, and their routers on "traefik" with api.insecure
        api_services, api_routes = api_internals(static, lambda: self.switch.current, internal_services)
        internal_services.update(api_services)
        internal_routes.extend(api_routes)
        # prometheus@internal, and its /metrics router unless manualRouting
        prom = static.metrics.prometheus if static.metrics is not None else None
        self.metrics: PrometheusMetrics | None = None
        if prom is not None and static.metrics is not None:
            self.metrics = PrometheusMetrics(prom, self._open_connections, static.metrics.add_internals)
            internal_services["prometheus@internal"] = MetricsHandler(self.metrics)
            if not prom.manual_routing:
                internal_routes.append((prom.entry_point, "prometheus@internal", "PathPrefix(`/metrics`)",
                                        MAX_PRIORITY, internal_services["prometheus@internal"]))
        # ACME resolvers: acme-http@internal on each httpChallenge entry point
        self.acme = CertResolvers(static)
        internal_routes.extend(self.acme.internal_routes(MAX_PRIORITY))
        self.access_log = AccessLog(static.access_log) if static.access_log is not None else None
        self.observe = observer(self.metrics, self.access_log)
        self.ctx = CompileContext(
            static=static,
            forward_for=Forwarding(self.upstreams),
            health=self.health,
            tasks=self.tasks,
            middlewares=middleware_registry() if middlewares is None else middlewares,
            internal_services=internal_services,
            internal_routes=internal_routes,
            on_status=self.metrics.server_status if self.metrics is not None else None,
        )
        self.generation = 0
        self.switch = Switch(compile_graph(Merged(DynamicConfig()), self.ctx))
        self.tls = TLSManager(static)  # certificates and TLS options; swapped with each graph
        self.tls.acme_challenge = self.acme.alpn_context  # TLS-ALPN-01 (acme-tls/1) handshakes
        # the resolvers are providers too: their certificates arrive as tls.certificates
        self.providers = [*(build_providers(static) if providers is None else providers), *self.acme.resolvers]
        throttle = static.providers.providers_throttle_duration if static.providers else 2.0
        self.aggregator = Aggregator(self.providers, throttle=throttle)
        self.entrypoints: dict[str, EntryPointServer] = {}
        self.reloads = 0
        self.stopping = asyncio.Event()

    @property
    def graph(self) -> Graph:
        return self.switch.current

    def apply(self, merged: Merged) -> Graph:
        """Compile ``merged`` and swap it in; the old graph finishes its in-flight requests."""
        self.generation += 1
        self.upstreams.configure(transports(self.static, merged))
        graph = compile_graph(merged, self.ctx, self.generation)
        self.tls.update(merged, graph.state)
        self.switch.swap(graph)
        self.acme.routers_changed(merged, self.tls.current.store.match)
        self.health.reconcile()
        self.health.start()
        self.reloads += 1
        if self.metrics is not None:
            http = merged.config.http
            self.metrics.reloaded({*http.routers, *(r[1] for r in self.ctx.internal_routes)},
                                  {*http.services, *self.ctx.internal_services})
            self.metrics.set_certificates(c.cert_pem for c in self.tls.current.store.certificates())
            self.metrics.sync_servers(health_checked_servers(merged, graph.state))
        counts = graph.state.counts()
        log.info("configuration %d applied: %d routers, %d disabled elements", self.generation,
                 sum(len(r.plain) + len(r.secure) for r in graph.routes.values()), counts["disabled"])
        return graph

    async def _apply_loop(self) -> None:
        async for merged in self.aggregator.merged():
            try:
                self.apply(merged)
            except Exception:  # the last good graph keeps serving
                log.exception("applying configuration failed; last good configuration kept")

    async def start(self) -> None:
        for name, ep in self.static.entry_points.items():
            if ep.listen.protocol != "tcp":
                log.warning("entrypoint %s: UDP entrypoints are not supported yet", name)
                continue
            # Every entry point answers TLS and plain HTTP on its port (first-byte peek).
            root = misdirected_check(self.tls, name, make_root(self.switch, name, self.observe))
            server = TLSEntryPoint(entrypoint_settings(name, ep), root, self.tls)
            await server.start()
            self.entrypoints[name] = server
            log.info("entrypoint %s listening on %s", name,
                     ", ".join(f"{host}:{port}" for host, port in server.addresses))
        if self.access_log is not None:  # log rotation: SIGUSR1 reopens the access log file
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self.access_log.reopen)
        self.health.start()
        await self.acme.start()
        await self.aggregator.start()
        self.tasks.spawn(self._apply_loop(), "apply")

    def _open_connections(self) -> dict[str, int]:
        return {name: server.open_connections for name, server in self.entrypoints.items()}

    def port(self, entrypoint: str) -> int:
        """The bound port of an entrypoint (useful with port 0)."""
        return self.entrypoints[entrypoint].port

    async def stop(self) -> None:
        if self.ping is not None:
            self.ping.terminating = True
        await asyncio.gather(*(server.stop() for server in self.entrypoints.values()))
        await self.aggregator.close()
        await self.acme.close()
        await self.tasks.close()
        await self.health.close()
        await self.upstreams.close()
        if self.access_log is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
            self.access_log.close()

    async def __aenter__(self) -> App:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def run_app(static: StaticConfig) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully."""
    try:
        app = App(static)
    except ValueError as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(1) from None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await app.start()
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await app.stop()


def run_loop(coro: Coroutine[Any, Any, None]) -> int:
    """Run ``coro`` on uvloop (the data plane's event loop); 0 on a clean exit."""
    try:
        import uvloop

        uvloop.run(coro)
    except KeyboardInterrupt:
        pass
    return 0


def serve(static: StaticConfig) -> int:
    return run_loop(run_app(static))


__all__ = ["App", "build_providers", "check_dynamic", "run_app", "run_loop", "serve"]

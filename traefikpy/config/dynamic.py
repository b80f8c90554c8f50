"""The dynamic (routing) configuration: :class:`DynamicConfig` and its ``http`` section (routers,
services, servers transports; middlewares live in ``middleware_options``, TCP/UDP in ``tcp``, the
``tls`` section in ``tls``).

Key names and defaults are Traefik v3's (``pkg/config/dynamic/http_config.go``, the routers,
services and servers-transport references).  Every section is present (empty by default), so
``config.http.routers`` always works.  A ``null`` left in YAML (``routers:`` with nothing under it)
means "unset", as in Traefik.  Load-balancer strategies are accepted in any case and stored in
lower case; ``leastconn`` and ``iphash`` are traefikpy additions to Traefik's ``wrr``, ``p2c``,
``hrw`` and ``leasttime``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from traefikpy.config.base import Duration, Model
from traefikpy.config.middleware_options import Middleware, exactly_one
from traefikpy.config.tcp import ServiceHealthCheck, TCPConfig, UDPConfig, WeightedRef
from traefikpy.config.tls import Certificate, Domain, Spiffe, TLSConfig

__all__ = [
    "STRATEGIES", "Cookie", "DynamicConfig", "Failover", "FailoverErrors", "ForwardingTimeouts",
    "HTTPConfig", "HighestRandomWeight", "LoadBalancer", "MirrorRef", "Mirroring", "PassiveHealthCheck",
    "ResponseForwarding", "Router", "RouterObservability", "RouterTLS", "Server", "ServerHealthCheck",
    "ServersTransport", "Service", "Sticky", "Weighted",
]

STRATEGIES = ("wrr", "p2c", "hrw", "leasttime", "leastconn", "iphash")
"""Load-balancing strategies, lower case (the last two are traefikpy additions)."""


class _Base(Model):
    # YAML/TOML numbers given for text keys are text to Traefik's decoder too.
    model_config = ConfigDict(coerce_numbers_to_str=True)


# -- routers ------------------------------------------------------------------------------------


class RouterTLS(_Base):
    """TLS of an HTTP router; its presence makes the router serve HTTPS only."""

    options: str = Field("", description="Name of the TLS option set; empty uses default.")
    cert_resolver: str = Field("", description="Certificate resolver that obtains certificates for the router.")
    domains: list[Domain] = Field(default_factory=list, description="Domains to get certificates for (instead of the rule's Host).")


class RouterObservability(_Base):
    """Per-router switches over the entry point's observability settings."""

    access_logs: bool | None = Field(None, description="Write access logs; unset follows the entry point.")
    metrics: bool | None = Field(None, description="Record metrics; unset follows the entry point.")
    tracing: bool | None = Field(None, description="Trace requests; unset follows the entry point.")
    trace_verbosity: str = Field("minimal", description="Tracing detail: minimal or detailed.")


class Router(_Base):
    """Matches HTTP requests with a rule and sends them through middlewares to a service."""

    entry_points: list[str] = Field(default_factory=list, description="Entry points served; empty means all default entry points.")
    middlewares: list[str] = Field(default_factory=list, description="Middlewares applied in order.")
    service: str = Field("", description="Target service name.")
    rule: str = Field("", description="Match rule, e.g. Host(`example.com`) && PathPrefix(`/api`).")
    rule_syntax: str = Field("", description="Deprecated rule syntax selector (v2 or v3); accepted and ignored.")
    priority: int = Field(0, description="Ordering among matching routers; 0 means the rule length.")
    tls: RouterTLS | None = Field(None, description="TLS settings; presence makes the router HTTPS-only.")
    observability: RouterObservability | None = Field(None, description="Access log, metrics and tracing switches.")
    parent_refs: list[str] = Field(default_factory=list, description="Parent routers (multi-layer routing); a child only sees requests its parents matched.")


# -- services -----------------------------------------------------------------------------------


class Server(_Base):
    """An HTTP backend."""

    url: str = Field("", description="Server URL, e.g. http://10.0.0.1:8080 (h2c:// for cleartext HTTP/2).")
    weight: int = Field(1, description="Relative share of the traffic (wrr, p2c, hrw).")
    preserve_path: bool = Field(False, description="Keep the path of url in front of the request path.")


class Cookie(_Base):
    """Sticky-session cookie."""

    name: str = Field("", description="Cookie name; empty derives one from the service name.")
    secure: bool = Field(False, description="Send the cookie over HTTPS only.")
    http_only: bool = Field(False, description="Hide the cookie from scripts.")
    same_site: str = Field("", description="SameSite attribute: none, lax or strict; empty omits the attribute.")
    max_age: int = Field(0, description="Seconds until expiry; 0 is a session cookie, negative expires at once.")
    path: str = Field("/", description="Path attribute.")
    domain: str = Field("", description="Domain attribute.")


class Sticky(_Base):
    """Session affinity."""

    cookie: Cookie | None = Field(None, description="Pin clients to a server with a cookie.")


class ServerHealthCheck(_Base):
    """Active HTTP (or gRPC) health check of each server."""

    scheme: str = Field("", description="Scheme of the check; empty uses the server's.")
    mode: str = Field("http", description="http, or grpc for the gRPC health protocol.")
    path: str = Field("", description="Request path of the check.")
    method: str = Field("", description="Request method; empty is GET.")
    status: int = Field(0, description="Expected status; 0 accepts any 2xx or 3xx.")
    port: int = Field(0, description="Port to check instead of the server's.")
    interval: Duration = Field(30.0, description="Time between checks of a healthy server.")
    unhealthy_interval: Duration | None = Field(None, description="Time between checks of an unhealthy server; unset uses interval.")
    timeout: Duration = Field(5.0, description="Time allowed for a check.")
    hostname: str = Field("", description="Host header of the check.")
    follow_redirects: bool = Field(True, description="Follow redirects returned by the check.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers of the check.")


class PassiveHealthCheck(_Base):
    """Marks a server unhealthy after failed requests, without probes."""

    failure_window: Duration = Field(10.0, description="Window in which failures are counted; also how long the server stays out.")
    max_failed_attempts: int = Field(1, description="Failures within the window that mark the server unhealthy.")


class ResponseForwarding(_Base):
    """How responses are streamed to clients."""

    flush_interval: Duration = Field(0.1, description="Flush interval of response bodies; negative flushes every write (streams always flush).")


class LoadBalancer(_Base):
    """Balances requests over servers."""

    servers: list[Server] = Field(default_factory=list, description="Servers to balance over.")
    strategy: str = Field("wrr", description="wrr, p2c, hrw or leasttime (Traefik); leastconn or iphash (traefikpy). Any case.")
    sticky: Sticky | None = Field(None, description="Session affinity.")
    health_check: ServerHealthCheck | None = Field(None, description="Active health check of the servers.")
    passive_health_check: PassiveHealthCheck | None = Field(None, description="Passive health check from request failures.")
    pass_host_header: bool = Field(True, description="Forward the client's Host header (false sends the server's host).")
    response_forwarding: ResponseForwarding = Field(default_factory=ResponseForwarding, description="Response streaming settings.")
    servers_transport: str = Field("", description="Name of the servers transport; empty uses the static default.")

    @field_validator("strategy", mode="before")
    @classmethod
    def _known_strategy(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in STRATEGIES:
            return value.lower()
        raise ValueError(f"unknown load-balancing strategy {value!r} (expected one of {', '.join(STRATEGIES)})")


class Weighted(_Base):
    """Weighted round-robin over services (canary, blue/green)."""

    services: list[WeightedRef] = Field(default_factory=list, description="Child services and weights.")
    sticky: Sticky | None = Field(None, description="Pin clients to a child service with a cookie.")
    health_check: ServiceHealthCheck | None = Field(None, description="Skip unhealthy children and report health upwards.")


class HighestRandomWeight(_Base):
    """Consistent hashing of the client IP over services, weighted."""

    services: list[WeightedRef] = Field(default_factory=list, description="Child services and weights.")
    health_check: ServiceHealthCheck | None = Field(None, description="Skip unhealthy children and report health upwards.")


class MirrorRef(_Base):
    """A service that receives a copy of some requests."""

    name: str = Field("", description="Name of the mirror service.")
    percent: int = Field(0, description="Share of requests copied to it (0-100).")


class Mirroring(_Base):
    """Sends requests to a main service and copies a share to mirrors (their answers are dropped)."""

    service: str = Field("", description="Main service, whose response is returned.")
    mirror_body: bool = Field(True, description="Copy request bodies to the mirrors.")
    max_body_size: int = Field(-1, description="Largest body mirrored; larger requests are not mirrored. -1 is no limit.")
    mirrors: list[MirrorRef] = Field(default_factory=list, description="Mirror services and their shares.")
    health_check: ServiceHealthCheck | None = Field(None, description="Report the main service's health upwards.")


class FailoverErrors(_Base):
    """Responses of the main service that send the request to the fallback."""

    status: list[str] = Field(default_factory=list, description="Statuses that trigger failover: 500, 500-504...")
    max_request_body_bytes: int = Field(-1, description="Largest request body kept to replay on the fallback; -1 is no limit.")


class Failover(_Base):
    """Uses a fallback service while the main one is unhealthy (or answers a listed error)."""

    service: str = Field("", description="Main service.")
    fallback: str = Field("", description="Service used while the main one is down.")
    health_check: ServiceHealthCheck | None = Field(None, description="Report health upwards.")
    errors: FailoverErrors | None = Field(None, description="Also fail over on these responses.")


class Service(_Base):
    """A named HTTP service: exactly one of the service kinds."""

    load_balancer: LoadBalancer | None = Field(None, description="Balance over servers.")
    weighted: Weighted | None = Field(None, description="Balance over services by weight.")
    mirroring: Mirroring | None = Field(None, description="Mirror traffic to other services.")
    failover: Failover | None = Field(None, description="Fall back to another service.")
    highest_random_weight: HighestRandomWeight | None = Field(None, description="Hash clients over services.")

    def kind_problem(self) -> str | None:
        """Why this service cannot be built (not exactly one kind), or None."""
        return exactly_one(self, "a service")


# -- servers transports -------------------------------------------------------------------------


class ForwardingTimeouts(_Base):
    """Timeouts of requests forwarded to servers."""

    dial_timeout: Duration = Field(30.0, description="Time to establish a connection; 0 is none.")
    response_header_timeout: Duration = Field(0.0, description="Time to wait for response headers after the request is sent; 0 is none.")
    idle_conn_timeout: Duration = Field(90.0, description="How long an idle keep-alive connection stays pooled.")
    read_idle_timeout: Duration = Field(0.0, description="HTTP/2: ping after this long without frames; 0 disables.")
    ping_timeout: Duration = Field(15.0, description="HTTP/2: close the connection when a ping gets no answer in this time.")


class ServersTransport(_Base):
    """How HTTP servers are reached (TLS, pooling, timeouts)."""

    server_name: str = Field("", description="SNI (and certificate name) used with servers.")
    insecure_skip_verify: bool = Field(False, description="Do not verify servers' certificates.")
    root_cas: list[str] = Field(default_factory=list, alias="rootCAs", description="CA certificates (paths or PEM) trusted for servers.")
    certificates: list[Certificate] = Field(default_factory=list, description="Client certificates for mutual TLS.")
    cipher_suites: list[str] = Field(default_factory=list, description="Allowed cipher suites (Go names); empty is the default set.")
    min_version: str = Field("", description="Lowest TLS version (e.g. VersionTLS12); empty is the default.")
    max_version: str = Field("", description="Highest TLS version; empty is the newest.")
    max_idle_conns_per_host: int = Field(200, description="Idle keep-alive connections kept per server.")
    forwarding_timeouts: ForwardingTimeouts = Field(default_factory=ForwardingTimeouts, description="Timeouts of forwarded requests.")
    disable_http2: bool = Field(False, alias="disableHTTP2", description="Never use HTTP/2 with servers.")
    peer_cert_uri: str = Field("", alias="peerCertURI", description="URI SAN the server certificate must hold.")
    spiffe: Spiffe | None = Field(None, description="Verify servers with SPIFFE.")


# -- top level ----------------------------------------------------------------------------------


class HTTPConfig(_Base):
    """The dynamic ``http`` section."""

    routers: dict[str, Router] = Field(default_factory=dict, description="Named HTTP routers.")
    services: dict[str, Service] = Field(default_factory=dict, description="Named HTTP services.")
    middlewares: dict[str, Middleware] = Field(default_factory=dict, description="Named HTTP middlewares.")
    servers_transports: dict[str, ServersTransport] = Field(default_factory=dict, description="Named servers transports.")


def _drop_nulls(value: Any) -> Any:
    """``value`` with every mapping entry whose value is None removed, at any depth."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


class DynamicConfig(_Base):
    """A full dynamic configuration, as one provider (or the merge of all) publishes it."""

    http: HTTPConfig = Field(default_factory=HTTPConfig, description="HTTP routers, services, middlewares and transports.")
    tcp: TCPConfig = Field(default_factory=TCPConfig, description="TCP routers, services, middlewares and transports.")
    udp: UDPConfig = Field(default_factory=UDPConfig, description="UDP routers and services.")
    tls: TLSConfig = Field(default_factory=TLSConfig, description="Certificates, TLS options and certificate stores.")

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_unset(cls, data: Any) -> Any:
        # YAML turns ``routers:`` (nothing below) into None; Traefik's file decoder skips null
        # values (paerser ``decodeRaw``), so they mean "not set" here too, header maps included.
        return _drop_nulls(data) if isinstance(data, dict) else data

    @classmethod
    def of(cls, **sections: Any) -> DynamicConfig:
        """Validate a configuration from Traefik-form sections: ``DynamicConfig.of(http={...})``."""
        return cls.model_validate(sections)

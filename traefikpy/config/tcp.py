"""The dynamic ``tcp`` and ``udp`` sections: routers, services, TCP middlewares and TCP servers
transports, plus :class:`ServiceHealthCheck`, the empty "propagate health" marker that HTTP and TCP
parent services share.

Names and defaults follow Traefik v3 (``pkg/config/dynamic/tcp_config.go``, ``udp_config.go``,
``tcp_middlewares.go`` and the TCP/UDP routing reference).  A service and a TCP middleware each
hold exactly one kind; the message names the keys found.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from traefikpy.config.base import Duration, Model
from traefikpy.config.middleware_options import exactly_one
from traefikpy.config.tls import Certificate, Domain, Spiffe

__all__ = [
    "ProxyProtocol", "ServiceHealthCheck", "TCPConfig", "TCPInFlightConn", "TCPIPAllowList",
    "TCPLoadBalancer", "TCPMiddleware", "TCPRouter", "TCPRouterTLS", "TCPServer", "TCPServerHealthCheck",
    "TCPService", "TCPServersTransport", "TCPTransportTLS", "TCPWeighted", "UDPConfig",
    "UDPLoadBalancer", "UDPRouter", "UDPServer", "UDPService", "UDPWeighted", "WeightedRef",
]


class _Base(Model):
    # YAML/TOML numbers given for text keys are text to Traefik's decoder too.
    model_config = ConfigDict(coerce_numbers_to_str=True)


class ServiceHealthCheck(_Base):
    """Empty on purpose: its presence makes a parent service (weighted, mirroring, failover) track
    its children's health and report changes upwards."""


class WeightedRef(_Base):
    """A child service of a weighted service."""

    name: str = Field("", description="Name of the child service.")
    weight: int = Field(1, description="Relative share of the traffic.")


# -- TCP ----------------------------------------------------------------------------------------


class TCPRouterTLS(_Base):
    """TLS of a TCP router: terminate with a certificate, or pass the encrypted bytes through."""

    passthrough: bool = Field(False, description="Forward the TLS connection as is (routing by SNI only).")
    options: str = Field("", description="Name of the TLS option set; empty uses default.")
    cert_resolver: str = Field("", description="Certificate resolver that obtains certificates for the router.")
    domains: list[Domain] = Field(default_factory=list, description="Domains to get certificates for (instead of the rule's HostSNI).")


class TCPRouter(_Base):
    """Matches TCP connections (by SNI, client IP, ALPN) and sends them to a service."""

    entry_points: list[str] = Field(default_factory=list, description="Entry points served; empty means all default entry points.")
    middlewares: list[str] = Field(default_factory=list, description="TCP middlewares applied in order.")
    service: str = Field("", description="Target service name.")
    rule: str = Field("", description="Match rule, e.g. HostSNI(`example.com`); HostSNI(`*`) matches all.")
    rule_syntax: str = Field("", description="Deprecated rule syntax selector (v2 or v3); accepted and ignored.")
    priority: int = Field(0, description="Ordering among matching routers; 0 means the rule length.")
    tls: TCPRouterTLS | None = Field(None, description="TLS settings; presence makes the router match TLS connections only.")


class TCPServer(_Base):
    """A TCP backend address."""

    address: str = Field("", description="host:port of the server.")
    tls: bool = Field(False, description="Dial the server with TLS.")


class ProxyProtocol(_Base):
    """PROXY protocol header sent to servers."""

    version: int = Field(2, description="PROXY protocol version: 1 or 2.")


class TCPServerHealthCheck(_Base):
    """Active TCP health check of each server."""

    port: int = Field(0, description="Port to check instead of the server's.")
    send: str = Field("", description="Payload written after connecting.")
    expect: str = Field("", description="Reply expected for the server to be healthy.")
    interval: Duration = Field(30.0, description="Time between checks of a healthy server.")
    unhealthy_interval: Duration | None = Field(None, description="Time between checks of an unhealthy server; unset uses interval.")
    timeout: Duration = Field(5.0, description="Time allowed for a check.")


class TCPLoadBalancer(_Base):
    """Round-robin over TCP servers."""

    servers: list[TCPServer] = Field(default_factory=list, description="Servers to balance over.")
    servers_transport: str = Field("", description="Name of the TCP servers transport to dial with.")
    proxy_protocol: ProxyProtocol | None = Field(None, description="Deprecated: set proxyProtocol on the servers transport.")
    termination_delay: int | None = Field(None, description="Deprecated: milliseconds to wait for the other side to close; set it on the servers transport.")
    health_check: TCPServerHealthCheck | None = Field(None, description="Active health check of the servers.")


class TCPWeighted(_Base):
    """Weighted round-robin over TCP services."""

    services: list[WeightedRef] = Field(default_factory=list, description="Child services and weights.")
    health_check: ServiceHealthCheck | None = Field(None, description="Track children's health and report it upwards.")


class TCPService(_Base):
    """A TCP service: exactly one of loadBalancer or weighted."""

    load_balancer: TCPLoadBalancer | None = Field(None, description="Balance over servers.")
    weighted: TCPWeighted | None = Field(None, description="Balance over services by weight.")

    def kind_problem(self) -> str | None:
        """Why this element cannot be built (not exactly one kind), or None."""
        return exactly_one(self, "a TCP service")


class TCPIPAllowList(_Base):
    """Accepts only connections from the listed ranges."""

    source_range: list[str] = Field(default_factory=list, description="Allowed IPs or CIDR ranges.")


class TCPInFlightConn(_Base):
    """Limits simultaneous connections per client IP."""

    amount: int = Field(0, description="Most open connections per client IP.")


class TCPMiddleware(_Base):
    """A named TCP middleware: exactly one of the types."""

    ip_allow_list: TCPIPAllowList | None = Field(None, description="Allow client IP ranges.")
    ip_white_list: TCPIPAllowList | None = Field(None, description="Deprecated: use ipAllowList.")
    in_flight_conn: TCPInFlightConn | None = Field(None, description="Limit simultaneous connections.")

    def kind_problem(self) -> str | None:
        """Why this element cannot be built (not exactly one kind), or None."""
        return exactly_one(self, "a TCP middleware")


class TCPTransportTLS(_Base):
    """TLS used to dial TCP servers marked tls."""

    server_name: str = Field("", description="SNI sent to the server.")
    insecure_skip_verify: bool = Field(False, description="Do not verify the server's certificate.")
    root_cas: list[str] = Field(default_factory=list, alias="rootCAs", description="CA certificates (paths or PEM) trusted for servers.")
    certificates: list[Certificate] = Field(default_factory=list, description="Client certificates for mutual TLS.")
    peer_cert_uri: str = Field("", alias="peerCertURI", description="URI SAN the server certificate must hold.")
    spiffe: Spiffe | None = Field(None, description="Verify servers with SPIFFE.")


class TCPServersTransport(_Base):
    """How TCP servers are dialled."""

    dial_keep_alive: Duration = Field(15.0, description="Keep-alive probe interval; negative disables.")
    dial_timeout: Duration = Field(30.0, description="Time to establish a connection; 0 is none.")
    proxy_protocol: ProxyProtocol | None = Field(None, description="Send a PROXY protocol header; an empty section means version 2.")
    termination_delay: Duration = Field(0.1, description="Wait for the other side to close after one side did; negative waits forever.")
    tls: TCPTransportTLS | None = Field(None, description="TLS settings for servers marked tls.")


class TCPConfig(_Base):
    """The dynamic ``tcp`` section."""

    routers: dict[str, TCPRouter] = Field(default_factory=dict, description="Named TCP routers.")
    services: dict[str, TCPService] = Field(default_factory=dict, description="Named TCP services.")
    middlewares: dict[str, TCPMiddleware] = Field(default_factory=dict, description="Named TCP middlewares.")
    servers_transports: dict[str, TCPServersTransport] = Field(default_factory=dict, description="Named TCP servers transports.")


# -- UDP ----------------------------------------------------------------------------------------


class UDPRouter(_Base):
    """Sends the datagrams of an entry point to a service (UDP has no rules)."""

    entry_points: list[str] = Field(default_factory=list, description="Entry points served; empty means all UDP entry points.")
    service: str = Field("", description="Target service name.")


class UDPServer(_Base):
    """A UDP backend address."""

    address: str = Field("", description="host:port of the server.")


class UDPLoadBalancer(_Base):
    """Round-robin over UDP servers."""

    servers: list[UDPServer] = Field(default_factory=list, description="Servers to balance over.")


class UDPWeighted(_Base):
    """Weighted round-robin over UDP services."""

    services: list[WeightedRef] = Field(default_factory=list, description="Child services and weights.")


class UDPService(_Base):
    """A UDP service: exactly one of loadBalancer or weighted."""

    load_balancer: UDPLoadBalancer | None = Field(None, description="Balance over servers.")
    weighted: UDPWeighted | None = Field(None, description="Balance over services by weight.")

    def kind_problem(self) -> str | None:
        """Why this element cannot be built (not exactly one kind), or None."""
        return exactly_one(self, "a UDP service")


class UDPConfig(_Base):
    """The dynamic ``udp`` section."""

    routers: dict[str, UDPRouter] = Field(default_factory=dict, description="Named UDP routers.")
    services: dict[str, UDPService] = Field(default_factory=dict, description="Named UDP services.")

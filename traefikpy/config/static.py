"""The static (install-time) configuration: :class:`StaticConfig` and its effective defaults.

Key names and defaults are Traefik v3's (``pkg/config/static``, the CLI reference).  Sections
that Traefik enables by presence (``api``, ``ping``, ``metrics.prometheus``, ``accessLog``,
each provider...) are ``X | None``; sections Traefik always fills (``global``,
``serversTransport``, ``providers``...) default to their populated model.

:meth:`StaticConfig.with_defaults` is Traefik's ``SetEffectiveConfiguration``: it adds the
``http`` entry point on ``:80`` when none is configured, the internal ``traefik`` entry point on
``:8080`` when the API (insecure), ping or Prometheus needs it, and moves the deprecated ACME
DNS-challenge fields into ``propagation``.  Entry points live in ``static_entrypoints``, providers
in ``static_providers``; both are re-exported here.
"""

from __future__ import annotations

import posixpath
from typing import Any, Literal

from pydantic import Field, field_validator

from traefikpy.config.base import Duration, Model
from traefikpy.config.static_entrypoints import (
    EntryPoint,
    ListenAddress,
    TLSDomain,
    parse_address,
)
from traefikpy.config.static_providers import Providers

__all__ = [
    "DEFAULT_ACME_CA_SERVER",
    "INTERNAL_ENTRYPOINT",
    "EntryPoint",
    "ListenAddress",
    "StaticConfig",
    "TLSDomain",
    "parse_address",
]

INTERNAL_ENTRYPOINT = "traefik"
"""Name of the internal entry point serving the API, ping and metrics by default."""

DEFAULT_ACME_CA_SERVER = "https://acme-v02.api.letsencrypt.org/directory"
"""Let's Encrypt's production ACME directory, Traefik's default ``caServer``."""

_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "PANIC")
_KEY_TYPES = ("EC256", "EC384", "RSA2048", "RSA4096", "RSA8192")
FieldMode = Literal["keep", "drop", "redact"]


class Global(Model):
    """Global switches (accepted for compatibility; traefikpy never phones home)."""

    check_new_version: bool = Field(True, description="Accepted and ignored: no version check is made.")
    send_anonymous_usage: bool = Field(False, description="Accepted and ignored: no usage is sent.")


class ForwardingTimeouts(Model):
    """Timeouts of requests forwarded to the servers."""

    dial_timeout: Duration = Field(30.0, description="Time to establish a connection to a server; 0 is none.")
    response_header_timeout: Duration = Field(
        0.0, description="Time to wait for the response headers after the request is written; 0 is none."
    )
    idle_conn_timeout: Duration = Field(90.0, description="How long an idle keep-alive connection stays pooled.")


class ServersTransport(Model):
    """Default transport to HTTP servers (used when a service names no serversTransport)."""

    insecure_skip_verify: bool = Field(False, description="Do not verify the servers' certificates.")
    root_cas: list[str] = Field(
        default_factory=list, alias="rootCAs", description="Extra CA certificates (paths or PEM content)."
    )
    max_idle_conns_per_host: int = Field(200, ge=0, description="Idle keep-alive connections kept per server.")
    forwarding_timeouts: ForwardingTimeouts = Field(
        default_factory=ForwardingTimeouts, description="Timeouts of forwarded requests."
    )


class TCPServersTransportTLS(Model):
    """TLS towards TCP servers."""

    insecure_skip_verify: bool = Field(False, description="Do not verify the servers' certificates.")
    root_cas: list[str] = Field(
        default_factory=list, alias="rootCAs", description="Extra CA certificates (paths or PEM content)."
    )


class TCPServersTransport(Model):
    """Default transport to TCP servers."""

    dial_keep_alive: Duration = Field(15.0, description="Interval between TCP keep-alive probes; negative disables.")
    dial_timeout: Duration = Field(30.0, description="Time to establish a connection to a server; 0 is none.")
    termination_delay: Duration = Field(
        0.0, description="Delay before fully closing after one peer closed its write side."
    )
    tls: TCPServersTransportTLS | None = Field(None, description="TLS towards the servers.")


class API(Model):
    """The API and dashboard."""

    insecure: bool = Field(False, description="Serve the API directly on the entry point named traefik.")
    dashboard: bool = Field(True, description="Serve the dashboard.")
    debug: bool = Field(False, description="Enable the debug endpoints.")
    disable_dashboard_ad: bool = Field(False, description="Accepted for compatibility.")
    base_path: str = Field("/", description="Path prefix of the API and dashboard.")

    @field_validator("base_path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not posixpath.isabs(value):
            raise ValueError("API basePath must be a valid absolute path")
        return value


class Ping(Model):
    """The /ping health endpoint."""

    entry_point: str = Field(INTERNAL_ENTRYPOINT, description="Entry point serving /ping.")
    manual_routing: bool = Field(False, description="Do not create the ping router; route ping@internal yourself.")
    terminating_status_code: int = Field(
        503, ge=100, le=599, description="Status returned while shutting down."
    )


class Prometheus(Model):
    """Prometheus metrics."""

    buckets: list[float] = Field(
        default_factory=lambda: [0.1, 0.3, 1.2, 5.0], description="Latency histogram buckets (seconds)."
    )
    add_entry_points_labels: bool = Field(True, description="Record metrics per entry point.")
    add_routers_labels: bool = Field(False, description="Record metrics per router.")
    add_services_labels: bool = Field(True, description="Record metrics per service.")
    entry_point: str = Field(INTERNAL_ENTRYPOINT, description="Entry point serving /metrics.")
    manual_routing: bool = Field(False, description="Do not create the metrics router.")
    header_labels: dict[str, str] = Field(
        default_factory=dict, description="Extra label name -> request header for requests_total."
    )


class Metrics(Model):
    """Metrics exporters."""

    prometheus: Prometheus | None = Field(None, description="Prometheus exporter.")
    add_internals: bool = Field(False, description="Record metrics of internal services too.")


class Log(Model):
    """The proxy's own log.  Absent means level ERROR, common format, standard output."""

    level: str = Field("ERROR", description="TRACE, DEBUG, INFO, WARN, ERROR, FATAL or PANIC.")
    file_path: str = Field("", description="Log file (empty: standard output).")
    format: Literal["common", "json"] = Field("common", description="common or json.")
    no_color: bool = Field(False, description="Disable colours in the common format.")
    max_size: int = Field(0, ge=0, description="Accepted: size in MB before rotation.")
    max_age: int = Field(0, ge=0, description="Accepted: days to keep rotated files.")
    max_backups: int = Field(0, ge=0, description="Accepted: rotated files to keep.")
    compress: bool = Field(False, description="Accepted: gzip rotated files.")

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"invalid log level {value!r} (expected one of {', '.join(_LOG_LEVELS)})")
        return level


class AccessLogFilters(Model):
    """Keep only some access log lines."""

    status_codes: list[str] = Field(default_factory=list, description="Status codes or ranges, e.g. 200, 300-302.")
    retry_attempts: bool = Field(False, description="Keep lines of requests that were retried.")
    min_duration: Duration = Field(0.0, description="Keep lines of requests slower than this.")


class AccessLogHeaders(Model):
    """Which request/response headers appear in access logs."""

    default_mode: FieldMode = Field("drop", description="keep, drop or redact.")
    names: dict[str, FieldMode] = Field(default_factory=dict, description="Per-header mode.")


class AccessLogFields(Model):
    """Which fields appear in access logs."""

    default_mode: FieldMode = Field("keep", description="keep, drop or redact.")
    names: dict[str, FieldMode] = Field(default_factory=dict, description="Per-field mode.")
    headers: AccessLogHeaders = Field(default_factory=AccessLogHeaders, description="Header fields.")


class AccessLog(Model):
    """Access logs."""

    file_path: str = Field("", description="Access log file (empty: standard output).")
    format: Literal["common", "genericCLF", "json"] = Field("common", description="common, genericCLF or json.")
    buffering_size: int = Field(0, ge=0, description="Lines buffered before writing.")
    filters: AccessLogFilters = Field(default_factory=AccessLogFilters, description="Line filters.")
    fields: AccessLogFields = Field(default_factory=AccessLogFields, description="Field selection.")
    add_internals: bool = Field(False, description="Log requests to internal services too.")


class EAB(Model):
    """ACME External Account Binding."""

    kid: str = Field("", description="Key identifier from the CA.")
    hmac_encoded: str = Field("", description="Base64 HMAC key from the CA.")


class HTTPChallenge(Model):
    """ACME HTTP-01 challenge."""

    entry_point: str = Field("", description="Entry point (port 80) answering the challenge.")
    delay: Duration = Field(0.0, description="Delay between creating the challenge and validating it.")


class TLSChallenge(Model):
    """ACME TLS-ALPN-01 challenge (no settings)."""


class Propagation(Model):
    """DNS propagation checks of the DNS-01 challenge."""

    delay_before_checks: Duration = Field(0.0, description="Delay before checking the TXT record.")
    disable_checks: bool = Field(False, description="Skip the propagation checks (not recommended).")
    disable_ans_checks: bool = Field(
        False, alias="disableANSChecks", description="Skip checks against authoritative nameservers."
    )
    require_all_rns: bool = Field(
        False, alias="requireAllRNS", description="Require propagation to all recursive nameservers."
    )


class DNSChallenge(Model):
    """ACME DNS-01 challenge."""

    provider: str = Field("", description="DNS provider name (lego names).")
    resolvers: list[str] = Field(default_factory=list, description="DNS servers used for checks.")
    propagation: Propagation | None = Field(None, description="Propagation checks.")
    delay_before_check: Duration = Field(0.0, description="Deprecated: use propagation.delayBeforeChecks.")
    disable_propagation_check: bool = Field(False, description="Deprecated: use propagation.disableChecks.")


class ACME(Model):
    """An ACME account and how it proves domain ownership."""

    email: str = Field("", description="Account e-mail address.")
    ca_server: str = Field(DEFAULT_ACME_CA_SERVER, description="ACME directory URL.")
    certificates_duration: int = Field(2160, gt=0, description="Certificate lifetime in hours (renewal pacing).")
    preferred_chain: str = Field("", description="Preferred chain (issuer common name).")
    profile: str = Field("", description="Certificate profile to request.")
    email_addresses: list[str] = Field(default_factory=list, description="E-mail addresses put into the CSR.")
    storage: str = Field("acme.json", description="File storing the account and certificates.")
    key_type: str = Field("RSA4096", description="EC256, EC384, RSA2048, RSA4096 or RSA8192.")
    eab: EAB | None = Field(None, description="External Account Binding.")
    ca_certificates: list[str] = Field(default_factory=list, description="CA certificates trusted for the ACME server.")
    ca_system_cert_pool: bool = Field(False, description="Add the system CAs to ca_certificates.")
    ca_server_name: str = Field("", description="Server name used to verify the ACME server.")
    client_timeout: Duration = Field(120.0, description="Timeout of one HTTP exchange with the ACME server.")
    client_response_header_timeout: Duration = Field(30.0, description="Timeout for the ACME server's headers.")
    renew_period: Duration = Field(
        0.0, ge=0, description="traefikpy extension: renew when less than this remains (0: from certificatesDuration)."
    )
    renew_interval: Duration = Field(
        0.0, ge=0, description="traefikpy extension: how often expiry is checked (0: from certificatesDuration)."
    )
    http_challenge: HTTPChallenge | None = Field(None, description="Use HTTP-01.")
    tls_challenge: TLSChallenge | None = Field(None, description="Use TLS-ALPN-01.")
    dns_challenge: DNSChallenge | None = Field(None, description="Use DNS-01.")

    @field_validator("key_type")
    @classmethod
    def _key_type(cls, value: str) -> str:
        if value not in _KEY_TYPES:
            raise ValueError(f"invalid keyType {value!r} (expected one of {', '.join(_KEY_TYPES)})")
        return value

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        if not value:
            raise ValueError("a certificates resolver needs a storage location")
        return value


class CertificateResolver(Model):
    """A certificates resolver."""

    acme: ACME | None = Field(None, description="Obtain certificates with ACME.")


class PluginSettings(Model):
    """Settings of a WebAssembly plugin (accepted)."""

    envs: list[str] = Field(default_factory=list, description="Environment variables forwarded to the guest.")
    mounts: list[str] = Field(default_factory=list, description="Directories mounted in the guest.")
    use_unsafe: bool = Field(False, description="Allow the unsafe package.")


class Plugin(Model):
    """A remote plugin (accepted; plugins are not loaded)."""

    module_name: str = Field("", description="Go module name of the plugin.")
    version: str = Field("", description="Plugin version.")
    settings: PluginSettings | None = Field(None, description="WebAssembly settings.")


class LocalPlugin(Model):
    """A local plugin (accepted; plugins are not loaded)."""

    module_name: str = Field("", description="Go module name of the plugin.")
    settings: PluginSettings | None = Field(None, description="WebAssembly settings.")


class Experimental(Model):
    """Experimental features (accepted for compatibility, not implemented)."""

    plugins: dict[str, Plugin] = Field(default_factory=dict, description="Remote plugins (not loaded).")
    local_plugins: dict[str, LocalPlugin] = Field(default_factory=dict, description="Local plugins (not loaded).")
    abort_on_plugin_failure: bool = Field(False, description="Accepted and ignored.")
    otlp_logs: bool = Field(False, description="Accepted and ignored.")
    kubernetes_gateway: bool = Field(False, description="Accepted and ignored (deprecated in Traefik).")


class Core(Model):
    """Core behaviour."""

    default_rule_syntax: Literal["v2", "v3"] = Field("v3", description="Default rule syntax (v3; v2 is deprecated).")


class StaticConfig(Model):
    """The whole static configuration (file, ``TRAEFIK_*`` environment and flags, merged).

    Effective defaults: with no entry point configured, ``http`` listens on ``:80``; when
    ``api.insecure`` is set, or ``ping`` / ``metrics.prometheus`` use the ``traefik`` entry point
    without ``manualRouting``, and no entry point is named ``traefik``, ``traefik`` listens on
    ``:8080``.
    """

    global_: Global = Field(default_factory=Global, alias="global", description="Global switches.")
    servers_transport: ServersTransport = Field(
        default_factory=ServersTransport, description="Default transport to HTTP servers."
    )
    tcp_servers_transport: TCPServersTransport = Field(
        default_factory=TCPServersTransport, description="Default transport to TCP servers."
    )
    entry_points: dict[str, EntryPoint] = Field(
        default_factory=dict, description="Entry points by name ('http' on :80 when none is given)."
    )
    providers: Providers = Field(default_factory=Providers, description="Configuration providers.")
    api: API | None = Field(None, description="API and dashboard.")
    ping: Ping | None = Field(None, description="The /ping endpoint.")
    metrics: Metrics | None = Field(None, description="Metrics.")
    log: Log | None = Field(None, description="The proxy's log (absent: ERROR to standard output).")
    access_log: AccessLog | None = Field(None, description="Access logs (absent: disabled).")
    certificates_resolvers: dict[str, CertificateResolver] = Field(
        default_factory=dict, description="Certificates resolvers by name."
    )
    experimental: Experimental | None = Field(None, description="Experimental features (accepted, ignored).")
    core: Core = Field(default_factory=Core, description="Core behaviour.")
    tracing: dict[str, Any] | None = Field(None, description="Accepted for compatibility and ignored.")
    hub: dict[str, Any] | None = Field(None, description="Accepted for compatibility and ignored.")

    def with_defaults(self) -> StaticConfig:
        """The effective configuration, as Traefik's ``SetEffectiveConfiguration`` builds it."""
        entry_points = dict(self.entry_points)
        if not entry_points:
            entry_points["http"] = EntryPoint(address=":80")
        if self.needs_internal_entrypoint() and INTERNAL_ENTRYPOINT not in entry_points:
            entry_points[INTERNAL_ENTRYPOINT] = EntryPoint(address=":8080")
        update: dict[str, Any] = {}
        if entry_points != self.entry_points:
            update["entry_points"] = entry_points
        resolvers = {name: _effective_resolver(r) for name, r in self.certificates_resolvers.items()}
        if resolvers != self.certificates_resolvers:
            update["certificates_resolvers"] = resolvers
        return self.model_copy(update=update) if update else self

    def needs_internal_entrypoint(self) -> bool:
        """Whether the API (insecure), ping or Prometheus is routed on the ``traefik`` entry point."""
        if self.api is not None and self.api.insecure:
            return True
        if self.ping is not None and not self.ping.manual_routing and self.ping.entry_point == INTERNAL_ENTRYPOINT:
            return True
        prom = self.metrics.prometheus if self.metrics is not None else None
        return prom is not None and not prom.manual_routing and prom.entry_point == INTERNAL_ENTRYPOINT


def _effective_resolver(resolver: CertificateResolver) -> CertificateResolver:
    """Empty caServer -> Let's Encrypt; deprecated DNS-01 fields -> ``propagation``."""
    acme = resolver.acme
    if acme is None:
        return resolver
    update: dict[str, Any] = {}
    if not acme.ca_server:
        update["ca_server"] = DEFAULT_ACME_CA_SERVER
    dns = acme.dns_challenge
    if dns is not None and (dns.disable_propagation_check or dns.delay_before_check > 0):
        prop = dns.propagation or Propagation()
        prop_update: dict[str, Any] = {}
        if dns.disable_propagation_check:
            prop_update["disable_checks"] = True
        if dns.delay_before_check > 0:
            prop_update["delay_before_checks"] = dns.delay_before_check
        update["dns_challenge"] = dns.model_copy(update={"propagation": prop.model_copy(update=prop_update)})
    if not update:
        return resolver
    return resolver.model_copy(update={"acme": acme.model_copy(update=update)})

"""Entry point models of the static configuration and the parser of their ``address``.

An entry point is a listening socket (``entryPoints.<name>``).  The defaults are Traefik v3's
(``pkg/config/static/entrypoints.go`` and the CLI reference): a section that is present gets
its sub-sections filled the way Traefik's ``SetDefaults`` does, so ``web: {address: ":80"}``
already has ``readTimeout`` 60s, ``idleTimeout`` 180s and ``graceTimeOut`` 10s.
"""

from __future__ import annotations

import ipaddress
from typing import Literal, NamedTuple

from pydantic import Field, field_validator

from traefikpy.config.base import Duration, Model

DEFAULT_MAX_HEADER_BYTES = 1 << 20
"""Go's ``http.DefaultMaxHeaderBytes`` (1 MiB), Traefik's default ``http.maxHeaderBytes``."""

DEFAULT_REDIRECT_PRIORITY = (1 << 63) - 2
"""Traefik's ``math.MaxInt - 1``: the generated redirection router wins over every other."""


class ListenAddress(NamedTuple):
    """A parsed entry point address.  ``host`` is empty for "all interfaces"."""

    host: str
    port: int
    protocol: Literal["tcp", "udp"]


def parse_address(address: str) -> ListenAddress:
    """Split Traefik's ``[host]:port[/tcp|/udp]`` into its parts.

    Accepts ``:80``, ``127.0.0.1:8080``, ``[::1]:8443``, ``localhost:80``, ``:53/udp``; port 0
    asks the kernel for a free port (handy in tests).  Raises ``ValueError`` with a message that
    names the address and what is wrong with it.
    """
    if not isinstance(address, str) or not address.strip():
        raise ValueError("an entry point needs an address such as ':80' or '127.0.0.1:8080'")
    text = address.strip()
    hostport, slash, proto = text.partition("/")
    protocol = proto.lower() if slash else "tcp"
    if protocol not in ("tcp", "udp"):
        raise ValueError(f"invalid protocol {proto!r} in address {address!r} (expected tcp or udp)")
    if hostport.startswith("["):
        close = hostport.find("]")
        if close < 0 or not hostport[close + 1 :].startswith(":"):
            raise ValueError(f"invalid address {address!r}: expected '[ipv6]:port'")
        host, port_text = hostport[1:close], hostport[close + 2 :]
        try:
            ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            raise ValueError(f"invalid IPv6 host {host!r} in address {address!r}") from None
    else:
        host, colon, port_text = hostport.rpartition(":")
        if not colon:
            raise ValueError(f"missing port in address {address!r} (expected e.g. ':80' or 'host:80')")
        if ":" in host:
            raise ValueError(f"invalid address {address!r}: put an IPv6 host in brackets, e.g. '[::1]:80'")
    if not port_text.isdigit():
        raise ValueError(f"invalid port {port_text!r} in address {address!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} out of range in address {address!r} (0-65535)")
    return ListenAddress(host, port, "udp" if protocol == "udp" else "tcp")


class LifeCycle(Model):
    """Timeouts of the shutdown phase of an entry point."""

    request_accept_grace_timeout: Duration = Field(
        0.0, description="Duration to keep accepting requests before the graceful shutdown starts."
    )
    grace_time_out: Duration = Field(
        10.0, description="Duration to give active requests a chance to finish before stopping."
    )


class RespondingTimeouts(Model):
    """Timeouts for incoming requests."""

    read_timeout: Duration = Field(
        60.0, description="Maximum duration for reading the entire request, body included; 0 disables it."
    )
    write_timeout: Duration = Field(
        0.0, description="Maximum duration before timing out writes of the response; 0 disables it."
    )
    idle_timeout: Duration = Field(
        180.0, description="Maximum duration an idle keep-alive connection stays open; 0 disables it."
    )


class EntryPointTransport(Model):
    """Communication between clients and the entry point."""

    life_cycle: LifeCycle = Field(default_factory=LifeCycle, description="Shutdown timeouts.")
    responding_timeouts: RespondingTimeouts = Field(
        default_factory=RespondingTimeouts, description="Timeouts for incoming requests."
    )
    keep_alive_max_requests: int = Field(
        0, ge=0, description="Requests served on one keep-alive connection before closing it; 0 is unlimited."
    )
    keep_alive_max_time: Duration = Field(
        0.0, description="Maximum age of a keep-alive connection before closing it; 0 is unlimited."
    )


class ProxyProtocol(Model):
    """PROXY protocol (v1/v2) accepted from trusted peers."""

    insecure: bool = Field(False, description="Trust the PROXY header from every peer.")
    trusted_ips: list[str] = Field(
        default_factory=list, alias="trustedIPs", description="Peers (IPs or CIDRs) whose PROXY header is trusted."
    )


class ForwardedHeaders(Model):
    """Which peers may set ``X-Forwarded-*`` headers."""

    insecure: bool = Field(False, description="Trust forwarded headers from every peer.")
    trusted_ips: list[str] = Field(
        default_factory=list, alias="trustedIPs", description="Peers (IPs or CIDRs) whose forwarded headers are trusted."
    )
    connection: list[str] = Field(
        default_factory=list,
        description="Headers listed in Connection that may pass through the middleware chain before removal.",
    )


class RedirectEntryPoint(Model):
    """Redirect every request of this entry point to another one."""

    to: str = Field("", description="Target entry point name (or a port such as ':443').")
    scheme: str = Field("https", description="Scheme of the redirection.")
    permanent: bool = Field(True, description="Use a permanent (308/301) redirection.")
    priority: int = Field(DEFAULT_REDIRECT_PRIORITY, description="Priority of the generated router.")


class Redirections(Model):
    """Redirections of an entry point."""

    entry_point: RedirectEntryPoint | None = Field(None, description="Redirect to another entry point.")


class TLSDomain(Model):
    """A certificate's main name and alternative names."""

    main: str = Field("", description="Default subject name.")
    sans: list[str] = Field(default_factory=list, description="Subject alternative names.")


class EntryPointTLS(Model):
    """Default TLS settings for the routers attached to the entry point."""

    options: str = Field("", description="Default TLS options name.")
    cert_resolver: str = Field("", description="Default certificate resolver.")
    domains: list[TLSDomain] = Field(default_factory=list, description="Default TLS domains.")


class EncodedCharacters(Model):
    """Percent-encoded characters allowed in request paths (Traefik v3.6.7+: all allowed by
    default; ``false`` answers 400 to a path holding that escape, the query is not checked)."""

    allow_encoded_slash: bool = Field(True, description="Allow %2F (/) in the request path.")
    allow_encoded_back_slash: bool = Field(True, description="Allow %5C (backslash) in the request path.")
    allow_encoded_null_character: bool = Field(True, description="Allow %00 (NUL) in the request path.")
    allow_encoded_semicolon: bool = Field(True, description="Allow %3B (;) in the request path.")
    allow_encoded_percent: bool = Field(True, description="Allow %25 (%) in the request path.")
    allow_encoded_question_mark: bool = Field(True, description="Allow %3F (?) in the request path.")
    allow_encoded_hash: bool = Field(True, description="Allow %23 (#) in the request path.")


class EntryPointHTTP(Model):
    """HTTP settings of an entry point."""

    redirections: Redirections | None = Field(None, description="Redirections applied to every request.")
    middlewares: list[str] = Field(
        default_factory=list, description="Middlewares prepended to every router attached to the entry point."
    )
    tls: EntryPointTLS | None = Field(None, description="Default TLS configuration for the attached routers.")
    encode_query_semicolons: bool = Field(False, description="URL-encode semicolons of the request query.")
    sanitize_path: bool = Field(
        True, description="Clean the request path (remove /./, /../ and repeated slashes)."
    )
    max_header_bytes: int = Field(
        DEFAULT_MAX_HEADER_BYTES, gt=0, description="Maximum size of the request headers in bytes."
    )
    encoded_characters: EncodedCharacters = Field(
        default_factory=EncodedCharacters, description="Percent-encoded characters allowed in request paths."
    )


class EntryPointHTTP2(Model):
    """HTTP/2 settings of an entry point."""

    max_concurrent_streams: int = Field(250, gt=0, description="Concurrent streams a client may open per connection.")
    max_decoder_header_table_size: int = Field(4096, ge=0, description="HPACK table size on the decoding side.")
    max_encoder_header_table_size: int = Field(4096, ge=0, description="HPACK table size on the encoding side.")


class EntryPointHTTP3(Model):
    """HTTP/3 settings (accepted for compatibility; HTTP/3 is not served)."""

    advertised_port: int = Field(0, ge=0, le=65535, description="UDP port advertised for HTTP/3.")


class EntryPointUDP(Model):
    """UDP settings of an entry point."""

    timeout: Duration = Field(3.0, description="Idle time after which a UDP session is released.")


class EntryPointObservability(Model):
    """Per-entry-point switches for access logs, metrics and tracing."""

    access_logs: bool = Field(True, description="Write access logs for this entry point.")
    metrics: bool = Field(True, description="Record metrics for this entry point.")
    tracing: bool = Field(True, description="Trace requests of this entry point.")
    trace_verbosity: Literal["minimal", "detailed"] = Field("minimal", description="Tracing verbosity.")


class EntryPoint(Model):
    """A listening socket and how connections on it are handled."""

    address: str = Field(description="Listen address: '[host]:port[/tcp|/udp]', e.g. ':80', '[::1]:8443', ':53/udp'.")
    as_default: bool = Field(
        False, description="Attach routers that name no entry point to this one (see Traefik's asDefault)."
    )
    allow_acme_by_pass: bool = Field(
        False, alias="allowACMEByPass", description="Let custom routers handle ACME challenges."
    )
    reuse_port: bool = Field(False, description="Set SO_REUSEPORT so several processes share the port.")
    transport: EntryPointTransport = Field(
        default_factory=EntryPointTransport, description="Timeouts and keep-alive limits."
    )
    proxy_protocol: ProxyProtocol | None = Field(None, description="Accept the PROXY protocol.")
    forwarded_headers: ForwardedHeaders = Field(
        default_factory=ForwardedHeaders, description="Trust of X-Forwarded-* headers."
    )
    http: EntryPointHTTP = Field(default_factory=EntryPointHTTP, description="HTTP settings.")
    http2: EntryPointHTTP2 = Field(default_factory=EntryPointHTTP2, description="HTTP/2 settings.")
    http3: EntryPointHTTP3 | None = Field(None, description="HTTP/3 (accepted, not served).")
    udp: EntryPointUDP = Field(default_factory=EntryPointUDP, description="UDP settings.")
    observability: EntryPointObservability | None = Field(
        None, description="Access logs, metrics and tracing switches."
    )

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        parse_address(value)
        return value

    @property
    def listen(self) -> ListenAddress:
        """The parsed ``address`` (host, port, protocol)."""
        return parse_address(self.address)

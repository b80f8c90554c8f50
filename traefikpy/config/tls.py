"""The dynamic ``tls`` section (certificates, options, stores) and the TLS value types that routers
and servers transports share: :class:`Domain`, :class:`Certificate`, :class:`Spiffe`.

Key names and defaults are Traefik v3's (``pkg/tls``, the "TLS" reference pages).  Certificate and
key fields hold a file path *or* the PEM content itself, as Traefik's ``FileOrContent`` does; which
one it is gets decided when the certificate is loaded, not here.  Values Traefik checks when it
builds a TLS configuration (version names, cipher suites, client-auth types) are kept as text and
checked by the compiler, so one bad option set does not reject the whole snapshot.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from traefikpy.config.base import Model

__all__ = [
    "DEFAULT_ALPN_PROTOCOLS",
    "CertAndStores",
    "Certificate",
    "ClientAuth",
    "Domain",
    "GeneratedCert",
    "Spiffe",
    "Store",
    "TLSConfig",
    "TLSOptions",
]

DEFAULT_ALPN_PROTOCOLS = ("h2", "http/1.1", "acme-tls/1")
"""ALPN protocols a TLS option set advertises unless it names its own."""


class _Base(Model):
    # YAML/TOML numbers given for text keys (``main: 1``) are text to Traefik's decoder too.
    model_config = ConfigDict(coerce_numbers_to_str=True)


class Domain(_Base):
    """A domain and its subject alternative names (certificate requests, router TLS domains)."""

    main: str = Field("", description="Main domain name (the certificate subject).")
    sans: list[str] = Field(default_factory=list, description="Subject alternative names.")


class Certificate(_Base):
    """A certificate and its private key, each a file path or inline PEM content."""

    cert_file: str = Field("", description="Certificate chain: a file path or the PEM content.")
    key_file: str = Field("", description="Private key: a file path or the PEM content.")


class CertAndStores(Certificate):
    """A certificate of the ``tls.certificates`` list and the stores it belongs to."""

    stores: list[str] = Field(
        default_factory=list, description="Stores that hold the certificate; none means the default store."
    )


class Spiffe(_Base):
    """SPIFFE peer verification for connections to servers (needs SPIFFE in the static config)."""

    ids: list[str] = Field(
        default_factory=list, description="Allowed SPIFFE IDs; takes precedence over trustDomain."
    )
    trust_domain: str = Field("", description="Allowed SPIFFE trust domain; empty allows any SPIFFE ID.")


class ClientAuth(_Base):
    """Client certificate (mutual TLS) policy of a TLS option set."""

    ca_files: list[str] = Field(
        default_factory=list, description="CA certificates (paths or PEM) that client certificates must chain to."
    )
    client_auth_type: str = Field(
        "NoClientCert",
        description="NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven "
        "or RequireAndVerifyClientCert.",
    )


class TLSOptions(_Base):
    """A named TLS option set, selected by routers with ``tls.options``; ``default`` applies otherwise."""

    min_version: str = Field("VersionTLS12", description="Lowest TLS version accepted (VersionTLS10 to VersionTLS13).")
    max_version: str = Field("", description="Highest TLS version accepted; empty means the newest supported.")
    cipher_suites: list[str] = Field(
        default_factory=list, description="Allowed cipher suites for TLS 1.2 and below (Go names); empty is the default set."
    )
    curve_preferences: list[str] = Field(
        default_factory=list, description="Elliptic curves in preference order (e.g. CurveP521, X25519)."
    )
    client_auth: ClientAuth = Field(default_factory=ClientAuth, description="Client certificate policy.")
    sni_strict: bool = Field(False, description="Reject handshakes without SNI or with an SNI that no certificate matches.")
    alpn_protocols: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ALPN_PROTOCOLS), description="ALPN protocols offered, in order."
    )
    disable_session_tickets: bool = Field(False, description="Disable TLS session resumption by tickets.")
    prefer_server_cipher_suites: bool = Field(
        False, description="Deprecated and ignored (the server's order is always used)."
    )


class GeneratedCert(_Base):
    """A default certificate obtained from a certificate resolver (ACME) instead of a file."""

    resolver: str = Field("", description="Name of the certificate resolver that provides the certificate.")
    domain: Domain | None = Field(None, description="Domain the default certificate is requested for.")


class Store(_Base):
    """A certificate store: the certificate served when no other one matches the SNI."""

    default_certificate: Certificate | None = Field(
        None, description="Certificate served when none matches; unset means a generated self-signed one."
    )
    default_generated_cert: GeneratedCert | None = Field(
        None, description="Take the default certificate from a certificate resolver."
    )


class TLSConfig(_Base):
    """The dynamic ``tls`` section."""

    certificates: list[CertAndStores] = Field(default_factory=list, description="Certificates to serve.")
    options: dict[str, TLSOptions] = Field(default_factory=dict, description="Named TLS option sets.")
    stores: dict[str, Store] = Field(
        default_factory=dict, description="Certificate stores; only the store named default is used."
    )

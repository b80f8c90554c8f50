"""TLS option sets → SSL contexts.

:func:`plan_options` is pure: it checks a ``tls.options`` entry the way Traefik's TLS manager
does (version names, Go cipher-suite names, curve names, client-auth types) and turns it into an
:class:`OptionPlan` of OpenSSL settings, or raises ``ValueError``.  :func:`build_context` makes
the ``ssl.SSLContext`` of a plan with one certificate.

Gaps where Python's ``ssl`` module cannot do what Go's ``crypto/tls`` does:

* ``RequestClientCert`` and ``RequireAnyClientCert`` cannot accept an unverified certificate: a
  presented certificate is verified against ``caFiles`` (or the system roots without them).
* ``curvePreferences``: only the first curve is applied (``set_ecdh_curve``), for TLS 1.2 ECDHE.
* TLS 1.3 cipher suites are not configurable (as in Go).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any, Final

from traefikpy.config.tls import TLSOptions
from traefikpy.tls.certs import CertificateError, StoredCert, read_file_or_content

VERSIONS: Final = {
    "VersionTLS10": ssl.TLSVersion.TLSv1,
    "VersionTLS11": ssl.TLSVersion.TLSv1_1,
    "VersionTLS12": ssl.TLSVersion.TLSv1_2,
    "VersionTLS13": ssl.TLSVersion.TLSv1_3,
}

CIPHERS: Final = {
    "TLS_RSA_WITH_RC4_128_SHA": "RC4-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA": "ECDHE-ECDSA-RC4-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA": "ECDHE-RSA-RC4-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
"""Go cipher-suite names (TLS 1.0-1.2) → OpenSSL names."""

TLS13_SUITES: Final = frozenset({"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"})
"""Accepted but not applied: TLS 1.3 suites are fixed (Go ignores them too)."""

CURVES: Final = {
    "CurveP256": "prime256v1", "secp256r1": "prime256v1",
    "CurveP384": "secp384r1", "secp384r1": "secp384r1",
    "CurveP521": "secp521r1", "secp521r1": "secp521r1",
    "X25519": "X25519", "x25519": "X25519",
}

CLIENT_AUTH: Final = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}

SERVED_ALPN: Final = ("h2", "http/1.1")
"""ALPN protocols this data plane speaks; others named by an option set are not offered."""


@dataclass(frozen=True, slots=True)
class OptionPlan:
    """OpenSSL settings of one option set."""

    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2
    max_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED
    ciphers: str = ""  # OpenSSL cipher string; "" keeps OpenSSL's defaults
    curve: str = ""
    verify_mode: ssl.VerifyMode = ssl.CERT_NONE
    ca_pems: tuple[bytes, ...] = ()
    sni_strict: bool = False
    alpn: tuple[str, ...] = SERVED_ALPN
    session_tickets: bool = True


def plan_options(opts: TLSOptions) -> OptionPlan:
    """Check ``opts`` and translate it; ``ValueError`` names the first bad value."""
    min_version = _version(opts.min_version or "VersionTLS12", "minVersion")
    max_version = _version(opts.max_version, "maxVersion") if opts.max_version else ssl.TLSVersion.MAXIMUM_SUPPORTED
    if max_version is not ssl.TLSVersion.MAXIMUM_SUPPORTED and max_version < min_version:
        raise ValueError(f"maxVersion {opts.max_version} is lower than minVersion {opts.min_version}")
    ciphers = []
    for name in opts.cipher_suites:
        if name in TLS13_SUITES:
            continue
        if name not in CIPHERS:
            raise ValueError(f"invalid CipherSuite: {name}")
        ciphers.append(CIPHERS[name])
    curves = []
    for name in opts.curve_preferences:
        if name not in CURVES:
            raise ValueError(f"invalid CurveID in curvePreferences: {name}")
        curves.append(CURVES[name])
    auth = opts.client_auth
    ca_pems = tuple(read_file_or_content(ca) for ca in auth.ca_files)
    if "client_auth_type" in auth.model_fields_set and auth.client_auth_type:
        kind = auth.client_auth_type
        if kind not in CLIENT_AUTH:
            raise ValueError(f"unknown client auth type {kind!r}")
        if not ca_pems and kind in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert"):
            raise ValueError(f"invalid clientAuthType: {kind}, CAFiles is required")
        verify = CLIENT_AUTH[kind]
    else:
        # Traefik: caFiles without a type means RequireAndVerifyClientCert.
        verify = ssl.CERT_REQUIRED if ca_pems else ssl.CERT_NONE
    alpn = tuple(p for p in opts.alpn_protocols if p in SERVED_ALPN)
    return OptionPlan(min_version, max_version, ":".join(ciphers), curves[0] if curves else "", verify,
                      ca_pems, opts.sni_strict, alpn, not opts.disable_session_tickets)


def _version(name: str, key: str) -> ssl.TLSVersion:
    if name not in VERSIONS:
        raise ValueError(f"invalid {key}: {name!r}")
    return VERSIONS[name]


class DirectSSLObject(ssl.SSLObject):
    """An ``SSLObject`` whose ``read``/``write``/``pending`` are the C object's own methods (same
    signatures and results): the event loop's TLS transport calls them for every record, and
    the Python wrappers of ``ssl.SSLObject`` only forward."""

    @classmethod
    def _create(cls, *args: Any, **kwargs: Any) -> DirectSSLObject:
        self = super()._create(*args, **kwargs)  # type: ignore[misc]
        inner = self._sslobj
        self.read = inner.read
        self.write = inner.write
        self.pending = inner.pending
        return self  # type: ignore[no-any-return]


def build_context(plan: OptionPlan, cert: StoredCert) -> ssl.SSLContext:
    """The server context of ``plan`` serving ``cert``.  Raises ``CertificateError``/``ssl.SSLError``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.sslobject_class = DirectSSLObject
    ctx.minimum_version = plan.min_version
    ctx.maximum_version = plan.max_version
    ciphers = plan.ciphers
    if plan.min_version < ssl.TLSVersion.TLSv1_2:
        # OpenSSL 3's default security level refuses TLS 1.0/1.1 even when allowed by version.
        ciphers = (ciphers or "DEFAULT") + ":@SECLEVEL=0"
    if ciphers:
        ctx.set_ciphers(ciphers)
    if plan.curve:
        ctx.set_ecdh_curve(plan.curve)
    if plan.alpn:
        ctx.set_alpn_protocols(list(plan.alpn))
    if not plan.session_tickets:
        ctx.options |= ssl.OP_NO_TICKET
    ctx.verify_mode = plan.verify_mode
    if plan.verify_mode != ssl.CERT_NONE:
        if plan.ca_pems:
            ctx.load_verify_locations(cadata=b"\n".join(plan.ca_pems).decode())
        else:
            ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    _load_chain(ctx, cert)
    return ctx


def _load_chain(ctx: ssl.SSLContext, cert: StoredCert) -> None:
    # load_cert_chain only reads files: write the PEMs to a private temporary file for the call.
    fd, path = tempfile.mkstemp(prefix="traefikpy-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(cert.key_pem.rstrip() + b"\n" + cert.cert_pem)
        ctx.load_cert_chain(path)
    except ssl.SSLError as exc:
        raise CertificateError(f"certificate and key do not load: {exc}") from None
    finally:
        os.unlink(path)

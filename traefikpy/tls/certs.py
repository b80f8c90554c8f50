"""Certificates: loading (file path or inline PEM), the names they serve, the generated default
certificate, and the store that picks one by SNI (exact name > ``*.`` wildcard > default).

Pure apart from reading certificate files; SSL contexts are built elsewhere (``options``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

DEFAULT_CERT_CN = "TRAEFIK DEFAULT CERT"


class CertificateError(ValueError):
    """A certificate or key that cannot be read or parsed."""


def read_file_or_content(value: str) -> bytes:
    """Traefik's ``FileOrContent``: an existing path is read, anything else is the content."""
    if not value:
        raise CertificateError("empty certificate or key")
    if "-----BEGIN" not in value and os.path.isfile(value):
        try:
            with open(value, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise CertificateError(f"cannot read {value}: {exc}") from None
    if "-----BEGIN" not in value:
        raise CertificateError(f"{value[:80]!r} is neither an existing file nor PEM content")
    return value.encode()


@dataclass(frozen=True, slots=True)
class StoredCert:
    """A certificate chain and key (PEM) and the names it serves (lower-case; ``*.x`` wildcards)."""

    cert_pem: bytes
    key_pem: bytes
    names: tuple[str, ...]
    generated: bool = False

    @property
    def key(self) -> tuple[bytes, bytes]:
        """The identity for caching SSL contexts: the content, not the object."""
        return (self.cert_pem, self.key_pem)


def names_of(cert_pem: bytes) -> tuple[str, ...]:
    """Common name and DNS/IP subject alternative names of the first certificate of a chain."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise CertificateError(f"invalid certificate: {exc}") from None
    names: list[str] = []
    for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        value = attr.value if isinstance(attr.value, str) else attr.value.decode()
        names.append(value)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName)
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    out: list[str] = []
    for name in names:
        name = name.strip().lower().rstrip(".")
        if name and name not in out:
            out.append(name)
    return tuple(out)


def load_certificate(cert_file: str, key_file: str,
                     cache: dict[tuple[bytes, bytes], StoredCert] | None = None) -> StoredCert:
    """Read and check a certificate; ``cache`` (by content) spares parsing it again on reloads."""
    cert_pem = read_file_or_content(cert_file)
    key_pem = read_file_or_content(key_file)
    if cache is not None and (cert_pem, key_pem) in cache:
        return cache[(cert_pem, key_pem)]
    try:
        serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CertificateError(f"invalid private key: {exc}") from None
    cert = StoredCert(cert_pem, key_pem, names_of(cert_pem))
    if cache is not None:
        cache[(cert_pem, key_pem)] = cert
    return cert


_GENERATED: StoredCert | None = None


def self_signed(common_name: str, dns_name: str, *, not_before: datetime.timedelta,
                not_after: datetime.timedelta, extensions: tuple[x509.ExtensionType, ...] = ()) -> tuple[bytes, bytes]:
    """A self-signed EC P-256 certificate for ``dns_name`` and its PKCS#8 key, both PEM; valid from
    ``now - not_before`` to ``now + not_after``; ``extensions`` are added as critical."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - not_before)
        .not_valid_after(now + not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=True)
    cert = builder.sign(key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def generated_default() -> StoredCert:
    """The self-signed ``TRAEFIK DEFAULT CERT`` (made once per process, so reloads keep it)."""
    global _GENERATED
    if _GENERATED is None:
        alt = f"{secrets.token_hex(16)}.{secrets.token_hex(16)}.traefik.default"
        cert, key = self_signed(DEFAULT_CERT_CN, alt, not_before=datetime.timedelta(hours=1),
                                not_after=datetime.timedelta(days=365))
        _GENERATED = StoredCert(cert, key, (DEFAULT_CERT_CN.lower(), alt), generated=True)
    return _GENERATED


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass
class CertStore:
    """The default store: certificates by exact name and by wildcard suffix, and the default."""

    default: StoredCert
    exact: dict[str, StoredCert] = field(default_factory=dict)
    wildcard: dict[str, StoredCert] = field(default_factory=dict)  # ".example.com" -> cert

    def add(self, cert: StoredCert) -> None:
        """Index ``cert`` by its names; the first certificate listed for a name keeps it."""
        for name in cert.names:
            if name.startswith("*."):
                self.wildcard.setdefault(name[1:], cert)
            else:
                self.exact.setdefault(name, cert)

    def certificates(self) -> set[StoredCert]:
        return {self.default, *self.exact.values(), *self.wildcard.values()}

    def match(self, server_name: str) -> StoredCert | None:
        """The certificate for ``server_name``: exact, then one-label wildcard; None if none."""
        name = server_name.lower().rstrip(".")
        if not name:
            return None
        found = self.exact.get(name)
        if found is not None:
            return found
        if _is_ip(name):
            return None
        _, dot, rest = name.partition(".")
        if dot and rest:
            return self.wildcard.get("." + rest)
        return None

    def select(self, server_name: str, strict: bool) -> StoredCert | None:
        """What the handshake serves: the match, else the default (None when ``strict``)."""
        found = self.match(server_name)
        if found is not None:
            return found
        if strict:
            return None
        return self.default

"""``passTLSClientCert``: pass the client certificate of a mutual-TLS connection to the server.

With ``pem`` the request gets ``X-Forwarded-Tls-Client-Cert``: each certificate the client
presented (leaf first), as the base64 of its DER (a PEM body without its armour and line breaks),
joined by ``,``.  With ``info`` it gets ``X-Forwarded-Tls-Client-Cert-Info``, URL-query-escaped,
built per certificate (joined by ``,``) from ``;``-separated fields, each only when selected and
not empty, in this order:

``Subject="DC=…,C=…,ST=…,L=…,O=…,OU=…,SN=…,CN=…"``, ``Issuer="DC=…,C=…,ST=…,L=…,O=…,SN=…,CN=…"``,
``SerialNumber="<decimal>"``, ``NB="<notBefore, Unix seconds>"``, ``NA="<notAfter>"``,
``SAN="<DNS names>,<e-mails>,<IPs>,<URIs>"``.

Repeated attributes (``O``, ``OU``, ``C``, ``ST``, ``L``, ``DC``) are all listed; ``CN`` and
``SN`` give the last value, as Go's ``pkix.Name`` does.  The issuer has no ``OU``, as in Traefik.
Without a client certificate nothing is added (the entry point already removed any such header
sent by an untrusted client).  Parsing happens once per TLS connection.
"""

from __future__ import annotations

import ipaddress
import logging
import weakref
from base64 import b64encode
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus

from cryptography import x509
from cryptography.x509.oid import NameOID

from traefikpy.config.middleware_options import (
    IssuerDNInfo,
    PassTLSClientCert,
    SubjectDNInfo,
    TLSClientCertInfo,
)
from traefikpy.proxy.http import BuildContext, Exchange, Handler, MiddlewareFactory

log = logging.getLogger("traefikpy.middlewares.passtlsclientcert")

CERT_HEADER = b"X-Forwarded-Tls-Client-Cert"
INFO_HEADER = b"X-Forwarded-Tls-Client-Cert-Info"
_DER = 2  # ssl's ENCODING_DER, for the certificate objects of ``get_unverified_chain``


def peer_chain(tls: Any) -> list[bytes]:
    """DER certificates the client presented on the ``ssl.SSLObject`` ``tls``, leaf first."""
    if tls is None:
        return []
    getter = getattr(tls, "get_unverified_chain", None)  # public from Python 3.13
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        try:
            chain = getter()
        except (AttributeError, ValueError):
            chain = None
        # Python 3.11-3.12 put None in place of a missing client certificate.
        if chain and chain[0] is not None:
            return [c if isinstance(c, bytes) else c.public_bytes(_DER) for c in chain if c is not None]
    der = tls.getpeercert(binary_form=True)
    return [der] if der else []


def pem_value(chain: Sequence[bytes]) -> bytes:
    return b",".join(b64encode(der) for der in chain)


def _values(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [a.value for a in name if a.oid == oid and isinstance(a.value, str) and a.value]


_DN_ORDER = (
    ("domain_component", None, "DC"),
    ("country", NameOID.COUNTRY_NAME, "C"),
    ("province", NameOID.STATE_OR_PROVINCE_NAME, "ST"),
    ("locality", NameOID.LOCALITY_NAME, "L"),
    ("organization", NameOID.ORGANIZATION_NAME, "O"),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME, "OU"),
    ("serial_number", NameOID.SERIAL_NUMBER, "SN"),
    ("common_name", NameOID.COMMON_NAME, "CN"),
)
_SINGLE = frozenset({"SN", "CN"})


def dn_info(name: x509.Name, options: SubjectDNInfo | IssuerDNInfo | None) -> str:
    """The selected parts of a distinguished name (``C=FR,O=Cheese,CN=…``)."""
    if options is None:
        return ""
    parts: list[str] = []
    for attr, oid, label in _DN_ORDER:
        if not getattr(options, attr, False):
            continue
        values = _values(name, oid if oid is not None else NameOID.DOMAIN_COMPONENT)
        if label in _SINGLE:
            values = values[-1:]
        parts.extend(f"{label}={v}" for v in values)
    return ",".join(parts)


def sans(cert: x509.Certificate) -> list[str]:
    """DNS names, e-mail addresses, IP addresses then URIs (Go's order)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out: list[str] = list(ext.get_values_for_type(x509.DNSName))
    out += ext.get_values_for_type(x509.RFC822Name)
    for ip in ext.get_values_for_type(x509.IPAddress):
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        out.append(str(mapped or ip))
    out += ext.get_values_for_type(x509.UniformResourceIdentifier)
    return out


def cert_info(cert: x509.Certificate, info: TLSClientCertInfo) -> str:
    """The info fields of one certificate, ``;``-separated (before escaping)."""
    values: list[str] = []
    subject = dn_info(cert.subject, info.subject)
    if subject:
        values.append(f'Subject="{subject}"')
    issuer = dn_info(cert.issuer, info.issuer)
    if issuer:
        values.append(f'Issuer="{issuer}"')
    if info.serial_number:
        values.append(f'SerialNumber="{cert.serial_number}"')
    if info.not_before:
        values.append(f'NB="{int(cert.not_valid_before_utc.timestamp())}"')
    if info.not_after:
        values.append(f'NA="{int(cert.not_valid_after_utc.timestamp())}"')
    if info.sans:
        names = sans(cert)
        if names:
            values.append(f'SAN="{",".join(names)}"')
    return ";".join(values)


def info_value(chain: Sequence[bytes], info: TLSClientCertInfo) -> bytes:
    text = ",".join(cert_info(x509.load_der_x509_certificate(der), info) for der in chain)
    return quote_plus(text, safe="").encode("ascii")


def build_pass_tls_client_cert(options: PassTLSClientCert, next: Handler, name: str, ctx: BuildContext) -> Handler:
    pem = options.pem
    info = options.info
    if not pem and info is None:
        return next
    # Header values per TLS connection: keep-alive requests reuse them.
    cache: weakref.WeakKeyDictionary[Any, tuple[bytes | None, bytes | None]] = weakref.WeakKeyDictionary()

    def values(tls: Any) -> tuple[bytes | None, bytes | None]:
        chain = peer_chain(tls)
        if not chain:
            return None, None
        try:
            return (pem_value(chain) if pem else None), (info_value(chain, info) if info is not None else None)
        except ValueError as exc:  # a certificate cryptography cannot parse
            log.warning("passTLSClientCert %s: cannot read the client certificate: %s", name, exc)
            return (pem_value(chain) if pem else None), None

    async def pass_tls_client_cert(ex: Exchange) -> None:
        tls = ex.tls
        if tls is not None:
            found = cache.get(tls)
            if found is None:
                found = values(tls)
                cache[tls] = found
            cert_header, info_header = found
            if cert_header is not None:
                ex.set_header(CERT_HEADER, cert_header)
            if info_header is not None:
                ex.set_header(INFO_HEADER, info_header)
        await next(ex)

    return pass_tls_client_cert


FACTORIES: dict[str, MiddlewareFactory] = {"passTLSClientCert": build_pass_tls_client_cert}

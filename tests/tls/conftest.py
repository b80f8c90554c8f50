"""TLS test helpers: a trustme CA, certificates as inline PEM, and a raw HTTPS client."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trustme
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.proxy.backends import Backend


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


def pem_pair(ca: trustme.CA, *names: str) -> dict[str, str]:
    """A ``tls.certificates`` entry with inline PEM for ``names``."""
    cert = ca.issue_cert(*names)
    return {"certFile": cert.cert_chain_pems[0].bytes().decode(), "keyFile": cert.private_key_pem.bytes().decode()}


@dataclass
class Answer:
    status: int
    body: bytes
    names: list[str]  # CN + DNS and IP SANs of the certificate the server presented
    version: str | None


def _names(der: bytes) -> list[str]:
    cert = x509.load_der_x509_certificate(der)
    out = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out += san.get_values_for_type(x509.DNSName)
        out += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return out


def client_context(ca: trustme.CA | None = None, *, client_cert: trustme.LeafCert | None = None,
                   max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the tests look at which certificate came, trusted or not
    if max_version is not None:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = max_version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if client_cert is not None:
        client_cert.configure_cert(ctx)
    return ctx


async def https_get(port: int, sni: str | None, host: str | None = None, path: str = "/echo",
                    ctx: ssl.SSLContext | None = None) -> Answer:
    """One HTTP/1.1 request over TLS to 127.0.0.1:port with ``sni`` (None: no SNI)."""
    ctx = ctx or client_context()
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=sni or "")
        try:
            obj = writer.get_extra_info("ssl_object")
            names = _names(obj.getpeercert(binary_form=True))
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host or sni}\r\nConnection: close\r\n\r\n".encode())
            raw = await reader.read()
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), body, names, obj.version())


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    server = await Backend.start()
    yield server
    await server.stop()

"""passTLSClientCert: header values from generated certificates (tables) and a mutual-TLS entry
point forwarding to a real backend (e2e, trustme certificates with an intermediate CA)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from base64 import b64encode
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import aiohttp
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from middlewares.passtlsclientcert import (
    build_pass_tls_client_cert,
    cert_info,
    info_value,
    peer_chain,
    pem_value,
)
from tests.middlewares.access_util import BuildCtx
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import PassTLSClientCert, TLSClientCertInfo
from traefikpy.proxy.entrypoint import EntryPointServer, EntryPointSettings
from traefikpy.proxy.forward import Forwarder
from traefikpy.proxy.http import Exchange
from traefikpy.proxy.settle import respond_error
from traefikpy.proxy.upstream import Upstreams

KEY = ec.generate_private_key(ec.SECP256R1())
NB = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
NA = datetime.datetime(2034, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _name(*pairs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs])


FULL_SUBJECT = _name(
    (NameOID.DOMAIN_COMPONENT, "org"), (NameOID.DOMAIN_COMPONENT, "cheese"),
    (NameOID.ORGANIZATION_NAME, "Cheese"), (NameOID.ORGANIZATION_NAME, "Cheese 2"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Section"), (NameOID.ORGANIZATIONAL_UNIT_NAME, "Section 2"),
    (NameOID.COMMON_NAME, "*.cheese.org"), (NameOID.COMMON_NAME, "*.cheese.com"),
    (NameOID.COUNTRY_NAME, "FR"), (NameOID.COUNTRY_NAME, "US"),
    (NameOID.LOCALITY_NAME, "TOULOUSE"), (NameOID.LOCALITY_NAME, "LYON"),
    (NameOID.STATE_OR_PROVINCE_NAME, "Org state"), (NameOID.STATE_OR_PROVINCE_NAME, "Com state"),
    (NameOID.SERIAL_NUMBER, "SN-1"), (NameOID.EMAIL_ADDRESS, "cert@cheese.org"),
)
ISSUER = _name(
    (NameOID.DOMAIN_COMPONENT, "org"), (NameOID.ORGANIZATION_NAME, "Signing"),
    (NameOID.ORGANIZATIONAL_UNIT_NAME, "Signing Section"), (NameOID.COMMON_NAME, "Signing CA"),
    (NameOID.COUNTRY_NAME, "FR"),
)
MINIMAL_SUBJECT = _name((NameOID.COUNTRY_NAME, "FR"), (NameOID.STATE_OR_PROVINCE_NAME, "Some-State"),
                        (NameOID.ORGANIZATION_NAME, "Cheese"))


def _cert(subject: x509.Name, serial: int, sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ISSUER).public_key(KEY.public_key())
               .serial_number(serial).not_valid_before(NB).not_valid_after(NA))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(KEY, hashes.SHA256())


COMPLETE = _cert(FULL_SUBJECT, 481535886039632329873080491016862977516759989652, [
    x509.DNSName("*.cheese.org"), x509.DNSName("*.cheese.net"), x509.RFC822Name("test@cheese.org"),
    x509.IPAddress(ipaddress.ip_address("10.0.1.0")), x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
    x509.UniformResourceIdentifier("spiffe://cheese/app"),
])
MINIMAL = _cert(MINIMAL_SUBJECT, 1)

ALL_SUBJECT = {"country": True, "province": True, "locality": True, "organization": True,
               "organizationalUnit": True, "commonName": True, "serialNumber": True, "domainComponent": True}
ALL_ISSUER = {k: v for k, v in ALL_SUBJECT.items() if k != "organizationalUnit"}
ALL = {"notAfter": True, "notBefore": True, "sans": True, "serialNumber": True, "subject": ALL_SUBJECT,
       "issuer": ALL_ISSUER}
ISSUER_ALL = 'Issuer="DC=org,C=FR,O=Signing,CN=Signing CA"'
TIMES = f'NB="{int(NB.timestamp())}";NA="{int(NA.timestamp())}"'

INFO: list[dict[str, Any]] = [
    {"desc": "complete certificate, every field", "cert": COMPLETE, "info": ALL, "want": ";".join([
        'Subject="DC=org,DC=cheese,C=FR,C=US,ST=Org state,ST=Com state,L=TOULOUSE,L=LYON,O=Cheese,O=Cheese 2,'
        'OU=Section,OU=Section 2,SN=SN-1,CN=*.cheese.com"',
        ISSUER_ALL, 'SerialNumber="481535886039632329873080491016862977516759989652"', TIMES,
        'SAN="*.cheese.org,*.cheese.net,test@cheese.org,10.0.1.0,2001:db8::1,spiffe://cheese/app"'])},
    {"desc": "minimal certificate, every field", "cert": MINIMAL, "info": ALL,
     "want": f'Subject="C=FR,ST=Some-State,O=Cheese";{ISSUER_ALL};SerialNumber="1";{TIMES}'},
    {"desc": "some fields", "cert": MINIMAL,
     "info": {"notAfter": True, "sans": True, "subject": {"organization": True}, "issuer": {"country": True}},
     "want": f'Subject="O=Cheese";Issuer="C=FR";NA="{int(NA.timestamp())}"'},
    {"desc": "absent attributes are left out", "cert": MINIMAL,
     "info": {"subject": {"organizationalUnit": True, "commonName": True}, "issuer": {"locality": True}}, "want": ""},
    {"desc": "empty selections", "cert": COMPLETE, "info": {"subject": {}}, "want": ""},
]


@pytest.mark.parametrize("case", INFO, ids=[c["desc"] for c in INFO])
def test_cert_info(case: dict[str, Any]) -> None:
    assert cert_info(case["cert"], TLSClientCertInfo.model_validate(case["info"])) == case["want"]


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_info_value_is_query_escaped_and_comma_joined() -> None:
    info = TLSClientCertInfo.model_validate({"subject": {"organization": True}, "serialNumber": True})
    value = info_value([_der(MINIMAL), _der(COMPLETE)], info)
    assert value == quote_plus('Subject="O=Cheese";SerialNumber="1",Subject="O=Cheese,O=Cheese 2";'
                               'SerialNumber="481535886039632329873080491016862977516759989652"', safe="").encode()
    assert value.startswith(b"Subject%3D%22O%3DCheese%22%3BSerialNumber%3D%221%22%2C")
    assert b"Cheese+2" in value  # spaces as "+", like Go's url.QueryEscape


def test_pem_value_is_the_der_in_base64() -> None:
    chain = [_der(MINIMAL), _der(COMPLETE)]
    assert pem_value(chain) == b64encode(chain[0]) + b"," + b64encode(chain[1])
    body = MINIMAL.public_bytes(serialization.Encoding.PEM).decode().splitlines()[1:-1]
    assert pem_value(chain[:1]).decode() == "".join(body)


def test_no_tls_no_chain() -> None:
    assert peer_chain(None) == []


@pytest.fixture(scope="module")
def pki() -> dict[str, Any]:
    root = trustme.CA()
    intermediate = root.create_child_ca()
    return {
        "root": root,
        "server": root.issue_cert("127.0.0.1"),
        "client": intermediate.issue_cert("client.test", common_name="client", organization_name="Cheese",
                                          organization_unit_name="Ops"),
    }


async def _mtls_proxy(pki: dict[str, Any], backend: Backend, options: dict[str, Any]) -> tuple[EntryPointServer, Upstreams]:
    upstreams = Upstreams()
    forwarder = Forwarder.create(upstreams, backend.url)

    async def forward(ex: Exchange) -> None:
        try:
            await forwarder(ex)
        except Exception as exc:  # data-plane errors become 502/504 like the router does
            await respond_error(ex, exc)

    handler = build_pass_tls_client_cert(PassTLSClientCert.model_validate(options), forward, "pass@file", BuildCtx())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    pki["server"].configure_cert(context)
    pki["root"].configure_trust(context)
    context.verify_mode = ssl.CERT_OPTIONAL
    settings = EntryPointSettings(name="websecure", address="127.0.0.1:0", ssl_context=context, grace_timeout=1.0,
                                  hostname="proxy-host")
    server = EntryPointServer(settings, handler)
    await server.start()
    return server, upstreams


async def _get(pki: dict[str, Any], port: int, with_cert: bool, headers: dict[str, str] | None = None) -> int:
    context = ssl.create_default_context()
    pki["root"].configure_trust(context)
    if with_cert:
        pki["client"].configure_cert(context)
    async with aiohttp.ClientSession() as session, \
            session.get(f"https://127.0.0.1:{port}/echo", ssl=context, headers=headers or {}) as resp:
        await resp.read()
        return resp.status


async def test_client_certificate_chain_reaches_the_backend(pki: dict[str, Any]) -> None:
    backend = await Backend.start()
    options = {"pem": True, "info": {"subject": {"commonName": True, "organization": True,
                                                 "organizationalUnit": True}, "sans": True}}
    server, upstreams = await _mtls_proxy(pki, backend, options)
    try:
        assert await _get(pki, server.port, with_cert=True) == 200
        assert await _get(pki, server.port, with_cert=True) == 200  # values cached per connection or not, same
        assert await _get(pki, server.port, with_cert=False,
                          headers={"X-Forwarded-Tls-Client-Cert": "forged"}) == 200
    finally:
        await server.stop(grace=0.2)
        await upstreams.close()
        await backend.stop()
    chain = [x509.load_pem_x509_certificate(blob.bytes()) for blob in pki["client"].cert_chain_pems]
    expected_pem = ",".join(b64encode(_der(c)).decode() for c in chain)
    first, second, anonymous = backend.requests
    assert len(chain) == 2  # leaf and intermediate, as presented by the client
    assert first.header("X-Forwarded-Tls-Client-Cert") == expected_pem
    info = unquote_plus(first.header("X-Forwarded-Tls-Client-Cert-Info") or "")
    assert info.split(",Subject=")[0] == 'Subject="O=Cheese,OU=Ops,CN=client";SAN="client.test"'
    assert second.header("X-Forwarded-Tls-Client-Cert") == expected_pem
    assert anonymous.header("X-Forwarded-Tls-Client-Cert") is None  # stripped at the entry point, none added
    assert anonymous.header("X-Forwarded-Tls-Client-Cert-Info") is None

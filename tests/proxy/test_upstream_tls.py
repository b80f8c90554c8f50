"""HTTPS upstreams: rootCAs, serverName, insecureSkipVerify and client certificates (trustme)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from tests.proxy.backends import Backend
from tests.proxy.client import RawClient
from tests.proxy.conftest import StartProxy
from traefikpy.proxy.upstream import ClientCertificate, Transport


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(ca: trustme.CA, tmp_path: Path) -> dict[str, str]:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    client = ca.issue_cert("client.internal")
    cert_file, key_file = tmp_path / "client.pem", tmp_path / "client.key"
    client.cert_chain_pems[0].write_to_path(str(cert_file))
    client.private_key_pem.write_to_path(str(key_file))
    return {"ca": str(ca_file), "cert": str(cert_file), "key": str(key_file)}


async def _tls_backend(ca: trustme.CA, names: list[str], require_client_cert: bool = False) -> Backend:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(ctx)
    if require_client_cert:
        ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return await Backend.start(ssl=ctx)


@pytest.fixture
async def tls_backend(ca: trustme.CA) -> AsyncIterator[Backend]:
    server = await _tls_backend(ca, ["127.0.0.1", "backend.internal"])
    yield server
    await server.stop()


@pytest.fixture
async def named_backend(ca: trustme.CA) -> AsyncIterator[Backend]:
    server = await _tls_backend(ca, ["backend.internal"])
    yield server
    await server.stop()


@pytest.fixture
async def mtls_backend(ca: trustme.CA) -> AsyncIterator[Backend]:
    server = await _tls_backend(ca, ["127.0.0.1"], require_client_cert=True)
    yield server
    await server.stop()


async def _get(port: int) -> int:
    client = await RawClient.connect(port)
    resp = await client.request("GET", "/echo")
    await client.close()
    return resp.status


async def test_root_cas_file(start_proxy: StartProxy, tls_backend: Backend, files: dict[str, str]) -> None:
    proxy = await start_proxy(transport=Transport(name="tls", root_cas=(files["ca"],)), target=tls_backend.url)
    assert await _get(proxy.port) == 200
    assert tls_backend.requests[-1].method == "GET"


async def test_root_cas_pem_content(start_proxy: StartProxy, tls_backend: Backend, ca: trustme.CA) -> None:
    pem = ca.cert_pem.bytes().decode()
    proxy = await start_proxy(transport=Transport(name="tls", root_cas=(pem,)), target=tls_backend.url)
    assert await _get(proxy.port) == 200


async def test_unknown_ca_is_502(start_proxy: StartProxy, tls_backend: Backend) -> None:
    proxy = await start_proxy(transport=Transport(name="tls"), target=tls_backend.url)
    assert await _get(proxy.port) == 502
    assert tls_backend.requests == []


async def test_insecure_skip_verify(start_proxy: StartProxy, tls_backend: Backend) -> None:
    proxy = await start_proxy(transport=Transport(name="tls", insecure_skip_verify=True), target=tls_backend.url)
    assert await _get(proxy.port) == 200


async def test_server_name(start_proxy: StartProxy, named_backend: Backend, files: dict[str, str]) -> None:
    # The certificate only names backend.internal: dialing 127.0.0.1 needs serverName.
    bad = await start_proxy(transport=Transport(name="noname", root_cas=(files["ca"],)), target=named_backend.url)
    assert await _get(bad.port) == 502
    good = await start_proxy(
        transport=Transport(name="named", root_cas=(files["ca"],), server_name="backend.internal"),
        target=named_backend.url,
    )
    assert await _get(good.port) == 200


async def test_client_certificate(start_proxy: StartProxy, mtls_backend: Backend, files: dict[str, str]) -> None:
    without = await start_proxy(transport=Transport(name="nocert", root_cas=(files["ca"],)), target=mtls_backend.url)
    assert await _get(without.port) == 502
    with_cert = await start_proxy(
        transport=Transport(
            name="mtls",
            root_cas=(files["ca"],),
            certificates=(ClientCertificate(files["cert"], files["key"]),),
        ),
        target=mtls_backend.url,
    )
    assert await _get(with_cert.port) == 200
    assert ("DNS", "client.internal") in mtls_backend.peer_certs[-1]["subjectAltName"]


async def test_client_certificate_pem_contents(start_proxy: StartProxy, mtls_backend: Backend, files: dict[str, str]) -> None:
    cert = Path(files["cert"]).read_text()
    key = Path(files["key"]).read_text()
    proxy = await start_proxy(
        transport=Transport(name="mtls-pem", root_cas=(files["ca"],), certificates=(ClientCertificate(cert, key),)),
        target=mtls_backend.url,
    )
    assert await _get(proxy.port) == 200


async def test_tls_connections_are_reused(start_proxy: StartProxy, tls_backend: Backend, files: dict[str, str]) -> None:
    proxy = await start_proxy(transport=Transport(name="tls", root_cas=(files["ca"],)), target=tls_backend.url)
    client = await RawClient.connect(proxy.port)
    for _ in range(3):
        assert (await client.request("GET", "/echo")).status == 200
    assert tls_backend.connections == 1
    await client.close()

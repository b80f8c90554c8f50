"""ACME end to end against a real pebble: certificates for a router's Host obtained through HTTP-01,
TLS-ALPN-01 and DNS-01 on the router's own entry points, served by the HTTPS entry point without a
restart (a client verifying against pebble's root succeeds), storage reloaded without a new order,
renewal when the window is reached, badNonce retried, acme.json mode rules.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import ssl
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.acme.pebble import Pebble
from tests.conftest import free_port
from tests.harness import FeedProvider
from tests.proxy.backends import Backend
from tests.tls.conftest import Answer, https_get
from traefikpy.app import App
from traefikpy.config.sources import load_static

pytestmark = pytest.mark.timeout(120)

HOST = "app.test"


def static(p: Pebble, storage: Path, acme: dict[str, Any], web_port: int | None = None,
           web: dict[str, Any] | None = None) -> Any:
    cfg = {
        "entryPoints": {"web": {"address": f"127.0.0.1:{p.http_port if web_port is None else web_port}", **(web or {})},
                        "websecure": {"address": f"127.0.0.1:{p.tls_port}"}},
        "certificatesResolvers": {"le": {"acme": {
            "email": "admin@example.com", "caServer": p.directory, "storage": str(storage),
            "keyType": "EC256", "caCertificates": [str(p.ca_file)], **acme}}},
    }
    path = storage.parent / "traefik.yml"
    path.write_text(yaml.safe_dump(cfg))
    return load_static([f"--configFile={path}"], {}, search=False)


def dynamic(backend: Backend, host: str = HOST, **tls: Any) -> dict[str, Any]:
    return {"http": {
        "routers": {"app": {"rule": f"Host(`{host}`)", "entryPoints": ["websecure"], "service": "echo",
                            "tls": {"certResolver": "le", **tls}}},
        "services": {"echo": {"loadBalancer": {"servers": [{"url": backend.url}]}}},
    }}


@contextlib.asynccontextmanager
async def running(static_cfg: Any, config: dict[str, Any]) -> AsyncIterator[App]:
    feed = FeedProvider()
    app = App(static_cfg, providers=[feed])
    await app.start()
    try:
        feed.push(config)
        yield app
    finally:
        await app.stop()


def verifying(root: bytes) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=root.decode())
    return ctx


async def trusted_answer(port: int, root: bytes, host: str = HOST, timeout: float = 40.0) -> Answer:
    """Poll until a client verifying against pebble's root completes a request for ``host``."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Exception | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            return await https_get(port, host, ctx=verifying(root))
        except (ssl.SSLError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
    raise AssertionError(f"no trusted certificate for {host} within {timeout}s: {last}")


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = await Backend.start()
    yield b
    await b.stop()


@pytest.fixture(scope="module")
def pebble() -> Iterator[Pebble]:
    p = Pebble.start()
    yield p
    p.stop()


def stored(storage: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(storage.read_text())
    return data


async def test_http01_certificate_served_without_restart(pebble: Pebble, backend: Backend, tmp_path: Path) -> None:
    storage = tmp_path / "acme.json"
    # the usual setup: the challenge entry point redirects everything else to HTTPS
    redirect = {"http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https"}}}}
    cfg = static(pebble, storage, {"httpChallenge": {"entryPoint": "web"}}, web=redirect)
    before = pebble.orders()
    async with running(cfg, dynamic(backend)) as app:
        root = pebble.root_pem()
        answer = await trusted_answer(pebble.tls_port, root)
        assert answer.status == 200
        assert HOST in answer.names
        assert pebble.orders() == before + 1
        assert app.acme.challenges.http_answers >= 1  # validated through our acme-http@internal router
        assert app.acme.challenges.alpn_answers == 0
        resolver = app.acme.get("le")
        assert resolver.issued == 1
        # Traefik's acme.json layout, mode 0600
        assert stat.S_IMODE(os.stat(storage).st_mode) == 0o600
        data = stored(storage)["le"]
        assert data["Account"]["Email"] == "admin@example.com"
        assert data["Account"]["Registration"]["uri"].startswith(f"https://127.0.0.1:{pebble.api_port}/")
        assert data["Account"]["KeyType"] == "P256"
        base64.b64decode(data["Account"]["PrivateKey"])
        (cert,) = data["Certificates"]
        assert cert["domain"] == {"main": HOST}
        assert cert["Store"] == "default"
        pem = base64.b64decode(cert["certificate"])
        leaf = x509.load_pem_x509_certificate(pem)
        assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName) == [HOST]
        assert b"PRIVATE KEY" in base64.b64decode(cert["key"])
        # the challenge router answers unknown tokens with 404 on the challenge entry point
        reader, writer = await asyncio.open_connection("127.0.0.1", pebble.http_port)
        writer.write(b"GET /.well-known/acme-challenge/nope HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 404")
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", pebble.http_port)
        writer.write(b"GET /other HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        assert b" 30" in (await reader.read()).split(b"\r\n", 1)[0]  # redirected, the challenge was not
        writer.close()


async def test_tlsalpn01_certificate_and_restart_reuses_storage(pebble: Pebble, backend: Backend,
                                                                 tmp_path: Path) -> None:
    storage = tmp_path / "acme.json"
    cfg = static(pebble, storage, {"tlsChallenge": {}})
    before = pebble.orders()
    async with running(cfg, dynamic(backend)) as app:
        root = pebble.root_pem()
        answer = await trusted_answer(pebble.tls_port, root)
        assert answer.status == 200
        assert pebble.orders() == before + 1
        assert app.acme.challenges.alpn_answers >= 1  # pebble's acme-tls/1 handshake got the challenge cert
        assert app.acme.challenges.http_answers == 0
        first = stored(storage)["le"]
    # restart with the same storage: served at once, no new order, same account
    async with running(cfg, dynamic(backend)) as app:
        answer = await trusted_answer(pebble.tls_port, root, timeout=5)
        assert answer.status == 200
        await asyncio.sleep(1.0)  # give a (wrong) order time to show up
        assert pebble.orders() == before + 1
        assert app.acme.get("le").orders == 0
    again = stored(storage)["le"]
    assert again["Account"] == first["Account"]
    assert again["Certificates"] == first["Certificates"]


async def test_renewal_when_window_reached_without_storm(backend: Backend, tmp_path: Path) -> None:
    # certificates valid 60 s; renew when less than 52 s remain: about 8 s after each issuance
    p = Pebble.start(validity=60)
    try:
        storage = tmp_path / "acme.json"
        cfg = static(p, storage, {"httpChallenge": {"entryPoint": "web"}, "renewPeriod": "52s",
                                  "renewInterval": "250ms"})
        async with running(cfg, dynamic(backend)) as app:
            root = p.root_pem()
            await trusted_answer(p.tls_port, root)
            serial = _served_serial(stored(storage))
            orders = p.orders()
            assert orders == 1
            resolver = app.acme.get("le")
            deadline = asyncio.get_running_loop().time() + 30
            while resolver.issued < 2:
                assert asyncio.get_running_loop().time() < deadline, "no renewal"
                await asyncio.sleep(0.1)
            renewed = _served_serial(stored(storage))
            assert renewed != serial
            # the renewed certificate is served on new handshakes
            answer = await trusted_answer(p.tls_port, root, timeout=5)
            assert answer.status == 200
            # one order per renewal, never a storm: the new certificate is outside the window
            await asyncio.sleep(3.0)
            assert p.orders() == 2
            assert len(stored(storage)["le"]["Certificates"]) == 1
    finally:
        p.stop()


def _served_serial(data: dict[str, Any]) -> int:
    (cert,) = data["le"]["Certificates"]
    return x509.load_pem_x509_certificate(base64.b64decode(cert["certificate"])).serial_number


async def test_bad_nonce_is_retried(backend: Backend, tmp_path: Path) -> None:
    p = Pebble.start(nonce_reject=50)
    try:
        storage = tmp_path / "acme.json"
        cfg = static(p, storage, {"httpChallenge": {"entryPoint": "web"}})
        async with running(cfg, dynamic(backend)) as app:
            answer = await trusted_answer(p.tls_port, p.root_pem())
            assert answer.status == 200
            resolver = app.acme.get("le")
            assert resolver.orders == 1  # one order, no failure
            assert resolver._account is not None and resolver._account.net.nonce_retries > 0
    finally:
        p.stop()


async def test_world_readable_storage_refused(pebble: Pebble, backend: Backend, tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    storage = tmp_path / "acme.json"
    storage.write_text("")
    os.chmod(storage, 0o644)
    cfg = static(pebble, storage, {"httpChallenge": {"entryPoint": "web"}})
    before = pebble.orders()
    async with running(cfg, dynamic(backend)) as app:
        resolver = app.acme.get("le")
        assert str(storage) in resolver.error and "too open" in resolver.error
        await asyncio.sleep(1.5)
        assert pebble.orders() == before
        assert resolver.orders == 0
    assert any(str(storage) in r.getMessage() for r in caplog.records)
    assert storage.read_text() == ""  # left alone


async def test_failed_order_backs_off(backend: Backend, tmp_path: Path) -> None:
    # pebble validates HTTP-01 on a port where nothing listens: every order fails
    p = Pebble.start(http_port=free_port())
    try:
        storage = tmp_path / "acme.json"
        # the web entry point listens elsewhere than pebble's httpPort
        cfg = static(p, storage, {"httpChallenge": {"entryPoint": "web"}}, web_port=0)
        async with running(cfg, dynamic(backend)) as app:
            resolver = app.acme.get("le")
            await asyncio.sleep(7.5)
            # backoff 2 s, 4 s, 8 s...: at most 3 attempts in 7.5 s (a storm would be dozens)
            assert 2 <= resolver.orders <= 3, resolver.orders
            assert p.orders() == resolver.orders
            assert resolver.last_error
            assert resolver.issued == 0
    finally:
        p.stop()



async def test_dns01_rfc2136_against_bind(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS-01 through the rfc2136 provider: BIND serves the zone, pebble resolves through it."""
    from tests.acme.bind import Bind

    with Bind.start() as bind:
        p = Pebble.start(dns_server=bind.address)
        try:
            for key, value in bind.env().items():  # lego's variables, read from the environment like Traefik
                monkeypatch.setenv(key, value)
            storage = tmp_path / "acme.json"
            # BIND is the recursive resolver checked (requireAllRNS); its NS records name port 53,
            # where nothing listens here, so the authoritative check is off
            cfg = static(p, storage, {"dnsChallenge": {
                "provider": "rfc2136", "resolvers": [bind.address],
                "propagation": {"requireAllRNS": True, "disableANSChecks": True}}})
            host = "app.example.test"
            config = dynamic(backend, host)
            # a second router asks for a wildcard (only DNS-01 can) with the apex as SAN
            config["http"]["routers"]["wild"] = {
                "rule": "Host(`x.w.example.test`)", "entryPoints": ["websecure"], "service": "echo",
                "tls": {"certResolver": "le", "domains": [{"main": "*.w.example.test", "sans": ["w.example.test"]}]}}
            async with running(cfg, config) as app:
                root = p.root_pem()
                answer = await trusted_answer(p.tls_port, root, host=host)
                assert answer.status == 200 and host in answer.names
                wild = await trusted_answer(p.tls_port, root, host="x.w.example.test")
                assert wild.status == 200 and "*.w.example.test" in wild.names and "w.example.test" in wild.names
                resolver = app.acme.get("le")
                assert resolver.orders == 2 and resolver.issued == 2
                assert app.acme.challenges.http_answers == 0 and app.acme.challenges.alpn_answers == 0
                # the challenge records were removed from the zone after validation
                assert bind.txt(f"_acme-challenge.{host}.") == []
                assert bind.txt("_acme-challenge.w.example.test.") == []
            domains = [c["domain"] for c in stored(storage)["le"]["Certificates"]]
            assert {"main": "*.w.example.test", "sans": ["w.example.test"]} in domains
            assert {"main": host} in domains
        finally:
            p.stop()


def _common_name(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return str(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


async def test_external_account_binding_and_preferred_chain(backend: Backend, tmp_path: Path) -> None:
    kid = "kid-1"
    hmac = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    p = Pebble.start(eab={kid: hmac}, alternate_roots=1)
    try:
        # without EAB the CA refuses the account: nothing is obtained, the error says why
        cfg = static(p, tmp_path / "no-eab.json", {"httpChallenge": {"entryPoint": "web"}})
        async with running(cfg, dynamic(backend)) as app:
            resolver = app.acme.get("le")
            deadline = asyncio.get_running_loop().time() + 20
            while not resolver.last_error:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.1)
            assert "external account" in next(iter(resolver.last_error.values())).lower()
            assert resolver.issued == 0
        # with EAB, and the alternate chain preferred by its root's common name
        alternate = p.root_pem(1)
        storage = tmp_path / "acme.json"
        cfg = static(p, storage, {"httpChallenge": {"entryPoint": "web"},
                                  "eab": {"kid": kid, "hmacEncoded": hmac},
                                  "preferredChain": _common_name(alternate)})
        async with running(cfg, dynamic(backend)):
            answer = await trusted_answer(p.tls_port, alternate)
            assert answer.status == 200
            with pytest.raises(ssl.SSLCertVerificationError):  # not the default chain
                await https_get(p.tls_port, HOST, ctx=verifying(p.root_pem(0)))
    finally:
        p.stop()


async def test_names_with_a_user_certificate_are_not_ordered(pebble: Pebble, backend: Backend, tmp_path: Path) -> None:
    import trustme

    user = trustme.CA().issue_cert(HOST)
    config = dynamic(backend)
    config["tls"] = {"certificates": [{"certFile": user.cert_chain_pems[0].bytes().decode(),
                                       "keyFile": user.private_key_pem.bytes().decode()}]}
    cfg = static(pebble, tmp_path / "acme.json", {"httpChallenge": {"entryPoint": "web"}})
    before = pebble.orders()
    async with running(cfg, config) as app:
        await asyncio.sleep(1.5)
        assert app.acme.get("le").orders == 0
        assert pebble.orders() == before


async def test_account_key_reused_when_the_ca_forgot_the_account(backend: Backend, tmp_path: Path) -> None:
    """The stored account is reused as is; when the CA answers accountDoesNotExist (here: pebble
    restarted on the same address, its accounts forgotten), the same key is registered again."""
    storage = tmp_path / "acme.json"
    first = Pebble.start()
    try:
        cfg = static(first, storage, {"httpChallenge": {"entryPoint": "web"}})
        async with running(cfg, dynamic(backend)):
            await trusted_answer(first.tls_port, first.root_pem())
    finally:
        first.stop()
    account = stored(storage)["le"]["Account"]
    second = Pebble.start(api_port=first.api_port, http_port=first.http_port, tls_port=first.tls_port)
    try:
        cfg = static(second, storage, {"httpChallenge": {"entryPoint": "web"}})
        async with running(cfg, dynamic(backend, "other.test")) as app:
            answer = await trusted_answer(second.tls_port, second.root_pem(), host="other.test")
            assert answer.status == 200
            assert app.acme.get("le").orders == 1
        again = stored(storage)["le"]["Account"]
        assert again["PrivateKey"] == account["PrivateKey"]  # the same key...
        assert again["Registration"]["uri"] != account["Registration"]["uri"]  # ...registered again
        assert [c["domain"]["main"] for c in stored(storage)["le"]["Certificates"]] == [HOST, "other.test"]
    finally:
        second.stop()


async def test_new_ca_server_gets_a_new_account(pebble: Pebble, backend: Backend, tmp_path: Path) -> None:
    """An account registered with another CA is reset (new key), as Traefik does when the account
    URI does not match caServer."""
    storage = tmp_path / "acme.json"
    other = Pebble.start(http_port=pebble.http_port, tls_port=pebble.tls_port)
    try:
        cfg = static(other, storage, {"httpChallenge": {"entryPoint": "web"}})
        async with running(cfg, dynamic(backend)):
            await trusted_answer(other.tls_port, other.root_pem())
    finally:
        other.stop()
    account = stored(storage)["le"]["Account"]
    cfg = static(pebble, storage, {"httpChallenge": {"entryPoint": "web"}})
    async with running(cfg, dynamic(backend, "other.test")):
        answer = await trusted_answer(pebble.tls_port, pebble.root_pem(), host="other.test")
        assert answer.status == 200
    again = stored(storage)["le"]["Account"]
    assert again["PrivateKey"] != account["PrivateKey"]
    assert again["Registration"]["uri"].startswith(f"https://127.0.0.1:{pebble.api_port}/")


async def test_dns01_exec_provider_writing_to_challtestsrv(pebble: Pebble, backend: Backend, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS-01 through the exec provider: a program publishes the TXT record in pebble's own DNS
    server (pebble-challtestsrv's management API), and removes it afterwards."""
    import sys

    calls = tmp_path / "calls.log"
    program = tmp_path / "dns-hook"
    program.write_text(f"""#!{sys.executable}
import json, sys, urllib.request
action, fqdn, value = sys.argv[1:4]
with open({str(calls)!r}, "a") as log:
    log.write(f"{{action}} {{fqdn}}\\n")
path = "set-txt" if action == "present" else "clear-txt"
body = {{"host": fqdn, "value": value}} if action == "present" else {{"host": fqdn}}
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:{pebble.cts_port}/" + path,
                       data=json.dumps(body).encode(), method="POST"), timeout=5).read()
""")
    program.chmod(0o700)
    monkeypatch.setenv("EXEC_PATH", str(program))
    monkeypatch.setenv("EXEC_PROPAGATION_TIMEOUT", "10")
    monkeypatch.setenv("EXEC_POLLING_INTERVAL", "0.2")
    storage = tmp_path / "acme.json"
    cfg = static(pebble, storage, {"dnsChallenge": {
        "provider": "exec", "resolvers": [f"127.0.0.1:{pebble.dns_port}"],
        "propagation": {"requireAllRNS": True, "disableANSChecks": True}}})
    host = "exec.test"
    async with running(cfg, dynamic(backend, host)) as app:
        answer = await trusted_answer(pebble.tls_port, pebble.root_pem(), host=host)
        assert answer.status == 200
        assert app.acme.challenges.http_answers == 0 and app.acme.challenges.alpn_answers == 0
    assert calls.read_text().splitlines() == [f"present _acme-challenge.{host}.", f"cleanup _acme-challenge.{host}."]


async def test_default_generated_cert_from_the_resolver(pebble: Pebble, backend: Backend, tmp_path: Path) -> None:
    """tls.stores.default.defaultGeneratedCert: the resolver obtains that domain's certificate and
    handshakes matching no other certificate get it instead of the self-signed default."""
    config = dynamic(backend)
    config["tls"] = {"stores": {"default": {"defaultGeneratedCert": {
        "resolver": "le", "domain": {"main": "default.test", "sans": ["fallback.test"]}}}}}
    cfg = static(pebble, tmp_path / "acme.json", {"httpChallenge": {"entryPoint": "web"}})
    async with running(cfg, config) as app:
        root = pebble.root_pem()
        await trusted_answer(pebble.tls_port, root)  # the router's own certificate
        ctx = verifying(root)
        ctx.check_hostname = False  # the chain must verify; the names are checked below
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            try:
                answer = await https_get(pebble.tls_port, "unknown.test", ctx=ctx)
                break
            except ssl.SSLError:
                assert asyncio.get_running_loop().time() < deadline, "no default certificate from the resolver"
                await asyncio.sleep(0.2)
        assert "default.test" in answer.names and "fallback.test" in answer.names
        assert app.acme.get("le").issued == 2

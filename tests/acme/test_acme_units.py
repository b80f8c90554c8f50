"""ACME pieces without a CA: acme.json compatibility and modes, renewal pacing, domains from
routers, the ClientHello ALPN list, and the TLS-ALPN-01 certificate a real OpenSSL client sees."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.harness import FeedProvider
from traefikpy.acme.challenges import ACME_IDENTIFIER_OID, alpn_challenge_cert
from traefikpy.acme.resolver import Resolver, domain_key, renew_durations
from traefikpy.acme.storage import CertRecord, ResolverData, Storage, StorageError
from traefikpy.app import App
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import Merged
from traefikpy.config.sources import load_static
from traefikpy.tls.clienthello import read_client_hello


def _traefik_file(tmp_path: Path) -> tuple[Path, bytes]:
    """An acme.json as Traefik writes it (base64 DER PKCS#1 account key, base64 PEM certificate)."""
    key = rsa.generate_private_key(65537, 2048)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    cert_pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    data = {"myresolver": {
        "Account": {"Email": "me@example.com",
                    "Registration": {"body": {"status": "valid", "contact": ["mailto:me@example.com"]},
                                     "uri": "https://ca.example/acme/acct/1"},
                    "PrivateKey": base64.b64encode(der).decode(), "KeyType": "4096"},
        "Certificates": [{"domain": {"main": "a.example", "sans": ["b.example"]},
                          "certificate": base64.b64encode(cert_pem).decode(),
                          "key": base64.b64encode(b"KEY").decode(), "Store": "default"}]},
        "other": {"Account": None, "Certificates": None}}
    path = tmp_path / "acme.json"
    path.write_text(json.dumps(data))
    os.chmod(path, 0o600)
    return path, der


def test_traefik_acme_json_loads_and_saves_compatibly(tmp_path: Path) -> None:
    path, der = _traefik_file(tmp_path)
    storage = Storage(str(path))
    data = storage.load("myresolver")
    assert data.account is not None
    assert data.account.email == "me@example.com" and data.account.private_key == der
    assert data.account.registration == {"body": {"status": "valid", "contact": ["mailto:me@example.com"]},
                                         "uri": "https://ca.example/acme/acct/1"}
    (cert,) = data.certificates
    assert cert.domains == ("a.example", "b.example") and cert.key == b"KEY" and cert.store == "default"
    data.certificates.append(CertRecord("c.example", (), b"PEM", b"K"))
    storage.save("myresolver", data)
    raw = json.loads(path.read_text())
    assert set(raw) == {"myresolver", "other"}  # other resolvers' sections are kept
    assert raw["myresolver"]["Certificates"][1] == {
        "domain": {"main": "c.example"}, "certificate": base64.b64encode(b"PEM").decode(),
        "key": base64.b64encode(b"K").decode(), "Store": "default"}
    assert raw["myresolver"]["Account"]["PrivateKey"] == base64.b64encode(der).decode()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["acme.json"]  # no temporary file left


def test_new_storage_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        path = tmp_path / "sub" / "acme.json"
        Storage(str(path)).save("r", ResolverData())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text()) == {"r": {"Account": None, "Certificates": []}}


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_storage_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path, _ = _traefik_file(tmp_path)
    os.chmod(path, mode)
    with pytest.raises(StorageError, match=f"permissions {mode:o} for {path} are too open"):
        Storage(str(path)).load("myresolver")
    with pytest.raises(StorageError):
        Storage(str(path)).save("myresolver", ResolverData())


def test_renew_durations_follow_traefik() -> None:
    day = 24 * 3600.0
    assert renew_durations(2160) == (30 * day, day)  # 90 days: 30 days before, checked daily
    assert renew_durations(24 * 365) == (120 * day, 7 * day)
    assert renew_durations(24 * 7) == (day, 3600.0)
    assert renew_durations(24) == (6 * 3600.0, 600.0)
    assert renew_durations(1) == (1200.0, 60.0)


def _static(tmp_path: Path, *flags: str) -> object:
    return load_static([
        "--entryPoints.web.address=127.0.0.1:0", "--entryPoints.websecure.address=127.0.0.1:0",
        f"--certificatesResolvers.le.acme.storage={tmp_path / 'acme.json'}",
        "--certificatesResolvers.le.acme.httpChallenge.entryPoint=web", *flags], {}, search=False)


async def test_domains_from_router_rules_tls_domains_and_entrypoint_defaults(tmp_path: Path) -> None:
    static = _static(tmp_path, "--entryPoints.websecure.http.tls.certResolver=le")
    app = App(static, providers=[FeedProvider()])  # type: ignore[arg-type]
    resolver: Resolver = app.acme.get("le")
    merged = Merged(DynamicConfig.model_validate({"http": {"routers": {
        "a": {"rule": "Host(`A.example`) || (Host(`b.example`) && Path(`/x`))", "service": "s",
              "entryPoints": ["web"], "tls": {"certResolver": "le"}},
        "b": {"rule": "Host(`c.example`)", "service": "s", "entryPoints": ["web"],
              "tls": {"certResolver": "le", "domains": [{"main": "d.example", "sans": ["e.example"]}]}},
        "c": {"rule": "Host(`f.example`)", "service": "s", "entryPoints": ["websecure"]},  # entry point default
        "d": {"rule": "Host(`g.example`)", "service": "s", "entryPoints": ["web"], "tls": {"certResolver": "other"}},
        "e": {"rule": "Host(`h.example`)", "service": "s", "entryPoints": ["web"],
              "tls": {"certResolver": "le", "domains": [{"main": "*.wild.example"}]}},  # needs DNS-01
    }}}))
    assert resolver.wanted(merged) == [("a.example", "b.example"), ("d.example", "e.example"), ("f.example",)]
    # the challenge router is on the httpChallenge entry point at the highest priority
    (route,) = [r for r in app.ctx.internal_routes if r[1] == "acme-http@internal"]
    assert route[0] == "web" and route[2] == "PathPrefix(`/.well-known/acme-challenge/`)" and route[3] == 2**63 - 1


def test_covered_sets_are_not_ordered_again(tmp_path: Path) -> None:
    static = _static(tmp_path)
    app = App(static, providers=[FeedProvider()])  # type: ignore[arg-type]
    resolver = app.acme.get("le")
    resolver.data.certificates = [CertRecord("*.example", ("example",), b"C", b"K")]
    assert resolver.covered(domain_key(["a.example"]))
    assert resolver.covered(domain_key(["example", "b.example"]))
    assert not resolver.covered(domain_key(["a.b.example"]))
    assert not resolver.covered(domain_key(["other"]))


def _client_hello(alpn: list[str], sni: str) -> bytes:
    ctx = ssl.create_default_context()
    ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def test_client_hello_alpn_list() -> None:
    hello = read_client_hello(_client_hello(["acme-tls/1"], "a.example"))
    assert hello.server_name == "a.example" and hello.alpn == ("acme-tls/1",)
    hello = read_client_hello(_client_hello(["h2", "http/1.1"], "b.example"))
    assert hello.alpn == ("h2", "http/1.1")
    assert read_client_hello(_client_hello([], "c.example")).alpn == ()


def test_alpn_challenge_certificate_has_the_critical_acme_identifier() -> None:
    cert_pem, _ = alpn_challenge_cert("a.example", "token.thumb")
    cert = x509.load_pem_x509_certificate(cert_pem)
    ext = cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    assert ext.critical
    assert ext.value.value == b"\x04\x20" + hashlib.sha256(b"token.thumb").digest()  # type: ignore[attr-defined]
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["a.example"]


async def test_acme_tls_handshake_gets_the_challenge_certificate_only_with_that_alpn(tmp_path: Path) -> None:
    static = _static(tmp_path)
    app = App(static, providers=[FeedProvider()])  # type: ignore[arg-type]
    await app.start()
    try:
        app.acme.challenges.add_alpn("a.example", "tok.thumb")
        port = app.port("websecure")

        async def handshake(alpn: list[str]) -> tuple[x509.Certificate, str | None]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(alpn)
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="a.example")
            obj = writer.get_extra_info("ssl_object")
            der = obj.getpeercert(binary_form=True)
            proto = obj.selected_alpn_protocol()
            writer.close()
            return x509.load_der_x509_certificate(der), proto

        cert, proto = await handshake(["acme-tls/1"])
        assert proto == "acme-tls/1"
        assert cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID).critical
        cert, proto = await handshake(["http/1.1"])  # a normal client gets the normal certificate
        with pytest.raises(x509.ExtensionNotFound):
            cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
        app.acme.challenges.remove_alpn("a.example")
        cert, _ = await handshake(["acme-tls/1"])  # challenge closed: no challenge certificate
        with pytest.raises(x509.ExtensionNotFound):
            cert.extensions.get_extension_for_oid(ACME_IDENTIFIER_OID)
    finally:
        await app.stop()


def test_shutdown_is_not_held_up_by_a_hanging_ca(tmp_path: Path) -> None:
    """A CA that accepts connections and never answers: the order is in flight in its thread, and
    stopping the App (then closing the loop, as ``traefikpy`` does on SIGTERM) is still quick."""
    import subprocess
    import sys
    import textwrap
    import time

    script = textwrap.dedent(f"""
        import asyncio, socket, sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.harness import FeedProvider
        from traefikpy.app import App
        from traefikpy.config.sources import load_static

        hang = socket.create_server(("127.0.0.1", 0))
        port = hang.getsockname()[1]
        static = load_static([
            "--entryPoints.web.address=127.0.0.1:0",
            "--certificatesResolvers.le.acme.storage={tmp_path / 'acme.json'}",
            f"--certificatesResolvers.le.acme.caServer=https://127.0.0.1:{{port}}/dir",
            "--certificatesResolvers.le.acme.httpChallenge.entryPoint=web"], {{}}, search=False)

        async def main():
            feed = FeedProvider()
            app = App(static, providers=[feed])
            await app.start()
            feed.push({{"http": {{"routers": {{"a": {{"rule": "Host(`a.example`)", "service": "noop@internal",
                                                   "tls": {{"certResolver": "le"}}}}}}}}}})
            resolver = app.acme.get("le")
            while resolver.orders == 0:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # the thread is blocked on the CA
            await app.stop()

        start = time.monotonic()
        asyncio.run(main())
        print("exited", round(time.monotonic() - start, 2))
    """)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr[-2000:]
    assert "exited" in out.stdout
    assert elapsed < 15, elapsed  # the CA client timeout is 120 s


def test_unknown_resolver_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = App(_static(tmp_path), providers=[FeedProvider()])  # type: ignore[arg-type]
    merged = Merged(DynamicConfig.model_validate({"http": {"routers": {
        "a": {"rule": "Host(`a.example`)", "service": "s", "tls": {"certResolver": "nope"}}}}}))
    app.acme.routers_changed(merged)
    app.acme.routers_changed(merged)
    errors = [r.getMessage() for r in caplog.records if "nonexistent certificate resolver" in r.getMessage()]
    assert errors == ["router a uses a nonexistent certificate resolver: nope"]


def test_pending_orders_follow_the_routers(tmp_path: Path) -> None:
    app = App(_static(tmp_path), providers=[FeedProvider()])  # type: ignore[arg-type]
    resolver = app.acme.get("le")

    def routers(**rules: str) -> Merged:
        return Merged(DynamicConfig.model_validate({"http": {"routers": {
            name: {"rule": rule, "service": "s", "tls": {"certResolver": "le"}} for name, rule in rules.items()}}}))

    # the same names in another order are one order, not two
    resolver.routers_changed(routers(a="Host(`a.example`) || Host(`b.example`)",
                                     b="Host(`b.example`) || Host(`a.example`)"))
    assert list(resolver._pending) == [("a.example", "b.example")]
    # a router removed before its certificate came: its pending (failed, backing off) order is dropped
    resolver.failures[("a.example", "b.example")] = (3, 1e12)
    resolver.routers_changed(routers(c="Host(`c.example`)"))
    assert list(resolver._pending) == [("c.example",)]
    assert resolver.failures == {}

"""HTTPS through the real App: SNI selection, sniStrict, versions, client certificates, reloads,
421 Misdirected Request, and TLS and plain HTTP on one port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from typing import Any

import pytest
import trustme

from tests.harness import lb, running_app
from tests.proxy.backends import Backend
from tests.tls.conftest import client_context, https_get, pem_pair
from traefikpy.proxy.proxyproto import build_v1


def config(backend: Backend, ca: trustme.CA, *, certs: list[dict[str, str]] | None = None,
           options: dict[str, Any] | None = None, routers: dict[str, Any] | None = None,
           stores: dict[str, Any] | None = None) -> dict[str, Any]:
    tls: dict[str, Any] = {"certificates": certs if certs is not None else
                           [pem_pair(ca, "a.test"), pem_pair(ca, "*.wild.test")]}
    if options:
        tls["options"] = options
    if stores:
        tls["stores"] = stores
    return {
        "http": {
            "routers": routers or {"secure": {"rule": "PathPrefix(`/`)", "service": "echo", "tls": {}}},
            "services": {"echo": lb(backend.url)},
        },
        "tls": tls,
    }


async def test_sni_exact_wildcard_default(backend: Backend, ca: trustme.CA) -> None:
    async with running_app(config(backend, ca)) as rt:
        port = rt.app.port("web")
        exact = await https_get(port, "a.test")
        assert exact.status == 200 and exact.names == ["a.test"]
        assert json.loads(exact.body)["headers"]
        wild = await https_get(port, "x.wild.test")
        assert wild.status == 200 and wild.names == ["*.wild.test"]
        other = await https_get(port, "other.test")
        assert other.names[0] == "TRAEFIK DEFAULT CERT"
        no_sni = await https_get(port, None, host="a.test")
        assert no_sni.names[0] == "TRAEFIK DEFAULT CERT" and no_sni.status == 200


async def test_forwarded_proto_and_plain_on_same_port(backend: Backend, ca: trustme.CA) -> None:
    cfg = config(backend, ca)
    cfg["http"]["routers"]["plain"] = {"rule": "PathPrefix(`/`)", "service": "echo"}
    async with running_app(cfg) as rt:
        answer = await https_get(rt.app.port("web"), "a.test")
        seen = backend.requests[-1]
        assert answer.status == 200 and seen.header("X-Forwarded-Proto") == "https"
        plain = await rt.get("/echo", host="a.test")
        assert plain.status == 200 and backend.requests[-1].header("X-Forwarded-Proto") == "http"


async def test_tls_router_not_served_over_plain_http(backend: Backend, ca: trustme.CA) -> None:
    async with running_app(config(backend, ca)) as rt:
        assert (await rt.get("/echo", host="a.test")).status == 404


async def test_user_default_certificate(backend: Backend, ca: trustme.CA) -> None:
    cfg = config(backend, ca, stores={"default": {"defaultCertificate": pem_pair(ca, "default.test")}})
    async with running_app(cfg) as rt:
        assert (await https_get(rt.app.port("web"), "unknown.test")).names == ["default.test"]


async def test_sni_strict(backend: Backend, ca: trustme.CA) -> None:
    cfg = config(backend, ca, options={"default": {"sniStrict": True}})
    async with running_app(cfg) as rt:
        port = rt.app.port("web")
        assert (await https_get(port, "a.test")).status == 200
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await https_get(port, "unknown.test")
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await https_get(port, None, host="a.test")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_min_version_refuses_tls11(backend: Backend, ca: trustme.CA) -> None:
    async with running_app(config(backend, ca)) as rt:
        port = rt.app.port("web")
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await https_get(port, "a.test", ctx=client_context(max_version=ssl.TLSVersion.TLSv1_1))
        ok = await https_get(port, "a.test", ctx=client_context(max_version=ssl.TLSVersion.TLSv1_2))
        assert ok.status == 200 and ok.version == "TLSv1.2"
        # The refusal is the option set's doing: minVersion VersionTLS11 lets the same client in.
        await rt.update(config(backend, ca, options={"default": {"minVersion": "VersionTLS11"}}))
        old = await https_get(port, "a.test", ctx=client_context(max_version=ssl.TLSVersion.TLSv1_1))
        assert old.status == 200 and old.version == "TLSv1.1"


async def test_max_version_per_router_options(backend: Backend, ca: trustme.CA) -> None:
    routers = {
        "r12": {"rule": "Host(`a.test`)", "service": "echo", "tls": {"options": "tls12"}},
        "rdef": {"rule": "Host(`b.test`)", "service": "echo", "tls": {}},
    }
    cfg = config(backend, ca, certs=[pem_pair(ca, "a.test", "b.test")],
                 options={"tls12": {"maxVersion": "VersionTLS12"}}, routers=routers)
    async with running_app(cfg) as rt:
        port = rt.app.port("web")
        assert (await https_get(port, "a.test")).version == "TLSv1.2"
        assert (await https_get(port, "b.test")).version == "TLSv1.3"


async def test_client_auth_require_and_verify(backend: Backend, ca: trustme.CA) -> None:
    options = {"default": {"clientAuth": {"caFiles": [ca.cert_pem.bytes().decode()],
                                          "clientAuthType": "RequireAndVerifyClientCert"}}}
    async with running_app(config(backend, ca, options=options)) as rt:
        port = rt.app.port("web")
        with_cert = await https_get(port, "a.test", ctx=client_context(client_cert=ca.issue_cert("client.test")))
        assert with_cert.status == 200
        # TLS 1.3: the server's refusal arrives after the client finished its side of the handshake.
        with pytest.raises((ssl.SSLError, ConnectionError, IndexError, asyncio.IncompleteReadError)):
            await https_get(port, "a.test")
        stranger = trustme.CA().issue_cert("client.test")
        with pytest.raises((ssl.SSLError, ConnectionError, IndexError, asyncio.IncompleteReadError)):
            await https_get(port, "a.test", ctx=client_context(client_cert=stranger))


async def test_certificate_replaced_by_reload(backend: Backend, ca: trustme.CA) -> None:
    async with running_app(config(backend, ca, certs=[pem_pair(ca, "a.test")])) as rt:
        port = rt.app.port("web")
        first = await https_get(port, "a.test")
        assert first.names == ["a.test"]
        await rt.update(config(backend, ca, certs=[pem_pair(ca, "a.test", "added.test")]))
        second = await https_get(port, "a.test")
        assert second.names == ["a.test", "added.test"]
        assert (await https_get(port, "added.test")).names == ["a.test", "added.test"]
        await rt.update(config(backend, ca, certs=[]))
        assert (await https_get(port, "a.test")).names[0] == "TRAEFIK DEFAULT CERT"


async def test_misdirected_request(backend: Backend, ca: trustme.CA) -> None:
    routers = {
        "strict": {"rule": "Host(`a.test`)", "service": "echo", "tls": {"options": "modern"}},
        "relaxed": {"rule": "Host(`b.test`)", "service": "echo", "tls": {}},
        "relaxed2": {"rule": "Host(`c.test`)", "service": "echo", "tls": {}},
    }
    cfg = config(backend, ca, certs=[pem_pair(ca, "a.test", "b.test", "c.test")],
                 options={"modern": {"minVersion": "VersionTLS13"}}, routers=routers)
    async with running_app(cfg) as rt:
        port = rt.app.port("web")
        # Handshake under the default options (SNI b.test), then ask for a host of "modern".
        fronted = await https_get(port, "b.test", host="a.test")
        assert fronted.status == 421 and fronted.body == b"Misdirected Request\n"
        # Same options on both sides: served.
        assert (await https_get(port, "b.test", host="c.test")).status == 200
        assert (await https_get(port, "a.test", host="a.test")).status == 200


async def test_unknown_options_refuse_handshakes_for_the_host(backend: Backend, ca: trustme.CA) -> None:
    routers = {"r": {"rule": "Host(`a.test`)", "service": "echo", "tls": {"options": "missing"}},
               "bad": {"rule": "Host(`b.test`)", "service": "echo", "tls": {"options": "broken"}},
               "ok": {"rule": "Host(`c.test`)", "service": "echo", "tls": {}}}
    cfg = config(backend, ca, routers=routers, certs=[pem_pair(ca, "a.test", "b.test", "c.test")],
                 options={"broken": {"minVersion": "VersionTLS99"}})
    async with running_app(cfg) as rt:
        assert "unknown TLS options: missing@file" in rt.state("router", "r@file").errors
        assert "invalid TLS options: broken@file" in rt.state("router", "bad@file").errors
        assert any("tls.options.broken@file" in e for e in rt.app.graph.state.errors)
        port = rt.app.port("web")
        for sni in ("a.test", "b.test"):
            with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
                await https_get(port, sni)
        assert (await https_get(port, "c.test")).status == 200
        # Through another SNI the Host's options differ: 421, never the broken router.
        assert (await https_get(port, "c.test", host="a.test")).status == 421


async def test_conflicting_options_on_one_host(backend: Backend, ca: trustme.CA) -> None:
    routers = {"r": {"rule": "Host(`a.test`) && Path(`/echo`)", "service": "echo", "tls": {"options": "tls12"}},
               "s": {"rule": "Host(`a.test`)", "service": "echo", "tls": {}}}
    cfg = config(backend, ca, routers=routers, options={"tls12": {"maxVersion": "VersionTLS12"}})
    async with running_app(cfg) as rt:
        answer = await https_get(rt.app.port("web"), "a.test")
        assert answer.status == 200 and answer.version == "TLSv1.3"  # default options
        assert rt.state("router", "r@file").status == "warning"
        assert any("different TLS options" in e for e in rt.state("router", "s@file").errors)


async def test_no_sni_picks_certificate_by_local_ip(backend: Backend, ca: trustme.CA) -> None:
    cfg = config(backend, ca, certs=[pem_pair(ca, "a.test"), pem_pair(ca, "127.0.0.1")])
    async with running_app(cfg) as rt:
        answer = await https_get(rt.app.port("web"), None, host="a.test")
        assert answer.status == 200 and answer.names == ["127.0.0.1"]


async def test_entrypoint_http_tls_makes_routers_tls(backend: Backend, ca: trustme.CA) -> None:
    cfg = config(backend, ca, options={"tls12": {"maxVersion": "VersionTLS12"}},
                 routers={"r": {"rule": "Host(`a.test`)", "service": "echo"}})
    async with running_app(cfg, flags=["--entryPoints.web.http.tls.options=tls12@file"]) as rt:
        port = rt.app.port("web")
        answer = await https_get(port, "a.test")
        assert answer.status == 200 and answer.names == ["a.test"] and answer.version == "TLSv1.2"
        assert (await rt.get("/echo", host="a.test")).status == 404


async def test_client_hello_split_over_segments(backend: Backend, ca: trustme.CA) -> None:
    """The peek waits for the whole ClientHello: its SNI still picks the certificate."""
    async with running_app(config(backend, ca)) as rt:
        reader, writer = await asyncio.open_connection("127.0.0.1", rt.app.port("web"))
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client_context().wrap_bio(incoming, outgoing, server_hostname="a.test")
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        hello = outgoing.read()
        writer.write(hello[:7])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(hello[7:])
        async with asyncio.timeout(5):
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        writer.write(outgoing.read())
                    data = await reader.read(65536)
                    assert data, "server closed during the handshake"
                    incoming.write(data)
            writer.write(outgoing.read())
            cert = tls.getpeercert(binary_form=True)
            tls.write(b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            writer.write(outgoing.read())
            raw = b""
            while b"\r\n\r\n" not in raw:
                incoming.write(await reader.read(65536))
                with contextlib.suppress(ssl.SSLWantReadError):
                    raw += tls.read(65536)
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200")
        assert cert is not None and b"a.test" in cert


async def test_unrelated_reload_reuses_contexts(backend: Backend, ca: trustme.CA) -> None:
    cfg = config(backend, ca)
    async with running_app(cfg) as rt:
        port = rt.app.port("web")
        await https_get(port, "a.test")
        before = dict(rt.app.tls.caches.contexts)
        assert len(before) == 1
        cfg["http"]["routers"]["other"] = {"rule": "Host(`b.test`)", "service": "echo"}
        await rt.update(cfg)
        assert (await https_get(port, "a.test")).status == 200
        assert rt.app.tls.caches.contexts == before  # same SSLContext objects, nothing rebuilt
        await rt.update(config(backend, ca, certs=[pem_pair(ca, "a.test")]))
        assert not set(rt.app.tls.caches.contexts) & set(before)  # replaced certificate: dropped


async def test_proxy_protocol_header_before_tls(backend: Backend, ca: trustme.CA) -> None:
    cfg = config(backend, ca)
    cfg["http"]["routers"]["plain"] = {"rule": "PathPrefix(`/`)", "service": "echo"}
    async with running_app(cfg, flags=["--entryPoints.web.proxyProtocol.insecure=true"]) as rt:
        port = rt.app.port("web")
        for use_tls in (True, False):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(build_v1("203.0.113.9", 4242, "127.0.0.1", port))
            if use_tls:
                await writer.start_tls(client_context(), server_hostname="a.test")
            writer.write(b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            async with asyncio.timeout(5):
                raw = await reader.read()
            writer.close()
            assert raw.startswith(b"HTTP/1.1 200"), raw[:100]
            seen = backend.requests[-1]
            assert seen.header("X-Forwarded-For") == "203.0.113.9"
            assert seen.header("X-Forwarded-Proto") == ("https" if use_tls else "http")


async def test_proxy_protocol_untrusted_peer_before_tls(backend: Backend, ca: trustme.CA) -> None:
    async with running_app(config(backend, ca), flags=["--entryPoints.web.proxyProtocol.trustedIPs=10.9.9.9"]) as rt:
        port = rt.app.port("web")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(build_v1("203.0.113.9", 4242, "127.0.0.1", port))
        await writer.start_tls(client_context(), server_hostname="a.test")
        writer.write(b"GET /echo HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(5):
            raw = await reader.read()
        writer.close()
        assert raw.startswith(b"HTTP/1.1 200")
        assert backend.requests[-1].header("X-Forwarded-For") == "127.0.0.1"

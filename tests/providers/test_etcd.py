"""etcd provider against a real etcd (Debian ``etcd-server``): routes from keys, live changes,
bad keys, outages (kill and restart on the same data and port), compaction, auth and TLS."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aetcd
import aiohttp
import pytest
import trustme

from providers.etcd import EtcdProvider, from_static
from providers.kv import Backoff
from tests.providers.kv_helpers import EtcdServer, eventually, routed_app, router_pairs
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import ClientTLS


@pytest.fixture
async def etcd(tmp_path: Path) -> AsyncIterator[EtcdServer]:
    server = EtcdServer(tmp_path / "etcd")
    await server.start()
    try:
        yield server
    finally:
        server.kill()


def client(server: EtcdServer) -> aetcd.Client:
    return aetcd.Client(host="127.0.0.1", port=server.port, timeout=3)


async def put_all(server: EtcdServer, pairs: dict[str, str]) -> None:
    async with client(server) as c:
        for key, value in pairs.items():
            await c.put(key.encode(), value.encode())


def provider(server: EtcdServer, **kwargs: object) -> EtcdProvider:
    return EtcdProvider(endpoints=[server.endpoint], backoff=Backoff(0.05, 0.5), **kwargs)  # type: ignore[arg-type]


async def test_routes_from_keys_and_a_change_is_live_within_100ms(etcd: EtcdServer) -> None:
    async with routed_app(provider(etcd)) as rt:
        await put_all(etcd, router_pairs("traefik", "one", "one.test", rt.backend.url))
        await rt.wait_status("one.test")
        assert rt.routers() == {"one@etcd"}
        assert await rt.status("two.test") == 404
        timings = []
        async with client(etcd) as c:
            for i in range(5):
                await c.put(b"traefik/http/routers/one/rule", f"Host(`v{i}.test`)".encode())
                timings.append(await rt.wait_status(f"v{i}.test"))
            # a deletion is a change too: the router goes away
            await c.delete_prefix(b"traefik/http/routers/one/")
            timings.append(await rt.wait_status("v4.test", 404))
        print("etcd key change -> route live (ms):", [round(t * 1000, 1) for t in timings])
        assert max(timings) < 0.1, timings


async def test_keys_outside_the_sections_are_ignored_and_a_nested_root_key_works(etcd: EtcdServer) -> None:
    async with routed_app(provider(etcd, root_key="/prod/edge/")) as rt:
        await put_all(etcd, {
            **router_pairs("prod/edge", "app", "app.test", rt.backend.url),
            **router_pairs("traefik", "other", "other.test", rt.backend.url),  # another root
            "prod/edge/notes/owner": "team-a",  # not a configuration section: ignored like Traefik
            "prod/edge": "folder marker",
        })
        await rt.wait_status("app.test")
        assert rt.routers() == {"app@etcd"}


async def test_bad_keys_are_logged_and_the_last_good_configuration_keeps_serving(
        etcd: EtcdServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="traefikpy.providers.etcd")
    async with routed_app(provider(etcd)) as rt:
        await put_all(etcd, router_pairs("traefik", "good", "good.test", rt.backend.url))
        await rt.wait_status("good.test")
        await put_all(etcd, {"traefik/http/routers/good/priority": "high",
                             "traefik/http/routers/new/rule": "Host(`new.test`)"})
        await eventually(lambda: any("priority" in r.getMessage() for r in caplog.records))
        message = next(r.getMessage() for r in caplog.records if "priority" in r.getMessage())
        assert "traefik/http/routers/good/priority" in message and "integer" in message
        await asyncio.sleep(0.1)
        assert await rt.status("good.test") == 200, "last good configuration still serves"
        assert rt.routers() == {"good@etcd"}
        async with client(etcd) as c:
            await c.delete(b"traefik/http/routers/good/priority")
        await put_all(etcd, {"traefik/http/routers/new/service": "good-svc"})
        await rt.wait_status("new.test")


async def test_etcd_killed_traffic_continues_and_a_restart_is_picked_up(
        etcd: EtcdServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="traefikpy.providers.etcd")
    p = provider(etcd)
    async with routed_app(p) as rt:
        await put_all(etcd, router_pairs("traefik", "a", "a.test", rt.backend.url))
        await rt.wait_status("a.test")
        etcd.kill()
        for _ in range(20):  # 1 s of traffic during the outage, all served by the last good config
            assert await rt.status("a.test") == 200
            await asyncio.sleep(0.05)
        assert any("last good configuration kept" in r.getMessage() for r in caplog.records)
        p.backoff.initial = p.backoff.maximum = 3.0  # reconnect only after the change below
        p.backoff.reset()
        await asyncio.sleep(1.0)  # the current retry delay (≤ 0.5 s) runs out; the next one is 3 s
        await etcd.start()
        # a change made after the restart but before the provider reconnects is replayed
        async with client(etcd) as c:
            await c.put(b"traefik/http/routers/a/rule", b"Host(`b.test`)")
            loop = asyncio.get_running_loop()
            changed = loop.time()
        assert await rt.status("a.test") == 200, "not reconnected yet: the change is still unseen"
        elapsed = await rt.wait_status("b.test", timeout=5.0)
        print(f"change made before the reconnection live after {(loop.time() - changed) * 1000:.0f} ms")
        assert elapsed < 5.0
        assert await rt.status("a.test") == 404
        assert any("again from revision" in r.getMessage() for r in caplog.records), "watch resumed"


async def test_a_compacted_revision_makes_the_provider_read_everything_again(etcd: EtcdServer) -> None:
    await put_all(etcd, router_pairs("traefik", "fresh", "fresh.test", "http://127.0.0.1:9"))
    async with client(etcd) as c:
        for i in range(5):
            await c.put(b"noise", str(i).encode())
        revision = (await c.get(b"noise")).mod_revision
        await c.compact(revision, physical=True)
    p = provider(etcd)
    # as if a session had ended long ago, at a revision etcd no longer keeps
    p._pairs = {"traefik/http/routers/stale/rule": "Host(`stale.test`)"}
    p._revision = 2
    gen = p.watch()
    seen = [set((await asyncio.wait_for(anext(gen), 5)).http.routers)]
    if seen[0] == {"stale"}:  # the resumed state comes first, then the watch reports compaction
        seen.append(set((await asyncio.wait_for(anext(gen), 5)).http.routers))
    await gen.aclose()
    assert seen[-1] == {"fresh"}, seen


async def test_an_etcd_rebuilt_from_scratch_is_read_again(etcd: EtcdServer, caplog: pytest.LogCaptureFixture) -> None:
    import shutil

    caplog.set_level(logging.WARNING, logger="traefikpy.providers.etcd")
    p = provider(etcd)
    async with routed_app(p) as rt:
        await put_all(etcd, router_pairs("traefik", "old", "old.test", rt.backend.url))
        for i in range(10):
            await put_all(etcd, {"traefik/notes": str(i)})  # the old store's revision is higher
        await rt.wait_status("old.test")
        etcd.kill()
        shutil.rmtree(etcd.data_dir / "etcd")  # a new, empty cluster on the same address
        await etcd.start()
        await put_all(etcd, router_pairs("traefik", "new", "new.test", rt.backend.url))
        await rt.wait_status("new.test", timeout=5)
        assert await rt.status("old.test") == 404
        assert any("revision went back" in r.getMessage() for r in caplog.records)


async def test_several_endpoints_are_tried_in_turn(etcd: EtcdServer) -> None:
    from tests.conftest import free_port

    dead = f"127.0.0.1:{free_port()}"
    p = EtcdProvider(endpoints=[dead, etcd.endpoint], backoff=Backoff(0.05, 0.2))
    await put_all(etcd, router_pairs("traefik", "r", "r.test", "http://127.0.0.1:9"))
    gen = p.watch()
    first = await asyncio.wait_for(anext(gen), 10)
    await gen.aclose()
    assert set(first.http.routers) == {"r"}


async def _gateway(session: aiohttp.ClientSession, port: int, path: str, body: dict[str, object],
                   token: str | None = None) -> dict[str, object]:
    headers = {"Authorization": token} if token else {}
    async with session.post(f"http://127.0.0.1:{port}/v3/{path}", json=body, headers=headers) as resp:
        data: dict[str, object] = await resp.json(content_type=None)
        assert resp.status == 200, data
        return data


async def test_username_and_password(etcd: EtcdServer) -> None:
    async with aiohttp.ClientSession() as s:  # etcd's JSON gateway: root user, then auth on
        await _gateway(s, etcd.port, "auth/user/add", {"name": "root", "password": "pw"})
        await _gateway(s, etcd.port, "auth/user/grant", {"user": "root", "role": "root"})
        await _gateway(s, etcd.port, "auth/enable", {})
        token = str((await _gateway(s, etcd.port, "auth/authenticate", {"name": "root", "password": "pw"}))["token"])
        for key, value in router_pairs("traefik", "auth", "auth.test", "http://127.0.0.1:9").items():
            await _gateway(s, etcd.port, "kv/put", {"key": base64.b64encode(key.encode()).decode(),
                                                    "value": base64.b64encode(value.encode()).decode()}, token)
    gen = provider(etcd, username="root", password="pw").watch()
    first = await asyncio.wait_for(anext(gen), 5)
    await gen.aclose()
    assert set(first.http.routers) == {"auth"}


async def test_mutual_tls_from_the_static_configuration(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("traefikpy-client")
    files = {}
    for name, blob in (("ca.pem", ca.cert_pem), ("server.pem", server_cert.cert_chain_pems[0]),
                       ("server.key", server_cert.private_key_pem), ("client.pem", client_cert.cert_chain_pems[0]),
                       ("client.key", client_cert.private_key_pem)):
        files[name] = tmp_path / name
        blob.write_to_path(str(files[name]))
    server = EtcdServer(tmp_path / "etcd", scheme="https", extra=[
        "--cert-file", str(files["server.pem"]), "--key-file", str(files["server.key"]),
        "--client-cert-auth", "--trusted-ca-file", str(files["ca.pem"])])
    await server.start()
    try:
        await asyncio.sleep(0.3)  # the TLS listener accepts before the member is ready
        static = load_static([
            f"--providers.etcd.endpoints={server.endpoint}", f"--providers.etcd.tls.ca={files['ca.pem']}",
            f"--providers.etcd.tls.cert={files['client.pem']}", f"--providers.etcd.tls.key={files['client.key']}",
        ], {}, search=False)
        assert static.providers is not None and static.providers.etcd is not None
        p = from_static(static.providers.etcd)
        p.backoff = Backoff(0.05, 0.3)
        async with p.client(p.endpoints[0]) as c:  # the provider's own client kind writes the keys
            for key, value in router_pairs("traefik", "tls", "tls.test", "http://127.0.0.1:9").items():
                await c.put(key.encode(), value.encode())
        gen = p.watch()
        first = await asyncio.wait_for(anext(gen), 10)
        await gen.aclose()
        assert set(first.http.routers) == {"tls"}
        # inline PEM contents work like paths
        inline = ClientTLS(ca=ca.cert_pem.bytes().decode(), cert=client_cert.cert_chain_pems[0].bytes().decode(),
                           key=client_cert.private_key_pem.bytes().decode())
        gen = EtcdProvider(endpoints=[server.endpoint], tls=inline).watch()
        assert set((await asyncio.wait_for(anext(gen), 10)).http.routers) == {"tls"}
        await gen.aclose()
        # insecureSkipVerify: no CA at all (gRPC cannot skip verification: the presented
        # certificate is pinned per session), the client certificate still authenticates
        skip = ClientTLS(insecure_skip_verify=True, cert=str(files["client.pem"]), key=str(files["client.key"]))
        gen = EtcdProvider(endpoints=[server.endpoint], tls=skip).watch()
        assert set((await asyncio.wait_for(anext(gen), 10)).http.routers) == {"tls"}
        await gen.aclose()
        # without the CA and without insecureSkipVerify the server is not trusted
        untrusted = EtcdProvider(endpoints=[server.endpoint], tls=ClientTLS(
            cert=str(files["client.pem"]), key=str(files["client.key"])), timeout=0.5).watch()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(untrusted), 1.0)
        await untrusted.aclose()
    finally:
        server.kill()


def test_static_defaults_and_validation() -> None:
    static = load_static(["--providers.etcd"], {}, search=False)
    assert static.providers is not None and static.providers.etcd is not None
    p = from_static(static.providers.etcd)
    assert (p.name, p.root_key, p.endpoints) == ("etcd", "traefik", [("127.0.0.1", 2379)])
    with pytest.raises(ValueError, match="username and password"):
        EtcdProvider(username="u")
    with pytest.raises(ValueError, match="cert and key"):
        EtcdProvider(tls=ClientTLS(cert="/x.pem"))

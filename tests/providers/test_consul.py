"""Consul KV provider against the protocol-level fake (tests/fakes/consul.py), driven by the real
``py-consul`` client; plus an opt-in test against a real agent (``CONSUL_HTTP_ADDR``)."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import consul.aio
import pytest
import trustme

from providers.consul import ConsulProvider, all_from_static, from_static
from providers.kv import Backoff
from tests.fakes.consul import FakeConsul
from tests.providers.kv_helpers import eventually, routed_app, router_pairs
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import ClientTLS


@pytest.fixture
async def fake() -> AsyncIterator[FakeConsul]:
    server = FakeConsul()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def provider(fake: FakeConsul, **kwargs: object) -> ConsulProvider:
    return ConsulProvider(endpoints=[fake.address], backoff=Backoff(0.05, 0.5), **kwargs)  # type: ignore[arg-type]


async def put_all(fake: FakeConsul, pairs: dict[str, str], **kwargs: object) -> None:
    """Writes through the real client library (HTTP PUT), like an operator's tooling would."""
    client = consul.aio.Consul(host="127.0.0.1", port=fake.port, token=fake.token)
    try:
        for key, value in pairs.items():
            assert await client.kv.put(key, value, **kwargs)
    finally:
        await client.close()


async def first_snapshot(p: ConsulProvider, timeout: float = 5.0) -> set[str]:
    gen = p.watch()
    try:
        return set((await asyncio.wait_for(anext(gen), timeout)).http.routers)
    finally:
        await gen.aclose()


async def test_routes_from_keys_and_a_change_is_live_within_100ms(fake: FakeConsul) -> None:
    async with routed_app(provider(fake)) as rt:
        await put_all(fake, router_pairs("traefik", "one", "one.test", rt.backend.url))
        await rt.wait_status("one.test")
        assert rt.routers() == {"one@consul"}
        timings = []
        for i in range(5):
            await put_all(fake, {"traefik/http/routers/one/rule": f"Host(`v{i}.test`)"})
            timings.append(await rt.wait_status(f"v{i}.test"))
        await fake.delete("traefik/http/routers/one/", recurse=True)
        timings.append(await rt.wait_status("v4.test", 404))
        print("consul key change -> route live (ms):", [round(t * 1000, 1) for t in timings])
        assert max(timings) < 0.1, timings


async def test_the_provider_uses_blocking_queries_not_polling(fake: FakeConsul) -> None:
    await put_all(fake, router_pairs("traefik", "r", "r.test", "http://127.0.0.1:9"))
    p = provider(fake, wait=10.0)
    gen = p.watch()
    await asyncio.wait_for(anext(gen), 5)
    waiting = asyncio.ensure_future(anext(gen))  # the consumer asks for the next snapshot
    await asyncio.sleep(0.5)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await gen.aclose()
    reads = [q for m, q in fake.requests if m == "GET"]
    assert len(reads) == 2, reads  # the first read, then one request waiting for a change
    assert reads[0] == "/v1/kv/traefik/?recurse=1"
    assert "index=" in reads[1] and "wait=10s" in reads[1] and "recurse=1" in reads[1]


async def test_bad_keys_are_logged_and_the_last_good_configuration_keeps_serving(
        fake: FakeConsul, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="traefikpy.providers.consul")
    async with routed_app(provider(fake)) as rt:
        await put_all(fake, router_pairs("traefik", "good", "good.test", rt.backend.url))
        await rt.wait_status("good.test")
        await put_all(fake, {"traefik/http/routers/good/middlewares/0/x": "y"})
        await eventually(lambda: any("middlewares" in r.getMessage() for r in caplog.records))
        assert await rt.status("good.test") == 200
        await fake.delete("traefik/http/routers/good/middlewares/", recurse=True)
        await put_all(fake, {"traefik/http/routers/good/rule": "Host(`fixed.test`)"})
        await rt.wait_status("fixed.test")


async def test_consul_down_traffic_continues_and_changes_made_meanwhile_are_picked_up(
        fake: FakeConsul, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="traefikpy.providers.consul")
    async with routed_app(provider(fake)) as rt:
        await put_all(fake, router_pairs("traefik", "a", "a.test", rt.backend.url))
        await rt.wait_status("a.test")
        await fake.stop()
        await fake.put("traefik/http/routers/a/rule", "Host(`b.test`)")  # the store changes while unreachable
        for _ in range(20):
            assert await rt.status("a.test") == 200
            await asyncio.sleep(0.05)
        assert any("last good configuration kept" in r.getMessage() for r in caplog.records)
        await fake.start(fake.port)
        elapsed = await rt.wait_status("b.test", timeout=5.0)
        print(f"consul back: change live after {elapsed * 1000:.0f} ms")


async def test_an_index_going_backwards_restarts_the_watch(fake: FakeConsul) -> None:
    await put_all(fake, router_pairs("traefik", "old", "old.test", "http://127.0.0.1:9"))
    for i in range(20):
        await fake.put("noise/n", str(i))  # a high index
    p = provider(fake, wait=1.0)
    gen = p.watch()
    assert set((await asyncio.wait_for(anext(gen), 5)).http.routers) == {"old"}
    # the cluster is rebuilt from a snapshot: the same address, a lower index
    fake.index = fake.kv_index = 1
    fake.namespaces.clear()
    await fake.put("traefik/http/routers/new/rule", "Host(`new.test`)")
    assert set((await asyncio.wait_for(anext(gen), 5)).http.routers) == {"new"}
    await gen.aclose()


async def test_acl_token(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeConsul(token="s3cret")
    await fake.start()
    try:
        await put_all(fake, router_pairs("traefik", "acl", "acl.test", "http://127.0.0.1:9"))
        assert await first_snapshot(provider(fake, token="s3cret")) == {"acl"}
        caplog.set_level(logging.ERROR, logger="traefikpy.providers.consul")
        with pytest.raises(TimeoutError):
            await first_snapshot(provider(fake, token="wrong"), timeout=0.5)
        assert any("Permission denied" in r.getMessage() for r in caplog.records)
    finally:
        await fake.stop()


async def test_one_provider_per_namespace(fake: FakeConsul) -> None:
    await put_all(fake, router_pairs("traefik", "default-ns", "d.test", "http://127.0.0.1:9"))
    for ns, name in (("team-a", "in-a"), ("team-b", "in-b")):
        for key, value in router_pairs("traefik", name, f"{name}.test", "http://127.0.0.1:9").items():
            await fake.put(key, value, ns=ns)
    static = load_static(["--providers.consul.namespaces=team-a,team-b",
                          f"--providers.consul.endpoints={fake.address}"], {}, search=False)
    assert static.providers is not None and static.providers.consul is not None
    providers = all_from_static(static.providers.consul)
    assert [p.name for p in providers] == ["consul-team-a", "consul-team-b"]
    assert await first_snapshot(providers[0]) == {"in-a"}
    assert await first_snapshot(providers[1]) == {"in-b"}
    with pytest.raises(ValueError, match="several namespaces"):
        from_static(static.providers.consul)
    with pytest.raises(ValueError, match="wildcard"):
        ConsulProvider(namespace="*")


async def test_https_with_a_custom_ca(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    fake = FakeConsul()
    await fake.start(ssl_context=server_ctx)
    try:
        await fake.put("traefik/http/routers/s/rule", "Host(`s.test`)")
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        assert await first_snapshot(provider(fake, tls=ClientTLS(ca=str(tmp_path / "ca.pem")))) == {"s"}
        inline = ClientTLS(ca=ca.cert_pem.bytes().decode())
        assert await first_snapshot(provider(fake, tls=inline)) == {"s"}
        assert await first_snapshot(provider(fake, tls=ClientTLS(insecure_skip_verify=True))) == {"s"}
    finally:
        await fake.stop()


def test_static_defaults() -> None:
    static = load_static(["--providers.consul=true"], {}, search=False)
    assert static.providers is not None and static.providers.consul is not None
    p = from_static(static.providers.consul)
    assert (p.name, p.root_key, p.endpoints) == ("consul", "traefik", [("http", "127.0.0.1", 8500)])


@pytest.mark.skipif(not os.environ.get("CONSUL_HTTP_ADDR"), reason="set CONSUL_HTTP_ADDR to test a real Consul agent")
async def test_real_consul_agent() -> None:
    address = os.environ["CONSUL_HTTP_ADDR"]
    root = f"traefikpy-test-{uuid.uuid4().hex[:8]}"
    token = os.environ.get("CONSUL_HTTP_TOKEN", "")
    client = consul.aio.Consul()
    try:
        for key, value in router_pairs(root, "real", "real.test", "http://127.0.0.1:9").items():
            assert await client.kv.put(key, value)
        p = ConsulProvider(endpoints=[address], root_key=root, token=token, backoff=Backoff(0.1, 1))
        gen = p.watch()
        assert set((await asyncio.wait_for(anext(gen), 10)).http.routers) == {"real"}
        await client.kv.put(f"{root}/http/routers/second/rule", "Host(`second.test`)")
        assert set((await asyncio.wait_for(anext(gen), 10)).http.routers) == {"real", "second"}
        await gen.aclose()
    finally:
        await client.kv.delete(root + "/", recurse=True)
        await client.close()

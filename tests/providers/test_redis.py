"""Redis provider against a real redis-server (Debian ``redis-server``): keyspace notifications,
polling when CONFIG is not allowed, outages, db, ACL users, TLS and Sentinel."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import trustme

from providers.kv import Backoff
from providers.redis import RedisProvider, from_static, glob_escape, notification_flags
from tests.conftest import free_port
from tests.providers.kv_helpers import RedisServer, eventually, routed_app, router_pairs
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import ClientTLS, RedisSentinel


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", extra=["--notify-keyspace-events", "Ex"])
    await server.start()
    try:
        yield server
    finally:
        server.kill()


def store(server: RedisServer, **kwargs: Any) -> aioredis.Redis:
    return aioredis.Redis(host="127.0.0.1", port=server.port, decode_responses=True, **kwargs)


async def set_all(server: RedisServer, pairs: dict[str, str], **kwargs: Any) -> None:
    client = store(server, **kwargs)
    try:
        await client.mset(pairs)
    finally:
        await client.aclose()


def provider(server: RedisServer, **kwargs: Any) -> RedisProvider:
    return RedisProvider(endpoints=[server.endpoint], backoff=Backoff(0.05, 0.5), **kwargs)


async def first_snapshot(p: RedisProvider, timeout: float = 5.0) -> set[str]:
    gen = p.watch()
    try:
        return set((await asyncio.wait_for(anext(gen), timeout)).http.routers)
    finally:
        await gen.aclose()


FLAGS = [
    {"desc": "off", "current": "", "want": "KA"},
    {"desc": "expiry events kept", "current": "Ex", "want": "ExKA"},
    {"desc": "already all keyspace events", "current": "AK", "want": None},
    {"desc": "generic, string and expired keyspace events suffice", "current": "Kg$x", "want": None},
    {"desc": "keyevent only", "current": "EA", "want": "EAK"},
]


@pytest.mark.parametrize("case", FLAGS, ids=[c["desc"] for c in FLAGS])
def test_notification_flags(case: dict[str, Any]) -> None:
    assert notification_flags(case["current"]) == case["want"]


def test_glob_escape() -> None:
    assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"


async def test_routes_from_keys_and_a_change_is_live_within_100ms(redis_server: RedisServer) -> None:
    p = provider(redis_server)
    async with routed_app(p) as rt:
        await set_all(redis_server, router_pairs("traefik", "one", "one.test", rt.backend.url))
        await rt.wait_status("one.test")
        assert rt.routers() == {"one@redis"} and not p.polling
        client = store(redis_server)
        await client.set("traefik/http/routers/one/tls", "")  # empty values are skipped, as in Traefik
        await client.set("traefik/http/routers/one/priority", "5")
        await eventually(lambda: rt.app.aggregator.current.config.http.routers["one@redis"].priority == 5)  # type: ignore[union-attr]
        assert rt.app.aggregator.current.config.http.routers["one@redis"].tls is None  # type: ignore[union-attr]
        flags = (await client.config_get("notify-keyspace-events"))["notify-keyspace-events"]
        assert "K" in flags and "E" in flags and "A" in flags, "flags added, the server's own kept"
        timings = []
        for i in range(5):
            await client.set("traefik/http/routers/one/rule", f"Host(`v{i}.test`)")
            timings.append(await rt.wait_status(f"v{i}.test"))
        await client.delete("traefik/http/routers/one/rule", "traefik/http/routers/one/service")
        timings.append(await rt.wait_status("v4.test", 404))
        await client.set("traefik/http/routers/two/rule", "Host(`two.test`)")
        await client.set("traefik/http/routers/two/service", "one-svc", px=300)  # expiry is a change too
        await rt.wait_status("two.test")
        await rt.wait_status("two.test", 404)
        await client.aclose()
        print("redis key change -> route live (ms):", [round(t * 1000, 1) for t in timings])
        assert max(timings) < 0.1, timings


async def test_bad_keys_keep_the_last_good_configuration(redis_server: RedisServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="traefikpy.providers.redis")
    async with routed_app(provider(redis_server)) as rt:
        await set_all(redis_server, router_pairs("traefik", "good", "good.test", rt.backend.url))
        await rt.wait_status("good.test")
        await set_all(redis_server, {"traefik/http/services/good-svc/loadBalancer/servers/0/weight": "heavy"})
        await eventually(lambda: any("weight" in r.getMessage() for r in caplog.records))
        assert await rt.status("good.test") == 200


async def test_polling_when_config_is_not_allowed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = RedisServer(tmp_path / "redis", extra=["--rename-command", "CONFIG", ""])
    await server.start()
    caplog.set_level(logging.WARNING, logger="traefikpy.providers.redis")
    try:
        p = provider(server, poll_interval=0.1)
        async with routed_app(p) as rt:
            await set_all(server, router_pairs("traefik", "polled", "polled.test", rt.backend.url))
            elapsed = await rt.wait_status("polled.test", timeout=2)
            assert p.polling and elapsed < 0.1 + 0.1
            assert any("polling every 0.1s" in r.getMessage() for r in caplog.records)
    finally:
        server.kill()


async def test_redis_killed_traffic_continues_and_the_restart_is_picked_up(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", extra=["--appendonly", "yes", "--appendfsync", "always"])
    await server.start()
    try:
        p = provider(server)
        async with routed_app(p) as rt:
            await set_all(server, router_pairs("traefik", "a", "a.test", rt.backend.url))
            await rt.wait_status("a.test")
            server.kill()
            for _ in range(20):
                assert await rt.status("a.test") == 200
                await asyncio.sleep(0.05)
            await server.start()  # same port, same append-only file
            await set_all(server, {"traefik/http/routers/a/rule": "Host(`b.test`)"})
            elapsed = await rt.wait_status("b.test", timeout=5)
            print(f"redis back: change live after {elapsed * 1000:.0f} ms")
    finally:
        server.kill()


async def test_db_and_acl_user(tmp_path: Path) -> None:
    acl = tmp_path / "users.acl"
    acl.write_text("user default off\nuser edge on >s3cret ~* &* +@all\n")
    server = RedisServer(tmp_path / "redis", extra=["--aclfile", str(acl)])
    await server.start()
    try:
        auth = {"username": "edge", "password": "s3cret"}
        await set_all(server, router_pairs("traefik", "db0", "db0.test", "http://127.0.0.1:9"), **auth)
        await set_all(server, router_pairs("traefik", "db3", "db3.test", "http://127.0.0.1:9"), db=3, **auth)
        static = load_static([f"--providers.redis.endpoints={server.endpoint}", "--providers.redis.db=3",
                              "--providers.redis.username=edge", "--providers.redis.password=s3cret"], {}, search=False)
        assert static.providers is not None and static.providers.redis is not None
        assert await first_snapshot(from_static(static.providers.redis)) == {"db3"}
        with pytest.raises(TimeoutError):
            await first_snapshot(provider(server, username="edge", password="wrong"), timeout=0.5)
    finally:
        server.kill()


async def test_tls_with_a_client_certificate(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    client_cert = ca.issue_cert("client")
    paths = {n: str(tmp_path / n) for n in ("ca.pem", "s.pem", "s.key", "c.pem", "c.key")}
    ca.cert_pem.write_to_path(paths["ca.pem"])
    server_cert.cert_chain_pems[0].write_to_path(paths["s.pem"])
    server_cert.private_key_pem.write_to_path(paths["s.key"])
    client_cert.cert_chain_pems[0].write_to_path(paths["c.pem"])
    client_cert.private_key_pem.write_to_path(paths["c.key"])
    tls_port = free_port()
    server = RedisServer(tmp_path / "redis", extra=[
        "--tls-port", str(tls_port), "--tls-cert-file", paths["s.pem"], "--tls-key-file", paths["s.key"],
        "--tls-ca-cert-file", paths["ca.pem"], "--tls-auth-clients", "yes"])
    await server.start()
    try:
        await set_all(server, router_pairs("traefik", "tls", "tls.test", "http://127.0.0.1:9"))
        endpoint = [f"127.0.0.1:{tls_port}"]
        by_path = ClientTLS(ca=paths["ca.pem"], cert=paths["c.pem"], key=paths["c.key"])
        assert await first_snapshot(RedisProvider(endpoints=endpoint, tls=by_path)) == {"tls"}
        inline = ClientTLS(ca=ca.cert_pem.bytes().decode(), cert=client_cert.cert_chain_pems[0].bytes().decode(),
                           key=client_cert.private_key_pem.bytes().decode())
        p = RedisProvider(endpoints=endpoint, tls=inline)
        async with routed_app(p) as rt:
            await set_all(server, router_pairs("traefik", "live", "live.test", rt.backend.url))
            await rt.wait_status("live.test")
    finally:
        server.kill()


async def test_sentinel_names_the_master(tmp_path: Path) -> None:
    master = RedisServer(tmp_path / "master")
    await master.start()
    sentinel_port = free_port()
    conf = tmp_path / "sentinel" / "sentinel.conf"
    conf.parent.mkdir()
    conf.write_text(f"port {sentinel_port}\nbind 127.0.0.1\nsentinel monitor edge 127.0.0.1 {master.port} 1\n")
    sentinel = RedisServer(tmp_path / "sentinel")
    sentinel.argv = [sentinel.argv[0], str(conf), "--sentinel"]
    await sentinel.start(port=sentinel_port)
    try:
        await set_all(master, router_pairs("traefik", "via-sentinel", "s.test", "http://127.0.0.1:9"))
        p = RedisProvider(endpoints=[f"127.0.0.1:{sentinel_port}"], sentinel=RedisSentinel(master_name="edge"),
                          backoff=Backoff(0.05, 0.5))
        async with routed_app(p) as rt:
            await set_all(master, router_pairs("traefik", "live", "live.test", rt.backend.url))
            await rt.wait_status("live.test")
            assert rt.routers() == {"via-sentinel@redis", "live@redis"}
    finally:
        sentinel.kill()
        master.kill()


def test_static_defaults_and_validation() -> None:
    static = load_static(["--providers.redis"], {}, search=False)
    assert static.providers is not None and static.providers.redis is not None
    p = from_static(static.providers.redis)
    assert (p.name, p.root_key, p.endpoints, p.db) == ("redis", "traefik", [("127.0.0.1", 6379)], 0)
    with pytest.raises(ValueError, match="masterName"):
        RedisProvider(sentinel=RedisSentinel())

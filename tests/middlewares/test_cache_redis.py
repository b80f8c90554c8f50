"""cache with the Redis store: the store alone (variants, LRU within maxSize, TTL expiry, purge by key
and prefix), two routers sharing one Redis (a hit on the second never reaches the backend), and a
Redis that is down (requests are served, nothing fails).  Needs the Debian ``redis-server``
binary; a private server is started on a free loopback port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from middlewares.cache import FACTORIES
from middlewares.cache_entry import Entry, build_entry
from middlewares.cache_store import RedisStore, StoreError, redis_client
from tests.conftest import free_port
from tests.harness import lb, running_app
from tests.middlewares.m3_servers import Reply, ScriptServer

T0 = 1_700_000_000.0


@pytest.fixture
async def store(redis_port: int) -> AsyncIterator[RedisStore]:
    client = Redis(host="127.0.0.1", port=redis_port)
    await client.flushall()
    s = RedisStore(client, "c@file", 1 << 20)
    yield s
    await s.close()


def entry(key: str, variant: str = "", body: bytes = b"hello") -> Entry:
    return build_entry(key=key, variant=variant, vary=(b"accept-language",) if variant else (),
                       vary_values=b"accept-language:" + variant.encode() if variant else b"", status=200,
                       headers=[(b"Cache-Control", b"max-age=60"), (b"ETag", b'"e"')], body=body,
                       request_time=T0, response_time=T0, heuristic_max=0)


async def test_round_trip_and_variants(store: RedisStore) -> None:
    now = time.time()
    assert await store.vary("http://a.test/x", now) is None
    await store.put(entry("http://a.test/x", "fr", b"\x00bonjour\n"), now + 60, now)
    await store.put(entry("http://a.test/x", "en", b"hello"), now + 60, now)
    assert await store.vary("http://a.test/x", now) == (b"accept-language",)
    fr = await store.get("http://a.test/x", "fr", now)
    assert fr is not None and fr.body == b"\x00bonjour\n" and fr.etag == b'"e"' and fr.lifetime == 60
    assert await store.get("http://a.test/x", "de", now) is None
    assert await store.keys() == ["http://a.test/x"]
    # Keys live in one hash slot per middleware.
    raw = sorted(k.decode() for k in await store.client.keys("*"))
    assert all(k.startswith("traefikpy:cache:{c@file}:") for k in raw)


async def test_lru_eviction_within_max_size(store: RedisStore) -> None:
    now = time.time()
    size = len(entry("http://a.test/0").to_bytes())
    store.max_size = size * 3
    for n in range(3):
        await store.put(entry(f"http://a.test/{n}"), now + 60, now + n / 1000)
    assert await store.get("http://a.test/0", "", now + 0.01) is not None  # 0 becomes the most recent
    await store.put(entry("http://a.test/3"), now + 60, now + 0.02)
    assert await store.keys() == ["http://a.test/0", "http://a.test/2", "http://a.test/3"]
    assert int(await store.client.get(store.ns + "total")) == size * 3


async def test_expiry_and_forgotten_sizes(store: RedisStore) -> None:
    now = time.time()
    await store.put(entry("http://a.test/short"), now + 0.1, now)
    await asyncio.sleep(0.2)
    assert await store.get("http://a.test/short", "", time.time()) is None
    await store.put(entry("http://a.test/next"), time.time() + 60, time.time())
    # The expired entry was met by the next write and no longer counts.
    assert int(await store.client.get(store.ns + "total")) == len(entry("http://a.test/next").to_bytes())
    assert await store.keys() == ["http://a.test/next"]


async def test_purge_key_and_prefix(store: RedisStore) -> None:
    now = time.time()
    for key in ("http://a.test/p/1", "http://a.test/p/2", "http://a.test/p*x", "http://a.test/q"):
        await store.put(entry(key), now + 60, now)
    await store.put(entry("http://a.test/q", "fr"), now + 60, now)
    assert await store.purge("http://a.test/q") == 2
    assert await store.vary("http://a.test/q", now) is None
    assert await store.purge("http://a.test/p*") == 0  # exact key: the * is not a pattern
    assert await store.purge("http://a.test/p/", prefix=True) == 2
    assert await store.keys() == ["http://a.test/p*x"]
    assert await store.purge("http://a.test/", prefix=True) == 1
    assert int(await store.client.get(store.ns + "total")) == 0


def _config(url: str, redis_port: int, host: str) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": f"Host(`{host}`)", "middlewares": ["c"], "service": "s"}},
        "middlewares": {"c": {"cache": {"store": "redis", "allowPurge": True,
                                        "redis": {"endpoints": [f"127.0.0.1:{redis_port}"]}}}},
        "services": {"s": lb(url)},
    }}


async def test_two_instances_share_the_cache(redis_port: int, store: RedisStore) -> None:
    backend = await ScriptServer.start(lambda req: Reply(200, b"shared body", [(b"Cache-Control", b"max-age=60")]))
    try:
        async with running_app(_config(backend.url, redis_port, "a.test"), middlewares=FACTORIES) as one, \
                running_app(_config(backend.url, redis_port, "a.test"), middlewares=FACTORIES) as two:
            first = await one.get("/doc", host="a.test")
            assert first.headers["Cache-Status"] == "traefikpy; fwd=uri-miss; stored"
            second = await two.get("/doc", host="a.test")
            assert second.headers["Cache-Status"].startswith("traefikpy; hit") and await second.read() == b"shared body"
            assert len(backend.requests) == 1
            purged = await two.request("PURGE", "/doc", host="a.test")
            assert (await purged.json())["purged"] == 1
            again = await one.get("/doc", host="a.test")
            assert "stored" in again.headers["Cache-Status"] and len(backend.requests) == 2
    finally:
        await backend.stop()


async def test_redis_down_serves_from_the_backend() -> None:
    backend = await ScriptServer.start(lambda req: Reply(200, b"fine", [(b"Cache-Control", b"max-age=60")]))
    try:
        async with running_app(_config(backend.url, free_port(), "a.test"), middlewares=FACTORIES) as app:
            for _ in range(2):
                resp = await app.get("/x", host="a.test")
                assert resp.status == 200 and await resp.read() == b"fine"
                assert resp.headers["Cache-Status"] == "traefikpy; fwd=miss"
            assert len(backend.requests) == 2
            assert (await app.request("PURGE", "/x", host="a.test")).status == 503
    finally:
        await backend.stop()


async def test_store_errors_are_store_errors_and_fail_fast() -> None:
    s = RedisStore(redis_client(f"127.0.0.1:{free_port()}", db=0, username="", password="", dial_timeout=0.5,
                                read_timeout=0.5), "c@file", 1000)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="redis: "):
            await s.get("http://a.test/", "", time.time())
        # Skipped for a while after the failure: no new connection attempt.
        with pytest.raises(StoreError, match="failed recently"):
            await s.put(entry("http://a.test/"), time.time() + 10, time.time())
        assert time.monotonic() - started < 1
    finally:
        await s.close()

"""rateLimit with Redis: the Lua script against the in-memory bucket (same answers), a limit shared
by two router instances, the key layout, Redis failures and client lifetime.  Needs the Debian
``redis-server`` binary; a private server is started on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from middlewares import shared
from middlewares.ratelimit import Limits, TokenBuckets
from middlewares.ratelimit_redis import build_redis_limiter
from tests.conftest import free_port
from tests.harness import lb, running_app
from tests.middlewares.access_util import REGISTRY, BuildCtx
from tests.proxy.backends import Backend
from traefikpy.config.middleware_options import Redis as RedisOptions

S = 1_000_000_000


@pytest.fixture
async def redis(redis_port: int) -> AsyncIterator[Redis]:
    client = Redis(host="127.0.0.1", port=redis_port)
    await client.flushall()
    yield client
    await client.aclose()


PARITY: list[dict[str, Any]] = [
    {"desc": "burst then refusal", "limits": (1, 1.0, 3), "steps": [0, 0, 0, 0, 0]},
    {"desc": "short waits granted", "limits": (2, 1.0, 1), "steps": [0, 300_000, 300_000, 900_000]},
    {"desc": "refill capped at burst", "limits": (10, 1.0, 2), "steps": [0, 0, 0, 5_000_000, 5_000_000, 5_000_000]},
    {"desc": "slow rate", "limits": (1, 60.0, 1), "steps": [0, 1_000_000, 59_000_000, 60_000_000, 60_000_000]},
]


@pytest.mark.parametrize("case", PARITY, ids=[c["desc"] for c in PARITY])
async def test_script_matches_memory_bucket(redis_port: int, redis: Redis, case: dict[str, Any]) -> None:
    limits = Limits(*case["limits"])
    memory = TokenBuckets(limits)
    limiter = build_redis_limiter(RedisOptions(endpoints=[f"127.0.0.1:{redis_port}"]), limits, BuildCtx())
    start = 1_700_000_000_000_000  # µs since the epoch
    for offset in case["steps"]:
        expected = memory.reserve("k", offset / 1e6)
        got = await limiter.reserve("rl@file:k", start + offset)
        assert got == pytest.approx(expected, abs=1000), offset  # µs resolution in Redis
    bucket = await redis.hgetall("rate:rl@file:k")
    assert set(bucket) == {b"last", b"tokens"}
    assert 0 < await redis.ttl("rate:rl@file:k") <= limits.ttl


def _config(backend: Backend, redis_options: dict[str, Any], **rate: Any) -> dict[str, Any]:
    rate_limit = {"average": 1, "period": "1m", "burst": 2, **rate, "redis": redis_options}
    return {"http": {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["rl"]}},
        "middlewares": {"rl": {"rateLimit": rate_limit}},
        "services": {"s": lb(backend.url)},
    }}


async def test_two_instances_share_one_limit(redis_port: int, redis: Redis) -> None:
    backend = await Backend.start()
    config = _config(backend, {"endpoints": [f"127.0.0.1:{redis_port}"]})
    async with running_app(config, middlewares=REGISTRY) as one, running_app(config, middlewares=REGISTRY) as two:
        first = await one.get("/echo")
        second = await two.get("/echo")
        third = await one.get("/echo")
        fourth = await two.get("/echo")
    await backend.stop()
    assert [r.status for r in (first, second, third, fourth)] == [200, 200, 429, 429]
    assert third.headers["Retry-After"] == "60"
    assert len(backend.requests) == 2
    assert await redis.exists("rate:rl@file:127.0.0.1") == 1


@pytest.mark.parametrize(("deny", "status"), [(True, 500), (False, 200)], ids=["denyOnError", "allowOnError"])
async def test_redis_down(deny: bool, status: int) -> None:
    backend = await Backend.start()
    dead = {"endpoints": [f"127.0.0.1:{free_port()}"], "dialTimeout": "200ms", "denyOnError": deny}
    async with running_app(_config(backend, dead), middlewares=REGISTRY) as rt:
        resp = await rt.get("/echo")
    await backend.stop()
    assert resp.status == status
    if deny:
        assert await resp.text() == "Could not insert/update bucket\n"
        assert backend.requests == []


async def test_client_survives_reloads_and_closes_at_shutdown(redis_port: int, redis: Redis) -> None:
    backend = await Backend.start()
    options = {"endpoints": [f"127.0.0.1:{redis_port}"]}
    key = ("rateLimit.redis", RedisOptions.model_validate(options).model_dump_json())
    async with running_app(_config(backend, options), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo")).status == 200
        assert shared.users(key) == 1
        await rt.update(_config(backend, options, burst=3))
        await asyncio.sleep(0.05)  # the old graph is dropped: its keeper ends
        assert shared.users(key) == 1
        assert (await rt.get("/echo")).status == 200
    assert shared.users(key) == 0
    await backend.stop()


async def test_bad_endpoint_disables_the_middleware() -> None:
    backend = await Backend.start()
    async with running_app(_config(backend, {"endpoints": ["no-port"]}), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo")).status == 404
        assert any("invalid redis endpoint" in e for e in rt.state("middleware", "rl@file").errors)
    await backend.stop()

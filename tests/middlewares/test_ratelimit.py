"""rateLimit in memory: Traefik's numbers, the token bucket (tables) and the 429s clients see."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import pytest

from middlewares.ratelimit import Limits, TokenBuckets, go_duration
from tests.harness import lb, running_app
from tests.middlewares.access_util import REGISTRY
from tests.proxy.backends import Backend

MS = 1_000_000
S = 1_000_000_000

DURATIONS = [
    (0, "0s"), (1, "1ns"), (999, "999ns"), (1500, "1.5µs"), (2 * MS, "2ms"), (333_333_333, "333.333333ms"),
    (500 * MS, "500ms"), (S, "1s"), (1_500_000_000, "1.5s"), (61 * S, "1m1s"), (90 * S + 500 * MS, "1m30.5s"),
    (3600 * S, "1h0m0s"), (3661 * S + 1, "1h1m1.000000001s"), (-1500, "-1.5µs"),
]


@pytest.mark.parametrize(("ns", "text"), DURATIONS, ids=[t for _, t in DURATIONS])
def test_go_duration(ns: int, text: str) -> None:
    assert go_duration(ns) == text


LIMITS: list[dict[str, Any]] = [
    {"desc": "100 per second", "args": (100, 1.0, 200), "rate": 100.0, "burst": 200, "max_delay": 5 * MS, "ttl": 2},
    {"desc": "rate truncated for maxDelay", "args": (3, 2.0, 1), "rate": 1.5, "burst": 1, "max_delay": 500 * MS, "ttl": 2},
    {"desc": "below 1 per second", "args": (1, 60.0, 1), "rate": 1 / 60, "burst": 1, "max_delay": 500 * MS, "ttl": 61},
    {"desc": "average 0 is unlimited", "args": (0, 1.0, 1), "rate": math.inf, "burst": 1, "max_delay": 0, "ttl": 2},
    {"desc": "burst below 1 becomes 1", "args": (10, 1.0, 0), "rate": 10.0, "burst": 1, "max_delay": 50 * MS, "ttl": 2},
    {"desc": "period 0 means 1s", "args": (4, 0.0, 1), "rate": 4.0, "burst": 1, "max_delay": 125 * MS, "ttl": 2},
]


@pytest.mark.parametrize("case", LIMITS, ids=[c["desc"] for c in LIMITS])
def test_limits(case: dict[str, Any]) -> None:
    limits = Limits(*case["args"])
    assert limits.rate == pytest.approx(case["rate"])
    assert (limits.burst, limits.max_delay, limits.ttl) == (case["burst"], case["max_delay"], case["ttl"])


def test_negative_period_is_an_error() -> None:
    with pytest.raises(ValueError, match="negative value not valid for period"):
        Limits(1, -1.0, 1)


BUCKETS: list[dict[str, Any]] = [
    {"desc": "a new source starts with burst tokens", "limits": (1, 1.0, 3),
     "steps": [(0.0, "a", 0), (0.0, "a", 0), (0.0, "a", 0), (0.0, "a", S)]},
    {"desc": "a refused request takes nothing", "limits": (1, 1.0, 1),
     "steps": [(0.0, "a", 0), (0.0, "a", S), (0.0, "a", S), (1.0, "a", 0)]},
    {"desc": "a short wait is granted and the token is taken", "limits": (2, 1.0, 1),
     "steps": [(0.0, "a", 0), (0.3, "a", 200 * MS), (0.3, "a", 700 * MS)]},
    {"desc": "refill is capped at burst", "limits": (10, 1.0, 2),
     "steps": [(0.0, "a", 0), (0.0, "a", 0), (100.0, "a", 0), (100.0, "a", 0), (100.0, "a", 100 * MS)]},
    {"desc": "sources have their own buckets", "limits": (1, 1.0, 1),
     "steps": [(0.0, "a", 0), (0.0, "b", 0), (0.0, "a", S)]},
    {"desc": "unlimited never waits", "limits": (0, 1.0, 1), "steps": [(0.0, "a", 0)] * 5},
    {"desc": "time going backwards refills nothing", "limits": (1, 1.0, 1),
     "steps": [(5.0, "a", 0), (4.0, "a", S)]},
]


@pytest.mark.parametrize("case", BUCKETS, ids=[c["desc"] for c in BUCKETS])
def test_token_buckets(case: dict[str, Any]) -> None:
    buckets = TokenBuckets(Limits(*case["limits"]))
    for now, source, delay in case["steps"]:
        assert buckets.reserve(source, now) == pytest.approx(delay, abs=1000), (now, source)


def test_idle_buckets_expire_and_capacity_is_bounded() -> None:
    buckets = TokenBuckets(Limits(1, 1.0, 1), capacity=3)
    buckets.reserve("a", 0.0)
    assert buckets.reserve("a", 0.0) == S  # empty
    buckets.reserve("b", 2.5)  # "a" idle for more than its 2 s ttl: forgotten
    assert len(buckets) == 1
    assert buckets.reserve("a", 2.5) == 0  # a fresh, full bucket
    for i, source in enumerate("cdef"):
        buckets.reserve(source, 3.0 + i / 100)
    assert len(buckets) == 3  # least recently used dropped


def _config(backend: Backend, rate_limit: dict[str, Any]) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["rl"]}},
        "middlewares": {"rl": {"rateLimit": rate_limit}},
        "services": {"s": lb(backend.url)},
    }}


async def test_burst_then_429_with_retry_headers() -> None:
    backend = await Backend.start()
    async with running_app(_config(backend, {"average": 1, "period": "1s", "burst": 2}), middlewares=REGISTRY) as rt:
        statuses = [(await rt.get("/echo")).status for _ in range(2)]
        refused = await rt.get("/echo")
    await backend.stop()
    assert statuses == [200, 200]
    assert refused.status == 429
    assert await refused.text() == "Too Many Requests"
    assert refused.headers["Retry-After"] == "1"
    retry_in = refused.headers["X-Retry-In"]
    assert retry_in.endswith("ms") and 900 < float(retry_in[:-2]) <= 1000, retry_in
    assert len(backend.requests) == 2


async def test_short_wait_is_served_late() -> None:
    backend = await Backend.start()
    # 2 req/s, burst 1: maxDelay 250 ms.  After 300 ms the next token is 200 ms away: the request waits.
    async with running_app(_config(backend, {"average": 2, "burst": 1}), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo")).status == 200
        await asyncio.sleep(0.3)
        started = time.monotonic()
        late = await rt.get("/echo")
        waited = time.monotonic() - started
    await backend.stop()
    assert late.status == 200
    assert 0.15 <= waited < 0.6, waited


async def test_sources_by_header_are_independent() -> None:
    backend = await Backend.start()
    rate_limit = {"average": 1, "period": "1m", "burst": 1, "sourceCriterion": {"requestHeaderName": "X-Key"}}
    async with running_app(_config(backend, rate_limit), middlewares=REGISTRY) as rt:
        a1 = await rt.get("/echo", headers={"X-Key": "a"})
        b1 = await rt.get("/echo", headers={"X-Key": "b"})
        a2 = await rt.get("/echo", headers={"X-Key": "a"})
    await backend.stop()
    assert (a1.status, b1.status, a2.status) == (200, 200, 429)
    assert a2.headers["Retry-After"] == "60"


async def test_negative_period_disables_the_middleware() -> None:
    backend = await Backend.start()
    async with running_app(_config(backend, {"average": 1, "period": "-1s"}), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo")).status == 404
        assert any("negative value" in e for e in rt.state("middleware", "rl@file").errors)
    await backend.stop()

"""inFlightReq: simultaneous requests per source (counter table and e2e with slow backends)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from middlewares.inflight import InFlightCounter
from tests.harness import lb, running_app
from tests.middlewares.access_util import REGISTRY
from tests.proxy.backends import Backend

COUNTER_CASES: list[dict[str, Any]] = [
    {"desc": "up to the limit", "limit": 2, "ops": [("a", True), ("a", True), ("a", False)]},
    {"desc": "sources are independent", "limit": 1, "ops": [("a", True), ("b", True), ("a", False), ("b", False)]},
    {"desc": "a release frees a slot", "limit": 1, "ops": [("a", True), ("-a", None), ("a", True)]},
    {"desc": "amount 0 refuses everything", "limit": 0, "ops": [("a", False), ("b", False)]},
]


@pytest.mark.parametrize("case", COUNTER_CASES, ids=[c["desc"] for c in COUNTER_CASES])
def test_counter(case: dict[str, Any]) -> None:
    counter = InFlightCounter(case["limit"])
    for source, expected in case["ops"]:
        if source.startswith("-"):
            counter.release(source[1:])
        else:
            assert counter.acquire(source) is expected, (source, counter)


def test_counter_forgets_idle_sources() -> None:
    counter = InFlightCounter(3)
    counter.acquire("a")
    counter.acquire("a")
    counter.release("a")
    counter.release("a")
    assert counter.counts == {}


def _config(backend: Backend, middleware: dict[str, Any]) -> dict[str, Any]:
    return {"http": {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s", "middlewares": ["limit"]}},
        "middlewares": {"limit": {"inFlightReq": middleware}},
        "services": {"s": lb(backend.url)},
    }}


async def test_second_request_of_same_host_gets_429() -> None:
    backend = await Backend.start()
    async with running_app(_config(backend, {"amount": 1}), middlewares=REGISTRY) as rt:
        slow = asyncio.ensure_future(rt.get("/delay?ms=300", host="a.test"))
        await asyncio.sleep(0.1)
        rejected = await rt.get("/echo", host="a.test")
        other_host = await rt.get("/echo", host="b.test")  # default criterion: the request host
        first = await slow
        after = await rt.get("/echo", host="a.test")
    await backend.stop()
    assert first.status == 200
    assert rejected.status == 429
    assert await rejected.text() == "max connections reached: 1"
    assert other_host.status == 200
    assert after.status == 200
    assert [r.target for r in backend.requests] == ["/delay?ms=300", "/echo", "/echo"]


async def test_request_header_criterion() -> None:
    backend = await Backend.start()
    middleware = {"amount": 1, "sourceCriterion": {"requestHeaderName": "X-Tenant"}}
    async with running_app(_config(backend, middleware), middlewares=REGISTRY) as rt:
        slow = asyncio.ensure_future(rt.get("/delay?ms=300", host="a.test", headers={"X-Tenant": "t1"}))
        await asyncio.sleep(0.1)
        same = await rt.get("/echo", host="a.test", headers={"X-Tenant": "t1"})
        other = await rt.get("/echo", host="a.test", headers={"X-Tenant": "t2"})
        await slow
    await backend.stop()
    assert same.status == 429
    assert other.status == 200


async def test_conflicting_criteria_disable_the_middleware() -> None:
    backend = await Backend.start()
    middleware = {"amount": 1, "sourceCriterion": {"requestHost": True, "requestHeaderName": "X"}}
    async with running_app(_config(backend, middleware), middlewares=REGISTRY) as rt:
        assert (await rt.get("/echo", host="a.test")).status == 404
        errors = rt.state("middleware", "limit@file").errors
        assert any("mutually exclusive" in e for e in errors)
    await backend.stop()

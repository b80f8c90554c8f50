"""Aggregator: throttle, dedupe, qualification, backoff restart keeping the last good snapshot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from traefikpy.aggregator import Aggregator
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.merge import Merged


def cfg(routers: dict[str, str], services: dict[str, str] | None = None) -> DynamicConfig:
    """A config with routers ``name -> service`` and LB services ``name -> url``."""
    services = services or {s: f"http://127.0.0.1:9/{s}" for s in set(routers.values())}
    return DynamicConfig.model_validate({"http": {
        "routers": {r: {"rule": f"Host(`{r}.test`)", "service": s} for r, s in routers.items()},
        "services": {s: {"loadBalancer": {"servers": [{"url": u}]}} for s, u in services.items()},
    }})


class QueueProvider:
    """A real provider fed from the test through a queue; an Exception item makes watch() raise."""

    def __init__(self, name: str, throttle: float | None = None) -> None:
        self.name = name
        self.throttle = throttle
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.starts = 0

    async def watch(self) -> AsyncIterator[DynamicConfig]:
        self.starts += 1
        while True:
            item = await self.queue.get()
            if isinstance(item, Exception):
                raise item
            yield item


async def next_merged(agg: Aggregator, timeout: float = 2.0) -> Merged:
    it = agg.merged()
    return await asyncio.wait_for(it.__anext__(), timeout)


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_names_are_qualified_and_references_left_for_the_compiler() -> None:
    p = QueueProvider("file", throttle=0)
    agg = Aggregator([p], throttle=0)
    await agg.start()
    try:
        p.queue.put_nowait(cfg({"web": "app"}))
        merged = await next_merged(agg)
        assert list(merged.config.http.routers) == ["web@file"]
        assert list(merged.config.http.services) == ["app@file"]
        assert merged.config.http.routers["web@file"].service == "app"
        assert merged.providers == ("file",)
    finally:
        await agg.close()


async def test_two_providers_merge_side_by_side() -> None:
    a, b = QueueProvider("file", 0), QueueProvider("docker", 0)
    agg = Aggregator([a, b], throttle=0)
    await agg.start()
    try:
        a.queue.put_nowait(cfg({"web": "app"}))
        b.queue.put_nowait(cfg({"web": "app@file"}, services={"other": "http://127.0.0.1:9/o"}))
        await wait_for(lambda: agg.current is not None and len(agg.current.config.http.routers) == 2)
        merged = agg.current
        assert merged is not None
        assert set(merged.config.http.routers) == {"web@file", "web@docker"}
        assert merged.config.http.routers["web@docker"].service == "app@file"
    finally:
        await agg.close()


async def test_throttle_collapses_a_burst_into_at_most_two_applies() -> None:
    p = QueueProvider("file")
    agg = Aggregator([p], throttle=0.5)
    await agg.start()
    try:
        for i in range(20):  # a burst well inside the throttle window
            p.queue.put_nowait(cfg({f"r{i}": "app"}))
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.9)
        assert 1 <= agg.applies <= 2
        merged = agg.current
        assert merged is not None
        assert list(merged.config.http.routers) == ["r19@file"], "the newest snapshot wins"
    finally:
        await agg.close()


async def test_throttle_zero_applies_every_distinct_snapshot() -> None:
    p = QueueProvider("file")
    agg = Aggregator([p], throttle=0)
    await agg.start()
    try:
        for i in range(5):
            p.queue.put_nowait(cfg({f"r{i}": "app"}))
            await wait_for(lambda i=i: agg.current is not None
                           and f"r{i}@file" in agg.current.config.http.routers)
        assert agg.applies == 5
    finally:
        await agg.close()


async def test_identical_snapshots_are_not_applied_twice() -> None:
    p = QueueProvider("file", 0)
    agg = Aggregator([p], throttle=0)
    await agg.start()
    try:
        p.queue.put_nowait(cfg({"web": "app"}))
        await wait_for(lambda: agg.applies == 1)
        for _ in range(3):
            p.queue.put_nowait(cfg({"web": "app"}))  # equal by value, built anew
        await asyncio.sleep(0.2)
        assert agg.applies == 1
        assert agg.status["file"].snapshots == 4
    finally:
        await agg.close()


async def test_provider_failure_keeps_last_good_and_restarts_with_backoff() -> None:
    p = QueueProvider("etcd", 0)
    agg = Aggregator([p], throttle=0, backoff_initial=0.05, backoff_max=0.2)
    await agg.start()
    try:
        p.queue.put_nowait(cfg({"web": "app"}))
        await wait_for(lambda: agg.applies == 1)
        p.queue.put_nowait(ConnectionError("etcd went away"))
        await wait_for(lambda: agg.status["etcd"].restarts == 1)
        assert agg.status["etcd"].last_error == "ConnectionError: etcd went away"
        current = agg.current
        assert current is not None and "web@etcd" in current.config.http.routers, "last good kept"
        await wait_for(lambda: p.starts == 2)  # restarted after the backoff
        p.queue.put_nowait(cfg({"api": "app"}))
        await wait_for(lambda: agg.current is not None and "api@etcd" in agg.current.config.http.routers)
        assert agg.status["etcd"].last_error is None
    finally:
        await agg.close()


async def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    p = QueueProvider("etcd", 0)
    for _ in range(5):
        p.queue.put_nowait(RuntimeError("down"))
    agg = Aggregator([p], throttle=0, backoff_initial=0.05, backoff_max=0.1)
    started = time.monotonic()
    await agg.start()
    try:
        await wait_for(lambda: agg.status["etcd"].restarts == 5)
        elapsed = time.monotonic() - started
        # 0.05 + 0.1 + 0.1 + 0.1 before the 5th failure is seen: the cap holds, the gaps are real.
        assert 0.3 <= elapsed < 1.5
    finally:
        await agg.close()


def test_duplicate_provider_names_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        Aggregator([QueueProvider("file"), QueueProvider("file")])

"""Passive health checks: the pure failure window, and servers marked down by real traffic."""

from __future__ import annotations

from collections import deque

import aiohttp
import pytest

from tests.services.conftest import BackendFactory, FrontFactory
from tests.services.harness import AiohttpForward, get, make_exchange, wait_for
from traefikpy.proxy.http import Exchange
from traefikpy.services import (
    HealthCheckConfig,
    HealthRegistry,
    PassiveHealthConfig,
    Server,
    ServerSpec,
    build_load_balancer,
)
from traefikpy.services.passive import record_failure

WINDOW = [
    # (desc, earlier failure times, now, window, max, trips)
    ("first failure trips with the default max of 1", [], 100.0, 10.0, 1, True),
    ("below max inside the window", [95.0], 100.0, 10.0, 3, False),
    ("reaching max inside the window", [95.0, 99.0], 100.0, 10.0, 3, True),
    ("old failures fall out of the window", [80.0, 85.0], 100.0, 10.0, 3, False),
    ("a failure exactly one window old is out", [90.0, 95.0], 100.0, 10.0, 3, False),
]


@pytest.mark.parametrize(("desc", "earlier", "now", "window", "limit", "trips"), WINDOW, ids=[c[0] for c in WINDOW])
def test_failure_window(desc: str, earlier: list[float], now: float, window: float, limit: int, trips: bool) -> None:
    failures = deque(earlier)
    assert record_failure(failures, now, window, limit) is trips
    assert all(t > now - window for t in failures)


CONFIG = [
    ("defaults", {}, PassiveHealthConfig(10.0, 1)),
    ("Traefik keys", {"failureWindow": "3s", "maxFailedAttempts": "3"}, PassiveHealthConfig(3.0, 3)),
    ("absent", None, None),
]


@pytest.mark.parametrize(("desc", "data", "expected"), CONFIG, ids=[c[0] for c in CONFIG])
def test_config_from_mapping(desc: str, data: dict[str, object] | None, expected: PassiveHealthConfig | None) -> None:
    assert PassiveHealthConfig.from_mapping(data) == expected


async def test_5xx_marks_down_until_the_window_passes(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    bad, good = await backend("bad", status=500), await backend("good")
    events: list[tuple[str, bool]] = []
    lb = build_load_balancer("app", [ServerSpec(bad.url), ServerSpec(good.url)], forward,
                             passive=PassiveHealthConfig(failure_window=0.4, max_failed_attempts=2),
                             on_status=lambda url, up: events.append((url, up)), shuffle=False)
    site = await front(lb)
    answers = [(await get(session, site.url))[1] for _ in range(4)]
    assert answers == ["bad", "good", "bad", "good"]  # two 500s in the window: bad is now down
    assert events == [(bad.url, False)]
    assert [(await get(session, site.url))[1] for _ in range(4)] == ["good"] * 4
    await wait_for(lambda: lb.servers[0].up, timeout=2)  # back after the window
    assert events == [(bad.url, False), (bad.url, True)]


async def test_success_clears_consecutive_failures(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    flaky = await backend("flaky")
    lb = build_load_balancer("app", [ServerSpec(flaky.url)], forward, passive=PassiveHealthConfig(10.0, 2))
    site = await front(lb)
    for status in (500, 200, 500, 200, 500):
        flaky.status = status
        await get(session, site.url)
    assert lb.servers[0].up  # never two failures in a row


async def test_unreachable_server_counts_as_failure(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, unused_port: int) -> None:
    good = await backend("good")
    dead = f"http://127.0.0.1:{unused_port}"
    lb = build_load_balancer("app", [ServerSpec(dead), ServerSpec(good.url)], forward, passive=PassiveHealthConfig(10.0, 1), shuffle=False)
    site = await front(lb)
    assert [(await get(session, site.url))[0] for _ in range(3)] == [502, 200, 200]
    assert [s.up for s in lb.servers] == [False, True]


async def test_with_active_check_passive_does_not_restore(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, registry: HealthRegistry) -> None:
    bad = await backend("bad", status=500, health_status=500)
    check = HealthCheckConfig(path="/health", interval=0.1)
    lb = build_load_balancer("app", [ServerSpec(bad.url)], forward, passive=PassiveHealthConfig(0.1, 1), health_check=check, registry=registry)
    site = await front(lb)
    assert (await get(session, site.url))[0] == 500
    assert not lb.servers[0].up
    assert lb.servers[0].passive_timer is None  # no timer: the active check decides
    bad.health_status = 200
    await wait_for(lambda: lb.servers[0].up, timeout=2)


async def test_client_gone_is_not_the_servers_fault() -> None:
    class ClientGone(Exception):
        status = 499

    async def gone(ex: Exchange, server: Server) -> None:
        raise ClientGone()

    lb = build_load_balancer("app", [ServerSpec("http://a")], gone, passive=PassiveHealthConfig(10.0, 1))
    with pytest.raises(ClientGone):
        await lb(make_exchange())
    assert lb.servers[0].up

"""weighted and highestRandomWeight services: canary splits, health propagation, stickiness."""

from __future__ import annotations

from collections import Counter

import aiohttp
import pytest

from tests.services.conftest import BackendFactory, FrontFactory
from tests.services.harness import (
    AiohttpForward,
    Recording,
    answering,
    get,
    make_exchange,
    wait_for,
    writer_of,
)
from traefikpy.services import (
    HealthCheckConfig,
    HealthRegistry,
    NoHealthyServer,
    ServerSpec,
    ServiceBuildError,
    StickyCookie,
    build_highest_random_weight,
    build_load_balancer,
    build_weighted,
)
from traefikpy.services.sticky import sticky_value

SPLITS = [
    ("canary 9:1", (9, 1), 1000, (900, 100)),
    ("blue/green 1:1", (1, 1), 100, (50, 50)),
    ("three-way 3:2:1", (3, 2, 1), 600, (300, 200, 100)),
    ("a zero weight child gets nothing", (1, 0), 10, (10, 0)),
    ("no weight means 1", (None, 1), 10, (5, 5)),
]


@pytest.mark.parametrize(("desc", "weights", "requests", "expected"), SPLITS, ids=[c[0] for c in SPLITS])
async def test_split_ratio(desc: str, weights: tuple[int | None, ...], requests: int, expected: tuple[int, ...]) -> None:
    children = [Recording(f"v{i}") for i in range(len(weights))]
    service = build_weighted("app", [(c.name, c, w) for c, w in zip(children, weights, strict=True)])
    for _ in range(requests):
        await service(make_exchange())
    assert tuple(c.calls for c in children) == expected


async def test_canary_over_real_backends(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    stable, canary = await backend("stable"), await backend("canary")
    v1 = build_load_balancer("v1", [ServerSpec(stable.url)], forward)
    v2 = build_load_balancer("v2", [ServerSpec(canary.url)], forward)
    site = await front(build_weighted("app", [("v1", v1, 3), ("v2", v2, 1)]))
    answers = Counter([(await get(session, site.url))[1] for _ in range(20)])
    assert answers == {"stable": 15, "canary": 5}


async def test_health_propagation_skips_down_children(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, registry: HealthRegistry) -> None:
    one, two = await backend("one"), await backend("two")
    check = HealthCheckConfig(path="/health", interval=0.05)
    v1 = build_load_balancer("v1", [ServerSpec(one.url)], forward, registry=registry, health_check=check)
    v2 = build_load_balancer("v2", [ServerSpec(two.url)], forward, registry=registry, health_check=check)
    app = build_weighted("app", [("v1", v1, 1), ("v2", v2, 1)], health_check=True)
    parent_events: list[bool] = []
    app.register_status_updater(parent_events.append)
    site = await front(app)
    one.health_status = 503
    await wait_for(lambda: [c.up for c in app.children if c.name == "v1"] == [False])
    assert {(await get(session, site.url))[1] for _ in range(4)} == {"two"}
    two.health_status = 503
    await wait_for(lambda: not app.up)
    assert (await get(session, site.url))[0] == 503
    one.health_status = 200
    await wait_for(lambda: app.up)
    assert parent_events == [False, True]


async def test_without_health_check_a_down_child_is_still_picked() -> None:
    down = build_load_balancer("v1", [ServerSpec("http://a")], answering("v1"))
    down.servers[0].set_up(False)
    app = build_weighted("app", [("v1", down, 1)], shuffle=False)
    with pytest.raises(NoHealthyServer, match="v1"):
        await app(make_exchange())


def test_health_check_needs_reporting_children() -> None:
    plain = build_load_balancer("v1@file", [ServerSpec("http://a")], answering("v1"))
    with pytest.raises(ServiceBuildError, match="cannot register v1@file as updater for app@file: healthCheck not enabled in config for this loadBalancer service"):
        build_weighted("app@file", [("v1@file", plain, 1)], health_check=True)
    with pytest.raises(ServiceBuildError, match="not a status reporter"):
        build_weighted("app@file", [("v2@file", Recording("v2"), 1)], health_check=True)


async def test_sticky_on_two_levels(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    servers = [await backend(name) for name in ("a1", "a2", "b1", "b2")]
    lvl2 = StickyCookie(name="lvl2")
    whoami1 = build_load_balancer("whoami1", [ServerSpec(s.url) for s in servers[:2]], forward, sticky=lvl2)
    whoami2 = build_load_balancer("whoami2", [ServerSpec(s.url) for s in servers[2:]], forward, sticky=lvl2)
    site = await front(build_weighted("wrr1", [("whoami1", whoami1, 1), ("whoami2", whoami2, 1)], sticky=StickyCookie(name="lvl1")))
    _, first, headers = await get(session, site.url)
    cookies = dict(c.split(";")[0].split("=", 1) for c in headers.getall("Set-Cookie"))
    assert cookies["lvl1"] in (sticky_value("whoami1"), sticky_value("whoami2"))
    assert set(cookies) == {"lvl1", "lvl2"}
    cookie_header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    for _ in range(6):
        _, text, again = await get(session, site.url, headers={"Cookie": cookie_header})
        assert text == first
        assert "Set-Cookie" not in again


async def test_highest_random_weight_keeps_clients_on_their_child() -> None:
    children = [Recording(f"v{i}") for i in range(3)]
    service = build_highest_random_weight("app", [(c.name, c, 1) for c in children])
    ips = [f"10.0.{i // 200}.{i % 200}" for i in range(600)]

    async def answer(ip: str) -> bytes:
        ex = make_exchange(client_ip=ip)
        await service(ex)
        return writer_of(ex).body

    first = {ip: await answer(ip) for ip in ips}
    assert all([await answer(ip) == first[ip] for ip in ips[:100]])
    assert all(c.calls > 100 for c in children)


async def test_highest_random_weight_moves_only_the_down_childs_clients() -> None:
    v1 = build_load_balancer("v1", [ServerSpec("http://a")], answering("v1"))
    v2 = build_load_balancer("v2", [ServerSpec("http://b")], answering("v2"))
    v1.wants_health_check = v2.wants_health_check = True  # as when built with healthCheck
    service = build_highest_random_weight("app", [("v1", v1, 1), ("v2", v2, 1)], health_check=True)

    async def answer(ip: str) -> bytes:
        ex = make_exchange(client_ip=ip)
        await service(ex)
        return writer_of(ex).body.split(b":")[0]

    ips = [f"172.16.0.{i}" for i in range(1, 101)]
    before = {ip: await answer(ip) for ip in ips}
    v1.servers[0].set_up(False)
    after = {ip: await answer(ip) for ip in ips}
    assert Counter(before.values()).keys() == {b"v1", b"v2"}
    assert all(after[ip] == b"v2" for ip in ips)  # v1's clients moved, v2's stayed


def test_repr() -> None:
    service = build_weighted("app", [("v1", Recording("v1"), 3), ("v2", Recording("v2"), 1)], sticky=StickyCookie(name="s"), shuffle=False)
    assert repr(service) == "<weighted app [v1:3 v2:1] sticky=s>"

"""mirroring: mirrors get their percentage of copies with the body; the main response never waits
for them nor fails because of them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from tests.services.conftest import BackendFactory, FrontFactory
from tests.services.harness import (
    AiohttpForward,
    MemoryBody,
    Recording,
    answering,
    make_exchange,
    wait_for,
    writer_of,
)
from traefikpy.proxy.http import Exchange
from traefikpy.services import (
    HealthCheckConfig,
    HealthRegistry,
    NoHealthyServer,
    ServerSpec,
    ServiceBuildError,
    build_load_balancer,
    build_mirroring,
)


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, str]:
    async with session.post(url, data=body) as response:
        return response.status, await response.text()


async def test_mirror_gets_its_percent_with_the_body(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    main, shadow = await backend("main"), await backend("shadow")
    service = build_mirroring(
        "mirrored", build_load_balancer("v1", [ServerSpec(main.url)], forward),
        [("v2", build_load_balancer("v2", [ServerSpec(shadow.url)], forward), 50)],
    )
    site = await front(service)
    for i in range(20):
        assert await post(session, site.url + f"/items/{i}", f"body-{i}".encode()) == (200, "main")
    await wait_for(lambda: shadow.hits == 10)
    assert [s.body for s in main.seen] == [f"body-{i}".encode() for i in range(20)]
    assert all(s.body == f"body-{s.path.rsplit('/', 1)[1]}".encode() for s in shadow.seen)
    assert all(s.method == "POST" for s in shadow.seen)
    await service.close()


PERCENTS = [
    # (desc, mirror percents, requests, expected copies per mirror)
    ("10% of 100", (10,), 100, (10,)),
    ("every request and a quarter", (100, 25), 40, (40, 10)),
    ("0% mirrors nothing", (0,), 30, (0,)),
    ("33% spreads evenly", (33,), 300, (99,)),
]


@pytest.mark.parametrize(("desc", "percents", "requests", "expected"), PERCENTS, ids=[c[0] for c in PERCENTS])
async def test_percent_counter(desc: str, percents: tuple[int, ...], requests: int, expected: tuple[int, ...]) -> None:
    mirrors = [Recording(f"m{i}") for i in range(len(percents))]
    main = Recording("main")
    service = build_mirroring("svc", main, [(m.name, m, p) for m, p in zip(mirrors, percents, strict=True)])
    for _ in range(requests):
        await service(make_exchange())
    await wait_for(lambda: sum(m.calls for m in mirrors) == sum(expected))
    assert main.calls == requests
    assert tuple(m.calls for m in mirrors) == expected


async def test_slow_or_dead_mirror_never_delays_or_fails_the_main(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, unused_port: int) -> None:
    main, slow = await backend("main"), await backend("slow", delay=1.0)
    dead = build_load_balancer("dead", [ServerSpec(f"http://127.0.0.1:{unused_port}")], forward)
    service = build_mirroring(
        "mirrored", build_load_balancer("v1", [ServerSpec(main.url)], forward),
        [("slow", build_load_balancer("slow", [ServerSpec(slow.url)], forward), 100), ("dead", dead, 100)],
    )
    site = await front(service)
    started = time.monotonic()
    for _ in range(5):
        assert await post(session, site.url, b"x") == (200, "main")
    assert time.monotonic() - started < 0.8  # five answers while each copy to "slow" takes 1s
    await wait_for(lambda: service.failed == 5)  # the dead mirror's copies failed quietly
    await service.close()


async def test_pending_copies_are_bounded() -> None:
    release = asyncio.Event()

    async def stuck(ex: Exchange) -> None:
        await release.wait()

    service = build_mirroring("svc", Recording("main"), [("stuck", stuck, 100)], max_pending=2)
    for _ in range(5):
        await service(make_exchange())
    assert service.dropped == 3
    release.set()
    await wait_for(lambda: service.sent == 2)


async def test_body_larger_than_max_is_not_mirrored_but_fully_served() -> None:
    seen: list[bytes] = []

    async def main(ex: Exchange) -> None:
        seen.append(await ex.body.read_all())
        await ex.respond(200)

    mirror = Recording("mirror")
    service = build_mirroring("svc", main, [("m", mirror, 100)], max_body_size=10)
    ex = make_exchange(method=b"POST", body=b"0123456789abcdef" * 4)
    ex.body = MemoryBody(b"0123456789abcdef" * 4, chunk=3)
    await service(ex)
    small = make_exchange(method=b"POST", body=b"tiny")
    await service(small)
    await wait_for(lambda: mirror.calls == 1)
    await asyncio.sleep(0.05)
    assert mirror.calls == 1  # only the small request was mirrored
    assert seen == [b"0123456789abcdef" * 4, b"tiny"]


async def test_without_mirror_body_the_main_streams_and_mirrors_get_none() -> None:
    bodies: dict[str, bytes] = {}
    lengths: dict[str, list[bytes]] = {}

    def recorder(name: str) -> Callable[[Exchange], Awaitable[None]]:
        async def handler(ex: Exchange) -> None:
            bodies[name] = await ex.body.read_all()
            lengths[name] = ex.header_values(b"content-length")
            await ex.respond(200)
        return handler

    service = build_mirroring("svc", recorder("main"), [("m", recorder("mirror"), 100)], mirror_body=False)
    ex = make_exchange(method=b"POST", headers=[(b"Host", b"a"), (b"Content-Length", b"5")], body=b"hello")
    body = ex.body
    await service(ex)
    await wait_for(lambda: "mirror" in bodies)
    assert ex.body is body  # not buffered
    assert bodies == {"main": b"hello", "mirror": b""}
    assert lengths == {"main": [b"5"], "mirror": [b"0"]}


async def test_mirrors_still_get_copies_when_the_main_has_no_server() -> None:
    main = build_load_balancer("v1", [ServerSpec("http://a")], answering("v1"))
    main.servers[0].set_up(False)
    mirror = Recording("mirror")
    service = build_mirroring("svc", main, [("m", mirror, 100)])
    with pytest.raises(NoHealthyServer):
        await service(make_exchange())
    await wait_for(lambda: mirror.calls == 1)


async def test_status_is_the_main_services(registry: HealthRegistry, backend: BackendFactory) -> None:
    main_backend = await backend("main")
    main = build_load_balancer("v1", [ServerSpec(main_backend.url)], answering("v1"), registry=registry,
                               health_check=HealthCheckConfig(path="/health", interval=0.05))
    service = build_mirroring("svc", main, [("m", Recording("m"), 10)], health_check=True)
    events: list[bool] = []
    service.register_status_updater(events.append)
    main_backend.health_status = 503
    await wait_for(lambda: events == [False])
    assert not service.up


def test_build_errors() -> None:
    with pytest.raises(ServiceBuildError, match="percent must be between 0 and 100"):
        build_mirroring("svc", Recording("main"), [("m", Recording("m"), 101)])
    without = build_mirroring("svc", Recording("main"), [])
    with pytest.raises(ServiceBuildError, match="healthCheck not enabled in config for this mirroring service"):
        without.register_status_updater(lambda up: None)


async def test_memory_writer_untouched_by_mirrors() -> None:
    service = build_mirroring("svc", Recording("main"), [("m", Recording("m"), 100)])
    ex = make_exchange()
    await service(ex)
    assert (writer_of(ex).status, writer_of(ex).body) == (200, b"main")
    assert repr(service).startswith("<Mirroring svc main=main [m:100%] body=True max=-1")


async def test_upgrade_requests_are_not_mirrored() -> None:
    mirror = Recording("mirror")
    service = build_mirroring("svc", Recording("main"), [("m", mirror, 100)])
    ex = make_exchange(headers=[(b"Host", b"a")])
    if not hasattr(ex, "upgrade"):
        pytest.skip("Exchange has no upgrade field yet")
    ex.upgrade = b"websocket"
    await service(ex)
    await asyncio.sleep(0.02)
    assert mirror.calls == 0
    assert writer_of(ex).body == b"main"

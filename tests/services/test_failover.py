"""failover: switching to the fallback when the main service goes down and back, health
propagation, and status-based failover (``errors``) with the request replayed."""

from __future__ import annotations

import aiohttp
import pytest

from tests.services.conftest import BackendFactory, FrontFactory
from tests.services.harness import (
    AiohttpForward,
    Backend,
    MemoryWriter,
    Recording,
    answering,
    get,
    make_exchange,
    wait_for,
    writer_of,
)
from traefikpy.proxy.http import Exchange
from traefikpy.services import (
    FailoverErrors,
    HealthCheckConfig,
    HealthRegistry,
    NoHealthyServer,
    ServerSpec,
    ServiceBuildError,
    StickyCookie,
    build_failover,
    build_load_balancer,
)
from traefikpy.services.failover import parse_status_ranges
from traefikpy.services.status import StatusNode

CHECK = HealthCheckConfig(path="/health", interval=0.05)


async def test_switches_to_fallback_and_back(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, registry: HealthRegistry) -> None:
    primary, backup = await backend("primary"), await backend("backup")
    main = build_load_balancer("main", [ServerSpec(primary.url)], forward, registry=registry, health_check=CHECK)
    fallback = build_load_balancer("backup", [ServerSpec(backup.url)], forward, registry=registry, health_check=CHECK)
    service = build_failover("app", main, fallback)
    site = await front(service)
    assert (await get(session, site.url))[1] == "primary"
    primary.health_status = 503
    await wait_for(lambda: not service.main_up)
    assert [(await get(session, site.url))[1] for _ in range(3)] == ["backup"] * 3
    primary.health_status = 200
    await wait_for(lambda: service.main_up)
    assert (await get(session, site.url))[1] == "primary"


async def test_both_down_is_503_and_propagates(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, registry: HealthRegistry) -> None:
    primary, backup = await backend("primary"), await backend("backup")
    main = build_load_balancer("main", [ServerSpec(primary.url)], forward, registry=registry, health_check=CHECK)
    fallback = build_load_balancer("backup", [ServerSpec(backup.url)], forward, registry=registry, health_check=CHECK)
    service = build_failover("app", main, fallback, health_check=True)
    events: list[bool] = []
    service.register_status_updater(events.append)
    site = await front(service)
    primary.health_status = backup.health_status = 503
    await wait_for(lambda: not service.up)
    assert (await get(session, site.url))[0] == 503
    backup.health_status = 200
    await wait_for(lambda: service.up)
    assert (await get(session, site.url))[1] == "backup"
    assert events == [False, True]


async def test_fallback_health_is_ignored_without_health_check(registry: HealthRegistry) -> None:
    slow = HealthCheckConfig(path="/health", interval=60)
    main = build_load_balancer("main", [ServerSpec("http://a")], answering("x"), registry=registry, health_check=slow)
    fallback = build_load_balancer("backup", [ServerSpec("http://b")], answering("x"))
    service = build_failover("app", main, fallback)
    fallback.servers[0].set_up(False)
    main.servers[0].set_up(False)
    assert service.fallback_up  # not watched: the fallback is tried and answers for itself
    with pytest.raises(NoHealthyServer, match="backup"):
        await service(make_exchange())


def test_main_must_report_status() -> None:
    with pytest.raises(ServiceBuildError, match="cannot register main service as updater for app: healthCheck not enabled in config for this loadBalancer service"):
        build_failover("app", build_load_balancer("main", [ServerSpec("http://a")], answering("x")), Recording("fb"))


class Vanishing(StatusNode):
    """A main service that still reports up but has just lost its last server."""

    name = "vanishing"

    def __init__(self) -> None:
        super().__init__(True)

    async def __call__(self, ex: Exchange) -> None:
        raise NoHealthyServer(self.name)


async def test_main_without_server_between_reports_fails_over() -> None:
    fallback = Recording("backup")
    service = build_failover("app", Vanishing(), fallback)
    ex = make_exchange()
    await service(ex)
    assert writer_of(ex).body == b"backup"


RANGES = [
    ("single", ["500"], ((500, 500),)),
    ("range", ["500-504"], ((500, 504),)),
    ("several, with ints", ["502", 404, "520-599"], ((502, 502), (404, 404), (520, 599))),
]


@pytest.mark.parametrize(("desc", "items", "expected"), RANGES, ids=[c[0] for c in RANGES])
def test_parse_status_ranges(desc: str, items: list[str | int], expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_status_ranges(items) == expected


@pytest.mark.parametrize("item", ["5xx", "504-500", "99", "600", "1-2-3"])
def test_bad_status_ranges(item: str) -> None:
    with pytest.raises(ValueError, match="invalid status code range"):
        parse_status_ranges([item])


async def errors_site(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, main_url: str | None = None, limit: int = -1) -> tuple[Backend, Backend, str]:
    primary, backup = await backend("primary"), await backend("backup")
    main = build_load_balancer("main", [ServerSpec(main_url or primary.url)], forward, sticky=StickyCookie(name="m"))
    fallback = build_load_balancer("backup", [ServerSpec(backup.url)], forward)
    errors = FailoverErrors.from_mapping({"status": ["500-504"], "maxRequestBodyBytes": limit})
    site = await front(build_failover("app", main, fallback, errors=errors))
    return primary, backup, site.url


STATUS_FAILOVER = [
    # (desc, main status, expected answer, expected status)
    ("main answers", 200, "primary", 200),
    ("status outside the ranges passes through", 404, "primary", 404),
    ("status in the ranges is replayed on the fallback", 503, "backup", 200),
]


@pytest.mark.parametrize(("desc", "main_status", "answer", "status"), STATUS_FAILOVER, ids=[c[0] for c in STATUS_FAILOVER])
async def test_status_based_failover(desc: str, main_status: int, answer: str, status: int, backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    primary, backup, url = await errors_site(backend, front, forward)
    primary.status = main_status
    async with session.post(url + "/order", data=b"the-body") as response:
        assert (response.status, await response.text()) == (status, answer)
        cookies = response.headers.getall("Set-Cookie", [])
    assert primary.seen[-1].body == b"the-body"
    if answer == "backup":
        assert backup.seen[-1].body == b"the-body"
        assert cookies == []  # the main attempt's sticky cookie went with its dropped answer
    else:
        assert len(cookies) == 1


async def test_unreachable_main_counts_as_502(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, unused_port: int) -> None:
    _, backup, url = await errors_site(backend, front, forward, main_url=f"http://127.0.0.1:{unused_port}")
    assert (await get(session, url))[:2] == (200, "backup")


async def test_body_over_the_limit_is_413(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    primary, backup, url = await errors_site(backend, front, forward, limit=4)
    async with session.post(url, data=b"too large") as response:
        assert response.status == 413
    async with session.post(url, data=b"ok") as response:
        assert response.status == 200
    assert primary.hits == 1 and backup.hits == 0


def test_repr() -> None:
    main = build_load_balancer("main", [ServerSpec("http://a")], answering("x"))
    service = build_failover("app", main, Recording("fb"), errors=FailoverErrors(((500, 504),)))
    assert repr(service) == "<Failover app main=main(up) fallback=fb(up) errors=[(500, 504)]>"


async def test_status_catching_writer_passes_other_writer_features_through() -> None:
    class HijackingWriter(MemoryWriter):
        hijacked = False

        def hijack(self) -> str:
            self.hijacked = True
            return "socket"

    async def upgrading(ex: Exchange) -> None:
        await ex.send_head(101, [(b"Upgrade", b"websocket")])
        assert ex.writer.hijack() == "socket"  # type: ignore[attr-defined]

    writer = HijackingWriter()
    ex = make_exchange()
    ex.writer = writer
    await build_failover("app", upgrading, Recording("fb"), errors=FailoverErrors(((500, 599),)))(ex)
    assert writer.status == 101 and writer.hijacked

"""The loadBalancer service end to end (real backends, real forward, HTTP front) and its
bookkeeping: sticky sessions, errors, hooks on failure, status propagation, build errors."""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from tests.services.conftest import BackendFactory, FrontFactory
from tests.services.harness import AiohttpForward, UpstreamError, answering, get, make_exchange, writer_of
from traefikpy.proxy.http import Exchange
from traefikpy.services import (
    NoHealthyServer,
    Server,
    ServerSpec,
    ServiceBuildError,
    StickyCookie,
    build_load_balancer,
)
from traefikpy.services.sticky import cookie_name, sticky_value


async def test_wrr_spreads_real_requests_by_weight(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    a, b, c = await backend("a"), await backend("b"), await backend("c")
    lb = build_load_balancer("app@file", [ServerSpec(a.url, 2), ServerSpec(b.url), ServerSpec(c.url)], forward)
    site = await front(lb)
    answers = Counter([(await get(session, site.url + "/x"))[1] for _ in range(40)])
    assert answers == {"a": 20, "b": 10, "c": 10}
    assert all(server.inflight == 0 for server in lb.servers)


async def test_request_reaches_backend_unchanged(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    a = await backend("a")
    site = await front(build_load_balancer("app@file", [ServerSpec(a.url)], forward))
    async with session.post(site.url + "/path/x?q=1", data=b"payload", headers={"X-Test": "1"}) as response:
        assert response.status == 200
    seen = a.seen[-1]
    assert (seen.method, seen.path, seen.body, seen.headers["X-Test"]) == ("POST", "/path/x?q=1", b"payload", "1")


async def test_no_server_up_answers_503(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    a = await backend("a")
    lb = build_load_balancer("app@file", [ServerSpec(a.url)], forward)
    lb.servers[0].set_up(False)
    site = await front(lb)
    status, text, _ = await get(session, site.url)
    assert (status, text) == (503, "no available server")
    assert a.hits == 0


async def test_empty_server_list_is_unavailable() -> None:
    lb = build_load_balancer("empty@file", [], answering("x"))
    assert not lb.up
    with pytest.raises(NoHealthyServer, match="empty@file"):
        await lb(make_exchange())


async def test_unreachable_server_answers_502_and_nothing_else(front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, unused_port: int) -> None:
    lb = build_load_balancer("app@file", [ServerSpec(f"http://127.0.0.1:{unused_port}")], forward,
                             sticky=StickyCookie())
    site = await front(lb)
    status, _, headers = await get(session, site.url)
    assert status == 502
    assert "Set-Cookie" not in headers  # the failed attempt's cookie hook was removed


async def test_sticky_cookie_set_honoured_and_replaced(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession) -> None:
    a, b, c = await backend("a"), await backend("b"), await backend("c")
    lb = build_load_balancer("app@docker", [ServerSpec(x.url) for x in (a, b, c)], forward, sticky=StickyCookie(http_only=True))
    site = await front(lb)
    name = cookie_name("", "app@docker")
    status, first, headers = await get(session, site.url)
    by_name = {x.name: x for x in (a, b, c)}
    value = sticky_value(by_name[first].url)
    assert headers.getall("Set-Cookie") == [f"{name}={value}; Path=/; HttpOnly"]
    # Honoured: the same server every time, and no new cookie.
    for _ in range(6):
        _, text, again = await get(session, site.url, headers={"Cookie": f"other=1; {name}={value}"})
        assert text == first
        assert "Set-Cookie" not in again
    # Its server goes down: another server answers and the cookie follows it.
    next(s for s in lb.servers if s.url == by_name[first].url).set_up(False)
    _, moved, headers = await get(session, site.url, headers={"Cookie": f"{name}={value}"})
    assert moved != first
    assert headers.getall("Set-Cookie") == [f"{name}={sticky_value(by_name[moved].url)}; Path=/; HttpOnly"]
    # Unknown value: a normal pick and a fresh cookie.
    _, _, headers = await get(session, site.url, headers={"Cookie": f"{name}=stale"})
    assert len(headers.getall("Set-Cookie")) == 1


async def test_legacy_cookie_is_honoured_and_rewritten() -> None:
    lb = build_load_balancer("app", [ServerSpec("http://a"), ServerSpec("http://b")], answering("lb"), sticky=StickyCookie(name="s"))
    ex = make_exchange(headers=[(b"Cookie", b"s=http://b")])
    await lb(ex)
    assert writer_of(ex).body == b"lb:http://b"
    assert writer_of(ex).header_values(b"set-cookie") == [f"s={sticky_value('http://b')}; Path=/".encode()]


async def test_failed_attempt_leaves_no_hooks_so_a_retry_sets_one_cookie() -> None:
    attempts = 0

    async def flaky(ex: Exchange, server: Server) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise UpstreamError("connection refused")
        await ex.respond(200, b"ok")

    lb = build_load_balancer("app", [ServerSpec("http://a")], flaky, sticky=StickyCookie(name="s"))
    ex = make_exchange()
    with pytest.raises(UpstreamError):
        await lb(ex)
    assert not ex.response_hooks
    await lb(ex)  # what a retry middleware does
    assert len(writer_of(ex).header_values(b"set-cookie")) == 1
    assert ex.service == "app"


async def test_status_propagates_only_on_change() -> None:
    lb = build_load_balancer("app", [ServerSpec("http://a"), ServerSpec("http://b")], answering("x"), registry=None)
    with pytest.raises(ServiceBuildError, match="healthCheck not enabled in config for this loadBalancer service"):
        lb.register_status_updater(lambda up: None)
    lb.wants_health_check = True  # as when built with a healthCheck
    changes: list[bool] = []
    lb.register_status_updater(changes.append)
    a, b = sorted(lb.servers, key=lambda s: s.url)
    a.set_up(False)
    b.set_up(False)
    b.set_up(False)
    a.set_up(True)
    assert changes == [False, True]
    assert lb.server_status() == {"http://a": True, "http://b": False}


async def test_on_status_reports_server_changes() -> None:
    events: list[tuple[str, bool]] = []
    lb = build_load_balancer("app", [ServerSpec("http://a")], answering("x"), on_status=lambda url, up: events.append((url, up)))
    lb.servers[0].set_up(False)
    lb.servers[0].set_up(False)
    lb.servers[0].set_up(True)
    assert events == [("http://a", False), ("http://a", True)]


async def test_leasttime_prefers_the_faster_server() -> None:
    delays = {"http://slow": 0.03, "http://fast": 0.0}

    async def timed(ex: Exchange, server: Server) -> None:
        await asyncio.sleep(delays[server.url])
        await ex.respond(200, server.url.encode())

    lb = build_load_balancer("app", [ServerSpec("http://slow"), ServerSpec("http://fast")], timed, strategy="leasttime")
    answers: Counter[str] = Counter()
    for _ in range(20):
        ex = make_exchange()
        await lb(ex)
        answers[writer_of(ex).body.decode()] += 1
    assert answers["http://fast"] >= 18
    slow = next(s for s in lb.servers if s.url == "http://slow")
    assert slow.latency_ms >= 25


BUILD_ERRORS = [
    ("unknown strategy", {"strategy": "random"}, "unsupported load-balancer strategy 'random'"),
    ("active health check without registry", {"health_check": object()}, "needs a HealthRegistry"),
]


@pytest.mark.parametrize(("desc", "kwargs", "message"), BUILD_ERRORS, ids=[c[0] for c in BUILD_ERRORS])
def test_build_errors(desc: str, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ServiceBuildError, match=message):
        build_load_balancer("app", [ServerSpec("http://a")], answering("x"), **kwargs)  # type: ignore[arg-type]


def test_weights_and_duplicates() -> None:
    specs = [ServerSpec("http://a", 0), ServerSpec("http://b", 2), ServerSpec("http://b", 5), ServerSpec("http://c", -1)]
    lb = build_load_balancer("app", specs, answering("x"))
    assert [(s.url, s.weight) for s in lb.servers] == [("http://b", 2)]
    p2c = build_load_balancer("app", specs, answering("x"), strategy="p2c", shuffle=False)
    assert [s.url for s in p2c.servers] == ["http://a", "http://b", "http://c"]  # p2c ignores weights


def test_repr_is_informative() -> None:
    lb = build_load_balancer("app@file", [ServerSpec("http://a"), ServerSpec("http://b")], answering("x"),
                             strategy="P2C", sticky=StickyCookie(name="s"))
    lb.servers[0].set_up(False)
    assert repr(lb) == "<LoadBalancer app@file p2c servers=2 up=1 sticky=s>"


SPECS = [
    ("url only", {"url": "http://a"}, ServerSpec("http://a")),
    ("all keys", {"url": "http://a/", "weight": 3, "preservePath": True}, ServerSpec("http://a/", 3, True)),
    ("explicit null weight means 1", {"url": "http://a", "weight": None}, ServerSpec("http://a", 1)),
]


@pytest.mark.parametrize(("desc", "data", "expected"), SPECS, ids=[c[0] for c in SPECS])
def test_server_spec_from_mapping(desc: str, data: dict[str, object], expected: ServerSpec) -> None:
    assert ServerSpec.from_mapping(data) == expected


async def test_hrw_client_follows_health_changes() -> None:
    lb = build_load_balancer("app", [ServerSpec(f"http://10.0.0.{i}") for i in range(5)], answering("lb"), strategy="hrw")

    async def server_for(ip: str) -> bytes:
        ex = make_exchange(client_ip=ip)
        await lb(ex)
        return writer_of(ex).body

    home = await server_for("203.0.113.7")
    assert await server_for("203.0.113.7") == home  # remembered answer
    owner = next(s for s in lb.servers if home.endswith(s.url.encode()))
    owner.set_up(False)
    moved = await server_for("203.0.113.7")
    assert moved != home
    owner.set_up(True)
    assert await server_for("203.0.113.7") == home

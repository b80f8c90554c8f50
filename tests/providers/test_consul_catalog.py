"""Consul Catalog provider through the real App, against the protocol-level fake Consul
(tests/fakes/consul_catalog.py) driven by the real py-consul client; real backends answer.

``test_real_agent`` runs against a real Consul agent when ``CONSUL_HTTP_ADDR`` is set.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import consul.aio
import pytest

from providers.consul_catalog import ConsulCatalogProvider, all_from_static
from providers.consul_catalog_config import CatalogSettings
from tests.fakes.consul_catalog import FakeConsulCatalog, Instance
from tests.harness import until
from tests.proxy.backends import Backend
from traefikpy.app import App
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import ConsulCatalogProvider as CatalogStatic


@contextlib.asynccontextmanager
async def fake_consul(**kw: Any) -> AsyncIterator[FakeConsulCatalog]:
    fake = FakeConsulCatalog(**kw)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@contextlib.asynccontextmanager
async def routed(provider: ConsulCatalogProvider) -> AsyncIterator[tuple[App, aiohttp.ClientSession]]:
    static = load_static(["--entryPoints.web.address=127.0.0.1:0", "--providers.providersThrottleDuration=0s"],
                         {}, search=False)
    app = App(static, providers=[provider])
    await app.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield app, session
    finally:
        await app.stop()


@contextlib.asynccontextmanager
async def backends(count: int) -> AsyncIterator[list[Backend]]:
    started = [await Backend.start() for _ in range(count)]
    try:
        yield started
    finally:
        for backend in started:
            await backend.stop()


async def fetch(app: App, session: aiohttp.ClientSession, host: str) -> tuple[int, str]:
    async with session.get(f"http://127.0.0.1:{app.port('web')}/echo", headers={"Host": host}) as resp:
        return resp.status, await resp.text()



def status_is(app: App, session: aiohttp.ClientSession, host: str, status: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return (await fetch(app, session, host))[0] == status
    return check


def instance(iid: str, backend: Backend, *tags: str, name: str = "web", **kw: Any) -> Instance:
    return Instance(id=iid, name=name, address="127.0.0.1", port=backend.port, tags=list(tags), **kw)


async def test_watch_routes_registrations_health_and_deregistrations() -> None:
    async with fake_consul() as fake, backends(2) as (b1, b2):
        provider = ConsulCatalogProvider(CatalogSettings(), address=fake.address, watch=True, refresh_interval=60)
        async with routed(provider) as (app, session):
            await until(lambda: _true(provider.refreshes >= 1))
            before = provider.refreshes
            await fake.register(instance("web-1", b1, "traefik.http.routers.web.rule=Host(`web.test`)"))
            took = await until(status_is(app, session, "web.test", 200))
            print(f"registration -> routed in {took * 1000:.0f} ms (watch)")
            assert provider.refreshes > before  # a blocking query saw it, not the 60 s refresh
            # a second instance joins the service
            await fake.register(instance("web-2", b2, "traefik.http.routers.web.rule=Host(`web.test`)"))

            async def both() -> bool:
                for _ in range(6):
                    await fetch(app, session, "web.test")
                return bool(b1.requests) and bool(b2.requests)

            await until(both)
            # a failing check takes the instance out; critical for both removes the service's servers
            await fake.set_status("web-1", "critical")
            await fake.set_status("web-2", "critical", node=True)
            await until(status_is(app, session, "web.test", 404))
            await fake.set_status("web-2", "passing", node=True)
            await until(status_is(app, session, "web.test", 200))
            await fake.deregister("web-2")
            await until(status_is(app, session, "web.test", 404))


async def test_polling_without_watch_and_tag_filters() -> None:
    async with fake_consul() as fake, backends(2) as (b1, b2):
        settings = CatalogSettings(exposed_by_default=False, prefix="edge", constraints="Tag(`public`)")
        provider = ConsulCatalogProvider(settings, address=fake.address, watch=False, refresh_interval=0.1)
        async with routed(provider) as (app, session):
            await fake.register(instance("a-1", b1, "public", "edge.enable=true", name="a"))
            await fake.register(instance("b-1", b2, "public", name="b"))  # not enabled
            await fake.register(instance("c-1", b2, "edge.enable=true", name="c"))  # constraint fails
            await until(status_is(app, session, "a", 200))
            assert (await fetch(app, session, "b"))[0] == 404
            assert (await fetch(app, session, "c"))[0] == 404
            assert not any("/v1/health/state" in path for _, path in fake.requests)  # no watch
            health = [path for _, path in fake.requests if path.startswith("/v1/health/service/")]
            assert health and all("tag=edge.enable%3Dtrue" in path for path in health)
            assert not any(path.startswith(("/v1/health/service/b", "/v1/health/service/c")) for path in health)


async def test_consul_outage_keeps_last_config_then_resyncs() -> None:
    async with fake_consul() as fake, backends(2) as (b1, b2):
        provider = ConsulCatalogProvider(CatalogSettings(), address=fake.address, watch=True, refresh_interval=30)
        async with routed(provider) as (app, session):
            await fake.register(instance("a-1", b1, name="a"))
            await until(status_is(app, session, "a", 200))
            await fake.stop()
            status = app.aggregator.status["consulcatalog"]
            await until(lambda: _true(status.restarts >= 1))
            for _ in range(10):
                assert (await fetch(app, session, "a"))[0] == 200
            await fake.register(instance("b-1", b2, name="b"))  # made while the API is down
            await fake.start()  # same port
            took = await until(status_is(app, session, "b", 200), timeout=10)
            print(f"consul back: change made during the outage live after {took * 1000:.0f} ms")
            assert (await fetch(app, session, "a"))[0] == 200


async def test_token_datacenter_namespace_and_consistency_reach_consul() -> None:
    async with fake_consul(token="s3cret") as fake, backends(1) as (b1,):
        await fake.register(instance("a-1", b1, name="a", namespace="team"))
        cfg = CatalogStatic.model_validate({
            "namespaces": ["team"], "requireConsistent": True, "refreshInterval": "100ms",
            "endpoint": {"address": fake.address, "token": "s3cret", "datacenter": "dc1"}})
        (provider,) = all_from_static(cfg)
        assert provider.name == "consulcatalog-team"
        async with routed(provider) as (app, session):
            await until(status_is(app, session, "a", 200))
            assert "a@consulcatalog-team" in app.graph.state.of("http", "router")
        catalog_reads = [p for _, p in fake.requests if p.startswith("/v1/catalog/services")]
        assert catalog_reads and all("ns=team" in p and "dc=dc1" in p and "consistent=1" in p for p in catalog_reads)


async def test_wrong_token_never_routes_and_keeps_retrying() -> None:
    async with fake_consul(token="right") as fake, backends(1) as (b1,):
        await fake.register(instance("a-1", b1, name="a"))
        provider = ConsulCatalogProvider(CatalogSettings(), address=fake.address, token="wrong")
        async with routed(provider) as (app, session):
            status = app.aggregator.status["consulcatalog"]
            await until(lambda: _true(status.restarts >= 1))
            assert "403" in (status.last_error or "") or "Permission" in (status.last_error or "")
            assert (await fetch(app, session, "a"))[0] == 404


@pytest.mark.skipif(not os.environ.get("CONSUL_HTTP_ADDR"), reason="set CONSUL_HTTP_ADDR to test a real Consul agent")
async def test_real_agent() -> None:
    address = os.environ["CONSUL_HTTP_ADDR"].removeprefix("http://")
    service = f"traefikpy-test-{uuid.uuid4().hex[:8]}"
    async with backends(1) as (b1,):
        client = consul.aio.Consul(host=address.rsplit(":", 1)[0], port=int(address.rsplit(":", 1)[1]))
        await client.agent.service.register(service, service_id=service, address="127.0.0.1", port=b1.port,
                                            tags=[f"traefik.http.routers.{service}.rule=Host(`{service}.test`)"])
        try:
            provider = ConsulCatalogProvider(CatalogSettings(), address=address, watch=True, refresh_interval=5)
            async with routed(provider) as (app, session):
                await until(status_is(app, session, f"{service}.test", 200), timeout=15)
        finally:
            await client.agent.service.deregister(service)
            await client.close()


async def _true(value: bool) -> bool:
    return value

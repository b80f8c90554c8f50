"""Fixtures for service tests: real loopback backends, fronts, a client session, a registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from tests.services.harness import AiohttpForward, Backend, Front
from traefikpy.proxy.http import Handler
from traefikpy.services import HealthRegistry

BackendFactory = Callable[..., Awaitable[Backend]]
FrontFactory = Callable[[Handler], Awaitable[Front]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # The client must not keep cookies by itself: sticky tests send them explicitly.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        yield client


@pytest.fixture
async def forward() -> AsyncIterator[AiohttpForward]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as client:
        yield AiohttpForward(client)


@pytest.fixture
async def backend() -> AsyncIterator[BackendFactory]:
    started: list[Backend] = []

    async def make(name: str, **knobs: object) -> Backend:
        server = await Backend(name, **knobs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
async def front() -> AsyncIterator[FrontFactory]:
    started: list[Front] = []

    async def make(handler: Handler) -> Front:
        server = await Front(handler).start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
async def registry() -> AsyncIterator[HealthRegistry]:
    reg = HealthRegistry()
    yield reg
    await reg.close()

"""Fixtures of the data-plane tests: uvloop, a scripted backend, proxies on free loopback ports."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
import uvloop

from tests.proxy.backends import Backend
from traefikpy.proxy.entrypoint import EntryPointServer, EntryPointSettings
from traefikpy.proxy.errors import ProxyError
from traefikpy.proxy.forward import Forwarder
from traefikpy.proxy.http import Exchange, Handler
from traefikpy.proxy.settle import respond_error
from traefikpy.proxy.upstream import Transport, Upstreams


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Callable[[], Any]]:
    # The data plane runs on uvloop in production: test it there.
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    server = await Backend.start()
    yield server
    await server.stop()


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    ups = Upstreams()
    yield ups
    # Every borrowed connection was returned exactly once (no leak, no double release).
    busy = [p.busy for p in ups.pools.values()]
    assert all(b >= 0 for b in busy), f"negative busy count: {ups!r}"
    await ups.close()


def forwarding_app(forwarder: Forwarder) -> Handler:
    async def app(ex: Exchange) -> None:
        try:
            await forwarder(ex)
        except ProxyError as exc:
            await respond_error(ex, exc)

    return app


StartProxy = Callable[..., Awaitable[EntryPointServer]]


@pytest.fixture
async def start_proxy(backend: Backend, upstreams: Upstreams) -> AsyncIterator[StartProxy]:
    """``await start_proxy(app=None, transport=None, pass_host_header=True, **settings)``.

    Without ``app`` the proxy forwards everything to ``backend``; settings are
    :class:`EntryPointSettings` fields (``address`` defaults to a free 127.0.0.1 port)."""
    servers: list[EntryPointServer] = []

    async def start(
        app: Handler | None = None,
        transport: Transport | None = None,
        pass_host_header: bool = True,
        target: str | None = None,
        **settings: Any,
    ) -> EntryPointServer:
        if app is None:
            name = "default@internal"
            if transport is not None:
                upstreams.configure({transport.name: transport})
                name = transport.name
            forwarder = Forwarder.create(
                upstreams, target or backend.url, name, pass_host_header=pass_host_header
            )
            app = forwarding_app(forwarder)
        base = EntryPointSettings(name="web", address="127.0.0.1:0", hostname="proxy-host", grace_timeout=1.0)
        server = EntryPointServer(replace(base, **settings), app)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop(grace=0.2)

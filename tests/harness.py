"""End-to-end harness: the real App (entrypoints, compiler, data plane) fed by a test provider.

    async with running_app({"http": {...}}, middlewares=REGISTRY) as rt:
        resp = await rt.get("/path", host="a.test")          # real HTTP client over a socket
        await rt.update({"http": {...}})                      # push a new configuration, wait live

The provider is a real one (``watch()`` yields snapshots, throttle 0); backends are the echo
servers of ``tests/proxy/backends.py`` (``Backend.start()``; ``/echo`` answers with what arrived).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiohttp

from traefikpy.app import App
from traefikpy.config.dynamic import DynamicConfig
from traefikpy.config.sources import load_static


class FeedProvider:
    """A provider whose snapshots come from the test (``push``)."""

    def __init__(self, name: str = "file") -> None:
        self.name = name
        self.throttle: float | None = 0.0
        self._queue: asyncio.Queue[DynamicConfig] = asyncio.Queue()

    def push(self, config: Mapping[str, Any] | DynamicConfig) -> None:
        if not isinstance(config, DynamicConfig):
            config = DynamicConfig.model_validate(config)
        self._queue.put_nowait(config)

    async def watch(self) -> AsyncIterator[DynamicConfig]:
        while True:
            yield await self._queue.get()


class RunningApp:
    def __init__(self, app: App, provider: FeedProvider, session: aiohttp.ClientSession) -> None:
        self.app = app
        self.provider = provider
        self.session = session

    def url(self, path: str = "/", entrypoint: str = "web") -> str:
        return f"http://127.0.0.1:{self.app.port(entrypoint)}{path}"

    async def update(self, config: Mapping[str, Any] | DynamicConfig, timeout: float = 5.0) -> None:
        """Push a configuration and wait until a graph built from it is live."""
        before = self.app.reloads
        self.provider.push(config)
        deadline = asyncio.get_running_loop().time() + timeout
        while self.app.reloads == before:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("configuration not applied (equal to the previous one?)")
            await asyncio.sleep(0.005)

    async def request(self, method: str, path: str = "/", *, host: str | None = None,
                      entrypoint: str = "web", **kwargs: Any) -> aiohttp.ClientResponse:
        headers = dict(kwargs.pop("headers", None) or {})
        if host is not None:
            headers["Host"] = host
        resp = await self.session.request(method, self.url(path, entrypoint), headers=headers,
                                          allow_redirects=False, **kwargs)
        await resp.read()
        return resp

    async def get(self, path: str = "/", **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.request("GET", path, **kwargs)

    def state(self, kind: str, name: str, section: str = "http") -> Any:
        return self.app.graph.state.get(section, kind, name)


@contextlib.asynccontextmanager
async def running_app(
    config: Mapping[str, Any] | None = None,
    *,
    middlewares: Mapping[str, Any] | None = None,
    flags: Sequence[str] = (),
    entrypoints: Sequence[str] = ("web",),
) -> AsyncIterator[RunningApp]:
    """An App listening on free loopback ports (one entrypoint per name), first config applied."""
    argv = [f"--entryPoints.{ep}.address=127.0.0.1:0" for ep in entrypoints]
    static = load_static([*argv, *flags], {}, search=False)
    provider = FeedProvider()
    app = App(static, providers=[provider], middlewares=middlewares)
    await app.start()
    session = aiohttp.ClientSession(auto_decompress=False)
    running = RunningApp(app, provider, session)
    try:
        if config is not None:
            await running.update(config)
        yield running
    finally:
        await session.close()
        await app.stop()


def lb(*urls: str, **options: Any) -> dict[str, Any]:
    """A loadBalancer service definition."""
    return {"loadBalancer": {"servers": [{"url": u} for u in urls], **options}}


async def until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, interval: float = 0.01) -> float:
    """Seconds until ``check()`` (plain or async) is true; fails the test after ``timeout``."""
    start = time.monotonic()
    while True:
        ok = check()
        if inspect.isawaitable(ok):
            ok = await ok
        if ok:
            return time.monotonic() - start
        assert time.monotonic() - start < timeout, "condition not reached in time"
        await asyncio.sleep(interval)

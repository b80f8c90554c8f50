"""The whole router end to end: file provider → aggregator → compile → switch → real sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.harness import until
from traefikpy.app import App
from traefikpy.config.sources import load_static


async def start_backend(name: str) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(text=f"{name} {request.method} {request.path_qs}",
                            headers={"X-Backend": name, "X-Seen-Host": request.headers.get("Host", "")})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def backends() -> AsyncIterator[dict[str, str]]:
    started = [await start_backend(n) for n in ("A", "B")]
    yield {"A": started[0][1], "B": started[1][1]}
    for runner, _ in started:
        await runner.cleanup()


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data))
    tmp.replace(path)


def dynamic(routes: dict[str, tuple[str, str]], backends: dict[str, str]) -> dict[str, Any]:
    """routes: router name -> (rule, backend name)."""
    return {"http": {
        "routers": {n: {"rule": rule, "service": f"svc-{b}"} for n, (rule, b) in routes.items()},
        "services": {f"svc-{b}": {"loadBalancer": {"servers": [{"url": u}]}} for b, u in backends.items()},
    }}


async def make_app(tmp_path: Path, data: dict[str, Any], throttle: str = "0s") -> App:
    path = tmp_path / "dynamic.yml"
    write_yaml(path, data)
    static = load_static([
        "--entryPoints.web.address=127.0.0.1:0", "--ping=true", "--entryPoints.traefik.address=127.0.0.1:0",
        f"--providers.file.filename={path}", f"--providers.providersThrottleDuration={throttle}",
    ], {}, search=False)
    app = App(static)
    await app.start()
    return app



async def test_routes_by_host_and_path_and_404_elsewhere(tmp_path: Path, backends: dict[str, str]) -> None:
    app = await make_app(tmp_path, dynamic({
        "a": ("Host(`a.test`)", "A"), "b": ("Host(`b.test`) && PathPrefix(`/api`)", "B")}, backends))
    base = f"http://127.0.0.1:{app.port('web')}"
    try:
        async with aiohttp.ClientSession() as session:
            async def routed() -> bool:
                async with session.get(base + "/", headers={"Host": "a.test"}) as resp:
                    return resp.status == 200
            await until(routed)
            async with session.get(base + "/x?q=1", headers={"Host": "a.test"}) as resp:
                assert resp.status == 200
                assert await resp.text() == "A GET /x?q=1"
                assert resp.headers["X-Seen-Host"] == "a.test", "passHostHeader defaults to true"
            async with session.get(base + "/api/v1", headers={"Host": "B.TEST:8000"}) as resp:
                assert (resp.status, await resp.text()) == (200, "B GET /api/v1")
            async with session.get(base + "/other", headers={"Host": "b.test"}) as resp:
                assert resp.status == 404
                assert await resp.text() == "404 page not found\n"
            ping = f"http://127.0.0.1:{app.port('traefik')}/ping"
            async with session.get(ping) as resp:
                assert (resp.status, await resp.text()) == (200, "OK")
    finally:
        await app.stop()


async def test_file_change_is_live_and_broken_file_keeps_serving(tmp_path: Path, backends: dict[str, str]) -> None:
    app = await make_app(tmp_path, dynamic({"r": ("Host(`r.test`)", "A")}, backends))
    base = f"http://127.0.0.1:{app.port('web')}/"
    path = tmp_path / "dynamic.yml"
    try:
        async with aiohttp.ClientSession() as session:
            async def backend_is(name: str) -> bool:
                async with session.get(base, headers={"Host": "r.test"}) as resp:
                    return resp.status == 200 and resp.headers.get("X-Backend") == name
            await until(lambda: backend_is("A"))
            write_yaml(path, dynamic({"r": ("Host(`r.test`)", "B")}, backends))
            start = time.monotonic()
            await until(lambda: backend_is("B"))
            assert time.monotonic() - start < 1.0
            path.write_text("http:\n  routers:\n    r:\n      rul: broken\n")
            await asyncio.sleep(0.5)
            assert await backend_is("B"), "the last good configuration keeps serving"
    finally:
        await app.stop()


async def test_reload_under_load_drops_nothing_and_reuses_pools(tmp_path: Path, backends: dict[str, str]) -> None:
    """≥5,000 requests while the configuration changes ≥50 times: zero failures."""
    app = await make_app(tmp_path, dynamic({"main": ("Host(`main.test`)", "A")}, backends))
    base = f"http://127.0.0.1:{app.port('web')}/"
    path = tmp_path / "dynamic.yml"
    failures: list[str] = []
    done = 0
    target = 5000
    changes = 0
    reconfigured = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while done < target or not reconfigured.is_set():
            done += 1
            try:
                async with session.get(base, headers={"Host": "main.test"}) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        failures.append(f"{resp.status} {body[:80]!r}")
            except aiohttp.ClientError as exc:
                failures.append(repr(exc))

    async def reconfigure() -> None:
        nonlocal changes
        for i in range(56):
            extra = {f"extra{j}": (f"Host(`x{j}.test`)", "B") for j in range(i % 7)}
            write_yaml(path, dynamic({"main": ("Host(`main.test`)", "AB"[i % 2]), **extra}, backends))
            await asyncio.sleep(0.04)
            changes += 1
        reconfigured.set()

    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
            async def ready() -> bool:
                async with session.get(base, headers={"Host": "main.test"}) as resp:
                    return resp.status == 200
            await until(ready)
            reloads_before = app.reloads
            started = time.monotonic()
            await asyncio.wait_for(asyncio.gather(reconfigure(), *(client(session) for _ in range(16))), 60)
            elapsed = time.monotonic() - started
        reloads = app.reloads - reloads_before
        stats = app.upstreams.stats()
        print(f"requests={done} reloads={reloads} changes={changes} elapsed={elapsed:.2f}s upstream={stats}")
        assert failures == []
        assert done >= target
        assert reloads >= 50, f"only {reloads} reloads"
        opened = stats["opened"]
        assert opened <= 64, f"pools must be reused across swaps: {opened} connections for {done} requests"
    finally:
        await app.stop()

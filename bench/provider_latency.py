"""Provider latency: from a change in the source to the new route answering, with throttle 0.

Usage::

    python bench/provider_latency.py [--providers etcd,consul,redis,http] [--changes 20]

One function per provider (``bench_<name>``, registered in ``BENCHES``): each starts its source
on 127.0.0.1 (etcd and redis-server from Debian, the fake Consul of the test suite, an aiohttp
endpoint), runs the real :class:`traefikpy.app.App` with that provider and one echo backend,
then ``--changes`` times rewrites a router's rule to a new host and measures the time from the
write returning to the first ``200`` for that host (a client polls every 2 ms).  Prints min,
median, p95 and max per provider; the goal is <= 100 ms (the HTTP provider adds up to its poll
interval, 50 ms here).  Servers are stopped at the end; nothing is installed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.providers.kv_helpers import RoutedApp, routed_app, router_pairs  # noqa: E402

Write = Callable[[str], Awaitable[None]]  # sets router "bench" to Host(<host>)


async def measure(rt: RoutedApp, write: Write, changes: int) -> list[float]:
    timings = []
    for i in range(changes):
        host = f"v{i}.bench"
        await write(host)
        start = time.monotonic()
        timings.append(await rt.wait_status(host, since=start, timeout=10))
    return timings


async def bench_etcd(tmp: Path, changes: int) -> list[float]:
    import aetcd

    from providers.etcd import EtcdProvider
    from tests.providers.kv_helpers import EtcdServer

    server = EtcdServer(tmp / "etcd")
    await server.start()
    try:
        async with aetcd.Client(host="127.0.0.1", port=server.port) as client, \
                routed_app(EtcdProvider(endpoints=[server.endpoint])) as rt:
            for key, value in router_pairs("traefik", "bench", "first.bench", rt.backend.url).items():
                await client.put(key.encode(), value.encode())
            await rt.wait_status("first.bench")

            async def write(host: str) -> None:
                await client.put(b"traefik/http/routers/bench/rule", f"Host(`{host}`)".encode())

            return await measure(rt, write, changes)
    finally:
        server.kill()


async def bench_consul(tmp: Path, changes: int) -> list[float]:
    import consul.aio

    from providers.consul import ConsulProvider
    from tests.fakes.consul import FakeConsul

    fake = FakeConsul()
    await fake.start()
    client = consul.aio.Consul(host="127.0.0.1", port=fake.port)
    try:
        async with routed_app(ConsulProvider(endpoints=[fake.address])) as rt:
            for key, value in router_pairs("traefik", "bench", "first.bench", rt.backend.url).items():
                await client.kv.put(key, value)
            await rt.wait_status("first.bench")

            async def write(host: str) -> None:
                await client.kv.put("traefik/http/routers/bench/rule", f"Host(`{host}`)")

            return await measure(rt, write, changes)
    finally:
        await client.close()
        await fake.stop()


async def bench_redis(tmp: Path, changes: int) -> list[float]:
    import redis.asyncio as aioredis

    from providers.redis import RedisProvider
    from tests.providers.kv_helpers import RedisServer

    server = RedisServer(tmp / "redis")
    await server.start()
    client = aioredis.Redis(host="127.0.0.1", port=server.port)
    try:
        async with routed_app(RedisProvider(endpoints=[server.endpoint])) as rt:
            await client.mset(router_pairs("traefik", "bench", "first.bench", rt.backend.url))
            await rt.wait_status("first.bench")

            async def write(host: str) -> None:
                await client.set("traefik/http/routers/bench/rule", f"Host(`{host}`)")

            return await measure(rt, write, changes)
    finally:
        await client.aclose()
        server.kill()


async def bench_http(tmp: Path, changes: int) -> list[float]:
    from aiohttp import web

    from providers.http import HTTPProvider

    state: dict[str, str] = {"host": "first.bench", "url": ""}

    async def handle(_request: web.Request) -> web.Response:
        return web.json_response({"http": {
            "routers": {"bench": {"rule": f"Host(`{state['host']}`)", "service": "s"}},
            "services": {"s": {"loadBalancer": {"servers": [{"url": state["url"]}]}}}}}, dumps=json.dumps)

    app = web.Application()
    app.router.add_get("/config", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with routed_app(HTTPProvider(f"http://127.0.0.1:{port}/config", poll_interval=0.05)) as rt:
            state["url"] = rt.backend.url
            await rt.wait_status("first.bench")

            async def write(host: str) -> None:
                state["host"] = host

            return await measure(rt, write, changes)
    finally:
        await runner.cleanup()


async def bench_docker(tmp: Path, changes: int) -> list[float]:
    """A real dockerd (tests/providers/test_docker_e2e.py); each change starts a container whose
    labels route a new host; timed from the daemon's ``start`` event to the first 200."""
    import asyncio
    import shutil

    import aiohttp

    from providers.docker import DockerProvider
    from providers.docker_config import DockerSettings
    from tests.providers.test_docker_e2e import Dockerd, ensure_docker, unmount_under

    root = Path(tempfile.mkdtemp(prefix="tpb-", dir="/tmp"))  # short: unix socket path limit
    engine = Dockerd(root, *ensure_docker())
    engine.start()
    started: dict[str, float] = {}

    async def follow(session: aiohttp.ClientSession) -> None:
        async with session.get("http://localhost/events", params={"filters": json.dumps({"type": ["container"], "event": ["start"]})}) as resp:
            async for line in resp.content:
                event = json.loads(line)
                started[event["Actor"]["Attributes"]["name"]] = time.monotonic()

    try:
        engine.build_image()
        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(engine.sock))) as events, \
                routed_app(DockerProvider(engine.endpoint, DockerSettings(host_ip="127.0.0.1"))) as rt:
            watcher = asyncio.get_running_loop().create_task(follow(events))
            timings = []
            for i in range(changes):
                host, name = f"v{i}.bench", f"bench{i}"
                await engine.acli("run", "-d", "--pull", "never", "--network", "host", "--name", name,
                                  "--label", f"traefik.http.routers.bench.rule=Host(`{host}`)",
                                  "--label", f"traefik.http.services.bench.loadbalancer.server.url={rt.backend.url}",
                                  "bb:local", "/bin/sleep", "600")
                while name not in started:
                    await asyncio.sleep(0.001)
                timings.append(await rt.wait_status(host, since=started[name], timeout=10))
                await engine.acli("rm", "-f", name)
            watcher.cancel()
            return timings
    finally:
        if engine.proc is not None:
            engine.remove_all()
        engine.stop()
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


async def bench_consulcatalog(tmp: Path, changes: int) -> list[float]:
    """The fake Consul's catalog (watch mode): each change re-registers an instance with a new
    router rule; timed from the registration to the first 200."""
    from providers.consul_catalog import ConsulCatalogProvider
    from tests.fakes.consul_catalog import FakeConsulCatalog, Instance

    fake = FakeConsulCatalog()
    await fake.start()
    try:
        async with routed_app(ConsulCatalogProvider(address=fake.address, watch=True, refresh_interval=60)) as rt:
            timings = []
            for i in range(changes):
                host = f"v{i}.bench"
                await fake.register(Instance(id="bench-1", name="bench", address="127.0.0.1", port=rt.backend.port,
                                             tags=[f"traefik.http.routers.bench.rule=Host(`{host}`)"]))
                timings.append(await rt.wait_status(host, since=time.monotonic(), timeout=10))
            return timings
    finally:
        await fake.stop()


BENCHES: dict[str, Callable[[Path, int], Awaitable[list[float]]]] = {
    "etcd": bench_etcd,
    "consul": bench_consul,
    "redis": bench_redis,
    "http": bench_http,
    "docker": bench_docker,
    "consulcatalog": bench_consulcatalog,
}


def summary(name: str, timings: list[float]) -> str:
    ms = sorted(t * 1000 for t in timings)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return (f"{name:<8} n={len(ms):<3} min={ms[0]:6.1f}  median={statistics.median(ms):6.1f}  "
            f"p95={p95:6.1f}  max={ms[-1]:6.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", default=",".join(BENCHES))
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="provider-latency-") as tmp:
        for name in args.providers.split(","):
            timings = await BENCHES[name](Path(tmp) / name, args.changes)
            print(summary(name, timings), flush=True)


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())

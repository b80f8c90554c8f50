"""Shared pieces of the KV and HTTP provider tests: real store processes and a routed App.

* :class:`EtcdServer` / :class:`RedisServer`: the Debian binaries started on free loopback ports
  with a private data directory, stopped by their PID (``kill()`` is a SIGKILL, for outage tests;
  ``start()`` again reuses the same ports and data).
* :func:`routed_app`: the real :class:`App` fed by one provider (throttle 0), one echo backend
  and an aiohttp client; :meth:`RoutedApp.wait_status` measures when a host starts answering.
* :func:`router_pairs`: the KV pairs of one router and its service, Traefik's layout.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port
from tests.harness import until
from tests.proxy.backends import Backend
from traefikpy.app import App
from traefikpy.config.sources import load_static
from traefikpy.provider import Provider


def need_binary(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {package}: apt-get install -y {package})")
    return path


class _Process:
    def __init__(self, argv: Sequence[str], log_path: Path) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        """SIGKILL (no goodbye to clients, like a crash) and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class EtcdServer(_Process):
    """etcd 3.x on 127.0.0.1 (free client and peer ports), data in ``data_dir``."""

    def __init__(self, data_dir: Path, extra: Sequence[str] = (), scheme: str = "http") -> None:
        binary = need_binary("etcd", "etcd-server")
        self.port = free_port()
        self.peer_port = free_port()
        self.scheme = scheme
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        client = f"{scheme}://127.0.0.1:{self.port}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        super().__init__([
            binary, "--name", "t", "--data-dir", str(data_dir / "etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"t={peer}", "--initial-cluster-state", "new",
            "--listen-metrics-urls", "", "--logger", "zap", "--log-outputs", "stderr", *extra,
        ], data_dir / "etcd.log")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, timeout: float = 10.0) -> None:
        self.spawn()
        deadline = time.monotonic() + timeout
        while True:
            assert self.running(), f"etcd exited: {self.log_path.read_text()[-2000:]}"
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                # a listening port is not a ready member: wait for the health endpoint over TCP
                if self.scheme == "https" or await self._healthy():
                    return
            assert time.monotonic() < deadline, "etcd did not become ready"
            await asyncio.sleep(0.05)

    async def _healthy(self) -> bool:
        try:
            async with aiohttp.ClientSession() as session, session.get(
                    f"http://127.0.0.1:{self.port}/health", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                return bool((await resp.json(content_type=None)).get("health") == "true")
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return False


class RedisServer(_Process):
    """redis-server on 127.0.0.1 (free port), no persistence unless ``extra`` asks for it."""

    def __init__(self, data_dir: Path, extra: Sequence[str] = ()) -> None:
        binary = need_binary("redis-server", "redis-server")
        self.port = free_port()
        data_dir.mkdir(parents=True, exist_ok=True)
        super().__init__([
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--save", "", "--appendonly", "no", "--protected-mode", "no", *extra,
        ], data_dir / "redis.log")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, timeout: float = 10.0, port: int | None = None) -> None:
        self.spawn()
        deadline = time.monotonic() + timeout
        while True:
            assert self.running(), f"redis exited: {self.log_path.read_text()[-2000:]}"
            with contextlib.suppress(OSError):
                reader, writer = await asyncio.open_connection("127.0.0.1", port or self.port)
                writer.write(b"PING\r\n")
                line = await asyncio.wait_for(reader.readline(), 1)
                writer.close()
                if line.startswith((b"+PONG", b"-NOAUTH")):
                    return
            assert time.monotonic() < deadline, "redis did not become ready"
            await asyncio.sleep(0.05)


def router_pairs(root: str, name: str, host: str, url: str) -> dict[str, str]:
    """KV pairs of router ``name`` (``Host(host)``) and its service ``name-svc`` → ``url``."""
    return {
        f"{root}/http/routers/{name}/rule": f"Host(`{host}`)",
        f"{root}/http/routers/{name}/service": f"{name}-svc",
        f"{root}/http/services/{name}-svc/loadBalancer/servers/0/url": url,
    }


class RoutedApp:
    def __init__(self, app: App, backend: Backend, session: aiohttp.ClientSession) -> None:
        self.app = app
        self.backend = backend
        self.session = session

    async def status(self, host: str, path: str = "/echo") -> int:
        try:
            async with self.session.get(f"http://127.0.0.1:{self.app.port('web')}{path}",
                                        headers={"Host": host}, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                await resp.read()
                return resp.status
        except (TimeoutError, aiohttp.ClientError):
            return 0

    async def wait_status(self, host: str, status: int = 200, timeout: float = 5.0,
                          since: float | None = None) -> float:
        """Seconds (from ``since``, default now) until ``host`` answers ``status``."""
        start = time.monotonic() if since is None else since
        while (got := await self.status(host)) != status:
            assert time.monotonic() - start < timeout, f"{host} answered {got}, not {status}, after {timeout}s"
            await asyncio.sleep(0.002)
        return time.monotonic() - start

    def routers(self) -> set[str]:
        current = self.app.aggregator.current
        return set(current.config.http.routers) if current is not None else set()


@contextlib.asynccontextmanager
async def routed_app(provider: Provider, flags: Sequence[str] = ()) -> AsyncIterator[RoutedApp]:
    static = load_static(["--entryPoints.web.address=127.0.0.1:0", "--providers.providersThrottleDuration=0s",
                          *flags], {}, search=False)
    backend = await Backend.start()
    app = App(static, providers=[provider])
    await app.start()
    session = aiohttp.ClientSession()
    try:
        yield RoutedApp(app, backend, session)
    finally:
        await session.close()
        await app.stop()
        await backend.stop()


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> float:
    return await until(predicate, timeout, interval=0.005)

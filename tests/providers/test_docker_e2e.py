"""Docker provider against a real Docker Engine started by the test, through the real App.

The daemon runs on a unix socket in a temporary directory (vfs storage, no iptables, no bridge,
``--live-restore`` so containers survive a daemon restart).  No image can be pulled here: the
fixture imports one built from Debian's busybox-static.  Containers use host networking and serve
on free 127.0.0.1 ports (``busybox httpd``), the port given by the
``traefik.http.services.<s>.loadbalancer.server.port`` label.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from providers.docker import DockerProvider
from providers.docker_config import DockerSettings
from tests.conftest import free_port
from tests.harness import until as poll
from traefikpy.app import App
from traefikpy.config.sources import load_static
from traefikpy.config.static_providers import ClientTLS

APPLETS = ("sh", "httpd", "sleep", "test", "rm", "touch", "true", "false", "cat", "echo")


def _docker_cli() -> str | None:
    # the Debian client matches the Debian daemon's API version; any other client negotiates
    return "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")


def ensure_docker() -> tuple[str, str]:
    """dockerd and docker paths; installs Debian's docker.io and busybox-static when missing."""
    if shutil.which("dockerd") is None or not os.path.exists("/bin/busybox") or _docker_cli() is None:
        if os.geteuid() != 0:
            pytest.skip("docker.io / busybox-static are not installed and installing needs root")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io", "busybox-static"],
                              env=env, capture_output=True, timeout=600)
        if done.returncode != 0 or shutil.which("dockerd") is None:
            pytest.skip(f"cannot install docker.io/busybox-static: {done.stderr.decode()[-300:]}")
    dockerd, cli = shutil.which("dockerd"), _docker_cli()
    assert dockerd is not None and cli is not None
    return dockerd, cli


class Dockerd:
    """One Docker Engine of the test: start, stop (by PID), CLI calls, a busybox image."""

    def __init__(self, root: Path, dockerd: str, cli: str) -> None:
        self.root = root
        self.sock = root / "docker.sock"
        self.dockerd = dockerd
        self.cli_path = cli
        self.proc: subprocess.Popen[bytes] | None = None
        self.tls_port = 0  # with TLS files: also listen on tcp://127.0.0.1:tls_port (--tlsverify)
        self.tls_files: dict[str, Path] = {}

    @property
    def endpoint(self) -> str:
        return f"unix://{self.sock}"

    def enable_tls(self) -> None:
        """Also serve tcp://127.0.0.1:<free port> with TLS and client certificates (trustme CA)."""
        import trustme

        ca = trustme.CA()
        server, client = ca.issue_cert("127.0.0.1"), ca.issue_cert("traefikpy-client")
        files = {name: self.root / f"{name}.pem" for name in ("ca", "server", "server-key", "client", "client-key")}
        ca.cert_pem.write_to_path(str(files["ca"]))
        server.cert_chain_pems[0].write_to_path(str(files["server"]))
        server.private_key_pem.write_to_path(str(files["server-key"]))
        client.cert_chain_pems[0].write_to_path(str(files["client"]))
        client.private_key_pem.write_to_path(str(files["client-key"]))
        self.tls_files = files
        self.tls_port = free_port()

    def start(self, timeout: float = 30.0) -> None:
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [self.dockerd, "--live-restore", "--storage-driver=vfs", "--iptables=false", "--ip6tables=false",
             "--bridge=none", f"--host={self.endpoint}", f"--data-root={self.root / 'data'}",
             f"--exec-root={self.root / 'exec'}", f"--pidfile={self.root / 'docker.pid'}", *self._tls_args()],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited: {(self.root / 'dockerd.log').read_text()[-2000:]}")
            if self.sock.exists() and subprocess.run([self.cli_path, "-H", self.endpoint, "version"],
                                                     capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("dockerd did not become ready")

    def _tls_args(self) -> list[str]:
        if not self.tls_port:
            return []
        f = self.tls_files
        return [f"--host=tcp://127.0.0.1:{self.tls_port}", "--tlsverify", f"--tlscacert={f['ca']}",
                f"--tlscert={f['server']}", f"--tlskey={f['server-key']}"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cli(self, *args: str) -> str:
        done = subprocess.run([self.cli_path, "-H", self.endpoint, *args], capture_output=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {done.stderr.decode()}")
        return done.stdout.decode().strip()

    async def acli(self, *args: str) -> str:
        proc = await asyncio.create_subprocess_exec(self.cli_path, "-H", self.endpoint, *args,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: {err.decode()}")
        return out.decode().strip()

    def build_image(self) -> None:
        rootfs = self.root / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        for applet in APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        for site in ("a", "b", "c"):
            (rootfs / site).mkdir()
            (rootfs / site / "index.html").write_text(site)
        (rootfs / "tmp").mkdir()
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(self.root / "bb.tar"), "."], check=True)
        self.cli("import", str(self.root / "bb.tar"), "bb:local")

    def remove_all(self) -> None:
        ids = self.cli("ps", "-aq").split()
        if ids:
            self.cli("rm", "-f", *ids)

    async def run(self, name: str, port: int, site: str = "a", labels: dict[str, str] | None = None,
                  extra: tuple[str, ...] = (), command: str | None = None) -> str:
        """A busybox httpd container on 127.0.0.1:port (host networking) serving /<site>."""
        args = ["run", "-d", "--pull", "never", "--network", "host", "--name", name, *extra]
        for key, value in (labels or {}).items():
            args += ["--label", f"{key}={value}"]
        serve = f"exec /bin/httpd -f -p 127.0.0.1:{port} -h /{site}"
        args += ["bb:local", "/bin/sh", "-c", f"{command}; {serve}" if command else serve]
        return await self.acli(*args)


def unmount_under(root: Path) -> None:
    """dockerd leaves mounts under its data and exec roots (the data root bind, netns files)."""
    with open("/proc/mounts") as fh:
        points = [line.split()[1] for line in fh if line.split()[1].startswith(str(root))]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    daemon, cli = ensure_docker()
    root = Path(tempfile.mkdtemp(prefix="tpd-", dir="/tmp"))  # short: unix socket paths are limited
    engine = Dockerd(root, daemon, cli)
    engine.enable_tls()
    try:
        engine.start()
        engine.build_image()
        yield engine
    finally:
        if engine.proc is not None:
            with contextlib.suppress(Exception):
                engine.remove_all()
        engine.stop()
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clean(dockerd: Dockerd) -> Iterator[Dockerd]:
    yield dockerd
    if dockerd.proc is not None:
        dockerd.remove_all()


@contextlib.asynccontextmanager
async def routed(engine: Dockerd, provider: DockerProvider | None = None,
                 **settings: Any) -> AsyncIterator[tuple[App, aiohttp.ClientSession]]:
    static = load_static(["--entryPoints.web.address=127.0.0.1:0", "--providers.providersThrottleDuration=0s"],
                         {}, search=False)
    provider = provider or DockerProvider(engine.endpoint, DockerSettings(host_ip="127.0.0.1", **settings))
    app = App(static, providers=[provider])
    await app.start()
    try:
        async with aiohttp.ClientSession() as session:
            yield app, session
    finally:
        await app.stop()


async def fetch(app: App, session: aiohttp.ClientSession, host: str) -> tuple[int, str]:
    async with session.get(f"http://127.0.0.1:{app.port('web')}/", headers={"Host": host}) as resp:
        return resp.status, (await resp.text()).strip()



async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> float:
    """Docker events take longer: the shared poll with a 10 s limit."""
    return await poll(check, timeout)


def answers(app: App, session: aiohttp.ClientSession, host: str, status: int, body: str | None = None
            ) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        got = await fetch(app, session, host)
        return got[0] == status and (body is None or got[1] == body)
    return check


def web_labels(router: str, host: str, port: int, service: str = "svc") -> dict[str, str]:
    return {f"traefik.http.routers.{router}.rule": f"Host(`{host}`)",
            f"traefik.http.services.{service}.loadbalancer.server.port": str(port)}


async def test_labelled_container_is_routed_then_follows_recreate_and_stop(clean: Dockerd) -> None:
    port = free_port()
    async with routed(clean) as (app, session):
        assert await fetch(app, session, "one.test") == (404, "404 page not found")
        # 600 KB of labels: its events are longer than a stream reader's line limit (512 KB)
        fillers = {f"filler{i}": "x" * 100_000 for i in range(6)}
        await clean.run("web", port, "a", {**web_labels("web", "one.test", port), **fillers})
        took = await until(answers(app, session, "one.test", 200, "a"))
        print(f"container start -> routed in {took * 1000:.0f} ms")
        assert app.aggregator.status["docker"].restarts == 0  # the event stream coped with it
        # labels change only by recreating the container
        await clean.acli("rm", "-f", "web")
        await clean.run("web", port, "b", web_labels("web", "two.test", port))
        await until(answers(app, session, "two.test", 200, "b"))
        assert (await fetch(app, session, "one.test"))[0] == 404
        await clean.acli("stop", "-t", "0", "web")
        took = await until(answers(app, session, "two.test", 404))
        print(f"container stop -> route removed in {took * 1000:.0f} ms")


async def test_replicas_join_one_service_and_leave_it(clean: Dockerd) -> None:
    p1, p2 = free_port(), free_port()
    compose = {"com.docker.compose.project": "demo", "com.docker.compose.service": "web"}
    async with routed(clean) as (app, session):
        await clean.run("demo-web-1", p1, "a", {**compose, "traefik.http.services.web.loadbalancer.server.port": str(p1)})
        await clean.run("demo-web-2", p2, "b", {**compose, "traefik.http.services.web.loadbalancer.server.port": str(p2)})

        async def both() -> bool:
            bodies = {(await fetch(app, session, "web-demo"))[1] for _ in range(6)}
            return bodies == {"a", "b"}

        await until(both)
        service = app.graph.state.get("http", "service", "web@docker")
        assert sorted(s.url for s in service.config.load_balancer.servers) == sorted(
            [f"http://127.0.0.1:{p1}", f"http://127.0.0.1:{p2}"])
        await clean.acli("rm", "-f", "demo-web-1")

        async def only_b() -> bool:
            return {(await fetch(app, session, "web-demo"))[1] for _ in range(4)} == {"b"}

        await until(only_b)


async def test_health_checks_gate_routing(clean: Dockerd) -> None:
    good, bad = free_port(), free_port()
    health = ("--health-interval", "200ms", "--health-retries", "1", "--health-timeout", "1s")
    async with routed(clean) as (app, session):
        await clean.run("sick", bad, "b", web_labels("sick", "sick.test", bad, "sick"),
                        extra=(*health, "--health-cmd", "false"))
        await clean.run("fine", good, "a", web_labels("fine", "fine.test", good, "fine"),
                        extra=(*health, "--health-cmd", "test -f /tmp/ok"), command="touch /tmp/ok")
        took = await until(answers(app, session, "fine.test", 200, "a"))
        print(f"healthy container routed after {took * 1000:.0f} ms")
        assert clean.cli("inspect", "-f", "{{.State.Health.Status}}", "sick") == "unhealthy"
        assert (await fetch(app, session, "sick.test"))[0] == 404
        # the health check starts failing: the container leaves the routing
        await clean.acli("exec", "fine", "rm", "/tmp/ok")
        await until(answers(app, session, "fine.test", 404))
    # allowEmptyServices: the unhealthy container keeps its router, with a service without servers
    async with routed(clean, allow_empty_services=True) as (app, session):
        await until(answers(app, session, "sick.test", 503))


async def test_tcp_endpoint_with_tls_and_client_certificate(clean: Dockerd) -> None:
    port = free_port()
    files = clean.tls_files
    endpoint = f"tcp://127.0.0.1:{clean.tls_port}"
    good = ClientTLS(ca=str(files["ca"]), cert=files["client"].read_text(), key=str(files["client-key"]))
    await clean.run("tls", port, "c", web_labels("tls", "tls.test", port))
    provider = DockerProvider(endpoint, DockerSettings(host_ip="127.0.0.1"), tls=good, username="u", password="p")
    async with routed(clean, provider) as (app, session):
        await until(answers(app, session, "tls.test", 200, "c"))
        assert app.aggregator.status["docker"].restarts == 0
    # without a client certificate the daemon refuses the connection: nothing is routed
    anonymous = DockerProvider(endpoint, DockerSettings(host_ip="127.0.0.1"), tls=ClientTLS(ca=str(files["ca"])))
    async with routed(clean, anonymous) as (app, session):
        status = app.aggregator.status["docker"]
        await until(lambda: _true(status.restarts >= 1))
        assert (await fetch(app, session, "tls.test"))[0] == 404


async def test_daemon_restart_keeps_last_config_then_resyncs(clean: Dockerd) -> None:
    p1, p2 = free_port(), free_port()
    async with routed(clean) as (app, session):
        await clean.run("before", p1, "a", web_labels("before", "before.test", p1, "before"))
        await until(answers(app, session, "before.test", 200, "a"))
        clean.stop()  # --live-restore: the container keeps serving while the daemon is away
        status = app.aggregator.status["docker"]
        await until(lambda: _true(status.restarts >= 1), timeout=5)
        for _ in range(20):  # the last good configuration keeps serving
            assert await fetch(app, session, "before.test") == (200, "a")
            await asyncio.sleep(0.02)
        clean.start()
        await clean.run("after", p2, "b", web_labels("after", "after.test", p2, "after"))
        took = await until(answers(app, session, "after.test", 200, "b"), timeout=15)
        print(f"daemon back: new container routed after {took * 1000:.0f} ms")
        assert await fetch(app, session, "before.test") == (200, "a")


async def _true(value: bool) -> bool:
    return value

"""Active health checks against real backends that flip, their request details, gRPC mode, and the
registry that keeps server state across graph swaps."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import aiohttp
import h2.config
import h2.connection
import h2.events
import pytest
import trustme

from tests.services.conftest import BackendFactory, FrontFactory
from tests.services.harness import AiohttpForward, answering, get, wait_for
from traefikpy.services import HealthCheckConfig, HealthRegistry, ServerSpec, build_load_balancer
from traefikpy.services.grpc_health import serving_status
from traefikpy.services.healthcheck import probe_url, status_ok

PROBE_URLS = [
    ("absolute path replaces the server path", "http://10.0.0.1:81/app", HealthCheckConfig(path="/health"), "http://10.0.0.1:81/health"),
    ("relative path resolves against a directory", "http://10.0.0.1/app/", HealthCheckConfig(path="health"), "http://10.0.0.1/app/health"),
    ("query kept", "http://h", HealthCheckConfig(path="/health?full=1"), "http://h/health?full=1"),
    ("scheme replaced", "http://h:8080", HealthCheckConfig(path="/hc", scheme="https"), "https://h:8080/hc"),
    ("port replaced", "http://h:8080/x", HealthCheckConfig(path="/hc", port=9000), "http://h:9000/hc"),
    ("port replaced on IPv6", "http://[::1]:8080", HealthCheckConfig(path="/hc", port=9000), "http://[::1]:9000/hc"),
    ("no path: the server URL", "http://h:1/base", HealthCheckConfig(), "http://h:1/base"),
]


@pytest.mark.parametrize(("desc", "server", "config", "expected"), PROBE_URLS, ids=[c[0] for c in PROBE_URLS])
def test_probe_url(desc: str, server: str, config: HealthCheckConfig, expected: str) -> None:
    assert probe_url(server, config) == expected


STATUS = [
    ("2xx healthy by default", 204, 0, True),
    ("3xx healthy by default", 302, 0, True),
    ("4xx unhealthy", 404, 0, False),
    ("1xx unhealthy", 101, 0, False),
    ("5xx unhealthy", 503, 0, False),
    ("expected status must match exactly", 200, 204, False),
    ("expected status met", 418, 418, True),
]


@pytest.mark.parametrize(("desc", "status", "expected", "ok"), STATUS, ids=[c[0] for c in STATUS])
def test_status_ok(desc: str, status: int, expected: int, ok: bool) -> None:
    assert status_ok(status, expected) is ok


CONFIGS = [
    ("Traefik defaults", {"path": "/h"}, HealthCheckConfig(path="/h"), (30.0, 30.0, 5.0)),
    ("all options", {"path": "/h", "scheme": "https", "mode": "GRPC", "hostname": "x.test", "port": 81, "interval": "10s",
                     "unhealthyInterval": "1m", "timeout": "3s", "headers": {"b": "2", "a": "1"}, "method": "head",
                     "status": 204, "followRedirects": False},
     HealthCheckConfig("/h", "https", "grpc", "x.test", 81, 10.0, 60.0, 3.0, (("a", "1"), ("b", "2")), "HEAD", 204, False),
     (10.0, 60.0, 3.0)),
    ("unhealthyInterval defaults to interval", {"interval": "2s"}, HealthCheckConfig(interval=2.0), (2.0, 2.0, 5.0)),
    ("non-positive values fall back to defaults", {"interval": "0s", "unhealthyInterval": "-1s", "timeout": 0},
     HealthCheckConfig(interval=0.0, unhealthy_interval=-1.0, timeout=0.0), (30.0, 30.0, 5.0)),
]


@pytest.mark.parametrize(("desc", "data", "expected", "timings"), CONFIGS, ids=[c[0] for c in CONFIGS])
def test_config_from_mapping(desc: str, data: dict[str, object], expected: HealthCheckConfig, timings: tuple[float, float, float]) -> None:
    config = HealthCheckConfig.from_mapping(data)
    assert config == expected
    assert (config.healthy_every, config.unhealthy_every, config.timeout_seconds) == timings


async def test_servers_flip_with_their_health(backend: BackendFactory, front: FrontFactory, forward: AiohttpForward, session: aiohttp.ClientSession, registry: HealthRegistry) -> None:
    a, b = await backend("a"), await backend("b")
    events: list[tuple[str, bool]] = []
    lb = build_load_balancer("app", [ServerSpec(a.url), ServerSpec(b.url)], forward, registry=registry,
                             health_check=HealthCheckConfig(path="/health", interval=0.1, timeout=1.0),
                             on_status=lambda url, up: events.append((url, up)))
    site = await front(lb)
    a.health_status = 503
    await wait_for(lambda: (a.url, False) in events)
    assert {(await get(session, site.url))[1] for _ in range(4)} == {"b"}
    b.health_status = 500
    await wait_for(lambda: not lb.up)
    assert (await get(session, site.url))[0] == 503
    a.health_status = 200
    await wait_for(lambda: lb.up)
    assert (await get(session, site.url))[1] == "a"
    assert events[:3] == [(a.url, False), (b.url, False), (a.url, True)]


async def test_probe_request_details(backend: BackendFactory, registry: HealthRegistry) -> None:
    app, health = await backend("app"), await backend("health")
    config = HealthCheckConfig(path="/health?deep=1", port=health.port, hostname="status.test", method="HEAD",
                               headers=(("X-Probe", "yes"),), interval=0.05)
    build_load_balancer("app", [ServerSpec(app.url)], answering("x"), registry=registry, health_check=config)
    await wait_for(lambda: bool(health.health_seen))
    seen = health.health_seen[0]
    assert (seen.method, seen.path) == ("HEAD", "/health?deep=1")
    assert seen.headers["Host"] == "status.test"
    assert seen.headers["X-Probe"] == "yes"
    assert not app.health_seen


VERDICTS = [
    # (desc, backend knobs, config overrides, expected up)
    ("redirect followed to an unhealthy target", {"health_status": 503}, {"path": "/redirect"}, False),
    ("redirect not followed counts as 3xx", {"health_status": 503}, {"path": "/redirect", "follow_redirects": False}, True),
    ("slower than the timeout", {"health_delay": 0.5}, {"timeout": 0.1}, False),
    ("status must equal the expected one", {}, {"status": 204}, False),
    ("expected status met", {"health_status": 204}, {"status": 204}, True),
]


@pytest.mark.parametrize(("desc", "knobs", "overrides", "up"), VERDICTS, ids=[c[0] for c in VERDICTS])
async def test_probe_verdicts(desc: str, knobs: dict[str, object], overrides: dict[str, object], up: bool, backend: BackendFactory, registry: HealthRegistry) -> None:
    server = await backend("s", **knobs)
    fields: dict[str, object] = {"path": "/health", "interval": 0.05, **overrides}
    config = HealthCheckConfig(**fields)  # type: ignore[arg-type]
    lb = build_load_balancer("app", [ServerSpec(server.url)], answering("x"), registry=registry, health_check=config)
    checker = registry.checker("app", config)
    assert checker is not None
    await wait_for(lambda: checker.probes >= 2, timeout=3)
    assert lb.servers[0].up is up


async def test_unhealthy_interval_checks_down_servers_more_often(backend: BackendFactory, registry: HealthRegistry) -> None:
    server = await backend("s")
    config = HealthCheckConfig(path="/health", interval=60.0, unhealthy_interval=0.05)
    lb = build_load_balancer("app", [ServerSpec(server.url)], answering("x"), registry=registry, health_check=config)
    lb.servers[0].set_up(False)
    await wait_for(lambda: lb.servers[0].up, timeout=2)
    probes = len(server.health_seen)
    await asyncio.sleep(0.2)
    assert len(server.health_seen) == probes  # up again: only the 60s loop would probe it


async def test_https_probe_uses_the_transport_tls_settings(backend: BackendFactory, registry: HealthRegistry) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    secure = await backend("secure", ssl_context=server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    check = HealthCheckConfig(path="/health", interval=0.05)
    trusted = build_load_balancer("trusted", [ServerSpec(secure.url)], answering("x"), registry=registry, health_check=check, ssl=client_context)
    untrusted = build_load_balancer("untrusted", [ServerSpec(secure.url)], answering("x"), registry=registry, health_check=check)
    await wait_for(lambda: not untrusted.up)  # unknown CA: the probe fails
    assert trusted.up
    assert len(secure.health_seen) >= 1


async def test_unreachable_server_goes_down(registry: HealthRegistry, unused_port: int) -> None:
    lb = build_load_balancer("app", [ServerSpec(f"http://127.0.0.1:{unused_port}")], answering("x"), registry=registry,
                             health_check=HealthCheckConfig(path="/health", interval=0.05))
    await wait_for(lambda: not lb.up)


async def test_registry_keeps_state_across_graph_swaps(backend: BackendFactory, registry: HealthRegistry) -> None:
    a, b = await backend("a"), await backend("b")
    config = HealthCheckConfig(path="/health", interval=0.05)
    first = build_load_balancer("app", [ServerSpec(a.url), ServerSpec(b.url)], answering("1"), registry=registry, health_check=config)
    a.health_status = 503
    await wait_for(lambda: not next(s for s in first.servers if s.url == a.url).up)
    checker = registry.checker("app", config)
    # Reload with an extra server: a stays down, c starts up, the checker is the same.
    c = await backend("c")
    second = build_load_balancer("app", [ServerSpec(a.url), ServerSpec(b.url), ServerSpec(c.url)], answering("2"), registry=registry, health_check=config)
    assert registry.reconcile() == []
    assert registry.checker("app", config) is checker and checker is not None and checker.running
    assert second.server_status() == {a.url: False, b.url: True, c.url: True}
    assert sorted(s.url for s in second.pickable) == sorted([b.url, c.url])
    # A changed health check starts fresh; the old entry is dropped and its checker stopped.
    changed = HealthCheckConfig(path="/health", interval=0.06)
    third = build_load_balancer("app", [ServerSpec(a.url)], answering("3"), registry=registry, health_check=changed)
    assert third.servers[0].up
    assert registry.reconcile() == [("app", config)]
    assert not checker.running
    assert len(registry) == 1


async def test_reconcile_with_explicit_keys_and_no_health_check() -> None:
    registry = HealthRegistry()
    lb = build_load_balancer("plain", [ServerSpec("http://a")], answering("x"), registry=registry)
    lb.servers[0].inflight = 3
    again = build_load_balancer("plain", [ServerSpec("http://a")], answering("x"), registry=registry)
    assert again.servers[0] is lb.servers[0]  # in-flight counts and passive windows survive
    assert again.health_key == ("plain", None)
    assert registry.reconcile([again.health_key]) == []
    assert registry.reconcile([]) == [("plain", None)]
    await registry.close()


class GrpcHealthServer:
    """A minimal gRPC health server (h2, cleartext) answering a configurable serving status."""

    def __init__(self) -> None:
        self.status = 1
        self.paths: list[str] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        while data := await reader.read(65536):
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = {str(k): str(v) for k, v in event.headers}  # header_encoding: str
                    self.paths.append(headers[":path"])
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    message = bytes([0x08, self.status])
                    conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "application/grpc")])
                    conn.send_data(event.stream_id, b"\x00" + len(message).to_bytes(4, "big") + message)
                    conn.send_headers(event.stream_id, [("grpc-status", "0")], end_stream=True)
            writer.write(conn.data_to_send())
            await writer.drain()
        writer.close()


@pytest.fixture
async def grpc_server() -> AsyncIterator[GrpcHealthServer]:
    health = GrpcHealthServer()
    health.server = await asyncio.start_server(health._connection, "127.0.0.1", 0)
    yield health
    health.server.close()
    await health.server.wait_closed()


async def test_grpc_mode(grpc_server: GrpcHealthServer, registry: HealthRegistry) -> None:
    config = HealthCheckConfig(mode="grpc", interval=0.05, timeout=1.0)
    lb = build_load_balancer("grpc", [ServerSpec(grpc_server.url)], answering("x"), registry=registry, health_check=config)
    grpc_server.status = 2  # NOT_SERVING
    await wait_for(lambda: not lb.up)
    grpc_server.status = 1  # SERVING
    await wait_for(lambda: lb.up)
    assert set(grpc_server.paths) == {"/grpc.health.v1.Health/Check"}


SERVING = [
    ("SERVING", b"\x00\x00\x00\x00\x02\x08\x01", 1),
    ("NOT_SERVING", b"\x00\x00\x00\x00\x02\x08\x02", 2),
    ("empty message is UNKNOWN", b"\x00\x00\x00\x00\x00", 0),
    ("unknown fields skipped", b"\x00\x00\x00\x00\x06\x12\x02hi\x08\x01", 1),
]


@pytest.mark.parametrize(("desc", "frame", "status"), SERVING, ids=[c[0] for c in SERVING])
def test_serving_status(desc: str, frame: bytes, status: int) -> None:
    assert serving_status(frame) == status


@pytest.mark.parametrize("frame", [b"", b"\x01\x00\x00\x00\x00", b"\x00\x00\x00\x00\x05\x08"], ids=["empty", "compressed", "truncated"])
def test_serving_status_rejects_bad_frames(frame: bytes) -> None:
    with pytest.raises(ValueError):
        serving_status(frame)


def test_checkers_acquired_before_the_loop_start_later() -> None:
    registry = HealthRegistry()
    config = HealthCheckConfig(path="/health", interval=60)
    build_load_balancer("early", [ServerSpec("http://127.0.0.1:9")], answering("x"), registry=registry, health_check=config)
    checker = registry.checker("early", config)
    assert checker is not None and not checker.running

    async def later() -> bool:
        registry.start()
        running = checker.running
        await registry.close()
        return running

    assert asyncio.run(later())
    assert not checker.running

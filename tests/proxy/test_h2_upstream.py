"""HTTP/2 to upstream servers: HTTP/1.1 clients → traefikpy → h2c:// and https (ALPN h2) servers.

The upstream is a real HTTP/2 server written here with the ``h2`` library (``H2Backend``): it
counts its connections and streams, honours flow control both ways, and has routes for echo,
streaming with trailers, slow answers, big bodies, refused streams and GOAWAY.  On TLS it offers
``h2`` and ``http/1.1`` in ALPN and answers HTTP/1.1 requests too (``x-proto: http/1.1``), so the
protocol traefikpy picked is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hyperframe.frame
import pytest
import trustme

from tests.harness import lb, running_app
from tests.proxy.client import RawClient, chunked
from traefikpy.proxy.h2client import h2_upstreams


class _Stream:
    def __init__(self, sid: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.id = sid
        self.headers = headers
        self.body = asyncio.Queue[bytes | None]()
        self.trailers: list[tuple[bytes, bytes]] = []
        self.window = asyncio.Event()

    def header(self, name: bytes) -> bytes:
        return next((v for k, v in self.headers if k == name), b"")


class _H2ServerConn(asyncio.Protocol):
    def __init__(self, backend: H2Backend) -> None:
        self.backend = backend
        self.h2 = h2.connection.H2Connection(
            config=h2.config.H2Configuration(
                client_side=False, header_encoding=None, validate_outbound_headers=False
            )
        )
        self.streams: dict[int, _Stream] = {}
        self.transport: asyncio.Transport | None = None
        self.h1 = False
        self.buf = b""
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.backend.connections += 1
        self.backend.open.add(self)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None and ssl_object.selected_alpn_protocol() != "h2":
            self.h1 = True
            self.backend.h1_connections += 1
            return
        self.h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.backend.max_streams},
        )
        self.h2.initiate_connection()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.backend.open.discard(self)
        self.backend.closed += 1
        for task in self.tasks:
            task.cancel()
        for stream in self.streams.values():
            stream.window.set()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.h1:
            self._h1(data)
            return
        if self.backend.frozen:
            return  # a hung server: reads, never answers (not even PINGs)
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            assert self.transport is not None
            self.transport.close()
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                stream = self.streams[ev.stream_id] = _Stream(ev.stream_id, list(ev.headers))
                self.backend.requests.append(stream)
                task = asyncio.ensure_future(self._serve(stream))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(ev, h2.events.DataReceived):
                s = self.streams.get(ev.stream_id)
                if s is not None:
                    s.body.put_nowait(ev.data)
                self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                s = self.streams.get(ev.stream_id)
                if s is not None:
                    s.trailers = list(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                s = self.streams.get(ev.stream_id)
                if s is not None:
                    s.body.put_nowait(None)
            elif isinstance(ev, h2.events.StreamReset):
                self.backend.resets += 1
                s = self.streams.pop(ev.stream_id, None)
                if s is not None:
                    s.body.put_nowait(None)
                    s.window.set()
            elif isinstance(ev, h2.events.PingReceived):
                self.backend.pings += 1
            elif isinstance(ev, h2.events.WindowUpdated):
                for s in self.streams.values():
                    s.window.set()
        self.flush()

    def _h1(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, _, self.buf = self.buf.partition(b"\r\n\r\n")
            body = b"h1 " + head.split(b"\r\n")[0]
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nx-proto: http/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )

    async def read_body(self, stream: _Stream) -> bytes:
        parts = []
        while (chunk := await stream.body.get()) is not None:
            parts.append(chunk)
        return b"".join(parts)

    def respond_head(self, stream: _Stream, status: int, headers: list[tuple[bytes, bytes]], end: bool = False) -> None:
        self.h2.send_headers(stream.id, [(b":status", b"%d" % status), *headers], end_stream=end)
        self.flush()

    async def send(self, stream: _Stream, data: bytes, end: bool = False) -> None:
        view = memoryview(data)
        while view:
            window = self.h2.local_flow_control_window(stream.id)
            if window <= 0:
                stream.window.clear()
                await stream.window.wait()
                if stream.id not in self.streams:
                    raise ConnectionResetError("stream gone")
                continue
            n = min(window, self.h2.max_outbound_frame_size, len(view))
            self.h2.send_data(stream.id, bytes(view[:n]))
            view = view[n:]
            self.flush()
            await asyncio.sleep(0)
        if end:
            self.h2.end_stream(stream.id)
            self.flush()

    def end(self, stream: _Stream, trailers: list[tuple[bytes, bytes]] | None = None) -> None:
        if trailers:
            self.h2.send_headers(stream.id, trailers, end_stream=True)
        else:
            self.h2.end_stream(stream.id)
        self.streams.pop(stream.id, None)
        self.flush()

    async def _serve(self, s: _Stream) -> None:
        with contextlib.suppress(ConnectionResetError, h2.exceptions.StreamClosedError, KeyError):
            await self._route(s)

    async def _route(self, s: _Stream) -> None:
        target = urlsplit(s.header(b":path").decode())
        q = {k: v[0] for k, v in parse_qs(target.query).items()}
        path = target.path
        b = self.backend
        if path == "/refuse-once" and not b.refused:
            b.refused = True
            self.h2.reset_stream(s.id, h2.errors.ErrorCodes.REFUSED_STREAM)
            self.streams.pop(s.id, None)
            self.flush()
            return
        if path == "/freeze":
            b.frozen = True
            return
        if path == "/bad-header":  # a field name HTTP/2 forbids (upper case, space)
            self.respond_head(s, 200, [(b"Bad Name", b"x"), (b"content-length", b"0")], end=True)
            self.streams.pop(s.id, None)
            return
        if path == "/down":
            self.respond_head(s, 503, [(b"content-length", b"0")], end=True)
            self.streams.pop(s.id, None)
            return
        if path == "/early":  # answers before the upload is over, never reads it
            self.respond_head(s, 413, [(b"content-length", b"8")])
            await self.send(s, b"too big\n")
            self.end(s)
            return
        if path == "/reset-mid":
            self.respond_head(s, 200, [(b"content-type", b"text/plain")])
            await self.send(s, b"partial")
            await asyncio.sleep(0.05)
            self.h2.reset_stream(s.id, h2.errors.ErrorCodes.INTERNAL_ERROR)
            self.streams.pop(s.id, None)
            self.flush()
            return
        if path == "/slow":
            await asyncio.sleep(float(q.get("delay", "2")))
        if path == "/hold":
            b.active += 1
            b.max_active = max(b.max_active, b.active)
            await asyncio.sleep(float(q.get("delay", "0.3")))
            b.active -= 1
        body = await self.read_body(s)
        if path == "/stream":
            self.respond_head(s, 200, [(b"content-type", b"text/plain")])
            for i in range(int(q.get("n", "5"))):
                await self.send(s, b"chunk-%d\n" % i)
                await asyncio.sleep(float(q.get("delay", "0.1")))
            self.end(s, [(b"x-trailer", b"done"), (b"x-count", q.get("n", "5").encode())])
            return
        if path == "/big":
            size = int(q["size"])
            data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
            self.respond_head(s, 200, [(b"content-length", b"%d" % size)])
            await self.send(s, data)
            self.end(s)
            return
        if path == "/goaway":
            self.respond_head(s, 200, [(b"content-length", b"6")])
            await self.send(s, b"goaway")
            self.end(s)
            # A graceful GOAWAY (h2's close_connection would refuse to finish the other streams).
            frame = hyperframe.frame.GoAwayFrame(0)
            frame.last_stream_id = self.h2.highest_inbound_stream_id
            assert self.transport is not None
            self.transport.write(frame.serialize())
            return
        info = {
            "method": s.header(b":method").decode(),
            "path": s.header(b":path").decode(),
            "authority": s.header(b":authority").decode(),
            "scheme": s.header(b":scheme").decode(),
            "headers": [[k.decode(), v.decode()] for k, v in s.headers if not k.startswith(b":")],
            "length": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "trailers": [[k.decode(), v.decode()] for k, v in s.trailers],
        }
        data = json.dumps(info).encode()
        if info["method"] == "HEAD":
            self.respond_head(s, 200, [(b"content-length", b"%d" % len(data))], end=True)
            self.streams.pop(s.id, None)
            return
        self.respond_head(s, 200, [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data)),
                                   (b"x-proto", b"h2")])
        await self.send(s, data)
        self.end(s)


class H2Backend:
    """A real HTTP/2 server on a free loopback port (h2c, or TLS with ALPN h2 + http/1.1)."""

    def __init__(self, max_streams: int = 100) -> None:
        self.max_streams = max_streams
        self.connections = 0
        self.h1_connections = 0
        self.closed = 0
        self.resets = 0
        self.open: set[_H2ServerConn] = set()
        self.requests: list[_Stream] = []
        self.refused = False
        self.frozen = False
        self.pings = 0
        self.active = 0
        self.max_active = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, ssl_ctx: ssl.SSLContext | None = None) -> H2Backend:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _H2ServerConn(self), "127.0.0.1", 0, ssl=ssl_ctx)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.abort()
        await self.server.wait_closed()


@pytest.fixture
async def h2c() -> AsyncIterator[H2Backend]:
    backend = await H2Backend().start()
    yield backend
    await backend.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_ctx(ca: trustme.CA, alpn: list[str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "backend.internal").configure_cert(ctx)
    ctx.set_alpn_protocols(alpn)
    return ctx


@pytest.fixture
async def h2tls(ca: trustme.CA) -> AsyncIterator[H2Backend]:
    backend = await H2Backend().start(_server_ctx(ca, ["h2", "http/1.1"]))
    yield backend
    await backend.stop()


def _config(url: str, transport: dict[str, Any] | None = None) -> dict[str, Any]:
    service = lb(url)
    http: dict[str, Any] = {
        "routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}},
        "services": {"s": service},
    }
    if transport is not None:
        http["serversTransports"] = {"t": transport}
        service["loadBalancer"]["serversTransport"] = "t"
    return {"http": http}


async def test_h2c_echo_translates_the_request(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        resp = await rt.get("/a/b?x=1;y=2", host="app.test",
                            headers={"X-Custom": "v", "Connection": "X-Drop", "X-Drop": "gone",
                                     "X-Forwarded-For": "10.9.9.9"})
        assert resp.status == 200
        assert resp.headers["x-proto"] == "h2"
        info = await resp.json()
    assert info["method"] == "GET"
    assert info["path"] == "/a/b?x=1&y=2"
    assert info["authority"] == "app.test"
    assert info["scheme"] == "http"
    names = dict(info["headers"])
    assert names["x-custom"] == "v"
    assert "x-drop" not in names and "connection" not in names and "host" not in names
    assert names["x-forwarded-for"] == "127.0.0.1"  # the untrusted client value was dropped
    assert h2c.connections == 1


async def test_pass_host_header_false_sends_server_authority(h2c: H2Backend) -> None:
    config = _config(f"h2c://127.0.0.1:{h2c.port}")
    config["http"]["services"]["s"]["loadBalancer"]["passHostHeader"] = False
    async with running_app(config) as rt:
        info = await (await rt.get("/", host="app.test")).json()
    assert info["authority"] == f"127.0.0.1:{h2c.port}"


async def test_request_bodies_upload_with_flow_control(h2c: H2Backend) -> None:
    payload = bytes(range(256)) * (3 * 4096)  # 3 MiB: several upstream stream windows
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        resp = await rt.request("POST", "/upload", data=payload, headers={"Content-Type": "application/x-test"})
        info = await resp.json()
        assert info["length"] == len(payload)
        assert info["sha256"] == hashlib.sha256(payload).hexdigest()
        assert dict(info["headers"])["content-length"] == str(len(payload))
        # A chunked upload with trailers: the trailers reach the server as HTTP/2 trailers.
        client = await RawClient.connect(rt.app.port("web"))
        resp2 = await client.request(
            "POST", "/chunked", headers=[("Transfer-Encoding", "chunked")],
            body=chunked(b"hello ", b"world", trailers=[("X-Sum", "abc")]),
        )
        await client.close()
    info2 = json.loads(resp2.body)
    assert info2["length"] == 11
    assert info2["sha256"] == hashlib.sha256(b"hello world").hexdigest()
    assert info2["trailers"] == [["x-sum", "abc"]]


async def test_big_response_streams_with_acknowledged_windows(h2c: H2Backend) -> None:
    size = 20 * 1024 * 1024  # 20 stream windows: needs acknowledgements as the client reads
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        resp = await rt.get(f"/big?size={size}")
        body = await resp.read()
    assert resp.status == 200
    assert len(body) == size
    assert body[:32] == b"0123456789abcdef" * 2


async def test_response_streams_and_trailers_reach_http11_client(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        # Streaming: the first chunk arrives long before the last one is produced.
        resp = await rt.session.get(rt.url("/stream?n=5&delay=0.2"))
        started = time.monotonic()
        first = await resp.content.readany()
        first_at = time.monotonic() - started
        rest = await resp.read()
        total = time.monotonic() - started
        assert first.startswith(b"chunk-0")
        assert (first + rest).count(b"chunk-") == 5
        assert first_at < 0.5 < total
        # Trailers: in the chunked encoding's trailer section.
        client = await RawClient.connect(rt.app.port("web"))
        raw = await client.request("GET", "/stream?n=2&delay=0.01", headers=[("TE", "trailers")])
        await client.close()
    assert raw.header("transfer-encoding") == "chunked"
    assert raw.body == b"chunk-0\nchunk-1\n"
    assert (b"x-trailer", b"done") in raw.trailers
    assert (b"x-count", b"2") in raw.trailers


async def test_concurrent_requests_share_one_connection(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        results = await asyncio.gather(*(rt.get(f"/hold?delay=0.3&i={i}") for i in range(50)))
        assert all(r.status == 200 for r in results)
        for i in range(20):
            assert (await rt.get(f"/again/{i}")).status == 200
        stats = h2_upstreams(rt.app.upstreams).stats()
    assert stats == {"opened": 1, "connections": 1, "streams": 0}  # every stream was released
    assert h2c.connections == 1
    assert h2c.max_active == 50  # all 50 were in flight at once, multiplexed


async def test_max_concurrent_streams_opens_more_connections() -> None:
    backend = await H2Backend(max_streams=10).start()
    try:
        async with running_app(_config(f"h2c://127.0.0.1:{backend.port}")) as rt:
            results = await asyncio.gather(*(rt.get(f"/hold?delay=0.3&i={i}") for i in range(60)))
        assert [r.status for r in results] == [200] * 60
        assert backend.connections == 6
        assert backend.max_active == 60
    finally:
        await backend.stop()


async def test_upstream_down_is_502() -> None:
    backend = await H2Backend().start()
    port = backend.port
    await backend.stop()
    async with running_app(_config(f"h2c://127.0.0.1:{port}")) as rt:
        resp = await rt.get("/")
        assert resp.status == 502
        assert await resp.read() == b"Bad Gateway"


async def test_response_header_timeout_is_504(h2c: H2Backend) -> None:
    transport = {"forwardingTimeouts": {"responseHeaderTimeout": "300ms"}}
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}", transport)) as rt:
        started = time.monotonic()
        resp = await rt.get("/slow?delay=3")
        assert resp.status == 504
        assert time.monotonic() - started < 2
        # The timed-out stream was reset, the connection is still usable.
        assert (await rt.get("/fine")).status == 200
    assert h2c.connections == 1
    assert h2c.resets >= 1


async def test_refused_stream_is_retried_once(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        resp = await rt.request("POST", "/refuse-once", data=b"body-kept")
        assert resp.status == 200
        info = await resp.json()
    assert info["length"] == 9
    assert h2c.refused
    assert [s.header(b":path") for s in h2c.requests] == [b"/refuse-once", b"/refuse-once"]


async def test_goaway_lets_in_flight_finish_and_new_streams_use_a_new_connection(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        hold = asyncio.ensure_future(rt.get("/hold?delay=0.5"))
        await asyncio.sleep(0.1)
        assert (await rt.get("/goaway")).status == 200
        after = await rt.get("/after")
        assert after.status == 200
        assert (await hold).status == 200
    assert h2c.connections == 2


async def test_idle_connections_expire(h2c: H2Backend) -> None:
    transport = {"forwardingTimeouts": {"idleConnTimeout": "200ms"}}
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}", transport)) as rt:
        assert (await rt.get("/one")).status == 200
        await asyncio.sleep(0.6)
        assert h2c.closed == 1  # traefikpy closed its idle connection
        assert (await rt.get("/two")).status == 200
    assert h2c.connections == 2


async def test_https_server_with_h2_alpn(h2tls: H2Backend, ca_file: str) -> None:
    config = _config(f"https://127.0.0.1:{h2tls.port}", {"rootCAs": [ca_file]})
    async with running_app(config) as rt:
        results = await asyncio.gather(*(rt.get(f"/x/{i}") for i in range(10)))
        assert [r.status for r in results] == [200] * 10
        assert all(r.headers["x-proto"] == "h2" for r in results)
        info = await results[0].json()
    assert info["scheme"] == "https"
    assert h2tls.connections == 1 and h2tls.h1_connections == 0


async def test_https_disable_http2_uses_http11(h2tls: H2Backend, ca_file: str) -> None:
    config = _config(f"https://127.0.0.1:{h2tls.port}", {"rootCAs": [ca_file], "disableHTTP2": True})
    async with running_app(config) as rt:
        resp = await rt.get("/x")
        assert resp.status == 200
        assert resp.headers["x-proto"] == "http/1.1"
    assert h2tls.h1_connections == h2tls.connections == 1


async def test_https_server_without_h2_falls_back_to_http11(ca: trustme.CA, ca_file: str) -> None:
    backend = await H2Backend().start(_server_ctx(ca, ["http/1.1"]))
    try:
        config = _config(f"https://127.0.0.1:{backend.port}", {"rootCAs": [ca_file]})
        async with running_app(config) as rt:
            for _ in range(3):
                resp = await rt.get("/x")
                assert resp.status == 200
                assert resp.headers["x-proto"] == "http/1.1"
        # One TLS probe learned that the server does not speak h2, then the HTTP/1.1 pool.
        assert backend.h1_connections == backend.connections == 2
    finally:
        await backend.stop()


async def test_https_bad_certificate_is_502(h2tls: H2Backend) -> None:
    config = _config(f"https://127.0.0.1:{h2tls.port}")  # the system store does not trust the test CA
    async with running_app(config) as rt:
        assert (await rt.get("/x")).status == 502


async def test_client_going_away_resets_the_upstream_stream(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        client = await RawClient.connect(rt.app.port("web"))
        await client.send(b"GET /stream?n=50&delay=0.05 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        await client.reader.readuntil(b"chunk-1")
        await client.close()
        for _ in range(100):
            if h2c.resets:
                break
            await asyncio.sleep(0.02)
        assert h2c.resets == 1  # the upstream stream was cancelled, not left running
        assert (await rt.get("/after")).status == 200
    assert h2c.connections == 1


async def test_head_request_and_empty_answers(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        client = await RawClient.connect(rt.app.port("web"))
        head = await client.request("HEAD", "/x")
        get = await client.request("GET", "/x")
        await client.close()
    assert head.status == 200 and head.body == b""
    assert get.status == 200 and json.loads(get.body)["method"] == "GET"
    assert [s.header(b":method") for s in h2c.requests] == [b"HEAD", b"GET"]


async def test_transport_change_moves_to_new_connections(h2c: H2Backend) -> None:
    url = f"h2c://127.0.0.1:{h2c.port}"
    async with running_app(_config(url, {"forwardingTimeouts": {"idleConnTimeout": "30s"}})) as rt:
        assert (await rt.get("/one")).status == 200
        await rt.update(_config(url, {"forwardingTimeouts": {"idleConnTimeout": "31s"}}))
        assert (await rt.get("/two")).status == 200
        for _ in range(50):
            if h2c.closed:
                break
            await asyncio.sleep(0.02)
        assert h2c.closed == 1  # the retired pool's idle connection was closed
    assert h2c.connections == 2


async def test_read_idle_timeout_pings_and_a_hung_server_is_dropped(h2c: H2Backend) -> None:
    transport = {"forwardingTimeouts": {"readIdleTimeout": "150ms", "pingTimeout": "200ms"}}
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}", transport)) as rt:
        assert (await rt.get("/one")).status == 200
        await asyncio.sleep(0.5)
        assert h2c.pings >= 2  # quiet connection: PINGed, answered, kept
        assert (await rt.get("/two")).status == 200
        assert h2c.connections == 1
        started = time.monotonic()
        resp = await rt.get("/freeze")  # the server stops answering anything
        assert resp.status == 502
        assert time.monotonic() - started < 2
        await asyncio.sleep(0.05)
        assert h2c.closed == 1  # the unanswered PING closed the connection


async def test_upstream_reset_after_the_head_aborts_the_client(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        client = await RawClient.connect(rt.app.port("web"))
        await client.send(b"GET /reset-mid HTTP/1.1\r\nHost: a.test\r\n\r\n")
        head = await client.reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower()
        rest = b""
        assert await asyncio.wait_for(_read_to_eof(client, rest), 3) is True
        await client.close()
        assert (await rt.get("/after")).status == 200  # the upstream connection is still fine
    assert h2c.connections == 1


async def _read_to_eof(client: RawClient, data: bytes) -> bool:
    """Read until the proxy closes; True when the body never got its terminating chunk."""
    try:
        while chunk := await client.reader.read(65536):
            data += chunk
    except ConnectionError:
        pass
    return b"partial" in data and not data.endswith(b"0\r\n\r\n")


async def test_early_answer_during_an_upload(h2c: H2Backend) -> None:
    payload = b"x" * (4 * 1024 * 1024)
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        resp = await rt.request("POST", "/early", data=payload)
        assert resp.status == 413
        assert await resp.read() == b"too big\n"
        assert (await rt.get("/after")).status == 200
    assert h2c.connections == 1


async def test_malformed_response_header_is_502(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        assert (await rt.get("/bad-header")).status == 502
        assert (await rt.get("/fine")).status == 200


async def test_a_slow_reader_does_not_hold_back_other_streams(h2c: H2Backend) -> None:
    async with running_app(_config(f"h2c://127.0.0.1:{h2c.port}")) as rt:
        stalled = []
        for _ in range(4):  # clients that ask for 16 MiB and then stop reading
            client = await RawClient.connect(rt.app.port("web"))
            await client.send(b"GET /big?size=16777216 HTTP/1.1\r\nHost: a.test\r\n\r\n")
            await client.reader.readuntil(b"\r\n\r\n")
            stalled.append(client)
        await asyncio.sleep(0.2)
        async with asyncio.timeout(5):
            resp = await rt.get("/big?size=3000000")
            assert resp.status == 200 and len(await resp.read()) == 3000000
            assert (await rt.get("/fine")).status == 200
        for client in stalled:
            await client.close()
    assert h2c.connections == 1  # all of it on one upstream connection


async def test_http_health_check_of_an_h2c_server_speaks_h2c(h2c: H2Backend) -> None:
    def config(path: str) -> dict[str, Any]:
        cfg = _config(f"h2c://127.0.0.1:{h2c.port}")
        cfg["http"]["services"]["s"]["loadBalancer"]["healthCheck"] = {"path": path, "interval": "100ms"}
        return cfg

    async with running_app(config("/health")) as rt:
        await asyncio.sleep(0.4)
        assert (await rt.get("/x")).status == 200  # probes answered over h2c: still up
        assert any(r.header(b":path") == b"/health" for r in h2c.requests)
        await rt.update(config("/down"))
        await asyncio.sleep(0.4)
        assert (await rt.get("/x")).status == 503  # the server answered 503 to its probe

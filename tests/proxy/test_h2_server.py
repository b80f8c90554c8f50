"""The HTTP/2 downstream server with real clients: httpx (h2 over TLS ALPN, h2c prior knowledge),
the ``h2`` library driven by hand for what httpx does not expose (trailers, refused streams,
GOAWAY), raw bytes for malformed frames, and ``h2load``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import h2.config
import h2.connection
import h2.events
import httpx
import pytest
import trustme

from tests.harness import lb, running_app
from tests.proxy.backends import Backend
from tests.proxy.conftest import StartProxy
from tests.tls.conftest import pem_pair
from traefikpy.proxy.proxyproto import build_v1

MB5 = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_config(backend: Backend, ca: trustme.CA) -> dict[str, Any]:
    return {
        "http": {
            "routers": {"secure": {"rule": "PathPrefix(`/`)", "service": "echo", "tls": {}},
                        "plain": {"rule": "PathPrefix(`/`)", "service": "echo"}},
            "services": {"echo": lb(backend.url)},
        },
        "tls": {"certificates": [pem_pair(ca, "a.test")]},
    }


def verify_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


class RawH2:
    """An HTTP/2 client on the ``h2`` library, for what httpx does not expose."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.events: list[h2.events.Event] = []
        self.closed = False

    @classmethod
    async def open(cls, port: int, sni: str | None = None) -> RawH2:
        """h2c, or h2 over TLS (ALPN) with ``sni``."""
        if sni is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2", "http/1.1"])
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=sni)
            alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
            if alpn != "h2":
                writer.close()
                raise ConnectionError(f"ALPN chose {alpn!r}")
        self = cls(reader, writer)
        self.conn.initiate_connection()
        self.flush()
        return self

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)

    def request(self, path: str, method: str = "GET", extra: list[tuple[bytes, bytes]] | None = None,
                end: bool = True, authority: str = "h2.test", scheme: str = "http") -> int:
        sid: int = self.conn.get_next_available_stream_id()
        headers = [(b":method", method.encode()), (b":path", path.encode()), (b":scheme", scheme.encode()),
                   (b":authority", authority.encode()), *(extra or [])]
        self.conn.send_headers(sid, headers, end_stream=end)
        self.flush()
        return sid

    async def pump(self, until: Any, timeout: float = 5.0) -> None:
        """Read frames until ``until(self)`` is true."""
        async with asyncio.timeout(timeout):
            while not until(self):
                data = await self.reader.read(65536)
                if not data:
                    self.closed = True
                    if until(self):
                        return
                    raise ConnectionError("server closed the connection")
                for event in self.conn.receive_data(data):
                    self.events.append(event)
                    if isinstance(event, h2.events.DataReceived) and event.stream_id:
                        self.conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
                self.flush()

    def ended(self, sid: int) -> bool:
        return any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == sid
                   for e in self.events)

    def of(self, sid: int, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and getattr(e, "stream_id", None) == sid]

    def status(self, sid: int) -> int:
        head = self.of(sid, h2.events.ResponseReceived)[0]
        return int(dict(head.headers)[b":status"])

    def body(self, sid: int) -> bytes:
        return b"".join(e.data for e in self.of(sid, h2.events.DataReceived))

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


@pytest.fixture
async def raw_clients() -> AsyncIterator[list[RawH2]]:
    clients: list[RawH2] = []
    yield clients
    for client in clients:
        await client.close()


# -- TLS + ALPN ----------------------------------------------------------------------------------

async def test_h2_over_tls_alpn_and_http11_still_served(backend: Backend, ca: trustme.CA) -> None:
    async with running_app(tls_config(backend, ca)) as rt:
        transport = httpx.AsyncHTTPTransport(http2=True, verify=verify_ctx(ca))
        async with httpx.AsyncClient(transport=transport) as client:
            # 127.0.0.1 in the URL, a.test as SNI (the certificate is verified for it) and Host
            url = f"https://127.0.0.1:{rt.app.port('web')}/echo?q=1"
            ext = {"sni_hostname": "a.test"}
            answer = await client.get(url, headers={"host": "a.test"}, extensions=ext)
            assert answer.http_version == "HTTP/2" and answer.status_code == 200
            seen = backend.requests[-1]
            assert seen.target == "/echo?q=1"
            assert seen.header("X-Forwarded-Proto") == "https"
            assert seen.header("Host") == "a.test"
            assert seen.header("X-Forwarded-Port") == "443"
            assert answer.headers["content-type"] == "application/json"
            assert "date" in answer.headers
        h1 = httpx.AsyncHTTPTransport(http2=False, verify=verify_ctx(ca))
        async with httpx.AsyncClient(transport=h1) as client:
            answer = await client.get(f"https://127.0.0.1:{rt.app.port('web')}/echo",
                                      headers={"host": "a.test"}, extensions={"sni_hostname": "a.test"})
            assert answer.http_version == "HTTP/1.1" and answer.status_code == 200


async def test_h2_tls_large_bodies_both_ways(backend: Backend, ca: trustme.CA) -> None:
    async with running_app(tls_config(backend, ca)) as rt:
        url = f"https://127.0.0.1:{rt.app.port('web')}"
        ext = {"sni_hostname": "a.test"}
        payload = bytes(range(256)) * (MB5 // 256)
        async with httpx.AsyncClient(http2=True, verify=verify_ctx(ca), timeout=30) as client:
            up = await client.post(url + "/upload", content=payload, headers={"host": "a.test"}, extensions=ext)
            assert up.http_version == "HTTP/2" and up.status_code == 200
            assert up.json() == {"size": MB5, "sha256": hashlib.sha256(payload).hexdigest()}
            down = await client.get(url + f"/bytes?size={MB5}", headers={"host": "a.test"}, extensions=ext)
            assert down.status_code == 200 and down.headers["content-length"] == str(MB5)
            assert hashlib.sha256(down.content).digest() == hashlib.sha256(b"x" * MB5).digest()


async def test_h2_connection_reuse_across_hosts_gets_421_when_options_differ(
    backend: Backend, ca: trustme.CA, raw_clients: list[RawH2]
) -> None:
    """Browsers reuse an h2 connection for every host its certificate covers: a host whose TLS
    options differ from the handshake's is answered 421 on that stream (the client retries on a
    new connection), the others are served on the same connection."""
    routers = {
        "strict": {"rule": "Host(`a.test`)", "service": "echo", "tls": {"options": "modern"}},
        "relaxed": {"rule": "Host(`b.test`)", "service": "echo", "tls": {}},
        "relaxed2": {"rule": "Host(`c.test`)", "service": "echo", "tls": {}},
    }
    cfg = {"http": {"routers": routers, "services": {"echo": lb(backend.url)}},
           "tls": {"certificates": [pem_pair(ca, "a.test", "b.test", "c.test")],
                   "options": {"modern": {"minVersion": "VersionTLS13"}}}}
    async with running_app(cfg) as rt:
        client = await RawH2.open(rt.app.port("web"), sni="b.test")
        raw_clients.append(client)
        same = client.request("/echo", authority="b.test", scheme="https")
        sibling = client.request("/echo", authority="c.test", scheme="https")
        other = client.request("/echo", authority="a.test", scheme="https")
        await client.pump(lambda c: all(c.ended(s) for s in (same, sibling, other)))
        assert client.status(same) == 200 and client.status(sibling) == 200
        assert client.status(other) == 421


async def test_alpn_http11_only_option_keeps_http11(backend: Backend, ca: trustme.CA) -> None:
    cfg = tls_config(backend, ca)
    cfg["tls"]["options"] = {"default": {"alpnProtocols": ["http/1.1"]}}
    async with running_app(cfg) as rt:
        with pytest.raises(ConnectionError, match="http/1.1"):
            await RawH2.open(rt.app.port("web"), sni="a.test")
        async with httpx.AsyncClient(http2=True, verify=verify_ctx(ca)) as client:
            answer = await client.get(f"https://127.0.0.1:{rt.app.port('web')}/echo",
                                      headers={"host": "a.test"}, extensions={"sni_hostname": "a.test"})
            assert answer.http_version == "HTTP/1.1" and answer.status_code == 200


# -- h2c -----------------------------------------------------------------------------------------

async def test_h2c_prior_knowledge(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        answer = await client.get(f"http://127.0.0.1:{proxy.port}/echo", headers={"x-one": "1"})
        assert answer.http_version == "HTTP/2" and answer.status_code == 200
        seen = backend.requests[-1]
        assert seen.header("x-one") == "1" and seen.header("X-Forwarded-Proto") == "http"
        assert seen.header("Host") == f"127.0.0.1:{proxy.port}"
        # HTTP/1.1 on the same port keeps working
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{proxy.port}/echo")
        assert answer.http_version == "HTTP/1.1" and answer.status_code == 200


async def test_h2c_head_cookies_and_untrusted_forwarded_headers(
    backend: Backend, start_proxy: StartProxy, raw_clients: list[RawH2]
) -> None:
    proxy = await start_proxy()
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    sid = client.request("/echo", extra=[(b"cookie", b"a=1"), (b"cookie", b"b=2"),
                                         (b"x-forwarded-for", b"6.6.6.6"), (b"x-real-ip", b"6.6.6.6")])
    await client.pump(lambda c: c.ended(sid))
    assert client.status(sid) == 200
    seen = backend.requests[-1]
    assert seen.header_values("cookie") == ["a=1; b=2"]  # RFC 9113 8.2.3
    assert seen.header("X-Real-Ip") == "127.0.0.1"
    assert seen.header("X-Forwarded-For") == "127.0.0.1"
    head = client.request("/bytes?size=1000", method="HEAD")
    await client.pump(lambda c: c.ended(head))
    assert client.status(head) == 200
    assert dict(client.of(head, h2.events.ResponseReceived)[0].headers)[b"content-length"] == b"1000"
    assert client.body(head) == b""


async def test_h2c_hop_by_hop_response_headers_stripped(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        answer = await client.get(f"http://127.0.0.1:{proxy.port}/hop")
        # httpx's h2 would fail the stream on a connection-specific header (RFC 9113 8.2.2)
        assert answer.status_code == 200 and answer.text == "ok"
        assert "keep-alive" not in answer.headers and "connection" not in answer.headers
        assert answer.headers["x-kept"] == "yes"


async def test_trailers_both_ways(backend: Backend, start_proxy: StartProxy, raw_clients: list[RawH2]) -> None:
    proxy = await start_proxy()
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    # response trailers from an HTTP/1.1 chunked backend
    sid = client.request("/trailers", extra=[(b"te", b"trailers")])
    await client.pump(lambda c: c.ended(sid))
    assert client.body(sid) == b"hello trailer world"
    trailers = dict(client.of(sid, h2.events.TrailersReceived)[0].headers)
    assert trailers[b"x-checksum"] == hashlib.sha256(b"hello trailer world").hexdigest().encode()
    assert trailers[b"x-count"] == b"3"
    # request trailers reach the backend (as HTTP/1.1 chunked trailers)
    up = client.request("/echo", method="POST", end=False)
    client.conn.send_data(up, b"part one, ")
    client.conn.send_data(up, b"part two")
    client.conn.send_headers(up, [(b"x-digest", b"abc123")], end_stream=True)
    client.flush()
    await client.pump(lambda c: c.ended(up))
    assert client.status(up) == 200
    echoed = json.loads(client.body(up))
    assert echoed["body"] == "part one, part two"
    assert ["x-digest", "abc123"] in echoed["trailers"]


# -- concurrency ---------------------------------------------------------------------------------

async def test_max_concurrent_streams_queues_httpx(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy(max_concurrent_streams=4)
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(http1=False, http2=True, limits=limits, timeout=20) as client:
        await client.get(f"http://127.0.0.1:{proxy.port}/echo")  # learn the server's SETTINGS
        started = time.monotonic()
        answers = await asyncio.gather(
            *(client.get(f"http://127.0.0.1:{proxy.port}/delay?ms=200&i={i}") for i in range(16)))
        elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 16
    assert {a.http_version for a in answers} == {"HTTP/2"}
    # 16 requests, 4 at a time, 200 ms each: at least four rounds; all on one connection
    assert elapsed >= 0.75
    assert proxy.open_connections <= 1


async def test_many_concurrent_streams_one_connection(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    async with httpx.AsyncClient(http1=False, http2=True, timeout=20) as client:
        answers = await asyncio.gather(*(client.get(f"http://127.0.0.1:{proxy.port}/echo?i={i}") for i in range(200)))
    assert [a.status_code for a in answers] == [200] * 200
    targets = sorted(json.loads(a.content)["target"] for a in answers)
    assert targets == sorted(f"/echo?i={i}" for i in range(200))


async def test_streams_over_the_limit_are_refused_alone(
    backend: Backend, start_proxy: StartProxy, raw_clients: list[RawH2]
) -> None:
    proxy = await start_proxy(max_concurrent_streams=2)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    # A client ignoring SETTINGS_MAX_CONCURRENT_STREAMS: three streams at once.
    client.conn.update_settings({})
    client.conn.remote_settings.max_concurrent_streams = 100  # ignore what the server said
    sids = [client.request(f"/delay?ms=300&i={i}") for i in range(3)]
    await client.pump(lambda c: all(c.ended(s) for s in sids))
    resets = client.of(sids[2], h2.events.StreamReset)
    assert resets and resets[0].error_code == 7  # REFUSED_STREAM
    assert client.status(sids[0]) == 200 and client.status(sids[1]) == 200
    later = client.request("/echo")  # the connection is still usable
    await client.pump(lambda c: c.ended(later))
    assert client.status(later) == 200


# -- errors and lifecycle ------------------------------------------------------------------------

async def test_malformed_frame_is_a_connection_error(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    # preface, empty SETTINGS, then a DATA frame on stream 0 (PROTOCOL_ERROR, RFC 9113 6.1)
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
                 + b"\x00\x00\x03\x00\x00\x00\x00\x00\x00abc")
    got = b""
    async with asyncio.timeout(5):
        while chunk := await reader.read(65536):
            got += chunk
    writer.close()
    # a GOAWAY frame (type 7) with PROTOCOL_ERROR (1) came before the close
    pos = 0
    codes = []
    while pos + 9 <= len(got):
        length = int.from_bytes(got[pos:pos + 3], "big")
        if got[pos + 3] == 7:
            codes.append(int.from_bytes(got[pos + 13:pos + 17], "big"))
        pos += 9 + length
    assert codes == [1]
    async with httpx.AsyncClient(http1=False, http2=True) as client:  # the server is fine
        assert (await client.get(f"http://127.0.0.1:{proxy.port}/echo")).status_code == 200


async def test_garbage_after_preface_never_crashes(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    for junk in (b"\xff" * 64, b"\x00\x00\x10\x01\x05\x00\x00\x00\x01" + b"\xfe" * 16, b"\x00\x00\x04\x09\x04\x00\x00\x00\x01abcd"):
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + junk)
        async with asyncio.timeout(5):
            while await reader.read(65536):
                pass
        writer.close()
    async with httpx.AsyncClient(http1=False, http2=True) as client:
        assert (await client.get(f"http://127.0.0.1:{proxy.port}/echo")).status_code == 200


async def test_handler_failure_after_head_resets_the_stream(start_proxy: StartProxy, raw_clients: list[RawH2]) -> None:
    async def app(ex: Any) -> None:
        if ex.path == "/boom":
            await ex.send_head(200, [(b"content-type", b"text/plain")])
            await ex.send_body(b"partial")
            raise RuntimeError("handler broke")
        if ex.path == "/early":
            raise RuntimeError("before head")
        await ex.respond(200, b"fine")

    proxy = await start_proxy(app=app)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    boom = client.request("/boom")
    early = client.request("/early")
    fine = client.request("/fine")
    await client.pump(lambda c: c.ended(boom) and c.ended(early) and c.ended(fine))
    assert client.of(boom, h2.events.StreamReset)[0].error_code == 2  # INTERNAL_ERROR
    assert client.status(early) == 500
    assert client.status(fine) == 200 and client.body(fine) == b"fine"


@pytest.mark.skipif(shutil.which("nghttp") is None, reason="nghttp (nghttp2-client) not installed")
async def test_graceful_shutdown_finishes_streams_in_flight(backend: Backend, start_proxy: StartProxy) -> None:
    # nghttp, a client that keeps reading the streams a GOAWAY lets finish (the h2 library moves
    # its connection to CLOSED on GOAWAY, so httpx cannot show this).
    proxy = await start_proxy()
    proc = await asyncio.create_subprocess_exec(
        "nghttp", "-nv", "-t", "10", f"http://127.0.0.1:{proxy.port}/delay?ms=600",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    await asyncio.sleep(0.3)
    assert proxy.open_connections == 1
    started = time.monotonic()
    await asyncio.wait_for(proxy.stop(grace=5), 10)
    waited = time.monotonic() - started
    async with asyncio.timeout(10):
        out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "recv GOAWAY frame" in text and "error_code=NO_ERROR(0x00)" in text, text
    assert ":status: 200" in text, text
    assert text.index("recv GOAWAY frame") < text.index(":status: 200")  # GOAWAY first, then the answer
    assert 0.1 < waited < 3 and proxy.open_connections == 0


async def test_idle_connection_closed_after_idle_timeout(backend: Backend, start_proxy: StartProxy,
                                                         raw_clients: list[RawH2]) -> None:
    proxy = await start_proxy(idle_timeout=0.3)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    sid = client.request("/echo")
    await client.pump(lambda c: c.ended(sid))
    started = time.monotonic()
    await client.pump(lambda c: c.closed, timeout=5)
    assert time.monotonic() - started < 3
    assert any(isinstance(e, h2.events.ConnectionTerminated) for e in client.events)


async def test_max_concurrent_streams_from_static_config(backend: Backend) -> None:
    cfg = {"http": {"routers": {"r": {"rule": "PathPrefix(`/`)", "service": "s"}},
                    "services": {"s": lb(backend.url)}}}
    async with running_app(cfg, flags=["--entryPoints.web.http2.maxConcurrentStreams=7"]) as rt:
        client = await RawH2.open(rt.app.port("web"))
        try:
            sid = client.request("/echo")
            await client.pump(lambda c: c.ended(sid))
            assert client.conn.remote_settings.max_concurrent_streams == 7
            assert client.status(sid) == 200
        finally:
            await client.close()


@pytest.mark.skipif(shutil.which("h2load") is None, reason="h2load (nghttp2-client) not installed")
async def test_h2load_smoke(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy()
    proc = await asyncio.create_subprocess_exec(
        "h2load", "-n", "400", "-c", "4", "-m", "10", f"http://127.0.0.1:{proxy.port}/echo",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    async with asyncio.timeout(60):
        out, _ = await proc.communicate()
    text = out.decode()
    assert "400 succeeded, 0 failed, 0 errored" in text, text
    assert "status codes: 400 2xx" in text, text


async def test_malformed_request_is_a_stream_error(backend: Backend, start_proxy: StartProxy,
                                                   raw_clients: list[RawH2]) -> None:
    proxy = await start_proxy()
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    client.conn.config.validate_outbound_headers = False  # let the bad fields out
    client.conn.config.normalize_outbound_headers = False
    bad = [
        [(b"x-evil", b"a\r\nInjected: yes")],  # CR/LF in a value (would split an HTTP/1.1 head)
        [(b"connection", b"keep-alive")],  # connection-specific (RFC 9113 8.2.2)
        [(b"Upper", b"case")],  # upper-case field name
        [(b"te", b"gzip")],
    ]
    sids = [client.request("/echo", extra=extra) for extra in bad]
    good = client.request("/echo")
    await client.pump(lambda c: all(c.ended(s) for s in [*sids, good]))
    for sid in sids:
        assert client.of(sid, h2.events.StreamReset)[0].error_code == 1  # PROTOCOL_ERROR
    assert client.status(good) == 200
    assert len(backend.requests) == 1 and not backend.requests[0].header("Injected")


async def test_request_body_flow_control_holds_the_client(start_proxy: StartProxy, raw_clients: list[RawH2]) -> None:
    """A handler that does not read: the client may send one window (1 MiB), then must wait;
    once the handler reads, the window reopens and the whole body arrives."""
    release = asyncio.Event()
    got: list[int] = []

    async def app(ex: Any) -> None:
        await release.wait()
        data = await ex.body.read_all()
        got.append(len(data))
        await ex.respond(200, hashlib.sha256(data).hexdigest().encode())

    proxy = await start_proxy(app=app)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    await client.pump(lambda c: c.conn.remote_settings.initial_window_size == 1 << 20)
    sid = client.request("/upload", method="POST", end=False)
    payload = bytes(range(256)) * (3 * 1024 * 1024 // 256)
    sent = 0

    async def send_what_the_window_allows() -> None:
        nonlocal sent
        while sent < len(payload):
            window = min(client.conn.local_flow_control_window(sid), client.conn.max_outbound_frame_size)
            if window <= 0:
                return
            client.conn.send_data(sid, payload[sent:sent + window])
            sent += window
            client.flush()

    await send_what_the_window_allows()
    with pytest.raises(TimeoutError):  # no WINDOW_UPDATE while nobody reads
        await client.pump(lambda c: c.conn.local_flow_control_window(sid) > 0, timeout=0.5)
    assert sent == 1 << 20
    release.set()
    async with asyncio.timeout(10):
        while sent < len(payload):
            await client.pump(lambda c: c.conn.local_flow_control_window(sid) > 0)
            await send_what_the_window_allows()
    client.conn.end_stream(sid)
    client.flush()
    await client.pump(lambda c: c.ended(sid))
    assert client.status(sid) == 200
    assert client.body(sid) == hashlib.sha256(payload).hexdigest().encode()
    assert got == [len(payload)]


async def test_h2c_after_proxy_protocol_header(backend: Backend, start_proxy: StartProxy) -> None:
    proxy = await start_proxy(proxy_protocol=True, proxy_protocol_trusted_ips=("127.0.0.1",))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    client = RawH2(reader, writer)
    try:
        writer.write(build_v1("203.0.113.7", 4242, "127.0.0.1", proxy.port))
        client.conn.initiate_connection()
        client.flush()
        sid = client.request("/echo")
        await client.pump(lambda c: c.ended(sid))
        assert client.status(sid) == 200
        assert backend.requests[-1].header("X-Real-Ip") == "203.0.113.7"
    finally:
        await client.close()


async def test_stalled_request_body_hits_read_timeout(start_proxy: StartProxy, raw_clients: list[RawH2]) -> None:
    async def app(ex: Any) -> None:
        await ex.body.read_all()
        await ex.respond(200, b"never")

    proxy = await start_proxy(app=app, read_timeout=0.3)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    sid = client.request("/slow", method="POST", end=False)
    client.conn.send_data(sid, b"first part only")
    client.flush()
    await client.pump(lambda c: c.ended(sid), timeout=5)
    assert client.status(sid) == 408
    other = client.request("/after", method="POST", end=False)  # the connection lives on
    client.conn.send_data(other, b"x", end_stream=True)
    client.flush()
    await client.pump(lambda c: c.ended(other))
    assert client.status(other) == 200


async def test_expect_100_continue_and_early_hints(backend: Backend, start_proxy: StartProxy,
                                                   raw_clients: list[RawH2]) -> None:
    proxy = await start_proxy()
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    sid = client.request("/upload", method="POST", end=False,
                         extra=[(b"expect", b"100-continue"), (b"content-length", b"5")])
    await client.pump(lambda c: bool(c.of(sid, h2.events.InformationalResponseReceived)))
    assert dict(client.of(sid, h2.events.InformationalResponseReceived)[0].headers)[b":status"] == b"100"
    client.conn.send_data(sid, b"hello", end_stream=True)
    client.flush()
    await client.pump(lambda c: c.ended(sid))
    assert client.status(sid) == 200
    assert json.loads(client.body(sid)) == {"size": 5, "sha256": hashlib.sha256(b"hello").hexdigest()}
    assert backend.requests[-1].header("expect") is None


async def test_interim_response_from_a_handler(start_proxy: StartProxy, raw_clients: list[RawH2]) -> None:
    async def app(ex: Any) -> None:
        await ex.send_head(103, [(b"Link", b"</style.css>; rel=preload")])
        await ex.respond(200, b"final\n")

    proxy = await start_proxy(app=app)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    sid = client.request("/")
    await client.pump(lambda c: c.ended(sid))
    interim = client.of(sid, h2.events.InformationalResponseReceived)
    assert interim and dict(interim[0].headers)[b":status"] == b"103"
    assert dict(interim[0].headers)[b"link"] == b"</style.css>; rel=preload"
    assert client.status(sid) == 200 and client.body(sid) == b"final\n"


async def test_response_fields_cleaned_for_http2(start_proxy: StartProxy, raw_clients: list[RawH2]) -> None:
    """What a handler or middleware may put in a response head, made valid for HTTP/2 (a strict
    client such as the h2 library rejects a block with upper case, surrounding whitespace, CR/LF
    or connection-specific fields)."""
    async def app(ex: Any) -> None:
        await ex.send_head(200, [(b"X-Padded", b"  value \t"), (b"X-Multi", b"a\r\nb"),
                                 (b"Transfer-Encoding", b"chunked"), (b"Connection", b"close"),
                                 (b":status", b"500"), (b"Content-Type", b"text/plain")])
        await ex.send_body(b"ok")
        await ex.end([(b"X-Trailer", b"t"), (b"Content-Length", b"2")])

    proxy = await start_proxy(app=app)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    sid = client.request("/", extra=[(b"te", b"trailers")])
    await client.pump(lambda c: c.ended(sid))
    head = client.of(sid, h2.events.ResponseReceived)[0].headers
    fields = dict(head)
    assert fields[b":status"] == b"200" and fields[b"x-padded"] == b"value"
    assert fields[b"x-multi"] == b"a  b" and fields[b"content-type"] == b"text/plain"
    assert b"transfer-encoding" not in fields and b"connection" not in fields
    assert [k for k, _ in head].count(b":status") == 1
    assert client.body(sid) == b"ok"
    assert dict(client.of(sid, h2.events.TrailersReceived)[0].headers) == {b"x-trailer": b"t"}


async def test_reset_streams_still_running_count_against_the_limit(start_proxy: StartProxy,
                                                                   raw_clients: list[RawH2]) -> None:
    """Rapid reset (CVE-2023-44487): a client resetting each stream right away must not get more
    than maxConcurrentStreams handlers running at once."""
    running = 0
    peak = 0
    release = asyncio.Event()

    async def app(ex: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            while not release.is_set():  # a handler slow to notice the reset
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    continue
            await ex.respond(200, b"late")
        finally:
            running -= 1

    proxy = await start_proxy(app=app, max_concurrent_streams=3)
    client = await RawH2.open(proxy.port)
    raw_clients.append(client)
    for _ in range(3):  # three streams, each reset as soon as its handler runs
        sid = client.request("/")
        await asyncio.sleep(0.05)
        client.conn.reset_stream(sid, 8)  # CANCEL
        client.flush()
    await asyncio.sleep(0.05)
    try:
        # h2 no longer counts them as open, but their handlers still run: no new handler
        sids = [client.request("/") for _ in range(5)]
        await client.pump(lambda c: all(c.ended(s) for s in sids))
        codes = [[e.error_code for e in client.of(s, h2.events.StreamReset)] for s in sids]
    finally:
        release.set()
    assert peak == 3
    assert codes == [[7]] * 5  # REFUSED_STREAM
    await asyncio.sleep(0.1)
    assert running == 0
    after = client.request("/")  # quota back once the handlers ended
    await client.pump(lambda c: c.ended(after))
    assert client.status(after) == 200
